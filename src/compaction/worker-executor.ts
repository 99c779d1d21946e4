/**
 * Runs background jobs (compactions, and the table-building half of flushes) in
 * one `worker_threads` worker. The main thread sends a job, answers its
 * file-number requests and receives the outputs' metadata; reading, merging,
 * compressing and writing happen in the worker. Jobs may overlap there: each is
 * asynchronous, so a flush makes progress while a compaction waits for I/O.
 */
import { Worker } from 'node:worker_threads';
import type { CompactionJobResult, CompactionJobSpec } from './compaction-job.js';
import { asBuffer, deserializeError, type CompactionExecutor, type SerializedError } from './executor.js';
import type { FlushJobSpec } from './flush.js';
import type { FileMeta } from '../version/version-edit.js';

export type WorkerRequest =
  | { type: 'compact'; jobId: number; spec: CompactionJobSpec }
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

export class WorkerExecutor implements CompactionExecutor {
  #worker: Worker | undefined;
  readonly #jobs = new Map<number, Job>();
  #nextJobId = 0;

  async run(spec: CompactionJobSpec, allocateFileNumber: () => Promise<number>): Promise<CompactionJobResult> {
    const result = (await this.#submit((jobId) => ({ type: 'compact', jobId, spec }), [], allocateFileNumber)) as CompactionJobResult;
    return { ...result, outputs: result.outputs.map(reviveMeta) };
  }

  async flush(spec: FlushJobSpec): Promise<FileMeta | undefined> {
    // The entries move to the worker without a copy (encodeFlushEntries owns their memory).
    const meta = (await this.#submit((jobId) => ({ type: 'flush', jobId, spec }), [spec.entries.buffer as ArrayBuffer])) as FileMeta | undefined;
    return meta === undefined ? undefined : reviveMeta(meta);
  }

  async close(): Promise<void> {
    const worker = this.#worker;
    this.#worker = undefined;
    if (worker) await worker.terminate();
  }

  #submit(
    request: (jobId: number) => WorkerRequest,
    transfer: ArrayBuffer[],
    allocateFileNumber?: () => Promise<number>,
  ): Promise<CompactionJobResult | FileMeta | undefined> {
    const worker = this.#ensureWorker();
    const jobId = this.#nextJobId++;
    return new Promise((resolve, reject) => {
      this.#jobs.set(jobId, { resolve, reject, ...(allocateFileNumber ? { allocateFileNumber } : {}) });
      worker.ref();
      worker.postMessage(request(jobId), transfer);
    });
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
    const job = this.#jobs.get(reply.jobId);
    if (reply.type === 'file-number') {
      const { jobId, requestId } = reply;
      void job?.allocateFileNumber?.().then((fileNumber) =>
        worker.postMessage({ type: 'file-number', jobId, requestId, fileNumber } satisfies WorkerRequest),
      );
      return;
    }
    this.#jobs.delete(reply.jobId);
    if (this.#jobs.size === 0) worker.unref();
    if (!job) return;
    if (reply.type === 'failed') job.reject(deserializeError(reply.error));
    else job.resolve(reply.result);
  }

  #failAll(err: unknown): void {
    for (const job of this.#jobs.values()) job.reject(err);
    this.#jobs.clear();
  }
}

/** Structured clone turned the metadata's key Buffers into Uint8Arrays. */
function reviveMeta(meta: FileMeta): FileMeta {
  return { ...meta, smallest: asBuffer(meta.smallest), largest: asBuffer(meta.largest) };
}
