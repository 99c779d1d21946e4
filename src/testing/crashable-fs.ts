/**
 * An in-memory `FileSystem` that knows which bytes and which directory entries a
 * power loss would keep, and can produce that post-crash state on demand
 * (`crashClone`). It enforces the durability model stated in
 * `src/fs/file-system.ts`: file data is durable after `WritableFile.sync()`, a
 * directory entry (creation, rename, removal) after `syncDir()` of its directory.
 *
 * The model. A file is an inode holding its current bytes and its synced bytes (the
 * content at its last sync). A directory maps names to inodes twice: its current
 * entries and its synced entries (as of its last `syncDir`). After a crash, each
 * name independently ends up with its synced binding or its current binding, and
 * each surviving inode's bytes are what the `CrashMode` leaves of its unsynced
 * data. That gives every state a real file system may leave, and more: a renamed
 * file whose rename was not synced may show up under both names (each then gets
 * its own copy of the bytes), which a careful engine survives anyway.
 *
 * A directory made by `mkdir` is an entry of its parent like a file's: it survives
 * a crash only if the parent was synced after it was made (or the crash happens
 * to keep it), and a directory that does not survive takes everything in it along,
 * however durable that was inside it.
 *
 * Simplifications, deliberate: directories cannot be renamed or removed (shale
 * never does either); `lock` keeps an in-memory set and writes no LOCK file.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { ShaleError } from '../errors.js';
import type { FileLock, FileSystem, RandomAccessFile, WritableFile } from '../fs/file-system.js';
import type { Rng } from './rng.js';

/**
 * What a power loss does to data that was written but not synced:
 * - `drop-unsynced`: it is all lost; every file holds exactly its synced bytes.
 * - `keep-prefix`: each file keeps a random-length prefix of it (an append-only
 *   file torn at any byte).
 * - `keep-blocks`: each 4 KiB block of it (aligned to file offsets) is kept or
 *   reads as zeros, and the file's length is its current one or anything between
 *   its synced and current lengths (a file system that grew the file but did not
 *   write every page).
 * - `garbage-blocks`: as `keep-blocks`, but a block may also hold random bytes.
 *
 * In every mode synced bytes are never touched, and each unsynced directory change
 * is independently lost or kept.
 */
export type CrashMode = 'drop-unsynced' | 'keep-prefix' | 'keep-blocks' | 'garbage-blocks';

/** Every operation of the file-system seam, as counted by `CrashableFS.opCounts` and `FaultFS.calls`. */
export const FILE_SYSTEM_OPS = [
  'mkdir',
  'list',
  'exists',
  'create',
  'openAppend',
  'openRead',
  'readFile',
  'rename',
  'remove',
  'syncDir',
  'lock',
  'append',
  'sync',
  'truncate',
  'read',
  'close',
] as const;

/** One operation of the file-system seam (`read`, `append`, `sync`, `truncate` and `close` are handle methods). */
export type FileSystemOp = (typeof FILE_SYSTEM_OPS)[number];

/** What `CrashableFS.fileInfo` reports about a file. */
export interface CrashableFileInfo {
  /** Current length in bytes. */
  size: number;
  /** Length of the content as of the file's last sync. */
  syncedSize: number;
  /** Whether the file's directory entry (this name bound to this file) is durable. */
  entrySynced: boolean;
}

/** The granularity of `keep-blocks` and `garbage-blocks`: a page of the page cache. */
const CRASH_BLOCK_BYTES = 4096;

const ROOT = path.resolve('/');

/** The errno codes this module and `FaultFS` raise, with node's errno and message text. */
const ERRNO = {
  ENOENT: [-2, 'no such file or directory'],
  EIO: [-5, 'i/o error'],
  EBADF: [-9, 'bad file descriptor'],
  EEXIST: [-17, 'file already exists'],
  ENOTDIR: [-20, 'not a directory'],
  EISDIR: [-21, 'illegal operation on a directory'],
  EINVAL: [-22, 'invalid argument'],
  ENOSPC: [-28, 'no space left on device'],
  ENOTSUP: [-95, 'operation not supported'],
} as const;

/** An errno code `errnoError` can build. */
export type ErrnoCode = keyof typeof ERRNO;

/**
 * An `Error` shaped like the ones `node:fs` throws (`code`, `errno`, `syscall`,
 * `path`, message `CODE: text, syscall 'path'`), so the engine's error handling is
 * exercised as in production. Internal to `shale/testing`.
 */
