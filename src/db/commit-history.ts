/**
 * The recent commit history that transactions are checked against
 * (docs/internals.md, "Transactions"): for every key written after some sequence
 * number (the floor), the sequence number of its latest write. Kept in memory and
 * bounded by `transactionHistoryBytesMax`, so that a conflict check never reads a
 * table.
 *
 * The write pipeline calls `record` for every batch it sequences, transactional or
 * not, at the moment it gives the batch its sequence numbers; a transaction's
 * conflict check runs at that same moment, just before its own batch is recorded.
 * So a check sees every write sequenced before it, including those queued ahead
 * of it in the same write group.
 *
 * While no transaction is open nothing is kept: `record` only remembers the
 * batches of the current write group (by reference, no copy) and moves the floor
 * up past them. The first transaction to open records those batches, which may
 * still be on their way to the WAL, so its snapshot is never below the floor.
 *
 * A range delete (entry type 2) is recorded as the range [start, end) it
 * deletes, in a second index: disjoint segments of keys, each with the sequence
 * number of the latest range delete over it (a newer range paints over older
 * ones). A key is checked against it with one lookup, O(log n); a range (one a
 * transaction iterated or deleted) costs O(log n) plus the segments and keys
 * recorded inside it. Both indexes hold only what the byte bound lets them.
 */
import assert from '../util/assert.js';
import { EntryType, compareKeys } from '../keys.js';
import { sortedMap } from '../util/sorted-map.js';
import type { Bound } from '../iterator/key-range.js';
import { aboveUpper, belowLower } from '../iterator/key-range.js';
import type { WriteOp } from '../wal/write-group.js';

/** Bytes charged per recorded write beyond its key: the B-tree entry and the queue slot. */
export const HISTORY_ENTRY_OVERHEAD_BYTES = 64;

/**
 * Bytes charged per recorded range delete beyond its start and end keys: the
 * queue slot and the (at most three) segments it adds to the range index.
 */
export const HISTORY_RANGE_OVERHEAD_BYTES = 192;

/** A range of keys a transaction iterated: everything between the bounds. */
export interface ReadRange {
  readonly lower: Bound | undefined;
  readonly upper: Bound | undefined;
}

/** What a transaction asks the history about at commit. */
export interface ConflictQuery {
  /** The sequence number the transaction read at. */
  readonly snapshotSeq: number;
  /** Keys whose write after the snapshot is a conflict (written keys; read keys too when serializable). */
  readonly keys: Iterable<Buffer>;
  /**
   * Ranges in which any change after the snapshot is a conflict: the ranges the
   * transaction deleted; serializable, also those it iterated.
   */
  readonly ranges: Iterable<ReadRange>;
}

/**
 * Why a commit conflicts: a key written after the snapshot; a range delete after
 * the snapshot over [start, end), of which `key` is the first key the
 * transaction touched; or a snapshot older than the history reaches.
 */
export type Conflict =
  | { readonly kind: 'key'; readonly key: Buffer; readonly seq: number }
  | { readonly kind: 'range'; readonly key: Buffer; readonly start: Buffer; readonly end: Buffer; readonly seq: number }
  | { readonly kind: 'history'; readonly floor: number };

/** A recorded write: a key, or with `end` the range [key, end) a range delete deleted. */
interface Recorded {
  readonly key: Buffer;
  readonly end: Buffer | undefined;
  readonly seq: number;
}

/** A piece of the range index: [its key, end) was last range-deleted at `seq`. */
interface Segment {
  readonly end: Buffer;
  readonly seq: number;
}

/** Range delete of [start, end) as the history reads a WriteOp: key is start, value is end. */
const isRangeDelete = (op: WriteOp): boolean => op.type === EntryType.RANGE_DELETE;

interface Batch {
  readonly firstSeq: number;
  readonly ops: readonly WriteOp[];
}

