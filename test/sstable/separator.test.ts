/**
 * Index keys: shortest separators between blocks and the short successor of the
 * last key (docs/format.md, "SSTable: index block").
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EntryType, SEQUENCE_MAX, compareInternalKeys, encodeInternalKey } from '../../src/keys.js';
import { shortSuccessor, shortestSeparator } from '../../src/sstable/separator.js';
import { SeededRandom, testSeed } from '../helpers.js';

const ik = (user: string | Buffer, seq: number, type: EntryType = EntryType.PUT): Buffer =>
  encodeInternalKey(typeof user === 'string' ? Buffer.from(user) : user, seq, type);

describe('shortest separator', () => {
  it('cuts the user key after the first differing byte, incremented, with the max-seq trailer', () => {
    assert.deepEqual(shortestSeparator(ik('abcdefg', 5), ik('abzzz', 9)), ik('abd', SEQUENCE_MAX));
    assert.deepEqual(shortestSeparator(ik('the quick brown fox', 1), ik('the who', 1)), ik('the r', SEQUENCE_MAX));
  });

  it('keeps the last key when the differing bytes are adjacent', () => {
    const last = ik('abc1xyz', 3);
    assert.equal(shortestSeparator(last, ik('abc2', 3)), last);
  });

  it('keeps the last key when one user key is a prefix of the other or they are equal', () => {
    const last = ik('abc', 3);
    assert.equal(shortestSeparator(last, ik('abcdef', 3)), last);
    assert.deepEqual(shortestSeparator(ik('abc', 9), ik('abc', 3)), ik('abc', 9));
  });

  it('keeps the last key when the differing byte is 0xff or cutting would not shorten it', () => {
    const ff = ik(Buffer.from([1, 0xff, 5]), 1);
    assert.equal(shortestSeparator(ff, ik(Buffer.from([2, 0]), 1)), ff);
    const short = ik('a', 1);
    assert.equal(shortestSeparator(short, ik('c', 1)), short);
  });

  it('always lies in [last, next) for seeded random neighbours', () => {
    const rng = new SeededRandom(testSeed('separator between neighbours'));
    for (let i = 0; i < 2000; i++) {
      const a = ik(rng.bytes(rng.int(0, 6)), rng.int(0, 100));
      const b = ik(rng.bytes(rng.int(0, 6)), rng.int(0, 100));
      const order = compareInternalKeys(a, b);
      if (order === 0) continue;
      const [last, next] = order < 0 ? [a, b] : [b, a];
      const separator = shortestSeparator(last, next);
      assert(compareInternalKeys(last, separator) <= 0);
      assert(compareInternalKeys(separator, next) < 0);
      assert(separator.length <= last.length);
    }
  });
});

describe('short successor', () => {
  it('cuts after the first byte that is not 0xff, incremented', () => {
    assert.deepEqual(shortSuccessor(ik('hello', 4)), ik('i', SEQUENCE_MAX));
    assert.deepEqual(shortSuccessor(ik(Buffer.from([0xff, 0xff, 3, 9]), 4)), ik(Buffer.from([0xff, 0xff, 4]), SEQUENCE_MAX));
  });

  it('keeps a key of only 0xff bytes, or one that cutting would not shorten', () => {
    const ff = ik(Buffer.from([0xff, 0xff]), 4);
    assert.equal(shortSuccessor(ff), ff);
    const single = ik('z', 4);
    assert.equal(shortSuccessor(single), single);
  });
});