export function errnoError(code: ErrnoCode, syscall: string, filePath?: string, textPrefix = ''): NodeJS.ErrnoException {
  const [errno, text] = ERRNO[code];
  const where = filePath === undefined ? '' : ` '${filePath}'`;
  const error: NodeJS.ErrnoException = new Error(`${code}: ${textPrefix}${text}, ${syscall}${where}`);
  error.code = code;
  error.errno = errno;
  error.syscall = syscall;
  if (filePath !== undefined) error.path = filePath;
  return error;
}

/**
 * One file's bytes: the current content and the content as of its last sync.
 * While the file only grows, the synced content is a prefix of the current one and
 * is not stored twice; a truncate below the synced length or a planted overwrite
 * copies it out first.
 */
class FileNode {
  #bytes = Buffer.alloc(0);
  /** Current length; `#bytes` may have spare capacity past it. */
  #length = 0;
  /** The synced content when it is not `#bytes[0, #syncedLength)`. */
  #synced: Buffer | null = null;
  // Invariant: #synced === null implies #syncedLength <= #length.
  #syncedLength = 0;

  /** A file whose current content is also its synced content. */
  static durable(content: Uint8Array): FileNode {
    const node = new FileNode();
    node.replace(content, true);
    return node;
  }

  get length(): number {
    return this.#length;
  }

  /** A view of the current content; copy it before handing it out. */
  current(): Buffer {
    return this.#bytes.subarray(0, this.#length);
  }

  /** A view of the synced content; copy it before handing it out. */
  synced(): Buffer {
    return this.#synced ?? this.#bytes.subarray(0, this.#syncedLength);
  }

