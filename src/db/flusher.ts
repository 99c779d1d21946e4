/**
 * The flush loop: writes frozen memtables to L0 tables, oldest first, and
 * records each in the MANIFEST (docs/internals.md, "Flush").
 *
 * The main thread only copies a memtable's entries out; the background executor
 * builds, writes and syncs the table. A memtable stays readable until its table
 * is installed, then it is dropped and its log deleted.
 */
import { performance } from 'node:perf_hooks';
import type { CompactionExecutor } from '../compaction/executor.js';
import { encodeFlushEntries } from '../compaction/flush.js';
import { ioError, type ShaleError } from '../errors.js';
import { filePath, logFileName } from '../filenames.js';
import { tableBuilderOptions, type ResolvedOptions } from '../options.js';
import { emptyEdit } from '../version/version-edit.js';
import type { VersionSet } from '../version/version-set.js';
import type { MemtableSet, MemtableSlot } from './memtable-set.js';
import { rangeDelBlockSpec } from '../rangedel/table-tombstones.js';
import { estimateRangeDeletedBytes } from '../rangedel/compensation.js';
import type { Counters, FlushEvent } from './stats.js';

/** What the flusher works with; callbacks reach the parts that own the rest. */
export interface FlusherParts {
  options: ResolvedOptions;
  location: string;
  memtables: MemtableSet;
  versions: VersionSet;
  executor: CompactionExecutor;
  counters: Counters;
  /** The write path's failure, if any: flushing stops with it. */
  writeError(): ShaleError | undefined;
  /** Records a failed flush: the write path fails from now on. */
  onError(err: ShaleError): void;
  onFlush(event: FlushEvent): void;
  /** A new L0 table may make a compaction due. */
  scheduleCompaction(): void;
}

export class Flusher {
  readonly #parts: FlusherParts;
  #running: Promise<void> | undefined;
  #waiters: (() => void)[] = [];

  constructor(parts: FlusherParts) {
    this.#parts = parts;
  }

  /**
   * Starts the flush loop unless it is running. A memtable frozen after the loop
   * saw none left but before its promise settled would be stranded (and every
   * `flush()` and rotation waiting on it would hang), so the loop restarts itself.
   */
  start(): void {
    this.#running ??= this.#run().finally(() => {
      this.#running = undefined;
      this.#wakeWaiters();
      if (this.#parts.memtables.immutables.length > 0 && this.#parts.writeError() === undefined) this.start();
    });
  }

  /** Resolves after the next flush ends (or fails). */
  next(): Promise<void> {
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Waits until none of `slots` is waiting for flush; rejects with the write path's error. */
  async waitFor(slots: ReadonlySet<MemtableSlot>): Promise<void> {
    while (this.#parts.memtables.immutables.some((slot) => slots.has(slot))) {
      const failed = this.#parts.writeError();
      if (failed) throw failed;
      await this.next();
    }
    const failed = this.#parts.writeError();
    if (failed) throw failed;
  }

  /** Waits for a running flush loop to end. */
  async drain(): Promise<void> {
    while (this.#running) await this.#running;
  }

  /** Flushes frozen memtables, oldest first, until none is left or one fails. */
  async #run(): Promise<void> {
    const { memtables } = this.#parts;
    for (let slot = memtables.oldestImmutable; slot !== undefined && this.#parts.writeError() === undefined; slot = memtables.oldestImmutable) {
      try {
        await this.#flushOne(slot);
      } catch (err) {
        this.#parts.onError(ioError('flush failed; the database no longer accepts writes', err));
      }
      this.#wakeWaiters();
    }
  }

  /**
   * Writes `slot`'s memtable to an L0 table, records it in the MANIFEST with the
   * next memtable's log as the oldest one needed, then drops the memtable and
   * deletes its log.
   */
  async #flushOne(slot: MemtableSlot): Promise<void> {
    const { options, location, memtables, versions, counters } = this.#parts;
    const started = performance.now();
    const fileNumber = versions.newFileNumber();
    const entries = await encodeFlushEntries(slot.memtable);
    const rangeDel = rangeDelBlockSpec(slot.memtable.rangeTombstones.fragments);
    const meta = await this.#parts.executor.flush({
      dir: location,
      fileNumber,
      tableOptions: tableBuilderOptions(options, 0),
      entries,
      ...(rangeDel === undefined ? {} : { rangeDel }),
      yieldEveryEntries: 0,
    });
    const edit = emptyEdit();
    edit.logNumber = memtables.newerThan(slot).logNumber;
    // Only what the flushed memtable holds is durable for sure: later writes may
    // still be unsynced, and a crash must not leave lastSequence ahead of the data.
    edit.lastSequence = slot.memtable.sequenceRange.largest;
    if (meta !== undefined) {
      estimateRangeDeletedBytes([meta], versions.current);
      edit.newFiles.push(meta);
    }
    await versions.logAndApply(edit);
    memtables.remove(slot);
    await options.fs.remove(filePath(location, logFileName(slot.logNumber))).catch(() => undefined);
    if (meta !== undefined) {
      counters.flushCount++;
      counters.flushBytesWritten += meta.sizeBytes;
      this.#parts.onFlush({ fileNumber, bytesWritten: meta.sizeBytes, entries: slot.memtable.entryCount, durationMs: performance.now() - started });
    }
    this.#parts.scheduleCompaction();
  }

  #wakeWaiters(): void {
    for (const wake of this.#waiters.splice(0)) wake();
  }
}
