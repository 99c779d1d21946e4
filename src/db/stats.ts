/**
 * What a database counts and reports: the events it emits, the counters the write
 * pipeline, the flusher and the compactor add to, and `stats()` / `getProperty()`
 * built from them.
 */
import type { CompactionEvent } from '../compaction/compactor.js';
import { levelScores, totalBytes } from '../compaction/picker.js';
import type { ShaleError } from '../errors.js';
import type { ResolvedOptions } from '../options.js';
import type { BlockCache } from '../sstable/block-cache.js';
import type { Version } from '../version/version.js';

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

/** Counters since open, kept by the parts that do the work. */
export interface Counters {
  /** Key and value bytes of every applied put and delete. */
  userBytesWritten: number;
  /** Puts and deletes applied (each operation of a batch counts). */
  writeCount: number;
  /** Bytes appended to write-ahead logs. */
  walBytesWritten: number;
  flushBytesWritten: number;
  compactionBytesRead: number;
  compactionBytesWritten: number;
  flushCount: number;
  compactionCount: number;
  stallCount: number;
  stallTimeMs: number;
  /** Write groups paced because L0 reached `l0SlowdownTrigger`, and the time they waited. */
  slowdownCount: number;
  slowdownTimeMs: number;
  /** Transactions committed since open (read-only ones included). */
  transactionCommitCount: number;
  /** Transaction commits refused with `CONFLICT` since open. */
  transactionConflictCount: number;
}

export function newCounters(): Counters {
  return {
    userBytesWritten: 0,
    writeCount: 0,
    walBytesWritten: 0,
    flushBytesWritten: 0,
    compactionBytesRead: 0,
    compactionBytesWritten: 0,
    flushCount: 0,
    compactionCount: 0,
    stallCount: 0,
    stallTimeMs: 0,
    slowdownCount: 0,
    slowdownTimeMs: 0,
    transactionCommitCount: 0,
    transactionConflictCount: 0,
  };
}

/** Figures from `db.stats()`. */
export interface DBStats extends Counters {
  levels: { level: number; fileCount: number; bytes: number; score: number }[];
  /** (WAL + flush + compaction bytes) / user bytes. */
  writeAmplification: number;
  blockCache: { hitCount: number; missCount: number; hitRate: number; usageBytes: number; capacityBytes: number };
  openTableCount: number;
  immutableMemtableCount: number;
  liveSnapshotCount: number;
  /** Compactions running now (the one whose `compaction` event is being emitted included). */
  runningCompactionCount: number;
  /** Transactions open now (neither committed nor aborted). */
  openTransactionCount: number;
  /** Bytes of the commit history kept for their conflict checks (0 while none is open). */
  transactionHistoryBytes: number;
}

/** What `collectStats` reads besides the counters. */
export interface StatsSources {
  counters: Counters;
  version: Version;
  options: ResolvedOptions;
  blockCache: BlockCache;
  openTableCount: number;
  immutableMemtableCount: number;
  liveSnapshotCount: number;
  runningCompactionCount: number;
  openTransactionCount: number;
  transactionHistoryBytes: number;
}

export function collectStats(sources: StatsSources): DBStats {
  const { counters: s, version, options } = sources;
  const levels = version.levels;
  const scores = levelScores(levels, options);
  const cache = sources.blockCache.stats;
  const written = s.walBytesWritten + s.flushBytesWritten + s.compactionBytesWritten;
  const lookups = cache.hitCount + cache.missCount;
  return {
    levels: Array.from({ length: options.levelCountMax }, (_, level) => ({
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
      hitRate: lookups === 0 ? 0 : cache.hitCount / lookups,
      usageBytes: cache.usageBytes,
      capacityBytes: cache.capacityBytes,
    },
    openTableCount: sources.openTableCount,
    immutableMemtableCount: sources.immutableMemtableCount,
    liveSnapshotCount: sources.liveSnapshotCount,
    runningCompactionCount: sources.runningCompactionCount,
    openTransactionCount: sources.openTransactionCount,
    transactionHistoryBytes: sources.transactionHistoryBytes,
  };
}

/** The `shale.levels` property: a table of levels and the write figures, as LevelDB's `leveldb.stats`. */
export function formatLevels(stats: DBStats): string {
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
  lines.push(`stalls ${stats.stallCount} (${stats.stallTimeMs.toFixed(0)} ms), slowdowns ${stats.slowdownCount} (${stats.slowdownTimeMs.toFixed(0)} ms), block cache hit rate ${(stats.blockCache.hitRate * 100).toFixed(1)}%`);
  return lines.join('\n');
}
