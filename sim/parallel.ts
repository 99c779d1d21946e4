/**
 * Runs many seeds, split over worker threads. Seeds are independent, so running
 * them in parallel changes nothing a seed does: seed s replays the same way in a
 * worker, in the main thread or alone (`SEED=s`). This module is also the
 * worker's entry point: started with `workerData.kind === 'shale-sim'`, it runs
 * its share of the seeds and posts the totals back.
 */
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { addCounts, simulateSeed, zeroSimCounts, type SimConfig, type SimCounts } from './simulate.js';

/** What a run of many seeds found. */
export interface SeedsSummary {
  seedsRun: number;
  counts: SimCounts;
  /** One message per failing seed (each names the seed that replays it), in seed order. */
  violations: string[];
}

export interface SeedsRequest {
  first: number;
  count: number;
  config: SimConfig;
  /** Worker threads; 1 runs the seeds in this thread. */
  jobs: number;
  /** Called now and then with the seeds done so far. */
  onProgress?: (done: number, counts: SimCounts, violations: number) => void;
}

interface WorkerData {
  kind: 'shale-sim';
  first: number;
  count: number;
  config: SimConfig;
  job: number;
  jobs: number;
}

type WorkerMessage =
  | { type: 'progress'; done: number; counts: SimCounts; violations: number }
  | { type: 'done'; summary: SeedsSummary; failures: { seed: number; message: string }[] };

const PROGRESS_EVERY_SEEDS = 50;

/** Runs seeds `first + i` for i ≡ job (mod jobs), i < count. */
async function runShare(data: Omit<WorkerData, 'kind'>, progress: (done: number, counts: SimCounts, violations: number) => void): Promise<{ summary: SeedsSummary; failures: { seed: number; message: string }[] }> {
  const counts = zeroSimCounts();
  const failures: { seed: number; message: string }[] = [];
  let seedsRun = 0;
  for (let i = data.job; i < data.count; i += data.jobs) {
    const seed = (data.first + i) >>> 0;
    const result = await simulateSeed(seed, data.config);
    seedsRun++;
    addCounts(counts, result.counts);
    if (result.violation !== undefined) failures.push({ seed: i, message: result.violation });
    if (seedsRun % PROGRESS_EVERY_SEEDS === 0) progress(seedsRun, counts, failures.length);
  }
  return { summary: { seedsRun, counts, violations: failures.map((f) => f.message) }, failures };
}

/** Runs `count` seeds from `first` on `jobs` threads and sums what they found. */
export async function runSeeds(request: SeedsRequest): Promise<SeedsSummary> {
  const jobs = Math.max(1, Math.min(request.jobs, request.count));
  const progress = new Map<number, { done: number; counts: SimCounts; violations: number }>();
  const report = (job: number, done: number, counts: SimCounts, violations: number): void => {
    progress.set(job, { done, counts, violations });
    if (request.onProgress === undefined) return;
    const total = zeroSimCounts();
    let allDone = 0;
    let allViolations = 0;
    for (const entry of progress.values()) {
      addCounts(total, entry.counts);
      allDone += entry.done;
      allViolations += entry.violations;
    }
    request.onProgress(allDone, total, allViolations);
  };
  const shares = Array.from({ length: jobs }, (_, job) => {
    const data = { first: request.first, count: request.count, config: request.config, job, jobs };
    if (jobs === 1) return runShare(data, (done, counts, violations) => report(job, done, counts, violations));
    return runInWorker(data, (done, counts, violations) => report(job, done, counts, violations));
  });
  const results = await Promise.all(shares);
  const summary: SeedsSummary = { seedsRun: 0, counts: zeroSimCounts(), violations: [] };
  for (const result of results) {
    summary.seedsRun += result.summary.seedsRun;
    addCounts(summary.counts, result.summary.counts);
  }
  summary.violations = results
    .flatMap((result) => result.failures)
    .sort((a, b) => a.seed - b.seed)
    .map((failure) => failure.message);
  if (request.onProgress !== undefined) request.onProgress(summary.seedsRun, summary.counts, summary.violations.length);
  return summary;
}

function runInWorker(data: Omit<WorkerData, 'kind'>, progress: (done: number, counts: SimCounts, violations: number) => void): Promise<{ summary: SeedsSummary; failures: { seed: number; message: string }[] }> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL(import.meta.url), { workerData: { kind: 'shale-sim', ...data } satisfies WorkerData });
    let finished = false;
    worker.on('message', (message: WorkerMessage) => {
      if (message.type === 'progress') progress(message.done, message.counts, message.violations);
      else {
        finished = true;
        resolve({ summary: message.summary, failures: message.failures });
      }
    });
    worker.on('error', reject);
    worker.on('exit', (code) => {
      if (!finished) reject(new Error(`simulator worker ${data.job} exited with code ${code} before finishing`));
    });
  });
}

if (!isMainThread && (workerData as WorkerData | undefined)?.kind === 'shale-sim') {
  const data = workerData as WorkerData;
  const port = parentPort!;
  const result = await runShare(data, (done, counts, violations) => port.postMessage({ type: 'progress', done, counts, violations } satisfies WorkerMessage));
  port.postMessage({ type: 'done', ...result } satisfies WorkerMessage);
}
