/**
 * The benchmark's command line: flags, defaults and their checks, in one place.
 * Parsed with `node:util` parseArgs; unknown flags are errors.
 */
import { parseArgs } from 'node:util';

export const ENGINE_NAMES = ['shale', 'classic-level', 'lmdb'] as const;
export type EngineName = (typeof ENGINE_NAMES)[number];

/** Every workload, in the order a default run takes them (db_bench's order, roughly). */
export const WORKLOAD_NAMES = [
  'fillseq',
  'fillrandom',
  'overwrite',
  'readrandom',
  'readrandom-sync',
  'readmissing',
  'readseq',
  'readreverse',
  'seekrandom',
  'deleterandom',
  'fillbatch',
  'fillrandom-large',
  'fillsync',
  'fillsync-concurrent',
  'clear',
  'clear-scan',
  'clear-compacted-scan',
  'txnrandom',
] as const;
export type WorkloadName = (typeof WORKLOAD_NAMES)[number];

export interface BenchConfig {
  /** Entries written by the fills, and keys in the database the reads use. */
  num: number;
  valueSizeBytes: number;
  /** Operations of readrandom, readrandom-sync, readmissing and seekrandom. Default `num`. */
  reads: number;
  /** Writes of fillsync and fillsync-concurrent. */
  syncWrites: number;
  /** Non-sync single writes (fillseq, fillrandom, overwrite, deleterandom) kept in flight. */
  writeConcurrency: number;
  /** Point reads and seeks kept in flight (1: each awaited before the next, like db_bench's one thread). */
  readConcurrency: number;
  /**
   * Give the event loop a turn (setImmediate) after this many awaited operations per
   * worker, and after every scan chunk; 0: never (a tight await loop, like db_bench).
   * Operations that answer synchronously (lmdb's reads) always yield every 256.
   */
  yieldEvery: number;
  /** Transactions of txnrandom. */
  transactions: number;
  /** Sync writes in flight in fillsync-concurrent. */
  syncConcurrency: number;
  /** Entries per batch in fillbatch. */
  batchEntries: number;
  /** Entries read after each seek in seekrandom. */
  seekNexts: number;
  /** Entries per `nextv` call (or chunk, for lmdb) in readseq and readreverse. */
  scanChunkEntries: number;
  engines: EngineName[];
  workloads: WorkloadName[];
  seed: number;
  jsonPath: string | undefined;
  /** Parent of the run's temporary directory. */
  dir: string | undefined;
  /** Keep the databases after the run (their path is printed). */
  keep: boolean;
  /** Run the disk probe first. */
  probe: boolean;
}

export const USAGE = `Usage: npm run bench -- [flags]

  --num <n>                 entries per fill and keys in the read database (default 1000000)
  --value-size <bytes>      value size (default 100; keys are 16 bytes; fillrandom-large always 1000)
  --reads <n>               operations of readrandom(-sync), readmissing, seekrandom (default --num)
  --sync-writes <n>         writes of fillsync and fillsync-concurrent (default 10000)
  --transactions <n>        transactions of txnrandom (default 100000; --concurrency in flight)
  --concurrency <n>         non-sync single writes in flight (default 64)
  --read-concurrency <n>    point reads and seeks in flight (default 1)
  --yield-every <n>         give the event loop a turn every n awaited ops (default 0: never)
  --engines <list>          comma-separated: ${ENGINE_NAMES.join(',')} (default all)
  --workloads <list>        comma-separated, run in the order given (default all):
                            ${WORKLOAD_NAMES.join(',')}
  --seed <n>                seed of key orders and values (default 301)
  --json <path>             also write raw figures as JSON there, and an SVG chart beside it
  --dir <path>              where to make the run's temporary directory (default os.tmpdir())
  --keep                    keep the databases instead of removing them
  --no-probe                skip the disk probe
  --help                    this text
`;

/** Keys are 16 decimal digits; the key-order permutation works up to 2^52. 10^15 keeps clear of both. */
const NUM_MAX = 10 ** 15;

function positiveInteger(flag: string, text: string | undefined, fallback: number, max = Number.MAX_SAFE_INTEGER): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 1 || value > max) throw new Error(`--${flag} must be an integer from 1 to ${max}, got ${text}`);
  return value;
}

function listOf<T extends string>(flag: string, text: string | undefined, known: readonly T[]): T[] {
  if (text === undefined) return [...known];
  const names = text.split(',').map((name) => name.trim()).filter((name) => name.length > 0);
  for (const name of names) {
    if (!(known as readonly string[]).includes(name)) throw new Error(`--${flag}: unknown ${JSON.stringify(name)}; known: ${known.join(', ')}`);
  }
  if (names.length === 0) throw new Error(`--${flag} names nothing`);
  return [...new Set(names)] as T[];
}

/** Parses `argv` (without node and the script); returns undefined when `--help` asked for the usage. */
export function parseConfig(argv: string[]): BenchConfig | undefined {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      num: { type: 'string' },
      'value-size': { type: 'string' },
      reads: { type: 'string' },
      'sync-writes': { type: 'string' },
      transactions: { type: 'string' },
      concurrency: { type: 'string' },
      'read-concurrency': { type: 'string' },
      'yield-every': { type: 'string' },
      engines: { type: 'string' },
      workloads: { type: 'string' },
      seed: { type: 'string' },
      json: { type: 'string' },
      dir: { type: 'string' },
      keep: { type: 'boolean', default: false },
      'no-probe': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) return undefined;
  const num = positiveInteger('num', values.num, 1_000_000, NUM_MAX);
  const seed = values.seed === undefined ? 301 : Number(values.seed);
  if (!Number.isSafeInteger(seed) || seed < 0) throw new Error(`--seed must be a non-negative integer, got ${values.seed}`);
  return {
    num,
    valueSizeBytes: positiveInteger('value-size', values['value-size'], 100, 16 * 1024 * 1024),
    reads: positiveInteger('reads', values.reads, num),
    syncWrites: positiveInteger('sync-writes', values['sync-writes'], 10_000),
    transactions: positiveInteger('transactions', values.transactions, 100_000),
    writeConcurrency: positiveInteger('concurrency', values.concurrency, 64, 100_000),
    readConcurrency: positiveInteger('read-concurrency', values['read-concurrency'], 1, 100_000),
    yieldEvery: values['yield-every'] === '0' ? 0 : positiveInteger('yield-every', values['yield-every'], 0),
    syncConcurrency: 64,
    batchEntries: 100,
    seekNexts: 10,
    scanChunkEntries: 1000,
    engines: listOf('engines', values.engines, ENGINE_NAMES),
    workloads: listOf('workloads', values.workloads, WORKLOAD_NAMES),
    seed,
    jsonPath: values.json,
    dir: values.dir,
    keep: values.keep,
    probe: !values['no-probe'],
  };
}
