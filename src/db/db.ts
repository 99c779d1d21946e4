/**
 * The database: argument checking, the write queue with group commit, memtable
 * switching and background flush, reads through memtables and tables, snapshots,
 * iterators, and close. Recovery lives in `open.ts`, lookups below the memtables
 * in `read-path.ts`.
 *
 * Concurrency rule (docs/internals.md, "Write path"): one writer at a time takes
 * every queued batch (up to `writeGroupBytesMax`), gives them consecutive sequence
 * numbers, appends them to the WAL as one record, syncs once if any asked for it,
 * applies them to the memtable, and resolves them in order. Reads never wait.
 */
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { ShaleError, ioError } from '../errors.js';
import type { FileLock } from '../fs/file-system.js';
import { filePath, logFileName, tableFileName } from '../filenames.js';
import { batchOps, deleteOp, lookupKeyArgument, putOp, syncOption, type BatchOperation, type WriteOptions } from './batch.js';
import { Compactor, type CompactionEvent } from '../compaction/compactor.js';
import { InlineExecutor, type CompactionExecutor } from '../compaction/executor.js';
import { encodeFlushEntries } from '../compaction/flush.js';
import { levelScores, totalBytes } from '../compaction/picker.js';
import { WorkerExecutor } from '../compaction/worker-executor.js';
import { emptyEdit } from '../version/version-edit.js';
import { VersionSet } from '../version/version-set.js';
import { EntryType, type BytesLike } from '../keys.js';
import { ShaleIterator } from '../iterator/public-iterator.js';
import type { KeyRange } from '../iterator/db-iterator.js';
import { MemTable, type MemLookup } from '../memtable/memtable.js';
import { openDatabase, createLog } from './open.js';
import { resolveOptions, tableBuilderOptions, type Options, type ResolvedOptions } from '../options.js';
import { buildDbIterator, getFromVersion } from './read-path.js';
import { Snapshot, SnapshotList } from './snapshot.js';
import { LoopTurns, READS_BETWEEN_TURNS } from '../util/event-loop.js';
import { BlockCache } from '../sstable/block-cache.js';
import { TableCache } from '../sstable/table-cache.js';
import type { LogWriter } from '../wal/log-writer.js';
import type { RecoveryReport } from '../wal/recovery.js';
import { encodeWriteGroup, opEncodedBytes, type WriteOp } from '../wal/write-group.js';

export type { BatchOperation, WriteOptions } from './batch.js';
export type { RecoveryReport } from '../wal/recovery.js';
export type { Snapshot } from './snapshot.js';
export type { ShaleIterator } from '../iterator/public-iterator.js';

/** Options of `get`, `getMany` and the iterators. */
export interface ReadOptions {
  /** Read as of this snapshot instead of the latest write. */
  snapshot?: Snapshot;
}

/** Options of `db.iterator()`, `db.keys()` and `db.values()`. Bounds are keys (bytes or strings). */
export interface IteratorOptions extends ReadOptions {
  gt?: BytesLike;
  gte?: BytesLike;
  lt?: BytesLike;
  lte?: BytesLike;
  /** Iterate from the largest key down. Default false. */
  reverse?: boolean;
  /** Stop after this many entries; -1 or Infinity for no limit. Default no limit. */
  limit?: number;
}

/** What the `flush` event reports. */
export interface FlushEvent {
  fileNumber: number;
  bytesWritten: number;
  entries: number;
  durationMs: number;
}

/** What the `stall` event reports: writes waiting (`begin`) and moving again (`end`). */
export interface StallEvent {
  state: 'begin' | 'end';
  reason: 'l0-stop' | 'memtables-full';
  /** With `end`: how long writes waited. */
  durationMs?: number;
}

/** The events a `DB` emits. */
export interface DBEvents {
  flush: [FlushEvent];
  compaction: [CompactionEvent];
  stall: [StallEvent];
  /** A background flush or compaction failed; writes or compactions stop until reopen. */
  'background-error': [ShaleError];
}

