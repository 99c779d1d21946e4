/**
 * The write path: the queue, group commit, WAL append and sync, applying to the
 * memtable, backpressure, and memtable rotation (docs/internals.md, "Write path").
 *
 * Concurrency rule: one writer at a time takes every queued batch (up to
 * `writeGroupBytesMax`), gives them consecutive sequence numbers, appends them to
 * the WAL as one record, syncs once if any asked for it, applies them to the
 * memtable, and resolves them in order. Reads never wait: a write becomes visible
 * when `lastSequence` moves past it.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Compactor } from '../compaction/compactor.js';
import { ioError, type ShaleError } from '../errors.js';
import type { ResolvedOptions } from '../options.js';
import { LoopTurns } from '../util/event-loop.js';
import type { VersionSet } from '../version/version-set.js';
import type { LogWriter } from '../wal/log-writer.js';
import { encodeWriteGroup, opEncodedBytes, type WriteOp } from '../wal/write-group.js';
import type { Flusher } from './flusher.js';
import type { Latencies } from './latency-histogram.js';
import type { MemtableSet } from './memtable-set.js';
import { createLog } from './open.js';
import { hasOpenEnd, resolveOpenEnds } from './open-range-end.js';
import type { Counters, StallEvent } from './stats.js';
import type { CommitHistory } from './commit-history.js';

/** The longest one write group is paced; past it the debt is the stop trigger's to handle. */
const WRITE_DELAY_MS_MAX = 100;

/**
 * How long a write group of `bytes` waits with `l0Pending` tables in (or bound
 * for) L0: none below the slowdown trigger or at the stop trigger (where writes
 * stop instead), else its bytes at `delayedWriteRateBytesPerSec` scaled by the
 * headroom left, (stop − pending) / (stop − slowdown).
 */
export function pacingDelayMs(
  bytes: number,
  l0Pending: number,
  options: Pick<ResolvedOptions, 'l0SlowdownTrigger' | 'l0StopTrigger' | 'delayedWriteRateBytesPerSec'>,
): number {
  const { l0SlowdownTrigger, l0StopTrigger, delayedWriteRateBytesPerSec } = options;
  if (l0Pending < l0SlowdownTrigger || l0Pending >= l0StopTrigger) return 0;
  const headroom = (l0StopTrigger - l0Pending) / (l0StopTrigger - l0SlowdownTrigger);
  return (bytes / (delayedWriteRateBytesPerSec * headroom)) * 1000;
}

/** A transaction's hooks on its commit batch. */
export interface Admission {
  /** Decides, at the moment the batch is sequenced, whether it may commit: an error rejects it, unapplied. */
  admit(history: CommitHistory): ShaleError | undefined;
  /**
   * Told as the batch's promise settles (undefined on success), in the same
   * turn: the caller can be handed the pipeline's promise itself, which then
   * resolves in issue order with every other write.
   */
  settled(error: unknown): void;
}

interface PendingWrite {
  ops: WriteOp[];
  sync: boolean;
  encodedBytes: number;
  /** A control entry: freeze the memtable (for `flush()`), alone in its group. */
  rotate: boolean;
  /** `performance.now()` when the write was called, for the write latency histogram. */
  startedMs: number;
  /**
   * A transaction's conflict check, run when the batch is sequenced, against
   * every write sequenced before it: an error rejects the batch, unapplied.
   */
  admit: Admission['admit'] | undefined;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** What the write pipeline works with. */
export interface WritePipelineParts {
  options: ResolvedOptions;
  location: string;
  memtables: MemtableSet;
  versions: VersionSet;
  compactor: Compactor;
  flusher: Flusher;
  counters: Counters;
  /** Where write and WAL sync durations are recorded. */
  latencies: Latencies;
  /** Where every sequenced batch is recorded for transactions' conflict checks. */
  history: CommitHistory;
  /** The log recovery left open for the active memtable. */
  log: LogWriter;
  /** The last sequence number recovery found. */
  lastSequence: number;
  onStall(event: StallEvent): void;
}

export class WritePipeline {
  readonly #parts: WritePipelineParts;
  readonly #options: ResolvedOptions;
  readonly #memtables: MemtableSet;
  readonly #counters: Counters;
  #log: LogWriter;
  #lastSequence: number;
  readonly #queue: PendingWrite[] = [];
  #writerScheduled = false;
  #writerIdle: Promise<void> = Promise.resolve();
  /**
   * Rejections of the current group's refused batches (transactions that
   * conflicted), held until the group is applied: the write a refused commit
   * conflicted with may be in that group, and a retry must find it visible, or it
   * reads the same stale snapshot and conflicts again.
   */
  #refused: (() => void)[] = [];
  /** Set by the first failed write, sync or flush; the write path stays failed until reopen. */
  #error: ShaleError | undefined;
  /** Pacing delay earned by write groups and not yet waited (under a millisecond). */
  #delayOwedMs = 0;

