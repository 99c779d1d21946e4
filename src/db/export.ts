/**
 * `db.export()`: every key and value of one snapshot as a byte stream in the
 * export format (export-format.ts; docs/format.md, "Export stream"), and
 * `DB.import()`'s counterpart in import.ts. The stream pulls from a database
 * iterator as the reader asks, in chunks of about `EXPORT_CHUNK_BYTES`: it never
 * holds the database in memory, and a reader that stops reading stops the scan.
 * An expiring entry is exported with its expiry time (export format version 2),
 * so that the import expires it at the same instant; one expired at the
 * snapshot's reading is not exported, as it reads as absent.
 */
import { Readable } from 'node:stream';
import { ShaleError } from '../errors.js';
import type { ShaleIterator } from '../iterator/public-iterator.js';
import type { IteratorOptions } from './read-path.js';
import {
  encodeBinaryEnd,
  encodeBinaryEntry,
  encodeBinaryHeader,
  encodeJsonEnd,
  encodeJsonEntry,
  encodeJsonHeader,
  type ExportEncoding,
  type ExportFormat,
} from './export-format.js';

/** Options of `db.export()`: the form, and optionally a key range (as `db.iterator()` takes it). */
export interface ExportOptions extends Pick<IteratorOptions, 'gt' | 'gte' | 'lt' | 'lte'> {
  /** `binary` (the default: compact, any bytes) or `jsonl` (JSON lines). */
  format?: ExportFormat;
  /** For `jsonl`: `base64` (the default) or `utf8` (keys and values must be valid UTF-8). */
  encoding?: ExportEncoding;
}

/** Bytes gathered before the stream hands a chunk on. */
export const EXPORT_CHUNK_BYTES = 64 * 1024;
/** Entries taken from the iterator at a time. */
const EXPORT_BATCH_ENTRIES = 64;


/** Checks `options` and fills in the defaults. */
export function exportSettings(options: ExportOptions | undefined): { format: ExportFormat; encoding: ExportEncoding } {
  if (options !== undefined && (typeof options !== 'object' || options === null)) throw new ShaleError('INVALID_ARGUMENT', 'export options must be an object');
  const format = options?.format ?? 'binary';
  const encoding = options?.encoding ?? 'base64';
  if (format !== 'binary' && format !== 'jsonl') throw new ShaleError('INVALID_ARGUMENT', `format must be 'binary' or 'jsonl', got ${String(format)}`);
  if (encoding !== 'base64' && encoding !== 'utf8') throw new ShaleError('INVALID_ARGUMENT', `encoding must be 'base64' or 'utf8', got ${String(encoding)}`);
  if (format === 'binary' && options?.encoding !== undefined) throw new ShaleError('INVALID_ARGUMENT', 'encoding applies to the jsonl format only');
  return { format, encoding };
}

/**
 * The export of everything `iterator` yields, as a readable byte stream. The
 * iterator is closed when the stream ends, fails or is destroyed.
 */
export function exportStream(iterator: ShaleIterator<[Buffer, Buffer]>, format: ExportFormat, encoding: ExportEncoding): Readable {
  return Readable.from(exportChunks(iterator, format, encoding), { objectMode: false });
}

async function* exportChunks(iterator: ShaleIterator<[Buffer, Buffer]>, format: ExportFormat, encoding: ExportEncoding): AsyncGenerator<Buffer> {
  const parts: Buffer[] = [format === 'binary' ? encodeBinaryHeader() : Buffer.from(encodeJsonHeader(encoding))];
  let gathered = parts[0]!.length;
  let count = 0;
  try {
    for (let batch = await iterator.nextvWithExpiry(EXPORT_BATCH_ENTRIES); batch.length > 0; batch = await iterator.nextvWithExpiry(EXPORT_BATCH_ENTRIES)) {
      for (const [[key, value], expiresAtMs] of batch) {
        const part = format === 'binary' ? encodeBinaryEntry(key, value, expiresAtMs) : Buffer.from(encodeJsonEntry(key, value, encoding, expiresAtMs));
        parts.push(part);
        gathered += part.length;
        count++;
        if (gathered >= EXPORT_CHUNK_BYTES) {
          yield Buffer.concat(parts.splice(0), gathered);
          gathered = 0;
        }
      }
    }
    parts.push(format === 'binary' ? encodeBinaryEnd(count) : Buffer.from(encodeJsonEnd(count)));
    yield Buffer.concat(parts);
  } finally {
    await iterator.close();
  }
}
