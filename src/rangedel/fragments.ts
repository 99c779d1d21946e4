/**
 * Range tombstones, fragmented (RocksDB's FragmentedRangeTombstoneList, Pebble's
 * keyspan fragments). A range tombstone deletes every version of every user key
 * in [start, end) with a sequence number below its own. Tombstones overlap each
 * other freely; fragmenting cuts the key space at every start and end into
 * pieces that do not overlap, each carrying the sequence numbers of all the
 * tombstones that cover the whole piece, newest first. A lookup is then one
 * binary search for the piece holding the key, and a scan walks the pieces in
 * order beside the keys.
 *
 * Sequence numbers of writes start at 1, so 0 stands for "no tombstone".
 */
import { EntryType } from '../keys.js';
import { compareBytes } from '../sstable/byte-ranges.js';

/** Deletes user keys in [start, end) older than `seq`. */
export interface RangeTombstone {
  readonly start: Buffer;
  readonly end: Buffer;
  readonly seq: number;
}

/** A piece [start, end) of the key space and the sequences of the tombstones covering it, descending, without repeats. */
export interface Fragment {
  readonly start: Buffer;
  readonly end: Buffer;
  readonly seqs: readonly number[];
}

/**
 * Fragments `tombstones` (any order, overlapping or not): the result is in key
 * order, its pieces do not overlap, and a key lies in a piece exactly when some
 * tombstone covers it, with that piece's `seqs` the sequences of every tombstone
 * covering the key. Empty tombstones (start ≥ end) cover nothing and vanish.
 */
export function fragmentTombstones(tombstones: Iterable<RangeTombstone>): Fragment[] {
  const live = [...tombstones].filter((tombstone) => tombstone.start.compare(tombstone.end) < 0);
  if (live.length === 0) return [];
  live.sort((a, b) => a.start.compare(b.start));
  const boundaries = uniqueSorted(live.flatMap((tombstone) => [tombstone.start, tombstone.end]));
  const fragments: Fragment[] = [];
  let active: RangeTombstone[] = [];
  let next = 0;
  for (let i = 0; i + 1 < boundaries.length; i++) {
    const start = boundaries[i]!;
    const end = boundaries[i + 1]!;
    active = active.filter((tombstone) => tombstone.end.compare(start) > 0);
    while (next < live.length && live[next]!.start.compare(start) <= 0) active.push(live[next++]!);
    if (active.length === 0) continue;
    // Every active tombstone starts at or before `start` and ends after it, so at or after `end`: it covers the piece.
    const seqs = [...new Set(active.map((tombstone) => tombstone.seq))].sort((a, b) => b - a);
    fragments.push({ start, end, seqs });
  }
  return fragments;
}

/** The fragments as tombstones again, one per sequence: to merge several fragment lists, fragment their tombstones together. */
export function tombstonesOf(fragments: readonly Fragment[]): RangeTombstone[] {
  return fragments.flatMap((fragment) => fragment.seqs.map((seq) => ({ start: fragment.start, end: fragment.end, seq })));
}

function uniqueSorted(keys: Buffer[]): Buffer[] {
  keys.sort((a, b) => a.compare(b));
  return keys.filter((key, i) => i === 0 || !key.equals(keys[i - 1]!));
}

/** A fragment list, ready for lookups. Immutable. */
export class FragmentedTombstones {
  static readonly EMPTY = new FragmentedTombstones([]);

  readonly fragments: readonly Fragment[];

  /** @param fragments in key order and not overlapping, as `fragmentTombstones` makes them. */
  constructor(fragments: readonly Fragment[]) {
    this.fragments = fragments;
  }

  static of(tombstones: Iterable<RangeTombstone>): FragmentedTombstones {
    const fragments = fragmentTombstones(tombstones);
    return fragments.length === 0 ? FragmentedTombstones.EMPTY : new FragmentedTombstones(fragments);
  }

  get isEmpty(): boolean {
    return this.fragments.length === 0;
  }

  /** The index of the fragment holding `key[start, end)`, or -1 when no fragment does. */
  indexOf(key: Uint8Array, start = 0, end = key.length): number {
    const fragments = this.fragments;
    // The last fragment starting at or before the key.
    let low = 0;
    let high = fragments.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (compareBytes(fragments[middle]!.start, 0, fragments[middle]!.start.length, key, start, end) <= 0) low = middle + 1;
      else high = middle;
    }
    const index = low - 1;
    if (index < 0) return -1;
    const fragment = fragments[index]!;
    return compareBytes(fragment.end, 0, fragment.end.length, key, start, end) > 0 ? index : -1;
  }

  /**
   * The sequence of the newest tombstone at or below `snapshot` that covers the
   * user key `key[start, end)`, or 0 when none does. A version of the key with a
   * sequence below it is deleted for a reader at `snapshot`.
   */
  coveringSeq(key: Uint8Array, snapshot: number, start = 0, end = key.length): number {
    const index = this.indexOf(key, start, end);
    return index < 0 ? 0 : newestAtOrBelow(this.fragments[index]!.seqs, snapshot);
  }
}

/** The first of `seqs` (descending) at or below `snapshot`, or 0. */
export function newestAtOrBelow(seqs: readonly number[], snapshot: number): number {
  for (const seq of seqs) if (seq <= snapshot) return seq;
  return 0;
}

/**
 * The tombstones of several fragment lists (each source of a read: memtables,
 * tables) fragmented together, leaving out those newer than `snapshot`: they
 * delete nothing a reader at `snapshot` sees. A single non-empty list with
 * nothing to leave out is returned as it is.
 */
export function mergeFragments(lists: readonly FragmentedTombstones[], snapshot: number): FragmentedTombstones {
  const nonEmpty = lists.filter((list) => !list.isEmpty);
  if (nonEmpty.length === 0) return FragmentedTombstones.EMPTY;
  if (nonEmpty.length === 1 && nonEmpty[0]!.fragments.every((fragment) => fragment.seqs[0]! <= snapshot)) return nonEmpty[0]!;
  return FragmentedTombstones.of(nonEmpty.flatMap((list) => tombstonesOf(list.fragments)).filter((tombstone) => tombstone.seq <= snapshot));
}

/** A point lookup's answer from one source: the newest visible entry of a key. */
export interface PointEntry {
  readonly type: EntryType;
  readonly seq: number;
  readonly value: Buffer;
}

const NO_VALUE: Buffer = Buffer.alloc(0);

/**
 * What one source (a memtable, a table) answers for a key: its newest visible
 * entry `found`, unless a range tombstone of the same source at `coveringSeq`
 * (0: none) is newer, in which case the key reads as a DELETE at the tombstone's
 * sequence. Older sources need not be asked then: whatever they hold of the key
 * is older than the tombstone (docs/internals.md, "Range deletes").
 */
export function newerOfEntryAndTombstone<T extends PointEntry>(found: T | undefined, coveringSeq: number): T | PointEntry | undefined {
  if (coveringSeq === 0 || (found !== undefined && found.seq > coveringSeq)) return found;
  return { type: EntryType.DELETE, seq: coveringSeq, value: NO_VALUE };
}
