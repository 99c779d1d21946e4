/**
 * A fixed workload for I/O-error tests: the same writes, groups, flushes, a
 * reopen and a compaction on every run, so that "the n-th sync" names the same
 * call in every run and a test can fail each one in turn. While it runs it
 * checks the write path's side of clause 7 of docs/durability.md: the database
 * reports the failure as `IO_ERROR` (a rejected write, flush, compaction or
 * open, or a `background-error` event), refuses every write after that, and
 * keeps serving reads of what it had applied.
 */
import { DB } from '../src/db/db.js';
import { ShaleError } from '../src/errors.js';
import type { FileSystem } from '../src/fs/file-system.js';
import type { Options } from '../src/options.js';
import { Rng } from '../src/testing/rng.js';
import { History, checkPointReads, checkRecovered, checkScan, expectedEntries, violation } from './oracle.js';
import { DIR } from './simulate.js';
import { WorkloadGen, batchOpOf, keyOf, type SimWrite, type WorkloadShape } from './workload.js';

export const FAULT_WORKLOAD_SHAPE: WorkloadShape = { keyCount: 48, hotKeyCount: 12, syncProbability: 0.4, deleteProbability: 0.2, batchProbability: 0.25, padBytesMax: 100, rangeDeleteProbability: 0.25 };
export const FAULT_WORKLOAD_KEYS = Array.from({ length: FAULT_WORKLOAD_SHAPE.keyCount }, (_, i) => keyOf(i));

export const FAULT_WORKLOAD_OPTIONS: Options = {
  memtableSizeBytes: 4 * 1024,
  blockSizeBytes: 256,
  targetFileSizeBytes: 8 * 1024,
  levelBaseBytes: 32 * 1024,
  manifestSizeBytesMax: 1024,
  compactionExecutor: 'inline',
  l0CompactionTrigger: 4,
  l0SlowdownTrigger: 8,
  l0StopTrigger: 8,
  // Two compactions at once: crashes land between concurrent installs too.
  compactionThreads: 2,
};

/** The workload's length in write groups, and where it flushes, reopens and compacts. */
const GROUPS = 44;
const FLUSH_EVERY_GROUPS = 3;
const REOPEN_AFTER_GROUP = 30;
const COMPACT_AFTER_GROUP = 38;

/** What one run of the fixed workload saw. */
export interface FaultRunResult {
  history: History;
  /** The database open at the end, or undefined if an open failed. */
  db: DB | undefined;
  /** The first error the database reported. */
  reported: ShaleError | undefined;
  /** What reported it. */
  reportedBy: string | undefined;
  /** Writes issued after the report, all refused. */
  refused: number;
  /** A background error that was not `IO_ERROR` (raised by the caller: listeners must not throw). */
  listenerViolation?: string;
}

function isIoError(err: unknown): err is ShaleError {
  return err instanceof ShaleError && err.code === 'IO_ERROR';
}

function issue(db: DB, history: History, write: SimWrite): Promise<void> {
  const index = history.issue(write);
  const ops = write.ops.map(batchOpOf);
  return db.write(ops, { sync: write.sync }).then(() => history.ack(index));
}

class FaultRun {
  readonly result: FaultRunResult = { history: new History(new Map(), 0), db: undefined, reported: undefined, reportedBy: undefined, refused: 0 };
  readonly #fs: FileSystem;
  readonly #rng = new Rng(0xfa17);
  readonly #gen = new WorkloadGen(new Rng(0xfa18), FAULT_WORKLOAD_SHAPE);
  #writeId = 1;

  constructor(fs: FileSystem) {
    this.#fs = fs;
  }

  /** Records an error the database reported; anything but `IO_ERROR` is a violation. */
  report(err: unknown, what: string): void {
    if (!isIoError(err)) violation(`${what} failed with ${String(err)}, expected a ShaleError IO_ERROR`);
    if (this.result.reported === undefined) {
      this.result.reported = err;
      this.result.reportedBy = what;
    }
  }

