/**
 * Snapshots: a fixed sequence number that reads can ask for. While a snapshot
 * lives, compaction keeps every version it can see.
 */
import { ShaleError } from '../errors.js';

/** A consistent read point. Release it when done: a live snapshot keeps old versions on disk. */
export class Snapshot {
  readonly #seq: number;
  readonly #owner: SnapshotList;
  readonly #generation: number;
  #released = false;

  /** @internal Created by `db.snapshot()`. */
  constructor(seq: number, owner: SnapshotList, generation = 0) {
    this.#seq = seq;
    this.#owner = owner;
    this.#generation = generation;
  }

  /** The sequence number of the last write this snapshot sees. */
  get sequence(): bigint {
    return BigInt(this.#seq);
  }

  get released(): boolean {
    return this.#released;
  }

  /** Lets compaction drop what only this snapshot could see. Idempotent. */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.#owner.remove(this.#seq);
  }

  /** @internal The sequence number, checking that the snapshot belongs to `owner` and is live. */
  seqFor(owner: SnapshotList): number {
    if (this.#owner !== owner) throw new ShaleError('INVALID_ARGUMENT', 'the snapshot belongs to another database');
    if (this.#released) throw new ShaleError('INVALID_ARGUMENT', 'the snapshot was released');
    if (this.#generation !== owner.generation) {
      throw new ShaleError('INVALID_ARGUMENT', 'the snapshot was taken before refresh(), which replaced the data it reads: take a new one');
    }
    return this.#seq;
  }
}

/** The live snapshots of one database, as a multiset of sequence numbers. */
export class SnapshotList {
  readonly #counts = new Map<number, number>();
  #generation = 0;

  add(seq: number): Snapshot {
    this.#counts.set(seq, (this.#counts.get(seq) ?? 0) + 1);
    return new Snapshot(seq, this, this.#generation);
  }

  /** Bumped by a read-only database's `refresh()`: snapshots taken before it no longer read. */
  get generation(): number {
    return this.#generation;
  }

  /**
   * Makes every live snapshot unusable: a read-only database's `refresh()` moved
   * to tables the writer compacted without knowing of them, where their old
   * versions may be gone. Their `release()` still works.
   */
  invalidateAll(): void {
    this.#generation++;
  }

  remove(seq: number): void {
    const count = this.#counts.get(seq) ?? 0;
    if (count <= 1) this.#counts.delete(seq);
    else this.#counts.set(seq, count - 1);
  }

  /** Live snapshot sequence numbers, ascending. */
  sequences(): number[] {
    return [...this.#counts.keys()].sort((a, b) => a - b);
  }

  get size(): number {
    return this.#counts.size;
  }
}
