/**
 * The memtable: the newest writes, in a B-tree (sorted-btree) ordered by internal
 * key — user key ascending, then sequence number descending — so the newest
 * version of a key is met first (docs/internals.md, "Memtable").
 *
 * A memtable is mutable until it is frozen; a frozen (immutable) one waits to be
 * flushed to an L0 table and is only read.
 */
import assert from '../util/assert.js';
import type * as BTreeTypes from 'sorted-btree';
import { BTree } from '../util/sorted-map.js';
import { EntryType, compareKeys } from '../keys.js';
import { FragmentedTombstones, newerOfEntryAndTombstone, type RangeTombstone } from '../rangedel/fragments.js';
import { EXPIRY_BYTES } from '../util/expiring-value.js';

type BTree<K, V> = BTreeTypes.default<K, V>;

/** An entry's position in the memtable: the B-tree key. Made by `memKey`. */
export interface MemKey {
  readonly key: Buffer;
  readonly seq: number;
  readonly type: EntryType;
  /**
   * The key's first 18 bytes as three 48-bit big-endian numbers (zero past its
   * end): most comparisons end on them, without touching the key's bytes.
   */
  readonly p0: number;
  readonly p1: number;
  readonly p2: number;
}

/** What a lookup found: the newest visible entry for the key. A DELETE hides older versions. */
export interface MemLookup {
  type: EntryType;
  seq: number;
  value: Buffer;
}

/** Per-entry bytes charged beyond key and value: the key object, tree slots, the value Buffer header. */
export const ENTRY_OVERHEAD_BYTES = 64;

const PREFIX_WORD_BYTES = 6;
const PREFIX_BYTES = 3 * PREFIX_WORD_BYTES;

/** Bytes `offset` to `offset + 6` of `key` as a big-endian number, zero past the end. */
function prefixWord(key: Buffer, offset: number): number {
  if (key.length >= offset + PREFIX_WORD_BYTES) return key.readUIntBE(offset, PREFIX_WORD_BYTES);
  let word = 0;
  for (let i = offset; i < offset + PREFIX_WORD_BYTES; i++) word = word * 256 + (i < key.length ? key[i]! : 0);
  return word;
}

export function memKey(key: Buffer, seq: number, type: EntryType): MemKey {
  return { key, seq, type, p0: prefixWord(key, 0), p1: prefixWord(key, PREFIX_WORD_BYTES), p2: prefixWord(key, 2 * PREFIX_WORD_BYTES) };
}

/**
 * Internal-key order: user key ascending, then sequence descending. The prefix
 * words order keys as their bytes do wherever they differ (a zero pad sorts a
 * shorter key first, as memcmp order wants); when they are equal, the bytes
 * decide unless both keys are equally long and fit in the prefix.
 *
 * Measured here on 300,000 random 16-byte keys: 2.3–2.6 µs an insert, against
 * 4.0–4.4 µs comparing the Buffers alone (each comparison then reads two more
 * objects, mostly cache misses).
 */
function compareMemKeys(a: MemKey, b: MemKey): number {
  let diff = a.p0 - b.p0;
  if (diff !== 0) return diff;
  diff = a.p1 - b.p1;
  if (diff !== 0) return diff;
  diff = a.p2 - b.p2;
  if (diff !== 0) return diff;
  if (a.key.length !== b.key.length || a.key.length > PREFIX_BYTES) {
    diff = compareKeys(a.key, b.key);
    if (diff !== 0) return diff;
  }
  return b.seq - a.seq;
}

export class MemTable {
  readonly #tree: BTree<MemKey, Buffer>;
  #approximateBytes = 0;
  #frozen = false;
  /** Range tombstones, in the order added; beside the tree, not in it (they cover ranges, not keys). */
  readonly #rangeTombstones: RangeTombstone[] = [];
  /** `#rangeTombstones` fragmented, made on first use after a change. */
  #fragments: FragmentedTombstones | undefined = FragmentedTombstones.EMPTY;
  #smallestSeq = Number.MAX_SAFE_INTEGER;
  #largestSeq = 0;

  constructor(nodeSizeMax = 64) {
    this.#tree = new BTree<MemKey, Buffer>(undefined, compareMemKeys, nodeSizeMax);
  }

  /** Bytes charged for the entries: keys, values and a fixed overhead each. */
  get approximateBytes(): number {
    return this.#approximateBytes;
  }

  /** Entries added: point entries and range tombstones. */
  get entryCount(): number {
    return this.#tree.size + this.#rangeTombstones.length;
  }

  /** Range tombstones added. */
  get rangeTombstoneCount(): number {
    return this.#rangeTombstones.length;
  }

  get frozen(): boolean {
    return this.#frozen;
  }

