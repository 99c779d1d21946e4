/**
 * Comparing and copying byte ranges on the hot paths of the block reader and
 * builder (docs/format.md, "SSTable: block contents": keys are compared and
 * rebuilt in place, never sliced out).
 *
 * `Buffer#compare` and `Buffer#copy` with ranges validate their arguments and
 * cross into native code; for the short keys of a typical table that costs more
 * than the work itself, so short ranges take a plain loop.
 */
import { compareRangesNative } from '../util/bytes.js';

/** From this many bytes on, the native comparison wins. */
const NATIVE_COMPARE_BYTES_MIN = 64;
/** From this many bytes on, the native copy wins. */
const NATIVE_COPY_BYTES_MIN = 32;

/** memcmp of `a[aStart, aEnd)` and `b[bStart, bEnd)`: negative, zero or positive. */
export function compareBytes(a: Buffer, aStart: number, aEnd: number, b: Uint8Array, bStart: number, bEnd: number): number {
  const aLength = aEnd - aStart;
  const bLength = bEnd - bStart;
  const length = aLength < bLength ? aLength : bLength;
  if (length >= NATIVE_COMPARE_BYTES_MIN) return compareRangesNative(a, aStart, aEnd, b, bStart, bEnd);
  for (let i = 0; i < length; i++) {
    const diff = a[aStart + i]! - b[bStart + i]!;
    if (diff !== 0) return diff;
  }
  return aLength - bLength;
}

/** Copies `source[start, end)` to `target` at `targetStart`. The caller has checked both ranges. */
export function copyBytes(source: Uint8Array, start: number, end: number, target: Buffer, targetStart: number): void {
  if (end - start >= NATIVE_COPY_BYTES_MIN) {
    target.set(source.subarray(start, end), targetStart);
    return;
  }
  for (let i = start; i < end; i++) target[targetStart++] = source[i]!;
}
