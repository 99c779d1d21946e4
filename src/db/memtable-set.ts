/**
 * The database's memtables: the active one that takes writes and the frozen ones
 * waiting for flush, each beside the log that holds its writes
 * (docs/internals.md, "Write path" and "Flush").
 *
 * The write pipeline freezes the active memtable; the flusher removes a frozen one
 * once its table is installed; reads look in all of them, newest first.
 */
import type { MemLookup } from '../memtable/memtable.js';
import { MemTable } from '../memtable/memtable.js';

/** A memtable and the log holding its writes. */
export interface MemtableSlot {
  readonly memtable: MemTable;
  readonly logNumber: number;
}

export class MemtableSet {
  readonly #nodeSizeMax: number;
  #active: MemtableSlot;
  /** Frozen memtables waiting for flush, newest first. */
  #immutables: MemtableSlot[] = [];

  constructor(nodeSizeMax: number, logNumber: number) {
    this.#nodeSizeMax = nodeSizeMax;
    this.#active = { memtable: new MemTable(nodeSizeMax), logNumber };
  }

  /** The memtable writes go into. */
  get active(): MemtableSlot {
    return this.#active;
  }

  /** Frozen memtables, newest first. The array is replaced, never changed in place. */
  get immutables(): readonly MemtableSlot[] {
    return this.#immutables;
  }

  /** The oldest frozen memtable: the next to flush. */
  get oldestImmutable(): MemtableSlot | undefined {
    return this.#immutables[this.#immutables.length - 1];
  }

  /** Freezes the active memtable and starts an empty one whose writes go to log `logNumber`. */
  freezeActive(logNumber: number): void {
    this.#active.memtable.freeze();
    this.#immutables = [this.#active, ...this.#immutables];
    this.#active = { memtable: new MemTable(this.#nodeSizeMax), logNumber };
  }

  /** The memtable frozen right after `slot` (or the active one): its log is the oldest still needed once `slot` is flushed. */
  newerThan(slot: MemtableSlot): MemtableSlot {
    const index = this.#immutables.indexOf(slot);
    return index > 0 ? this.#immutables[index - 1]! : this.#active;
  }

  /** Drops a flushed memtable. */
  remove(slot: MemtableSlot): void {
    this.#immutables = this.#immutables.filter((other) => other !== slot);
  }

  /**
   * Makes `memtable` the only memtable: a read-only database's replayed logs, at
   * open and at each `refresh()`. Iterators that captured `all()` keep the old ones.
   */
  replaceAll(memtable: MemTable, logNumber: number): void {
    this.#active = { memtable, logNumber };
    this.#immutables = [];
  }

  /** The memtables a read sees, newest first. */
  all(): MemTable[] {
    return [this.#active.memtable, ...this.#immutables.map((slot) => slot.memtable)];
  }

  /** The newest entry for `key` visible at `seq` in any memtable. */
  get(key: Buffer, seq: number): MemLookup | undefined {
    // The hot path: walk the memtables in place rather than through all()'s new array.
    let found = this.#active.memtable.get(key, seq);
    for (let i = 0; found === undefined && i < this.#immutables.length; i++) found = this.#immutables[i]!.memtable.get(key, seq);
    return found;
  }

  checkInvariants(): void {
    for (const memtable of this.all()) memtable.checkInvariants();
  }
}
