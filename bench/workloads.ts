/**
 * The db_bench-style workloads: what each needs before it starts, what it leaves
 * behind, what its "ops" count, and the loop that drives an engine through it.
 *
 * Key orders come from seeded permutations (random.ts), one per workload and the
 * same for every engine, so every random-order workload touches each key once.
 * Point operations run through `runOps`, which keeps a fixed number in flight and
 * records each operation's latency (issue to resolution) in a histogram.
 */
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { BenchConfig, WorkloadName } from './config.js';
import type { Engine, RangeReader, ReadChunk } from './engines/engine.js';
import { KEY_SIZE_BYTES, ValueSource, keyFor, missingKeyFor } from './keys.js';
import type { Progress } from './monitor.js';
import { Permutation, Prng, deriveSeed } from './random.js';
import type { LatencyHistogram } from './stats.js';

/** The database a workload starts from. */
export type Needs = 'empty' | 'filled' | 'filled-compacted';
/**
 * What the workload leaves: `filled` (its database holds every key: the read
 * workloads can use it), `unchanged`, `uncompacted` (same keys, new versions),
 * `spent` (keys deleted) or `scratch` (nobody else needs it).
 */
export type Leaves = 'filled' | 'unchanged' | 'uncompacted' | 'spent' | 'scratch';

export interface WorkloadSpec {
  name: WorkloadName;
  description: string;
  needs: Needs;
  leaves: Leaves;
  /** Whether the workload writes (the report gives it disk usage and write amplification). */
  writes: boolean;
  /** Whether its writes are durable (sync) ones: engines open in their durable mode for it. */
  durableWrites?: boolean;
  /** What one "op" of ops/s is. */
  opUnit: string;
  /** What one latency sample times. */
  latencyUnit: string;
  /** Whether it needs transactions: engines without them (`info.api.transaction`) skip it. */
  transactions?: boolean;
}

/** The value size of fillrandom-large: the size at which issue 17's write goals are set. */
export const LARGE_VALUE_BYTES = 1000;

