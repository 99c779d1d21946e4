/**
 * The database as a facade: each method checks its arguments and calls the part
 * that does the work (docs/internals.md, "Where things are"):
 *
 * - `open.ts`: the lock and recovery;
 * - `write-pipeline.ts`: the write queue, group commit, backpressure, rotation;
 * - `flusher.ts`: frozen memtables to L0 tables;
 * - `read-path.ts`: gets and iterators at a snapshot;
 * - `../compaction/compactor.ts`: leveled compaction in the background executor;
 * - `read-only.ts`: a read-only database's views and `refresh()`.
 */
import { EventEmitter } from 'node:events';
import { ShaleError } from '../errors.js';
import type { FileLock } from '../fs/file-system.js';
import { filePath, tableFileName } from '../filenames.js';
import { deleteFromOp } from './open-range-end.js';
import {
  batchOps,
  deleteOp,
  deleteRangeOp,
  keyArgument,
  lookupKeyArgument,
  putOp,
  putOptions,
  syncOption,
  type BatchOperation,
  type PutOptions,
  type WriteOptions,
} from './batch.js';
import { DbClock } from './db-clock.js';
import { resolveCompactionFilter, type CompactionFilterFunction } from '../compaction/compaction-filter.js';
import { Compactor } from '../compaction/compactor.js';
import { InlineExecutor, type CompactionExecutor } from '../compaction/executor.js';
import { WorkerExecutor } from '../compaction/worker-executor.js';
import { VersionSet } from '../version/version-set.js';
import type { BytesLike } from '../keys.js';
import type { ShaleIterator } from '../iterator/public-iterator.js';
import { openDatabase, type OpenedDatabase } from './open.js';
import { resolveOptions, type Options, type ResolvedOptions } from '../options.js';
import { ReadPath, type IteratorOptions, type ReadOptions } from './read-path.js';
import { SnapshotList, type Snapshot } from './snapshot.js';
import { BlockCache } from '../sstable/block-cache.js';
import { TableCache } from '../sstable/table-cache.js';
import type { RecoveryReport } from '../wal/recovery.js';
import { Flusher } from './flusher.js';
import { MemtableSet } from './memtable-set.js';
import { ReadOnlyFollower, releaseTables } from './read-only.js';
import { emptyManifestState } from '../version/manifest.js';
import { collectStats, formatLevels, newCounters, type DBEvents, type DBStats } from './stats.js';
import { WritePipeline } from './write-pipeline.js';
import { newLatencies } from './latency-histogram.js';
import { renderMetrics, type MetricsOptions } from './metrics.js';
import { verify, type VerifyOptions, type VerifyReport } from '../tools/verify.js';
import { repair, type RepairOptions, type RepairReport } from '../tools/repair.js';
import { destroy, type DestroyOptions, type DestroyReport } from '../tools/destroy.js';
import { makeCheckpoint, type CheckpointResult } from './checkpoint.js';
import { approximateCount, approximateSize, type KeyBounds } from './approximate.js';
import { exportSettings, exportStream, type ExportOptions } from './export.js';
import { importInto, type ImportOptions, type ImportResult } from './import.js';
import type { Readable } from 'node:stream';
import { createBackup, type BackupInfo } from '../backup/backup-engine.js';
import { CommitHistory } from './commit-history.js';
import { Transaction, isolationOption, runTransaction, type RunTransactionOptions, type TransactionOptions } from './transaction.js';

export type { BatchOperation, PutOptions, WriteOptions } from './batch.js';
export type { ExpiryOptions } from './expiry-argument.js';
export type { RecoveryReport } from '../wal/recovery.js';
export type { Snapshot } from './snapshot.js';
export type { ShaleIterator } from '../iterator/public-iterator.js';
export type { ReadOptions, IteratorOptions } from './read-path.js';
export type { FlushEvent, StallEvent, DBEvents, DBStats } from './stats.js';
export type { VerifyOptions, VerifyReport, VerifiedFile, ToolProgress, Damage } from '../tools/verify.js';
export type { RepairOptions, RepairReport } from '../tools/repair.js';
export type { DestroyOptions, DestroyReport } from '../tools/destroy.js';
export type { CheckpointResult } from './checkpoint.js';
export type { ExportOptions } from './export.js';
export type { ImportOptions, ImportResult } from './import.js';
export type { ExportFormat, ExportEncoding } from './export-format.js';
export type { IsolationLevel, TransactionOptions, RunTransactionOptions, TransactionIteratorOptions } from './transaction.js';