export class CommitHistory {
  readonly #bytesMax: number;
  /** Every write with a larger sequence number is recorded (while a transaction is open). */
  #floor: number;
  /** The last sequence number given to a recorded (or remembered) batch. */
  #lastSeq: number;
  /** Key → sequence number of its latest recorded write. */
  #latest = sortedMap<Buffer, number>(compareKeys);
  /** Range start → segment: disjoint, non-empty ranges deleted by recorded range deletes. */
  #deleted = sortedMap<Buffer, Segment>(compareKeys);
  /** Recorded writes, oldest first, from `#head` on: what eviction pops. */
  #queue: Recorded[] = [];
  #head = 0;
  #bytes = 0;
  /** Open transactions' snapshot sequence numbers, as a multiset. */
  readonly #open = new Map<number, number>();
  #openCount = 0;
  #oldestOpen = Infinity;
  /**
   * The batches of the current write group, which may not be visible yet: the
   * first transaction to open after none were records them (they may have been
   * sequenced while none was open, or dropped when the last one closed).
   */
  #unrecorded: Batch[] = [];

  constructor(bytesMax: number, lastSequence: number) {
    assert(Number.isSafeInteger(bytesMax) && bytesMax > 0, 'history bytesMax must be a positive integer');
    this.#bytesMax = bytesMax;
    this.#floor = lastSequence;
    this.#lastSeq = lastSequence;
  }

  /** The sequence number below which a snapshot cannot be checked. */
  get floor(): number {
    return this.#floor;
  }

  /** Transactions open now. */
  get openCount(): number {
    return this.#openCount;
  }

  /** Writes recorded now. */
  get size(): number {
    return this.#queue.length - this.#head;
  }

  /** Bytes charged for what is recorded now. */
  get bytes(): number {
    return this.#bytes;
  }