  /** The smallest and largest sequence numbers added (0 and 0 when empty). */
  get sequenceRange(): { smallest: number; largest: number } {
    return this.entryCount === 0 ? { smallest: 0, largest: 0 } : { smallest: this.#smallestSeq, largest: this.#largestSeq };
  }

  /** Adds one entry. The caller owns `key` and `value` no longer: they must not change afterwards. */
  add(seq: number, type: EntryType, key: Buffer, value: Buffer): void {
    assert(!this.#frozen, 'add to a frozen memtable');
    if (type === EntryType.RANGE_DELETE) {
      this.#addRangeTombstone(seq, key, value);
      return;
    }
    const added = this.#tree.set(memKey(key, seq, type), value, false);
    // Invariant: sequence numbers are unique, so every add is a new entry.
    // (The message is built only on failure: this runs for every write.)
    if (!added) assert.fail(`duplicate sequence number ${seq}`);
    this.#approximateBytes += key.length + value.length + ENTRY_OVERHEAD_BYTES;
    if (seq < this.#smallestSeq) this.#smallestSeq = seq;
    if (seq > this.#largestSeq) this.#largestSeq = seq;
  }

  /** A range tombstone over [start, end) at `seq`: `key` is its start, `value` its end. */
  #addRangeTombstone(seq: number, start: Buffer, end: Buffer): void {
    this.#rangeTombstones.push({ start, end, seq });
    this.#fragments = undefined;
    this.#approximateBytes += start.length + end.length + ENTRY_OVERHEAD_BYTES;
    if (seq < this.#smallestSeq) this.#smallestSeq = seq;
    if (seq > this.#largestSeq) this.#largestSeq = seq;
  }

  /**
   * The range tombstones, fragmented. The same object until the next range
   * tombstone is added; a reader at a snapshot ignores tombstones newer than it.
   */
  get rangeTombstones(): FragmentedTombstones {
    this.#fragments ??= FragmentedTombstones.of(this.#rangeTombstones);
    return this.#fragments;
  }

  /** The newest entry for `key` with sequence ≤ `snapshotSeq`, or undefined if the memtable has none. */
  get(key: Buffer, snapshotSeq: number): MemLookup | undefined {
    const found = this.#getPoint(key, snapshotSeq);
    if (this.#rangeTombstones.length === 0) return found;
    return newerOfEntryAndTombstone(found, this.rangeTombstones.coveringSeq(key, snapshotSeq));
  }

  #getPoint(key: Buffer, snapshotSeq: number): MemLookup | undefined {
    // An empty memtable (the usual one after open, or a flush) answers without building a B-tree key.
    if (this.#tree.size === 0) return undefined;
    const pair = this.#tree.getPairOrNextHigher(memKey(key, snapshotSeq, EntryType.PUT));
    if (pair === undefined || compareKeys(pair[0].key, key) !== 0) return undefined;
    return { type: pair[0].type, seq: pair[0].seq, value: pair[1] };
  }

  /**
   * The largest user key the memtable touches, and whether it is exclusive (a
   * range tombstone's end, which deletes only keys below it); undefined when empty.
   */
  largestKeyBound(): { key: Buffer; exclusive: boolean } | undefined {
    const largestPoint = this.#tree.maxKey()?.key;
    let bound = largestPoint === undefined ? undefined : { key: largestPoint, exclusive: false };
    for (const tombstone of this.#rangeTombstones) {
      if (bound === undefined || compareKeys(tombstone.end, bound.key) > 0) bound = { key: tombstone.end, exclusive: true };
    }
    return bound;
  }

  /** Makes the memtable read-only: from now on it only waits to be flushed. */
  freeze(): void {
    this.#frozen = true;
    this.#tree.freeze();
  }

  /** Every entry in internal-key order. */
  entries(): IterableIterator<[MemKey, Buffer]> {
    return this.#tree.entries();
  }

  /** Entries from the first one ≥ `from` (internal-key order) on. */
  entriesFrom(from: MemKey): IterableIterator<[MemKey, Buffer]> {
    return this.#tree.entries(from);
  }

  /** Entries from the last one ≤ `from` backwards (or from the end when `from` is undefined). */
  entriesReversedFrom(from?: MemKey): IterableIterator<[MemKey, Buffer]> {
    return this.#tree.entriesReversed(from);
  }

  /** Checks the tree's structure, the order of its entries and the byte accounting. For tests. */
  checkInvariants(): void {
    this.#tree.checkValid();
    let bytes = 0;
    let previous: MemKey | undefined;
    for (const [entryKey, value] of this.#tree.entries()) {
      if (previous !== undefined) {
        // Against plain bytewise order, not the prefix-word shortcut the tree uses.
        const byKey = compareKeys(previous.key, entryKey.key);
        assert(byKey < 0 || (byKey === 0 && previous.seq > entryKey.seq), 'memtable entries out of order');
      }
      // The prefix words are derived from the key: they must still match it.
      const derived = memKey(entryKey.key, entryKey.seq, entryKey.type);
      assert(derived.p0 === entryKey.p0 && derived.p1 === entryKey.p1 && derived.p2 === entryKey.p2, 'memtable prefix words differ from the key');
      assert(entryKey.type === EntryType.PUT || entryKey.type === EntryType.DELETE || entryKey.type === EntryType.PUT_EXPIRING, 'bad entry type');
      assert(entryKey.type !== EntryType.DELETE || value.length === 0, 'a DELETE carries a value');
      assert(entryKey.type !== EntryType.PUT_EXPIRING || value.length >= EXPIRY_BYTES, 'an expiring value without its expiry time');
      bytes += entryKey.key.length + value.length + ENTRY_OVERHEAD_BYTES;
      previous = entryKey;
    }
    for (const tombstone of this.#rangeTombstones) {
      assert(compareKeys(tombstone.start, tombstone.end) <= 0, 'range tombstone start past its end');
      bytes += tombstone.start.length + tombstone.end.length + ENTRY_OVERHEAD_BYTES;
    }
    assert.equal(bytes, this.#approximateBytes, 'memtable byte accounting drifted');
  }
}