  constructor(parts: WritePipelineParts) {
    this.#parts = parts;
    this.#options = parts.options;
    this.#memtables = parts.memtables;
    this.#counters = parts.counters;
    this.#log = parts.log;
    this.#lastSequence = parts.lastSequence;
  }

  /** The sequence number of the last write applied and visible to reads. */
  get lastSequence(): number {
    return this.#lastSequence;
  }

  /** The failure that stopped the write path, if any. */
  get error(): ShaleError | undefined {
    return this.#error;
  }

  /** Stops the write path: this write and every later one rejects with `err` (the first failure wins). */
  fail(err: ShaleError): void {
    this.#error ??= err;
  }

  /**
   * Queues `ops` as one atomic batch; resolves once applied (and durable, with
   * `sync`). With `admission`, the batch is first checked when it is sequenced,
   * and rejected with what `admit` returns, if anything.
   */
  write(ops: WriteOp[], sync: boolean, admission?: Admission): Promise<void> {
    if (this.#error) {
      admission?.settled(this.#error);
      return Promise.reject(this.#error);
    }
    let encodedBytes = 0;
    for (const op of ops) encodedBytes += opEncodedBytes(op);
    const startedMs = performance.now();
    if (admission === undefined) {
      return new Promise<void>((resolve, reject) => this.#push({ ops, sync, encodedBytes, rotate: false, startedMs, admit: undefined, resolve, reject }));
    }
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const settle = (error: unknown): void => {
        if (settled) return;
        settled = true;
        admission.settled(error);
      };
      this.#push({
        ops,
        sync,
        encodedBytes,
        rotate: false,
        startedMs,
        admit: (history) => admission.admit(history),
        resolve: () => {
          settle(undefined);
          resolve();
        },
        reject: (err) => {
          settle(err);
          reject(err);
        },
      });
    });
  }