/** Figures from `db.stats()`. */
export interface DBStats {
  levels: { level: number; fileCount: number; bytes: number; score: number }[];
  /** Key and value bytes of every applied put and delete. */
  userBytesWritten: number;
  /** Bytes appended to write-ahead logs. */
  walBytesWritten: number;
  flushBytesWritten: number;
  compactionBytesRead: number;
  compactionBytesWritten: number;
  /** (WAL + flush + compaction bytes) / user bytes. */
  writeAmplification: number;
  flushCount: number;
  compactionCount: number;
  stallCount: number;
  stallTimeMs: number;
  /** Write groups delayed by 1 ms because L0 reached `l0SlowdownTrigger`. */
  slowdownCount: number;
  blockCache: { hitCount: number; missCount: number; hitRate: number; usageBytes: number; capacityBytes: number };
  openTableCount: number;
  immutableMemtableCount: number;
  liveSnapshotCount: number;
}

interface PendingWrite {
  ops: WriteOp[];
  sync: boolean;
  encodedBytes: number;
  /** A control entry: freeze the memtable (for `flush()`), alone in its group. */
  rotate: boolean;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** A memtable and the log holding its writes. */
interface MemtableSlot {
  memtable: MemTable;
  logNumber: number;
}

/**
 * An open shale database. Create one with `DB.open`; close it with `close()`.
 * Emits `flush`, `compaction`, `stall` and `background-error` (see `DBEvents`).
 */
export class DB extends EventEmitter<DBEvents> {
  /** The directory holding the database. */
  readonly location: string;
  /** What recovery found when this database was opened: logs replayed, tail bytes and records dropped. */
  readonly recoveryReport: RecoveryReport;

  readonly #options: ResolvedOptions;
  readonly #lock: FileLock;
  readonly #versions: VersionSet;
  readonly #blockCache: BlockCache;
  readonly #tableCache: TableCache;
  readonly #snapshots = new SnapshotList();
  readonly #iterators = new Set<ShaleIterator<unknown>>();
  readonly #loopTurns = new LoopTurns(READS_BETWEEN_TURNS);
  readonly #executor: CompactionExecutor;
  readonly #compactor: Compactor;
  readonly #stats = {
    userBytesWritten: 0,
    walBytesWritten: 0,
    flushBytesWritten: 0,
    compactionBytesRead: 0,
    compactionBytesWritten: 0,
    flushCount: 0,
    compactionCount: 0,
    stallCount: 0,
    stallTimeMs: 0,
    slowdownCount: 0,
  };
  #log: LogWriter;
  #mem: MemtableSlot;
  /** Frozen memtables waiting for flush, newest first. */
  #immutables: MemtableSlot[] = [];
  #lastSequence: number;

  readonly #queue: PendingWrite[] = [];
  #writerScheduled = false;
  #writerIdle: Promise<void> = Promise.resolve();
  #flushing: Promise<void> | undefined;
  #flushWaiters: (() => void)[] = [];
  /** Set by the first failed write, sync or flush; the write path stays failed until reopen. */
  #writeError: ShaleError | undefined;
  #closing = false;
  #closePromise: Promise<void> | undefined;

