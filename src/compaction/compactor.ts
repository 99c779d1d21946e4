/**
 * Runs compactions, one at a time, in the background or on request
 * (docs/internals.md, "Compaction"). The picker chooses, the executor merges (in
 * the worker or inline), and the main thread alone installs the result: one
 * MANIFEST edit deleting the inputs and adding the outputs, durable before the
 * inputs are released for deletion.
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
import { expandCompaction, grandparentOverlapBytesMax, overlapping, pickCompaction, totalBytes, type Compaction } from './picker.js';
import { userKeyOf } from '../version/version.js';
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
  onCompaction(event: CompactionEvent): void;
  onError(err: ShaleError): void;
}

export class Compactor {
  readonly #host: CompactorHost;
  /** Serialises compactions, automatic and manual. */
  #lock: Promise<void> = Promise.resolve();
  #running: Promise<void> | undefined;
  #error: ShaleError | undefined;
  #closed = false;
  #waiters: (() => void)[] = [];

  constructor(host: CompactorHost) {
    this.#host = host;
  }

  /** The error that stopped compactions, if one did. */
  get error(): ShaleError | undefined {
    return this.#error;
  }

  /** Starts background compactions if a level needs one and none is running. */
  schedule(): void {
    if (this.#running || this.#closed || this.#error || !this.#host.options.autoCompaction) return;
    this.#running = this.#runAutomatic().finally(() => {
      this.#running = undefined;
      this.#wake();
    });
  }

  /** Resolves after the next compaction finishes (or fails, or the compactor closes). */
  nextCompaction(): Promise<void> {
    if (this.#closed || this.#error) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /**
   * Compacts every table overlapping [start, end] (open bounds when undefined)
   * level by level down to the deepest level holding such a table (at least L1).
   */
  async compactRange(start: Buffer | undefined, end: Buffer | undefined): Promise<void> {
    const { versions } = this.#host;
    const deepest = versions.current.levels.reduce((last, files, level) => (overlapping(files, start, end).length > 0 ? level : last), 0);
    for (let level = 0; level < Math.max(1, deepest); level++) {
      for (;;) {
        this.#checkUsable();
        const picked = await this.#exclusive(async () => {
          const levels = versions.current.levels;
          const files = overlapping(levels[level] ?? [], start, end);
          if (files.length === 0) return false;
          const compaction = expandCompaction(levels, level, level === 0 ? files : files.slice(0, 1), this.#pickerOptions(), 0);
          await this.#run(compaction, true);
          return true;
        });
        if (!picked) break;
      }
    }
    this.#checkUsable();
  }

  /** Waits for a running compaction, then refuses new ones. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#running;
    await this.#lock;
    this.#wake();
  }

  #checkUsable(): void {
    if (this.#error) throw this.#error;
    if (this.#closed) throw new ShaleError('NOT_OPEN', 'the database is closed');
  }

  #pickerOptions() {
    return this.#host.options;
  }

  async #runAutomatic(): Promise<void> {
    while (!this.#closed && !this.#error) {
      const ran = await this.#exclusive(async () => {
        const { versions } = this.#host;
        const compaction = pickCompaction(versions.current.levels, versions.state.compactPointers, this.#pickerOptions());
        if (compaction === undefined) return false;
        await this.#run(compaction, false);
        return true;
      }).catch(() => false);
      if (!ran) return;
    }
  }

  #exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#lock.then(work);
    this.#lock = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  async #run(compaction: Compaction, manual: boolean): Promise<void> {
    const started = performance.now();
    const { versions } = this.#host;
    const edit = emptyEdit();
    const inputs = [...compaction.inputs[0], ...compaction.inputs[1]];
    for (const file of inputs) edit.deletedFiles.push({ level: file.level, fileNumber: file.fileNumber });
    if (compaction.inputs[0].length > 0 && compaction.level > 0) {
      const largest = compaction.inputs[0].reduce((max, file) => (file.largest.compare(max) > 0 ? file.largest : max), compaction.inputs[0][0]!.largest);
      edit.compactPointers.push({ level: compaction.level, key: largest });
    }
    let outputs: FileMeta[];
    let bytesRead = 0;
    try {
      if (compaction.trivialMove) {
        outputs = [{ ...compaction.inputs[0][0]!, level: compaction.outputLevel }];
      } else {
        const result = await this.#host.executor.run(this.#spec(compaction), () => Promise.resolve(versions.newFileNumber()));
        outputs = result.outputs;
        bytesRead = result.bytesRead;
      }
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
      bytesRead,
      bytesWritten: compaction.trivialMove ? 0 : totalBytes(outputs),
      trivialMove: compaction.trivialMove,
      manual,
      durationMs: performance.now() - started,
    });
    this.#wake();
  }

  #spec(compaction: Compaction): CompactionJobSpec {
    const { options, location, versions } = this.#host;
    const span = (file: FileMeta): KeySpan => [userKeyOf(file.smallest), userKeyOf(file.largest)];
    return {
      dir: location,
      outputLevel: compaction.outputLevel,
      inputs: [...compaction.inputs[0], ...compaction.inputs[1]].map((file) => file.fileNumber),
      snapshots: this.#host.snapshots(),
      deeperSpans: versions.current.levels.slice(compaction.outputLevel + 1).map((files) => files.map(span)),
      grandparents: compaction.grandparents.map((file) => ({ span: span(file), sizeBytes: file.sizeBytes })),
      targetFileSizeBytes: options.targetFileSizeBytes,
      grandparentOverlapBytesMax: grandparentOverlapBytesMax(options),
      tableOptions: tableBuilderOptions(options),
      verifyChecksums: true,
      yieldEveryEntries: 0,
    };
  }

  #wake(): void {
    for (const wake of this.#waiters.splice(0)) wake();
  }
}
