/**
 * `DB.import()`: a new database from an export stream (export-format.ts). The
 * stream is decoded as it arrives and written in batches of about
 * `IMPORT_BATCH_BYTES`, unsynced; the close at the end syncs the log, so the
 * import is durable when the promise resolves. The form (binary or JSON lines)
 * is told from the first bytes.
 *
 * The target must not hold a database (`errorIfExists`). A damaged or cut-short
 * stream rejects with a `CorruptionError` naming the source and the byte offset;
 * what was written before it stays in the new database, which the caller should
 * then remove: an import is all of the stream or an error, never a silent part.
 */
import { ShaleError, ioError } from '../errors.js';
import type { Options } from '../options.js';
import { ExportDecoder, type ExportEntry } from './export-format.js';
import type { BatchOperation } from './batch.js';

/** What `DB.import` resolves with. */
export interface ImportResult {
  /** Entries imported. */
  count: number;
  /** The form the stream was in. */
  format: 'binary' | 'jsonl';
}

/** Options of `DB.import`: the new database's options, and a name for the stream in errors. */
export interface ImportOptions extends Options {
  /** Names the stream in a `CorruptionError` (default `'import stream'`). */
  sourceName?: string;
}

/** Bytes of keys and values written per batch. */
export const IMPORT_BATCH_BYTES = 1024 * 1024;

/** Decodes `source` into the new database `write` writes to (unsynced; the caller closes it, which syncs). */
export async function importInto(write: (ops: BatchOperation[]) => Promise<void>, source: AsyncIterable<Uint8Array | string>, sourceName: string, limits: { keyBytesMax: number; valueBytesMax: number }): Promise<ImportResult> {
  const decoder = new ExportDecoder(sourceName, limits);
  let batch: ExportEntry[] = [];
  let batchBytes = 0;
  const writeBatch = async (): Promise<void> => {
    if (batch.length === 0) return;
    // An expiring entry keeps its expiry time; one already past reads as absent at once, as in the source.
    const ops = batch.map(({ key, value, expiresAtMs }) => (expiresAtMs === undefined ? { type: 'put' as const, key, value } : { type: 'put' as const, key, value, expiresAt: expiresAtMs }));

    batch = [];
    batchBytes = 0;
    await write(ops);
  };
  try {
    for await (const chunk of source) {
      if (typeof chunk !== 'string' && !(chunk instanceof Uint8Array)) throw new ShaleError('INVALID_ARGUMENT', 'the import stream must yield bytes or strings');
      for (const entry of decoder.push(typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk)) {
        batch.push(entry);
        batchBytes += entry.key.length + entry.value.length;
        if (batchBytes >= IMPORT_BATCH_BYTES) await writeBatch();
      }
    }
  } catch (err) {
    // The stream's own failure (a file that cannot be read, a broken pipe) is an I/O error.
    throw ioError(`reading ${sourceName}`, err);
  }
  decoder.finish();
  await writeBatch();
  return { count: decoder.count, format: decoder.form! };
}
