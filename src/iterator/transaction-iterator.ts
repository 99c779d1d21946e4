/**
 * A transaction's iterator: its own buffered writes merged over the database's
 * entries at its snapshot (a `DBIterator`), in either direction, within bounds
 * (docs/internals.md, "Transactions"). A buffered write hides the database's
 * entry for its key; a buffered delete hides the key altogether; a buffered
 * range delete hides the database's entries in its range (the iterator seeks
 * past the range), not the buffered writes in it, which came after it.
 *
 * For a serializable transaction it also reports the key range it has covered so
 * far, from the start of its range to the last key it produced (to the end of the
 * range once it ran out), so that a commit can fail if another write lands in it.
 */
import assert from '../util/assert.js';
import { EntryType, compareKeys } from '../keys.js';
import { rangeHolding, type BufferedRange, type BufferedWrite, type WriteBufferView } from '../db/write-buffer.js';
import type { CopyParts, DBIterator } from './db-iterator.js';
import { aboveUpper, belowLower, rangeBounds, type Bound, type KeyRange } from './key-range.js';
import type { UserIterator } from './public-iterator.js';

/** The range an iterator has covered: `undefined` ends are open. Reported after every batch that extends it. */
export type CoveredRange = { lower: Bound | undefined; upper: Bound | undefined };

export class TransactionIterator implements UserIterator {
  readonly #base: DBIterator;
  readonly #reverse: boolean;
  readonly #lower: Bound | undefined;
  readonly #upper: Bound | undefined;
  /** The buffered writes inside the bounds, in iteration order. */
  readonly #writes: [Buffer, BufferedWrite][] = [];
  /** The transaction's range deletes: sorted, disjoint. */
  readonly #deleted: readonly BufferedRange[];
  #index = 0;
  #key: Buffer | undefined;
  #value: Buffer | undefined;
  #fromBuffer = false;
  readonly #onCovered: ((covered: CoveredRange) => void) | undefined;
  /** The farthest key produced so far, in iteration order. */
  #reach: Buffer | undefined;
  #reachedEnd = false;

  /**
   * @param base The database's entries at the transaction's snapshot, with the same range and direction; owned.
   * @param writes The transaction's writes as they were when the iterator was made.
   * @param onCovered Told the range covered so far after each batch (serializable transactions).
   */
  constructor(base: DBIterator, writes: WriteBufferView, range: KeyRange, reverse: boolean, onCovered?: (covered: CoveredRange) => void) {
    this.#base = base;
    this.#reverse = reverse;
    const { lower, upper } = rangeBounds(range);
    this.#lower = lower;
    this.#upper = upper;
    this.#onCovered = onCovered;
    this.#deleted = writes.ranges;
    if (writes.size === 0) return;
    const entries = reverse ? writes.entriesReversed(upper?.key) : writes.entries(lower?.key);
    for (const entry of entries) {
      if (reverse ? belowLower(entry[0], lower) : aboveUpper(entry[0], upper)) break;
      if (!belowLower(entry[0], lower) && !aboveUpper(entry[0], upper)) this.#writes.push(entry);
    }
  }

  seekToStart(): void {
    this.#base.seekToStart();
    this.#index = 0;
    this.#settle();
  }

