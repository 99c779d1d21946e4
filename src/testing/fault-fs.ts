/**
 * A `FileSystem` wrapper that fails chosen operations, for testing how the engine
 * handles I/O errors: EIO, a full disk (ENOSPC), a short write. Rules pick the
 * operations to fail by kind, path, position in the call sequence or chance; every
 * random choice comes from the `Rng` given to the constructor, so a run replays
 * from its seed.
 *
 * A failed `sync()` behaves as on Linux: the kernel drops the dirty pages of the
 * file, so the unsynced data is gone, not merely unconfirmed. Over a
 * `CrashableFS` (directly or through other `FaultFS` layers) the wrapper makes
 * that happen; over a real file system it cannot.
 */
import assert from 'node:assert/strict';
import type { FileLock, FileSystem, RandomAccessFile, WritableFile } from '../fs/file-system.js';
import { FILE_SYSTEM_OPS, errnoError } from './crashable-fs.js';
import type { FileSystemOp } from './crashable-fs.js';
import { Rng } from './rng.js';

/** An operation a rule can fail: every method of the seam and of its handles. */
export type FaultOp = FileSystemOp;

/**
 * What a triggered rule does. `EIO` and `ENOSPC` make the operation throw a
 * node-shaped error with that `code` before it has any effect (a failed `close`
 * still closes, a failed `sync` drops unsynced data). `short-write`, for `append`
 * only, writes a random strict prefix of the data and resolves with its length.
 */
export type FaultError = 'EIO' | 'ENOSPC' | 'short-write';

/**
 * When to inject a fault. A call matches a rule when its operation is among `op`
 * and, if `path` is given, one of its paths contains `path` (a string) or matches it
 * (a RegExp); `rename` offers both of its paths. Of the matching calls, the rule
 * fails: the `nth` one (1-based) if `nth` is set; each with probability `1/oneIn`
 * if `oneIn` is set; otherwise every one. With `persistent`, once the rule has
 * failed a call it fails every later matching call too (a disk that died).
 */
export interface FaultRule {
  op: FaultOp | readonly FaultOp[] | '*';
  path?: RegExp | string;
  nth?: number;
  oneIn?: number;
  persistent?: boolean;
  error: FaultError;
}

/** The syscall node would name in the error, for each operation. */
const SYSCALLS: Record<FaultOp, string> = {
  mkdir: 'mkdir',
  list: 'scandir',
  exists: 'stat',
  create: 'open',
  openAppend: 'open',
  openRead: 'open',
  readFile: 'read',
  rename: 'rename',
  remove: 'unlink',
  syncDir: 'fsync',
  lock: 'open',
  append: 'write',
  sync: 'fdatasync',
  truncate: 'ftruncate',
  read: 'read',
  close: 'close',
};

interface ArmedRule {
  readonly rule: FaultRule;
  readonly ops: ReadonlySet<FaultOp> | '*';
  matchCount: number;
  triggered: boolean;
}

/** What the file handles need from their `FaultFS`. */
interface FaultGate {
  readonly rng: Rng;
  /** Counts the call and returns the fault to inject, if any. */
  decide(op: FaultOp, paths: readonly string[]): FaultError | undefined;
}

function injectedError(fault: 'EIO' | 'ENOSPC', op: FaultOp, filePath: string): NodeJS.ErrnoException {
  return errnoError(fault, SYSCALLS[op], filePath, 'injected ');
}

function pathMatches(pattern: RegExp | string | undefined, paths: readonly string[]): boolean {
  if (pattern === undefined) return true;
  // `search` ignores `lastIndex`, so a RegExp with the g flag matches the same way every time.
  return paths.some((p) => (typeof pattern === 'string' ? p.includes(pattern) : p.search(pattern) !== -1));
}

/** Drops the unsynced data of `file` if it (or the file it wraps) can: the effect of a failed fsync. */
function dropUnsyncedOf(file: WritableFile): void {
  if ('dropUnsynced' in file && typeof file.dropUnsynced === 'function') file.dropUnsynced();
}

/** Throws the injected error for a failed call, if the gate says it fails. */
function failIfFaulted(gate: FaultGate, op: FaultOp, paths: readonly string[]): void {
  const fault = gate.decide(op, paths);
  assert.ok(fault !== 'short-write', 'short-write rules match append only');
  if (fault !== undefined) throw injectedError(fault, op, paths[0] ?? '');
}

class FaultWritableFile implements WritableFile {
  readonly #inner: WritableFile;
  readonly #path: string;
  readonly #gate: FaultGate;