  /**
   * A transaction opens at `snapshotSeq` (the last visible write). The first one
   * records the current group's batches, which the pipeline may not have made
   * visible yet, so that the floor drops to (at most) the snapshot.
   */
  begin(snapshotSeq: number): void {
    if (this.#openCount === 0) {
      const unrecorded = this.#unrecorded;
      if (unrecorded.length > 0) this.#floor = unrecorded[0]!.firstSeq - 1;
      this.#openCount = 1;
      this.#open.set(snapshotSeq, 1);
      this.#oldestOpen = snapshotSeq;
      for (const batch of unrecorded) this.#add(batch.firstSeq, batch.ops);
      this.#evict();
    } else {
      this.#openCount++;
      this.#open.set(snapshotSeq, (this.#open.get(snapshotSeq) ?? 0) + 1);
      if (snapshotSeq < this.#oldestOpen) this.#oldestOpen = snapshotSeq;
    }
  }

  /** The transaction opened at `snapshotSeq` committed or aborted. The last one out drops the history. */
  end(snapshotSeq: number): void {
    const count = this.#open.get(snapshotSeq);
    assert(count !== undefined && count > 0, 'end() of a transaction the history does not hold');
    if (count === 1) {
      this.#open.delete(snapshotSeq);
      if (snapshotSeq === this.#oldestOpen) this.#oldestOpen = Math.min(Infinity, ...this.#open.keys());
    } else {
      this.#open.set(snapshotSeq, count - 1);
    }
    this.#openCount--;
    if (this.#openCount === 0) this.#clear();
  }

  /** The write pipeline starts a new write group: batches remembered for a future `begin` are visible by now. */
  startGroup(): void {
    this.#unrecorded = [];
  }

  /**
   * The pipeline gave `ops` the sequence numbers from `firstSeq` on. With no
   * transaction open this costs one array push. A range delete is recorded as
   * the range [start, end) it deletes; its end must be set by now (the pipeline
   * resolves open ends before it sequences a group).
   */
  record(firstSeq: number, ops: readonly WriteOp[]): void {
    if (ops.length === 0) return;
    assert(firstSeq > this.#lastSeq, 'history records out of sequence order');
    this.#lastSeq = firstSeq + ops.length - 1;
    this.#unrecorded.push({ firstSeq, ops });
    if (this.#openCount === 0) {
      this.#floor = this.#lastSeq;
      return;
    }
    this.#add(firstSeq, ops);
    this.#evict();
  }

  /** The first conflict of `query`, or undefined when the transaction may commit. */
  check(query: ConflictQuery): Conflict | undefined {
    const seq = query.snapshotSeq;
    if (seq < this.#floor) return { kind: 'history', floor: this.#floor };
    if (this.#queue.length === this.#head) return undefined;
    const anyDeleted = this.#deleted.size > 0;
    for (const key of query.keys) {
      const written = this.#latest.get(key);
      if (written !== undefined && written > seq) return { kind: 'key', key, seq: written };
      if (anyDeleted) {
        const found = this.#deletedAt(key, seq);
        if (found !== undefined) return found;
      }
    }
    for (const range of query.ranges) {
      const found = this.#writtenIn(range, seq) ?? (anyDeleted ? this.#deletedIn(range, seq) : undefined);
      if (found !== undefined) return found;
    }
    return undefined;
  }

  /** Checks the history's own accounting. For tests. */
  checkInvariants(): void {
    let bytes = 0;
    const ranges = new Map<number, Recorded>();
    for (let i = this.#head; i < this.#queue.length; i++) {
      const entry = this.#queue[i]!;
      bytes += chargeOf(entry);
      assert(entry.seq > this.#floor, 'a recorded write at or below the floor');
      if (entry.end !== undefined) {
        ranges.set(entry.seq, entry);
        continue;
      }
      const latest = this.#latest.get(entry.key);
      assert(latest !== undefined && latest >= entry.seq, 'a recorded write missing from the key index');
    }
    assert.equal(bytes, this.#bytes, 'history bytes do not add up');
    assert(this.#latest.size <= this.size - ranges.size, 'the key index holds more keys than writes recorded');
    let previousEnd: Buffer | undefined;
    for (const [start, segment] of this.#deleted.entries()) {
      assert(compareKeys(start, segment.end) < 0, 'an empty segment in the range index');
      assert(previousEnd === undefined || compareKeys(previousEnd, start) <= 0, 'overlapping segments in the range index');
      previousEnd = segment.end;
      const range = ranges.get(segment.seq);
      assert(range !== undefined, 'a segment of the range index with no recorded range delete');
      assert(compareKeys(range.key, start) <= 0 && compareKeys(segment.end, range.end!) <= 0, 'a segment outside the range delete it names');
    }
    assert(this.#deleted.size <= 2 * ranges.size + 1, 'the range index holds more segments than its ranges can make');
    if (this.#openCount === 0) assert.equal(this.size, 0, 'history kept with no transaction open');
  }

  #writtenIn(range: ReadRange, seq: number): Conflict | undefined {
    const { lower, upper } = range;
    const start = lower === undefined ? this.#latest.minKey() : lower.key;
    if (start === undefined) return undefined;
    for (const [key, written] of this.#latest.entries(start)) {
      if (aboveUpper(key, upper)) return undefined;
      if (written > seq && !belowLower(key, lower)) return { kind: 'key', key, seq: written };
    }
    return undefined;
  }

  /** A range delete after `seq` over `key`, as a conflict. */
  #deletedAt(key: Buffer, seq: number): Conflict | undefined {
    const pair = this.#deleted.getPairOrNextLower(key);
    if (pair === undefined) return undefined;
    const [start, segment] = pair;
    if (segment.seq <= seq || compareKeys(key, segment.end) >= 0) return undefined;
    return { kind: 'range', key, start, end: segment.end, seq: segment.seq };
  }

  /** A range delete after `seq` over a key of `range`, as a conflict: segments from the one holding the lower bound on. */
  #deletedIn(range: ReadRange, seq: number): Conflict | undefined {
    const { lower, upper } = range;
    const from = lower === undefined ? this.#deleted.minKey() : (this.#deleted.getPairOrNextLower(lower.key)?.[0] ?? lower.key);
    if (from === undefined) return undefined;
    for (const [start, segment] of this.#deleted.entries(from)) {
      if (aboveUpper(start, upper)) return undefined;
      if (segment.seq <= seq) continue;
      // The first key in both the segment and the range, if there is one.
      let first = start;
      if (lower !== undefined && belowLower(first, lower)) first = lower.inclusive ? lower.key : successor(lower.key);
      if (compareKeys(first, segment.end) < 0 && !aboveUpper(first, upper)) {
        return { kind: 'range', key: first, start, end: segment.end, seq: segment.seq };
      }
    }
    return undefined;
  }

  #add(firstSeq: number, ops: readonly WriteOp[]): void {
    let seq = firstSeq;
    for (const op of ops) {
      if (isRangeDelete(op)) {
        // An empty range deletes nothing: there is nothing to record.
        if (compareKeys(op.key, op.value) < 0) this.#addRange(op.key, op.value, seq);
      } else {
        this.#latest.set(op.key, seq);
        this.#queue.push({ key: op.key, end: undefined, seq });
        this.#bytes += op.key.length + HISTORY_ENTRY_OVERHEAD_BYTES;
      }
      seq++;
    }
  }

  /**
   * Paints [start, end) with `seq` in the range index (the newest write, so it
   * wins over every segment it covers): cuts the segments it overlaps at its
   * bounds and replaces what lies inside.
   */
  #addRange(start: Buffer, end: Buffer, seq: number): void {
    this.#queue.push({ key: start, end, seq });
    this.#bytes += start.length + end.length + HISTORY_RANGE_OVERHEAD_BYTES;
    const deleted = this.#deleted;
    const before = deleted.nextLowerPair(start);
    if (before !== undefined && compareKeys(before[1].end, start) > 0) {
      // A segment reaching into the range keeps its part below it (and above it, if it spans the range).
      deleted.set(before[0], { end: start, seq: before[1].seq });
      if (compareKeys(before[1].end, end) > 0) deleted.set(end, before[1]);
    }
    let tail: [Buffer, Segment] | undefined;
    for (const [segmentStart, segment] of deleted.entries(start)) {
      if (compareKeys(segmentStart, end) >= 0) break;
      if (compareKeys(segment.end, end) > 0) tail = [segmentStart, segment];
    }
    deleted.deleteRange(start, end, false);
    if (tail !== undefined) deleted.set(end, tail[1]);
    deleted.set(start, { end, seq });
  }

  /**
   * Drops what no open transaction can conflict with (writes at or below the
   * oldest open snapshot), then the oldest writes while over the byte bound,
   * raising the floor past each: a transaction older than the floor then fails
   * its commit with a conflict instead of being checked against a partial history.
   */
  #evict(): void {
    const oldestOpen = this.#oldestOpen;
    while (this.#head < this.#queue.length && this.#queue[this.#head]!.seq <= oldestOpen) this.#pop();
    while (this.#bytes > this.#bytesMax && this.#head < this.#queue.length) {
      const seq = this.#pop();
      if (seq > this.#floor) this.#floor = seq;
    }
    // Compact the queue's array once its dead prefix dominates it.
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
  }

  #pop(): number {
    const entry = this.#queue[this.#head]!;
    this.#head++;
    this.#bytes -= chargeOf(entry);
    if (entry.end === undefined) {
      if (this.#latest.get(entry.key) === entry.seq) this.#latest.delete(entry.key);
      return entry.seq;
    }
    // What is left of the range in the index: the segments inside it still painted with its sequence number.
    const dropped: Buffer[] = [];
    for (const [start, segment] of this.#deleted.entries(entry.key)) {
      if (compareKeys(start, entry.end) >= 0) break;
      if (segment.seq === entry.seq) dropped.push(start);
    }
    for (const start of dropped) this.#deleted.delete(start);
    return entry.seq;
  }

  #clear(): void {
    this.#latest = sortedMap<Buffer, number>(compareKeys);
    this.#deleted = sortedMap<Buffer, Segment>(compareKeys);
    this.#queue = [];
    this.#head = 0;
    this.#bytes = 0;
    this.#floor = this.#lastSeq;
    this.#oldestOpen = Infinity;
  }
}

/** Bytes charged for a recorded write. */
function chargeOf(entry: Recorded): number {
  return entry.end === undefined ? entry.key.length + HISTORY_ENTRY_OVERHEAD_BYTES : entry.key.length + entry.end.length + HISTORY_RANGE_OVERHEAD_BYTES;
}

/** The smallest key above `key`. */
function successor(key: Buffer): Buffer {
  return Buffer.concat([key, ZERO]);
}

const ZERO = Buffer.from([0]);