  seek(target: Buffer): void {
    this.#base.seek(target);
    if (belowLower(target, this.#lower) || aboveUpper(target, this.#upper)) {
      this.#index = this.#writes.length;
    } else {
      // The first buffered write at or past the target in iteration order.
      let low = 0;
      let high = this.#writes.length;
      while (low < high) {
        const middle = (low + high) >>> 1;
        if (this.#before(this.#writes[middle]![0], target)) low = middle + 1;
        else high = middle;
      }
      this.#index = low;
    }
    this.#settle();
  }

  nextBatch(maxEntries: number, maxBytes: number, out: [Buffer, Buffer][], copy: CopyParts, expiring?: Map<number, number>): number {
    assert(Number.isSafeInteger(maxEntries) && maxEntries >= 1, `nextBatch needs maxEntries >= 1, got ${maxEntries}`);
    // The snapshot's entry in view was judged at the last call's time: judge it again at this one's.
    if (!this.#fromBuffer && this.#base.valid()) {
      this.#base.rejudge();
      this.#settle();
    }
    let count = 0;
    let bytes = 0;
    let last: Buffer | undefined;
    while (this.#key !== undefined && count < maxEntries) {
      const key = this.#key;
      const value = this.#value!;
      if (expiring !== undefined && !this.#fromBuffer && this.#base.expiresAtMs !== Infinity) expiring.set(out.length, this.#base.expiresAtMs);
      out.push([copy.keys ? Buffer.from(key) : key, copy.values ? Buffer.from(value) : value]);
      count++;
      bytes += key.length + value.length;
      last = key;
      this.#advance();
      if (bytes >= maxBytes) break;
    }
    this.#report(last);
    return count;
  }

  readClock(): number {
    return this.#base.readClock();
  }

  close(): void {
    this.#key = undefined;
    this.#value = undefined;
    this.#base.close();
  }

  /** Whether `a` comes before `b` in iteration order. */
  #before(a: Buffer, b: Buffer): boolean {
    const order = compareKeys(a, b);
    return this.#reverse ? order > 0 : order < 0;
  }

  #advance(): void {
    if (this.#fromBuffer) this.#index++;
    else this.#base.advance();
    this.#settle();
  }

  /** Positions on the next entry of either source at or after where they rest; the buffer wins ties. */
  #settle(): void {
    for (;;) {
      const base = this.#base.valid() ? this.#base.key() : undefined;
      const write = this.#writes[this.#index];
      if (write === undefined && base === undefined) {
        this.#key = undefined;
        this.#value = undefined;
        return;
      }
      if (write === undefined || (base !== undefined && this.#before(base, write[0]))) {
        const deleted = this.#deleted.length === 0 ? undefined : rangeHolding(this.#deleted, base!);
        if (deleted !== undefined) {
          this.#skipPast(deleted);
          continue;
        }
        this.#key = base;
        this.#value = this.#base.value();
        this.#fromBuffer = false;
        return;
      }
      if (base !== undefined && compareKeys(base, write[0]) === 0) this.#base.advance();
      if (write[1].type === EntryType.DELETE) {
        this.#index++;
        continue;
      }
      this.#key = write[0];
      this.#value = write[1].value;
      this.#fromBuffer = true;
      return;
    }
  }

  /** Moves the database's side past `range`, which the transaction deleted: to its end, or (reversed) below its start. */
  #skipPast(range: BufferedRange): void {
    if (!this.#reverse) {
      this.#base.seek(range.end);
      return;
    }
    this.#base.seek(range.start);
    if (this.#base.valid() && compareKeys(this.#base.key(), range.start) === 0) this.#base.advance();
  }

  /**
   * Tells `onCovered` how far the iteration has reached: the farthest key it
   * produced, or the range's end once it ran out. The reach never shrinks: a
   * seek back does not undo what was read.
   */
  #report(last: Buffer | undefined): void {
    if (this.#onCovered === undefined || this.#reachedEnd) return;
    if (this.#key === undefined) {
      this.#reachedEnd = true;
      const end = this.#reverse ? this.#lower : this.#upper;
      this.#onCovered(this.#reverse ? { lower: end, upper: this.#upper } : { lower: this.#lower, upper: end });
      return;
    }
    if (last === undefined || (this.#reach !== undefined && !this.#before(this.#reach, last))) return;
    // A copy: keys may be views of the engine's blocks.
    this.#reach = Buffer.from(last);
    const end: Bound = { key: this.#reach, inclusive: true };
    this.#onCovered(this.#reverse ? { lower: end, upper: this.#upper } : { lower: this.#lower, upper: end });
  }
}
