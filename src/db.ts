/**
 * The database: argument checking, the write queue with group commit, reads over
 * the memtables, and close. Recovery lives in `open.ts`.
 *
 * Concurrency rule (docs/internals.md, "Write path"): one writer at a time takes
 * every queued batch (up to `writeGroupBytesMax`), gives them consecutive sequence
 * numbers, appends them to the WAL as one record, syncs once if any asked for it,
 * applies them to the memtable, and resolves them in order. Reads never wait.
 */
import { ShaleError, ioError } from './errors.js';
import type { FileLock } from './fs/file-system.js';
import { filePath } from './filenames.js';
import { batchOps, deleteOp, lookupKeyArgument, putOp, syncOption, type BatchOperation, type WriteOptions } from './batch.js';
import type { ManifestWriter } from './compaction/manifest.js';
import { EntryType, type BytesLike } from './keys.js';
import { MemTable } from './memtable/memtable.js';
import { openDatabase, createLog } from './open.js';
import { resolveOptions, type Options, type ResolvedOptions } from './options.js';
import type { LogWriter } from './wal/log-writer.js';
import type { RecoveryReport } from './wal/recovery.js';
import { encodeWriteGroup, opEncodedBytes, type WriteOp } from './wal/write-group.js';

export type { BatchOperation, WriteOptions } from './batch.js';
export type { RecoveryReport } from './wal/recovery.js';

interface PendingWrite {
  ops: WriteOp[];
  sync: boolean;
  encodedBytes: number;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** An open shale database. Create one with `DB.open`; close it with `close()`. */
export class DB {
  /** The directory holding the database. */
  readonly location: string;
  /** What recovery found when this database was opened: logs replayed, tail bytes and records dropped. */
  readonly recoveryReport: RecoveryReport;

  readonly #options: ResolvedOptions;
  readonly #lock: FileLock;
  readonly #manifest: ManifestWriter;
  #log: LogWriter;
  #memtable: MemTable;
  /** Frozen memtables waiting for flush, newest first. */
  readonly #immutables: MemTable[] = [];
  #lastSequence: number;
  #nextFileNumber: number;

  readonly #queue: PendingWrite[] = [];
  #writerScheduled = false;
  #writerIdle: Promise<void> = Promise.resolve();
  /** Set by the first failed write or sync; the write path stays failed until reopen. */
  #writeError: ShaleError | undefined;
  #closing = false;
  #closePromise: Promise<void> | undefined;

  private constructor(location: string, options: ResolvedOptions, opened: Awaited<ReturnType<typeof openDatabase>>) {
    this.location = location;
    this.#options = options;
    this.#lock = opened.lock;
    this.#manifest = opened.manifest;
    this.#log = opened.log;
    this.#memtable = opened.memtable;
    this.#lastSequence = opened.lastSequence;
    this.#nextFileNumber = opened.state.nextFileNumber;
    this.recoveryReport = opened.report;
  }

  /**
   * Opens (and by default creates) the database in `location`. Resolves once
   * recovery is complete and durable. Rejects with `ShaleError` codes `LOCKED`
   * (another DB holds the directory), `NOT_FOUND`, `EXISTS`, `CORRUPTION`,
   * `IO_ERROR` or `INVALID_ARGUMENT`.
   */
  static async open(location: string, options?: Options): Promise<DB> {
    if (typeof location !== 'string' || location.length === 0) {
      throw new ShaleError('INVALID_ARGUMENT', 'location must be a non-empty string');
    }
    const resolved = resolveOptions(options);
    return new DB(location, resolved, await openDatabase(location, resolved));
  }

