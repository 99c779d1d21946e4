/**
 * A binary heap of small integers (child indices) ordered by a caller's
 * comparison. The merging iterator keeps one of these over its children so that
 * each step costs O(log n) comparisons however many children it merges; the
 * comparison reads the children's current keys, so the caller re-sifts the top
 * after moving that child.
 */
import assert from '../util/assert.js';

/** Orders two indices: negative when `a` belongs above `b` (closer to the top). */
export type IndexOrder = (a: number, b: number) => number;

/** A binary heap of indices; the top is the index that orders first. */
export class IndexHeap {
  readonly #items: number[] = [];
  #order: IndexOrder;

  constructor(order: IndexOrder) {
    this.#order = order;
  }

  get size(): number {
    return this.#items.length;
  }

  /** The index that orders first. Requires a non-empty heap. */
  top(): number {
    assert(this.#items.length > 0, 'top() of an empty heap');
    return this.#items[0]!;
  }

  /** Refills the heap with `indices` under a (possibly new) order, in O(n). */
  reset(indices: readonly number[], order: IndexOrder): void {
    this.#order = order;
    this.#items.length = 0;
    this.#items.push(...indices);
    for (let i = (this.#items.length >> 1) - 1; i >= 0; i--) this.#siftDown(i);
  }

  /** Restores the heap after the top's key changed (it only ever moves down). */
  topChanged(): void {
    assert(this.#items.length > 0, 'topChanged() of an empty heap');
    this.#siftDown(0);
  }

  /** Removes the top. Requires a non-empty heap. */
  pop(): void {
    assert(this.#items.length > 0, 'pop() of an empty heap');
    const last = this.#items.pop()!;
    if (this.#items.length === 0) return;
    this.#items[0] = last;
    this.#siftDown(0);
  }

  /** Checks the heap property at every node. For tests. */
  checkInvariants(): void {
    for (let i = 1; i < this.#items.length; i++) {
      const parent = (i - 1) >> 1;
      // Invariant: no child orders before its parent.
      assert(this.#order(this.#items[parent]!, this.#items[i]!) <= 0, 'heap order violated');
    }
  }

  #siftDown(start: number): void {
    const items = this.#items;
    const count = items.length;
    const moving = items[start]!;
    let i = start;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= count) break;
      const right = left + 1;
      const child = right < count && this.#order(items[right]!, items[left]!) < 0 ? right : left;
      if (this.#order(items[child]!, moving) >= 0) break;
      items[i] = items[child]!;
      i = child;
    }
    items[i] = moving;
  }
}
