/**
 * Runs compactions in the background or on request (docs/internals.md,
 * "Compaction"). The picker chooses, the executor merges (in the workers or
 * inline), and the main thread alone installs each result: one MANIFEST edit
 * deleting the inputs and adding the outputs, durable before the inputs are
 * released for deletion.
 *
 * Up to `compactionThreads` automatic compactions run at once, each on tables no
 * other holds and writing key ranges no other writes into the same level
 * (`CompactionsInProgress`), so an L0 compaction never waits behind a long one
 * deeper down. A manual `compactRange` waits for them and runs alone: one merge
 * of the range's tables in every level into the deepest, split by key range into
 * subcompactions that run side by side on the worker pool.
 *
 * A failed compaction stops compactions until reopen: a corrupt input must not
 * be compacted around (that would drop data), and an I/O error is not retried.
 */
import { performance } from 'node:perf_hooks';
import { ShaleError } from '../errors.js';
import type { ResolvedOptions } from '../options.js';
import { tableBuilderOptions } from '../options.js';
import type { CompactionJobSpec, KeySpan } from './compaction-job.js';
import type { CompactionExecutor } from './executor.js';
import {
  grandparentOverlapBytesMax,
  manualCompaction,
  outputRange,
  overlapping,
  nextExpiryMs,
  pickCompaction,
  pickExpiredCompaction,
  splitForSubcompactions,
  totalBytes,
  type Compaction,
  type CompactionsInProgress,
} from './picker.js';
import { filePath, tableFileName } from '../filenames.js';
import { compareInternalKeys } from '../keys.js';
import { userKeyOf } from '../version/version.js';
import { estimateRangeDeletedBytes } from '../rangedel/compensation.js';
import { emptyEdit, type FileMeta } from '../version/version-edit.js';
import type { VersionSet } from '../version/version-set.js';

/** What the `compaction` event reports. */
export interface CompactionEvent {
  level: number;
  outputLevel: number;
  inputs: number[];
  outputs: number[];
  bytesRead: number;
  bytesWritten: number;
  trivialMove: boolean;
  manual: boolean;
  durationMs: number;
}

export interface CompactorHost {
  readonly versions: VersionSet;
  readonly options: ResolvedOptions;
  readonly location: string;
  readonly executor: CompactionExecutor;
  /** Live snapshot sequences, ascending. */
  snapshots(): number[];
  /** The database's time (monotone): expiring entries expired by it are dropped. */
  now(): number;
  onCompaction(event: CompactionEvent): void;
  onError(err: ShaleError): void;
}

/** The longest the expiry timer waits before the picker looks again: setTimeout's limit (about 24.8 days). */
export const EXPIRY_RECHECK_MS_MAX = 2 ** 31 - 1;

export class Compactor {
  readonly #host: CompactorHost;
  /** Automatic compactions running now. */
  readonly #running = new Set<Compaction>();
  /** Settles when the running manual compaction (if any) ends; automatic ones start only after it. */
  #manual: Promise<void> | undefined;
  #error: ShaleError | undefined;
  #closed = false;
  #waiters: (() => void)[] = [];
  /** Calls `schedule()` when the next table's earliest expiry comes, if nothing else has by then. */
  #expiryTimer: NodeJS.Timeout | undefined;

  constructor(host: CompactorHost) {
    this.#host = host;
  }

  /** The error that stopped compactions, if one did. */
  get error(): ShaleError | undefined {
    return this.#error;
  }

  /** The number of compactions running now (for stats and tests). */
  get runningCount(): number {
    return this.#running.size;
  }