  constructor(inner: WritableFile, filePath: string, gate: FaultGate) {
    this.#inner = inner;
    this.#path = filePath;
    this.#gate = gate;
  }

  get size(): number {
    return this.#inner.size;
  }

  async append(data: Uint8Array): Promise<number> {
    const fault = this.#gate.decide('append', [this.#path]);
    if (fault === 'short-write') {
      const count = data.length === 0 ? 0 : this.#gate.rng.int(data.length);
      return count === 0 ? 0 : this.#inner.append(data.subarray(0, count));
    }
    if (fault !== undefined) throw injectedError(fault, 'append', this.#path);
    return this.#inner.append(data);
  }

  async sync(): Promise<void> {
    const fault = this.#gate.decide('sync', [this.#path]);
    if (fault === 'EIO' || fault === 'ENOSPC') {
      dropUnsyncedOf(this.#inner);
      throw injectedError(fault, 'sync', this.#path);
    }
    await this.#inner.sync();
  }

  async truncate(size: number): Promise<void> {
    failIfFaulted(this.#gate, 'truncate', [this.#path]);
    await this.#inner.truncate(size);
  }

  /** A failed close still closes the handle, as close(2) on Linux releases the descriptor. */
  async close(): Promise<void> {
    const fault = this.#gate.decide('close', [this.#path]);
    await this.#inner.close();
    if (fault === 'EIO' || fault === 'ENOSPC') throw injectedError(fault, 'close', this.#path);
  }

  /** Forwards to the wrapped file, so stacked `FaultFS` layers still reach a `CrashableFS`. */
  dropUnsynced(): void {
    dropUnsyncedOf(this.#inner);
  }
}

class FaultRandomAccessFile implements RandomAccessFile {
  readonly #inner: RandomAccessFile;
  readonly #path: string;
  readonly #gate: FaultGate;

  constructor(inner: RandomAccessFile, filePath: string, gate: FaultGate) {
    this.#inner = inner;
    this.#path = filePath;
    this.#gate = gate;
  }

  get size(): number {
    return this.#inner.size;
  }

  read(position: number, length: number): Buffer {
    failIfFaulted(this.#gate, 'read', [this.#path]);
    return this.#inner.read(position, length);
  }

  async close(): Promise<void> {
    const fault = this.#gate.decide('close', [this.#path]);
    await this.#inner.close();
    if (fault === 'EIO' || fault === 'ENOSPC') throw injectedError(fault, 'close', this.#path);
  }
}

/**
 * Wraps `inner` and fails the calls its rules select (see `FaultRule`). With no
 * rules it is a transparent, counting pass-through. Handles opened through it
 * carry the path they were opened with, which is what `path` rules match for
 * `append`, `sync`, `truncate`, `read` and `close`, even after a rename.
 */
export class FaultFS implements FileSystem {
  /** The wrapped file system. Calls made on it directly bypass the rules and the counts. */
  readonly inner: FileSystem;
  /** Calls by operation, failed or not, since construction: a test finds "the n-th sync" here. */
  readonly calls: Record<FaultOp, number>;
  readonly #rng: Rng;
  readonly #gate: FaultGate;
  #rules: ArmedRule[] = [];
  #injected = 0;

  /**
   * @param rng The source of every random choice (`oneIn`, short-write lengths).
   *   Pass the test's seeded `Rng` (or a `fork()` of it) so a run replays from its seed.
   */
  constructor(inner: FileSystem, rng: Rng = new Rng(0)) {
    this.inner = inner;
    this.#rng = rng;
    this.calls = {} as Record<FaultOp, number>;
    for (const op of FILE_SYSTEM_OPS) this.calls[op] = 0;
    this.#gate = { rng, decide: (op, paths) => this.#decide(op, paths) };
  }

  /** How many calls have been failed (or shortened) so far. */
  get injected(): number {
    return this.#injected;
  }

  /** Adds a rule. Its counts of matching calls start now. Rules are checked in the order added. */
  addRule(rule: FaultRule): void {
    const ops = rule.op === '*' ? '*' : new Set<FaultOp>(typeof rule.op === 'string' ? [rule.op] : rule.op);
    if (ops !== '*') for (const op of ops) assert.ok(FILE_SYSTEM_OPS.includes(op), `unknown fault op ${op}`);
    if (rule.error === 'short-write') {
      assert.ok(ops !== '*' && ops.size === 1 && ops.has('append'), 'a short-write rule must have op "append"');
    }
    if (rule.nth !== undefined) assert.ok(Number.isSafeInteger(rule.nth) && rule.nth >= 1, `nth must be an integer >= 1, got ${rule.nth}`);
    if (rule.oneIn !== undefined) assert.ok(Number.isSafeInteger(rule.oneIn) && rule.oneIn >= 1, `oneIn must be an integer >= 1, got ${rule.oneIn}`);
    assert.ok(rule.nth === undefined || rule.oneIn === undefined, 'a rule sets nth or oneIn, not both');
    this.#rules.push({ rule, ops, matchCount: 0, triggered: false });
  }

  /** Removes every rule; the disk is healthy again. `calls` and `injected` keep counting. */
  clearRules(): void {
    this.#rules = [];
  }

  async mkdir(dir: string): Promise<void> {
    failIfFaulted(this.#gate, 'mkdir', [dir]);
    await this.inner.mkdir(dir);
  }

  async list(dir: string): Promise<string[]> {
    failIfFaulted(this.#gate, 'list', [dir]);
    return this.inner.list(dir);
  }

  async exists(filePath: string): Promise<boolean> {
    failIfFaulted(this.#gate, 'exists', [filePath]);
    return this.inner.exists(filePath);
  }

  async create(filePath: string): Promise<WritableFile> {
    failIfFaulted(this.#gate, 'create', [filePath]);
    return new FaultWritableFile(await this.inner.create(filePath), filePath, this.#gate);
  }

  async openAppend(filePath: string): Promise<WritableFile> {
    failIfFaulted(this.#gate, 'openAppend', [filePath]);
    return new FaultWritableFile(await this.inner.openAppend(filePath), filePath, this.#gate);
  }

  async openRead(filePath: string): Promise<RandomAccessFile> {
    failIfFaulted(this.#gate, 'openRead', [filePath]);
    return new FaultRandomAccessFile(await this.inner.openRead(filePath), filePath, this.#gate);
  }

  /** As `openRead`, synchronously. Rules and counts see it as an `openRead`: a disk that fails opens fails both. */
  openReadSync(filePath: string): RandomAccessFile {
    failIfFaulted(this.#gate, 'openRead', [filePath]);
    return new FaultRandomAccessFile(this.inner.openReadSync(filePath), filePath, this.#gate);
  }

  async readFile(filePath: string): Promise<Buffer> {
    failIfFaulted(this.#gate, 'readFile', [filePath]);
    return this.inner.readFile(filePath);
  }

  async rename(from: string, to: string): Promise<void> {
    failIfFaulted(this.#gate, 'rename', [from, to]);
    await this.inner.rename(from, to);
  }

  /** A hard link, where `inner` has them (`ENOTSUP` otherwise). Rules and counts see it as a `create` of `newPath`. */
  async link(existing: string, newPath: string): Promise<void> {
    failIfFaulted(this.#gate, 'create', [newPath]);
    if (this.inner.link === undefined) throw errnoError('ENOTSUP', 'link', newPath);
    await this.inner.link(existing, newPath);
  }

  async remove(filePath: string): Promise<void> {
    failIfFaulted(this.#gate, 'remove', [filePath]);
    await this.inner.remove(filePath);
  }

  async syncDir(dir: string): Promise<void> {
    failIfFaulted(this.#gate, 'syncDir', [dir]);
    await this.inner.syncDir(dir);
  }

  async lock(lockPath: string): Promise<FileLock> {
    failIfFaulted(this.#gate, 'lock', [lockPath]);
    return this.inner.lock(lockPath);
  }

  #decide(op: FaultOp, paths: readonly string[]): FaultError | undefined {
    this.calls[op]++;
    let fault: FaultError | undefined;
    // Every matching rule sees every matching call, so counts (and random draws)
    // do not depend on which rule fired first.
    for (const armed of this.#rules) {
      if (armed.ops !== '*' && !armed.ops.has(op)) continue;
      if (!pathMatches(armed.rule.path, paths)) continue;
      armed.matchCount++;
      if (!this.#fires(armed)) continue;
      armed.triggered = true;
      fault ??= armed.rule.error;
    }
    if (fault !== undefined) this.#injected++;
    return fault;
  }

  #fires(armed: ArmedRule): boolean {
    const { rule } = armed;
    if (armed.triggered && rule.persistent === true) return true;
    if (rule.nth !== undefined) return armed.matchCount === rule.nth;
    if (rule.oneIn !== undefined) return this.#rng.int(rule.oneIn) === 0;
    return true;
  }
}
