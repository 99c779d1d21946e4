/**
 * Block handles in index entries: two LEB128 varints of up to 2^53 - 1
 * (docs/format.md, "SSTable: block handle").
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CorruptionError } from '../../src/errors.js';
import { decodeBlockHandle, encodeBlockHandle } from '../../src/sstable/block-handle.js';

function decode(bytes: Buffer) {
  return decodeBlockHandle(bytes, 0, bytes.length, '000001.sst', 300);
}

describe('block handle', () => {
  it('encodes offset then size as LEB128 varints', () => {
    assert.equal(encodeBlockHandle({ offset: 199, size: 29 }).toString('hex'), 'c7011d');
    assert.equal(encodeBlockHandle({ offset: 0, size: 0 }).toString('hex'), '0000');
  });

  it('round-trips values up to 2^53 - 1 in at most 8 bytes each', () => {
    for (const value of [0, 1, 127, 128, 2 ** 32 - 1, 2 ** 32, 2 ** 40 + 12345, Number.MAX_SAFE_INTEGER]) {
      const bytes = encodeBlockHandle({ offset: value, size: 4096 });
      assert(bytes.length <= 16);
      assert.deepEqual(decode(bytes), { offset: value, size: 4096 });
    }
    assert.equal(encodeBlockHandle({ offset: Number.MAX_SAFE_INTEGER, size: 0 }).length, 9);
  });

  it('truncated, overlong, oversized or trailing bytes are a CorruptionError at the index block', () => {
    const cases = [
      Buffer.alloc(0),
      Buffer.from([0xc7]),
      Buffer.from([0xc7, 0x01]),
      Buffer.from([0xc7, 0x01, 0x1d, 0x00]),
      Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x00]),
      Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0x00]), // 2^56 - 1 > 2^53 - 1
    ];
    for (const bytes of cases) {
      assert.throws(() => decode(bytes), (error) => error instanceof CorruptionError && error.offset === 300, bytes.toString('hex'));
    }
  });
});
