/**
 * The deterministic crash simulator (docs/durability.md, "The contract"). From
 * one seed: open a database on a `CrashableFS` with tiny sizes and inline
 * compaction, run a random workload (puts, deletes, batches, sync and non-sync
 * writes with several in flight, reads, scans, snapshots, flushes, manual
 * compactions, clean reopens), crash at a random moment in a random crash mode,
 * recover (crashing again during recovery, sometimes), check the oracle, and
 * continue on the recovered database; several times per seed. Before each
 * recovery a read-only open of the crashed state must change nothing, pass the
 * same oracle, equal what recovery then finds, and keep its view while recovery
 * deletes the files it read.
 *
 * Determinism: every choice comes from the seed's `Rng`; the file system
 * completes every operation synchronously; compaction runs inline; nothing reads
 * the clock or waits on a timer (L0 slowdown, the engine's one timer, is
 * configured away: `l0SlowdownTrigger` equals `l0StopTrigger`, so writes stall on
 * compaction progress instead). Every event goes into a trace hash, so
 * `simulateSeed(s)` twice must give the same `traceHash`.
 */
import { createHash, type Hash } from 'node:crypto';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { DB } from '../src/db/db.js';
import type { Options } from '../src/options.js';
import type { Snapshot } from '../src/db/snapshot.js';
import { CrashableFS, type CrashMode } from '../src/testing/crashable-fs.js';
import { Rng } from '../src/testing/rng.js';
import { CrashPointFS, type MutatingOp } from './crash-point-fs.js';
import {
  History,
  Violation,
  checkFiles,
  checkPointReads,
  checkPointReadsLive,
  checkRecovered,
  checkScan,
  describeValue,
  expectedEntries,
  readAll,
  describeDiff,
  violation,
  type CrashMark,
  type Recovered,
  type State,
} from './oracle.js';
import { SIM_EPOCH_MS, WorkloadGen, batchOpOf, drawShape, encodeValue, keyOf, type SimWrite } from './workload.js';
import { checkCheckpointTarget } from './checkpoint-oracle.js';
import { SimTransaction, isConflict } from './transactions.js';

export const DIR = '/db';
/**
 * Some seeds create the database two levels below directories that do not exist
 * yet, so that a crash before open synced their parents is among the states tried.
 */
export const NESTED_DIR = '/home/data/db';
export const CRASH_MODES: readonly CrashMode[] = ['drop-unsynced', 'keep-prefix', 'keep-blocks', 'garbage-blocks'];

/** How long a seed runs. */
export interface SimConfig {
  /** Crashes per seed: each ends an epoch. */
  epochsMin: number;
  epochsMax: number;
  /** Workload steps per epoch (a step is a write, a read, a scan, a flush, …). */
  stepsMin: number;
  stepsMax: number;
  /**
   * The chance that an epoch runs up to `longStepsMax` steps instead: a database
   * that lives long enough to rotate its MANIFEST and compact down several levels.
   */
  longEpochChance: number;
  longStepsMax: number;
}

/** The CLI's seed length. */
export const DEFAULT_SIM_CONFIG: SimConfig = { epochsMin: 1, epochsMax: 3, stepsMin: 10, stepsMax: 100, longEpochChance: 0.1, longStepsMax: 400 };

/** The test suite's seed length: shorter, so that 2,000 seeds fit its time budget. */
export const CI_SIM_CONFIG: SimConfig = { epochsMin: 1, epochsMax: 2, stepsMin: 6, stepsMax: 32, longEpochChance: 0.06, longStepsMax: 200 };

/** Counters of one seed, summed over seeds by the callers. */
export interface SimCounts {
  epochs: number;
  crashes: number;
  /** Crashes taken while a database was opening (recovering after a crash, or reopening), right after one of its file operations. */
  crashesInOpen: number;
  /** Crashes taken right after the k-th file operation, not between workload steps. */
  crashesMidOperation: number;
  cleanReopens: number;
  writes: number;
  acked: number;
  /** Acknowledged non-sync writes that a crash then lost (allowed; shows the crash modes bite). */
  unsyncedLost: number;
  reads: number;
  scans: number;
  snapshotReads: number;
  flushes: number;
  compactions: number;
  /** MANIFESTs written by a running database (size rotations), not by opens. */
  manifestRotations: number;
  /** Of `crashesMidOperation`: right after an operation on a table (flush, compaction, recovery), on the MANIFEST, CURRENT or a temp file, on a log. */
  crashesAtTable: number;
  crashesAtManifest: number;
  crashesAtLog: number;
  mutations: number;
  /** Checkpoints taken (db.checkpoint), and of them found complete in a crash state. */
  checkpoints: number;
  checkpointsCompleteAfterCrash: number;
  /** Transactions: commits acknowledged, commits refused with CONFLICT (each predicted), aborts. */
  transactionCommits: number;
  transactionConflicts: number;
  transactionAborts: number;
}

