/**
 * Latency histograms for `db.metrics()` (docs/internals.md, "Metrics"): fixed
 * buckets, so that recording on a hot path (each write, WAL sync and get) is a
 * division, a binary search over 22 bounds and three additions, never an
 * allocation.
 */
import { performance } from 'node:perf_hooks';

/**
 * Bucket upper bounds in seconds, inclusive (Prometheus's `le`): 1, 2.5 and 5
 * times each power of ten from 1 µs to 1 s, then 10 s. A get from the block
 * cache lands in the first buckets, an fdatasync in the middle, a stalled write
 * at the end; anything slower counts only in `+Inf`.
 */
export const LATENCY_BUCKET_BOUNDS_SECONDS: readonly number[] = [
  0.000001, 0.0000025, 0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
  0.5, 1, 2.5, 5, 10,
];

/** Durations of one kind of operation since open: a count per bucket, their sum and their number. */
export class LatencyHistogram {
  /** Observations per bucket (not cumulative); the last slot counts those above every bound. */
  readonly bucketCounts = new Float64Array(LATENCY_BUCKET_BOUNDS_SECONDS.length + 1);
  sumSeconds = 0;
  count = 0;

  /** Records the time since `startedMs`, a `performance.now()` reading. */
  observeSince(startedMs: number): void {
    this.observeSeconds((performance.now() - startedMs) / 1000);
  }

  /** Records one duration in seconds (a clock stepping back records 0). */
  observeSeconds(seconds: number): void {
    const value = seconds > 0 ? seconds : 0;
    const bounds = LATENCY_BUCKET_BOUNDS_SECONDS;
    // The first bound ≥ value: Prometheus buckets are inclusive.
    let low = 0;
    let high = bounds.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (bounds[middle]! < value) low = middle + 1;
      else high = middle;
    }
    this.bucketCounts[low]!++;
    this.sumSeconds += value;
    this.count++;
  }
}

/** The latencies a database records: whole write calls, WAL syncs, and get calls. */
export interface Latencies {
  /** From a put, delete or write call to its promise resolving (queueing, pacing, WAL append and sync included). */
  readonly write: LatencyHistogram;
  /** One fdatasync of the WAL for a write group that asked for sync. */
  readonly walSync: LatencyHistogram;
  /** From a get, getSync, getMany or getManySync call to its answer. */
  readonly get: LatencyHistogram;
}

export function newLatencies(): Latencies {
  return { write: new LatencyHistogram(), walSync: new LatencyHistogram(), get: new LatencyHistogram() };
}
