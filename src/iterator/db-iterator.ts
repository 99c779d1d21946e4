/**
 * The user's view of the database through a merged internal iterator: for each
 * user key in a range, the newest entry visible at a snapshot, with tombstoned
 * keys and older versions hidden (docs/internals.md, "Read path").
 *
 * Forwards, the newest version of a key is the first one met with sequence ≤ the
 * snapshot, so the inner iterator rests on the entry it yields. Backwards, versions
 * come oldest first, so the newest visible one is the last met before the key
 * changes: the inner iterator runs one key past, and the result is remembered
 * (LevelDB's FindPrevUserEntry). A `DBIterator` moves in one direction only, so it
 * never has to turn the inner iterator around.
 *
 * An expiring PUT past its expiry reads as a DELETE at its sequence number. The
 * time it is judged by is the database's, read at every positioning call (a seek,
 * and each `nextBatch`), so an entry that expires while an iterator is open is
 * not returned after that (docs/internals.md, "TTL").
 */
import assert from '../util/assert.js';
import { EntryType, SEQUENCE_MAX, compareKeys } from '../keys.js';
import { FragmentedTombstones, newestAtOrBelow, type Fragment } from '../rangedel/fragments.js';
import { EXPIRY_BYTES, isExpired, readExpiry } from '../util/expiring-value.js';
import type { InternalIterator } from './internal-iterator.js';
import { aboveUpper, belowLower, rangeBounds, type Bound, type KeyRange } from './key-range.js';

/** Which parts of each entry `nextBatch` copies (`copy: false` copies neither: the caller gets the views). */
export interface CopyParts {
  readonly keys: boolean;
  readonly values: boolean;
}

/**
 * Iterates user keys and their visible values over `inner`, in key order or, with
 * `reverse`, backwards. Unpositioned until `seekToStart()` or `seek()`. It owns
 * `inner`: `close()` closes it. Keys and values are views that stay unchanged
 * after the iterator moves but belong to the engine: callers that keep them copy
 * them (`nextBatch` does).
 */
export class DBIterator {
  readonly #inner: InternalIterator;
  readonly #snapshotSeq: number;
  readonly #lower: Bound | undefined;
  readonly #upper: Bound | undefined;
  readonly #reverse: boolean;
  readonly #rangeTombstones: FragmentedTombstones;
  /** The newest sequence number any source holds: a tombstone at it deletes every version in its range. */
  readonly #newestSeq: number;
  readonly #clock: () => number;
  /** The time expiring entries are judged by, read from `#clock` at each positioning call. */
  #nowMs: number;
  #key: Buffer | undefined;
  #value: Buffer | undefined;
  /** When the current value expires (Infinity: never). */
  #valueExpiresAtMs = Infinity;
  /** Set by `#liveValue`: when the entry it judged expires. */
  #entryExpiresAtMs = Infinity;

  /**
   * @param inner The merged internal entries; the iterator takes ownership.
   * @param snapshotSeq Entries with a larger sequence number are invisible.
   * @param range Bounds on user keys; when both an exclusive and an inclusive bound
   *   are given on one side, the tighter applies.
   * @param reverse Whether to iterate from the largest key down.
   * @param rangeTombstones The range tombstones of every source of `inner`,
   *   fragmented together: an entry older than one covering its key, at or below
   *   the snapshot, is deleted.
   * @param clock The database's time: an expiring entry expired by it is hidden. Default: never expired.
   * @param newestSeq The newest sequence number of any entry or tombstone of the
   *   sources. Where the tombstone covering a key is that newest one, every
   *   version in its range is deleted and the iterator seeks past the range
   *   instead of stepping over its entries one by one.
   */
  constructor(
    inner: InternalIterator,
    snapshotSeq: number,
    range: KeyRange,
    reverse: boolean,
    rangeTombstones = FragmentedTombstones.EMPTY,
    clock: () => number = () => 0,
    newestSeq = SEQUENCE_MAX,
  ) {
    this.#inner = inner;
    this.#clock = clock;
    this.#nowMs = 0;
    this.#snapshotSeq = snapshotSeq;
    const bounds = rangeBounds(range);
    this.#lower = bounds.lower;
    this.#upper = bounds.upper;
    this.#reverse = reverse;
    this.#rangeTombstones = rangeTombstones;
    this.#newestSeq = newestSeq;
  }

  /** Whether the iterator is at a key. */
  valid(): boolean {
    return this.#key !== undefined;
  }

