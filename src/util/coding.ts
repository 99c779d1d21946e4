/**
 * Little-endian fixed-width and varint integer coding shared by every on-disk
 * format (docs/format.md, "Integer encodings"). 64-bit fields hold JS numbers up
 * to 2^53 - 1: sequence numbers and file offsets never get near that.
 */
import assert from 'node:assert/strict';

const TWO_32 = 0x1_0000_0000;

/** Writes `value` (0 ≤ value ≤ 2^53 - 1) as 8 bytes little-endian. */
export function writeUint64(buffer: Buffer, value: number, offset: number): number {
  assert(Number.isSafeInteger(value) && value >= 0, 'uint64 field out of range');
  buffer.writeUInt32LE(value % TWO_32, offset);
  buffer.writeUInt32LE(Math.floor(value / TWO_32), offset + 4);
  return offset + 8;
}

/** Reads 8 bytes little-endian; returns -1 when the value does not fit in 53 bits (the caller reports corruption). */
export function readUint64(buffer: Uint8Array, offset: number): number {
  const view = buffer as Buffer;
  const low = view.readUInt32LE(offset);
  const high = view.readUInt32LE(offset + 4);
  if (high >= 0x20_0000) return -1;
  return high * TWO_32 + low;
}

/** The number of bytes `value` takes as a varint32. */
export function varint32Length(value: number): number {
  if (value < 0x80) return 1;
  if (value < 0x4000) return 2;
  if (value < 0x20_0000) return 3;
  if (value < 0x1000_0000) return 4;
  return 5;
}

/** Writes `value` (0 ≤ value < 2^32) as a LEB128 varint; returns the offset after it. */
export function writeVarint32(buffer: Uint8Array, value: number, offset: number): number {
  assert(Number.isInteger(value) && value >= 0 && value < TWO_32, 'varint32 out of range');
  let rest = value;
  while (rest >= 0x80) {
    buffer[offset++] = (rest & 0x7f) | 0x80;
    rest = Math.floor(rest / 128);
  }
  buffer[offset++] = rest;
  return offset;
}

/**
 * Reads a varint32 at `offset`, not reading at or past `limit`. Returns the value
 * and the offset after it, or `undefined` when the bytes end early or the value
 * overflows 32 bits: the caller turns that into a `CorruptionError`.
 */
export function readVarint32(buffer: Uint8Array, offset: number, limit: number): { value: number; next: number } | undefined {
  let value = 0;
  let multiplier = 1;
  for (let i = 0; i < 5; i++) {
    if (offset >= limit) return undefined;
    const byte = buffer[offset++]!;
    value += (byte & 0x7f) * multiplier;
    if (byte < 0x80) return value < TWO_32 ? { value, next: offset } : undefined;
    multiplier *= 128;
  }
  return undefined;
}

/**
 * A copy of `bytes` in an ArrayBuffer of its own, exactly as long. For bytes that
 * live long or cross to the worker, such as a table's smallest and largest keys.
 * A small `Buffer.from` copy is a slice of a shared 8 KiB pool and keeps the whole
 * pool alive. Structured clone also copies a view's entire backing ArrayBuffer, so
 * each such key crossing between threads carried 8 KiB, or a whole MANIFEST
 * record for keys decoded from one.
 */
export function standaloneCopy(bytes: Uint8Array): Buffer {
  const copy = Buffer.allocUnsafeSlow(bytes.length);
  copy.set(bytes);
  return copy;
}