  /** Freezes the active memtable (if it holds anything) after every write queued before this call. */
  rotate(): Promise<void> {
    return new Promise<void>((resolve, reject) => this.#push({ ops: [], sync: false, encodedBytes: 0, rotate: true, startedMs: 0, admit: undefined, resolve, reject }));
  }

  /** Waits until every queued write has been applied or rejected. */
  async drain(): Promise<void> {
    while (this.#queue.length > 0 || this.#writerScheduled) await this.#writerIdle;
  }

  /** Syncs what the log holds unsynced, unless the write path failed. Call after `drain()`. */
  async syncLog(): Promise<void> {
    if (this.#error === undefined && this.#log.size > this.#log.syncedSize) await this.#log.sync();
  }

  closeLog(): Promise<void> {
    return this.#log.close();
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
        if (this.#error) {
          for (const pending of this.#queue.splice(0)) pending.reject(this.#error);
          return;
        }
        const group = this.#takeGroup();
        try {
          if (group[0]!.rotate) {
            if (this.#memtables.active.memtable.entryCount > 0) await this.#rotateMemtable();
            group[0]!.resolve();
          } else {
            await this.#commitGroup(group);
          }
        } catch (err) {
          this.#rejectRefused();
          // A failed write or sync leaves the log's state unknown: never retry, fail every later write.
          this.#error ??= ioError('write failed; the database no longer accepts writes', err);
          for (const pending of group) pending.reject(this.#error);
        }
      }
    } finally {
      this.#writerScheduled = false;
    }
  }

  async #commitGroup(taken: PendingWrite[]): Promise<void> {
    let takenBytes = 0;
    for (const pending of taken) takenBytes += pending.encodedBytes;
    await this.#throttle(takenBytes);
    if (this.#memtables.active.memtable.approximateBytes >= this.#options.memtableSizeBytes) await this.#rotateMemtable();
    const firstSeq = this.#lastSequence + 1;
    // Every earlier group is applied and nothing waits from here: the ends of open range deletes can be set (and recorded).
    if (taken.some((pending) => hasOpenEnd(pending.ops))) this.#resolveOpenEnds(taken);
    // From here to the log append nothing waits: the sequence numbers given out are final.
    const group = this.#sequence(taken, firstSeq);
    if (group.length === 0) {
      this.#rejectRefused();
      return;
    }
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
    this.#counters.walBytesWritten += this.#log.size - sizeBefore;
    // The group goes into the memtable while its fdatasync runs (as in LevelDB), so
    // the main thread's share of a sync group overlaps the disk's. It stays invisible
    // until `#lastSequence` moves past it: every read filters on sequence. If the
    // sync fails, the write path is poisoned with the group unseen in a memtable that
    // is then never frozen or flushed.
    const synced = sync ? this.#timedSync() : undefined;
    let userBytes: number;
    try {
      userBytes = this.#applyToMemtable(batches, firstSeq);
    } catch (err) {
      await synced?.catch(() => undefined);
      throw err;
    }
    await synced;
    this.#lastSequence = firstSeq + opCount - 1;
    this.#counters.userBytesWritten += userBytes;
    this.#counters.writeCount += opCount;
    // A non-sync group never waited for I/O (small appends are synchronous writes),
    // so without this turn a stream of writers, each issuing its next write when the
    // last resolves, would run on microtasks alone and starve the event loop.
    if (!sync) await LoopTurns.next();
    const { write } = this.#parts.latencies;
    for (const pending of group) {
      write.observeSince(pending.startedMs);
      pending.resolve();
    }
    this.#rejectRefused();
  }

  /** Rejects the batches the current group refused (see `#refused`). */
  #rejectRefused(): void {
    const refused = this.#refused;
    this.#refused = [];
    for (const reject of refused) reject();
  }

  /** Syncs the log, recording how long the fdatasync took. */
  async #timedSync(): Promise<void> {
    const startedMs = performance.now();
    await this.#log.sync();
    this.#parts.latencies.walSync.observeSince(startedMs);
  }

  /** Sets the ends of open range deletes (`db.deleteRange(start)`) now that every earlier group is applied. */
  #resolveOpenEnds(group: PendingWrite[]): void {
    resolveOpenEnds(
      group.map((pending) => pending.ops),
      this.#memtables.all(),
      this.#parts.versions.current,
    );
    for (const pending of group) pending.encodedBytes = pending.ops.reduce((sum, op) => sum + opEncodedBytes(op), 0);
  }

  /**
   * Gives the batches of `taken` their sequence numbers from `firstSeq` on, in
   * order, recording each in the commit history; a batch whose admission check
   * fails (a transaction that conflicts with a write sequenced before it, in an
   * earlier group or earlier in this one) gets none, and is rejected once the
   * group is applied (`#refused`). Returns the batches admitted.
   */
  #sequence(taken: PendingWrite[], firstSeq: number): PendingWrite[] {
    const history = this.#parts.history;
    history.startGroup();
    const group: PendingWrite[] = [];
    let seq = firstSeq;
    for (const pending of taken) {
      const refused = pending.admit?.(history);
      if (refused !== undefined) {
        this.#refused.push(() => pending.reject(refused));
        continue;
      }
      // An empty batch is a read-only transaction's check: ordered with the writes, it has nothing to apply.
      if (pending.ops.length === 0) {
        pending.resolve();
        continue;
      }
      history.record(seq, pending.ops);
      seq += pending.ops.length;
      group.push(pending);
    }
    return group;
  }

