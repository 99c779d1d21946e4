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
import { FOOTER_BYTES, TABLE_FORMAT_VERSION, TABLE_FORMAT_VERSION_PREFIX_FILTER, TABLE_FORMAT_VERSION_RANGE_DEL_EXPIRY } from '../../src/sstable/format.js';
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

  it('reads format versions 1, 2 and 3; another is a CorruptionError naming them, even with a good checksum', () => {
    for (const formatVersion of [TABLE_FORMAT_VERSION_PREFIX_FILTER, TABLE_FORMAT_VERSION_RANGE_DEL_EXPIRY]) {
      const footer = { ...FOOTER, formatVersion };
      assert.deepEqual(decodeFooter(encodeFooter(footer), FILE_SIZE, FILE), footer);
    }
    for (const formatVersion of [0, 4, 0xffffffff]) {
      assert.throws(
        () => decodeFooter(encodeFooter({ ...FOOTER, formatVersion }), FILE_SIZE, FILE),
        (error) => isCorruptionAt(FOOTER_OFFSET)(error) && /unsupported table format version \d+ \(this release reads 1, 2, 3\)/.test((error as Error).message),
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
  rangeDelBlock: undefined,
  rangeDeletionCount: 0,
  expiringEntryCount: 0,
  expiryMinMs: 0,
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
    assert.throws(() => encodeProperties({ ...PROPERTIES_V2, bloomPrefixBytes: 0 }), /lowest format version/);
    assert.throws(() => encodeProperties({ ...PROPERTIES, bloomPrefixBytes: 3 }), /lowest format version/);
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

  it('format version 3 adds the range-del handle, its count, and the expiring entries\' count and earliest expiry at 73, before the keys', () => {
    const v3: TableProperties = {
      ...PROPERTIES,
      formatVersion: TABLE_FORMAT_VERSION_RANGE_DEL_EXPIRY,
      rangeDelBlock: { offset: 7700, size: 300 },
      rangeDeletionCount: 12,
      expiringEntryCount: 40,
      expiryMinMs: 1_765_000_000_000,
    };
    const contents = encodeProperties(v3);
    assert.equal(contents.length, 113 + 1 + 16 + 1 + 13);
    assert.equal(contents.readUInt32LE(69), 0, 'bloomPrefixBytes may be 0 in version 3');
    assert.deepEqual(
      [73, 81, 89, 97, 105].map((at) => contents.readUInt32LE(at) + contents.readUInt32LE(at + 4) * 2 ** 32),
      [7700, 300, 12, 40, 1_765_000_000_000],
    );
    assert.deepEqual(contents.subarray(113), encodeProperties(PROPERTIES).subarray(69), 'the keys follow, as in version 1');
    assert.deepEqual(decodeProperties(contents, TABLE_FORMAT_VERSION_RANGE_DEL_EXPIRY, FILE, 500), v3);
    const onlyRangeDeletes = { ...v3, entryCount: 0, tombstoneCount: 0, rawKeyBytes: 0, rawValueBytes: 0, dataBlockCount: 0, expiringEntryCount: 0, expiryMinMs: 0 };
    assert.deepEqual(decodeProperties(encodeProperties(onlyRangeDeletes), 3, FILE, 500), onlyRangeDeletes, 'a table may hold range tombstones only');
    const withPrefix = { ...v3, bloomPrefixBytes: 4 };
    assert.deepEqual(decodeProperties(encodeProperties(withPrefix), 3, FILE, 500), withPrefix);
    assert.throws(() => encodeProperties({ ...v3, formatVersion: TABLE_FORMAT_VERSION_PREFIX_FILTER }), /lowest format version/);
    assert.throws(() => encodeProperties({ ...PROPERTIES, formatVersion: 3 }), /lowest format version/);
    const put = (at: number, value: number) => (b: Buffer) => {
      b.writeUInt32LE(value % 2 ** 32, at);
      b.writeUInt32LE(Math.floor(value / 2 ** 32), at + 4);
    };
    const mutate = (fn: (b: Buffer) => void): Buffer => {
      const copy = Buffer.from(contents);
      fn(copy);
      return copy;
    };
    const cases: [string, Buffer][] = [
      ['a handle without tombstones', mutate(put(89, 0))],
      ['tombstones without a handle', mutate((b) => (put(73, 0)(b), put(81, 0)(b)))],
      ['an earliest expiry without expiring entries', mutate(put(97, 0))],
      ['neither range tombstones nor expiring entries', mutate((b) => b.fill(0, 73, 113))],
      ['more tombstones and expiring entries than entries', mutate(put(97, 995))],
      ['no entries but data blocks', encodeProperties({ ...onlyRangeDeletes, dataBlockCount: 1 })],
      ['no entries and no range tombstones', mutate((b) => (put(0, 0)(b), put(8, 0)(b), put(32, 0)(b), put(97, 0)(b), put(105, 0)(b), put(73, 0)(b), put(81, 0)(b), put(89, 0)(b)))],
      ['a prefix without a filter', encodeProperties({ ...withPrefix, bloomBitsPerKey: 0 })],
      ['too short for the version 3 fields', contents.subarray(0, 112)],
      ['a version 2 block read as version 3', encodeProperties(PROPERTIES_V2)],
    ];
    for (const [name, bad] of cases) assert.throws(() => decodeProperties(bad, TABLE_FORMAT_VERSION_RANGE_DEL_EXPIRY, FILE, 500), isCorruptionAt(500), name);
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
