/**
 * The production file system: `node:fs`, with fdatasync for file syncs, fsync of
 * an opened directory for directory syncs, and a LOCK file that names its owner
 * process for the directory lock.
 */
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { ShaleError } from '../errors.js';
import type { FileLock, FileSystem, RandomAccessFile, WritableFile } from './file-system.js';

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

/** The fields of `/proc/<pid>/stat` from field 3 (state) on, or `undefined` where there is no /proc entry. */
function procStatFields(pid: number): string[] | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
    // The command name (field 2) is parenthesised and may hold spaces; fields resume after its last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** The identity written into a LOCK file: pid and, on Linux, the process start time (guards against pid reuse). */
export function processIdentity(pid: number): string | undefined {
  const fields = procStatFields(pid);
  // Field 22 (starttime) is index 19 counting from field 3.
  return fields === undefined ? undefined : `${pid} ${fields[19] ?? '?'}`;
}

function ownerIsAlive(content: string): boolean {
  const [pidText] = content.trim().split(' ');
  const pid = Number(pidText);
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  // A killed process that its parent has not reaped yet (a zombie) still answers
  // kill(pid, 0), but it holds no descriptors and writes nothing: its lock is stale.
  const state = procStatFields(pid)?.[0];
  if (state === 'Z' || state === 'X') return false;
  const now = processIdentity(pid);
  // Where /proc exists, a recorded start time that differs means the pid was reused.
  return now === undefined || content.trim().split(' ').length < 2 || now === content.trim();
}

function lockedError(lockPath: string, detail: string): ShaleError {
  return new ShaleError('LOCKED', `database is locked: ${lockPath} ${detail}`);
}

async function takeLockFile(lockPath: string): Promise<void> {
  const identity = processIdentity(process.pid) ?? `${process.pid}`;
  // Write the identity to a private file and hard-link it into place, so LOCK either
  // does not exist or holds a whole identity: a killed process never leaves it half written.
  const staging = `${lockPath}.${process.pid}.${Math.random().toString(36).slice(2)}`;
  await fsp.writeFile(staging, `${identity}\n`);
  try {
    for (let attempt = 0; attempt < 4; attempt++) {
      try {
        await fsp.link(staging, lockPath);
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const content = await fsp.readFile(lockPath, 'latin1').catch(() => '');
      if (ownerIsAlive(content)) throw lockedError(lockPath, `is held by process ${content.trim()}`);
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
    try {
      await takeLockFile(key);
    } catch (err) {
      locksHeldInProcess.delete(key);
      throw err;
    }
    let released = false;
    return {
      release: async () => {
        if (released) return;
        released = true;
        try {
          await fsp.unlink(key);
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
