/**
 * The merge of several internal iterators (memtables, L0 tables, levels) into one
 * stream in internal-key order, forwards and backwards (docs/internals.md, "Read
 * path").
 *
 * The merged order is total: (user key ascending, sequence descending, child
 * index ascending). Real sources never share a (user key, sequence) pair, since
 * sequence numbers are unique, but the tie-break keeps the merge well defined
 * (and `prev` the exact inverse of `next`) if they ever do.
 *
 * Moving in one direction keeps every child positioned at its next entry in that
 * direction, in a binary heap so that a step costs O(log n). Turning around
 * repositions every child but the current one on the other side of the current
 * entry, as LevelDB's merger does.
 */
import assert from '../util/assert.js';
import type { EntryType } from '../keys.js';
import { IndexHeap, type IndexOrder } from './index-heap.js';
import { compareInternal, type InternalIterator } from './internal-iterator.js';

/**
 * An `InternalIterator` over the union of its children's entries. It owns the
 * children: `close()` closes each of them. Unpositioned until a seek.
 */
export class MergingIterator implements InternalIterator {
  readonly #children: readonly InternalIterator[];
  readonly #heap: IndexHeap;
  /** Whether the children not at the current entry sit after it (forward) or before it (reverse). */
  #forward = true;
  /** The index of the child at the current entry; -1 when not positioned. */
  #current = -1;
  #closed = false;

  readonly #ascending: IndexOrder = (a, b) => {
    const childA = this.#children[a]!;
    const childB = this.#children[b]!;
    const byKey = compareInternal(childA.userKey(), childA.seq(), childB.userKey(), childB.seq());
    return byKey !== 0 ? byKey : a - b;
  };

  readonly #descending: IndexOrder = (a, b) => this.#ascending(b, a);

  /** @param children The sources to merge, in any number (0 included). Earlier children win ties. */
  constructor(children: readonly InternalIterator[]) {
    this.#children = [...children];
    this.#heap = new IndexHeap(this.#ascending);
  }

  valid(): boolean {
    return this.#current >= 0;
  }

  seekToFirst(): void {
    for (const child of this.#openChildren()) child.seekToFirst();
    this.#gather(true);
  }

  seekToLast(): void {
    for (const child of this.#openChildren()) child.seekToLast();
    this.#gather(false);
  }

  seek(userKey: Buffer, seq: number): void {
    for (const child of this.#openChildren()) child.seek(userKey, seq);
    this.#gather(true);
  }

  seekForPrev(userKey: Buffer, seq: number): void {
    for (const child of this.#openChildren()) child.seekForPrev(userKey, seq);
    this.#gather(false);
  }

  next(): void {
    assert(this.valid(), 'next() of an invalid merging iterator');
    if (!this.#forward) this.#turnForward();
    this.#stepCurrent((child) => child.next());
  }

  prev(): void {
    assert(this.valid(), 'prev() of an invalid merging iterator');
    if (this.#forward) this.#turnReverse();
    this.#stepCurrent((child) => child.prev());
  }

  userKey(): Buffer {
    return this.#currentChild().userKey();
  }

  internalKey(): Buffer {
    return this.#currentChild().internalKey();
  }

  seq(): number {
    return this.#currentChild().seq();
  }

  type(): EntryType {
    return this.#currentChild().type();
  }

  value(): Buffer {
    return this.#currentChild().value();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#current = -1;
    for (const child of this.#children) child.close();
  }

  #openChildren(): readonly InternalIterator[] {
    assert(!this.#closed, 'seek on a closed merging iterator');
    return this.#children;
  }

  #currentChild(): InternalIterator {
    assert(this.valid(), 'read from an invalid merging iterator');
    return this.#children[this.#current]!;
  }

  /** Builds the heap from every positioned child for moving in one direction, and takes its top. */
  #gather(forward: boolean): void {
    const positioned: number[] = [];
    this.#children.forEach((child, index) => {
      if (child.valid()) positioned.push(index);
    });
    this.#forward = forward;
    this.#heap.reset(positioned, forward ? this.#ascending : this.#descending);
    this.#current = this.#heap.size > 0 ? this.#heap.top() : -1;
  }

  /** Moves the current child one step with `move` and takes the new top of the heap. */
  #stepCurrent(move: (child: InternalIterator) => void): void {
    const child = this.#children[this.#current]!;
    move(child);
    if (child.valid()) this.#heap.topChanged();
    else this.#heap.pop();
    this.#current = this.#heap.size > 0 ? this.#heap.top() : -1;
  }

  /**
   * After moving backwards the other children sit before the current entry; puts
   * each at its first entry after it in the merged order instead.
   */
  #turnForward(): void {
    const current = this.#current;
    const key = this.userKey();
    const seq = this.seq();
    this.#children.forEach((child, index) => {
      if (index === current) return;
      child.seek(key, seq);
      // An equal entry in an earlier child comes before the current one: step past it.
      while (index < current && child.valid() && compareInternal(child.userKey(), child.seq(), key, seq) === 0) child.next();
    });
    this.#gather(true);
    // Invariant: every other child is now after the current entry, so it is still on top.
    assert.equal(this.#current, current, 'turning forward lost the current entry');
  }

  /**
   * After moving forwards the other children sit after the current entry; puts
   * each at its last entry before it in the merged order instead.
   */
  #turnReverse(): void {
    const current = this.#current;
    const key = this.userKey();
    const seq = this.seq();
    this.#children.forEach((child, index) => {
      if (index === current) return;
      child.seekForPrev(key, seq);
      // An equal entry in a later child comes after the current one: step back past it.
      while (index > current && child.valid() && compareInternal(child.userKey(), child.seq(), key, seq) === 0) child.prev();
    });
    this.#gather(false);
    // Invariant: every other child is now before the current entry, so it is still on top.
    assert.equal(this.#current, current, 'turning backward lost the current entry');
  }
}
