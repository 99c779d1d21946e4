/**
 * Reads a log file written by `LogWriter` (docs/format.md, "Log framing") as a
 * stream of events: intact records, and the places where the bytes are bad.
 * The reader judges nothing: whether a bad place is a torn tail to drop or
 * corruption to report is the caller's policy (`recovery.ts`, `manifest.ts`).
 *
 * After damage it resynchronises only where the writer could have started a
 * chunk (docs/format.md, "Reading after damage"), never by trying byte offsets:
 * keys and values are arbitrary bytes and may hold a whole intact chunk (a user
 * storing log records, say), which a byte scan would take for a record after the
 * damage and so turn an ordinary torn tail into corruption. Those places are:
 *
 * - the start of every block: a chunk never crosses a block boundary, so the
 *   first bytes of a block are always a chunk header (or nothing was written);
 * - the end of an intact chunk read at such a place;
 * - once per block, the end of a chunk whose header is sound (known type, length
 *   within its block) but whose checksum fails: unless the damage hit the length
 *   itself, the writer put the next chunk there. This keeps a bit flipped in a
 *   synced record detectable by the intact records after it in the same block.
 *
 * After any other damage (an unknown type, a length past the block, zeroed bytes,
 * or a second bad chunk in the block) the rest of the block is skipped, as
 * LevelDB's reader does, and reported as part of the same bad place.
 */
import type { RandomAccessFile } from '../fs/file-system.js';
import { CHUNK_HEADER_BYTES, ChunkType, LOG_BLOCK_BYTES, chunkCrc, unmaskCrc } from './log-format.js';

export type LogEvent =
  /** An intact logical record: it starts at `offset` and its last chunk ends at `end`. */
  | { kind: 'record'; offset: number; end: number; payload: Buffer }
  /** Damage starting at `offset`. Consecutive damage is reported once. */
  | { kind: 'bad'; offset: number; reason: string };

/** Reads every event of a log held in memory. `bytes` is the whole file. */
export function* readLogEvents(bytes: Buffer): Generator<LogEvent> {
  const size = bytes.length;
  let position = 0;
  let parts: Buffer[] = [];
  let recordStart = -1;
  // After damage, skip MIDDLE and LAST chunks until a record starts cleanly.
  let resyncing = false;
  let lastWasBad = false;
  // Whether this block already resumed past a bad chunk by trusting its length: a
  // second bad chunk may have been reached through a damaged length, so past it
  // nothing in the block is where the writer put it.
  let hoppedInBlock = false;

  const bad = (offset: number, reason: string): LogEvent | undefined => {
    parts = [];
    recordStart = -1;
    if (lastWasBad) return undefined;
    lastWasBad = true;
    return { kind: 'bad', offset, reason };
  };

  while (position < size) {
    if (position % LOG_BLOCK_BYTES === 0) hoppedInBlock = false;
    const blockEnd = Math.min(size, (Math.floor(position / LOG_BLOCK_BYTES) + 1) * LOG_BLOCK_BYTES);
    if (blockEnd - position < CHUNK_HEADER_BYTES) {
      // A block's last few bytes are padding; at the end of the file, mid-block, they are a torn header.
      if (blockEnd % LOG_BLOCK_BYTES !== 0) {
        const event = bad(recordStart >= 0 ? recordStart : position, 'truncated chunk header');
        if (event) yield event;
      }
      position = blockEnd;
      continue;
    }
    const storedCrc = bytes.readUInt32LE(position);
    const length = bytes.readUInt16LE(position + 4);
    const type = bytes[position + 6]!;
    const dataStart = position + CHUNK_HEADER_BYTES;
    const dataEnd = dataStart + length;
    let problem: string | undefined;
    if (type === ChunkType.ZERO && length === 0 && storedCrc === 0) problem = 'zeroed bytes';
    else if (type < ChunkType.FULL || type > ChunkType.LAST) problem = `unknown chunk type ${type}`;
    else if (dataEnd > blockEnd) problem = blockEnd === size ? 'truncated chunk' : 'chunk length past its block';
    else if (unmaskCrc(storedCrc) !== chunkCrc(type, bytes, dataStart, dataEnd)) problem = 'checksum mismatch';
    if (problem !== undefined) {
      const event = bad(recordStart >= 0 ? recordStart : position, problem);
      if (event) yield event;
      resyncing = true;
      // Only a checksum mismatch leaves the header's type and length plausible; then
      // the next chunk is where the length says, once per block. Otherwise nothing
      // in the rest of the block is known to be framing: user bytes are not tried.
      if (problem === 'checksum mismatch' && !hoppedInBlock) {
        hoppedInBlock = true;
        position = dataEnd;
      } else {
        position = blockEnd;
      }
      continue;
    }
    const data = bytes.subarray(dataStart, dataEnd);
    const chunkStart = position;
    position = dataEnd;
    if (type === ChunkType.FULL || type === ChunkType.FIRST) {
      if (recordStart >= 0) {
        const event = bad(recordStart, 'record missing its last chunk');
        if (event) yield event;
      }
      resyncing = false;
      if (type === ChunkType.FULL) {
        lastWasBad = false;
        yield { kind: 'record', offset: chunkStart, end: dataEnd, payload: Buffer.from(data) };
      } else {
        recordStart = chunkStart;
        parts = [data];
      }
      continue;
    }
    // MIDDLE or LAST.
    if (recordStart < 0) {
      if (!resyncing) {
        const event = bad(chunkStart, 'chunk without a first chunk');
        if (event) yield event;
      }
      continue;
    }
    parts.push(data);
    if (type === ChunkType.LAST) {
      const payload = Buffer.concat(parts);
      const offset = recordStart;
      parts = [];
      recordStart = -1;
      lastWasBad = false;
      yield { kind: 'record', offset, end: dataEnd, payload };
    }
  }
  if (recordStart >= 0) {
    const event = bad(recordStart, 'truncated record');
    if (event) yield event;
  }
}

/** Reads the whole of `file` (logs are bounded by the memtable size). */
export function readWholeFile(file: RandomAccessFile): Buffer {
  return file.read(0, file.size);
}
