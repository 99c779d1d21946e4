/**
 * The child process that runs one (workload, engine) pair: open the database,
 * prepare it untimed (fill, compact) if the parent asks, run the workload under
 * the monitor, close, and send the figures back over IPC. Started by runner.ts;
 * never run by hand.
 */
import { openEngine, type Engine } from './engines/engine.js';
import { RunMonitor, SAMPLE_INTERVAL_MS, readProcessIo, type Progress } from './monitor.js';
import type { ChildMessage, RunJob, RunResult } from './protocol.js';
import { LatencyHistogram } from './stats.js';
import { WORKLOADS, fillRandom, operationCount, runWorkload } from './workloads.js';

function send(message: ChildMessage): Promise<void> {
  return new Promise((resolve, reject) => {
    if (process.send === undefined) {
      reject(new Error('bench/child.js must be started by bench/main.js (no IPC channel)'));
      return;
    }
    process.send(message, undefined, {}, (err) => (err ? reject(err) : resolve()));
  });
}

function reportProgress(phase: string, progress: Progress): void {
  void send({ type: 'progress', phase, done: progress.done, total: progress.total }).catch(() => undefined);
}

/** The untimed fill that gives a read or overwrite workload its database. */
async function prepareFill(engine: Engine, job: RunJob): Promise<number> {
  const progress: Progress = { done: 0, total: job.config.num };
  const timer = setInterval(() => reportProgress('setup: fillrandom', progress), SAMPLE_INTERVAL_MS);
  const started = performance.now();
  try {
    await fillRandom({ engine, config: job.config, progress, histogram: new LatencyHistogram() });
  } finally {
    clearInterval(timer);
  }
  return performance.now() - started;
}

async function run(job: RunJob): Promise<RunResult> {
  const spec = WORKLOADS[job.workload];
  const engine = await openEngine(job.engine, job.dir, { durableWrites: spec.durableWrites === true });
  const setup: RunResult['setup'] = { fillMs: undefined, compactMs: undefined, compaction: undefined };
  if (job.prepare.fill) setup.fillMs = await prepareFill(engine, job);
  if (job.prepare.compact) {
    void send({ type: 'progress', phase: 'setup: compact', done: 0, total: 1 }).catch(() => undefined);
    const started = performance.now();
    setup.compaction = await engine.compact();
    setup.compactMs = performance.now() - started;
  }

  const progress: Progress = { done: 0, total: operationCount(job.workload, job.config) };
  const histogram = new LatencyHistogram();
  const monitor = new RunMonitor(progress, () => reportProgress(job.workload, progress));
  const stallEventsSupported = engine.onStall((detail) => monitor.noteEngineStall(detail));
  await monitor.start();
  const ioBefore = readProcessIo();
  const outcome = await runWorkload(job.workload, { engine, config: job.config, progress, histogram });
  const watched = await monitor.stop();

  const engineStats = spec.writes ? await engine.stats(outcome.userBytes) : undefined;
  const closeStarted = performance.now();
  await engine.close();
  const closeMs = performance.now() - closeStarted;
  const ioAfter = readProcessIo();
  const io =
    ioBefore === undefined || ioAfter === undefined
      ? undefined
      : {
          writeBytes: ioAfter.writeBytes - ioBefore.writeBytes,
          cancelledWriteBytes: ioAfter.cancelledWriteBytes - ioBefore.cancelledWriteBytes,
          readBytes: ioAfter.readBytes - ioBefore.readBytes,
        };
  const seconds = watched.elapsedMs / 1000;
  return {
    engine: job.engine,
    workload: job.workload,
    ops: outcome.ops,
    userBytes: outcome.userBytes,
    elapsedMs: watched.elapsedMs,
    opsPerSec: outcome.ops / seconds,
    mbPerSec: outcome.userBytes / 1e6 / seconds,
    latency: histogram.summary(),
    found: outcome.found,
    expectedFound: outcome.expectedFound,
    ...(outcome.conflicts === undefined ? {} : { conflicts: outcome.conflicts }),
    eventLoopDelay: watched.eventLoopDelay,
    rssPeakBytes: watched.rssPeakBytes,
    processMaxRssBytes: process.resourceUsage().maxRSS * 1024,
    io,
    osWriteAmplification:
      spec.writes && io !== undefined && outcome.userBytes > 0 ? (io.writeBytes - io.cancelledWriteBytes) / outcome.userBytes : undefined,
    engineStats,
    stallEventsSupported,
    timeline: watched.timeline,
    observedStalls: watched.observedStalls,
    engineStalls: watched.engineStalls,
    setup,
    closeMs,
  };
}

process.once('message', (job: RunJob) => {
  run(job)
    .then((result) => send({ type: 'result', result }))
    .then(
      () => process.exit(0),
      async (err: unknown) => {
        const message = err instanceof Error ? (err.stack ?? err.message) : String(err);
        await send({ type: 'error', message }).catch(() => undefined);
        process.exit(1);
      },
    );
});
