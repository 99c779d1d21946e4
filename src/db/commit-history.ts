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
 * Range deletes (entry type 2) will have to be recorded as ranges and checked
 * against both the keys and the ranges a transaction touched: see `record`.
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

interface Recorded {
  readonly key: Buffer;
  readonly seq: number;
}

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
    for (const key of query.keys) {
      const written = this.#latest.get(key);
      if (written !== undefined && written > seq) return { kind: 'key', key, seq: written };
    }
    for (const range of query.ranges) {
      const found = this.#writtenIn(range, seq);
      if (found !== undefined) return found;
    }
    return undefined;
  }

  /** Checks the history's own accounting. For tests. */
  checkInvariants(): void {
    let bytes = 0;
    for (let i = this.#head; i < this.#queue.length; i++) {
      const entry = this.#queue[i]!;
      bytes += entry.key.length + HISTORY_ENTRY_OVERHEAD_BYTES;
      assert(entry.seq > this.#floor, 'a recorded write at or below the floor');
      const latest = this.#latest.get(entry.key);
      assert(latest !== undefined && latest >= entry.seq, 'a recorded write missing from the key index');
    }
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
      this.#latest.set(op.key, seq);
      this.#queue.push({ key: op.key, seq });
      this.#bytes += op.key.length + HISTORY_ENTRY_OVERHEAD_BYTES;
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
    // Compact the queue's array once its dead prefix dominates it.
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
  }

  #pop(): number {
    const entry = this.#queue[this.#head]!;
    this.#head++;
    this.#bytes -= entry.key.length + HISTORY_ENTRY_OVERHEAD_BYTES;
    if (this.#latest.get(entry.key) === entry.seq) this.#latest.delete(entry.key);
    return entry.seq;
  }

  #clear(): void {
    this.#latest = sortedMap<Buffer, number>(compareKeys);
    this.#queue = [];
    this.#head = 0;
    this.#bytes = 0;
    this.#floor = this.#lastSeq;
    this.#oldestOpen = Infinity;
  }
}
