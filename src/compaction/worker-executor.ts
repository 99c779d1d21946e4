/**
 * Runs background jobs (compactions, and the table-building half of flushes) in
 * a small pool of `worker_threads` workers. The main thread sends a job, answers its
 * file-number requests and receives the outputs' metadata; reading, merging,
 * compressing and writing happen in the worker. Jobs may overlap there: each is
 * asynchronous, so a flush makes progress while a compaction waits for I/O.
 */
import { Worker } from 'node:worker_threads';
import type { CompactionJobResult, CompactionJobSpec } from './compaction-job.js';
import { asBuffer, deserializeError, type CompactionExecutor, type SerializedError } from './executor.js';
import type { FlushJobSpec } from './flush.js';
import type { FileMeta } from '../version/version-edit.js';
import type { CompactionFilterModule } from './compaction-filter.js';

export type WorkerRequest =
  | { type: 'compact'; jobId: number; spec: CompactionJobSpec; filter: CompactionFilterModule | undefined }
  | { type: 'flush'; jobId: number; spec: FlushJobSpec }
  | { type: 'file-number'; jobId: number; requestId: number; fileNumber: number };

export type WorkerReply =
  | { type: 'file-number'; jobId: number; requestId: number }
  | { type: 'done'; jobId: number; result: CompactionJobResult | FileMeta | undefined }
  | { type: 'failed'; jobId: number; error: SerializedError };

interface Job {
  resolve: (result: CompactionJobResult | FileMeta | undefined) => void;
  reject: (err: unknown) => void;
  allocateFileNumber?: () => Promise<number>;
}

/** One worker thread and the jobs it is running. */
interface PoolWorker {
  readonly worker: Worker;
  readonly jobs: Map<number, Job>;
}

/**
 * A pool of `threadCount` workers (more for a manual compaction's subcompactions), started on demand. Each job goes to the
 * worker with the fewest jobs, so compactions running at once run on separate
 * threads (and cores) and a flush is not queued behind a long merge when a thread
 * is free.
 */
export class WorkerExecutor implements CompactionExecutor {
  readonly #threadCount: number;
  readonly #filter: CompactionFilterModule | undefined;
  readonly #workers: PoolWorker[] = [];
  #nextJobId = 0;

  /** `filter`: the compaction filter module each worker loads and every compaction applies, if any. */
  constructor(threadCount = 1, filter?: CompactionFilterModule) {
    this.#threadCount = Math.max(1, threadCount);
    this.#filter = filter === undefined ? undefined : { module: filter.module, ...(filter.export === undefined ? {} : { export: filter.export }) };
  }

  async run(spec: CompactionJobSpec, allocateFileNumber: () => Promise<number>, threads = this.#threadCount): Promise<CompactionJobResult> {
    const limit = Math.max(this.#threadCount, threads);
    const result = (await this.#submit((jobId) => ({ type: 'compact', jobId, spec, filter: this.#filter }), [], allocateFileNumber, limit)) as CompactionJobResult;
    return { ...result, outputs: result.outputs.map(reviveMeta) };
  }

  async flush(spec: FlushJobSpec): Promise<FileMeta | undefined> {
    // The entries move to the worker without a copy (encodeFlushEntries owns their memory).
    const meta = (await this.#submit((jobId) => ({ type: 'flush', jobId, spec }), [spec.entries.buffer as ArrayBuffer])) as FileMeta | undefined;
    return meta === undefined ? undefined : reviveMeta(meta);
  }

  async close(): Promise<void> {
    const workers = this.#workers.splice(0);
    await Promise.all(workers.map((pooled) => pooled.worker.terminate()));
  }

  #submit(
    request: (jobId: number) => WorkerRequest,
    transfer: ArrayBuffer[],
    allocateFileNumber?: () => Promise<number>,
    threads = this.#threadCount,
  ): Promise<CompactionJobResult | FileMeta | undefined> {
    const pooled = this.#leastBusy(threads);
    const jobId = this.#nextJobId++;
    return new Promise((resolve, reject) => {
      pooled.jobs.set(jobId, { resolve, reject, ...(allocateFileNumber ? { allocateFileNumber } : {}) });
      pooled.worker.ref();
      pooled.worker.postMessage(request(jobId), transfer);
    });
  }

  /**
   * Among the first `threads` workers: an idle one, a new one while there is
   * room, else the one with the fewest jobs. Flushes and automatic compactions
   * stay on the pool's own `threadCount`; only subcompactions reach further.
   */
  #leastBusy(threads: number): PoolWorker {
    let best: PoolWorker | undefined;
    const usable = this.#workers.slice(0, threads);
    for (const pooled of usable) if (best === undefined || pooled.jobs.size < best.jobs.size) best = pooled;
    if (best !== undefined && (best.jobs.size === 0 || usable.length >= threads)) return best;
    return this.#startWorker();
  }

  #startWorker(): PoolWorker {
    const worker = new Worker(new URL('./worker-main.js', import.meta.url));
    const pooled: PoolWorker = { worker, jobs: new Map() };
    worker.on('message', (reply: WorkerReply) => this.#onReply(pooled, reply));
    worker.on('error', (err) => this.#failAll(pooled, err));
    worker.on('exit', (code) => {
      const index = this.#workers.indexOf(pooled);
      if (index >= 0) this.#workers.splice(index, 1);
      this.#failAll(pooled, new Error(`compaction worker exited with code ${code}`));
    });
    worker.unref();
    this.#workers.push(pooled);
    return pooled;
  }

  #onReply(pooled: PoolWorker, reply: WorkerReply): void {
    const job = pooled.jobs.get(reply.jobId);
    if (reply.type === 'file-number') {
      const { jobId, requestId } = reply;
      void job?.allocateFileNumber?.().then((fileNumber) =>
        pooled.worker.postMessage({ type: 'file-number', jobId, requestId, fileNumber } satisfies WorkerRequest),
      );
      return;
    }
    pooled.jobs.delete(reply.jobId);
    if (pooled.jobs.size === 0) pooled.worker.unref();
    if (!job) return;
    if (reply.type === 'failed') job.reject(deserializeError(reply.error));
    else job.resolve(reply.result);
  }

  #failAll(pooled: PoolWorker, err: unknown): void {
    for (const job of pooled.jobs.values()) job.reject(err);
    pooled.jobs.clear();
  }
}

/** Structured clone turned the metadata's key Buffers into Uint8Arrays. */
function reviveMeta(meta: FileMeta): FileMeta {
  return { ...meta, smallest: asBuffer(meta.smallest), largest: asBuffer(meta.largest) };
}
