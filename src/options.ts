/**
 * Every tunable of shale, its default and its limits, in one place. `resolveOptions`
 * validates what a caller passed and fills in the rest.
 */
import * as os from 'node:os';
import { invalidArgument } from './errors.js';
import type { FileSystem } from './fs/file-system.js';
import { NodeFileSystem } from './fs/node-fs.js';
import { checkCompactionFilterOption, type CompactionFilter } from './compaction/compaction-filter.js';
import { availableParallelism } from 'node:os';

/**
 * How recovery treats a bad record in the write-ahead log (RocksDB's WAL recovery modes).
 * - `tolerate-tail`: a torn or zeroed tail of the newest log, past the last point the
 *   log proves was synced, is dropped (and reported); any other bad record is `CORRUPTION`.
 * - `absolute`: any bad record, even a torn tail, is `CORRUPTION`.
 * - `point-in-time`: recovery stops at the first bad record of any log and drops
 *   everything after it, in that log and in later ones; never an error.
 */
export type WalRecoveryMode = 'tolerate-tail' | 'absolute' | 'point-in-time';

export interface Options {
  /** Create the directory and an empty database when none exists. Default true. */
  createIfMissing?: boolean;
  /** Fail with `EXISTS` when the directory already holds a database. Default false. */
  errorIfExists?: boolean;
  /**
   * Open without changing a byte on disk: no LOCK, no writes, no flushes, no
   * compaction, WALs replayed into memory only. Works beside a writer in another
   * process; `db.refresh()` moves to the writer's latest state. Needs an existing
   * database (`createIfMissing` is ignored; `errorIfExists` must be false). Default false.
   */
  readOnly?: boolean;
  /** Size at which the memtable is frozen and a new one (and a new WAL) takes the writes. Default 8 MiB. */
  memtableSizeBytes?: number;
  /** Largest key accepted, in bytes. Default 64 KiB. */
  keyBytesMax?: number;
  /** Largest value accepted, in bytes. Default 16 MiB. */
  valueBytesMax?: number;
  /**
   * Largest write group (the batches one WAL record carries) the writer builds from
   * the queue. A single batch larger than this still forms a group of its own. Default 1 MiB.
   */
  writeGroupBytesMax?: number;
  /** See `WalRecoveryMode`. Default `tolerate-tail`. */
  walRecovery?: WalRecoveryMode;
  /** B-tree node size of the memtable (tests use 4 to cross every code path). Default 64. */
  memtableNodeSizeMax?: number;
  /** Frozen memtables allowed to wait for flush; a write that would freeze one more waits. Default 2. */
  immutableMemtableCountMax?: number;
  /** Target size of a table's data block before compression. Default 4 KiB. */
  blockSizeBytes?: number;
  /** Keys between restart points in a block. Default 16. */
  blockRestartInterval?: number;
  /** Bloom filter bits per key (about 1% false positives at 10); 0 writes no filter. Default 10. */
  bloomBitsPerKey?: number;
  /**
   * Also put the first N bytes of every key into each new table's bloom filter
   * (RocksDB's prefix bloom with a capped prefix): an iterator whose bounds lie
   * inside one N-byte prefix, such as `{ gte: p, lt: successor(p) }` with p of N
   * bytes, then skips the tables that hold no key with that prefix. Each table
   * records its own N, so changing this never makes a read wrong. 0 (the
   * default) adds none. Needs `bloomBitsPerKey` > 0.
   */
  bloomPrefixBytes?: number;
  /** Compress blocks with snappy when that saves at least 1/8. Default 'snappy'. */
  compression?: 'snappy' | 'none';
  /**
   * Tables of levels below this one are written uncompressed whatever `compression`
   * says (RocksDB's `compression_per_level` with no compression at L0 and L1 is
   * `compressionMinLevel: 2`): for a machine whose compaction threads are short
   * of CPU, not of disk bandwidth. Default 0: every level is compressed.
   */
  compressionMinLevel?: number;
  /**
   * Capacity of the cache of uncompressed blocks. Default: 1/64 of the memory the
   * process may use (the cgroup limit where there is one, else the machine's),
   * at least 32 MiB and at most 512 MiB; see `defaultBlockCacheBytes`. The cache
   * fills only as blocks are read.
   */
  blockCacheBytes?: number;
  /** Tables kept open (unpinned) at most. Default 1000. */
  maxOpenFiles?: number;
  /** Verify block checksums on every read. Default true. */
  verifyChecksums?: boolean;
  /** A MANIFEST larger than this is replaced by a fresh snapshot. Default 4 MiB. */
  manifestSizeBytesMax?: number;
  /** L0 table count that scores 1 and starts an L0 compaction. Default 4. */
  l0CompactionTrigger?: number;
  /** L0 table count (frozen memtables included) from which writes are paced. Default 8. */
  l0SlowdownTrigger?: number;
  /** L0 table count at which writes wait for compaction. Default 12. */
  l0StopTrigger?: number;
  /**
   * Write rate, in bytes per second, at `l0SlowdownTrigger`; it falls as L0 grows
   * toward `l0StopTrigger` (RocksDB's `delayed_write_rate`). Default 16 MiB/s.
   */
  delayedWriteRateBytesPerSec?: number;
  /** Target size of L1; level n's is this × levelSizeMultiplier^(n-1). Default 10 MiB. */
  levelBaseBytes?: number;
  /** Growth factor between levels. Default 10. */
  levelSizeMultiplier?: number;
  /** Number of levels, L0 included. Default 7. */
  levelCountMax?: number;
  /** Compaction output tables are cut at about this size. Default 2 MiB. */
  targetFileSizeBytes?: number;
  /**
   * Where compactions run: 'worker' (a worker thread; needs the default file
   * system) or 'inline' (the main thread, through the `fs` seam, yielding to the
   * event loop every 1,000 entries). Default 'worker', or 'inline' with a custom `fs`.
   */
  compactionExecutor?: 'worker' | 'inline';
  /**
   * Background compactions that may run at once (on disjoint tables and key
   * ranges), each on a worker thread of its own. Default: the machine's
   * parallelism less one for the main thread, from 1 to 4 (1 on 2 cores, where a
   * second worker measured slower: it takes the main thread's core).
   */
  compactionThreads?: number;
  /**
   * Key-range pieces a manual compaction (`compactRange`) or an L0→L1 compaction
   * is split into, merged side by side on as many threads (RocksDB's
   * `max_subcompactions`): these are the merges an application waits for.
   * Default: the machine's parallelism, from 1 to 4.
   */
  subcompactions?: number;
  /** Compact in the background when a level scores ≥ 1. Default true. */
  autoCompaction?: boolean;
  /**
   * Bytes of recent commit history (keys written and their sequence numbers)
   * kept in memory while transactions are open, for their conflict checks. A
   * transaction whose snapshot is older than what this reaches fails its commit
   * with `CONFLICT`. Default 16 MiB.
   */
  transactionHistoryBytesMax?: number;
  /** Bytes a transaction may buffer (its writes, and the keys it read when serializable); past it `INVALID_ARGUMENT`. Default 64 MiB. */
  transactionBytesMax?: number;
  /** The file system; `shale/testing` has crash-simulating and fault-injecting ones. Default `node:fs`. */
  fs?: FileSystem;
  /**
   * The database's time, in milliseconds since the epoch: what expiring entries
   * (`ttl`, `expiresAt`) are judged by. Made monotone (a clock that moves back is
   * ignored until it passes the largest time seen), per open. Default `Date.now`.
   */
  clock?: () => number;
  /**
   * Sees each key's newest value during compaction and may keep, remove or
   * rewrite it (RocksDB's CompactionFilter); see `CompactionFilter` for the
   * contract. A plain function needs `compactionExecutor: 'inline'`; with the
   * worker, name a module: `{ module: absolutePathOrFileUrl, export?: name }`.
   */
  compactionFilter?: CompactionFilter;
}