  async open(): Promise<boolean> {
    try {
      this.result.db = await DB.open(DIR, { ...FAULT_WORKLOAD_OPTIONS, fs: this.#fs });
    } catch (err) {
      this.report(err, 'open');
      this.result.db = undefined;
      return false;
    }
    // A listener must not throw into the engine: a bad error is kept for the run to raise.
    this.result.db.on('background-error', (err) => {
      try {
        this.report(err, 'a background flush or compaction');
      } catch (bad) {
        this.result.listenerViolation ??= (bad as Error).message;
      }
    });
    return true;
  }

  /** One group of writes in flight together. Once an error is reported, every write must be refused. */
  async group(count: number): Promise<void> {
    const { db, history } = this.result;
    const writes = Array.from({ length: count }, () => this.#gen.nextWrite(this.#writeId++));
    const reportedBefore = this.result.reported !== undefined;
    const settled = await Promise.allSettled(writes.map((write) => issue(db!, history, write)));
    for (const [i, outcome] of settled.entries()) {
      if (outcome.status === 'rejected') {
        this.report(outcome.reason, `write w${writes[i]!.writeId}`);
        if (reportedBefore) this.result.refused++;
      } else if (reportedBefore) {
        violation(`write w${writes[i]!.writeId} was acknowledged after ${this.result.reportedBy} reported ${String(this.result.reported)}`);
      }
    }
  }

  /** After the first report: later writes are refused and reads still work. */
  async afterReport(): Promise<void> {
    const refusedBefore = this.result.refused;
    await this.group(3);
    if (this.result.refused - refusedBefore !== 3) violation(`${this.result.refused - refusedBefore} of 3 writes after the error were refused`);
    await checkReadsWork(this.result.db!, this.result.history, `after ${this.result.reportedBy} reported the error`);
  }

  /** A clean close and reopen: everything acknowledged must be back. The fault may land in this recovery. */
  async reopen(): Promise<boolean> {
    const { db, history } = this.result;
    try {
      await db!.close();
    } catch (err) {
      this.report(err, 'close');
      return false;
    }
    // A background flush or compaction may have failed while close waited for it: the run ends there.
    if (this.result.reported !== undefined) return false;
    history.markAckedDurable();
    if (!(await this.open())) return false;
    const recovered = await checkRecovered(this.result.db!, history, history.mark(), FAULT_WORKLOAD_KEYS, 'clean reopen');
    this.result.history = new History(recovered.state, recovered.seq);
    return true;
  }

  async run(): Promise<void> {
    if (!(await this.open())) return;
    for (let group = 0; group < GROUPS; group++) {
      await this.group(this.#rng.range(1, 4));
      if (group % FLUSH_EVERY_GROUPS === FLUSH_EVERY_GROUPS - 1) await this.result.db!.flush().catch((err: unknown) => this.report(err, 'flush'));
      if (group === COMPACT_AFTER_GROUP) await this.result.db!.compactRange().catch((err: unknown) => this.report(err, 'compactRange'));
      if (this.result.reported !== undefined) return this.afterReport();
      if (group === REOPEN_AFTER_GROUP && !(await this.reopen())) return;
    }
  }
}

/**
 * Runs the fixed workload on `fs` until the database reports an error (then
 * checks that later writes are refused and reads work) or to its end. Throws
 * `Violation` on a breach. The database is left open: the caller takes its
 * crash state, then closes it.
 */
export async function runFaultWorkload(fs: FileSystem): Promise<FaultRunResult> {
  const run = new FaultRun(fs);
  await run.run();
  if (run.result.listenerViolation !== undefined) violation(run.result.listenerViolation);
  return run.result;
}

/** Reads keep working after an error: every key and full scans, forward and reverse, match the writes applied. */
export async function checkReadsWork(db: DB, history: History, where: string): Promise<void> {
  const seq = Number(db.latestSequence);
  const state = new Map(history.stateAtSeq(seq));
  await checkPointReads(db, FAULT_WORKLOAD_KEYS, state, `${where}: reads`);
  await checkScan(db, {}, expectedEntries(state), `${where}: reads`);
  await checkScan(db, { reverse: true }, expectedEntries(state, { reverse: true }), `${where}: reads`);
}