export const WORKLOADS: Record<WorkloadName, WorkloadSpec> = {
  fillseq: {
    name: 'fillseq',
    description: 'put --num keys in ascending order into an empty database (non-sync, --concurrency in flight)',
    needs: 'empty',
    leaves: 'scratch',
    writes: true,
    opUnit: 'put',
    latencyUnit: 'put',
  },
  fillrandom: {
    name: 'fillrandom',
    description: 'put --num keys in random order into an empty database (non-sync, --concurrency in flight); the read workloads reuse it',
    needs: 'empty',
    leaves: 'filled',
    writes: true,
    opUnit: 'put',
    latencyUnit: 'put',
  },
  overwrite: {
    name: 'overwrite',
    description: 'put a new value under each of the --num existing keys, in random order (non-sync)',
    needs: 'filled',
    leaves: 'uncompacted',
    writes: true,
    opUnit: 'put',
    latencyUnit: 'put',
  },
  readrandom: {
    name: 'readrandom',
    description: 'get --reads existing keys in random order, from the filled and compacted database',
    needs: 'filled-compacted',
    leaves: 'unchanged',
    writes: false,
    opUnit: 'get',
    latencyUnit: 'get',
  },
  'readrandom-sync': {
    name: 'readrandom-sync',
    description: "readrandom through each engine's synchronous get (shale getSync, classic-level getSync, lmdb get)",
    needs: 'filled-compacted',
    leaves: 'unchanged',
    writes: false,
    opUnit: 'get',
    latencyUnit: 'get',
  },
  readmissing: {
    name: 'readmissing',
    description: 'get --reads keys that are absent but fall inside the key range',
    needs: 'filled-compacted',
    leaves: 'unchanged',
    writes: false,
    opUnit: 'get',
    latencyUnit: 'get',
  },
  readseq: {
    name: 'readseq',
    description: 'one forward scan of the whole database',
    needs: 'filled-compacted',
    leaves: 'unchanged',
    writes: false,
    opUnit: 'entry',
    latencyUnit: 'chunk of 1000 entries',
  },
  readreverse: {
    name: 'readreverse',
    description: 'one reverse scan of the whole database',
    needs: 'filled-compacted',
    leaves: 'unchanged',
    writes: false,
    opUnit: 'entry',
    latencyUnit: 'chunk of 1000 entries',
  },
  seekrandom: {
    name: 'seekrandom',
    description: 'seek to --reads random existing keys, reading 10 entries from each',
    needs: 'filled-compacted',
    leaves: 'unchanged',
    writes: false,
    opUnit: 'seek + 10 entries',
    latencyUnit: 'seek + 10 entries',
  },
  deleterandom: {
    name: 'deleterandom',
    description: 'delete each of the --num keys in random order (non-sync)',
    needs: 'filled',
    leaves: 'spent',
    writes: true,
    opUnit: 'delete',
    latencyUnit: 'delete',
  },
  fillbatch: {
    name: 'fillbatch',
    description: 'put --num keys in random order in atomic batches of 100, one batch in flight (non-sync)',
    needs: 'empty',
    leaves: 'scratch',
    writes: true,
    opUnit: 'entry',
    latencyUnit: 'batch of 100',
  },
  'fillrandom-large': {
    name: 'fillrandom-large',
    description: `fillrandom with ${LARGE_VALUE_BYTES}-byte values whatever --value-size says (at --num 1000000, 1 GiB: compaction has to carry the load)`,
    needs: 'empty',
    leaves: 'scratch',
    writes: true,
    opUnit: 'put',
    latencyUnit: 'put',
  },
  fillsync: {
    name: 'fillsync',
    description: 'put --sync-writes keys in random order with durable (sync) writes, one at a time',
    needs: 'empty',
    leaves: 'scratch',
    writes: true,
    durableWrites: true,
    opUnit: 'put',
    latencyUnit: 'put',
  },
  txnrandom: {
    name: 'txnrandom',
    description:
      'read-modify-write of a random key among the first 10,000 of the filled database, one transaction each (non-sync), --concurrency in flight; conflicts are retried and counted',
    needs: 'filled',
    leaves: 'uncompacted',
    writes: true,
    transactions: true,
    opUnit: 'commit',
    latencyUnit: 'transaction (retries included)',
  },
  'fillsync-concurrent': {
    name: 'fillsync-concurrent',
    description: 'put --sync-writes keys in random order with durable (sync) writes, 64 in flight',
    needs: 'empty',
    leaves: 'scratch',
    writes: true,
    durableWrites: true,
    opUnit: 'put',
    latencyUnit: 'put',
  },
  clear: {
    name: 'clear',
    description: "clear() every one of the --num keys of the filled database: shale's one range delete, classic-level's clear(), lmdb's clearAsync()",
    needs: 'filled',
    leaves: 'spent',
    writes: true,
    opUnit: 'key cleared',
    latencyUnit: 'clear()',
  },
  'clear-scan': {
    name: 'clear-scan',
    description: 'clear() the filled database (untimed), then one full forward scan of it, which must find nothing',
    needs: 'filled',
    leaves: 'spent',
    writes: false,
    opUnit: 'scan',
    latencyUnit: 'scan',
  },
  'clear-compacted-scan': {
    name: 'clear-compacted-scan',
    description: 'clear() the filled database and compact it (both untimed), then one full forward scan, which must find nothing',
    needs: 'filled',
    leaves: 'spent',
    writes: false,
    opUnit: 'scan',
    latencyUnit: 'scan',
  },
};

/** What one workload (or setup phase) did. */
export interface WorkloadOutcome {
  /** Operations counted for ops/s (entries for scans and batches). */
  ops: number;
  /** Key and value bytes written, or returned by reads. */
  userBytes: number;
  /** Reads that found their key (point reads, seeks), or entries scanned. */
  found: number | undefined;
  /** What `found` should be if the engine is right. */
  expectedFound: number | undefined;
  /** Transactions: conflicts met (each retried) over the commits counted in `ops`. */
  conflicts?: number;
}

export interface WorkloadContext {
  engine: Engine;
  config: BenchConfig;
  progress: Progress;
  histogram: LatencyHistogram;
}

/**
 * Sync operations (lmdb's reads) run this many in a row before giving the event loop
 * a turn, so timers (progress, sampling, the delay monitor) still fire. Awaited
 * operations yield only with --yield-every: whether an engine's promises let the
 * loop turn is part of what is measured.
 */
