/**
 * Block handles: where a block lives in the table file (docs/format.md,
 * "SSTable: block handle").
 *
 * A handle is `offset varint ‖ size varint`, both LEB128 varints of up to 8 bytes
 * holding values up to 2^53 - 1. `offset` is the file offset of the block's first
 * byte; `size` is the length of its stored contents, *not* counting the 5-byte
 * trailer (type and CRC) that follows them. Index entries carry handles as
 * values; the footer stores its three handles as fixed-width fields instead (see
 * footer.ts), so that its size is fixed.
 */
import assert from 'node:assert/strict';
import { CorruptionError } from '../errors.js';

/** Where a block is: its first byte and the length of its stored contents (trailer excluded). */
export interface BlockHandle {
  readonly offset: number;
  readonly size: number;
}

/** The most bytes a varint of up to 2^53 - 1 takes: 8 (56 bits). */
const VARINT53_BYTES_MAX = 8;

/** The most bytes an encoded handle takes. */
export const BLOCK_HANDLE_BYTES_MAX = 2 * VARINT53_BYTES_MAX;

/** Writes `value` (0 ≤ value ≤ 2^53 - 1) as a LEB128 varint at `offset`; returns the offset after it. */
export function writeVarint53(buffer: Buffer, value: number, offset: number): number {
  assert(Number.isSafeInteger(value) && value >= 0, 'varint53 out of range');
  let rest = value;
  while (rest >= 0x80) {
    buffer[offset++] = (rest % 0x80) | 0x80;
    rest = Math.floor(rest / 0x80);
  }
  buffer[offset++] = rest;
  return offset;
}

/**
 * Reads a varint of at most 8 bytes at `offset`, not reading at or past `limit`.
 * Returns the value, or -1 when the bytes end early, run longer than 8 bytes, or
 * the value exceeds 2^53 - 1; `next` receives the offset after it.
 */
function readVarint53(buffer: Buffer, offset: number, limit: number, next: { offset: number }): number {
  let value = 0;
  let multiplier = 1;
  for (let i = 0; i < VARINT53_BYTES_MAX; i++) {
    if (offset >= limit) return -1;
    const byte = buffer[offset++]!;
    value += (byte & 0x7f) * multiplier;
    if (byte < 0x80) {
      next.offset = offset;
      return Number.isSafeInteger(value) ? value : -1;
    }
    multiplier *= 0x80;
  }
  return -1;
}

/** Encodes `handle` as `offset varint ‖ size varint`. */
export function encodeBlockHandle(handle: BlockHandle): Buffer {
  const scratch = Buffer.allocUnsafe(BLOCK_HANDLE_BYTES_MAX);
  let end = writeVarint53(scratch, handle.offset, 0);
  end = writeVarint53(scratch, handle.size, end);
  return Buffer.from(scratch.subarray(0, end));
}

/**
 * Decodes the handle that must fill exactly `buffer[start, end)` (an index entry's
 * value). Anything else is a `CorruptionError` in `fileName` at `errorOffset`
 * (the offset of the block holding the handle).
 */
export function decodeBlockHandle(buffer: Buffer, start: number, end: number, fileName: string, errorOffset: number): BlockHandle {
  const next = { offset: start };
  const offset = readVarint53(buffer, start, end, next);
  if (offset < 0) throw new CorruptionError(fileName, errorOffset, 'bad block handle offset');
  const size = readVarint53(buffer, next.offset, end, next);
  if (size < 0) throw new CorruptionError(fileName, errorOffset, 'bad block handle size');
  if (next.offset !== end) throw new CorruptionError(fileName, errorOffset, 'trailing bytes after block handle');
  return { offset, size };
}