export interface ResolvedOptions {
  readonly createIfMissing: boolean;
  readonly errorIfExists: boolean;
  readonly readOnly: boolean;
  readonly memtableSizeBytes: number;
  readonly keyBytesMax: number;
  readonly valueBytesMax: number;
  readonly writeGroupBytesMax: number;
  readonly walRecovery: WalRecoveryMode;
  readonly memtableNodeSizeMax: number;
  readonly immutableMemtableCountMax: number;
  readonly blockSizeBytes: number;
  readonly blockRestartInterval: number;
  readonly bloomBitsPerKey: number;
  readonly bloomPrefixBytes: number;
  readonly compression: 'snappy' | 'none';
  readonly compressionMinLevel: number;
  readonly blockCacheBytes: number;
  readonly maxOpenFiles: number;
  readonly verifyChecksums: boolean;
  readonly manifestSizeBytesMax: number;
  readonly l0CompactionTrigger: number;
  readonly l0SlowdownTrigger: number;
  readonly l0StopTrigger: number;
  readonly delayedWriteRateBytesPerSec: number;
  readonly levelBaseBytes: number;
  readonly levelSizeMultiplier: number;
  readonly levelCountMax: number;
  readonly targetFileSizeBytes: number;
  readonly compactionThreads: number;
  readonly subcompactions: number;
  readonly compactionExecutor: 'worker' | 'inline';
  readonly autoCompaction: boolean;
  readonly transactionHistoryBytesMax: number;
  readonly transactionBytesMax: number;
  readonly fs: FileSystem;
  readonly clock: () => number;
  readonly compactionFilter: CompactionFilter | undefined;
}

