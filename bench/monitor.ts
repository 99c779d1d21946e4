/**
 * What the benchmark watches while a workload runs, besides each operation's
 * latency: throughput over time (sampled every 100 ms), stalls (intervals in
 * which no operation completed, and stall events the engine emits), RSS, event
 * loop delay, and the OS's count of bytes written by this process.
 */
import * as fs from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';

export const SAMPLE_INTERVAL_MS = 100;
/** Event-loop delay timer resolution. */
const EVENT_LOOP_RESOLUTION_MS = 10;

/** Operations completed so far; the workload increments `done`. */
export interface Progress {
  done: number;
  readonly total: number;
}

export interface TimelineSample {
  /** Milliseconds since the workload started. */
  tMs: number;
  /** Operations completed by then. */
  done: number;
  rssBytes: number;
}

export interface StallPeriod {
  startMs: number;
  endMs: number;
}

export interface EngineStallEvent {
  tMs: number;
  detail: unknown;
}

export interface EventLoopDelay {
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  meanMs: number;
}

export interface MonitorResult {
  elapsedMs: number;
  timeline: TimelineSample[];
  /** Sample intervals in which no operation completed, merged. */
  observedStalls: StallPeriod[];
  engineStalls: EngineStallEvent[];
  /** Largest RSS sampled during the workload. */
  rssPeakBytes: number;
  eventLoopDelay: EventLoopDelay;
}

