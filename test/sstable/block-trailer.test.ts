/**
 * Stored blocks: compression, the trailer, checksums (docs/format.md, "SSTable:
 * block trailer").
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import CRC32 from 'crc-32';
import { CorruptionError } from '../../src/errors.js';
import { openBlock, sealBlock } from '../../src/sstable/block-trailer.js';
import { CompressionType } from '../../src/sstable/format.js';
import { SeededRandom, testSeed } from '../helpers.js';

const FILE = '000005.sst';

function isCorruptionAt(offset: number): (error: unknown) => boolean {
  return (error) => error instanceof CorruptionError && error.file === FILE && error.offset === offset;
}

describe('block trailer', () => {
  it('an uncompressed block is contents, type 0, then CRC-32 of contents and type, little-endian', () => {
    const stored = sealBlock(Buffer.from('abc'), 'none');
    const crc = CRC32.buf(Buffer.from([0x61, 0x62, 0x63, 0x00])) >>> 0;
    const expected = Buffer.alloc(4);
    expected.writeUInt32LE(crc);
    assert.equal(stored.toString('hex'), '616263' + '00' + expected.toString('hex'));
    // CRC-32 (IEEE, as zlib computes it) of 61 62 63 00 is 0xa75d6850.
    assert.equal(stored.toString('hex'), '61626300' + '50685da7');
  });

  it('compressible contents are stored with snappy and open to the same bytes', () => {
    const raw = Buffer.from('abcdefgh'.repeat(100));
    const stored = sealBlock(raw, 'snappy');
    assert(stored.length < raw.length / 4);
    assert.equal(stored[stored.length - 5], CompressionType.SNAPPY);
    const opened = openBlock(stored, FILE, 0, true);
    assert.equal(opened.compressionType, CompressionType.SNAPPY);
    assert.deepEqual(opened.contents, raw);
  });

  it('incompressible contents stay uncompressed even when snappy is asked for', () => {
    const rng = new SeededRandom(testSeed('incompressible block'));
    const raw = rng.bytes(1000);
    const stored = sealBlock(raw, 'snappy');
    assert.equal(stored.length, raw.length + 5);
    assert.equal(stored[stored.length - 5], CompressionType.NONE);
    assert.deepEqual(openBlock(stored, FILE, 0, true).contents, raw);
  });

  it('compression that saves less than 1/8 of the size is not kept', () => {
    // Half repetitive, half random: snappy saves about half; a tenth repetitive saves under 1/8.
    const rng = new SeededRandom(testSeed('marginal compression'));
    const marginal = Buffer.concat([Buffer.alloc(100, 0x61), rng.bytes(900)]);
    assert.equal(sealBlock(marginal, 'snappy')[marginal.length], CompressionType.NONE);
    const worthwhile = Buffer.concat([Buffer.alloc(500, 0x61), rng.bytes(500)]);
    const stored = sealBlock(worthwhile, 'snappy');
    assert.equal(stored[stored.length - 5], CompressionType.SNAPPY);
  });

  it('any flipped bit is a CorruptionError at the block offset', () => {
    for (const compression of ['none', 'snappy'] as const) {
      const stored = sealBlock(Buffer.from('hello hello hello hello hello hello'), compression);
      for (let bit = 0; bit < stored.length * 8; bit++) {
        const bad = Buffer.from(stored);
        bad[bit >> 3]! ^= 1 << (bit & 7);
        assert.throws(() => openBlock(bad, FILE, 1234, true), isCorruptionAt(1234), `${compression} bit ${bit}`);
      }
    }
  });

  it('an unknown compression type is a CorruptionError even without checksum verification', () => {
    const bad = sealBlock(Buffer.from('abc'), 'none');
    bad[3] = 2;
    assert.throws(() => openBlock(bad, FILE, 99, false), isCorruptionAt(99));
  });

  it('garbled snappy data is a CorruptionError, not a crash or a huge allocation', () => {
    const stored = sealBlock(Buffer.from('abcdefgh'.repeat(100)), 'snappy');
    const hugeLength = Buffer.from(stored);
    hugeLength.writeUInt32LE(0xffffffff, 0); // the uncompressed-length varint now claims ~ 2^28+ bytes
    assert.throws(() => openBlock(hugeLength, FILE, 7, false), isCorruptionAt(7));
    const garbled = Buffer.from(stored);
    garbled.fill(0xee, 2, stored.length - 5);
    assert.throws(() => openBlock(garbled, FILE, 7, false), isCorruptionAt(7));
  });

  it('a stored block shorter than its trailer is a CorruptionError', () => {
    assert.throws(() => openBlock(Buffer.from([0, 1, 2]), FILE, 5, true), isCorruptionAt(5));
  });
});
