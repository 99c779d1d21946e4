import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MergingIterator } from '../../src/iterator/merging-iterator.js';
import { EntryType, encodeInternalKey } from '../../src/keys.js';
import { MemTable } from '../../src/memtable/memtable.js';
import { MemTableIterator } from '../../src/memtable/memtable-iterator.js';
import { buildTable, entry, openTable } from '../sstable/table-fixture.js';
import { Rng } from '../../src/testing/rng.js';
import { testSeed } from '../helpers.js';
import { assertAt, randomWalk } from './iterator-model.js';
import { VectorIterator, compareEntries, del, put, type Entry } from './vector-iterator.js';

const KEYS = ['', 'a', 'a\x00', 'ab', 'b', 'ba', 'c', 'd', '\xff'];
const SEEK_KEYS = [...KEYS, 'aa', 'bb', 'e', '\xff\xff'].map((key) => Buffer.from(key, 'latin1'));
const SEQ_MAX = 30;

/** Random children, some of whose (key, seq) pairs repeat across children to exercise ties. */
function randomChildren(rng: Rng, childCount: number, entryCountMax = 60): Entry[][] {
  const children: Entry[][] = Array.from({ length: childCount }, () => []);
  const used = children.map(() => new Set<string>());
  const entryCount = childCount === 0 ? 0 : rng.int(entryCountMax + 1);
  for (let i = 0; i < entryCount; i++) {
    const child = rng.int(childCount);
    const key = rng.pick(KEYS);
    const seq = rng.range(1, SEQ_MAX);
    // Within one child (key, seq) is unique, as in any real source.
    if (used[child]!.has(`${key}@${seq}`)) continue;
    used[child]!.add(`${key}@${seq}`);
    children[child]!.push(rng.bool(0.3) ? del(key, seq) : put(key, seq, `c${child}:${key}@${seq}`));
  }
  return children;
}

/** The merged order: internal-key order, ties by child index. */
function mergedModel(children: readonly Entry[][]): Entry[] {
  const tagged = children.flatMap((entries, child) => entries.map((entry) => ({ entry, child })));
  tagged.sort((a, b) => compareEntries(a.entry, b.entry) || a.child - b.child);
  return tagged.map(({ entry }) => entry);
}

describe('merging iterator', () => {
  it('is never valid with no children, whichever way it seeks', () => {
    const merge = new MergingIterator([]);
    assert.equal(merge.valid(), false);
    merge.seekToFirst();
    assert.equal(merge.valid(), false);
    merge.seekToLast();
    assert.equal(merge.valid(), false);
    merge.seek(Buffer.from('a'), 5);
    assert.equal(merge.valid(), false);
    merge.seekForPrev(Buffer.from('a'), 5);
    assert.equal(merge.valid(), false);
  });

  it('passes a single child through unchanged', () => {
    const rng = new Rng(testSeed('merging iterator, one child'));
    const [entries] = randomChildren(rng, 1);
    const merge = new MergingIterator([new VectorIterator(entries!)]);
    randomWalk(merge, mergedModel([entries!]), rng, { steps: 400, keys: SEEK_KEYS, seqMax: SEQ_MAX });
  });

  it('visits entries tied on (key, seq) by child index, forwards and backwards, across turns', () => {
    const children = [0, 1, 2].map((child) => [put('a', 1), put('k', 5, `c${child}`), put('z', 1)]);
    children[1]!.push(put('k', 6, 'newer'));
    const model = mergedModel(children);
    const merge = new MergingIterator(children.map((entries) => new VectorIterator(entries)));
    assert.deepEqual(
      model.map((entry) => `${entry.userKey.toString()}@${entry.seq}=${entry.value.toString()}`).slice(0, 8),
      ['a@1=a@1', 'a@1=a@1', 'a@1=a@1', 'k@6=newer', 'k@5=c0', 'k@5=c1', 'k@5=c2', 'z@1=z@1'],
    );
    merge.seek(Buffer.from('k'), 5);
    assertAt(merge, model, 4, 'seek lands on the first tied child');
    merge.next();
    assertAt(merge, model, 5, 'next');
    merge.prev();
    assertAt(merge, model, 4, 'prev turns back to child 0');
    merge.prev();
    assertAt(merge, model, 3, 'prev');
    merge.next();
    merge.next();
    merge.next();
    assertAt(merge, model, 6, 'next turns forward through the tie');
    merge.seekForPrev(Buffer.from('k'), 5);
    assertAt(merge, model, 6, 'seekForPrev lands on the last tied child');
    merge.prev();
    merge.prev();
    merge.next();
    assertAt(merge, model, 5, 'turn forward inside the tie');
  });

  it('matches a sorted model under random seeks and steps with direction switches, 0 to 9 children', () => {
    const rng = new Rng(testSeed('merging iterator model'));
    for (let round = 0; round < 60; round++) {
      const children = randomChildren(rng, rng.int(10));
      const merge = new MergingIterator(children.map((entries) => new VectorIterator(entries)));
      randomWalk(merge, mergedModel(children), rng, { steps: 150, keys: SEEK_KEYS, seqMax: SEQ_MAX });
    }
  });

  it('walks a hundred children in full both ways', () => {
    const rng = new Rng(testSeed('merging iterator, many children'));
    const children = randomChildren(rng, 100, 1000);
    const model = mergedModel(children);
    const merge = new MergingIterator(children.map((entries) => new VectorIterator(entries)));
    merge.seekToFirst();
    for (let position = 0; position < model.length; position++, merge.next()) assertAt(merge, model, position, 'forward');
    assert.equal(merge.valid(), false);
    merge.seekToLast();
    for (let position = model.length - 1; position >= 0; position--, merge.prev()) assertAt(merge, model, position, 'backward');
    assert.equal(merge.valid(), false);
  });

  it('closes every child once, however often it is closed', () => {
    const children = [new VectorIterator([put('a', 1)]), new VectorIterator([]), new VectorIterator([put('b', 2)])];
    const merge = new MergingIterator(children);
    merge.seekToFirst();
    merge.close();
    merge.close();
    assert.equal(merge.valid(), false);
    assert.deepEqual(
      children.map((child) => child.closeCount),
      [1, 1, 1],
    );
  });
});

describe('internalKey() of every iterator kind', () => {
  it('is userKey ‖ trailer(seq, type) at every entry of a merge of a memtable, a table and a vector', async () => {
    const memtable = new MemTable(4);
    memtable.add(5, EntryType.PUT, Buffer.from('b'), Buffer.from('mem'));
    memtable.add(6, EntryType.DELETE, Buffer.from('a'), Buffer.alloc(0));
    const { bytes } = await buildTable([entry('a', 2, EntryType.PUT, 'x'), entry('c', 3, EntryType.DELETE), entry('longer key', 4, EntryType.PUT, 'y')], { blockSizeBytes: 16 });
    const merge = new MergingIterator([
      new MemTableIterator(memtable),
      openTable(bytes).iterator(),
      new VectorIterator([put('b', 1, 'v'), del('d', 7)]),
    ]);
    const seen: string[] = [];
    for (merge.seekToFirst(); merge.valid(); merge.next()) {
      assert.deepEqual(merge.internalKey(), encodeInternalKey(merge.userKey(), merge.seq(), merge.type()));
      seen.push(`${merge.userKey().toString()}@${merge.seq()}`);
    }
    assert.deepEqual(seen, ['a@6', 'a@2', 'b@5', 'b@1', 'c@3', 'd@7', 'longer key@4']);
  });
});