/** Watches one workload from `start()` to `stop()`; `onSample` runs every interval (for progress). */
export class RunMonitor {
  readonly #progress: Progress;
  readonly #onSample: (sample: TimelineSample) => void;
  readonly #delay = monitorEventLoopDelay({ resolution: EVENT_LOOP_RESOLUTION_MS });
  readonly #timeline: TimelineSample[] = [];
  readonly #engineStalls: EngineStallEvent[] = [];
  #startedMs = 0;
  #rssPeakBytes = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(progress: Progress, onSample: (sample: TimelineSample) => void) {
    this.#progress = progress;
    this.#onSample = onSample;
  }

  /**
   * Starts watching. The delay monitor measures from its first timer run, so it is
   * enabled and given a couple of timer periods before the clock starts: a
   * workload that never lets the loop turn is then still measured.
   */
  async start(): Promise<void> {
    this.#delay.reset();
    this.#delay.enable();
    await new Promise((resolve) => setTimeout(resolve, 2 * EVENT_LOOP_RESOLUTION_MS + 5));
    this.#startedMs = performance.now();
    this.#sample();
    this.#timer = setInterval(() => this.#sample(), SAMPLE_INTERVAL_MS);
    this.#timer.unref();
  }

  /** Records a stall event from the engine, timed now. */
  noteEngineStall(detail: unknown): void {
    if (this.#timer === undefined) return;
    this.#engineStalls.push({ tMs: performance.now() - this.#startedMs, detail: jsonSafe(detail) });
  }

  /**
   * Ends the watch. The figures are taken now; then the event loop gets one timer
   * turn so that a delay timer held back by a loop that never turned (promises
   * that resolve from memory) fires and records how long it was held.
   */
  async stop(): Promise<MonitorResult> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#sample();
    await new Promise((resolve) => setTimeout(resolve, 1));
    this.#delay.disable();
    // The histogram holds the time between timer runs, which includes the timer's own
    // period: the delay is what exceeds it.
    const delayMs = (ns: number): number => (Number.isFinite(ns) ? Math.max(0, ns / 1e6 - EVENT_LOOP_RESOLUTION_MS) : 0);
    const last = this.#timeline[this.#timeline.length - 1]!;
    return {
      elapsedMs: last.tMs,
      timeline: this.#timeline,
      observedStalls: stallsOf(this.#timeline),
      engineStalls: this.#engineStalls,
      rssPeakBytes: this.#rssPeakBytes,
      eventLoopDelay: {
        p50Ms: delayMs(this.#delay.percentile(50)),
        p99Ms: delayMs(this.#delay.percentile(99)),
        maxMs: delayMs(this.#delay.max),
        meanMs: delayMs(this.#delay.mean),
      },
    };
  }

  #sample(): void {
    const rssBytes = process.memoryUsage.rss();
    if (rssBytes > this.#rssPeakBytes) this.#rssPeakBytes = rssBytes;
    const sample = { tMs: performance.now() - this.#startedMs, done: this.#progress.done, rssBytes };
    this.#timeline.push(sample);
    this.#onSample(sample);
  }
}

/** Merged intervals between samples in which `done` did not move, before the workload finished. */
export function stallsOf(timeline: readonly TimelineSample[]): StallPeriod[] {
  const stalls: StallPeriod[] = [];
  const final = timeline[timeline.length - 1]?.done ?? 0;
  for (let index = 1; index < timeline.length; index++) {
    const previous = timeline[index - 1]!;
    const current = timeline[index]!;
    if (current.done !== previous.done || previous.done === final) continue;
    const open = stalls[stalls.length - 1];
    if (open !== undefined && open.endMs === previous.tMs) open.endMs = current.tMs;
    else stalls.push({ startMs: previous.tMs, endMs: current.tMs });
  }
  return stalls;
}

function jsonSafe(detail: unknown): unknown {
  try {
    return JSON.parse(JSON.stringify(detail ?? null)) as unknown;
  } catch {
    return String(detail);
  }
}

/** This process's I/O counters from /proc/self/io (Linux); undefined where it is not readable. */
export interface ProcessIo {
  /** Bytes this process caused to be sent to storage: a page counts each time it turns dirty. */
  writeBytes: number;
  /** Dirty bytes dropped before writeback (truncated or deleted files). */
  cancelledWriteBytes: number;
  readBytes: number;
}

export function readProcessIo(): ProcessIo | undefined {
  let text: string;
  try {
    text = fs.readFileSync('/proc/self/io', 'utf8');
  } catch {
    return undefined;
  }
  const field = (name: string): number | undefined => {
    const match = new RegExp(`^${name}:\\s*(\\d+)$`, 'm').exec(text);
    return match === null ? undefined : Number(match[1]);
  };
  const writeBytes = field('write_bytes');
  const cancelledWriteBytes = field('cancelled_write_bytes');
  const readBytes = field('read_bytes');
  if (writeBytes === undefined || cancelledWriteBytes === undefined || readBytes === undefined) return undefined;
  return { writeBytes, cancelledWriteBytes, readBytes };
}

/** An engine-reported stall: from its begin event to its end event (zero-length when the engine sends one event). */
export interface EngineStallSpan {
  startMs: number;
  endMs: number;
  reason: string | undefined;
}

/**
 * Pairs engine stall events into spans. shale emits `{ state: 'begin', reason }`
 * then `{ state: 'end', reason, durationMs }`; any other shape counts as a point.
 * A begin without an end (the run finished first) ends at `runEndMs`.
 */
export function engineStallSpans(events: readonly EngineStallEvent[], runEndMs: number): EngineStallSpan[] {
  const spans: EngineStallSpan[] = [];
  let open: EngineStallSpan | undefined;
  for (const event of events) {
    const detail = (typeof event.detail === 'object' && event.detail !== null ? event.detail : {}) as { state?: unknown; reason?: unknown };
    const reason = typeof detail.reason === 'string' ? detail.reason : undefined;
    if (detail.state === 'begin') {
      open = { startMs: event.tMs, endMs: runEndMs, reason };
      spans.push(open);
    } else if (detail.state === 'end' && open !== undefined) {
      open.endMs = event.tMs;
      open = undefined;
    } else if (detail.state !== 'end') {
      spans.push({ startMs: event.tMs, endMs: event.tMs, reason });
    }
  }
  return spans;
}
