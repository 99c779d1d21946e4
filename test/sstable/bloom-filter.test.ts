/**
 * The bloom filter over user keys: LevelDB's hash, the filter bytes, the probe
 * count, the false-positive rate, and corrupt filters (docs/format.md,
 * "SSTable: filter block").
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CorruptionError } from '../../src/errors.js';
import { BloomFilter, bloomHash, bloomProbeCount, buildBloomFilter, murmurHash32 } from '../../src/sstable/bloom-filter.js';
import { SeededRandom, testSeed } from '../helpers.js';
import { countFalsePositives } from './false-positives.js';

function filterOver(keys: Buffer[], bitsPerKey: number): Buffer {
  const hashes = new Uint32Array(keys.map((key) => bloomHash(key, 0, key.length)));
  return buildBloomFilter(hashes, hashes.length, bitsPerKey);
}

describe('bloom hash', () => {
  it('matches the test vectors of LevelDB util/hash_test.cc', () => {
    const seed = 0xbc9f1d34;
    assert.equal(murmurHash32(Buffer.alloc(0), 0, 0, seed), 0xbc9f1d34);
    assert.equal(murmurHash32(Buffer.from([0x62]), 0, 1, seed), 0xef1345c4);
    assert.equal(murmurHash32(Buffer.from([0xc3, 0x97]), 0, 2, seed), 0x5b663814);
    assert.equal(murmurHash32(Buffer.from([0xe2, 0x99, 0xa5]), 0, 3, seed), 0x323c078f);
    assert.equal(murmurHash32(Buffer.from([0xe1, 0x80, 0xb9, 0x32]), 0, 4, seed), 0xed21633a);
    const data5 = Buffer.alloc(48);
    for (const [at, byte] of [[0, 0x01], [1, 0xc0], [16, 0x14], [22, 0x04], [27, 0x14], [31, 0x18], [32, 0x28], [40, 0x02]] as const) data5[at] = byte;
    assert.equal(murmurHash32(data5, 0, 48, 0x12345678), 0xf333dabb);
  });

  it('hashes a subrange the same as a copy of it', () => {
    const buffer = Buffer.from('xxapplexx');
    assert.equal(bloomHash(buffer, 2, 7), bloomHash(Buffer.from('apple'), 0, 5));
  });
});

describe('bloom filter', () => {
  it('over 3 keys at 10 bits per key is 64 bits and k = 7, with exactly these bytes', () => {
    const filter = filterOver(['apple', 'banana', 'cherry'].map((key) => Buffer.from(key)), 10);
    assert.equal(filter.toString('hex'), '0240000c8001f00f' + '07');
  });

  it('probe count is round(bitsPerKey × ln 2) within [1, 30]', () => {
    assert.equal(bloomProbeCount(1), 1);
    assert.equal(bloomProbeCount(2), 1);
    assert.equal(bloomProbeCount(10), 7);
    assert.equal(bloomProbeCount(16), 11);
    assert.equal(bloomProbeCount(64), 30);
  });

  it('has no false negatives', () => {
    const rng = new SeededRandom(testSeed('bloom no false negatives'));
    for (const count of [1, 10, 100, 1000]) {
      const keys = Array.from({ length: count }, () => rng.bytes(rng.int(0, 24)));
      const filter = new BloomFilter(filterOver(keys, 10), 'f', 0);
      for (const key of keys) assert.equal(filter.mayContain(key), true);
    }
  });

  it('at 10 bits per key has a false-positive rate below 2% over 10,000 missing keys', () => {
    const rng = new SeededRandom(testSeed('bloom false positives'));
    const present = new Set<string>();
    while (present.size < 10_000) present.add(rng.bytes(16).toString('hex'));
    const filter = new BloomFilter(filterOver([...present].map((hex) => Buffer.from(hex, 'hex')), 10), 'f', 0);
    const tried = 10_000;
    const falsePositives = countFalsePositives(rng, tried, 16, present, (key) => filter.mayContain(key));
    console.log(`false-positive rate ${(falsePositives / tried * 100).toFixed(2)}%`);
    assert(falsePositives / tried < 0.02, `false-positive rate ${falsePositives / tried}`);
  });

  it('rejects a filter shorter than 2 bytes or with k outside [1, 30] as a CorruptionError at its offset', () => {
    const good = filterOver([Buffer.from('a')], 10);
    const cases = [Buffer.alloc(0), Buffer.from([7]), Buffer.concat([good.subarray(0, -1), Buffer.from([0])]), Buffer.concat([good.subarray(0, -1), Buffer.from([31])])];
    for (const contents of cases) {
      assert.throws(
        () => new BloomFilter(contents, '000003.sst', 777),
        (error) => error instanceof CorruptionError && error.file === '000003.sst' && error.offset === 777,
      );
    }
  });
});
