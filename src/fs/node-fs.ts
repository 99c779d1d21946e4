/**
 * The production file system: `node:fs`, with fdatasync for file syncs, fsync of
 * an opened directory for directory syncs, and a LOCK file that names its owner
 * process (and keeps a heartbeat) for the directory lock (src/fs/lock-file.ts).
 */
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { ShaleError } from '../errors.js';
import type { FileLock, FileSystem, RandomAccessFile, WritableFile } from './file-system.js';
import { LOCK_HEARTBEAT_MS, currentIdentity, formatLock, judgeLock, systemProbe } from './lock-file.js';

/**
 * Appends up to this size are written with a synchronous `write(2)`: copying a
 * write group into the page cache takes microseconds, less than one threadpool
 * round trip (about 13 µs here), and the WAL appends one group per write. Larger
 * appends (a big batch) go through the threadpool so they never hold the event
 * loop for long. Syncs always go through the threadpool.
 */
export const SYNC_APPEND_BYTES_MAX = 128 * 1024;

class NodeWritableFile implements WritableFile {
  #handle: fsp.FileHandle;
  #size: number;

  constructor(handle: fsp.FileHandle, size: number) {
    this.#handle = handle;
    this.#size = size;
  }

  get size(): number {
    return this.#size;
  }

  async append(data: Uint8Array): Promise<number> {
    // A write may be partial (a signal, a full disk). Write the rest until done or
    // until the OS writes nothing more; the caller checks the returned count.
    let written = 0;
    try {
      while (written < data.length) {
        const length = data.length - written;
        const position = this.#size + written;
        const bytesWritten =
          length <= SYNC_APPEND_BYTES_MAX
            ? fs.writeSync(this.#handle.fd, data, written, length, position)
            : (await this.#handle.write(data, written, length, position)).bytesWritten;
        if (bytesWritten === 0) break;
        written += bytesWritten;
      }
    } finally {
      // Bytes that reached the file before a write threw are part of it: `size` must count them.
      this.#size += written;
    }
    return written;
  }

  async sync(): Promise<void> {
    await this.#handle.datasync();
  }

  async truncate(size: number): Promise<void> {
    await this.#handle.truncate(size);
    this.#size = size;
  }

  async close(): Promise<void> {
    await this.#handle.close();
  }
}

class NodeRandomAccessFile implements RandomAccessFile {
  readonly size: number;
  #fd: number;

  constructor(fd: number, size: number) {
    this.#fd = fd;
    this.size = size;
  }

  read(position: number, length: number): Buffer {
    // After close the descriptor number may already belong to another file.
    if (this.#fd < 0) throw Object.assign(new Error('EBADF: bad file descriptor, read'), { code: 'EBADF', errno: -9, syscall: 'read' });
    const buffer = Buffer.allocUnsafe(length);
    let filled = 0;
    while (filled < length) {
      const count = fs.readSync(this.#fd, buffer, filled, length - filled, position + filled);
      if (count === 0) break;
      filled += count;
    }
    return filled === length ? buffer : buffer.subarray(0, filled);
  }

  /** Closing twice is harmless: a second fs.close could close a file that reused the descriptor. */
  async close(): Promise<void> {
    const fd = this.#fd;
    if (fd < 0) return;
    this.#fd = -1;
    await new Promise<void>((resolve, reject) => fs.close(fd, (err) => (err ? reject(err) : resolve())));
  }
}

/** Lock files held by this process, by absolute path: `LOCK` alone cannot tell two DBs of one process apart. */
const locksHeldInProcess = new Set<string>();

function lockedError(lockPath: string, detail: string): ShaleError {
  return new ShaleError('LOCKED', `database is locked: ${lockPath} ${detail}`);
}

/** A LOCK another process may hold: the error names it and says how to clear a lock nobody holds. */
function heldError(lockPath: string, reason: string): ShaleError {
  return lockedError(lockPath, `${reason}. If no process uses the database, remove ${lockPath} and open again.`);
}

/** Milliseconds since the LOCK's mtime (its owner's last heartbeat), or undefined if it cannot be read. */
async function heartbeatAgeMs(lockPath: string): Promise<number | undefined> {
  try {
    return Date.now() - (await fsp.stat(lockPath)).mtimeMs;
  } catch {
    return undefined;
  }
}

/** Takes the LOCK file for this process and resolves with the text written into it. */
async function takeLockFile(lockPath: string): Promise<string> {
  const here = currentIdentity();
  const mine = formatLock(here);
  // Write the identity to a private file and hard-link it into place, so LOCK either
  // does not exist or holds a whole identity: a killed process never leaves it half written.
  const staging = `${lockPath}.${process.pid}.${Math.random().toString(36).slice(2)}`;
  await fsp.writeFile(staging, mine);
  try {
    for (let attempt = 0; attempt < 4; attempt++) {
      try {
        await fsp.link(staging, lockPath);
        return mine;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      let content: string;
      try {
        content = await fsp.readFile(lockPath, 'latin1');
      } catch (err) {
        // Released between our link and this read: try the link again.
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw err;
      }
      const verdict = judgeLock(content, systemProbe(here, await heartbeatAgeMs(lockPath)));
      if (!verdict.stale) throw heldError(lockPath, verdict.reason);
      // The owner is gone. Move its LOCK aside and check that what moved is what we
      // judged stale; if another opener replaced it meanwhile, put it back and give up.
      const aside = `${staging}.stale`;
      try {
        await fsp.rename(lockPath, aside);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw err;
      }
      const moved = await fsp.readFile(aside, 'latin1').catch(() => '');
      if (moved !== content) {
        await fsp.rename(aside, lockPath).catch(() => undefined);
        throw lockedError(lockPath, 'was taken by another process while it was being opened');
      }
      await fsp.unlink(aside);
    }
    throw lockedError(lockPath, 'could not be taken');
  } finally {
    await fsp.unlink(staging).catch(() => undefined);
  }
}

/**
 * Touches the LOCK's mtime every `LOCK_HEARTBEAT_MS`, so a process that cannot
 * check our pid (another PID namespace, another host) can tell we are alive. The
 * timer is unref'd (it never keeps the process running) and the touch goes through
 * the threadpool (it never blocks the event loop); one touch at a time, and a
 * failed one is skipped: the lock stays ours, and only a long run of misses could
 * make it look stale. Returns the function that stops it.
 */
function startHeartbeat(lockPath: string): () => void {
  let touching = false;
  const timer = setInterval(() => {
    if (touching) return;
    touching = true;
    const now = new Date();
    fsp
      .utimes(lockPath, now, now)
      .catch(() => undefined)
      .finally(() => {
        touching = false;
      });
  }, LOCK_HEARTBEAT_MS);
  timer.unref();
  return () => clearInterval(timer);
}

/** `FileSystem` over `node:fs`. Stateless apart from the process's lock registry. */
export class NodeFileSystem implements FileSystem {
  async mkdir(dir: string): Promise<void> {
    await fsp.mkdir(dir, { recursive: true });
  }

  async list(dir: string): Promise<string[]> {
    return fsp.readdir(dir);
  }

  async exists(p: string): Promise<boolean> {
    try {
      await fsp.stat(p);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
  }

  async create(p: string): Promise<WritableFile> {
    return new NodeWritableFile(await fsp.open(p, 'wx'), 0);
  }

  async openAppend(p: string): Promise<WritableFile> {
    const handle = await fsp.open(p, 'r+');
    try {
      const { size } = await handle.stat();
      return new NodeWritableFile(handle, size);
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  async openRead(p: string): Promise<RandomAccessFile> {
    const fd = await new Promise<number>((resolve, reject) =>
      fs.open(p, 'r', (err, opened) => (err ? reject(err) : resolve(opened))),
    );
    try {
      return new NodeRandomAccessFile(fd, fs.fstatSync(fd).size);
    } catch (err) {
      fs.closeSync(fd);
      throw err;
    }
  }

  async readFile(p: string): Promise<Buffer> {
    return fsp.readFile(p);
  }

  async rename(from: string, to: string): Promise<void> {
    await fsp.rename(from, to);
  }

  async remove(p: string): Promise<void> {
    await fsp.unlink(p);
  }

  async link(existing: string, newPath: string): Promise<void> {
    await fsp.link(existing, newPath);
  }

  async syncDir(dir: string): Promise<void> {
    const handle = await fsp.open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }

  async lock(lockPath: string): Promise<FileLock> {
    const key = path.resolve(lockPath);
    if (locksHeldInProcess.has(key)) throw lockedError(lockPath, 'is held by another DB in this process');
    locksHeldInProcess.add(key);
    let mine: string;
    try {
      mine = await takeLockFile(key);
    } catch (err) {
      locksHeldInProcess.delete(key);
      throw err;
    }
    const stopHeartbeat = startHeartbeat(key);
    let released = false;
    return {
      release: async () => {
        if (released) return;
        released = true;
        stopHeartbeat();
        try {
          // A LOCK that is no longer ours (taken over after our heartbeat stopped) is not ours to remove.
          const content = await fsp.readFile(key, 'latin1').catch(() => undefined);
          if (content === undefined || content === mine) await fsp.unlink(key);
        } finally {
          locksHeldInProcess.delete(key);
        }
      },
    };
  }

  /**
   * `openRead` without the threadpool: open(2) and fstat(2) on the calling thread.
   * For `db.getSync`, which may not wait for a table that is not open yet.
   */
  openReadSync(p: string): RandomAccessFile {
    const fd = fs.openSync(p, 'r');
    try {
      return new NodeRandomAccessFile(fd, fs.fstatSync(fd).size);
    } catch (err) {
      fs.closeSync(fd);
      throw err;
    }
  }
}
