/**
 * Key orderings for the blocks of a table (docs/format.md, "SSTable: block contents").
 *
 * A block only stores sorted keys; which order they are sorted in is the caller's
 * business. Data and index blocks hold internal keys; tests also use plain bytewise
 * keys. A comparator compares a key *in place* (a subrange of a block buffer or of an
 * iterator's scratch buffer) with a whole target key, so the read path never copies
 * a key just to compare it.
 */
import { INTERNAL_KEY_TRAILER_BYTES, compareTrailers } from '../keys.js';
import { compareBytes } from './byte-ranges.js';

/** An ordering of keys, comparing a range of one buffer with a whole target. */
export interface KeyComparator {
  /** A short name for dumps and error messages. */
  readonly name: string;
  /**
   * The shortest key this ordering accepts. Block readers reject shorter keys as
   * corruption, so `compare` may assume every key it sees is at least this long.
   */
  readonly keyBytesMin: number;
  /** Compares `a[aStart, aEnd)` with all of `b`: negative, zero or positive. */
  compare(a: Buffer, aStart: number, aEnd: number, b: Buffer): number;
}

/** memcmp order: bytewise, a shorter prefix first. */
export const bytewiseComparator: KeyComparator = {
  name: 'bytewise',
  keyBytesMin: 0,
  compare(a: Buffer, aStart: number, aEnd: number, b: Buffer): number {
    return compareBytes(a, aStart, aEnd, b, 0, b.length);
  },
};

/**
 * Internal-key order (the same as `compareInternalKeys` in keys.ts): user key
 * ascending, then the 8-byte trailer `seq << 8 | type` descending, so the newest
 * version of a user key comes first.
 */
export const internalKeyComparator: KeyComparator = {
  name: 'internal',
  keyBytesMin: INTERNAL_KEY_TRAILER_BYTES,
  compare(a: Buffer, aStart: number, aEnd: number, b: Buffer): number {
    return compareInternalRanges(a, aStart, aEnd, b, 0, b.length);
  },
};

/**
 * Internal-key order of `a[aStart, aEnd)` and `b[bStart, bEnd)`, both internal
 * keys in place: a block's bytes, an iterator's or a builder's scratch buffer.
 */
export function compareInternalRanges(a: Buffer, aStart: number, aEnd: number, b: Buffer, bStart: number, bEnd: number): number {
  const aUserEnd = aEnd - INTERNAL_KEY_TRAILER_BYTES;
  const bUserEnd = bEnd - INTERNAL_KEY_TRAILER_BYTES;
  const byUser = compareBytes(a, aStart, aUserEnd, b, bStart, bUserEnd);
  return byUser !== 0 ? byUser : compareTrailers(a, aUserEnd, b, bUserEnd);
}
