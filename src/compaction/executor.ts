/**
 * Where compaction jobs run: in a worker thread (the default with the real file
 * system) so merging and encoding never block the event loop, or inline on the
 * main thread through the database's file-system seam (for deterministic tests
 * and for custom file systems a worker cannot reach).
 */
import { CorruptionError, ShaleError } from '../errors.js';
import type { FileSystem } from '../fs/file-system.js';
import { runCompactionJob, type CompactionJobResult, type CompactionJobSpec } from './compaction-job.js';
import { runFlushJob, type FlushJobSpec } from './flush.js';
import type { FileMeta } from '../version/version-edit.js';
import type { CompactionFilterFunction } from './compaction-filter.js';

/** Runs the background jobs: compactions and the building of flushed tables. Jobs may overlap. */
export interface CompactionExecutor {
  /**
   * Runs a compaction job. `threads` is how many threads the job and its sibling
   * subcompactions may spread over (more than the executor's own count only for a
   * manual compaction's subcompactions).
   */
  run(spec: CompactionJobSpec, allocateFileNumber: () => Promise<number>, threads?: number): Promise<CompactionJobResult>;
  /** Builds a flushed memtable's L0 table. `spec.entries` may be transferred (left detached). */
  flush(spec: FlushJobSpec): Promise<FileMeta | undefined>;
  close(): Promise<void>;
}

/** Entries merged between yields to the event loop when running inline. */
export const INLINE_YIELD_ENTRIES = 1000;

export class InlineExecutor implements CompactionExecutor {
  readonly #fs: FileSystem;
  readonly #filter: CompactionFilterFunction | undefined;

  /** `filter`: the compaction filter every compaction applies, if any. */
  constructor(fs: FileSystem, filter?: CompactionFilterFunction) {
    this.#fs = fs;
    this.#filter = filter;
  }

  run(spec: CompactionJobSpec, allocateFileNumber: () => Promise<number>): Promise<CompactionJobResult> {
    return runCompactionJob({ ...spec, yieldEveryEntries: INLINE_YIELD_ENTRIES }, this.#fs, allocateFileNumber, this.#filter);
  }

  flush(spec: FlushJobSpec): Promise<FileMeta | undefined> {
    return runFlushJob({ ...spec, yieldEveryEntries: INLINE_YIELD_ENTRIES }, this.#fs);
  }

  async close(): Promise<void> {}
}

/**
 * An error as it crosses `postMessage`. Structured clone keeps no Error subclass
 * and, in some runtimes, drops an error's own properties (an OS error's `code`,
 * `errno`, `syscall`, `path`), so every field goes across by hand, and the cause
 * chain with them: clause 7 of docs/durability.md promises the OS error as the
 * `cause` of an `IO_ERROR`, wherever the failed write ran.
 */
export interface SerializedError {
  name: string;
  message: string;
  /** A `ShaleError`'s code, or an OS error's (`ENOSPC`). */
  code?: string;
  /** Set only for a `ShaleError`: rebuild one, not a plain Error. */
  shale?: boolean;
  /** A `CorruptionError`'s file and offset. */
  file?: string;
  offset?: number;
  /** An OS error's fields (Node's `ErrnoException`). */
  errno?: number;
  syscall?: string;
  path?: string;
  dest?: string;
  cause?: SerializedError;
}

/** Causes carried across the thread at most; a longer chain (or a cycle) is cut there. */
export const SERIALIZED_CAUSE_DEPTH_MAX = 4;

/** Turns anything thrown in the worker into plain data that survives structured clone. */
export function serializeError(err: unknown, depth = 0): SerializedError {
  if (!(err instanceof Error)) return { name: 'Error', message: String(err) };
  const out: SerializedError = { name: err.name, message: err.message };
  const fields = err as Error & Partial<NodeJS.ErrnoException> & { dest?: unknown };
  if (err instanceof ShaleError) out.shale = true;
  if (typeof fields.code === 'string') out.code = fields.code;
  if (err instanceof CorruptionError) {
    out.file = err.file;
    out.offset = err.offset;
  }
  if (typeof fields.errno === 'number') out.errno = fields.errno;
  if (typeof fields.syscall === 'string') out.syscall = fields.syscall;
  if (typeof fields.path === 'string') out.path = fields.path;
  if (typeof fields.dest === 'string') out.dest = fields.dest;
  if (err.cause !== undefined && depth < SERIALIZED_CAUSE_DEPTH_MAX) out.cause = serializeError(err.cause, depth + 1);
  return out;
}

/**
 * Rebuilds an error from `serializeError`: a `CorruptionError` with its file and
 * offset, a `ShaleError` with its code, or else an `Error` carrying the OS error's
 * fields; each with its cause rebuilt the same way.
 */
export function deserializeError(serialized: SerializedError): Error {
  const cause = serialized.cause === undefined ? undefined : deserializeError(serialized.cause);
  const options = cause === undefined ? undefined : { cause };
  if (serialized.shale === true && serialized.code === 'CORRUPTION' && serialized.file !== undefined) {
    const detail = serialized.message.replace(/^corruption in .* at offset \d+: /s, '');
    return new CorruptionError(serialized.file, serialized.offset ?? 0, detail, options);
  }
  if (serialized.shale === true && serialized.code !== undefined) {
    return new ShaleError(serialized.code as ShaleError['code'], serialized.message, options);
  }
  const err: Error & Partial<NodeJS.ErrnoException> & { dest?: string } = new Error(serialized.message, options);
  if (serialized.name !== 'Error') Object.defineProperty(err, 'name', { value: serialized.name, configurable: true, writable: true });
  if (serialized.code !== undefined) err.code = serialized.code;
  if (serialized.errno !== undefined) err.errno = serialized.errno;
  if (serialized.syscall !== undefined) err.syscall = serialized.syscall;
  if (serialized.path !== undefined) err.path = serialized.path;
  if (serialized.dest !== undefined) err.dest = serialized.dest;
  return err;
}

/** Structured clone turns Buffers into plain Uint8Arrays; turn them back. */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