  /** The sequence number of the last write applied (after open: the last one recovered). */
  get latestSequence(): bigint {
    return BigInt(this.#lastSequence);
  }

  /** Whether the database is open: false from the moment `close()` is called. */
  get isOpen(): boolean {
    return !this.#closing;
  }

  /** Stores `value` under `key`. See `WriteOptions` for what resolving promises. */
  put(key: BytesLike, value: BytesLike, options?: WriteOptions): Promise<void> {
    try {
      this.#checkOpen();
      return this.#enqueue([putOp(key, value, this.#options)], syncOption(options));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Removes `key` (a no-op if absent). See `WriteOptions` for what resolving promises. */
  delete(key: BytesLike, options?: WriteOptions): Promise<void> {
    try {
      this.#checkOpen();
      return this.#enqueue([deleteOp(key, this.#options)], syncOption(options));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Applies every operation of `operations` atomically: after any crash, all of them or none. */
  write(operations: readonly BatchOperation[], options?: WriteOptions): Promise<void> {
    try {
      this.#checkOpen();
      const ops = batchOps(operations, this.#options);
      const sync = syncOption(options);
      if (ops.length === 0) return Promise.resolve();
      return this.#enqueue(ops, sync);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** The value stored under `key`, or `undefined`. The Buffer returned is the caller's own. */
  get(key: BytesLike): Promise<Buffer | undefined> {
    try {
      this.#checkOpen();
      return Promise.resolve(this.#lookup(lookupKeyArgument(key, this.#options), this.#lastSequence));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Closes the database: waits for queued writes, syncs the log, releases the
   * lock. Operations called after `close()` reject with `NOT_OPEN`. Calling it
   * again returns the same promise.
   */
  close(): Promise<void> {
    this.#closePromise ??= this.#close();
    return this.#closePromise;
  }

  async #close(): Promise<void> {
    this.#closing = true;
    try {
      while (this.#queue.length > 0 || this.#writerScheduled) await this.#writerIdle;
      if (this.#writeError === undefined && this.#log.size > this.#log.syncedSize) await this.#log.sync();
    } finally {
      await this.#log.close().catch(() => undefined);
      await this.#manifest.close().catch(() => undefined);
      await this.#lock.release();
    }
  }

  #checkOpen(): void {
    if (this.#closing) throw new ShaleError('NOT_OPEN', 'the database is closed');
  }

  #lookup(key: Buffer, snapshotSeq: number): Buffer | undefined {
    let found = this.#memtable.get(key, snapshotSeq);
    for (let i = 0; found === undefined && i < this.#immutables.length; i++) {
      found = this.#immutables[i]!.get(key, snapshotSeq);
    }
    if (found === undefined || found.type === EntryType.DELETE) return undefined;
    return Buffer.from(found.value);
  }

  #enqueue(ops: WriteOp[], sync: boolean): Promise<void> {
    if (this.#writeError) return Promise.reject(this.#writeError);
    let encodedBytes = 0;
    for (const op of ops) encodedBytes += opEncodedBytes(op);
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ ops, sync, encodedBytes, resolve, reject });
      if (!this.#writerScheduled) {
        this.#writerScheduled = true;
        // Start on a microtask so every write issued in this tick joins the first group.
        this.#writerIdle = new Promise<void>((done) => queueMicrotask(() => void this.#runWriter().finally(done)));
      }
    });
  }

  /** Takes queued writes, oldest first, up to `writeGroupBytesMax` (always at least one). */
  #takeGroup(): PendingWrite[] {
    const group: PendingWrite[] = [this.#queue.shift()!];
    let bytes = group[0]!.encodedBytes;
    while (this.#queue.length > 0 && bytes + this.#queue[0]!.encodedBytes <= this.#options.writeGroupBytesMax) {
      const next = this.#queue.shift()!;
      bytes += next.encodedBytes;
      group.push(next);
    }
    return group;
  }

  async #runWriter(): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        if (this.#writeError) {
          for (const pending of this.#queue.splice(0)) pending.reject(this.#writeError);
          return;
        }
        const group = this.#takeGroup();
        try {
          await this.#commitGroup(group);
        } catch (err) {
          // A failed write or sync leaves the log's state unknown: never retry, fail every later write.
          this.#writeError = ioError('write failed; the database no longer accepts writes', err);
          for (const pending of group) pending.reject(this.#writeError);
        }
      }
    } finally {
      this.#writerScheduled = false;
    }
  }

  async #commitGroup(group: PendingWrite[]): Promise<void> {
    if (this.#memtable.approximateBytes >= this.#options.memtableSizeBytes) await this.#rotateMemtable();
    const firstSeq = this.#lastSequence + 1;
    let opCount = 0;
    let opBytes = 0;
    let sync = false;
    for (const pending of group) {
      opCount += pending.ops.length;
      opBytes += pending.encodedBytes;
      sync ||= pending.sync;
    }
    const batches = group.map((pending) => pending.ops);
    await this.#log.addRecord(encodeWriteGroup(this.#log.syncedSize, firstSeq, batches, opCount, opBytes));
    if (sync) await this.#log.sync();
    let seq = firstSeq;
    for (const ops of batches) {
      for (const op of ops) this.#memtable.add(seq++, op.type, op.key, op.value);
    }
    this.#lastSequence = seq - 1;
    for (const pending of group) pending.resolve();
  }

  /**
   * Freezes the memtable and starts a new one with a new log. The old log is
   * synced whole first: recovery treats damage in any log but the newest as
   * corruption, which holds only if older logs are entirely durable.
   */
  async #rotateMemtable(): Promise<void> {
    if (this.#log.size > this.#log.syncedSize) await this.#log.sync();
    const fileNumber = this.#nextFileNumber++;
    const log = await createLog(this.#options.fs, this.location, fileNumber);
    try {
      await this.#options.fs.syncDir(this.location);
    } catch (err) {
      await log.close().catch(() => undefined);
      throw ioError(`syncing ${filePath(this.location, '.')}`, err);
    }
    const old = this.#log;
    this.#log = log;
    await old.close();
    this.#memtable.freeze();
    this.#immutables.unshift(this.#memtable);
    this.#memtable = new MemTable(this.#options.memtableNodeSizeMax);
  }

  /** Checks the memtables' invariants. For tests. */
  checkInvariants(): void {
    this.#memtable.checkInvariants();
    for (const memtable of this.#immutables) memtable.checkInvariants();
  }
}