  private constructor(location: string, options: ResolvedOptions, opened: Awaited<ReturnType<typeof openDatabase>>) {
    super();
    this.location = location;
    this.#options = options;
    this.#lock = opened.lock;
    this.#log = opened.log;
    this.#mem = { memtable: new MemTable(options.memtableNodeSizeMax), logNumber: opened.logNumber };
    this.#lastSequence = opened.lastSequence;
    this.recoveryReport = opened.report;
    this.#blockCache = new BlockCache(options.blockCacheBytes);
    this.#tableCache = new TableCache({
      fs: options.fs,
      dir: location,
      maxOpenFiles: options.maxOpenFiles,
      blockCache: this.#blockCache,
      verifyChecksums: options.verifyChecksums,
    });
    this.#versions = new VersionSet(
      { fs: options.fs, dir: location, manifestSizeBytesMax: options.manifestSizeBytesMax, deleteTables: (numbers) => this.#deleteTables(numbers) },
      opened.state,
      opened.manifest,
    );
    this.#executor = options.compactionExecutor === 'worker' ? new WorkerExecutor() : new InlineExecutor(options.fs);
    this.#compactor = new Compactor({
      versions: this.#versions,
      options,
      location,
      executor: this.#executor,
      snapshots: () => this.#snapshots.sequences(),
      onCompaction: (event) => {
        this.#stats.compactionCount++;
        this.#stats.compactionBytesRead += event.bytesRead;
        this.#stats.compactionBytesWritten += event.bytesWritten;
        this.emit('compaction', event);
        this.#compactor.schedule();
      },
      onError: (err) => this.#backgroundError(err),
    });
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
    const db = new DB(location, resolved, await openDatabase(location, resolved));
    db.#compactor.schedule();
    return db;
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
  get(key: BytesLike, options?: ReadOptions): Promise<Buffer | undefined> {
    try {
      this.#checkOpen();
      const checked = lookupKeyArgument(key, this.#options);
      // The read point is taken after the turn: a read point held across it is no snapshot.
      if (this.#loopTurns.due()) return LoopTurns.next().then(() => this.get(checked, options));
      return this.#get(checked, this.#readSeq(options));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** The values of `keys`, in order, all read at one snapshot. */
  getMany(keys: readonly BytesLike[], options?: ReadOptions): Promise<(Buffer | undefined)[]> {
    try {
      this.#checkOpen();
      if (!Array.isArray(keys)) throw new ShaleError('INVALID_ARGUMENT', 'getMany() takes an array of keys');
      const checked = keys.map((key) => lookupKeyArgument(key, this.#options));
      if (this.#loopTurns.due()) return LoopTurns.next().then(() => this.getMany(checked, options));
      const seq = this.#readSeq(options);
      return Promise.all(checked.map((key) => this.#get(key, seq)));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** A snapshot of the database as of the last applied write. Call `release()` when done. */
  snapshot(): Snapshot {
    this.#checkOpen();
    return this.#snapshots.add(this.#lastSequence);
  }

  /**
   * An async iterator of `[key, value]` over one consistent snapshot. Close it
   * (`for await` does; otherwise `iterator.close()`) to release what it pins.
   */
  iterator(options?: IteratorOptions): ShaleIterator<[Buffer, Buffer]> {
    return this.#iterator(options, (entry) => entry);
  }

  /** Like `iterator()`, yielding keys only. */
  keys(options?: IteratorOptions): ShaleIterator<Buffer> {
    return this.#iterator(options, (entry) => entry[0]);
  }

  /** Like `iterator()`, yielding values only. */
  values(options?: IteratorOptions): ShaleIterator<Buffer> {
    return this.#iterator(options, (entry) => entry[1]);
  }

  /** Writes the memtable to a table and resolves when the table is installed. */
  async flush(): Promise<void> {
    this.#checkOpen();
    await new Promise<void>((resolve, reject) => this.#push({ ops: [], sync: false, encodedBytes: 0, rotate: true, resolve, reject }));
    const waitingFor = new Set(this.#immutables);
    while (this.#immutables.some((slot) => waitingFor.has(slot))) {
      if (this.#writeError) throw this.#writeError;
      await this.#nextFlush();
    }
    if (this.#writeError) throw this.#writeError;
  }

  /**
   * Flushes the memtable, then compacts every table overlapping [start, end]
   * (either bound may be omitted) down to the deepest level holding data there.
   */
  async compactRange(start?: BytesLike, end?: BytesLike): Promise<void> {
    this.#checkOpen();
    const low = start === undefined ? undefined : lookupKeyArgument(start, this.#options);
    const high = end === undefined ? undefined : lookupKeyArgument(end, this.#options);
    await this.flush();
    await this.#compactor.compactRange(low, high);
  }

  /** Counters and per-level figures; see `DBStats`. */
  stats(): DBStats {
    const levels = this.#versions.current.levels;
    const scores = levelScores(levels, this.#options);
    const cache = this.#blockCache.stats;
    const s = this.#stats;
    const written = s.walBytesWritten + s.flushBytesWritten + s.compactionBytesWritten;
    return {
      levels: Array.from({ length: this.#options.levelCountMax }, (_, level) => ({
        level,
        fileCount: levels[level]?.length ?? 0,
        bytes: totalBytes(levels[level] ?? []),
        score: scores[level] ?? 0,
      })),
      ...s,
      writeAmplification: s.userBytesWritten === 0 ? 0 : written / s.userBytesWritten,
      blockCache: {
        hitCount: cache.hitCount,
        missCount: cache.missCount,
        hitRate: cache.hitCount + cache.missCount === 0 ? 0 : cache.hitCount / (cache.hitCount + cache.missCount),
        usageBytes: cache.usageBytes,
        capacityBytes: cache.capacityBytes,
      },
      openTableCount: this.#tableCache.openCount,
      immutableMemtableCount: this.#immutables.length,
      liveSnapshotCount: this.#snapshots.size,
    };
  }

  /**
   * A named property as text, like LevelDB's: `shale.levels` (a table of levels),
   * `shale.stats` (the `stats()` figures as JSON). Undefined for unknown names.
   */
  getProperty(name: string): string | undefined {
    if (name === 'shale.stats') return JSON.stringify(this.stats(), null, 2);
    if (name !== 'shale.levels') return undefined;
    const stats = this.stats();
    const mib = (bytes: number): string => (bytes / 1024 / 1024).toFixed(2);
    const lines = ['level  files   size(MiB)  score'];
    for (const level of stats.levels) {
      lines.push(`L${level.level}`.padEnd(7) + String(level.fileCount).padStart(5) + mib(level.bytes).padStart(12) + level.score.toFixed(2).padStart(7));
    }
    lines.push(
      `user ${mib(stats.userBytesWritten)} MiB, wal ${mib(stats.walBytesWritten)} MiB, flush ${mib(stats.flushBytesWritten)} MiB, ` +
        `compaction ${mib(stats.compactionBytesRead)} MiB read / ${mib(stats.compactionBytesWritten)} MiB written, ` +
        `write amplification ${stats.writeAmplification.toFixed(2)}`,
    );
    lines.push(`stalls ${stats.stallCount} (${stats.stallTimeMs.toFixed(0)} ms), slowdowns ${stats.slowdownCount}, block cache hit rate ${(stats.blockCache.hitRate * 100).toFixed(1)}%`);
    return lines.join('\n');
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
    try {
      while (this.#queue.length > 0 || this.#writerScheduled) await this.#writerIdle;
      while (this.#flushing) await this.#flushing;
      await this.#compactor.close();
      if (this.#writeError === undefined && this.#log.size > this.#log.syncedSize) await this.#log.sync();
    } finally {
      await this.#executor.close().catch(() => undefined);
      for (const iterator of this.#iterators) iterator.markDatabaseClosed();
      await this.#log.close().catch(() => undefined);
      await this.#versions.close().catch(() => undefined);
      await this.#tableCache.close();
      await this.#lock.release();
    }
  }

  #checkOpen(): void {
    if (this.#closing) throw new ShaleError('NOT_OPEN', 'the database is closed');
  }

  #readSeq(options: ReadOptions | undefined): number {
    if (options === undefined) return this.#lastSequence;
    if (typeof options !== 'object' || options === null) throw new ShaleError('INVALID_ARGUMENT', 'read options must be an object');
    if (options.snapshot === undefined) return this.#lastSequence;
    if (!(options.snapshot instanceof Snapshot)) throw new ShaleError('INVALID_ARGUMENT', 'option snapshot must come from db.snapshot()');
    return options.snapshot.seqFor(this.#snapshots);
  }

  /** The memtables a read sees, newest first. */
  #memtables(): MemTable[] {
    return [this.#mem.memtable, ...this.#immutables.map((slot) => slot.memtable)];
  }

  #get(key: Buffer, seq: number): Promise<Buffer | undefined> {
    // The hot path: walk the memtables in place rather than through #memtables()'s new array.
    let found = this.#mem.memtable.get(key, seq);
    for (let i = 0; found === undefined && i < this.#immutables.length; i++) found = this.#immutables[i]!.memtable.get(key, seq);
    if (found !== undefined) return Promise.resolve(valueOf(found));
    return this.#getFromTables(key, seq);
  }

  async #getFromTables(key: Buffer, seq: number): Promise<Buffer | undefined> {
    const pin = this.#versions.pin();
    try {
      const found = await getFromVersion(pin.version, this.#tableCache, key, seq);
      return found === undefined ? undefined : valueOf(found);
    } finally {
      pin.release();
    }
  }

  #iterator<T>(options: IteratorOptions | undefined, map: (entry: [Buffer, Buffer]) => T): ShaleIterator<T> {
    this.#checkOpen();
    const { range, reverse, limit } = iteratorArguments(options, this.#options);
    // Everything the snapshot needs is captured now, synchronously: the sequence,
    // the memtables and the version. Tables are opened on first use.
    const seq = this.#readSeq(options);
    const memtables = this.#memtables();
    const pin = this.#versions.pin();
    let releaseTables = (): void => undefined;
    const iterator: ShaleIterator<T> = new ShaleIterator<T>(
      {
        build: async () => {
          const built = await buildDbIterator(memtables, pin.version, this.#tableCache, seq, range, reverse);
          releaseTables = built.release;
          return built.iterator;
        },
        release: () => {
          releaseTables();
          pin.release();
          this.#iterators.delete(iterator as ShaleIterator<unknown>);
        },
      },
      map,
      limit,
    );
    this.#iterators.add(iterator as ShaleIterator<unknown>);
    return iterator;
  }

  #enqueue(ops: WriteOp[], sync: boolean): Promise<void> {
    if (this.#writeError) return Promise.reject(this.#writeError);
    let encodedBytes = 0;
    for (const op of ops) encodedBytes += opEncodedBytes(op);
    return new Promise<void>((resolve, reject) => this.#push({ ops, sync, encodedBytes, rotate: false, resolve, reject }));
  }

  #push(pending: PendingWrite): void {
    this.#queue.push(pending);
    if (this.#writerScheduled) return;
    this.#writerScheduled = true;
    // Start on a microtask so every write issued in this tick joins the first group.
    this.#writerIdle = new Promise<void>((done) => queueMicrotask(() => void this.#runWriter().finally(done)));
  }

  /** Takes queued writes, oldest first, up to `writeGroupBytesMax` (always at least one); a control entry goes alone. */
  #takeGroup(): PendingWrite[] {
    const group: PendingWrite[] = [this.#queue.shift()!];
    if (group[0]!.rotate) return group;
    let bytes = group[0]!.encodedBytes;
    while (this.#queue.length > 0 && !this.#queue[0]!.rotate && bytes + this.#queue[0]!.encodedBytes <= this.#options.writeGroupBytesMax) {
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
          if (group[0]!.rotate) {
            if (this.#mem.memtable.entryCount > 0) await this.#rotateMemtable();
            group[0]!.resolve();
          } else {
            await this.#commitGroup(group);
          }
        } catch (err) {
          // A failed write or sync leaves the log's state unknown: never retry, fail every later write.
          this.#writeError ??= ioError('write failed; the database no longer accepts writes', err);
          for (const pending of group) pending.reject(this.#writeError);
        }
      }
    } finally {
      this.#writerScheduled = false;
    }
  }

  async #commitGroup(group: PendingWrite[]): Promise<void> {
    await this.#throttle();
    if (this.#mem.memtable.approximateBytes >= this.#options.memtableSizeBytes) await this.#rotateMemtable();
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
    const sizeBefore = this.#log.size;
    await this.#log.addRecord(encodeWriteGroup(this.#log.syncedSize, firstSeq, batches, opCount, opBytes));
    this.#stats.walBytesWritten += this.#log.size - sizeBefore;
    // The group goes into the memtable while its fdatasync runs (as in LevelDB), so
    // the main thread's share of a sync group overlaps the disk's. It stays invisible
    // until `#lastSequence` moves past it: every read filters on sequence. If the
    // sync fails, the write path is poisoned with the group unseen in a memtable that
    // is then never frozen or flushed.
    const synced = sync ? this.#log.sync() : undefined;
    let userBytes: number;
    try {
      userBytes = this.#applyToMemtable(batches, firstSeq);
    } catch (err) {
      await synced?.catch(() => undefined);
      throw err;
    }
    await synced;
    this.#lastSequence = firstSeq + opCount - 1;
    this.#stats.userBytesWritten += userBytes;
    // A non-sync group never waited for I/O (small appends are synchronous writes),
    // so without this turn a stream of writers, each issuing its next write when the
    // last resolves, would run on microtasks alone and starve the event loop.
    if (!sync) await LoopTurns.next();
    for (const pending of group) pending.resolve();
  }

  /** Adds a group's ops to the active memtable from `firstSeq` on; returns their key and value bytes. */
  #applyToMemtable(batches: readonly (readonly WriteOp[])[], firstSeq: number): number {
    const memtable = this.#mem.memtable;
    let seq = firstSeq;
    let userBytes = 0;
    for (const ops of batches) {
      for (const op of ops) {
        memtable.add(seq++, op.type, op.key, op.value);
        userBytes += op.key.length + op.value.length;
      }
    }
    return userBytes;
  }

  /**
   * Tables L0 holds or will hold: its installed tables and the frozen memtables
   * that will flush into it. Backpressure counts both, so L0 stays within
   * `l0StopTrigger` even when memtables were frozen before writes stopped.
   */
  #l0Pending(): number {
    return (this.#versions.current.levels[0]?.length ?? 0) + this.#immutables.length;
  }

  /**
   * Slowdown: at `l0SlowdownTrigger` a write group waits 1 ms, spreading the delay
   * over many writes instead of one long stall later.
   */
  async #throttle(): Promise<void> {
    if (this.#options.autoCompaction && this.#l0Pending() >= this.#options.l0SlowdownTrigger) {
      this.#stats.slowdownCount++;
      await sleep(1);
    }
  }

  /**
   * Waits while `blocked()` holds, reporting the stall. If compactions have
   * stopped on an error, an L0 stall would never end: it fails with that error.
   */
  async #stall(reason: StallEvent['reason'], blocked: () => boolean, progress: () => Promise<void>): Promise<void> {
    const started = performance.now();
    this.#stats.stallCount++;
    this.emit('stall', { state: 'begin', reason });
    try {
      while (blocked()) {
        if (this.#writeError) throw this.#writeError;
        if (reason === 'l0-stop') {
          if (this.#compactor.error) throw this.#compactor.error;
          this.#compactor.schedule();
        }
        await progress();
      }
    } finally {
      const durationMs = performance.now() - started;
      this.#stats.stallTimeMs += durationMs;
      this.emit('stall', { state: 'end', reason, durationMs });
    }
  }

  /**
   * Waits until the memtable may be frozen: fewer than `immutableMemtableCountMax`
   * frozen memtables wait for flush, and (with compaction on) L0 with them stays
   * below `l0StopTrigger`. Like LevelDB, writes stop only once the memtable is
   * full: until then they go on into it.
   */
  async #waitForRoom(): Promise<void> {
    const { immutableMemtableCountMax, l0StopTrigger, autoCompaction } = this.#options;
    const memtablesFull = (): boolean => this.#immutables.length >= immutableMemtableCountMax;
    const l0Full = (): boolean => autoCompaction && this.#l0Pending() >= l0StopTrigger;
    while (memtablesFull() || l0Full()) {
      if (memtablesFull()) await this.#stall('memtables-full', memtablesFull, () => this.#nextFlush());
      else await this.#stall('l0-stop', () => l0Full() && !memtablesFull(), () => this.#compactor.nextCompaction());
    }
  }

  /**
   * Freezes the memtable and starts a new one with a new log, then starts a flush.
   * Waits first for room (`#waitForRoom`). The
   * old log is synced whole: recovery treats damage in any log but the newest as
   * corruption, which holds only if older logs are entirely durable.
   */
  async #rotateMemtable(): Promise<void> {
    await this.#waitForRoom();
    if (this.#log.size > this.#log.syncedSize) await this.#log.sync();
    const logNumber = this.#versions.newFileNumber();
    const log = await createLog(this.#options.fs, this.location, logNumber);
    try {
      await this.#options.fs.syncDir(this.location);
    } catch (err) {
      await log.close().catch(() => undefined);
      throw ioError(`syncing directory ${this.location}`, err);
    }
    const old = this.#log;
    this.#log = log;
    await old.close();
    this.#mem.memtable.freeze();
    this.#immutables = [this.#mem, ...this.#immutables];
    this.#mem = { memtable: new MemTable(this.#options.memtableNodeSizeMax), logNumber };
    this.#startFlushes();
  }

  /**
   * Starts the flush loop unless it is running. A memtable frozen after the loop
   * saw none left but before its promise settled would be stranded (and every
   * `flush()` and rotation waiting on it would hang), so the loop restarts itself.
   */
  #startFlushes(): void {
    this.#flushing ??= this.#runFlushes().finally(() => {
      this.#flushing = undefined;
      this.#wakeFlushWaiters();
      if (this.#immutables.length > 0 && this.#writeError === undefined) this.#startFlushes();
    });
  }

  /** Flushes frozen memtables, oldest first, until none is left or one fails. */
  async #runFlushes(): Promise<void> {
    while (this.#immutables.length > 0 && this.#writeError === undefined) {
      const slot = this.#immutables[this.#immutables.length - 1]!;
      try {
        await this.#flushOne(slot);
      } catch (err) {
        this.#backgroundError(ioError('flush failed; the database no longer accepts writes', err));
      }
      this.#wakeFlushWaiters();
    }
  }

  /**
   * Writes `slot`'s memtable to an L0 table, records it in the MANIFEST with the
   * next memtable's log as the oldest one needed, then drops the memtable and
   * deletes its log. Reads see the memtable until the table is installed.
   */
  async #flushOne(slot: MemtableSlot): Promise<void> {
    const started = performance.now();
    const fileNumber = this.#versions.newFileNumber();
    // The main thread only copies the entries out; the table is built in the background executor.
    const entries = await encodeFlushEntries(slot.memtable);
    const meta = await this.#executor.flush({ dir: this.location, fileNumber, tableOptions: tableBuilderOptions(this.#options), entries, yieldEveryEntries: 0 });
    const index = this.#immutables.indexOf(slot);
    const next = index > 0 ? this.#immutables[index - 1]! : this.#mem;
    const edit = emptyEdit();
    edit.logNumber = next.logNumber;
    // Only what the flushed memtable holds is durable for sure: later writes may
    // still be unsynced, and a crash must not leave lastSequence ahead of the data.
    edit.lastSequence = slot.memtable.sequenceRange.largest;
    if (meta !== undefined) edit.newFiles.push(meta);
    await this.#versions.logAndApply(edit);
    this.#immutables = this.#immutables.filter((other) => other !== slot);
    await this.#options.fs.remove(filePath(this.location, logFileName(slot.logNumber))).catch(() => undefined);
    if (meta !== undefined) {
      this.#stats.flushCount++;
      this.#stats.flushBytesWritten += meta.sizeBytes;
      this.emit('flush', { fileNumber, bytesWritten: meta.sizeBytes, entries: slot.memtable.entryCount, durationMs: performance.now() - started });
    }
    this.#compactor.schedule();
  }

  /** Records a background failure: writes fail from now on, and listeners hear of it. */
  #backgroundError(err: ShaleError): void {
    if (err.code !== 'CORRUPTION') this.#writeError ??= err;
    this.emit('background-error', err);
  }

  #nextFlush(): Promise<void> {
    return new Promise((resolve) => this.#flushWaiters.push(resolve));
  }

  #wakeFlushWaiters(): void {
    for (const wake of this.#flushWaiters.splice(0)) wake();
  }

  #deleteTables(fileNumbers: number[]): void {
    for (const fileNumber of fileNumbers) {
      this.#tableCache.evict(fileNumber);
      void this.#options.fs.remove(filePath(this.location, tableFileName(fileNumber))).catch(() => undefined);
    }
  }

  /** Checks the memtables' and the current version's invariants. For tests. */
  checkInvariants(): void {
    for (const memtable of this.#memtables()) memtable.checkInvariants();
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

function valueOf(found: MemLookup): Buffer | undefined {
  return found.type === EntryType.DELETE ? undefined : Buffer.from(found.value);
}

function iteratorArguments(
  options: IteratorOptions | undefined,
  limits: ResolvedOptions,
): { range: KeyRange; reverse: boolean; limit: number } {
  if (options === undefined) return { range: {}, reverse: false, limit: Infinity };
  if (typeof options !== 'object' || options === null) throw new ShaleError('INVALID_ARGUMENT', 'iterator options must be an object');
  const range: KeyRange = {};
  for (const bound of ['gt', 'gte', 'lt', 'lte'] as const) {
    const value = options[bound];
    if (value !== undefined) range[bound] = lookupKeyArgument(value, limits);
  }
  const reverse = options.reverse ?? false;
  if (typeof reverse !== 'boolean') throw new ShaleError('INVALID_ARGUMENT', 'option reverse must be a boolean');
  const limit = options.limit ?? Infinity;
  if (typeof limit !== 'number' || Number.isNaN(limit) || (limit !== Infinity && !Number.isInteger(limit))) {
    throw new ShaleError('INVALID_ARGUMENT', 'option limit must be an integer');
  }
  return { range, reverse, limit: limit < 0 ? Infinity : limit };
}
