/**
 * The background worker thread: receives compaction and flush jobs, runs them
 * with the real file system, asks the main thread for file numbers, and posts
 * results or errors.
 */
import { parentPort } from 'node:worker_threads';
import { NodeFileSystem } from '../fs/node-fs.js';
import { runCompactionJob, type CompactionJobSpec, type KeySpan } from './compaction-job.js';
import { loadCompactionFilter, type CompactionFilterModule } from './compaction-filter.js';
import { asBuffer, serializeError } from './executor.js';
import { runFlushJob } from './flush.js';
import type { WorkerReply, WorkerRequest } from './worker-executor.js';

const port = parentPort!;
const fs = new NodeFileSystem();
const numberWaiters = new Map<number, (fileNumber: number) => void>();
let nextRequestId = 0;

function revive(spec: CompactionJobSpec): CompactionJobSpec {
  const span = ([smallest, largest]: KeySpan): KeySpan => [asBuffer(smallest), asBuffer(largest)];
  return {
    ...spec,
    deeperSpans: spec.deeperSpans.map((level) => level.map(span)),
    grandparents: spec.grandparents.map((grandparent) => ({ ...grandparent, span: span(grandparent.span) })),
    share: {
      start: spec.share.start === null ? null : asBuffer(spec.share.start),
      end: spec.share.end === null ? null : asBuffer(spec.share.end),
    },
  };
}

function allocateFileNumber(jobId: number): Promise<number> {
  const requestId = nextRequestId++;
  return new Promise((resolve) => {
    numberWaiters.set(requestId, resolve);
    port.postMessage({ type: 'file-number', jobId, requestId } satisfies WorkerReply);
  });
}

/** Runs a compaction with the filter module loaded (once per thread), if one is named. */
async function compact(spec: CompactionJobSpec, filterModule: CompactionFilterModule | undefined, jobId: number) {
  const filter = filterModule === undefined ? undefined : await loadCompactionFilter(filterModule);
  return runCompactionJob(revive(spec), fs, () => allocateFileNumber(jobId), filter);
}

port.on('message', (message: WorkerRequest) => {
  if (message.type === 'file-number') {
    numberWaiters.get(message.requestId)?.(message.fileNumber);
    numberWaiters.delete(message.requestId);
    return;
  }
  const { jobId } = message;
  const job =
    message.type === 'compact'
      ? compact(message.spec, message.filter, jobId)
      : runFlushJob(message.spec, fs);
  job.then(
    (result) => port.postMessage({ type: 'done', jobId, result } satisfies WorkerReply),
    (err: unknown) => port.postMessage({ type: 'failed', jobId, error: serializeError(err) } satisfies WorkerReply),
  );
});
