/**
 * A transaction's buffered writes: the latest put or delete of each key, in key
 * order, and the ranges it deleted, until commit turns them into one batch
 * (docs/internals.md, "Transactions").
 *
 * A range delete drops the buffered writes inside its range (they came before
 * it) and joins the buffer's ranges, kept merged: sorted, disjoint, none
 * touching another. A key write after it is buffered as usual and wins over the
 * range for its key. So the batch is the ranges first, then the key writes: each
 * key write then has a larger sequence number than every range delete, which is
 * the order the transaction issued them in wherever the two meet.
 */
import { EntryType, compareKeys } from '../keys.js';
import { sortedMap } from '../util/sorted-map.js';
import type { WriteOp } from '../wal/write-group.js';

/** One buffered write: a PUT with its value, or a DELETE (empty value). */
export interface BufferedWrite {
  readonly type: typeof EntryType.PUT | typeof EntryType.DELETE;
  readonly value: Buffer;
}

/** A buffered range delete: every key in [start, end). */
export interface BufferedRange {
  readonly start: Buffer;
  readonly end: Buffer;
}

/** Bytes charged per buffered key beyond its key and value, toward `transactionBytesMax`. */
export const BUFFERED_ENTRY_OVERHEAD_BYTES = 32;

/** Bytes charged per buffered range beyond its start and end, toward `transactionBytesMax`. */
export const BUFFERED_RANGE_OVERHEAD_BYTES = 32;

/** The frozen content of a write buffer at one moment, for an iterator. */
export interface WriteBufferView {
  entries(low?: Buffer): IterableIterator<[Buffer, BufferedWrite]>;
  entriesReversed(high?: Buffer): IterableIterator<[Buffer, BufferedWrite]>;
  /** Keys buffered. */
  readonly size: number;
  /** The ranges deleted: sorted, disjoint. */
  readonly ranges: readonly BufferedRange[];
}

/** The range of `ranges` (sorted, disjoint) holding `key`, if any: a binary search. */
export function rangeHolding(ranges: readonly BufferedRange[], key: Buffer): BufferedRange | undefined {
  let low = 0;
  let high = ranges.length;
  // The first range whose end is above `key`.
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (compareKeys(ranges[middle]!.end, key) <= 0) low = middle + 1;
    else high = middle;
  }
  const range = ranges[low];
  return range !== undefined && compareKeys(range.start, key) <= 0 ? range : undefined;
}

export class WriteBuffer {
  #entries = sortedMap<Buffer, BufferedWrite>(compareKeys);
  /** Sorted, disjoint, none touching; replaced, never changed, so a view can share it. */
  #ranges: readonly BufferedRange[] = [];
  #bytes = 0;

  /** Keys buffered. */
  get size(): number {
    return this.#entries.size;
  }

  /** The ranges deleted: sorted, disjoint. */
  get ranges(): readonly BufferedRange[] {
    return this.#ranges;
  }

  /** Bytes charged: keys, values and a fixed overhead per key; starts, ends and a fixed overhead per range. */
  get bytes(): number {
    return this.#bytes;
  }

  /** The buffered write of `key`, if any. */
  get(key: Buffer): BufferedWrite | undefined {
    return this.#entries.get(key);
  }

  /** What buffering `write` under `key` would add to `bytes` (negative when it shrinks). */
  growthOf(key: Buffer, write: BufferedWrite): number {
    const old = this.#entries.get(key);
    if (old === undefined) return key.length + write.value.length + BUFFERED_ENTRY_OVERHEAD_BYTES;
    return write.value.length - old.value.length;
  }

  /** Whether a buffered range delete covers `key` (a key write after it may still be buffered). */
  deletes(key: Buffer): boolean {
    return rangeHolding(this.#ranges, key) !== undefined;
  }

  /**
   * What deleting [start, end) would add to `bytes` (negative when it shrinks),
   * and the ranges it would leave. `start < end`.
   */
  rangeGrowthOf(start: Buffer, end: Buffer): { growth: number; ranges: BufferedRange[] } {
    let mergedStart = start;
    let mergedEnd = end;
    const ranges: BufferedRange[] = [];
    let growth = start.length + end.length + BUFFERED_RANGE_OVERHEAD_BYTES;
    let placed = false;
    for (const range of this.#ranges) {
      if (compareKeys(range.end, mergedStart) < 0) {
        ranges.push(range);
      } else if (compareKeys(range.start, mergedEnd) > 0) {
        if (!placed) ranges.push({ start: mergedStart, end: mergedEnd });
        placed = true;
        ranges.push(range);
      } else {
        // Overlapping or touching: merged into the new range.
        growth -= range.start.length + range.end.length + BUFFERED_RANGE_OVERHEAD_BYTES;
        if (compareKeys(range.start, mergedStart) < 0) mergedStart = range.start;
        if (compareKeys(range.end, mergedEnd) > 0) mergedEnd = range.end;
      }
    }
    if (!placed) ranges.push({ start: mergedStart, end: mergedEnd });
    // The merged range's bounds may be other keys than the new one's, of other lengths.
    growth += mergedStart.length - start.length + mergedEnd.length - end.length;
    for (const [key, write] of this.#entries.entries(start)) {
      if (compareKeys(key, end) >= 0) break;
      growth -= key.length + write.value.length + BUFFERED_ENTRY_OVERHEAD_BYTES;
    }
    return { growth, ranges };
  }

  /** Deletes [start, end) (owned buffers, `start < end`): drops the buffered writes inside it and merges it into the ranges. */
  deleteRange(start: Buffer, end: Buffer): void {
    const { growth, ranges } = this.rangeGrowthOf(start, end);
    this.#entries.deleteRange(start, end, false);
    this.#ranges = ranges;
    this.#bytes += growth;
  }

  /** Buffers `write` under `key` (owned buffers: the caller never changes them), replacing what was there. */
  set(key: Buffer, write: BufferedWrite): void {
    this.#bytes += this.growthOf(key, write);
    this.#entries.set(key, write);
  }

  /** Every buffered key, in order. */
  keys(): IterableIterator<Buffer> {
    return this.#entries.keys();
  }

  /** The batch to commit: one range delete per range, then one op per key, in key order. */
  ops(): WriteOp[] {
    const ops: WriteOp[] = this.#ranges.map((range) => ({ type: EntryType.RANGE_DELETE, key: range.start, value: range.end }));
    this.#entries.forEach((write, key) => {
      ops.push({ type: write.type, key, value: write.value });
    });
    return ops;
  }

  /** A copy of the buffer as it is now, that later writes do not change (copy-on-write: O(1)). */
  view(): WriteBufferView {
    const entries = this.#entries.clone();
    const ranges = this.#ranges;
    return {
      entries: (low) => entries.entries(low),
      entriesReversed: (high) => entries.entriesReversed(high),
      size: entries.size,
      ranges,
    };
  }
}