export interface SimResult {
  seed: number;
  /** The first contract breach, with the seed's context; undefined when the seed passed. */
  violation?: string;
  traceHash: string;
  counts: SimCounts;
  /** The trace lines, when asked for (`keepTrace`). */
  trace?: string[];
}

/** An operation as the trace shows it: its type, and whether it expires. */
function describeOp(op: SimWrite['ops'][number]): string {
  if (op.type === 'put') return op.expiresAt === undefined ? 'put' : 'put-expiring';
  if (op.type === 'deleteRange') return 'deleteRange';
  return op.expiredPut === undefined ? 'delete' : 'put-expired';
}

/** Database options of a seed: the brief's tiny sizes, plus a few knobs drawn from the seed. */
export function simDbOptions(rng: Rng): Options {
  return {
    // Mostly 4 KiB. Half the seeds take 16 or 32 KiB: their logs span several 4 KiB pages,
    // so keep-blocks and garbage-blocks crashes can damage a page with intact ones after it.
    memtableSizeBytes: rng.pick([4 * 1024, 4 * 1024, 16 * 1024, 32 * 1024]),
    blockSizeBytes: 256,
    targetFileSizeBytes: 8 * 1024,
    levelBaseBytes: 32 * 1024,
    // 4 KiB takes ~40 edits to rotate, more than most seeds' databases live for; 1 KiB (the least allowed) takes ~8.
    manifestSizeBytesMax: rng.pick([1024, 1024, 4 * 1024]),
    compactionExecutor: 'inline',
    l0CompactionTrigger: 4,
    // Equal triggers: the slowdown (a real 1 ms timer) never runs; writes stall on compaction instead.
    l0SlowdownTrigger: 8,
    l0StopTrigger: 8,
    memtableNodeSizeMax: rng.pick([4, 16, 64]),
    immutableMemtableCountMax: rng.pick([1, 2]),
    writeGroupBytesMax: rng.pick([512, 4096, 1024 * 1024]),
    blockRestartInterval: rng.pick([1, 4, 16]),
    bloomBitsPerKey: rng.pick([0, 10]),
    compression: rng.pick(['snappy', 'none'] as const),
    // Drawn last, so the draws above keep the streams they had before it.
    compactionThreads: rng.pick([1, 2, 3]),
    compressionMinLevel: rng.pick([0, 2]),
    subcompactions: rng.pick([1, 2, 3]),
  };
}

/** All counters at zero. */
export function zeroSimCounts(): SimCounts {
  return {
    epochs: 0,
    crashes: 0,
    crashesInOpen: 0,
    crashesMidOperation: 0,
    cleanReopens: 0,
    writes: 0,
    acked: 0,
    unsyncedLost: 0,
    reads: 0,
    scans: 0,
    snapshotReads: 0,
    flushes: 0,
    compactions: 0,
    manifestRotations: 0,
    crashesAtTable: 0,
    crashesAtManifest: 0,
    crashesAtLog: 0,
    mutations: 0,
    checkpoints: 0,
    checkpointsCompleteAfterCrash: 0,
    transactionCommits: 0,
    transactionConflicts: 0,
    transactionAborts: 0,
  };
}

type StepAction = 'write' | 'read' | 'scan' | 'snapshot' | 'snapshot-read' | 'flush' | 'compact' | 'reopen' | 'yield' | 'barrier' | 'checkpoint' | 'transaction';

/** How often each step is taken, out of their sum. Flushes vary per seed: many flushes mean many MANIFEST edits. */
function drawWeights(rng: Rng): [StepAction, number][] {
  return [
    ['write', 55],
    ['read', 8],
    ['scan', 5],
    ['snapshot', 4],
    ['snapshot-read', 4],
    ['flush', rng.pick([3, 12, 30])],
    ['compact', rng.pick([2, 8])],
    ['reopen', 1],
    ['yield', 9],
    ['barrier', 8],
    ['checkpoint', 1],
    ['transaction', 14],
  ];
}

interface PendingCrash {
  clone: CrashableFS;
  mode: CrashMode;
  mark: CrashMark;
  where: string;
}

interface LiveSnapshot {
  snapshot: Snapshot;
  state: State;
  seq: number;
}

