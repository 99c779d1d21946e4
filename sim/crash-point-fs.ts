/**
 * A counting wrapper around a `CrashableFS` that names every moment a crash could
 * happen: it numbers the mutating operations (mkdir, create, link, append, sync, syncDir,
 * rename, remove, truncate) and calls a hook right after each one takes effect,
 * before the engine sees its result. The hook may take `inner.crashClone(...)`,
 * which is then exactly the state a power loss right after the k-th mutating
 * operation would leave.
 *
 * Exactness: `CrashableFS` completes every effect synchronously inside the call,
 * so the hook runs in the same synchronous stretch, before any other task (a
 * background flush, another write group) can touch the file system.
 */
import type { FileLock, FileSystem, RandomAccessFile, WritableFile } from '../src/fs/file-system.js';
import type { CrashableFS } from '../src/testing/crashable-fs.js';

/** The operations that change what a crash could leave. */
export type MutatingOp = 'mkdir' | 'create' | 'link' | 'append' | 'sync' | 'syncDir' | 'rename' | 'remove' | 'truncate';

/** Called after the `count`-th mutating operation (1-based) took effect. Must not await. */
export type MutationHook = (count: number, op: MutatingOp, path: string) => void;

/** One mutating operation, as `CrashPointFS.log` records it. */
export interface MutationRecord {
  op: MutatingOp;
  path: string;
}

export class CrashPointFS implements FileSystem {
  readonly inner: CrashableFS;
  /** Mutating operations so far. */
  mutations = 0;
  /** See `MutationHook`; replace or clear it at any time. */
  onMutation: MutationHook | undefined;
  /** Every mutating operation, in order, when `recordLog` is set (for tests that need to know which op was which). */
  readonly log: MutationRecord[] = [];
  recordLog = false;

  constructor(inner: CrashableFS, onMutation?: MutationHook) {
    this.inner = inner;
    this.onMutation = onMutation;
  }

  /** Counts a mutating op and runs the hook. Called synchronously right after the inner call returned. */
  mutated(op: MutatingOp, path: string): void {
    this.mutations++;
    if (this.recordLog) this.log.push({ op, path });
    this.onMutation?.(this.mutations, op, path);
  }

  mkdir(dir: string): Promise<void> {
    const made = this.inner.mkdir(dir);
    this.mutated('mkdir', dir);
    return made;
  }

  list(dir: string): Promise<string[]> {
    return this.inner.list(dir);
  }

  exists(path: string): Promise<boolean> {
    return this.inner.exists(path);
  }

  create(path: string): Promise<WritableFile> {
    const created = this.inner.create(path);
    this.mutated('create', path);
    return created.then((file) => new CountingWritableFile(this, file, path));
  }

  openAppend(path: string): Promise<WritableFile> {
    return this.inner.openAppend(path).then((file) => new CountingWritableFile(this, file, path));
  }

  openRead(path: string): Promise<RandomAccessFile> {
    return this.inner.openRead(path);
  }

  openReadSync(path: string): RandomAccessFile {
    return this.inner.openReadSync(path);
  }

  readFile(path: string): Promise<Buffer> {
    return this.inner.readFile(path);
  }

  rename(from: string, to: string): Promise<void> {
    const renamed = this.inner.rename(from, to);
    this.mutated('rename', `${from} -> ${to}`);
    return renamed;
  }

  link(existing: string, newPath: string): Promise<void> {
    const linked = this.inner.link(existing, newPath);
    this.mutated('link', `${existing} -> ${newPath}`);
    return linked;
  }

  remove(path: string): Promise<void> {
    const removed = this.inner.remove(path);
    this.mutated('remove', path);
    return removed;
  }

  syncDir(dir: string): Promise<void> {
    const synced = this.inner.syncDir(dir);
    this.mutated('syncDir', dir);
    return synced;
  }

  lock(path: string): Promise<FileLock> {
    return this.inner.lock(path);
  }
}

class CountingWritableFile implements WritableFile {
  readonly #fs: CrashPointFS;
  readonly #inner: WritableFile;
  readonly #path: string;

  constructor(fs: CrashPointFS, inner: WritableFile, path: string) {
    this.#fs = fs;
    this.#inner = inner;
    this.#path = path;
  }

  get size(): number {
    return this.#inner.size;
  }

  append(data: Uint8Array): Promise<number> {
    const appended = this.#inner.append(data);
    this.#fs.mutated('append', this.#path);
    return appended;
  }

  sync(): Promise<void> {
    const synced = this.#inner.sync();
    this.#fs.mutated('sync', this.#path);
    return synced;
  }

  truncate(size: number): Promise<void> {
    const truncated = this.#inner.truncate(size);
    this.#fs.mutated('truncate', this.#path);
    return truncated;
  }

  close(): Promise<void> {
    return this.#inner.close();
  }
}
