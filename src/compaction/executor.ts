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

/** Runs the background jobs: compactions and the building of flushed tables. Jobs may overlap. */
export interface CompactionExecutor {
  run(spec: CompactionJobSpec, allocateFileNumber: () => Promise<number>): Promise<CompactionJobResult>;
  /** Builds a flushed memtable's L0 table. `spec.entries` may be transferred (left detached). */
  flush(spec: FlushJobSpec): Promise<FileMeta | undefined>;
  close(): Promise<void>;
}

/** Entries merged between yields to the event loop when running inline. */
export const INLINE_YIELD_ENTRIES = 1000;

export class InlineExecutor implements CompactionExecutor {
  readonly #fs: FileSystem;

  constructor(fs: FileSystem) {
    this.#fs = fs;
  }

  run(spec: CompactionJobSpec, allocateFileNumber: () => Promise<number>): Promise<CompactionJobResult> {
    return runCompactionJob({ ...spec, yieldEveryEntries: INLINE_YIELD_ENTRIES }, this.#fs, allocateFileNumber);
  }

  flush(spec: FlushJobSpec): Promise<FileMeta | undefined> {
    return runFlushJob({ ...spec, yieldEveryEntries: INLINE_YIELD_ENTRIES }, this.#fs);
  }

  async close(): Promise<void> {}
}

/** An error as it crosses `postMessage`: structured clone keeps no class, so the fields go by hand. */
export interface SerializedError {
  name: string;
  message: string;
  code?: string;
  file?: string;
  offset?: number;
}

export function serializeError(err: unknown): SerializedError {
  if (err instanceof CorruptionError) return { name: err.name, message: err.message, code: err.code, file: err.file, offset: err.offset };
  if (err instanceof ShaleError) return { name: err.name, message: err.message, code: err.code };
  if (err instanceof Error) return { name: err.name, message: err.message, ...((err as NodeJS.ErrnoException).code ? { code: (err as NodeJS.ErrnoException).code! } : {}) };
  return { name: 'Error', message: String(err) };
}

export function deserializeError(serialized: SerializedError): Error {
  if (serialized.code === 'CORRUPTION' && serialized.file !== undefined) {
    const detail = serialized.message.replace(/^corruption in .* at offset \d+: /, '');
    return new CorruptionError(serialized.file, serialized.offset ?? 0, detail);
  }
  if (serialized.name === 'ShaleError' && serialized.code !== undefined) {
    return new ShaleError(serialized.code as ShaleError['code'], serialized.message);
  }
  return Object.assign(new Error(serialized.message), serialized.code === undefined ? {} : { code: serialized.code });
}

/** Structured clone turns Buffers into plain Uint8Arrays; turn them back. */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