/**
 * Every open database, held until `close()`. An open database holds its
 * directory's LOCK, so its files must stay open as long as it does, whether or
 * not the caller still refers to it. Left to the garbage collector, a forgotten
 * database's file handles would be closed under its lock: Node does that with a
 * warning, and Bun throws from the collector, which kills the process.
 */
const OPEN_DATABASES = new Set<DB>();

/** What only a writable database has: the lock, the write path, flushes and compaction. */
interface WriterParts {
  lock: FileLock;
  executor: CompactionExecutor;
  compactor: Compactor;
  flusher: Flusher;
  writes: WritePipeline;
  /** What committed recently, for transactions' conflict checks. */
  history: CommitHistory;
}

/**
 * An open shale database. Create one with `DB.open`; close it with `close()`.
 * Emits `flush`, `compaction`, `stall` and `background-error` (see `DBEvents`).
 */
export class DB extends EventEmitter<DBEvents> {
  /** The directory holding the database. */
  readonly location: string;
  readonly #recoveryReport: RecoveryReport | undefined;
  readonly #options: ResolvedOptions;
  /** The parts only a writable database has; undefined when opened with `readOnly`. */
  readonly #writer: WriterParts | undefined;
  /** The parts only a read-only database has. */
  readonly #readOnly: ReadOnlyFollower | undefined;
  readonly #counters = newCounters();
  readonly #latencies = newLatencies();
  readonly #memtables: MemtableSet;
  readonly #versions: VersionSet;
  readonly #blockCache: BlockCache;
  readonly #tableCache: TableCache;
  readonly #snapshots = new SnapshotList();
  /** The database's time: what expiring entries are judged by. */
  readonly #clock: DbClock;
  readonly #reads: ReadPath;
  #closing = false;
  /** Checkpoints, backups and exports under way: `close()` waits for them. */
  readonly #copies = new Set<Promise<unknown>>();
  #closePromise: Promise<void> | undefined;

