/**
 * Reads a log file written by `LogWriter` (docs/format.md, "Log framing") as a
 * stream of events: intact records, and the places where the bytes are bad.
 * The reader judges nothing: whether a bad place is a torn tail to drop or
 * corruption to report is the caller's policy (`recovery.ts`, `manifest.ts`).
 *
 * After damage it resynchronises by trying every byte offset for an intact chunk
 * (type, length and CRC all valid), so intact records after damage are found even
 * within the same 32 KiB block.
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

  const bad = (offset: number, reason: string): LogEvent | undefined => {
    parts = [];
    recordStart = -1;
    if (lastWasBad) return undefined;
    lastWasBad = true;
    return { kind: 'bad', offset, reason };
  };

  while (position < size) {
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
      // Look for the next intact chunk at every following byte, not just at the next
      // block: recovery must see the records that follow damage in the same block to
      // tell a torn tail from corruption of synced data.
      resyncing = true;
      position += 1;
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