  /** Starts background compactions while a level needs one, a thread is free and a pick meets no running one. */
  schedule(): void {
    const { options, versions } = this.#host;
    if (this.#closed || this.#error || !options.autoCompaction || this.#manual) return;
    while (this.#running.size < options.compactionThreads) {
      const levels = versions.current.levels;
      const inProgress = this.#inProgress();
      const compaction =
        pickCompaction(levels, versions.state.compactPointers, options, inProgress) ?? pickExpiredCompaction(levels, this.#host.now(), options, inProgress);
      if (compaction === undefined) {
        this.#armExpiryTimer();
        return;
      }
      this.#running.add(compaction);
      // L0→L1 is the merge writes wait on: split it like a manual one (RocksDB's max_subcompactions does the same).
      const pieces = compaction.level === 0 && !compaction.trivialMove ? options.subcompactions : 1;
      void this.#run(compaction, false, pieces)
        .catch(() => undefined)
        .finally(() => {
          this.#running.delete(compaction);
          this.#wake();
          this.schedule();
        });
    }
  }

  /** Resolves after the next compaction finishes (or fails, or the compactor closes). */
  nextCompaction(): Promise<void> {
    if (this.#closed || this.#error) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /**
   * Compacts every table overlapping [start, end] (open bounds when undefined)
   * into the deepest level holding such a table (at least L1), in one merge split
   * into `subcompactions` key ranges that run side by side.
   */
  async compactRange(start: Buffer | undefined, end: Buffer | undefined): Promise<void> {
    while (this.#manual) await this.#manual;
    const manual = this.#compactRange(start, end);
    this.#manual = manual.then(
      () => undefined,
      () => undefined,
    );
    try {
      await manual;
    } finally {
      this.#manual = undefined;
      this.schedule();
    }
  }

  async #compactRange(start: Buffer | undefined, end: Buffer | undefined): Promise<void> {
    const { versions, options } = this.#host;
    await this.#idle();
    this.#checkUsable();
    const nowMs = this.#host.now();
    const rewrite = (file: FileMeta): boolean => options.compactionFilter !== undefined || (file.expiryMinMs !== undefined && file.expiryMinMs <= nowMs);
    const compaction = manualCompaction(versions.current.levels, start, end, options, rewrite);
    if (compaction !== undefined) await this.#run(compaction, true, options.subcompactions);
    this.#checkUsable();
  }

  /**
   * Sets a timer for the earliest expiry still to come in the current version, so
   * that a database nobody writes to still gets its expired tables compacted. It
   * fires at most `EXPIRY_RECHECK_MS_MAX` from now (the clock may be anything: a
   * test's, or one that jumps), and never keeps the process alive.
   */
  #armExpiryTimer(): void {
    if (this.#expiryTimer !== undefined) clearTimeout(this.#expiryTimer);
    this.#expiryTimer = undefined;
    const nowMs = this.#host.now();
    const next = nextExpiryMs(this.#host.versions.current.levels, nowMs);
    if (next === undefined) return;
    this.#expiryTimer = setTimeout(
      () => {
        this.#expiryTimer = undefined;
        this.schedule();
      },
      Math.min(EXPIRY_RECHECK_MS_MAX, next - nowMs),
    );
    this.#expiryTimer.unref();
  }

  /** Waits for running compactions, then refuses new ones. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#expiryTimer !== undefined) clearTimeout(this.#expiryTimer);
    this.#expiryTimer = undefined;
    await this.#idle();
    while (this.#manual) await this.#manual;
    this.#wake();
  }

  /** Waits until no automatic compaction runs. */
  async #idle(): Promise<void> {
    while (this.#running.size > 0) await new Promise<void>((resolve) => this.#waiters.push(resolve));
  }

  #inProgress(): CompactionsInProgress {
    const files = new Set<number>();
    const outputs = [];
    for (const compaction of this.#running) {
      for (const level of compaction.inputs) for (const file of level) files.add(file.fileNumber);
      outputs.push(outputRange(compaction));
    }
    return { files, outputs };
  }

  #checkUsable(): void {
    if (this.#error) throw this.#error;
    if (this.#closed) throw new ShaleError('NOT_OPEN', 'the database is closed');
  }

  /** Runs `compaction` (split into up to `pieces` subcompactions) and installs its result. */
  async #run(compaction: Compaction, manual: boolean, pieces = 1): Promise<void> {
    const started = performance.now();
    const { versions } = this.#host;
    const edit = emptyEdit();
    const inputs = [...compaction.inputs[0], ...compaction.inputs[1]];
    for (const file of inputs) edit.deletedFiles.push({ level: file.level, fileNumber: file.fileNumber });
    if (compaction.inputs[0].length > 0 && compaction.level > 0 && compaction.outputLevel === compaction.level + 1) {
      const largest = compaction.inputs[0].reduce((max, file) => (file.largest.compare(max) > 0 ? file.largest : max), compaction.inputs[0][0]!.largest);
      edit.compactPointers.push({ level: compaction.level, key: largest });
    }
    let outputs: FileMeta[];
    try {
      outputs = compaction.trivialMove ? [{ ...compaction.inputs[0][0]!, level: compaction.outputLevel }] : await this.#merge(compaction, pieces);
      if (!compaction.trivialMove) estimateRangeDeletedBytes(outputs, versions.current);
      edit.newFiles.push(...outputs);
      await versions.logAndApply(edit);
    } catch (err) {
      this.#error = err instanceof ShaleError ? err : new ShaleError('IO_ERROR', `compaction failed: ${String(err)}`, { cause: err });
      this.#host.onError(this.#error);
      this.#wake();
      throw this.#error;
    }
    this.#host.onCompaction({
      level: compaction.level,
      outputLevel: compaction.outputLevel,
      inputs: inputs.map((file) => file.fileNumber),
      outputs: outputs.map((file) => file.fileNumber),
      bytesRead: compaction.trivialMove ? 0 : totalBytes(inputs),
      bytesWritten: compaction.trivialMove ? 0 : totalBytes(outputs),
      trivialMove: compaction.trivialMove,
      manual,
      durationMs: performance.now() - started,
    });
    this.#wake();
  }

