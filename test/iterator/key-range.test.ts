/**
 * The bounds helpers of src/iterator/key-range.ts, against brute force over
 * every short key of a small alphabet that includes 0x00 and 0xff.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { aboveUpper, belowLower, prefixSuccessor, rangeBounds, sharedPrefix, type KeyRange } from '../../src/iterator/key-range.js';
import { Rng } from '../../src/testing/rng.js';
import { testSeed } from '../helpers.js';

const ALPHABET = [0x00, 0x01, 0x61, 0xfe, 0xff];

/** Every key of 0 to `maxLength` bytes over ALPHABET. */
function allKeys(maxLength: number): Buffer[] {
  const keys: Buffer[] = [Buffer.alloc(0)];
  let last: Buffer[] = [Buffer.alloc(0)];
  for (let length = 1; length <= maxLength; length++) {
    last = last.flatMap((key) => ALPHABET.map((byte) => Buffer.concat([key, Buffer.from([byte])])));
    keys.push(...last);
  }
  return keys;
}

const KEYS = allKeys(4);

describe('key ranges', () => {
  it('prefixSuccessor is the smallest key above every key with the prefix', () => {
    assert.deepEqual(prefixSuccessor(Buffer.from([0x61, 0xff, 0xff])), Buffer.from([0x62]));
    assert.deepEqual(prefixSuccessor(Buffer.from([0x00])), Buffer.from([0x01]));
    assert.equal(prefixSuccessor(Buffer.from([0xff, 0xff])), undefined);
    for (const prefix of allKeys(3).filter((key) => key.length > 0)) {
      const successor = prefixSuccessor(prefix);
      for (const key of KEYS) {
        const hasPrefix = key.length >= prefix.length && key.subarray(0, prefix.length).equals(prefix);
        if (hasPrefix) assert.ok(successor === undefined || key.compare(successor) < 0, `${key.toString('hex')} below the successor of ${prefix.toString('hex')}`);
        else if (key.compare(prefix) > 0) assert.ok(successor !== undefined && key.compare(successor) >= 0, `${key.toString('hex')} at or above the successor`);
      }
    }
  });

  it('sharedPrefix is a prefix of every key in the range, and is found for { gte: p, lt: successor(p) }', () => {
    const rng = new Rng(testSeed('sharedPrefix'));
    let found = 0;
    for (let round = 0; round < 3000; round++) {
      const prefixBytes = rng.range(1, 3);
      const pick = (): Buffer => rng.pick(KEYS);
      const range: KeyRange = {};
      if (rng.bool(0.9)) range[rng.pick(['gt', 'gte'] as const)] = pick();
      if (rng.bool(0.9)) range[rng.pick(['lt', 'lte'] as const)] = pick();
      if (rng.bool(0.3) && range.gte !== undefined && range.gte.length >= prefixBytes) {
        // The pattern users write: the range of one prefix.
        const successor = prefixSuccessor(range.gte.subarray(0, prefixBytes));
        delete range.lte;
        if (successor === undefined) delete range.lt;
        else range.lt = successor;
      }
      const { lower, upper } = rangeBounds(range);
      const prefix = sharedPrefix(lower, upper, prefixBytes);
      if (prefix === undefined) continue;
      found++;
      assert.equal(prefix.length, prefixBytes);
      for (const key of KEYS) {
        if (belowLower(key, lower) || aboveUpper(key, upper)) continue;
        assert.ok(key.subarray(0, prefixBytes).equals(prefix), `${key.toString('hex')} is in ${JSON.stringify(range)} but lacks prefix ${prefix.toString('hex')}`);
      }
    }
    assert.ok(found > 300, `found a shared prefix in ${found} ranges`);
    const p = Buffer.from('ab');
    assert.deepEqual(sharedPrefix(...bounds({ gte: p, lt: Buffer.from('ac') }), 2), p);
    assert.deepEqual(sharedPrefix(...bounds({ gt: Buffer.from('ab\x00'), lte: Buffer.from('ab\xff\xff') }), 2), p);
    assert.equal(sharedPrefix(...bounds({ gte: p, lte: Buffer.from('ac') }), 2), undefined, 'ac itself is in the range');
    assert.equal(sharedPrefix(...bounds({ gte: p }), 2), undefined);
    assert.equal(sharedPrefix(...bounds({ gte: Buffer.from('a'), lt: Buffer.from('ab') }), 2), undefined, 'a lower bound shorter than the prefix');
    assert.deepEqual(sharedPrefix(...bounds({ gte: Buffer.from([0xff, 0xff, 0x01]) }), 2), Buffer.from([0xff, 0xff]), 'nothing sorts above an all-0xff prefix without it');
  });
});

function bounds(range: KeyRange): [ReturnType<typeof rangeBounds>['lower'], ReturnType<typeof rangeBounds>['upper']] {
  const { lower, upper } = rangeBounds(range);
  return [lower, upper];
}
