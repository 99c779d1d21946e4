/**
 * The concatenation of one level's tables (L1 and deeper) as a single internal
 * iterator (docs/internals.md, "Read path"). The tables of such a level are sorted
 * and do not overlap, and compaction keeps every version of a user key in one
 * table, so a binary search over the tables' largest user keys finds the only
 * table that can hold a key. Tables are opened lazily, one at a time: moving to a
 * neighbour closes the table iterator left behind.
 */
import assert from '../util/assert.js';
import type { EntryType } from '../keys.js';
import type { InternalIterator } from './internal-iterator.js';

/**
 * An `InternalIterator` over the tables `files` of one level, in order. Unpositioned
 * until a seek. Keys and values follow the table iterators' lifetime rules.
 * `close()` closes the open table iterator.
 *
 * @typeParam T The caller's table metadata; the iterator only hands it back.
 */
export class LevelIterator<T> implements InternalIterator {
  readonly #files: readonly T[];
  readonly #open: (file: T) => InternalIterator;
  readonly #largestUserKeys: readonly Buffer[];
  /** Whether each table's largest user key is an exclusive bound (a range tombstone's end): the table holds no key equal to it. */
  readonly #largestExclusive: readonly boolean[];
  /** The index in `#files` of the open table; -1 when none is open. */
  #fileIndex = -1;
  #table: InternalIterator | undefined;

  /**
   * @param files The level's tables, sorted by key, not overlapping.
   * @param open Opens an iterator over one table; called lazily, at most once per visit.
   * @param largestUserKeyOf The largest user key in a table.
   * @param largestExclusiveOf Whether that key is an exclusive bound: the
   *   table's keys stop short of it, and the next table may begin with it.
   */
  constructor(files: readonly T[], open: (file: T) => InternalIterator, largestUserKeyOf: (file: T) => Buffer, largestExclusiveOf: (file: T) => boolean = () => false) {
    this.#files = files;
    this.#open = open;
    this.#largestUserKeys = files.map(largestUserKeyOf);
    this.#largestExclusive = files.map(largestExclusiveOf);
    for (let i = 1; i < this.#largestUserKeys.length; i++) {
      // Invariant: at L1+ a user key lives in one table, so largest keys strictly ascend (an exclusive one may equal the next).
      const byKey = this.#largestUserKeys[i - 1]!.compare(this.#largestUserKeys[i]!);
      assert(byKey < 0 || (byKey === 0 && this.#largestExclusive[i - 1]!), `level tables ${i - 1} and ${i} out of order`);
    }
  }

  valid(): boolean {
    return this.#table !== undefined && this.#table.valid();
  }

  seekToFirst(): void {
    if (this.#moveTo(0)) this.#table!.seekToFirst();
    this.#skipEmptyForward();
  }

  seekToLast(): void {
    if (this.#moveTo(this.#files.length - 1)) this.#table!.seekToLast();
    this.#skipEmptyBackward();
  }

  seek(userKey: Buffer, seq: number): void {
    if (this.#moveTo(this.#firstFileReaching(userKey))) this.#table!.seek(userKey, seq);
    // The table's versions of `userKey` may all be newer than `seq`: go on to the next table.
    this.#skipEmptyForward();
  }

  seekForPrev(userKey: Buffer, seq: number): void {
    // Every table before the one reaching `userKey` holds only smaller keys, and so
    // does the last table when none reaches it.
    const index = Math.min(this.#firstFileReaching(userKey), this.#files.length - 1);
    if (this.#moveTo(index)) this.#table!.seekForPrev(userKey, seq);
    // `userKey` may fall before the table's first entry: go back to the previous table.
    this.#skipEmptyBackward();
  }

  next(): void {
    assert(this.valid(), 'next() of an invalid level iterator');
    this.#table!.next();
    this.#skipEmptyForward();
  }

  prev(): void {
    assert(this.valid(), 'prev() of an invalid level iterator');
    this.#table!.prev();
    this.#skipEmptyBackward();
  }

  userKey(): Buffer {
    return this.#current().userKey();
  }

  internalKey(): Buffer {
    return this.#current().internalKey();
  }

  seq(): number {
    return this.#current().seq();
  }

  type(): EntryType {
    return this.#current().type();
  }

  value(): Buffer {
    return this.#current().value();
  }

  close(): void {
    this.#moveTo(-1);
  }

  #current(): InternalIterator {
    assert(this.valid(), 'read from an invalid level iterator');
    return this.#table!;
  }

  /** The index of the first table that may hold `userKey` or a larger key; the table count when none may. */
  #firstFileReaching(userKey: Buffer): number {
    let low = 0;
    let high = this.#largestUserKeys.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      const byKey = this.#largestUserKeys[middle]!.compare(userKey);
      if (byKey < 0 || (byKey === 0 && this.#largestExclusive[middle]!)) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  /**
   * Makes the table at `index` the open one, closing the one open before (unless it
   * is the same table). An index outside the level leaves none open. Returns
   * whether a table is open.
   */
  #moveTo(index: number): boolean {
    const inLevel = index >= 0 && index < this.#files.length;
    if (inLevel && index === this.#fileIndex) return true;
    this.#table?.close();
    this.#table = inLevel ? this.#open(this.#files[index]!) : undefined;
    this.#fileIndex = inLevel ? index : -1;
    return inLevel;
  }

  /** While the open table has run out, opens the next one at its first entry. */
  #skipEmptyForward(): void {
    while (this.#table !== undefined && !this.#table.valid()) {
      if (this.#moveTo(this.#fileIndex + 1)) this.#table.seekToFirst();
    }
  }

  /** While the open table has run out, opens the previous one at its last entry. */
  #skipEmptyBackward(): void {
    while (this.#table !== undefined && !this.#table.valid()) {
      if (this.#moveTo(this.#fileIndex - 1)) this.#table.seekToLast();
    }
  }
}
