/**
 * Comparing byte ranges with `Buffer#compare`, on every runtime.
 *
 * Deno 2's `node:buffer` checks `buf.compare(target, targetStart, targetEnd,
 * sourceStart, sourceEnd)`'s ends against the wrong buffers (`targetEnd` against
 * `buf`'s length, `sourceEnd` against `target`'s), so a range compare of two
 * buffers of different lengths throws `ERR_OUT_OF_RANGE` there. One probe at load
 * decides; where ranged compares misbehave, the ranges are compared as subarrays
 * (an allocation per call, so not where they work).
 */

function rangedCompareWorks(): boolean {
  try {
    return Buffer.from([1]).compare(Buffer.from([1, 2, 3]), 0, 3, 0, 1) < 0;
  } catch {
    return false;
  }
}

const RANGED_COMPARE_WORKS = rangedCompareWorks();

/** memcmp of `a[aStart, aEnd)` and `b[bStart, bEnd)` by native code: negative, zero or positive. */
export const compareRangesNative: (a: Buffer, aStart: number, aEnd: number, b: Uint8Array, bStart: number, bEnd: number) => number =
  RANGED_COMPARE_WORKS
    ? (a, aStart, aEnd, b, bStart, bEnd) => a.compare(b, bStart, bEnd, aStart, aEnd)
    : (a, aStart, aEnd, b, bStart, bEnd) => Buffer.compare(a.subarray(aStart, aEnd), b.subarray(bStart, bEnd));
