import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { IndexHeap } from '../../src/iterator/index-heap.js';
import { Rng } from '../../src/testing/rng.js';
import { testSeed } from '../helpers.js';

describe('index heap', () => {
  it('keeps the index of the smallest value on top through changes and pops, ties by index', () => {
    const rng = new Rng(testSeed('index heap'));
    for (let round = 0; round < 50; round++) {
      const values = Array.from({ length: rng.int(40) }, () => rng.int(20));
      const byValue = (a: number, b: number): number => values[a]! - values[b]! || a - b;
      const heap = new IndexHeap(byValue);
      const live = new Set(values.keys());
      heap.reset([...live], byValue);
      heap.checkInvariants();
      while (heap.size > 0) {
        const smallest = [...live].sort(byValue)[0]!;
        assert.equal(heap.top(), smallest);
        if (rng.bool(0.6)) {
          // The top's value only grows, as a child iterator's key does when it moves forward.
          values[smallest]! += rng.range(0, 10);
          heap.topChanged();
        } else {
          heap.pop();
          live.delete(smallest);
        }
        heap.checkInvariants();
      }
      assert.equal(live.size, 0);
    }
  });

  it('refuses to show the top of an empty heap', () => {
    const heap = new IndexHeap((a, b) => a - b);
    assert.throws(() => heap.top(), assert.AssertionError);
    assert.throws(() => heap.pop(), assert.AssertionError);
  });
});
