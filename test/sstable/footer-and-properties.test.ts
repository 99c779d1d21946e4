/**
 * The footer and the properties block on their own: encoding, and every check
 * their decoders make (docs/format.md, "SSTable: footer" and "SSTable:
 * properties block").
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CorruptionError } from '../../src/errors.js';
import { EntryType, encodeInternalKey } from '../../src/keys.js';
import { decodeFooter, encodeFooter, type Footer } from '../../src/sstable/footer.js';
import { FOOTER_BYTES, TABLE_FORMAT_VERSION, TABLE_FORMAT_VERSION_PREFIX_FILTER } from '../../src/sstable/format.js';
import { decodeProperties, encodeProperties, type TableProperties } from '../../src/sstable/properties.js';

const FILE = '000011.sst';
const FILE_SIZE = 10_000;
const FOOTER_OFFSET = FILE_SIZE - FOOTER_BYTES;

const FOOTER: Footer = {
  indexHandle: { offset: 9000, size: 800 },
  filterHandle: { offset: 7000, size: 1200 },
  propertiesHandle: { offset: 8205, size: 790 },
  formatVersion: TABLE_FORMAT_VERSION,
};

function isCorruptionAt(offset: number): (error: unknown) => boolean {
  return (error) => error instanceof CorruptionError && error.file === FILE && error.offset === offset;
}

describe('footer', () => {
  it('round-trips, with an absent filter encoded as offset 0 and size 0', () => {
    assert.deepEqual(decodeFooter(encodeFooter(FOOTER), FILE_SIZE, FILE), FOOTER);
    const noFilter = { ...FOOTER, filterHandle: undefined };
    const bytes = encodeFooter(noFilter);
    assert.equal(bytes.subarray(16, 32).toString('hex'), '00'.repeat(16));
    assert.deepEqual(decodeFooter(bytes, FILE_SIZE, FILE), noFilter);
  });

  it('every flipped bit is a CorruptionError at the footer offset', () => {
    const good = encodeFooter(FOOTER);
    for (let bit = 0; bit < FOOTER_BYTES * 8; bit++) {
      const bad = Buffer.from(good);
      bad[bit >> 3]! ^= 1 << (bit & 7);
      assert.throws(() => decodeFooter(bad, FILE_SIZE, FILE), isCorruptionAt(FOOTER_OFFSET), `bit ${bit}`);
    }
  });

  it('a file shorter than a footer is a CorruptionError at offset 0', () => {
    assert.throws(() => decodeFooter(Buffer.alloc(0), 63, FILE), isCorruptionAt(0));
  });

  it('handles that reach into or past the footer are a CorruptionError, even with a good checksum', () => {
    const cases: Footer[] = [
      { ...FOOTER, indexHandle: { offset: 9000, size: FOOTER_OFFSET - 9000 - 4 } },
      { ...FOOTER, propertiesHandle: { offset: FILE_SIZE, size: 0 } },
      { ...FOOTER, filterHandle: { offset: 0, size: FILE_SIZE } },
    ];
    for (const footer of cases) assert.throws(() => decodeFooter(encodeFooter(footer), FILE_SIZE, FILE), isCorruptionAt(FOOTER_OFFSET));
    const exact = { ...FOOTER, indexHandle: { offset: 9000, size: FOOTER_OFFSET - 9000 - 5 } };
    assert.deepEqual(decodeFooter(encodeFooter(exact), FILE_SIZE, FILE), exact);
  });

  it('reads format versions 1 and 2; another is a CorruptionError naming both, even with a good checksum', () => {
    const v2 = { ...FOOTER, formatVersion: TABLE_FORMAT_VERSION_PREFIX_FILTER };
    assert.deepEqual(decodeFooter(encodeFooter(v2), FILE_SIZE, FILE), v2);
    for (const formatVersion of [0, 3, 0xffffffff]) {
      assert.throws(
        () => decodeFooter(encodeFooter({ ...FOOTER, formatVersion }), FILE_SIZE, FILE),
        (error) => isCorruptionAt(FOOTER_OFFSET)(error) && /unsupported table format version \d+ \(this release reads 1 and 2\)/.test((error as Error).message),
      );
    }
  });
});

const PROPERTIES: TableProperties = {
  formatVersion: TABLE_FORMAT_VERSION,
  entryCount: 1000,
  tombstoneCount: 10,
  rawKeyBytes: 20_000,
  rawValueBytes: 300_000,
  dataBlockCount: 77,
  smallestSeq: 5,
  largestSeq: 2 ** 40,
  smallestKey: encodeInternalKey(Buffer.from('aardvark'), 17, EntryType.PUT),
  largestKey: encodeInternalKey(Buffer.from('zebra'), 5, EntryType.DELETE),
  blockSizeBytes: 4096,
  restartInterval: 16,
  bloomBitsPerKey: 10,
  compression: 'snappy',
  bloomPrefixBytes: 0,
};
const PROPERTIES_V2: TableProperties = { ...PROPERTIES, formatVersion: TABLE_FORMAT_VERSION_PREFIX_FILTER, bloomPrefixBytes: 6 };

describe('properties block', () => {
  it('round-trips every field', () => {
    const contents = encodeProperties(PROPERTIES);
    assert.equal(contents.length, 69 + 1 + 16 + 1 + 13);
    assert.deepEqual(decodeProperties(contents, TABLE_FORMAT_VERSION, FILE, 500), PROPERTIES);
  });

  it('format version 2 adds bloomPrefixBytes at offset 69, before the keys', () => {
    const contents = encodeProperties(PROPERTIES_V2);
    assert.equal(contents.length, 73 + 1 + 16 + 1 + 13);
    assert.equal(contents.readUInt32LE(69), 6);
    assert.deepEqual(contents.subarray(73), encodeProperties(PROPERTIES).subarray(69), 'the keys follow, as in version 1');
    assert.deepEqual(decodeProperties(contents, TABLE_FORMAT_VERSION_PREFIX_FILTER, FILE, 500), PROPERTIES_V2);
    assert.throws(() => encodeProperties({ ...PROPERTIES_V2, bloomPrefixBytes: 0 }), /exactly in format version 2/);
    assert.throws(() => encodeProperties({ ...PROPERTIES, bloomPrefixBytes: 3 }), /exactly in format version 2/);
    const cases: [string, Buffer][] = [
      ['prefix 0', Buffer.concat([contents.subarray(0, 69), Buffer.alloc(4), contents.subarray(73)])],
      ['prefix without a filter', Buffer.concat([contents.subarray(0, 64), Buffer.alloc(4), contents.subarray(68)])],
      ['too short for the prefix field', contents.subarray(0, 72)],
      ['a version 1 block read as version 2', encodeProperties(PROPERTIES)],
    ];
    for (const [name, bad] of cases) {
      assert.throws(() => decodeProperties(bad, TABLE_FORMAT_VERSION_PREFIX_FILTER, FILE, 500), isCorruptionAt(500), name);
    }
  });

  it('short, trailing or inconsistent contents are a CorruptionError at the block offset', () => {
    const good = encodeProperties(PROPERTIES);
    const mutate = (fn: (b: Buffer) => void): Buffer => {
      const copy = Buffer.from(good);
      fn(copy);
      return copy;
    };
    const cases: [string, Buffer][] = [
      ['too short', good.subarray(0, 68)],
      ['cut in the largest key', good.subarray(0, good.length - 1)],
      ['trailing byte', Buffer.concat([good, Buffer.from([0])])],
      ['no entries', mutate((b) => b.writeUInt32LE(0, 0))],
      ['more tombstones than entries', mutate((b) => b.writeUInt32LE(2000, 8))],
      ['seq range inverted', mutate((b) => b.writeUInt32LE(0xffff, 44))],
      ['u64 beyond 2^53', mutate((b) => b.writeUInt32LE(0xffffffff, 28))],
      ['unknown compression', mutate((b) => (b[68] = 9))],
      ['restart interval 0', mutate((b) => b.writeUInt32LE(0, 60))],
      ['key length past the end', mutate((b) => (b[69] = 0x7f))],
      ['key shorter than a trailer', mutate((b) => (b[69] = 3))],
      ['smallest after largest', mutate((b) => (b[70] = 0x7a + 1))],
    ];
    for (const [name, contents] of cases) assert.throws(() => decodeProperties(contents, 1, FILE, 500), isCorruptionAt(500), name);
  });
});