class Simulation {
  readonly seed: number;
  readonly counts = zeroSimCounts();
  readonly #config: SimConfig;
  readonly #rng: Rng;
  /** Crash clones draw from their own stream, so the workload's stream does not depend on file contents. */
  readonly #crashRng: Rng;
  readonly #gen: WorkloadGen;
  readonly #dbOptions: Options;
  readonly #keys: Buffer[];
  readonly #concurrency: number;
  readonly #weights: [StepAction, number][];
  readonly #hash: Hash = createHash('sha256');
  readonly #traceLines: string[] | undefined;
  /** The database directory of this seed: `DIR` or `NESTED_DIR`. */
  readonly #dir: string;
  #writeIdNext = 1;
  #history = new History(new Map(), 0);
  #fs: CrashPointFS | undefined;
  #db: DB | undefined;
  #inflight: Promise<void>[] = [];
  #snapshots: LiveSnapshot[] = [];
  #transactions: SimTransaction[] = [];
  #crash: PendingCrash | undefined;
  /** Total mutating operations of workload databases; the crash target counts these. */
  #mutations = 0;
  #crashAtMutation = Infinity;
  #asyncViolations: string[] = [];
  #where = 'start';
  /** Checkpoints started in this epoch: checked again in the crash state that ends it. */
  #checkpoints: { target: string; atCall: CrashMark }[] = [];
  #checkpointCount = 0;

  constructor(seed: number, config: SimConfig, keepTrace: boolean) {
    this.seed = seed;
    this.#config = config;
    this.#rng = new Rng(seed);
    this.#crashRng = this.#rng.fork();
    const shape = drawShape(this.#rng);
    // A quarter of the seeds write keys and values holding real log chunks. Chosen by
    // the seed's number, not drawn, so every other seed replays exactly as before.
    if (seed % 4 === 3) shape.chunkShapedBytes = true;
    this.#gen = new WorkloadGen(this.#rng.fork(), shape, new Rng((seed ^ 0x7717_e0f1) >>> 0));
    // The database's clock is the simulation's: a millisecond a write, so expiry decisions replay exactly.
    this.#dbOptions = { ...simDbOptions(this.#rng), clock: () => SIM_EPOCH_MS + this.#writeIdNext };
    this.#keys = Array.from({ length: shape.keyCount }, (_, i) => keyOf(i, shape.chunkShapedBytes === true));
    this.#concurrency = this.#rng.pick([0.2, 0.5, 0.8]);
    this.#weights = drawWeights(this.#rng);
    this.#traceLines = keepTrace ? [] : undefined;
    this.#dir = this.#rng.bool(0.25) ? NESTED_DIR : DIR;
    this.#trace('dir', this.#dir);
    this.#trace('seed', seed, JSON.stringify(this.#gen.shape), JSON.stringify({ ...this.#dbOptions, concurrency: this.#concurrency }), JSON.stringify(this.#weights));
  }

  get traceHash(): string {
    return this.#hash.copy().digest('hex');
  }

  get trace(): string[] | undefined {
    return this.#traceLines;
  }

  #trace(...parts: unknown[]): void {
    const line = parts.map(String).join(' ');
    this.#hash.update(line + '\n');
    this.#traceLines?.push(line);
  }