const KIB = 1024;
const MIB = 1024 * KIB;

const BLOCK_CACHE_MEMORY_SHARE = 64;
const BLOCK_CACHE_BYTES_DEFAULT_MIN = 32 * MIB;
const BLOCK_CACHE_BYTES_DEFAULT_MAX = 512 * MIB;

/**
 * The default `blockCacheBytes` for a process that may use `memoryBytes`: 1/64 of
 * it, within [32 MiB, 512 MiB]. A cache too small for the blocks a workload
 * reads turns most point reads into a pread, a checksum and a decompression:
 * readrandom over 1,000,000 keys (112 MiB of blocks) ran at 42,000 gets/s with
 * 32 MiB (28% hits) and 97,000 with 376 MiB (97%), for 50 MiB more RSS
 * (docs/benchmarks.md). A 64th leaves the rest of a small container alone.
 */
export function defaultBlockCacheBytes(memoryBytes: number = processMemoryBytes()): number {
  const share = Math.floor(memoryBytes / BLOCK_CACHE_MEMORY_SHARE / MIB) * MIB;
  return Math.min(BLOCK_CACHE_BYTES_DEFAULT_MAX, Math.max(BLOCK_CACHE_BYTES_DEFAULT_MIN, share));
}

/** The memory this process may use: the cgroup limit where Node knows one, else the machine's. */
function processMemoryBytes(): number {
  const total = os.totalmem();
  // process.constrainedMemory() is 0 (or, before Node 21, undefined) without a limit, and may exceed the machine.
  const constrained = (process as { constrainedMemory?: () => number | undefined }).constrainedMemory?.() ?? 0;
  return constrained > 0 ? Math.min(constrained, total) : total;
}

export const DEFAULTS = {
  createIfMissing: true,
  errorIfExists: false,
  readOnly: false,
  memtableSizeBytes: 8 * MIB,
  keyBytesMax: 64 * KIB,
  valueBytesMax: 16 * MIB,
  writeGroupBytesMax: 1 * MIB,
  walRecovery: 'tolerate-tail',
  memtableNodeSizeMax: 64,
  immutableMemtableCountMax: 2,
  blockSizeBytes: 4 * KIB,
  blockRestartInterval: 16,
  bloomBitsPerKey: 10,
  bloomPrefixBytes: 0,
  compression: 'snappy',
  blockCacheBytes: defaultBlockCacheBytes(),
  maxOpenFiles: 1000,
  verifyChecksums: true,
  manifestSizeBytesMax: 4 * MIB,
  l0CompactionTrigger: 4,
  l0SlowdownTrigger: 8,
  l0StopTrigger: 12,
  delayedWriteRateBytesPerSec: 16 * MIB,
  levelBaseBytes: 10 * MIB,
  levelSizeMultiplier: 10,
  levelCountMax: 7,
  targetFileSizeBytes: 2 * MIB,
  compressionMinLevel: 0,
  compactionThreads: Math.min(4, Math.max(1, availableParallelism() - 1)),
  subcompactions: Math.min(4, Math.max(1, availableParallelism())),
  autoCompaction: true,
  transactionHistoryBytesMax: 16 * MIB,
  transactionBytesMax: 64 * MIB,
} as const satisfies Omit<ResolvedOptions, 'fs' | 'compactionExecutor' | 'clock' | 'compactionFilter'>;

