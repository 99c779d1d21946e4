/**
 * The memtable's `InternalIterator` (docs/internals.md, "Memtable"): a cursor over
 * the B-tree's entries in internal-key order, built on the memtable's public
 * range generators.
 *
 * A sorted-btree generator walks leaves it captured when it started, so it is only
 * trusted while the tree is unchanged. The active memtable keeps receiving writes
 * while readers iterate it, so the cursor remembers the entry count it started
 * at: entries are only ever added, so an unchanged count means an unchanged tree.
 * When the count moved, or the direction turned, the next step starts a fresh
 * generator at the current entry, an O(log n) descent; otherwise a step is O(1).
 */
import assert from '../util/assert.js';
import type { InternalIterator } from '../iterator/internal-iterator.js';
import { EntryType, encodeInternalKey } from '../keys.js';
import { memKey, type MemKey, type MemTable } from './memtable.js';

type Pair = [MemKey, Buffer];

/** A live generator over the memtable and what it was started under. */
interface Cursor {
  readonly entries: Iterator<Pair>;
  readonly forward: boolean;
  readonly entryCount: number;
}

/** Consumes the generator's first pair, which must be `memKey` itself, and returns the generator. */
function skipEqual(entries: Iterator<Pair>, memKey: MemKey): Iterator<Pair> {
  const first = entries.next();
  // Invariant: entries are never removed, so a start at an entry yields that entry first.
  assert(first.done !== true, 'memtable entry vanished');
  assert(first.value[0] === memKey, 'memtable entry vanished');
  return entries;
}

/**
 * An `InternalIterator` over one memtable. Unpositioned until a seek. Entries
 * added while it is open are seen when the iterator reaches their place (readers
 * filter them by sequence number). Keys and values are the memtable's own
 * Buffers, which never change. `close()` only drops the cursor.
 */
export class MemTableIterator implements InternalIterator {
  readonly #memtable: MemTable;
  #cursor: Cursor | undefined;
  #current: Pair | undefined;

  constructor(memtable: MemTable) {
    this.#memtable = memtable;
  }

  valid(): boolean {
    return this.#current !== undefined;
  }

  seekToFirst(): void {
    this.#start(this.#memtable.entries(), true);
  }

  seekToLast(): void {
    this.#start(this.#memtable.entriesReversedFrom(), false);
  }

  seek(userKey: Buffer, seq: number): void {
    // The tree orders by (key, seq) alone, so the type of a probe never matters.
    this.#start(this.#memtable.entriesFrom(memKey(userKey, seq, EntryType.PUT)), true);
  }

  seekForPrev(userKey: Buffer, seq: number): void {
    this.#start(this.#memtable.entriesReversedFrom(memKey(userKey, seq, EntryType.PUT)), false);
  }

  next(): void {
    const memKey = this.#at()[0];
    if (!this.#cursorFresh(true)) this.#cursor = this.#cursorOver(skipEqual(this.#memtable.entriesFrom(memKey), memKey), true);
    this.#step();
  }

  prev(): void {
    const memKey = this.#at()[0];
    if (!this.#cursorFresh(false)) this.#cursor = this.#cursorOver(skipEqual(this.#memtable.entriesReversedFrom(memKey), memKey), false);
    this.#step();
  }

  userKey(): Buffer {
    return this.#at()[0].key;
  }

  internalKey(): Buffer {
    const [memKey] = this.#at();
    return encodeInternalKey(memKey.key, memKey.seq, memKey.type);
  }

  seq(): number {
    return this.#at()[0].seq;
  }

  type(): EntryType {
    return this.#at()[0].type;
  }

  value(): Buffer {
    return this.#at()[1];
  }

  close(): void {
    this.#cursor = undefined;
    this.#current = undefined;
  }

  #at(): Pair {
    assert(this.#current !== undefined, 'memtable iterator is not positioned');
    return this.#current;
  }

  #start(entries: Iterator<Pair>, forward: boolean): void {
    this.#cursor = this.#cursorOver(entries, forward);
    this.#step();
  }

  #cursorOver(entries: Iterator<Pair>, forward: boolean): Cursor {
    return { entries, forward, entryCount: this.#memtable.entryCount };
  }

  /** Whether the live generator may take the next step in this direction. */
  #cursorFresh(forward: boolean): boolean {
    const cursor = this.#cursor;
    return cursor !== undefined && cursor.forward === forward && cursor.entryCount === this.#memtable.entryCount;
  }

  #step(): void {
    const step = this.#cursor!.entries.next();
    this.#current = step.done === true ? undefined : step.value;
    if (this.#current === undefined) this.#cursor = undefined;
  }
}
