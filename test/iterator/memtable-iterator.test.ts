import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EntryType } from '../../src/keys.js';
import { MemTableIterator } from '../../src/memtable/memtable-iterator.js';
import { MemTable } from '../../src/memtable/memtable.js';
import { Rng } from '../../src/testing/rng.js';
import { testSeed } from '../helpers.js';
import { assertAt, randomWalk } from './iterator-model.js';
import type { Entry } from './vector-iterator.js';

const KEYS = ['', 'a', 'a\x00', 'ab', 'b', 'ba', 'c', 'd', '\xff'];
const SEEK_KEYS = [...KEYS, 'aa', 'bb', 'e'].map((key) => Buffer.from(key, 'latin1'));

/** The memtable's contents as the model sees them, in internal-key order. */
function contents(memtable: MemTable): Entry[] {
  return [...memtable.entries()].map(([memKey, value]) => ({ userKey: memKey.key, seq: memKey.seq, type: memKey.type, value }));
}

/** Adds one random entry with the next sequence number. */
function addRandom(memtable: MemTable, rng: Rng, seq: number): void {
  const key = Buffer.from(rng.pick(KEYS), 'latin1');
  if (rng.bool(0.3)) memtable.add(seq, EntryType.DELETE, key, Buffer.alloc(0));
  else memtable.add(seq, EntryType.PUT, key, Buffer.from(`v${seq}`));
}

function randomMemTable(rng: Rng, entryCount: number): MemTable {
  const memtable = new MemTable(4);
  for (let seq = 1; seq <= entryCount; seq++) addRandom(memtable, rng, seq);
  return memtable;
}

describe('memtable iterator', () => {
  it('walks every entry in internal-key order, forwards and backwards, at fanout 4', () => {
    const rng = new Rng(testSeed('memtable iterator walk'));
    const memtable = randomMemTable(rng, 300);
    const model = contents(memtable);
    const iterator = new MemTableIterator(memtable);
    iterator.seekToFirst();
    for (let position = 0; position < model.length; position++, iterator.next()) assertAt(iterator, model, position, 'forward');
    assert.equal(iterator.valid(), false);
    iterator.seekToLast();
    for (let position = model.length - 1; position >= 0; position--, iterator.prev()) assertAt(iterator, model, position, 'backward');
    assert.equal(iterator.valid(), false);
  });

  it('is never valid over an empty memtable', () => {
    const iterator = new MemTableIterator(new MemTable(4));
    for (const move of [() => iterator.seekToFirst(), () => iterator.seekToLast(), () => iterator.seek(Buffer.from('a'), 9), () => iterator.seekForPrev(Buffer.from('a'), 9)]) {
      move();
      assert.equal(iterator.valid(), false);
    }
  });

  it('matches the memtable contents under random seeks and steps with direction switches', () => {
    const rng = new Rng(testSeed('memtable iterator model'));
    for (let round = 0; round < 8; round++) {
      const entryCount = rng.int(200);
      const memtable = randomMemTable(rng, entryCount);
      randomWalk(new MemTableIterator(memtable), contents(memtable), rng, { steps: 300, keys: SEEK_KEYS, seqMax: entryCount + 1 });
    }
  });

  it('steps to the right neighbour when entries are added while it is open', () => {
    const rng = new Rng(testSeed('memtable iterator with writes'));
    const memtable = randomMemTable(rng, 50);
    const iterator = new MemTableIterator(memtable);
    let seq = 50;
    let model = contents(memtable);
    iterator.seekToFirst();
    for (let step = 0; step < 1500; step++) {
      // Writes split B-tree nodes under a live cursor; the iterator must notice.
      const writes = rng.bool(0.3) ? rng.range(1, 4) : 0;
      for (let i = 0; i < writes; i++) addRandom(memtable, rng, ++seq);
      if (writes > 0) model = contents(memtable);
      if (!iterator.valid()) {
        const toFirst = rng.bool();
        if (toFirst) iterator.seekToFirst();
        else iterator.seekToLast();
        assertAt(iterator, model, toFirst ? 0 : model.length - 1, `step ${step} reseek`);
        continue;
      }
      const position = model.findIndex((entry) => entry.seq === iterator.seq());
      const forward = rng.bool(0.7);
      if (forward) iterator.next();
      else iterator.prev();
      assertAt(iterator, model, forward ? position + 1 : position - 1, `step ${step} (${forward ? 'next' : 'prev'}) after ${writes} writes`);
    }
    memtable.checkInvariants();
  });

  it('reads a frozen memtable the same way', () => {
    const rng = new Rng(testSeed('memtable iterator, frozen'));
    const memtable = randomMemTable(rng, 120);
    memtable.freeze();
    randomWalk(new MemTableIterator(memtable), contents(memtable), rng, { steps: 300, keys: SEEK_KEYS, seqMax: 121 });
  });
});