  /** The current user key (a view). Requires `valid()`. */
  key(): Buffer {
    assert(this.#key !== undefined, 'key() of an invalid DB iterator');
    return this.#key;
  }

  /** The current value (a view). Requires `valid()`. */
  value(): Buffer {
    assert(this.#value !== undefined, 'value() of an invalid DB iterator');
    return this.#value;
  }

  /** Moves to the first key in iteration order: the range's start, or its end when reversed. */
  seekToStart(): void {
    this.#nowMs = this.#clock();
    if (this.#reverse) this.#seekToUpper();
    else this.#seekToLower();
  }

  /**
   * Moves to the first key ≥ `target` (forward) or the last key ≤ `target`
   * (reverse). A target outside the range ends the iteration, as in abstract-level.
   */
  seek(target: Buffer): void {
    this.#nowMs = this.#clock();
    if (belowLower(target, this.#lower) || aboveUpper(target, this.#upper)) {
      this.#clear();
    } else if (this.#reverse) {
      // Sequence 0 takes in every version of `target`: the newest comes last backwards.
      this.#inner.seekForPrev(target, 0);
      this.#findPrevUserEntry();
    } else {
      this.#inner.seek(target, this.#snapshotSeq);
      this.#findNextUserEntry(undefined);
    }
  }

  /** Moves to the next key in iteration order (the previous key when reversed). Requires `valid()`. */
  advance(): void {
    const key = this.key();
    if (this.#reverse) {
      // The inner iterator already rests before the current key's versions.
      this.#findPrevUserEntry();
    } else {
      this.#inner.next();
      this.#findNextUserEntry(key);
    }
  }

  /**
   * Appends up to `maxEntries` entries, from the current one on, to `out` (keys
   * and values copied as `copy` says, else the views), stopping early once
   * `maxBytes` of keys and values are taken (the entry that crosses it included,
   * so every call with a valid iterator makes progress). Leaves the iterator at
   * the first entry not taken. Returns the count appended. With `expiring`, each
   * appended entry that will expire has its index in `out` mapped to its expiry
   * time, so that a caller holding the batch can drop what expires meanwhile.
   */
  nextBatch(maxEntries: number, maxBytes: number, out: [Buffer, Buffer][], copy: CopyParts, expiring?: Map<number, number>): number {
    assert(Number.isSafeInteger(maxEntries) && maxEntries >= 1, `nextBatch needs maxEntries >= 1, got ${maxEntries}`);
    this.rejudge();
    let count = 0;
    let bytes = 0;
    while (this.valid() && count < maxEntries) {
      const key = this.#key!;
      const value = this.#value!;
      if (expiring !== undefined && this.#valueExpiresAtMs !== Infinity) expiring.set(out.length, this.#valueExpiresAtMs);
      out.push([copy.keys ? Buffer.from(key) : key, copy.values ? Buffer.from(value) : value]);
      count++;
      bytes += key.length + value.length;
      this.advance();
      if (bytes >= maxBytes) break;
    }
    return count;
  }

  /**
   * Judges the current entry again at the database's time now (it was judged at
   * the last positioning call's), moving past it if it expired since: for a
   * caller that reads entries one at a time across calls, as `nextBatch` does.
   */
  rejudge(): void {
    const nowMs = this.#clock();
    if (nowMs !== this.#nowMs) {
      this.#nowMs = nowMs;
      if (this.#currentExpired()) this.advance();
    }
  }

  /** When the current entry expires (ms since the epoch); Infinity when it never does. */
  get expiresAtMs(): number {
    return this.#valueExpiresAtMs;
  }

  /** The database's time now (it only moves forward): for a caller judging entries it holds. */
  readClock(): number {
    return this.#clock();
  }

  /** Releases the inner iterator. Idempotent; the iterator is invalid afterwards. */
  close(): void {
    this.#clear();
    this.#inner.close();
  }

  #seekToLower(): void {
    const lower = this.#lower;
    if (lower === undefined) {
      this.#inner.seekToFirst();
      this.#findNextUserEntry(undefined);
    } else {
      // Past an exclusive bound's versions when we can: sequence 0 sorts last among them.
      this.#inner.seek(lower.key, lower.inclusive ? this.#snapshotSeq : 0);
      // An exclusive bound is then skipped like a key already yielded.
      this.#findNextUserEntry(lower.inclusive ? undefined : lower.key);
    }
  }

  #seekToUpper(): void {
    const upper = this.#upper;
    if (upper === undefined) {
      this.#inner.seekToLast();
    } else {
      // Sequence 0 takes in every version of an inclusive bound; SEQUENCE_MAX
      // leaves out those of an exclusive one but for a version at SEQUENCE_MAX itself.
      this.#inner.seekForPrev(upper.key, upper.inclusive ? 0 : SEQUENCE_MAX);
      if (!upper.inclusive) this.#skipBackwardOver(upper.key);
    }
    this.#findPrevUserEntry();
  }

  #skipBackwardOver(key: Buffer): void {
    const inner = this.#inner;
    while (inner.valid() && compareKeys(inner.userKey(), key) === 0) inner.prev();
  }

  /**
   * From the inner iterator's entry onwards, stops at the first visible PUT that is
   * the newest visible version of its key, skipping every entry of `skipKey`.
   * Ends the iteration past the upper bound.
   */
  #findNextUserEntry(skipKey: Buffer | undefined): void {
    const inner = this.#inner;
    let skip = skipKey;
    while (inner.valid()) {
      const key = inner.userKey();
      if (skip !== undefined && compareKeys(key, skip) === 0) {
        inner.next();
        continue;
      }
      if (aboveUpper(key, this.#upper)) break;
      if (inner.seq() > this.#snapshotSeq) {
        inner.next();
        continue;
      }
      const covered = this.#coveredByRange(key, inner.seq());
      const value = covered ? undefined : this.#liveValue();
      if (value === undefined) {
        const whole = covered ? this.#wholelyDeletedRange(key) : undefined;
        if (whole !== undefined) {
          // Every version up to the tombstone's end is deleted: seek past them all.
          inner.seek(whole.end, this.#snapshotSeq);
          skip = undefined;
          continue;
        }
        // The key's newest visible version is deleted, by a tombstone, a newer range tombstone or its expiry: hide
        // every older one (a range tombstone newer than it is newer than them; an expired entry reads as a DELETE).
        skip = key;
        inner.next();
        continue;
      }
      this.#key = key;
      this.#value = value;
      this.#valueExpiresAtMs = this.#entryExpiresAtMs;
      return;
    }
    this.#clear();
  }

  /**
   * Walks backwards from the inner iterator's entry, remembering the newest
   * visible version of the key being crossed, until the key changes after a PUT
   * was remembered; that PUT is the result. The inner iterator is left on the
   * oldest version of the key before it (the first met backwards), or invalid.
   * Ends the iteration below the lower bound.
   */
  #findPrevUserEntry(): void {
    const inner = this.#inner;
    let key: Buffer | undefined;
    let value: Buffer | undefined;
    let expiresAtMs = Infinity;
    while (inner.valid()) {
      const entryKey = inner.userKey();
      if (key !== undefined && compareKeys(entryKey, key) !== 0) break;
      if (belowLower(entryKey, this.#lower)) break;
      if (inner.seq() > this.#snapshotSeq) {
        inner.prev();
        continue;
      }
      const covered = this.#coveredByRange(entryKey, inner.seq());
      const live = covered ? undefined : this.#liveValue();
      if (live === undefined) {
        // A newer tombstone (a range tombstone, or an expired entry) hides what was remembered of this key.
        key = undefined;
        value = undefined;
        const whole = covered ? this.#wholelyDeletedRange(entryKey) : undefined;
        if (whole !== undefined) {
          // Every version from the tombstone's start up is deleted: go to the last entry before it.
          inner.seekForPrev(whole.start, SEQUENCE_MAX);
          continue;
        }
      } else {
        key = entryKey;
        value = live;
        expiresAtMs = this.#entryExpiresAtMs;
      }
      inner.prev();
    }
    this.#key = key;
    this.#value = value;
    this.#valueExpiresAtMs = expiresAtMs;
  }

  /**
   * The inner entry's value as a read sees it: undefined for a tombstone or an
   * expiring entry expired at `#nowMs`, else the value (an expiring one without
   * its expiry time). Sets `#entryExpiresAtMs` (Infinity when it never expires).
   */
  #liveValue(): Buffer | undefined {
    const inner = this.#inner;
    const type = inner.type();
    this.#entryExpiresAtMs = Infinity;
    if (type === EntryType.DELETE) return undefined;
    const value = inner.value();
    if (type !== EntryType.PUT_EXPIRING) return value;
    // Invariant: the sources check an expiring value's length as they read it.
    assert(value.length >= EXPIRY_BYTES, 'an expiring value without its expiry time');
    const expiresAtMs = readExpiry(value);
    if (isExpired(expiresAtMs, this.#nowMs)) return undefined;
    this.#entryExpiresAtMs = expiresAtMs;
    return value.subarray(EXPIRY_BYTES);
  }

  /** Whether the current entry has expired by `#nowMs`. */
  #currentExpired(): boolean {
    return this.#key !== undefined && isExpired(this.#valueExpiresAtMs, this.#nowMs);
  }

  /**
   * The fragment holding `key` when its newest tombstone visible at the snapshot
   * is the newest sequence of every source: then no version in the fragment is
   * newer than it (sequences are unique), and all of them are deleted.
   */
  #wholelyDeletedRange(key: Buffer): Fragment | undefined {
    const tombstones = this.#rangeTombstones;
    if (tombstones.isEmpty) return undefined;
    const index = tombstones.indexOf(key);
    if (index < 0) return undefined;
    const fragment = tombstones.fragments[index]!;
    return newestAtOrBelow(fragment.seqs, this.#snapshotSeq) >= this.#newestSeq ? fragment : undefined;
  }

  /** Whether a range tombstone visible at the snapshot deletes the version of `key` at `seq`. */
  #coveredByRange(key: Buffer, seq: number): boolean {
    const tombstones = this.#rangeTombstones;
    return !tombstones.isEmpty && tombstones.coveringSeq(key, this.#snapshotSeq) > seq;
  }

  #clear(): void {
    this.#key = undefined;
    this.#value = undefined;
  }
}
