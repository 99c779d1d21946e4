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
 * A range delete (entry type 2: its key is the range's start, its value the
 * exclusive end, set by the writer before the batch is sequenced) is recorded as
 * a range: a key a transaction wrote or read inside it, or a range it read that
 * overlaps it, conflicts with it. Range deletes are rare, so they are kept in a
 * list of their own, scanned whole by each check.
 */
import assert from '../util/assert.js';
import { compareKeys } from '../keys.js';
import { sortedMap } from '../util/sorted-map.js';
import type { Bound } from '../iterator/key-range.js';
import { aboveUpper, belowLower } from '../iterator/key-range.js';
import type { WriteOp } from '../wal/write-group.js';

/** Bytes charged per recorded write beyond its key: the B-tree entry and the queue slot. */
export const HISTORY_ENTRY_OVERHEAD_BYTES = 64;

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
  /** Ranges whose change after the snapshot is a conflict (serializable only). */
  readonly ranges: Iterable<ReadRange>;
}

/** Why a commit conflicts: a key written after the snapshot, or a snapshot older than the history reaches. */
export type Conflict = { readonly kind: 'key'; readonly key: Buffer; readonly seq: number } | { readonly kind: 'history'; readonly floor: number };

/** The on-disk entry type of a range delete (keys.ts `EntryType.RANGE_DELETE`: fixed, never renumbered). */
const RANGE_DELETE_TYPE = 2;

interface Recorded {
  readonly key: Buffer;
  readonly seq: number;
  /** A range delete's exclusive end: the write covers [key, end). */
  readonly end?: Buffer;
}

interface Batch {
  readonly firstSeq: number;
  readonly ops: readonly WriteOp[];
}

const NO_RANGES: Recorded[] = [];

/** Bytes charged for one recorded write: its key (and a range delete's end) plus a fixed overhead. */
function entryBytes(key: Buffer, end: Buffer | undefined, isRange: boolean): number {
  return key.length + (isRange ? (end?.length ?? 0) : 0) + HISTORY_ENTRY_OVERHEAD_BYTES;
}

/**
 * Whether range delete `deleted` ([key, end)) and read range `range` share a
 * key: the smallest key both could hold (the larger of the deletion's start and
 * the range's lower bound, an exclusive bound x being x ‖ 0x00, its immediate
 * successor) lies below the deletion's end and within the range's upper bound.
 */
function overlaps(deleted: Recorded, range: ReadRange): boolean {
  const { lower, upper } = range;
  let first = deleted.key;
  if (lower !== undefined) {
    const lowest = lower.inclusive ? lower.key : Buffer.concat([lower.key, ZERO_BYTE]);
    if (compareKeys(lowest, first) > 0) first = lowest;
  }
  return compareKeys(first, deleted.end!) < 0 && !aboveUpper(first, upper);
}

const ZERO_BYTE = Buffer.from([0]);

export class CommitHistory {
  readonly #bytesMax: number;
  /** Every write with a larger sequence number is recorded (while a transaction is open). */
  #floor: number;
  /** The last sequence number given to a recorded (or remembered) batch. */
  #lastSeq: number;
  /** Key → sequence number of its latest recorded write. */
  #latest = sortedMap<Buffer, number>(compareKeys);
  /** Recorded writes, oldest first, from `#head` on: what eviction pops. */
  #queue: Recorded[] = [];
  #head = 0;
  /** The recorded range deletes, oldest first, from `#rangeHead` on (also in `#queue`). */
  #ranges: Recorded[] = [];
  #rangeHead = 0;
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
   * transaction open this costs one array push. (A range delete, when it exists,
   * is recorded here as a range: checks then test keys against recorded ranges
   * and read ranges against them too.)
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
    const ranges = this.#rangesAfter(seq);
    for (const key of query.keys) {
      const written = this.#latest.get(key);
      if (written !== undefined && written > seq) return { kind: 'key', key, seq: written };
      for (const range of ranges) {
        if (compareKeys(range.key, key) <= 0 && compareKeys(key, range.end!) < 0) return { kind: 'key', key, seq: range.seq };
      }
    }
    for (const range of query.ranges) {
      const found = this.#writtenIn(range, seq);
      if (found !== undefined) return found;
      for (const deleted of ranges) {
        if (overlaps(deleted, range)) return { kind: 'key', key: deleted.key, seq: deleted.seq };
      }
    }
    return undefined;
  }

  /** The recorded range deletes newer than `seq`. */
  #rangesAfter(seq: number): Recorded[] {
    if (this.#rangeHead === this.#ranges.length) return NO_RANGES;
    const out: Recorded[] = [];
    for (let i = this.#rangeHead; i < this.#ranges.length; i++) if (this.#ranges[i]!.seq > seq) out.push(this.#ranges[i]!);
    return out;
  }

  /** Checks the history's own accounting. For tests. */
  checkInvariants(): void {
    let bytes = 0;
    let ranges = 0;
    for (let i = this.#head; i < this.#queue.length; i++) {
      const entry = this.#queue[i]!;
      bytes += entryBytes(entry.key, entry.end, entry.end !== undefined);
      assert(entry.seq > this.#floor, 'a recorded write at or below the floor');
      if (entry.end !== undefined) {
        assert(this.#ranges[this.#rangeHead + ranges] === entry, 'a recorded range delete missing from the range list');
        ranges++;
        continue;
      }
      const latest = this.#latest.get(entry.key);
      assert(latest !== undefined && latest >= entry.seq, 'a recorded write missing from the key index');
    }
    assert.equal(ranges, this.#ranges.length - this.#rangeHead, 'the range list holds a range delete the queue does not');
    assert.equal(bytes, this.#bytes, 'history bytes do not add up');
    assert(this.#latest.size <= this.size, 'the key index holds more keys than writes recorded');
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

  #add(firstSeq: number, ops: readonly WriteOp[]): void {
    let seq = firstSeq;
    for (const op of ops) {
      if ((op.type as number) === RANGE_DELETE_TYPE) {
        const range: Recorded = { key: op.key, seq, end: op.value };
        this.#queue.push(range);
        this.#ranges.push(range);
      } else {
        this.#latest.set(op.key, seq);
        this.#queue.push({ key: op.key, seq });
      }
      this.#bytes += entryBytes(op.key, op.value, (op.type as number) === RANGE_DELETE_TYPE);
      seq++;
    }
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
    // Compact the arrays once their dead prefix dominates them.
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    if (this.#rangeHead > 64 && this.#rangeHead * 2 > this.#ranges.length) {
      this.#ranges = this.#ranges.slice(this.#rangeHead);
      this.#rangeHead = 0;
    }
  }

  #pop(): number {
    const entry = this.#queue[this.#head]!;
    this.#head++;
    this.#bytes -= entryBytes(entry.key, entry.end, entry.end !== undefined);
    if (entry.end !== undefined) {
      // Invariant: range deletes leave the queue in the order they entered their own list.
      assert(this.#ranges[this.#rangeHead] === entry, 'range deletes evicted out of order');
      this.#rangeHead++;
    } else if (this.#latest.get(entry.key) === entry.seq) {
      this.#latest.delete(entry.key);
    }
    return entry.seq;
  }

  #clear(): void {
    this.#latest = sortedMap<Buffer, number>(compareKeys);
    this.#queue = [];
    this.#head = 0;
    this.#ranges = [];
    this.#rangeHead = 0;
    this.#bytes = 0;
    this.#floor = this.#lastSeq;
    this.#oldestOpen = Infinity;
  }
}
