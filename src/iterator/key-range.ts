/**
 * The bounds of an iteration, as the iterators and the read path test them: the
 * tighter of each side's exclusive and inclusive bound, whether a key lies
 * outside, and the key prefix every key of a range shares (for prefix filters:
 * docs/format.md, "SSTable: filter block").
 */
import { compareKeys } from '../keys.js';

/**
 * Bounds of an iteration. Every bound given applies, so with both `gt` and `gte`
 * the tighter wins (abstract-level instead lets `gte` override `gt`; the Level
 * adapter drops the overridden bound before it gets here).
 */
export interface KeyRange {
  gt?: Buffer;
  gte?: Buffer;
  lt?: Buffer;
  lte?: Buffer;
}

/** One end of a range: a key, and whether the key itself is in the range. */
export interface Bound {
  readonly key: Buffer;
  readonly inclusive: boolean;
}

/** The tighter of an exclusive and an inclusive bound on the same side; `sign` is +1 for lower bounds, -1 for upper. */
function tighterBound(exclusive: Buffer | undefined, inclusive: Buffer | undefined, sign: number): Bound | undefined {
  if (exclusive === undefined) return inclusive === undefined ? undefined : { key: inclusive, inclusive: true };
  if (inclusive === undefined) return { key: exclusive, inclusive: false };
  // At equal keys the exclusive bound is the tighter one.
  return sign * inclusive.compare(exclusive) > 0 ? { key: inclusive, inclusive: true } : { key: exclusive, inclusive: false };
}

/** The lower and upper bound of `range`. */
export function rangeBounds(range: KeyRange): { lower: Bound | undefined; upper: Bound | undefined } {
  return { lower: tighterBound(range.gt, range.gte, 1), upper: tighterBound(range.lt, range.lte, -1) };
}

/** Whether `key` is on the far side of `lower` (below the range). */
export function belowLower(key: Buffer, lower: Bound | undefined): boolean {
  if (lower === undefined) return false;
  const order = compareKeys(key, lower.key);
  return order < 0 || (order === 0 && !lower.inclusive);
}

/** Whether `key` is on the far side of `upper` (above the range). */
export function aboveUpper(key: Buffer, upper: Bound | undefined): boolean {
  if (upper === undefined) return false;
  const order = compareKeys(key, upper.key);
  return order > 0 || (order === 0 && !upper.inclusive);
}

/**
 * The smallest key above every key that begins with `prefix`: the prefix with its
 * trailing 0xff bytes dropped and its last byte then raised by one; `undefined`
 * when the prefix is all 0xff (every key after it begins with it).
 */
export function prefixSuccessor(prefix: Buffer): Buffer | undefined {
  let end = prefix.length;
  while (end > 0 && prefix[end - 1] === 0xff) end--;
  if (end === 0) return undefined;
  const successor = Buffer.from(prefix.subarray(0, end));
  successor[end - 1]!++;
  return successor;
}

/**
 * The `prefixBytes`-byte prefix that every key in the range shares, or
 * `undefined` when the range can hold keys with different ones. It exists when
 * the lower bound is at least that long and the upper bound is at or below the
 * successor of the lower bound's prefix. (A key shorter than the prefix cannot be
 * in such a range: at or above the lower bound it would sort above the prefix,
 * so at or above its successor.)
 */
export function sharedPrefix(lower: Bound | undefined, upper: Bound | undefined, prefixBytes: number): Buffer | undefined {
  if (prefixBytes === 0 || lower === undefined || lower.key.length < prefixBytes) return undefined;
  const prefix = lower.key.subarray(0, prefixBytes);
  const successor = prefixSuccessor(prefix);
  if (successor === undefined) return prefix;
  if (upper === undefined) return undefined;
  const order = compareKeys(upper.key, successor);
  return order < 0 || (order === 0 && !upper.inclusive) ? prefix : undefined;
}
