/**
 * Messages between the benchmark's parent process and the child that runs one
 * (workload, engine) pair. Each pair runs in its own process so that peak RSS,
 * the OS's I/O counters, the heap and any background threads belong to that
 * engine and that workload alone.
 */
import type { BenchConfig, EngineName, WorkloadName } from './config.js';
import type { CompactOutcome, EngineStats } from './engines/engine.js';
import type { EventLoopDelay, EngineStallEvent, ProcessIo, StallPeriod, TimelineSample } from './monitor.js';
import type { LatencySummary } from './stats.js';

/** What the parent asks a child to do. */
export interface RunJob {
  engine: EngineName;
  workload: WorkloadName;
  /** The database directory (fresh, or the engine's filled database). */
  dir: string;
  config: BenchConfig;
  /** Untimed preparation before the workload: fill with fillrandom, then compact. */
  prepare: { fill: boolean; compact: boolean };
}

/** What a child measured. Figures the parent adds (disk usage) are in `RunRecord`. */
export interface RunResult {
  engine: EngineName;
  workload: WorkloadName;
  ops: number;
  userBytes: number;
  elapsedMs: number;
  opsPerSec: number;
  /** User bytes per second, in MB/s (10^6). */
  mbPerSec: number;
  latency: LatencySummary;
  found: number | undefined;
  expectedFound: number | undefined;
  /** Transactions: conflicts met and retried (txnrandom). */
  conflicts?: number;
  eventLoopDelay: EventLoopDelay;
  /** Largest RSS sampled while the workload ran. */
  rssPeakBytes: number;
  /** The child process's peak RSS (includes untimed setup). */
  processMaxRssBytes: number;
  /** /proc/self/io deltas from the workload's start to after close(); undefined where unreadable. */
  io: ProcessIo | undefined;
  /** (write_bytes − cancelled_write_bytes) / user bytes, for writing workloads. */
  osWriteAmplification: number | undefined;
  engineStats: EngineStats | undefined;
  /** Whether the engine offers stall events (shale will). */
  stallEventsSupported: boolean;
  timeline: TimelineSample[];
  observedStalls: StallPeriod[];
  engineStalls: EngineStallEvent[];
  setup: {
    fillMs: number | undefined;
    compactMs: number | undefined;
    compaction: CompactOutcome | undefined;
  };
  closeMs: number;
}

export type ChildMessage =
  | { type: 'progress'; phase: string; done: number; total: number }
  | { type: 'result'; result: RunResult }
  | { type: 'error'; message: string };