  /**
   * Merges `compaction`'s inputs in the executor, as one job or as subcompactions
   * over disjoint key ranges side by side; returns the outputs in key order. If
   * one subcompaction fails, the others' outputs are removed and the first error
   * thrown: nothing of a failed compaction is installed or left behind.
   */
  async #merge(compaction: Compaction, pieces: number): Promise<FileMeta[]> {
    const { executor, versions, options, location } = this.#host;
    const allocate = (): Promise<number> => Promise.resolve(versions.newFileNumber());
    const shares = pieces > 1 ? splitForSubcompactions(compaction, pieces) : [{ start: null, end: null }];
    const inputs = [...compaction.inputs[0], ...compaction.inputs[1]];
    const spec = this.#spec(compaction);
    const settled = await Promise.allSettled(
      shares.map((share) => {
        // A share reads only the tables its range meets (`end` is exclusive; overlapping() is inclusive, so a superset).
        const files = overlapping(inputs, share.start ?? undefined, share.end ?? undefined);
        return executor.run({ ...spec, inputs: sortedRuns(files), share }, allocate, shares.length);
      }),
    );
    const failed = settled.find((result) => result.status === 'rejected');
    if (failed === undefined) return settled.flatMap((result) => (result.status === 'fulfilled' ? result.value.outputs : []));
    for (const result of settled) {
      if (result.status !== 'fulfilled') continue;
      for (const meta of result.value.outputs) await options.fs.remove(filePath(location, tableFileName(meta.fileNumber))).catch(() => undefined);
    }
    throw failed.reason;
  }

  /** The job for `compaction`, less what each subcompaction sets for itself: its input tables and its share of the keys. */
  #spec(compaction: Compaction): Omit<CompactionJobSpec, 'inputs' | 'share'> {
    const { options, location, versions } = this.#host;
    const span = (file: FileMeta): KeySpan => [userKeyOf(file.smallest), userKeyOf(file.largest)];
    return {
      dir: location,
      outputLevel: compaction.outputLevel,
      snapshots: this.#host.snapshots(),
      nowMs: this.#host.now(),
      deeperSpans: versions.current.levels.slice(compaction.outputLevel + 1).map((files) => files.map(span)),
      grandparents: compaction.grandparents.map((file) => ({ span: span(file), sizeBytes: file.sizeBytes })),
      targetFileSizeBytes: options.targetFileSizeBytes,
      grandparentOverlapBytesMax: grandparentOverlapBytesMax(options),
      tableOptions: tableBuilderOptions(options, compaction.outputLevel),
      verifyChecksums: true,
      yieldEveryEntries: 0,
    };
  }

  #wake(): void {
    for (const wake of this.#waiters.splice(0)) wake();
  }
}

/** Input tables as the merge's sorted runs: each L0 table alone, each deeper level's tables together in key order. */
function sortedRuns(files: readonly FileMeta[]): number[][] {
  const runs: number[][] = [];
  const levels = new Map<number, FileMeta[]>();
  for (const file of files) {
    if (file.level === 0) runs.push([file.fileNumber]);
    else levels.set(file.level, [...(levels.get(file.level) ?? []), file]);
  }
  for (const tables of levels.values()) runs.push(tables.sort((a, b) => compareInternalKeys(a.smallest, b.smallest)).map((file) => file.fileNumber));
  return runs;
}
