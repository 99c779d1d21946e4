/**
 * Runs compaction jobs in one `worker_threads` worker, one job at a time. The
 * main thread only sends the spec, answers file-number requests and receives
 * the outputs' metadata; reading, merging, compressing and writing happen in the
 * worker.
 */
import { Worker } from 'node:worker_threads';
import type { CompactionJobResult, CompactionJobSpec } from './compaction-job.js';
import { asBuffer, deserializeError, type CompactionExecutor, type SerializedError } from './executor.js';

export type WorkerRequest =
  | { type: 'run'; jobId: number; spec: CompactionJobSpec }
  | { type: 'file-number'; requestId: number; fileNumber: number };

export type WorkerReply =
  | { type: 'file-number'; requestId: number }
  | { type: 'done'; jobId: number; result: CompactionJobResult }
  | { type: 'failed'; jobId: number; error: SerializedError };

interface Job {
  resolve: (result: CompactionJobResult) => void;
  reject: (err: unknown) => void;
  allocateFileNumber: () => Promise<number>;
}

export class WorkerExecutor implements CompactionExecutor {
  #worker: Worker | undefined;
  readonly #jobs = new Map<number, Job>();
  #nextJobId = 0;

  run(spec: CompactionJobSpec, allocateFileNumber: () => Promise<number>): Promise<CompactionJobResult> {
    const worker = this.#ensureWorker();
    const jobId = this.#nextJobId++;
    return new Promise((resolve, reject) => {
      this.#jobs.set(jobId, { resolve, reject, allocateFileNumber });
      worker.ref();
      worker.postMessage({ type: 'run', jobId, spec } satisfies WorkerRequest);
    });
  }

  async close(): Promise<void> {
    const worker = this.#worker;
    this.#worker = undefined;
    if (worker) await worker.terminate();
  }

  #ensureWorker(): Worker {
    if (this.#worker) return this.#worker;
    const worker = new Worker(new URL('./worker-main.js', import.meta.url));
    worker.on('message', (reply: WorkerReply) => this.#onReply(worker, reply));
    worker.on('error', (err) => this.#failAll(err));
    worker.on('exit', (code) => {
      if (this.#worker === worker) this.#worker = undefined;
      this.#failAll(new Error(`compaction worker exited with code ${code}`));
    });
    this.#worker = worker;
    return worker;
  }

  #onReply(worker: Worker, reply: WorkerReply): void {
    if (reply.type === 'file-number') {
      // Any job will do: one runs at a time, and numbers are only unique, not ordered.
      const job = [...this.#jobs.values()][0];
      void job?.allocateFileNumber().then((fileNumber) =>
        worker.postMessage({ type: 'file-number', requestId: reply.requestId, fileNumber } satisfies WorkerRequest),
      );
      return;
    }
    const job = this.#jobs.get(reply.jobId);
    this.#jobs.delete(reply.jobId);
    if (this.#jobs.size === 0) worker.unref();
    if (!job) return;
    if (reply.type === 'failed') job.reject(deserializeError(reply.error));
    else job.resolve(reviveResult(reply.result));
  }

  #failAll(err: unknown): void {
    for (const job of this.#jobs.values()) job.reject(err);
    this.#jobs.clear();
  }
}

function reviveResult(result: CompactionJobResult): CompactionJobResult {
  return {
    ...result,
    outputs: result.outputs.map((meta) => ({ ...meta, smallest: asBuffer(meta.smallest), largest: asBuffer(meta.largest) })),
  };
}