  /** `opened` is what recovery left a writable database; undefined opens a read-only one, whose first view `#readOnly.refresh()` loads. */
  private constructor(
    location: string,
    options: ResolvedOptions,
    opened: OpenedDatabase | undefined,
    compactionFilter: CompactionFilterFunction | undefined,
  ) {
    super();
    this.location = location;
    this.#options = options;
    this.#clock = new DbClock(options.clock);
    this.#recoveryReport = opened?.report;
    this.#memtables = new MemtableSet(options.memtableNodeSizeMax, opened?.logNumber ?? 0);
    this.#blockCache = new BlockCache(options.blockCacheBytes);
    this.#tableCache = new TableCache({
      fs: options.fs,
      dir: location,
      maxOpenFiles: options.maxOpenFiles,
      blockCache: this.#blockCache,
      verifyChecksums: options.verifyChecksums,
    });
    this.#versions = new VersionSet(
      {
        fs: options.fs,
        dir: location,
        manifestSizeBytesMax: options.manifestSizeBytesMax,
        // A read-only database deletes nothing: a table its views no longer name is only unpinned.
        deleteTables: (numbers) => (opened === undefined ? releaseTables(this.#tableCache, numbers) : this.#deleteTables(numbers)),
      },
      opened?.state ?? emptyManifestState(),
      opened?.manifest,
    );
    this.#writer = opened === undefined ? undefined : this.#buildWriter(opened, compactionFilter);
    this.#readOnly =
      opened === undefined
        ? new ReadOnlyFollower({ options, location, versions: this.#versions, memtables: this.#memtables, tableCache: this.#tableCache, snapshots: this.#snapshots })
        : undefined;
    this.#reads = new ReadPath({
      options,
      memtables: this.#memtables,
      versions: this.#versions,
      tableCache: this.#tableCache,
      snapshots: this.#snapshots,
      latencies: this.#latencies,
      lastSequence: () => this.#lastSequence(),
      now: () => this.#clock.now(),
      checkOpen: () => this.#checkOpen(),
    });
  }

  /** The write path, flushes and compaction of a writable database. */
  #buildWriter(opened: OpenedDatabase, compactionFilter: CompactionFilterFunction | undefined): WriterParts {
    const { location } = this;
    const options = this.#options;
    const executor: CompactionExecutor =
      options.compactionExecutor === 'worker'
        ? new WorkerExecutor(options.compactionThreads, typeof options.compactionFilter === 'object' ? options.compactionFilter : undefined)
        : new InlineExecutor(options.fs, compactionFilter);
    const compactor = new Compactor({
      versions: this.#versions,
      options,
      location,
      executor,
      snapshots: () => this.#snapshots.sequences(),
      now: () => this.#clock.nowOrLast(),
      onCompaction: (event) => {
        this.#counters.compactionCount++;
        this.#counters.compactionBytesRead += event.bytesRead;
        this.#counters.compactionBytesWritten += event.bytesWritten;
        this.emit('compaction', event);
        this.#compactor.schedule();
      },
      onError: (err) => this.#backgroundError(err),
    });
    const flusher = new Flusher({
      options,
      location,
      memtables: this.#memtables,
      versions: this.#versions,
      executor,
      counters: this.#counters,
      writeError: () => this.#writes.error,
      onError: (err) => this.#backgroundError(err),
      onFlush: (event) => this.emit('flush', event),
      scheduleCompaction: () => this.#compactor.schedule(),
    });
    const history = new CommitHistory(options.transactionHistoryBytesMax, opened.lastSequence);
    const writes = new WritePipeline({
      options,
      location,
      memtables: this.#memtables,
      versions: this.#versions,
      compactor,
      flusher,
      counters: this.#counters,
      latencies: this.#latencies,
      history,
      log: opened.log,
      lastSequence: opened.lastSequence,
      onStall: (event) => this.emit('stall', event),
    });
    return { lock: opened.lock, executor, compactor, flusher, writes, history };
  }

  // The writer's parts by name, for the methods that only a writable database has: READ_ONLY otherwise.
  get #lock(): FileLock {
    return this.#writerParts().lock;
  }

  get #executor(): CompactionExecutor {
    return this.#writerParts().executor;
  }

  get #compactor(): Compactor {
    return this.#writerParts().compactor;
  }

  get #flusher(): Flusher {
    return this.#writerParts().flusher;
  }

  get #writes(): WritePipeline {
    return this.#writerParts().writes;
  }

  get #history(): CommitHistory {
    return this.#writerParts().history;
  }

  #writerParts(): WriterParts {
    if (this.#writer === undefined) throw new ShaleError('READ_ONLY', `the database in ${this.location} was opened with readOnly: true`);
    return this.#writer;
  }

  /** The read point of reads without a snapshot: the last applied write, or the read-only view's last. */
  #lastSequence(): number {
    const writer = this.#writer;
    return writer !== undefined ? writer.writes.lastSequence : this.#readOnly!.lastSequence;
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
    if (resolved.readOnly) return DB.#openReadOnly(location, resolved);
    // Loaded before the lock is taken: a filter module that cannot load fails the open with nothing to undo.
    const compactionFilter = await resolveCompactionFilter(resolved.compactionFilter);
    const opened = await openDatabase(location, resolved);
    let db: DB;
    try {
      db = new DB(location, resolved, opened, compactionFilter);
    } catch (err) {
      // Nothing owns what recovery opened yet: close it here, or the handles and the lock leak.
      await opened.log.close().catch(() => undefined);
      await opened.manifest.close().catch(() => undefined);
      await opened.lock.release().catch(() => undefined);
      throw err;
    }
    OPEN_DATABASES.add(db);
    db.#compactor.schedule();
    return db;
  }

  /**
   * Reads every table block, the MANIFEST and the WALs of the closed database in
   * `location`, checks every checksum and the order of every key, and reports
   * each damaged place with its file and offset, changing nothing (docs/tools.md).
   * Damage is in the report (`ok` false), not a rejection; rejects with
   * `INVALID_ARGUMENT`, `NOT_FOUND` (no database there) or `IO_ERROR`.
   */
  static verify(location: string, options?: VerifyOptions): Promise<VerifyReport> {
    return verify(location, options);
  }

  /**
   * Salvages what is intact in the damaged database in `location` (intact
   * tables, the intact blocks of damaged ones, the intact WAL records), writes a
   * new MANIFEST, and moves damaged files to `lost/` (docs/tools.md). Afterwards
   * the database opens with every intact entry readable. Crash-safe: a crash
   * part way leaves the old database or the repaired one. Rejects with
   * `INVALID_ARGUMENT`, `NOT_FOUND`, `LOCKED` (the database is open) or `IO_ERROR`.
   */
  static repair(location: string, options?: RepairOptions): Promise<RepairReport> {
    return repair(location, options);
  }

  /**
   * Removes the database in `location`: shale's files only, and the directory
   * when nothing else is left in it. Rejects with `LOCKED` when the database is
   * open, `NOT_FOUND` when `location` holds no shale database, or
   * `INVALID_ARGUMENT`, `IO_ERROR`.
   */
  static destroy(location: string, options?: DestroyOptions): Promise<DestroyReport> {
    return destroy(location, options);
  }

  /**
   * Creates a database in `location`, which must not hold one, from an export
   * stream (`db.export()`'s bytes, binary or JSON lines; the form is told from
   * the first bytes), and closes it. Resolves once every entry is written and
   * durable. A damaged or cut-short stream rejects with `CORRUPTION` naming
   * `options.sourceName` and the byte offset; the entries written before it
   * stay in the new database, which should then be removed. Also rejects with
   * `EXISTS`, `INVALID_ARGUMENT`, `IO_ERROR`.
   */
  static async import(location: string, source: AsyncIterable<Uint8Array | string>, options?: ImportOptions): Promise<ImportResult> {
    if (source === null || typeof source !== 'object' || typeof (source as Partial<AsyncIterable<unknown>>)[Symbol.asyncIterator] !== 'function') {
      throw new ShaleError('INVALID_ARGUMENT', 'source must be an async iterable of bytes (a readable stream)');
    }
    const { sourceName = 'import stream', ...dbOptions } = options ?? {};
    const db = await DB.open(location, { ...dbOptions, errorIfExists: true });
    try {
      return await importInto((ops) => db.write(ops, { sync: false }), source, sourceName, db.#options);
    } finally {
      await db.close();
    }
  }

  /** A read-only open: loads the first view; nothing on disk changes, no LOCK is taken. */
  static async #openReadOnly(location: string, options: ResolvedOptions): Promise<DB> {
    const db = new DB(location, options, undefined, undefined);
    try {
      await db.#readOnly!.refresh();
    } catch (err) {
      await db.#tableCache.close();
      throw err;
    }
    OPEN_DATABASES.add(db);
    return db;
  }

  /**
   * What recovery found when this database was opened: logs replayed, tail bytes
   * and records dropped. For a read-only database, what the last load (open or
   * `refresh()`) found replaying the writer's logs in memory.
   */
  get recoveryReport(): RecoveryReport {
    return this.#readOnly?.report ?? this.#recoveryReport!;
  }

  /** Whether the database was opened with `readOnly: true`. */
  get readOnly(): boolean {
    return this.#readOnly !== undefined;
  }

  /**
   * Moves a read-only database to the newest state on disk: every write the
   * writer acknowledged before this call, and perhaps later ones. Resolves once
   * later reads see it; reads and iterators started before keep the view they
   * had. Snapshots taken before it are invalid after it (reads with them reject
   * with `INVALID_ARGUMENT`): the writer may have compacted away what they see.
   * Calls run one after another. On a writable database, which always reads its
   * latest state, it resolves at once. Rejects with `NOT_OPEN`, `CORRUPTION` or
   * `IO_ERROR` (the old view stays in place).
   */
  refresh(): Promise<void> {
    try {
      this.#checkOpen();
      return this.#readOnly?.refresh() ?? Promise.resolve();
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** The sequence number of the last write applied (after open: the last one recovered; read-only: the view's last). */
  get latestSequence(): bigint {
    return BigInt(this.#lastSequence());
  }

  /** Whether the database is open: false from the moment `close()` is called. */
  get isOpen(): boolean {
    return !this.#closing;
  }

  /**
   * Stores `value` under `key`. See `WriteOptions` for what resolving promises,
   * and `ExpiryOptions` for `ttl` and `expiresAt`: an entry that expires is gone
   * for every read from its expiry time on. Without them it never expires.
   */
  put(key: BytesLike, value: BytesLike, options?: PutOptions): Promise<void> {
    try {
      this.#checkWritable();
      const { sync, expiresAtMs } = putOptions(options, () => this.#clock.now());
      return this.#writes.write([putOp(key, value, this.#options, expiresAtMs)], sync);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Removes `key` (a no-op if absent). See `WriteOptions` for what resolving promises. */
  delete(key: BytesLike, options?: WriteOptions): Promise<void> {
    try {
      this.#checkWritable();
      return this.#writes.write([deleteOp(key, this.#options)], syncOption(options));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Deletes every key in [start, end) atomically, in one write whatever the
   * number of keys: a range tombstone, durable as any write (see `WriteOptions`).
   * A snapshot taken before it still sees the keys; writes after it are visible.
   * `start > end` is `INVALID_ARGUMENT`; `start == end` deletes nothing. With
   * `end` undefined it deletes every key from `start` on written before it.
   */
  deleteRange(start: BytesLike, end: BytesLike | undefined, options?: WriteOptions): Promise<void> {
    try {
      this.#checkWritable();
      const sync = syncOption(options);
      if (end === undefined) return this.#writes.write([deleteFromOp(keyArgument(start, this.#options, 'start'))], sync);
      return this.#writes.write([deleteRangeOp(start, end, this.#options)], sync);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Applies every operation of `operations` atomically: after any crash, all of them or none. */
  write(operations: readonly BatchOperation[], options?: WriteOptions): Promise<void> {
    try {
      this.#checkWritable();
      const ops = batchOps(operations, this.#options, () => this.#clock.now());
      const sync = syncOption(options);
      if (ops.length === 0) return Promise.resolve();
      return this.#writes.write(ops, sync);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * The value stored under `key`, or `undefined`. The Buffer returned is the
   * caller's own; `key` may be changed as soon as the call returns.
   */
  get(key: BytesLike, options?: ReadOptions): Promise<Buffer | undefined> {
    try {
      this.#checkOpen();
      return this.#reads.get(key, options);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** The values of `keys`, in order, all read at one snapshot. */
  getMany(keys: readonly BytesLike[], options?: ReadOptions): Promise<(Buffer | undefined)[]> {
    try {
      this.#checkOpen();
      return this.#reads.getMany(keys, options);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * The value stored under `key`, or `undefined`, answered on the calling thread:
   * the same answer as `get` and the same argument checks, but errors are thrown
   * (`NOT_OPEN`, `INVALID_ARGUMENT`, `CORRUPTION`, `IO_ERROR`) rather than
   * rejected. The Buffer returned is the caller's own.
   *
   * It never waits for the event loop, and it blocks the thread for as long as
   * the read takes: microseconds from the memtable or the block cache; a
   * synchronous `pread` for a block that is not cached (from the page cache,
   * microseconds; from the disk, a device read); and, the first time a table is
   * needed since it was written or last closed (see `maxOpenFiles`), a
   * synchronous open of the file and reads of its index and filter.
   */
  getSync(key: BytesLike, options?: ReadOptions): Buffer | undefined {
    this.#checkOpen();
    return this.#reads.getSync(key, options);
  }

  /** The values of `keys`, in order, all read at one snapshot, on the calling thread: `getMany` as `getSync` is `get`. */
  getManySync(keys: readonly BytesLike[], options?: ReadOptions): (Buffer | undefined)[] {
    this.#checkOpen();
    return this.#reads.getManySync(keys, options);
  }

  /** A snapshot of the database as of the last applied write. Call `release()` when done. */
  snapshot(): Snapshot {
    this.#checkOpen();
    return this.#snapshots.add(this.#lastSequence());
  }

  /**
   * A transaction reading at a snapshot taken now, isolated as `isolation` says
   * (`'snapshot'` by default, or `'serializable'`). End it with `commit()` or
   * `abort()`. See `Transaction`.
   */
  transaction(options?: TransactionOptions): Transaction {
    const isolation = isolationOption(options);
    this.#checkOpen();
    return this.#transaction(isolation);
  }

  /**
   * Runs `fn(tx)` in a transaction and commits it; on `CONFLICT`, runs it again
   * on a fresh snapshot (with a jittered backoff) up to `retries` times (default
   * 10). Resolves with what `fn` resolved with; if `fn` throws, the transaction is
   * aborted and the error passed on.
   */
  runTransaction<T>(fn: (tx: Transaction) => T | Promise<T>, options?: RunTransactionOptions): Promise<T> {
    try {
      this.#checkOpen();
      return runTransaction((isolation) => {
        this.#checkOpen();
        return this.#transaction(isolation);
      }, fn, options);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  #transaction(isolation: 'snapshot' | 'serializable'): Transaction {
    return new Transaction(
      {
        options: this.#options,
        reads: this.#reads,
        writes: this.#writes,
        history: this.#history,
        counters: this.#counters,
        snapshot: this.#snapshots.add(this.#writes.lastSequence),
        checkOpen: () => this.#checkOpen(),
      },
      isolation,
    );
  }

  /**
   * An async iterator of `[key, value]` over one consistent snapshot. Close it
   * (`for await` does; otherwise `iterator.close()`) to release what it pins.
   * Once the database closes, its calls reject with `NOT_OPEN`.
   */
  iterator(options?: IteratorOptions): ShaleIterator<[Buffer, Buffer]> {
    this.#checkOpen();
    return this.#reads.iterator(options, 'entries', (entry) => entry);
  }

  /** Like `iterator()`, yielding keys only. */
  keys(options?: IteratorOptions): ShaleIterator<Buffer> {
    this.#checkOpen();
    return this.#reads.iterator(options, 'keys', (entry) => entry[0]);
  }

  /** Like `iterator()`, yielding values only. */
  values(options?: IteratorOptions): ShaleIterator<Buffer> {
    this.#checkOpen();
    return this.#reads.iterator(options, 'values', (entry) => entry[1]);
  }

  /** Writes the memtable to a table and resolves when the table is installed. */
  async flush(): Promise<void> {
    this.#checkWritable();
    await this.#flushMemtables();
  }

  /** `flush()` without the open check: for copies under way, which `close()` waits for. */
  async #flushMemtables(): Promise<void> {
    await this.#writes.rotate();
    await this.#flusher.waitFor(new Set(this.#memtables.immutables));
  }

  /**
   * Flushes the memtable, then compacts every table overlapping [start, end]
   * (either bound may be omitted) down to the deepest level holding data there.
   */
  async compactRange(start?: BytesLike, end?: BytesLike): Promise<void> {
    this.#checkWritable();
    const low = start === undefined ? undefined : Buffer.from(lookupKeyArgument(start, this.#options));
    const high = end === undefined ? undefined : Buffer.from(lookupKeyArgument(end, this.#options));
    await this.flush();
    await this.#compactor.compactRange(low, high);
  }

  /**
   * Makes `targetDir` (which must not exist) a consistent copy of the database
   * that opens with `DB.open`: every write made before the call, and none made
   * after the flush it starts. Tables are hard-linked where the target is on the
   * same file system and copied otherwise; writes go on meanwhile. A crash
   * midway leaves a directory that does not open as a database (delete it and
   * try again). Rejects with `EXISTS` if `targetDir` exists, `READ_ONLY` on a
   * read-only database (its logs are replayed in memory only), `NOT_OPEN`,
   * `IO_ERROR`.
   */
  checkpoint(targetDir: string): Promise<CheckpointResult> {
    try {
      this.#checkWritable();
      if (typeof targetDir !== 'string' || targetDir.length === 0) throw new ShaleError('INVALID_ARGUMENT', 'targetDir must be a non-empty string');
      return this.#track(
        makeCheckpoint({ options: this.#options, location: this.location, versions: this.#versions, flush: () => this.#flushMemtables() }, targetDir),
      );
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * About how many bytes of table files hold keys in [start, end) (either bound
   * may be omitted), from table metadata and index offsets: no data block is
   * read. Writes still in the memtable are not counted (`flush()` first to
   * include them); old versions and tombstones not yet compacted away are.
   */
  approximateSize(start?: BytesLike, end?: BytesLike): Promise<number> {
    try {
      this.#checkOpen();
      return approximateSize({ versions: this.#versions, tableCache: this.#tableCache }, this.#keyBounds(start, end));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * About how many entries tables hold in [start, end), from each table's entry
   * count and index offsets. Counted as `approximateSize` counts bytes: the
   * memtable is left out, and every stored version and tombstone counts.
   */
  approximateCount(start?: BytesLike, end?: BytesLike): Promise<number> {
    try {
      this.#checkOpen();
      return approximateCount({ versions: this.#versions, tableCache: this.#tableCache }, this.#keyBounds(start, end));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Checks and copies optional range bounds. */
  #keyBounds(start: BytesLike | undefined, end: BytesLike | undefined): KeyBounds {
    return {
      start: start === undefined ? undefined : Buffer.from(lookupKeyArgument(start, this.#options)),
      end: end === undefined ? undefined : Buffer.from(lookupKeyArgument(end, this.#options)),
    };
  }

  /**
   * Every key and value of the database, at one snapshot taken now, as a
   * readable byte stream in the export format (`binary` by default, or `jsonl`
   * with `base64` or `utf8` keys and values; docs/format.md, "Export stream"),
   * of every key or of the range `gt`/`gte`/`lt`/`lte` give.
   * The stream reads the database as it is consumed and never holds it all in
   * memory. Destroy it (or read it to the end) to release the snapshot; once the
   * database closes, it fails with `NOT_OPEN`. Load it with `DB.import`.
   */
  export(options?: ExportOptions): Readable {
    this.#checkOpen();
    const { format, encoding } = exportSettings(options);
    const range: IteratorOptions = {};
    for (const bound of ['gt', 'gte', 'lt', 'lte'] as const) if (options?.[bound] !== undefined) range[bound] = options[bound];
    return exportStream(this.iterator(range), format, encoding);
  }

  /**
   * Adds a backup of the database to `backupDir` (created if missing) and
   * resolves with it: like `checkpoint`, every write made before the call,
   * consistent at one sequence number; tables an earlier backup in the
   * directory holds are not copied again. Writes go on meanwhile. A crash
   * midway leaves the earlier backups intact. See `listBackups`,
   * `verifyBackup`, `restoreBackup`, `purgeOldBackups`. Rejects with `LOCKED`
   * (another operation holds the backup directory), `READ_ONLY` on a read-only
   * database, `NOT_OPEN`, `IO_ERROR`, `CORRUPTION` (a table changed while it
   * was read).
   */
  backup(backupDir: string): Promise<BackupInfo> {
    try {
      this.#checkWritable();
      if (typeof backupDir !== 'string' || backupDir.length === 0) throw new ShaleError('INVALID_ARGUMENT', 'backupDir must be a non-empty string');
      return this.#track(createBackup({ options: this.#options, location: this.location, versions: this.#versions, flush: () => this.#flushMemtables() }, backupDir));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Runs `work` as a copy `close()` waits for. */
  #track<T>(work: Promise<T>): Promise<T> {
    this.#copies.add(work);
    const untrack = (): void => void this.#copies.delete(work);
    work.then(untrack, untrack);
    return work;
  }

  /** Counters and per-level figures; see `DBStats`. */
  stats(): DBStats {
    return collectStats({
      counters: this.#counters,
      version: this.#versions.current,
      options: this.#options,
      blockCache: this.#blockCache,
      openTableCount: this.#tableCache.openCount,
      immutableMemtableCount: this.#memtables.immutables.length,
      liveSnapshotCount: this.#snapshots.size,
      runningCompactionCount: this.#writer?.compactor.runningCount ?? 0,
      openTransactionCount: this.#writer?.history.openCount ?? 0,
      transactionHistoryBytes: this.#writer?.history.bytes ?? 0,
    });
  }

  /**
   * The database's counters, gauges and latency histograms in the Prometheus
   * text exposition format (version 0.0.4), every name `shale_*` with its unit:
   * serve it as `text/plain; version=0.0.4` (README, "Metrics"). `labels` are
   * added to every sample, to tell several databases of one process apart.
   * Counters count since open.
   */
  metrics(options?: MetricsOptions): string {
    this.#checkOpen();
    return renderMetrics({
      stats: this.stats(),
      latencies: this.#latencies,
      memtableBytes: this.#memtables.all().reduce((sum, memtable) => sum + memtable.approximateBytes, 0),
      lastSequence: this.#lastSequence(),
      readOnly: this.readOnly,
      readOnlyRetryCount: this.#readOnly?.retryCount ?? 0,
    }, options);
  }

  /**
   * A named property as text, like LevelDB's: `shale.levels` (a table of levels),
   * `shale.stats` (the `stats()` figures as JSON). Undefined for unknown names.
   */
  getProperty(name: string): string | undefined {
    if (name === 'shale.stats') return JSON.stringify(this.stats(), null, 2);
    if (name === 'shale.levels') return formatLevels(this.stats());
    return undefined;
  }

  /**
   * Closes the database: waits for queued writes and a running flush, syncs the
   * log, closes open iterators, releases the lock. Operations called after
   * `close()` reject with `NOT_OPEN`. Calling it again returns the same promise.
   */
  close(): Promise<void> {
    this.#closePromise ??= this.#close();
    return this.#closePromise;
  }

  async #close(): Promise<void> {
    this.#closing = true;
    if (this.#readOnly !== undefined) return this.#closeReadOnly(this.#readOnly);
    try {
      await Promise.allSettled([...this.#copies]);
      await this.#writes.drain();
      await this.#flusher.drain();
      await this.#compactor.close();
      await this.#writes.syncLog();
    } finally {
      await this.#executor.close().catch(() => undefined);
      this.#reads.closeIterators();
      await this.#writes.closeLog().catch(() => undefined);
      await this.#versions.close().catch(() => undefined);
      await this.#tableCache.close();
      OPEN_DATABASES.delete(this);
      await this.#lock.release();
    }
  }

  /** Closes a read-only database: after a running refresh, its iterators and its tables. There is no lock to release. */
  async #closeReadOnly(follower: ReadOnlyFollower): Promise<void> {
    try {
      await Promise.allSettled([...this.#copies]);
      await follower.idle();
    } finally {
      this.#reads.closeIterators();
      await this.#tableCache.close();
      OPEN_DATABASES.delete(this);
    }
  }

  #checkOpen(): void {
    if (this.#closing) throw new ShaleError('NOT_OPEN', 'the database is closed');
  }

  /** Throws `NOT_OPEN` once closing, `READ_ONLY` on a read-only database. */
  #checkWritable(): void {
    this.#checkOpen();
    this.#writerParts();
  }

  /** Records a background failure: writes fail from now on, and listeners hear of it. */
  #backgroundError(err: ShaleError): void {
    if (err.code !== 'CORRUPTION') this.#writes.fail(err);
    this.emit('background-error', err);
  }

  #deleteTables(fileNumbers: number[]): void {
    for (const fileNumber of fileNumbers) {
      this.#tableCache.evict(fileNumber);
      void this.#options.fs.remove(filePath(this.location, tableFileName(fileNumber))).catch(() => undefined);
    }
  }

  /** Checks the memtables', the current version's and the commit history's invariants. For tests. */
  checkInvariants(): void {
    this.#memtables.checkInvariants();
    this.#writer?.history.checkInvariants();
    this.#versions.current.checkInvariants();
  }

  /** The numbers of the tables the current version and pinned versions hold (for tests and stats). */
  liveTableNumbers(): number[] {
    return [...this.#versions.liveFiles()].sort((a, b) => a - b);
  }

  /** Table files per level of the current version (for tests and stats). */
  levelFileCounts(): number[] {
    return this.#versions.current.levels.map((files) => files.length);
  }
}