  /** Whether the synced content is a prefix of the current content (the append-only case). */
  syncedIsPrefix(): boolean {
    if (this.#synced === null) return true;
    const synced = this.#synced;
    return synced.length <= this.#length && this.#bytes.subarray(0, synced.length).equals(synced);
  }

  append(data: Uint8Array): void {
    this.#reserve(this.#length + data.length);
    this.#bytes.set(data, this.#length);
    this.#length += data.length;
  }

  truncate(size: number): void {
    if (size < this.#syncedLength) this.#detachSynced();
    if (size > this.#length) {
      this.#reserve(size);
      this.#bytes.fill(0, this.#length, size);
    }
    this.#length = size;
  }

  sync(): void {
    this.#synced = null;
    this.#syncedLength = this.#length;
  }

  /** Forgets everything written since the last sync, as Linux does after a failed fsync. */
  dropUnsynced(): void {
    if (this.#synced === null) {
      this.#length = this.#syncedLength;
      return;
    }
    this.#bytes = Buffer.from(this.#synced);
    this.#length = this.#bytes.length;
    this.sync();
  }

  /** Replaces the content; with `synced`, the new content is also the durable one. */
  replace(content: Uint8Array, synced: boolean): void {
    if (!synced) this.#detachSynced();
    this.#bytes = Buffer.from(content);
    this.#length = this.#bytes.length;
    if (synced) this.sync();
  }

  /** Overwrites bytes in place in both the current and the synced content: the medium went bad. */
  overwrite(offset: number, data: Uint8Array): void {
    assert.ok(offset >= 0 && offset + data.length <= this.#length, `overwrite past the end: ${offset}+${data.length} > ${this.#length}`);
    this.#bytes.set(data, offset);
    const synced = this.#synced;
    if (synced !== null && offset < synced.length) synced.set(data.subarray(0, synced.length - offset), offset);
  }

  #detachSynced(): void {
    if (this.#synced === null) this.#synced = Buffer.from(this.#bytes.subarray(0, this.#syncedLength));
  }

  #reserve(capacity: number): void {
    if (capacity <= this.#bytes.length) return;
    // Doubling keeps a long run of small appends (a WAL) linear in the bytes written.
    const grown = Buffer.alloc(Math.max(capacity, this.#bytes.length * 2, 256));
    this.#bytes.copy(grown, 0, 0, this.#length);
    this.#bytes = grown;
  }
}

/** Marks a subdirectory in a directory's entries. */
const SUBDIR: unique symbol = Symbol('subdirectory');

type Entry = FileNode | typeof SUBDIR;

class DirNode {
  /** The entries as the running program sees them. */
  readonly entries = new Map<string, Entry>();
  /** The entries as of the last `syncDir` of this directory. */
  synced = new Map<string, Entry>();
}

/** The bytes a crash leaves of one file. Synced bytes always survive. */
function crashContent(node: FileNode, mode: CrashMode, rng: Rng): Buffer {
  const synced = node.synced();
  const current = node.current();
  if (mode === 'drop-unsynced') return Buffer.from(synced);
  if (!node.syncedIsPrefix()) {
    // Truncated below its synced length since the last sync: the old or the new
    // content are both states a file system may leave.
    return Buffer.from(rng.bool() ? synced : current);
  }
  if (synced.length === current.length) return Buffer.from(synced);
  switch (mode) {
    case 'keep-prefix':
      return Buffer.from(current.subarray(0, rng.range(synced.length, current.length)));
    case 'keep-blocks':
    case 'garbage-blocks':
      return crashBlocks(synced.length, current, mode === 'garbage-blocks', rng);
  }
}

/** `keep-blocks` and `garbage-blocks` for a file whose synced content is a prefix of `current`. */
function crashBlocks(syncedLength: number, current: Buffer, garbage: boolean, rng: Rng): Buffer {
  const length = rng.bool() ? current.length : rng.range(syncedLength, current.length);
  const out = Buffer.from(current.subarray(0, length));
  for (let blockStart = syncedLength - (syncedLength % CRASH_BLOCK_BYTES); blockStart < length; blockStart += CRASH_BLOCK_BYTES) {
    // The synced head of the first block is on disk already; only the rest is at risk.
    const start = Math.max(blockStart, syncedLength);
    const end = Math.min(blockStart + CRASH_BLOCK_BYTES, length);
    const fate = rng.int(garbage ? 3 : 2);
    if (fate === 1) out.fill(0, start, end);
    if (fate === 2) rng.bytes(end - start).copy(out, start);
  }
  return out;
}

function zeroCounts(): Record<FileSystemOp, number> {
  const counts = {} as Record<FileSystemOp, number>;
  for (const op of FILE_SYSTEM_OPS) counts[op] = 0;
  return counts;
}

function checkIsBytes(data: unknown, what: string): void {
  if (!(data instanceof Uint8Array)) throw new TypeError(`${what}: data must be a Uint8Array`);
}

/** A handle for appending to a `CrashableFS` file; it follows the file's inode, as an fd does. */
class CrashableWritableFile implements WritableFile {
  readonly #counts: Record<FileSystemOp, number>;
  readonly #node: FileNode;
  readonly #path: string;
  #closed = false;

  constructor(counts: Record<FileSystemOp, number>, node: FileNode, filePath: string) {
    this.#counts = counts;
    this.#node = node;
    this.#path = filePath;
  }

  get size(): number {
    return this.#node.length;
  }

  async append(data: Uint8Array): Promise<number> {
    this.#counts.append++;
    this.#checkOpen('write');
    checkIsBytes(data, 'append');
    this.#node.append(data);
    return data.length;
  }

  async sync(): Promise<void> {
    this.#counts.sync++;
    this.#checkOpen('fdatasync');
    this.#node.sync();
  }

  async truncate(size: number): Promise<void> {
    this.#counts.truncate++;
    this.#checkOpen('ftruncate');
    if (!Number.isSafeInteger(size) || size < 0) throw errnoError('EINVAL', 'ftruncate', this.#path);
    this.#node.truncate(size);
  }

  /** Closing twice is harmless, as with a node `FileHandle`. */
  async close(): Promise<void> {
    this.#counts.close++;
    this.#closed = true;
  }

  /** Forgets the file's unsynced bytes; `FaultFS` calls it when it fails a `sync()`. */
  dropUnsynced(): void {
    this.#node.dropUnsynced();
  }

  #checkOpen(syscall: string): void {
    if (this.#closed) throw errnoError('EBADF', syscall, this.#path);
  }
}

/** A handle for reading a `CrashableFS` file; each read sees the file as it is at that moment. */
class CrashableRandomAccessFile implements RandomAccessFile {
  readonly size: number;
  readonly #counts: Record<FileSystemOp, number>;
  readonly #node: FileNode;
  readonly #path: string;
  #closed = false;

  constructor(counts: Record<FileSystemOp, number>, node: FileNode, filePath: string) {
    this.#counts = counts;
    this.#node = node;
    this.#path = filePath;
    this.size = node.length;
  }

  read(position: number, length: number): Buffer {
    this.#counts.read++;
    if (this.#closed) throw errnoError('EBADF', 'read', this.#path);
    if (!Number.isSafeInteger(position) || position < 0 || !Number.isSafeInteger(length) || length < 0) {
      throw new RangeError(`read(${position}, ${length}) of ${this.#path}: position and length must be integers >= 0`);
    }
    const content = this.#node.current();
    // A copy: the caller may keep it while the file changes underneath.
    return Buffer.from(content.subarray(Math.min(position, content.length), Math.min(position + length, content.length)));
  }

  /** Closing twice is harmless. */
  async close(): Promise<void> {
    this.#counts.close++;
    this.#closed = true;
  }
}

/**
 * An in-memory, crash-simulating `FileSystem` (see the module comment for the
 * model). Every method completes its effect synchronously, before its promise
 * settles, so a workload on it is deterministic. Paths are normalized with
 * `path.resolve`, so `/db/x` and `/db//x` are one file.
 *
 * Lifetimes: handles stay valid after their file is renamed or removed (they hold
 * the inode); `crashClone` copies nothing of them.
 */
export class CrashableFS implements FileSystem {
  /** Calls made through the `FileSystem` interface and its handles, by operation (test helpers are not counted). */
  readonly opCounts: Record<FileSystemOp, number> = zeroCounts();
  readonly #dirs = new Map<string, DirNode>([[ROOT, new DirNode()]]);
  readonly #locks = new Set<string>();

  /**
   * Creates `dir` and its missing parents. Each new directory's entry is durable
   * only after `syncDir` of its parent, as a file's is.
   */
  async mkdir(dir: string): Promise<void> {
    this.opCounts.mkdir++;
    this.#mkdirs(dir, false);
  }

  async list(dir: string): Promise<string[]> {
    this.opCounts.list++;
    const node = this.#dirs.get(path.resolve(dir));
    if (node === undefined) throw this.#missingDir(path.resolve(dir), 'scandir', dir);
    return [...node.entries.keys()];
  }

  /** As `NodeFileSystem.exists`: `false` for a missing entry, `ENOTDIR` when a parent is a file. */
  async exists(filePath: string): Promise<boolean> {
    this.opCounts.exists++;
    const abs = path.resolve(filePath);
    if (this.#dirs.has(abs)) return true;
    const parent = this.#dirs.get(path.dirname(abs));
    if (parent === undefined) {
      const error = this.#missingDir(path.dirname(abs), 'stat', filePath);
      if (error.code === 'ENOENT') return false;
      throw error;
    }
    return parent.entries.has(path.basename(abs));
  }

  async create(filePath: string): Promise<WritableFile> {
    this.opCounts.create++;
    const { dir, name } = this.#parent(filePath, 'open');
    if (dir.entries.has(name)) throw errnoError('EEXIST', 'open', filePath);
    const node = new FileNode();
    dir.entries.set(name, node);
    return new CrashableWritableFile(this.opCounts, node, path.resolve(filePath));
  }

  async openAppend(filePath: string): Promise<WritableFile> {
    this.opCounts.openAppend++;
    return new CrashableWritableFile(this.opCounts, this.#file(filePath, 'open'), path.resolve(filePath));
  }

  /** Opens a file for reading. Unlike Linux, opening a directory fails at once with `EISDIR`. */
  async openRead(filePath: string): Promise<RandomAccessFile> {
    this.opCounts.openRead++;
    return new CrashableRandomAccessFile(this.opCounts, this.#file(filePath, 'open'), path.resolve(filePath));
  }

  /** As `openRead`, synchronously; counted as an `openRead`. */
  openReadSync(filePath: string): RandomAccessFile {
    this.opCounts.openRead++;
    return new CrashableRandomAccessFile(this.opCounts, this.#file(filePath, 'open'), path.resolve(filePath));
  }

  async readFile(filePath: string): Promise<Buffer> {
    this.opCounts.readFile++;
    return Buffer.from(this.#file(filePath, 'open').current());
  }

  /** Renames a file, replacing `to` if it is a file. Renaming a directory is not supported (`ENOTSUP`). */
  async rename(from: string, to: string): Promise<void> {
    this.opCounts.rename++;
    const source = this.#parent(from, 'rename');
    const entry = source.dir.entries.get(source.name);
    if (entry === undefined) throw errnoError('ENOENT', 'rename', from);
    if (entry === SUBDIR) throw errnoError('ENOTSUP', 'rename', from);
    const target = this.#parent(to, 'rename');
    if (target.dir.entries.get(target.name) === SUBDIR) throw errnoError('EISDIR', 'rename', to);
    if (path.resolve(from) === path.resolve(to)) return;
    source.dir.entries.delete(source.name);
    target.dir.entries.set(target.name, entry);
  }

  /**
   * Binds `newPath` to the file `existing` names (a hard link): both names share
   * one inode until one is removed. Counted as a `create`. After a crash each
   * surviving name gets its own copy of the bytes, as a renamed file's do.
   */
  async link(existing: string, newPath: string): Promise<void> {
    this.opCounts.create++;
    const node = this.#file(existing, 'link');
    const { dir, name } = this.#parent(newPath, 'link');
    if (dir.entries.has(name)) throw errnoError('EEXIST', 'link', newPath);
    dir.entries.set(name, node);
  }

  async remove(filePath: string): Promise<void> {
    this.opCounts.remove++;
    const { dir, name } = this.#parent(filePath, 'unlink');
    const entry = dir.entries.get(name);
    if (entry === undefined) throw errnoError('ENOENT', 'unlink', filePath);
    if (entry === SUBDIR) throw errnoError('EISDIR', 'unlink', filePath);
    dir.entries.delete(name);
  }

  async syncDir(dir: string): Promise<void> {
    this.opCounts.syncDir++;
    const abs = path.resolve(dir);
    const node = this.#dirs.get(abs);
    if (node === undefined) throw this.#missingDir(abs, 'fsync', dir);
    node.synced = new Map(node.entries);
  }

  /** Takes an in-memory lock on `lockPath`; its directory must exist. No LOCK file is written. */
  async lock(lockPath: string): Promise<FileLock> {
    this.opCounts.lock++;
    const abs = path.resolve(lockPath);
    if (!this.#dirs.has(path.dirname(abs))) throw this.#missingDir(path.dirname(abs), 'open', lockPath);
    if (this.#locks.has(abs)) throw new ShaleError('LOCKED', `database is locked: ${lockPath} is held through this file system`);
    this.#locks.add(abs);
    let released = false;
    return {
      release: async () => {
        if (released) return;
        released = true;
        this.#locks.delete(abs);
      },
    };
  }

  /**
   * A new `CrashableFS` holding what a power loss at this moment would leave:
   * each name with its synced or its current binding (picked by `rng`), each
   * surviving file with its synced bytes plus what `mode` keeps of the rest. The
   * clone holds no locks and no handles, and everything in it is durable. This
   * file system is left untouched, so one state can be crashed several ways.
   */
  crashClone(mode: CrashMode, rng: Rng): CrashableFS {
    const clone = new CrashableFS();
    const contents = new Map<FileNode, Buffer>();
    // Walk down from the root: a directory exists after the crash only if its entry
    // in its parent survived, and then so may what is inside it. Map order is
    // creation order, parents first, so the walk visits each directory after its parent.
    for (const [dirPath, dir] of this.#dirs) {
      const cloneDir = clone.#dirs.get(dirPath);
      if (cloneDir === undefined) continue;
      const names = new Set([...dir.synced.keys(), ...dir.entries.keys()]);
      for (const name of names) {
        const synced = dir.synced.get(name);
        const current = dir.entries.get(name);
        // Only a binding that changed since the last syncDir is at risk.
        const survivor = synced === current || rng.bool() ? current : synced;
        if (survivor === undefined) continue;
        let entry: Entry = SUBDIR;
        if (survivor === SUBDIR) {
          clone.#dirs.set(path.join(dirPath, name), new DirNode());
        } else {
          let content = contents.get(survivor);
          if (content === undefined) {
            content = crashContent(survivor, mode, rng);
            contents.set(survivor, content);
          }
          // A file left under two names gets two copies: no name aliases another.
          entry = FileNode.durable(content);
        }
        cloneDir.entries.set(name, entry);
        cloneDir.synced.set(name, entry);
      }
    }
    return clone;
  }

  /** Every file's path (current state), sorted. */
  listAll(): string[] {
    const files: string[] = [];
    for (const [dirPath, dir] of this.#dirs) {
      for (const [name, entry] of dir.entries) if (entry !== SUBDIR) files.push(path.join(dirPath, name));
    }
    return files.sort();
  }

  /** Sizes and sync state of a file, or `undefined` if no file has that path. */
  fileInfo(filePath: string): CrashableFileInfo | undefined {
    const abs = path.resolve(filePath);
    const dir = this.#dirs.get(path.dirname(abs));
    const node = dir?.entries.get(path.basename(abs));
    if (dir === undefined || node === undefined || node === SUBDIR) return undefined;
    return { size: node.length, syncedSize: node.synced().length, entrySynced: dir.synced.get(path.basename(abs)) === node };
  }

  /** The current bytes of a file (a copy). Throws `ENOENT` like `readFile`. Not counted. */
  readFileSync(filePath: string): Buffer {
    return Buffer.from(this.#file(filePath, 'open').current());
  }

  /**
   * Plants a file: creates its missing parent directories and the file if needed,
   * and sets its content. With `synced: true` the content and the directory entry
   * are durable (as if written, fsynced and dir-fsynced); with `synced: false` the
   * content is unsynced and a new file's entry is too. Not counted.
   */
  writeFileSync(filePath: string, data: Uint8Array, options: { synced: boolean }): void {
    checkIsBytes(data, 'writeFileSync');
    const abs = path.resolve(filePath);
    // A planted file stands for one that was there all along: its directories too.
    this.#mkdirs(path.dirname(abs), options.synced);
    const dir = this.#dirs.get(path.dirname(abs));
    assert.ok(dir !== undefined, 'mkdirs made the parent');
    const name = path.basename(abs);
    let node = dir.entries.get(name);
    if (node === SUBDIR) throw errnoError('EISDIR', 'open', filePath);
    if (node === undefined) {
      node = new FileNode();
      dir.entries.set(name, node);
    }
    node.replace(data, options.synced);
    if (options.synced) dir.synced.set(name, node);
  }

  /** Overwrites `bytes` at `offset` in the file's current and synced content, as a failing medium would. */
  corrupt(filePath: string, offset: number, bytes: Uint8Array): void {
    this.#file(filePath, 'open').overwrite(offset, bytes);
  }

  /** Flips one bit (0 = least significant) of the byte at `offset`, in the current and synced content. */
  flipBit(filePath: string, offset: number, bit = 0): void {
    const node = this.#file(filePath, 'open');
    const byte = node.current()[offset];
    assert.ok(byte !== undefined, `flipBit past the end of ${filePath}: ${offset}`);
    node.overwrite(offset, Buffer.of(byte ^ (1 << bit)));
  }

  /** Resets a file's current content to its synced content, as Linux does to a file whose fsync failed. */
  dropUnsynced(filePath: string): void {
    this.#file(filePath, 'open').dropUnsynced();
  }

  /** Creates `dir` and its missing parents; with `durable`, their entries are synced at once (test planting). */
  #mkdirs(dir: string, durable: boolean): void {
    const abs = path.resolve(dir);
    let current = ROOT;
    for (const part of abs.split(path.sep).filter((p) => p !== '')) {
      const next = path.join(current, part);
      if (!this.#dirs.has(next)) {
        const parent = this.#dirs.get(current);
        assert.ok(parent !== undefined, 'directories are created parents first');
        if (parent.entries.has(part)) throw errnoError(next === abs ? 'EEXIST' : 'ENOTDIR', 'mkdir', dir);
        parent.entries.set(part, SUBDIR);
        if (durable) parent.synced.set(part, SUBDIR);
        this.#dirs.set(next, new DirNode());
      }
      current = next;
    }
  }

  /** The directory holding `filePath`, which must exist, and the entry name. */
  #parent(filePath: string, syscall: string): { dir: DirNode; name: string } {
    const abs = path.resolve(filePath);
    if (abs === ROOT) throw errnoError('EISDIR', syscall, filePath);
    const dir = this.#dirs.get(path.dirname(abs));
    if (dir === undefined) throw this.#missingDir(path.dirname(abs), syscall, filePath);
    return { dir, name: path.basename(abs) };
  }

  #file(filePath: string, syscall: string): FileNode {
    const { dir, name } = this.#parent(filePath, syscall);
    const entry = dir.entries.get(name);
    if (entry === undefined) throw errnoError('ENOENT', syscall, filePath);
    if (entry === SUBDIR) throw errnoError('EISDIR', syscall, filePath);
    return entry;
  }

  /** The error for a directory that does not exist: `ENOTDIR` if a component is a file, else `ENOENT`. */
  #missingDir(abs: string, syscall: string, reported: string): NodeJS.ErrnoException {
    let current = ROOT;
    for (const part of abs.split(path.sep).filter((p) => p !== '')) {
      const next = path.join(current, part);
      if (!this.#dirs.has(next)) {
        const entry = this.#dirs.get(current)?.entries.get(part);
        return errnoError(entry instanceof FileNode ? 'ENOTDIR' : 'ENOENT', syscall, reported);
      }
      current = next;
    }
    return assert.fail(`${abs} exists`);
  }
}