/** Hard limits: values outside these are rejected whatever the caller asks. */
export const LIMITS = {
  /** Keys longer than this would not fit the varint32 length fields with room to spare. */
  keyBytesMax: 16 * MIB,
  valueBytesMax: 1024 * MIB,
  memtableSizeBytesMin: 1 * KIB,
} as const;

const WAL_RECOVERY_MODES: readonly WalRecoveryMode[] = ['tolerate-tail', 'absolute', 'point-in-time'];

function boolOption(options: Options, name: 'createIfMissing' | 'errorIfExists' | 'readOnly' | 'verifyChecksums' | 'autoCompaction'): boolean {
  const value = options[name];
  if (value === undefined) return DEFAULTS[name];
  if (typeof value !== 'boolean') throw invalidArgument(`option ${name} must be a boolean`);
  return value;
}

function intOption(options: Options, name: keyof typeof DEFAULTS, min: number, max: number): number {
  const value = options[name as keyof Options];
  if (value === undefined) return DEFAULTS[name] as number;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw invalidArgument(`option ${name} must be an integer from ${min} to ${max}`);
  }
  return value;
}

/** The name of every option `resolveOptions` accepts: the adapter and docs/options.md's test read it too. */
export const OPTION_NAMES: readonly (keyof Options)[] = [
  ...(Object.keys(DEFAULTS) as (keyof typeof DEFAULTS)[]),
  'fs',
  'compactionExecutor',
  'clock',
  'compactionFilter',
];

const KNOWN_OPTIONS = new Set<string>(OPTION_NAMES);