  /** Adds a group's ops to the active memtable from `firstSeq` on; returns their key and value bytes. */
  #applyToMemtable(batches: readonly (readonly WriteOp[])[], firstSeq: number): number {
    const memtable = this.#memtables.active.memtable;
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
    return (this.#parts.versions.current.levels[0]?.length ?? 0) + this.#memtables.immutables.length;
  }

  /**
   * Pacing (RocksDB's delayed write rate): from `l0SlowdownTrigger` on, each
   * write group waits as long as its bytes take at a rate that falls with the
   * debt, from `delayedWriteRateBytesPerSec` at the slowdown trigger to
   * 1/(stop − slowdown) of it one table below the stop trigger. Ingest settles
   * where compaction keeps up, and latency grows smoothly instead of writes
   * stopping for seconds at `l0StopTrigger`.
   */
  async #throttle(bytes: number): Promise<void> {
    if (!this.#options.autoCompaction) return;
    this.#delayOwedMs += pacingDelayMs(bytes, this.#l0Pending(), this.#options);
    // Timers have millisecond resolution: small groups accumulate their delay.
    if (this.#delayOwedMs < 1) return;
    const waitMs = Math.min(this.#delayOwedMs, WRITE_DELAY_MS_MAX);
    this.#delayOwedMs = 0;
    this.#counters.slowdownCount++;
    this.#counters.slowdownTimeMs += waitMs;
    await sleep(waitMs);
  }

  /**
   * Waits while `blocked()` holds, reporting the stall. If compactions have
   * stopped on an error, an L0 stall would never end: it fails with that error.
   */
  async #stall(reason: StallEvent['reason'], blocked: () => boolean, progress: () => Promise<void>): Promise<void> {
    const { compactor } = this.#parts;
    const started = performance.now();
    this.#counters.stallCount++;
    this.#parts.onStall({ state: 'begin', reason });
    try {
      while (blocked()) {
        if (this.#error) throw this.#error;
        if (reason === 'l0-stop') {
          if (compactor.error) throw compactor.error;
          compactor.schedule();
        }
        await progress();
      }
    } finally {
      const durationMs = performance.now() - started;
      this.#counters.stallTimeMs += durationMs;
      this.#parts.onStall({ state: 'end', reason, durationMs });
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
    const { compactor, flusher } = this.#parts;
    const memtablesFull = (): boolean => this.#memtables.immutables.length >= immutableMemtableCountMax;
    const l0Full = (): boolean => autoCompaction && this.#l0Pending() >= l0StopTrigger;
    while (memtablesFull() || l0Full()) {
      if (memtablesFull()) await this.#stall('memtables-full', memtablesFull, () => flusher.next());
      else await this.#stall('l0-stop', () => l0Full() && !memtablesFull(), () => compactor.nextCompaction());
    }
  }

  /**
   * Freezes the memtable and starts a new one with a new log, then starts a flush.
   * Waits first for room (`#waitForRoom`). The old log is synced whole: recovery
   * treats damage in any log but the newest as corruption, which holds only if
   * older logs are entirely durable.
   */
  async #rotateMemtable(): Promise<void> {
    const { fs } = this.#options;
    const { location } = this.#parts;
    await this.#waitForRoom();
    if (this.#log.size > this.#log.syncedSize) await this.#log.sync();
    const logNumber = this.#parts.versions.newFileNumber();
    const log = await createLog(fs, location, logNumber);
    try {
      await fs.syncDir(location);
    } catch (err) {
      await log.close().catch(() => undefined);
      throw ioError(`syncing directory ${location}`, err);
    }
    const old = this.#log;
    this.#log = log;
    await old.close();
    this.#memtables.freezeActive(logNumber);
    this.#parts.flusher.start();
  }
}