const SYNC_RUN_MAX = 256;

function isPromise(value: unknown): value is Promise<unknown> {
  return typeof (value as { then?: unknown } | null | undefined)?.then === 'function';
}

/**
 * Runs `op(index, worker)` for every index in `[0, count)`, `concurrency` at a time.
 * A Promise result is awaited; a plain one is not (sync reads stay sync), but the
 * event loop gets a turn every `SYNC_RUN_MAX` of them so timers still fire.
 */
async function runOps<T>(
  context: WorkloadContext,
  count: number,
  concurrency: number,
  op: (index: number, worker: number) => T | Promise<T>,
  after?: (value: T) => void,
): Promise<void> {
  const { histogram, progress } = context;
  const { yieldEvery } = context.config;
  let nextIndex = 0;
  const worker = async (workerIndex: number): Promise<void> => {
    let syncRun = 0;
    let asyncRun = 0;
    let started = process.hrtime.bigint();
    while (nextIndex < count) {
      const result = op(nextIndex++, workerIndex);
      const wasPromise = isPromise(result);
      const value = wasPromise ? await result : result;
      const ended = process.hrtime.bigint();
      histogram.record(Number(ended - started));
      progress.done++;
      after?.(value as T);
      started = ended;
      const yieldNow = wasPromise ? yieldEvery > 0 && ++asyncRun >= yieldEvery : ++syncRun >= SYNC_RUN_MAX;
      if (yieldNow) {
        syncRun = 0;
        asyncRun = 0;
        await yieldToEventLoop();
        started = process.hrtime.bigint();
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, (_, workerIndex) => worker(workerIndex)));
}

function permutationFor(config: BenchConfig, label: string): Permutation {
  return new Permutation(config.num, deriveSeed(config.seed, label));
}

function valuesFor(config: BenchConfig, valueSizeBytes = config.valueSizeBytes): ValueSource {
  return new ValueSource(valueSizeBytes, deriveSeed(config.seed, 'values'));
}

/** Single non-sync puts, `order` giving the key index of each. */
async function fill(context: WorkloadContext, order: (index: number) => number, valueSizeBytes = context.config.valueSizeBytes): Promise<WorkloadOutcome> {
  const { config, engine } = context;
  const values = valuesFor(config, valueSizeBytes);
  await runOps(context, config.num, config.writeConcurrency, (index) => engine.put(keyFor(order(index)), values.next()));
  return { ops: config.num, userBytes: config.num * (KEY_SIZE_BYTES + valueSizeBytes), found: undefined, expectedFound: undefined };
}

/** The fillrandom workload, also run untimed to prepare a database for the others. */
export function fillRandom(context: WorkloadContext): Promise<WorkloadOutcome> {
  const permutation = permutationFor(context.config, 'fillrandom');
  return fill(context, (index) => permutation.at(index));
}

async function fillSync(context: WorkloadContext, concurrency: number, label: string): Promise<WorkloadOutcome> {
  const { config, engine } = context;
  const values = valuesFor(config);
  const permutation = permutationFor(config, label);
  const count = config.syncWrites;
  await runOps(context, count, concurrency, (index) => engine.putDurable(keyFor(permutation.at(index % config.num)), values.next()));
  return { ops: count, userBytes: count * (KEY_SIZE_BYTES + config.valueSizeBytes), found: undefined, expectedFound: undefined };
}

async function fillBatch(context: WorkloadContext): Promise<WorkloadOutcome> {
  const { config, engine, histogram, progress } = context;
  const values = valuesFor(config);
  const permutation = permutationFor(config, 'fillbatch');
  for (let first = 0; first < config.num; first += config.batchEntries) {
    const entries: [Buffer, Buffer][] = [];
    for (let index = first; index < Math.min(config.num, first + config.batchEntries); index++) {
      entries.push([keyFor(permutation.at(index)), values.next()]);
    }
    const started = process.hrtime.bigint();
    await engine.writeBatch(entries);
    histogram.record(Number(process.hrtime.bigint() - started));
    progress.done += entries.length;
  }
  return { ops: config.num, userBytes: config.num * (KEY_SIZE_BYTES + config.valueSizeBytes), found: undefined, expectedFound: undefined };
}

async function deleteRandom(context: WorkloadContext): Promise<WorkloadOutcome> {
  const { config, engine } = context;
  const permutation = permutationFor(config, 'deleterandom');
  await runOps(context, config.num, config.writeConcurrency, (index) => engine.delete(keyFor(permutation.at(index))));
  return { ops: config.num, userBytes: config.num * KEY_SIZE_BYTES, found: undefined, expectedFound: undefined };
}

/**
 * Point reads of `keyAt(index)` for `--reads` operations, through `engine.get`
 * or, with `sync`, through `engine.getSync` (one at a time whatever
 * --read-concurrency says: a synchronous call has nothing in flight).
 */
async function readPoints(context: WorkloadContext, keyAt: (index: number) => Buffer, expectFound: boolean, sync = false): Promise<WorkloadOutcome> {
  const { config, engine } = context;
  let found = 0;
  let userBytes = 0;
  await runOps(
    context,
    config.reads,
    sync ? 1 : config.readConcurrency,
    sync ? (index) => engine.getSync(keyAt(index)) : (index) => engine.get(keyAt(index)),
    (value) => {
      if (value === undefined) return;
      found++;
      userBytes += KEY_SIZE_BYTES + value.length;
    },
  );
  return { ops: config.reads, userBytes, found, expectedFound: expectFound ? config.reads : 0 };
}

async function scan(context: WorkloadContext, reverse: boolean): Promise<WorkloadOutcome> {
  const { config, engine, histogram, progress } = context;
  const reader = engine.reader(reverse);
  let entries = 0;
  let userBytes = 0;
  try {
    for (;;) {
      const started = process.hrtime.bigint();
      const pending = reader.read(config.scanChunkEntries);
      const chunk: ReadChunk = isPromise(pending) ? await pending : pending;
      if (chunk.entries === 0) break;
      histogram.record(Number(process.hrtime.bigint() - started));
      entries += chunk.entries;
      userBytes += chunk.bytes;
      progress.done += chunk.entries;
      if (!isPromise(pending) || config.yieldEvery > 0) await yieldToEventLoop();
    }
  } finally {
    await reader.close();
  }
  return { ops: entries, userBytes, found: entries, expectedFound: config.num };
}

async function seekRandom(context: WorkloadContext): Promise<WorkloadOutcome> {
  const { config, engine } = context;
  const permutation = permutationFor(config, 'seekrandom');
  const readers: RangeReader[] = Array.from({ length: Math.min(config.readConcurrency, config.reads) }, () => engine.reader(false));
  let found = 0;
  let userBytes = 0;
  try {
    await runOps(
      context,
      config.reads,
      config.readConcurrency,
      (index, worker) => readers[worker]!.seekRead(keyFor(permutation.at(index % config.num)), config.seekNexts),
      (chunk) => {
        if (chunk.entries > 0) found++;
        userBytes += chunk.bytes;
      },
    );
  } finally {
    for (const reader of readers) await reader.close();
  }
  return { ops: config.reads, userBytes, found, expectedFound: config.reads };
}

/** One `clear()` of all --num keys, timed; ops/s counts the keys cleared. */
async function clearAll(context: WorkloadContext): Promise<WorkloadOutcome> {
  const { config, engine, histogram, progress } = context;
  const started = process.hrtime.bigint();
  await engine.clear();
  histogram.record(Number(process.hrtime.bigint() - started));
  progress.done = config.num;
  return { ops: config.num, userBytes: 0, found: undefined, expectedFound: undefined };
}

/** `clear()` (and with `compact`, a compaction) untimed, then one full scan timed; the scan must find nothing. */
async function scanAfterClear(context: WorkloadContext, compact: boolean): Promise<WorkloadOutcome> {
  const { engine, histogram, progress } = context;
  await engine.clear();
  if (compact) await engine.compact();
  const reader = engine.reader(false);
  let entries = 0;
  const started = process.hrtime.bigint();
  try {
    for (;;) {
      const pending = reader.read(context.config.scanChunkEntries);
      const chunk: ReadChunk = isPromise(pending) ? await pending : pending;
      if (chunk.entries === 0) break;
      entries += chunk.entries;
    }
  } finally {
    await reader.close();
  }
  histogram.record(Number(process.hrtime.bigint() - started));
  progress.done = 1;
  return { ops: 1, userBytes: 0, found: entries, expectedFound: 0 };
}

/** Keys txnrandom draws from: few enough that 64 transactions in flight collide now and then. */
const TXN_KEYS = 10_000;

/**
 * txnrandom: each op reads a random key and writes it back changed (its first 8
 * bytes become the op's index), in one transaction, retried until it commits.
 */
async function transactionRandom(context: WorkloadContext): Promise<WorkloadOutcome> {
  const { config, engine } = context;
  const readModifyWrite = engine.readModifyWrite;
  if (readModifyWrite === undefined) throw new Error(`${engine.info.name} has no transactions`);
  // Random keys with repeats (a permutation would keep any 64 in a row distinct); the same stream for every engine.
  const random = new Prng(deriveSeed(config.seed, 'txnrandom'));
  const keyCount = Math.min(TXN_KEYS, config.num);
  let conflicts = 0;
  let found = 0;
  await runOps(
    context,
    config.transactions,
    config.writeConcurrency,
    (index) =>
      readModifyWrite.call(engine, keyFor(random.nextBelow(keyCount)), (value) => {
        if (value !== undefined) found++;
        const next = Buffer.alloc(config.valueSizeBytes);
        if (value !== undefined) next.set(value.subarray(0, config.valueSizeBytes));
        next.writeDoubleLE(index, 0);
        return next;
      }),
    (met) => (conflicts += met),
  );
  return { ops: config.transactions, userBytes: config.transactions * (KEY_SIZE_BYTES + config.valueSizeBytes), found: undefined, expectedFound: undefined, conflicts };
}

/** Total operations `name` will count (for progress). */
export function operationCount(name: WorkloadName, config: BenchConfig): number {
  switch (name) {
    case 'readrandom':
    case 'readrandom-sync':
    case 'readmissing':
    case 'seekrandom':
      return config.reads;
    case 'fillsync':
    case 'fillsync-concurrent':
      return config.syncWrites;
    case 'clear-scan':
    case 'clear-compacted-scan':
      return 1;
    case 'txnrandom':
      return config.transactions;
    default:
      return config.num;
  }
}

/** Drives `context.engine` through workload `name`. */
export function runWorkload(name: WorkloadName, context: WorkloadContext): Promise<WorkloadOutcome> {
  const { config } = context;
  switch (name) {
    case 'fillseq':
      return fill(context, (index) => index);
    case 'fillrandom':
      return fillRandom(context);
    case 'overwrite': {
      const permutation = permutationFor(config, 'overwrite');
      return fill(context, (index) => permutation.at(index));
    }
    case 'readrandom': {
      const permutation = permutationFor(config, 'readrandom');
      return readPoints(context, (index) => keyFor(permutation.at(index % config.num)), true);
    }
    case 'readrandom-sync': {
      // The same key order as readrandom, so the two differ only in the API.
      const permutation = permutationFor(config, 'readrandom');
      return readPoints(context, (index) => keyFor(permutation.at(index % config.num)), true, true);
    }
    case 'readmissing': {
      const permutation = permutationFor(config, 'readmissing');
      return readPoints(context, (index) => missingKeyFor(permutation.at(index % config.num), config.num), false);
    }
    case 'readseq':
      return scan(context, false);
    case 'readreverse':
      return scan(context, true);
    case 'seekrandom':
      return seekRandom(context);
    case 'deleterandom':
      return deleteRandom(context);
    case 'fillbatch':
      return fillBatch(context);
    case 'fillrandom-large': {
      const permutation = permutationFor(config, 'fillrandom-large');
      return fill(context, (index) => permutation.at(index), LARGE_VALUE_BYTES);
    }
    case 'fillsync':
      return fillSync(context, 1, 'fillsync');
    case 'fillsync-concurrent':
      return fillSync(context, config.syncConcurrency, 'fillsync-concurrent');
    case 'clear':
      return clearAll(context);
    case 'clear-scan':
      return scanAfterClear(context, false);
    case 'clear-compacted-scan':
      return scanAfterClear(context, true);
    case 'txnrandom':
      return transactionRandom(context);
  }
}