/** Validates `options` (unknown names and wrong types are `INVALID_ARGUMENT`) and fills in defaults. */
export function resolveOptions(options: Options | undefined): ResolvedOptions {
  if (options === undefined) options = {};
  if (typeof options !== 'object' || options === null) throw invalidArgument('options must be an object');
  for (const name of Object.keys(options)) {
    if (!KNOWN_OPTIONS.has(name)) throw invalidArgument(`unknown option ${name}`);
  }
  const walRecovery = options.walRecovery ?? DEFAULTS.walRecovery;
  if (!WAL_RECOVERY_MODES.includes(walRecovery)) {
    throw invalidArgument(`option walRecovery must be one of ${WAL_RECOVERY_MODES.join(', ')}`);
  }
  const executor = options.compactionExecutor ?? (options.fs === undefined ? 'worker' : 'inline');
  if (executor !== 'worker' && executor !== 'inline') throw invalidArgument("option compactionExecutor must be 'worker' or 'inline'");
  if (executor === 'worker' && options.fs !== undefined) {
    throw invalidArgument("compactionExecutor 'worker' needs the default file system: a worker cannot reach a custom fs");
  }
  const clock = options.clock ?? Date.now;
  if (typeof clock !== 'function') throw invalidArgument('option clock must be a function returning milliseconds since the epoch');
  checkCompactionFilterOption(options.compactionFilter, executor);
  const compression = options.compression ?? DEFAULTS.compression;
  if (compression !== 'snappy' && compression !== 'none') throw invalidArgument("option compression must be 'snappy' or 'none'");
  return {
    createIfMissing: boolOption(options, 'createIfMissing'),
    errorIfExists: boolOption(options, 'errorIfExists'),
    readOnly: readOnlyOption(options),
    memtableSizeBytes: intOption(options, 'memtableSizeBytes', LIMITS.memtableSizeBytesMin, 1024 * MIB),
    keyBytesMax: intOption(options, 'keyBytesMax', 1, LIMITS.keyBytesMax),
    valueBytesMax: intOption(options, 'valueBytesMax', 0, LIMITS.valueBytesMax),
    writeGroupBytesMax: intOption(options, 'writeGroupBytesMax', 1, 1024 * MIB),
    walRecovery,
    memtableNodeSizeMax: intOption(options, 'memtableNodeSizeMax', 4, 256),
    immutableMemtableCountMax: intOption(options, 'immutableMemtableCountMax', 1, 64),
    blockSizeBytes: intOption(options, 'blockSizeBytes', 64, 4 * MIB),
    blockRestartInterval: intOption(options, 'blockRestartInterval', 1, 1024),
    bloomBitsPerKey: intOption(options, 'bloomBitsPerKey', 0, 64),
    bloomPrefixBytes: intOption(options, 'bloomPrefixBytes', 0, 1024),
    compression,
    compressionMinLevel: intOption(options, 'compressionMinLevel', 0, 64),
    blockCacheBytes: intOption(options, 'blockCacheBytes', 0, 64 * 1024 * MIB),
    maxOpenFiles: intOption(options, 'maxOpenFiles', 1, 1_000_000),
    verifyChecksums: boolOption(options, 'verifyChecksums'),
    manifestSizeBytesMax: intOption(options, 'manifestSizeBytesMax', 1 * KIB, 1024 * MIB),
    ...levelOptions(options),
    compactionExecutor: executor,
    compactionThreads: intOption(options, 'compactionThreads', 1, 64),
    subcompactions: intOption(options, 'subcompactions', 1, 64),
    autoCompaction: boolOption(options, 'autoCompaction'),
    transactionHistoryBytesMax: intOption(options, 'transactionHistoryBytesMax', 1 * KIB, 64 * 1024 * MIB),
    transactionBytesMax: intOption(options, 'transactionBytesMax', 1 * KIB, 64 * 1024 * MIB),
    fs: options.fs ?? new NodeFileSystem(),
    clock,
    compactionFilter: options.compactionFilter,
  };
}

/** `readOnly`, refusing the one combination that cannot hold: a read-only open never creates, so it cannot promise `errorIfExists`. */
function readOnlyOption(options: Options): boolean {
  const readOnly = boolOption(options, 'readOnly');
  if (readOnly && boolOption(options, 'errorIfExists')) throw invalidArgument('options readOnly and errorIfExists cannot both be true');
  return readOnly;
}

function levelOptions(options: Options) {
  const l0CompactionTrigger = intOption(options, 'l0CompactionTrigger', 1, 1000);
  const l0SlowdownTrigger = intOption(options, 'l0SlowdownTrigger', l0CompactionTrigger, 1000);
  const l0StopTrigger = intOption(options, 'l0StopTrigger', l0SlowdownTrigger, 1000);
  return {
    l0CompactionTrigger,
    l0SlowdownTrigger,
    l0StopTrigger,
    delayedWriteRateBytesPerSec: intOption(options, 'delayedWriteRateBytesPerSec', 1 * KIB, 1024 * 1024 * MIB),
    levelBaseBytes: intOption(options, 'levelBaseBytes', 1 * KIB, 1024 * 1024 * MIB),
    levelSizeMultiplier: intOption(options, 'levelSizeMultiplier', 2, 100),
    levelCountMax: intOption(options, 'levelCountMax', 2, 15),
    targetFileSizeBytes: intOption(options, 'targetFileSizeBytes', 1 * KIB, 1024 * MIB),
  };
}

/** The table-building subset of the options, for a table written at `level`. */
export function tableBuilderOptions(options: ResolvedOptions, level: number): {
  blockSizeBytes: number;
  restartInterval: number;
  bloomBitsPerKey: number;
  bloomPrefixBytes: number;
  compression: 'snappy' | 'none';
} {
  return {
    blockSizeBytes: options.blockSizeBytes,
    restartInterval: options.blockRestartInterval,
    bloomBitsPerKey: options.bloomBitsPerKey,
    bloomPrefixBytes: options.bloomPrefixBytes,
    compression: level >= options.compressionMinLevel ? options.compression : 'none',
  };
}