  async run(): Promise<void> {
    let state = new CrashableFS();
    const epochs = this.#rng.range(this.#config.epochsMin, this.#config.epochsMax);
    for (let epoch = 0; epoch < epochs; epoch++) {
      this.counts.epochs++;
      this.#where = `epoch ${epoch}`;
      await this.#openForWorkload(state, epoch === 0 ? 0.3 : 0.15);
      const long = this.#rng.bool(this.#config.longEpochChance);
      const steps = this.#rng.range(this.#config.stepsMin, long ? this.#config.longStepsMax : this.#config.stepsMax);
      // Most crashes land right after a file operation (inside a write, a flush, a
      // compaction); the rest between steps, with writes queued but unprocessed.
      this.#crashAtMutation = this.#rng.bool(0.7) ? this.#mutations + this.#rng.range(1, Math.ceil(steps * 2.5)) : Infinity;
      for (let step = 0; step < steps && this.#crash === undefined; step++) {
        this.#where = `epoch ${epoch} step ${step}`;
        await this.#step();
        this.#throwAsyncViolations();
      }
      if (this.#crash === undefined) this.#takeCrash(`after ${steps} steps`);
      const crash = this.#crash!;
      this.#crash = undefined;
      this.#crashAtMutation = Infinity;
      await this.#settleAndClose();
      this.#where = `epoch ${epoch} recovery (crash ${crash.where}, ${crash.mode})`;
      const recovered = await this.#recover(crash.clone, this.#history, crash.mark);
      await this.#checkCheckpointsAfterCrash(recovered.fs, crash.mark);
      this.#countLost(crash.mark, recovered);
      state = recovered.fs;
      this.#history = new History(recovered.recovered.state, recovered.recovered.seq);
    }
  }

  /** Opens the database the workload runs on; `crashChance` arms a crash inside the open. */
  async #openForWorkload(state: CrashableFS, crashChance: number): Promise<void> {
    for (;;) {
      this.#fs = new CrashPointFS(state, (count, op, path) => this.#onMutation(op, path));
      this.#crashAtMutation = this.#rng.bool(crashChance) ? this.#mutations + this.#rng.range(1, 30) : Infinity;
      let db: DB;
      try {
        db = await DB.open(this.#dir, { ...this.#dbOptions, fs: this.#fs });
      } catch (err) {
        violation(`${this.#where}: open failed: ${String(err)}`);
      }
      this.#db = db;
      db.on('background-error', (err) => this.#asyncViolations.push(`background error: ${String(err)}`));
      db.on('compaction', () => this.counts.compactions++);
      db.on('flush', () => this.counts.flushes++);
      const crash = this.#crash as PendingCrash | undefined;
      if (crash === undefined) {
        this.#crashAtMutation = Infinity;
        await this.#checkOpened(db);
        return;
      }
      // Crashed while opening: the epoch's history is unchanged; recover from the clone and open again.
      this.counts.crashesInOpen++;
      this.#crash = undefined;
      await this.#settleAndClose();
      this.#where += ` (crash in open ${crash.where}, ${crash.mode})`;
      const recovered = await this.#recover(crash.clone, this.#history, crash.mark);
      state = recovered.fs;
      this.#history = new History(recovered.recovered.state, recovered.recovered.seq);
    }
  }

  /** A database just opened for the workload holds the epoch's base state. */
  async #checkOpened(db: DB): Promise<void> {
    const seq = Number(db.latestSequence);
    if (seq !== this.#history.baseSeq) violation(`${this.#where}: reopened at latestSequence ${seq}, recovery found ${this.#history.baseSeq}`);
    const actual = await readAll(db, `${this.#where}: scan after open`);
    const diff = describeDiff(this.#history.base, actual);
    if (diff !== 'no difference') violation(`${this.#where}: a second open of a recovered database changed it: ${diff}`);
    this.#trace('opened', seq, actual.size);
  }

  #onMutation(op: MutatingOp, path: string): void {
    this.#mutations++;
    this.counts.mutations++;
    if (op === 'create' && path.includes('MANIFEST-') && this.#db !== undefined) this.counts.manifestRotations++;
    if (this.#mutations === this.#crashAtMutation && this.#crash === undefined) {
      this.counts.crashesMidOperation++;
      if (path.endsWith('.sst')) this.counts.crashesAtTable++;
      else if (/MANIFEST-|CURRENT|\.tmp/.test(path)) this.counts.crashesAtManifest++;
      else if (path.endsWith('.log')) this.counts.crashesAtLog++;
      this.#takeCrash(`after ${op} ${path.slice(this.#dir.length + 1)}`);
    }
  }

  /** Takes the power-loss state now. Writes in flight are abandoned: only what was acknowledged by now counts. */
  #takeCrash(where: string): void {
    const mode = this.#crashRng.pick(CRASH_MODES);
    const clone = this.#fs!.inner.crashClone(mode, this.#crashRng);
    const mark = this.#history.mark();
    this.#crash = { clone, mode, mark, where };
    this.counts.crashes++;
    this.#trace('crash', where, mode, mark.issued, mark.acked, mark.syncPrefix);
  }

  /** Lets every abandoned operation finish on the old file system, then closes the old database. */
  async #settleAndClose(): Promise<void> {
    this.#crashAtMutation = Infinity;
    await Promise.allSettled(this.#inflight);
    this.#inflight = [];
    for (const live of this.#snapshots) live.snapshot.release();
    this.#snapshots = [];
    // Open transactions die with the database: their writes were never issued.
    for (const live of this.#transactions) if (live.tx.state === 'open') live.tx.abort();
    this.#transactions = [];
    const db = this.#db;
    this.#db = undefined;
    if (db !== undefined) {
      try {
        await db.close();
      } catch (err) {
        violation(`${this.#where}: close failed: ${String(err)}`);
      }
    }
    this.#throwAsyncViolations();
  }

  /**
   * Opens `state` (crashing inside the open, sometimes, and starting over from
   * that clone), with background compaction off so the files open leaves can be
   * checked, then checks the oracle and closes.
   */
  async #recover(state: CrashableFS, history: History, mark: CrashMark): Promise<{ fs: CrashableFS; recovered: Recovered }> {
    for (let attempt = 0; ; attempt++) {
      const fs = new CrashPointFS(state);
      let crashed: { clone: CrashableFS; mode: CrashMode; at: string } | undefined;
      if (attempt < 3 && this.#rng.bool(0.3)) {
        const crashAt = this.#rng.range(1, 30);
        fs.onMutation = (count, op, path) => {
          if (count !== crashAt) return;
          const mode = this.#crashRng.pick(CRASH_MODES);
          crashed = { clone: fs.inner.crashClone(mode, this.#crashRng), mode, at: `${op} ${path.slice(this.#dir.length + 1)}` };
        };
      }
      const reader = await this.#openReadOnly(state, history, mark, `${this.#where}, read-only open before recovery attempt ${attempt}`);
      let db: DB;
      try {
        db = await DB.open(this.#dir, { ...this.#dbOptions, autoCompaction: false, fs });
      } catch (err) {
        violation(`${this.#where}: open after the crash failed: ${String(err)}`);
      }
      fs.onMutation = undefined;
      const where = `${this.#where}, recovery attempt ${attempt}`;
      if (crashed === undefined) await this.#compareReadOnly(reader, db, where);
      await reader?.db.close();
      if (crashed !== undefined) {
        this.counts.crashes++;
        this.counts.crashesInOpen++;
        this.#trace('crash in recovery', crashed.at, crashed.mode);
        await db.close();
        state = crashed.clone;
        this.#where += ` (crash in recovery after ${crashed.at}, ${crashed.mode})`;
        continue;
      }
      checkFiles(state, this.#dir, db, where);
      const recovered = await checkRecovered(db, history, mark, this.#keys, where);
      this.#trace('recovered', recovered.prefix, recovered.seq, recovered.state.size);
      await db.close();
      return { fs: state, recovered };
    }
  }

  /**
   * Opens the crashed state read-only, failing on any file it would change, and
   * checks it with the crash oracle. Undefined where no database exists yet (a
   * crash while creating it), which recovery must then find empty.
   */
  async #openReadOnly(state: CrashableFS, history: History, mark: CrashMark, where: string): Promise<{ db: DB; view: Recovered } | undefined> {
    const fs = new CrashPointFS(state, (count, op, path) => this.#asyncViolations.push(`${where}: ${op} ${path}: a read-only open changed a file`));
    let db: DB;
    try {
      db = await DB.open(this.#dir, { ...this.#dbOptions, readOnly: true, fs });
    } catch (err) {
      if ((err as { code?: string }).code === 'NOT_FOUND' && history.baseSeq === 0 && mark.syncPrefix === 0) return undefined;
      violation(`${where}: failed: ${String(err)}`);
    }
    this.#throwAsyncViolations();
    const view = await checkRecovered(db, history, mark, this.#keys, where);
    this.#trace('read-only view', view.prefix, view.seq, view.state.size);
    return { db, view };
  }

  /** Recovery finds what the read-only open saw, and the reader still reads it after recovery deleted the logs it replayed. */
  async #compareReadOnly(reader: { db: DB; view: Recovered } | undefined, db: DB, where: string): Promise<void> {
    const seq = Number(db.latestSequence);
    if (reader === undefined) {
      if (seq !== 0) violation(`${where}: the read-only open found no database, recovery found one at sequence ${seq}`);
      return;
    }
    if (reader.view.seq !== seq) violation(`${where}: the read-only open saw sequence ${reader.view.seq}, recovery found ${seq}`);
    const recovered = await readAll(db, `${where}: scan to compare with the read-only open`);
    const diff = describeDiff(reader.view.state, recovered);
    if (diff !== 'no difference') violation(`${where}: recovery found another state than the read-only open: ${diff}`);
    const after = await readAll(reader.db, `${where}: the read-only view after recovery`);
    const kept = describeDiff(reader.view.state, after);
    if (kept !== 'no difference') violation(`${where}: the read-only view changed when recovery deleted files: ${kept}`);
  }

  #countLost(mark: CrashMark, recovered: { recovered: Recovered }): void {
    if (recovered.recovered.prefix < mark.acked) this.counts.unsyncedLost += mark.acked - recovered.recovered.prefix;
  }

  #throwAsyncViolations(): void {
    const found = [...this.#asyncViolations, ...this.#history.asyncViolations];
    if (found.length > 0) violation(`${this.#where}: ${found[0]}`);
  }

  async #step(): Promise<void> {
    const weights = this.#weights;
    let roll = this.#rng.int(weights.reduce((sum, [, weight]) => sum + weight, 0));
    let action: StepAction = 'write';
    for (const [name, weight] of weights) {
      if (roll < weight) {
        action = name;
        break;
      }
      roll -= weight;
    }
    switch (action) {
      case 'write':
        return this.#write();
      case 'read':
        return this.#pointReads();
      case 'scan':
        return this.#scan();
      case 'snapshot':
        return this.#takeSnapshot();
      case 'snapshot-read':
        return this.#readSnapshot();
      case 'flush':
        return this.#background('flush', () => this.#db!.flush());
      case 'compact':
        return this.#compactRange();
      case 'reopen':
        return this.#cleanReopen();
      case 'yield':
        this.#trace('yield');
        await yieldToEventLoop();
        return;
      case 'barrier':
        this.#trace('barrier');
        return this.#barrier();
      case 'checkpoint':
        return this.#checkpoint();
      case 'transaction':
        return this.#transactionStep();
    }
  }

  async #barrier(): Promise<void> {
    const pending = this.#inflight;
    this.#inflight = [];
    await Promise.all(pending);
  }

  async #write(): Promise<void> {
    const write = this.#gen.nextWrite(this.#writeIdNext++);
    const history = this.#history;
    const index = history.issue(write);
    this.counts.writes++;
    this.#trace('write', index, write.writeId, write.kind, write.sync, write.ops.map((op) => `${describeOp(op)}:${op.key.toString('latin1')}`).join(','));
    const done = this.#issue(write).then(
      () => {
        history.ack(index);
        this.counts.acked++;
      },
      (err: unknown) => {
        this.#asyncViolations.push(`write ${index} (w${write.writeId}) rejected: ${String(err)}`);
      },
    );
    this.#inflight.push(done);
    if (!this.#rng.bool(this.#concurrency)) await this.#barrier();
  }

  /**
   * One step of a transaction (transactions.ts): open one (up to three live), or
   * on a live one read, scan, put, delete, delete a range, commit or abort. Live transactions
   * span steps, so writes land between their snapshots and their commits.
   */
  async #transactionStep(): Promise<void> {
    const live = this.#transactions;
    if (live.length === 0 || (live.length < 3 && this.#rng.bool(0.25))) {
      const isolation = this.#rng.bool() ? 'snapshot' : 'serializable';
      const transaction = new SimTransaction(this.#db!.transaction({ isolation }), isolation, this.#history, this.#writeIdNext++);
      live.push(transaction);
      this.#trace('transaction', transaction.writeId, isolation, transaction.snapshotSeq);
      return;
    }
    const index = this.#rng.int(live.length);
    const transaction = live[index]!;
    const where = `${this.#where}: transaction w${transaction.writeId} at seq ${transaction.snapshotSeq}`;
    const roll = this.#rng.int(100);
    if (roll < 20) {
      const key = this.#gen.randomKey();
      this.#trace('transaction get', transaction.writeId, key.toString('latin1'));
      await transaction.get(key, where);
    } else if (roll < 30) {
      const [low, high] = [this.#gen.randomKey(), this.#gen.randomKey()].sort(Buffer.compare);
      const bounded = this.#rng.bool(0.7);
      const count = await transaction.scan(bounded ? low : undefined, bounded ? high : undefined, this.#rng.bool(), where);
      this.#trace('transaction scan', transaction.writeId, count);
    } else if (roll < 60) {
      const key = this.#gen.randomKey();
      const value = encodeValue(key, transaction.writeId, transaction.nextOpIndex(), this.#rng.range(0, 64), this.#gen.shape.chunkShapedBytes === true);
      this.#trace('transaction put', transaction.writeId, key.toString('latin1'));
      transaction.put(key, value);
    } else if (roll < 67) {
      const key = this.#gen.randomKey();
      this.#trace('transaction delete', transaction.writeId, key.toString('latin1'));
      transaction.delete(key);
    } else if (roll < 70) {
      const [start, end] = [this.#gen.randomKey(), this.#gen.randomKey()].sort(Buffer.compare) as [Buffer, Buffer];
      this.#trace('transaction deleteRange', transaction.writeId, start.toString('latin1'), end.toString('latin1'));
      transaction.deleteRange(start, end);
    } else if (roll < 78) {
      live.splice(index, 1);
      this.#trace('transaction abort', transaction.writeId);
      transaction.tx.abort();
      this.counts.transactionAborts++;
    } else {
      live.splice(index, 1);
      await this.#commit(transaction);
    }
  }

  /** Commits `transaction` as its prediction says it must end: a write of the history, or a CONFLICT. */
  async #commit(transaction: SimTransaction): Promise<void> {
    const sync = this.#rng.bool(this.#gen.shape.syncProbability);
    const write = transaction.write(sync);
    const conflict = transaction.mustConflict();
    const where = `${this.#where}: commit of transaction w${transaction.writeId} (${transaction.isolation}, snapshot ${transaction.snapshotSeq})`;
    let done: Promise<void>;
    if (conflict !== undefined) {
      this.#trace('transaction commit, must conflict', transaction.writeId, conflict);
      done = transaction.tx.commit({ sync }).then(
        () => void this.#asyncViolations.push(`${where}: committed, yet ${conflict}`),
        (err: unknown) => {
          if (isConflict(err)) this.counts.transactionConflicts++;
          else this.#asyncViolations.push(`${where}: rejected with ${String(err)}, expected CONFLICT (${conflict})`);
        },
      );
    } else if (write.ops.length === 0) {
      // Read-only: nothing enters the history.
      this.#trace('transaction commit, read-only', transaction.writeId);
      done = transaction.tx.commit({ sync }).then(
        () => void this.counts.transactionCommits++,
        (err: unknown) => void this.#asyncViolations.push(`${where}: a read-only commit nothing conflicts with was rejected: ${String(err)}`),
      );
    } else {
      const history = this.#history;
      const index = history.issue(write);
      this.counts.writes++;
      this.#trace('transaction commit', index, transaction.writeId, sync, write.ops.map((op) => `${op.type}:${op.key.toString('latin1')}`).join(','));
      done = transaction.tx.commit({ sync }).then(
        () => {
          history.ack(index);
          this.counts.acked++;
          this.counts.transactionCommits++;
        },
        (err: unknown) => void this.#asyncViolations.push(`${where}: rejected with ${String(err)}; nothing issued since its snapshot conflicts`),
      );
    }
    this.#inflight.push(done);
    if (!this.#rng.bool(this.#concurrency)) await this.#barrier();
  }

  #issue(write: SimWrite): Promise<void> {
    const db = this.#db!;
    const options = { sync: write.sync };
    if (write.kind === 'batch') return db.write(write.ops.map(batchOpOf), options);
    const op = batchOpOf(write.ops[0]!);
    if (op.type === 'put') return db.put(op.key, op.value, op.expiresAt === undefined ? options : { ...options, expiresAt: op.expiresAt });
    if (op.type === 'deleteRange') return db.deleteRange(op.start, op.end, options);
    return db.delete(op.key, options);
  }

  /** Starts a flush or compaction without waiting for it; a failure is a violation. */
  #background(what: string, run: () => Promise<void>): void {
    this.#trace(what);
    this.#inflight.push(run().catch((err: unknown) => void this.#asyncViolations.push(`${what} failed: ${String(err)}`)));
  }

  #compactRange(): void {
    const bounds = this.#rng.bool(0.5) ? [] : [this.#gen.randomKey(), this.#gen.randomKey()].sort(Buffer.compare);
    this.#background(`compactRange ${bounds.map((b) => b.toString('latin1')).join('..')}`, () => this.#db!.compactRange(bounds[0], bounds[1]));
  }

  async #pointReads(): Promise<void> {
    const db = this.#db!;
    const keys = Array.from({ length: this.#rng.range(1, 4) }, () => this.#gen.randomKey());
    this.#trace('get', Number(db.latestSequence), keys.map((k) => k.toString('latin1')).join(','));
    this.counts.reads += keys.length;
    const got = await checkPointReadsLive(db, keys, this.#history, this.#where);
    this.#trace('got', Number(db.latestSequence), got.map(describeValue).join(','));
  }

  async #scan(): Promise<void> {
    const db = this.#db!;
    const options: { gte?: Buffer; lt?: Buffer; reverse?: boolean; limit?: number } = {};
    if (this.#rng.bool(0.5)) {
      const [low, high] = [this.#gen.randomKey(), this.#gen.randomKey()].sort(Buffer.compare);
      options.gte = low!;
      options.lt = high!;
    }
    if (this.#rng.bool(0.5)) options.reverse = true;
    if (this.#rng.bool(0.2)) options.limit = this.#rng.range(0, 20);
    const seq = Number(db.latestSequence);
    const expected = expectedEntries(this.#history.stateAtSeq(seq), options);
    this.#trace('scan', seq, expected.length);
    this.counts.scans++;
    await checkScan(db, options, expected, `${this.#where}: at seq ${seq}`);
  }

  #takeSnapshot(): void {
    if (this.#snapshots.length >= 3) return;
    const db = this.#db!;
    const snapshot = db.snapshot();
    const seq = Number(db.latestSequence);
    if (snapshot.sequence !== BigInt(seq)) violation(`${this.#where}: snapshot at ${snapshot.sequence}, latestSequence ${seq}`);
    this.#snapshots.push({ snapshot, seq, state: new Map(this.#history.stateAtSeq(seq)) });
    this.#trace('snapshot', seq);
  }

  async #readSnapshot(): Promise<void> {
    if (this.#snapshots.length === 0) return;
    const index = this.#rng.int(this.#snapshots.length);
    const live = this.#snapshots[index]!;
    const release = this.#rng.bool(0.5);
    if (release) this.#snapshots.splice(index, 1);
    const where = `${this.#where}: snapshot at seq ${live.seq}`;
    this.#trace('snapshot read', live.seq, release);
    this.counts.snapshotReads++;
    const reverse = this.#rng.bool(0.5);
    const keys = Array.from({ length: 3 }, () => this.#gen.randomKey());
    await Promise.all([
      checkScan(this.#db!, { snapshot: live.snapshot, reverse }, expectedEntries(live.state, { reverse }), where),
      checkPointReads(this.#db!, keys, live.state, where, { snapshot: live.snapshot }),
    ]);
    if (release) live.snapshot.release();
  }

  /**
   * Starts db.checkpoint into a directory of its own, in the background, while
   * writes go on. Once it resolves it must open as a complete database equal to a
   * prefix holding every write acknowledged before the call.
   */
  #checkpoint(): void {
    const target = `${this.#dir}-checkpoint-${++this.#checkpointCount}`;
    const history = this.#history;
    const atCall = history.mark();
    const fs = this.#fs!.inner;
    const where = `${this.#where}: checkpoint ${target}`;
    this.#checkpoints.push({ target, atCall });
    this.counts.checkpoints++;
    this.#background(`checkpoint ${target}`, async () => {
      await this.#db!.checkpoint(target);
      const outcome = await checkCheckpointTarget(fs, target, history, atCall, history.mark().issued, this.#keys, this.#dbOptions, where);
      if (outcome !== 'complete') violation(`${where}: resolved, but the target does not open as a database`);
    });
  }

  /** In a crash state: each checkpoint of the epoch is either not a database or complete. */
  async #checkCheckpointsAfterCrash(fs: CrashableFS, mark: CrashMark): Promise<void> {
    for (const { target, atCall } of this.#checkpoints.splice(0)) {
      const outcome = await checkCheckpointTarget(fs, target, this.#history, atCall, mark.issued, this.#keys, this.#dbOptions, `${this.#where}: checkpoint ${target}`);
      if (outcome === 'complete') this.counts.checkpointsCompleteAfterCrash++;
      this.#trace('checkpoint after crash', target, outcome);
    }
  }

  /** Close and reopen: everything issued was acknowledged and close synced the log, so all of it must be there. */
  async #cleanReopen(): Promise<void> {
    this.#trace('reopen');
    this.counts.cleanReopens++;
    await this.#settleAndClose();
    const mark = this.#history.mark();
    if (mark.acked !== mark.issued) violation(`${this.#where}: ${mark.issued - mark.acked} writes still unacknowledged after close`);
    const where = this.#where;
    this.#where += ' (clean reopen)';
    const recovered = await this.#recover(this.#fs!.inner, this.#history, { ...mark, syncPrefix: mark.issued });
    this.#history = new History(recovered.recovered.state, recovered.recovered.seq);
    // Every checkpoint of the epoch resolved (and was checked) before the close.
    this.#checkpoints = [];
    const crashAt = this.#crashAtMutation;
    await this.#openForWorkload(recovered.fs, 0.1);
    this.#crashAtMutation = crashAt;
    this.#where = where;
  }
}

/** Runs one seed. Never throws for a contract breach: the result carries it. */
export async function simulateSeed(seed: number, config: SimConfig = DEFAULT_SIM_CONFIG, keepTrace = false): Promise<SimResult> {
  const sim = new Simulation(seed, config, keepTrace);
  let message: string | undefined;
  try {
    await sim.run();
  } catch (err) {
    const detail = err instanceof Violation ? err.message : `unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`;
    message = `seed ${seed}: ${detail}`;
  }
  const result: SimResult = { seed, traceHash: sim.traceHash, counts: sim.counts };
  if (message !== undefined) result.violation = message;
  if (sim.trace !== undefined) result.trace = sim.trace;
  return result;
}

/** Adds `counts` into `total`. */
export function addCounts(total: SimCounts, counts: SimCounts): void {
  for (const name of Object.keys(total) as (keyof SimCounts)[]) total[name] += counts[name];
}

