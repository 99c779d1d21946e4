/**
 * Data and index blocks: the entry encoding, restart points, the iterator's
 * seeks and steps in both directions, and the corruption checks
 * (docs/format.md, "SSTable: block contents").
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CorruptionError } from '../../src/errors.js';
import { EntryType, compareInternalKeys, encodeInternalKey } from '../../src/keys.js';
import { BlockBuilder } from '../../src/sstable/block-builder.js';
import { Block } from '../../src/sstable/block-reader.js';
import { bytewiseComparator, internalKeyComparator } from '../../src/sstable/comparator.js';
import { SeededRandom, testSeed } from '../helpers.js';

const FILE = '000009.sst';
const BLOCK_OFFSET = 4096;

function buildBlock(entries: [string, string][], restartInterval: number): Buffer {
  const builder = new BlockBuilder(restartInterval);
  for (const [key, value] of entries) builder.add(Buffer.from(key), Buffer.from(value));
  return Buffer.from(builder.finish());
}

function keysOf(block: Block, direction: 'forward' | 'backward'): string[] {
  const iterator = block.iterator(bytewiseComparator);
  const keys: string[] = [];
  if (direction === 'forward') for (iterator.seekToFirst(); iterator.valid(); iterator.next()) keys.push(iterator.key().toString());
  else for (iterator.seekToLast(); iterator.valid(); iterator.prev()) keys.push(iterator.key().toString());
  return keys;
}

function corruptionOf(fn: () => unknown): CorruptionError {
  try {
    fn();
  } catch (error) {
    assert(error instanceof CorruptionError, `expected CorruptionError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected a CorruptionError');
}

const FRUIT: [string, string][] = [
  ['apple', '1'],
  ['apricot', '2'],
  ['banana', '3'],
  ['band', '4'],
];

describe('block encoding', () => {
  it('a small block with restart interval 2 has exactly the documented bytes', () => {
    const expected = [
      '000501' + '6170706c65' + '31', // apple: shared 0, unshared 5, value 1
      '020501' + '7269636f74' + '32', // apricot: shares "ap"
      '000601' + '62616e616e61' + '33', // banana: restart point, shares nothing
      '030101' + '64' + '34', // band: shares "ban"
      '00000000' + '12000000', // restarts at 0 and 18
      '02000000', // restart count
    ].join('');
    assert.equal(buildBlock(FRUIT, 2).toString('hex'), expected);
  });

  it('an empty block is one restart point at 0 and a count of 1', () => {
    const contents = new BlockBuilder(16).finish();
    assert.equal(contents.toString('hex'), '0000000001000000');
    const block = new Block(Buffer.from(contents), FILE, 0);
    const iterator = block.iterator(bytewiseComparator);
    iterator.seekToFirst();
    assert.equal(iterator.valid(), false);
    iterator.seekToLast();
    assert.equal(iterator.valid(), false);
    iterator.seek(Buffer.from('a'));
    assert.equal(iterator.valid(), false);
  });

  it('estimatedSizeBytes is the size finish() returns', () => {
    const builder = new BlockBuilder(3);
    for (let i = 0; i < 20; i++) {
      builder.add(Buffer.from(`key${String(i).padStart(3, '0')}`), Buffer.alloc(i * 10, 1));
      assert.equal(builder.entryCount, i + 1);
    }
    const estimate = builder.estimatedSizeBytes;
    assert.equal(builder.finish().length, estimate);
  });

  it('long keys and values use multi-byte varints and still round-trip', () => {
    const longKey = 'k'.repeat(300);
    const entries: [string, string][] = [
      [longKey + 'a', 'v'.repeat(200)],
      [longKey + 'b', 'w'.repeat(70_000)],
      ['m', ''],
    ];
    const block = new Block(buildBlock(entries, 16), FILE, 0);
    const iterator = block.iterator(bytewiseComparator);
    let i = 0;
    for (iterator.seekToFirst(); iterator.valid(); iterator.next(), i++) {
      assert.equal(iterator.key().toString(), entries[i]![0]);
      assert.equal(iterator.value().toString(), entries[i]![1]);
    }
    assert.equal(i, entries.length);
  });
});

describe('block iterator', () => {
  for (const restartInterval of [1, 2, 3, 16]) {
    it(`walks forward and backward over every entry (restart interval ${restartInterval})`, () => {
      const block = new Block(buildBlock(FRUIT, restartInterval), FILE, 0);
      assert.deepEqual(keysOf(block, 'forward'), ['apple', 'apricot', 'banana', 'band']);
      assert.deepEqual(keysOf(block, 'backward'), ['band', 'banana', 'apricot', 'apple']);
    });

    it(`seek finds the first key ≥ the target (restart interval ${restartInterval})`, () => {
      const block = new Block(buildBlock(FRUIT, restartInterval), FILE, 0);
      const iterator = block.iterator(bytewiseComparator);
      const cases: [string, string | undefined][] = [
        ['', 'apple'],
        ['apple', 'apple'],
        ['applf', 'apricot'],
        ['b', 'banana'],
        ['banana', 'banana'],
        ['banb', 'band'],
        ['band', 'band'],
        ['bane', undefined],
        ['z', undefined],
      ];
      for (const [target, found] of cases) {
        iterator.seek(Buffer.from(target));
        assert.equal(iterator.valid() ? iterator.key().toString() : undefined, found, `seek(${target})`);
      }
    });
  }

  it('prev() from the first entry and next() from the last leave the iterator invalid', () => {
    const block = new Block(buildBlock(FRUIT, 2), FILE, 0);
    const iterator = block.iterator(bytewiseComparator);
    iterator.seekToFirst();
    iterator.prev();
    assert.equal(iterator.valid(), false);
    iterator.seekToLast();
    iterator.next();
    assert.equal(iterator.valid(), false);
  });

  it('key() is a copy that survives moving on; value() views the block', () => {
    const block = new Block(buildBlock(FRUIT, 2), FILE, 0);
    const iterator = block.iterator(bytewiseComparator);
    iterator.seekToFirst();
    const first = iterator.key();
    iterator.next();
    iterator.next();
    assert.equal(first.toString(), 'apple');
    assert.equal(iterator.value().buffer, block.data.buffer);
  });

  it('seeded random internal-key blocks round-trip at restart intervals 1, 2 and 16', () => {
    const rng = new SeededRandom(testSeed('random internal-key blocks'));
    for (const restartInterval of [1, 2, 16]) {
      const userKeys = new Set<string>();
      while (userKeys.size < 200) userKeys.add(rng.bytes(rng.int(0, 12)).toString('hex'));
      const entries = [...userKeys]
        .map((hex, i) => ({ key: encodeInternalKey(Buffer.from(hex, 'hex'), i + 1, EntryType.PUT), value: rng.bytes(rng.int(0, 40)) }))
        .sort((a, b) => compareInternalKeys(a.key, b.key));
      const builder = new BlockBuilder(restartInterval);
      for (const { key, value } of entries) builder.add(key, value);
      const block = new Block(Buffer.from(builder.finish()), FILE, 0);
      const iterator = block.iterator(internalKeyComparator);
      let i = 0;
      for (iterator.seekToFirst(); iterator.valid(); iterator.next(), i++) {
        assert.deepEqual(iterator.key(), entries[i]!.key);
        assert.deepEqual(iterator.value(), entries[i]!.value);
      }
      assert.equal(i, entries.length);
      for (iterator.seekToLast(), i = entries.length - 1; iterator.valid(); iterator.prev(), i--) assert.deepEqual(iterator.key(), entries[i]!.key);
      assert.equal(i, -1);
      for (const [j, { key }] of entries.entries()) {
        iterator.seek(key);
        assert.deepEqual(iterator.key(), key);
        // A key just after entry j (same user key, older seq) lands on entry j + 1.
        const after = Buffer.from(key);
        after.writeUInt32LE(0, after.length - 8);
        after.writeUInt32LE(0, after.length - 4);
        iterator.seek(after);
        if (j + 1 < entries.length) assert.deepEqual(iterator.key(), entries[j + 1]!.key);
        else assert.equal(iterator.valid(), false);
      }
    }
  });
});

describe('block iterator walks', () => {
  it('random next, prev and seek moves land where the entry list says, keys and values alike (prev restores a cached interval)', () => {
    const rng = new SeededRandom(testSeed('block iterator walks'));
    for (const restartInterval of [1, 2, 5, 16, 40]) {
      const keys = new Set<string>();
      // Shared prefixes, some keys longer than the iterator's 64-byte scratch.
      while (keys.size < 120) keys.add('k'.repeat(rng.int(0, 3)) + rng.bytes(rng.int(0, rng.next() < 0.1 ? 90 : 6)).toString('hex'));
      const entries = [...keys].sort().map((key): [string, string] => [key, `v-${key.length}-${rng.int(0, 1000)}`]);
      const block = new Block(buildBlock(entries, restartInterval), FILE, 0);
      const iterator = block.iterator(bytewiseComparator);
      let at = -1; // the index the iterator should be at; -1 or entries.length: invalid
      const check = (move: string): void => {
        if (at < 0 || at >= entries.length) {
          assert.equal(iterator.valid(), false, `${move}: expected the end`);
          return;
        }
        assert.equal(iterator.valid(), true, `${move}: expected entry ${at}`);
        assert.equal(iterator.key().toString(), entries[at]![0], `${move}: key of entry ${at}`);
        assert.equal(iterator.value().toString(), entries[at]![1], `${move}: value of entry ${at}`);
      };
      for (let move = 0; move < 3000; move++) {
        const roll = rng.next();
        if (at < 0 || at >= entries.length || roll < 0.05) {
          const target = rng.int(0, entries.length - 1);
          iterator.seek(Buffer.from(entries[target]![0]));
          at = target;
          check(`seek to entry ${target}`);
        } else if (roll < 0.08) {
          iterator.seekToLast();
          at = entries.length - 1;
          check('seekToLast');
        } else if (roll < 0.35) {
          iterator.next();
          at++;
          check('next');
        } else {
          iterator.prev();
          at--;
          check('prev');
        }
      }
    }
  });
});

describe('block corruption', () => {
  const good = buildBlock(FRUIT, 2);

  it('a block too short for its restart count is a CorruptionError at the block offset', () => {
    const error = corruptionOf(() => new Block(Buffer.from([1, 0]), FILE, BLOCK_OFFSET));
    assert.equal(error.file, FILE);
    assert.equal(error.offset, BLOCK_OFFSET);
  });

  it('a restart count of zero or larger than the block is a CorruptionError', () => {
    for (const count of [0, 12, 0xffffffff]) {
      const bad = Buffer.from(good);
      bad.writeUInt32LE(count, bad.length - 4);
      assert.equal(corruptionOf(() => new Block(bad, FILE, BLOCK_OFFSET)).offset, BLOCK_OFFSET, `count ${count}`);
    }
  });

  it('restart points out of order or past the entries are a CorruptionError', () => {
    for (const restart of [0, 45, 33, 1000]) {
      const bad = Buffer.from(good);
      bad.writeUInt32LE(restart, bad.length - 8);
      assert.equal(corruptionOf(() => new Block(bad, FILE, BLOCK_OFFSET)).offset, BLOCK_OFFSET, `restart ${restart}`);
    }
    const bad = Buffer.from(good);
    bad.writeUInt32LE(7, bad.length - 12);
    corruptionOf(() => new Block(bad, FILE, BLOCK_OFFSET));
  });

  it('an entry whose value runs past the entries is a CorruptionError when read', () => {
    const bad = Buffer.from(good);
    bad[2] = 0x7f; // apple's value length
    const iterator = new Block(bad, FILE, BLOCK_OFFSET).iterator(bytewiseComparator);
    const error = corruptionOf(() => iterator.seekToFirst());
    assert.equal(error.offset, BLOCK_OFFSET);
    assert.equal(iterator.valid(), false);
  });

  it('a shared prefix longer than the previous key is a CorruptionError', () => {
    const bad = Buffer.from(good);
    bad[9] = 9; // apricot claims 9 shared bytes of the 5-byte "apple"
    const iterator = new Block(bad, FILE, BLOCK_OFFSET).iterator(bytewiseComparator);
    iterator.seekToFirst();
    corruptionOf(() => iterator.next());
  });

  it('a restart entry that shares a prefix is a CorruptionError on seek', () => {
    const bad = Buffer.from(good);
    bad[18] = 1; // banana is a restart point
    const iterator = new Block(bad, FILE, BLOCK_OFFSET).iterator(bytewiseComparator);
    corruptionOf(() => iterator.seek(Buffer.from('band')));
  });

  it('a varint that never ends is a CorruptionError', () => {
    const bad = Buffer.from(good);
    bad.fill(0xff, 0, 18);
    const iterator = new Block(bad, FILE, BLOCK_OFFSET).iterator(bytewiseComparator);
    corruptionOf(() => iterator.seekToFirst());
  });

  it('an internal key shorter than its 8-byte trailer is a CorruptionError', () => {
    const iterator = new Block(good, FILE, BLOCK_OFFSET).iterator(internalKeyComparator);
    corruptionOf(() => iterator.seekToFirst());
  });
});
