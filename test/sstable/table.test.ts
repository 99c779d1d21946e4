/**
 * Whole tables: golden bytes and layout, round trips at tiny and default sizes,
 * point reads at snapshots, iteration and seeks, compression, and the builder's
 * contract (docs/format.md, "SSTable").
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { EntryType, SEQUENCE_MAX, encodeInternalKey } from '../../src/keys.js';
import { BLOCK_TRAILER_BYTES, CompressionType } from '../../src/sstable/format.js';
import { TABLE_FLUSH_ADVISED_BYTES, TABLE_WRITE_CHUNK_BYTES, TableBuilder, type TableBuilderOptions } from '../../src/sstable/table-builder.js';
import type { TableReader } from '../../src/sstable/table-reader.js';
import { GOLDEN_ENTRIES, GOLDEN_OPTIONS } from './golden-table.js';
import { MemoryWritableFile } from './memory-file.js';
import { encodeRangeDelBlock } from '../../src/sstable/range-del-block.js';
import { SeededRandom, testSeed } from '../helpers.js';
import { countFalsePositives } from './false-positives.js';
import { TABLE_FILE_NAME, buildTable, dataBlockHandles, entry, expectedGet, openTable, randomEntries, type TestEntry } from './table-fixture.js';

const LAYOUT_GOLDEN = new URL('../../../test/sstable/testdata/table-layout.golden', import.meta.url);

function assertIteratesExactly(reader: TableReader, entries: readonly TestEntry[]): void {
  const iterator = reader.iterator();
  let i = 0;
  for (iterator.seekToFirst(); iterator.valid(); iterator.next(), i++) {
    assert.deepEqual(iterator.key(), entries[i]!.key, `forward entry ${i}`);
    assert.deepEqual(iterator.value(), entries[i]!.value, `forward value ${i}`);
  }
  assert.equal(i, entries.length);
  for (iterator.seekToLast(), i = entries.length - 1; iterator.valid(); iterator.prev(), i--) {
    assert.deepEqual(iterator.key(), entries[i]!.key, `backward entry ${i}`);
  }
  assert.equal(i, -1);
}

function assertSeeksFind(reader: TableReader, entries: readonly TestEntry[]): void {
  const iterator = reader.iterator();
  for (const [i, e] of entries.entries()) {
    iterator.seekInternalKey(e.key);
    assert.deepEqual(iterator.key(), e.key, `seek to entry ${i}`);
    iterator.seek(e.userKey, e.seq);
    assert.deepEqual(iterator.key(), e.key, `seek(userKey, seq) to entry ${i}`);
    assert.deepEqual(iterator.userKey(), e.userKey);
    assert.equal(iterator.seq(), e.seq);
    assert.equal(iterator.type(), e.type);
    iterator.seekForPrev(e.userKey, e.seq);
    assert.deepEqual(iterator.key(), e.key, `seekForPrev to entry ${i}`);
    // Just after every version of this user key (seq 0): the next user key, or the end.
    iterator.seek(e.userKey, 0);
    let after = i + 1;
    while (after < entries.length && entries[after]!.userKey.equals(e.userKey)) after++;
    if (after === entries.length) assert.equal(iterator.valid(), false);
    else assert.deepEqual(iterator.key(), entries[after]!.key);
    // Just before every version of this user key (seq max): the previous user key, or nothing.
    iterator.seekForPrev(e.userKey, SEQUENCE_MAX);
    let before = i - 1;
    while (before >= 0 && entries[before]!.userKey.equals(e.userKey)) before--;
    if (before < 0) assert.equal(iterator.valid(), false);
    else assert.deepEqual(iterator.key(), entries[before]!.key);
  }
  // Seeking and then stepping back crosses block boundaries too.
  iterator.seekInternalKey(entries[entries.length - 1]!.key);
  for (let i = entries.length - 1; i >= 0; i--, iterator.prev()) assert.deepEqual(iterator.key(), entries[i]!.key);
  assert.equal(iterator.valid(), false);
}

function assertGetsMatch(reader: TableReader, entries: readonly TestEntry[], rng: SeededRandom): void {
  const versionsByKey = new Map<string, TestEntry[]>();
  for (const e of entries) {
    const hex = e.userKey.toString('hex');
    versionsByKey.set(hex, [...(versionsByKey.get(hex) ?? []), e]);
  }
  for (const versions of versionsByKey.values()) {
    const userKey = versions[0]!.userKey;
    assert.equal(reader.mayContain(userKey), true);
    for (const snapshot of [0, SEQUENCE_MAX, ...versions.flatMap((e) => [e.seq, e.seq - 1, e.seq + 1])]) {
      const want = expectedGet(versions, userKey, snapshot);
      const got = reader.get(userKey, snapshot);
      if (want === undefined) assert.equal(got, undefined, `get(${userKey.toString('hex')}, ${snapshot})`);
      else assert.deepEqual(got, { type: want.type, value: want.value, seq: want.seq }, `get(${userKey.toString('hex')}, ${snapshot})`);
    }
  }
  for (let i = 0; i < 200; i++) {
    const missing = rng.bytes(rng.int(0, 17));
    if (versionsByKey.has(missing.toString('hex'))) continue;
    assert.equal(reader.get(missing, SEQUENCE_MAX), undefined);
  }
}

function dataBlockTypes(reader: TableReader, bytes: Buffer): number[] {
  return dataBlockHandles(reader).map((handle) => bytes[handle.offset + handle.size]!);
}

describe('table golden', () => {
  it('layout() of the golden table matches test/sstable/testdata/table-layout.golden (REWRITE=1 regenerates)', async () => {
    const { bytes } = await buildTable(GOLDEN_ENTRIES, GOLDEN_OPTIONS);
    const layout = openTable(bytes).layout();
    if (process.env['REWRITE'] === '1') writeFileSync(LAYOUT_GOLDEN, layout);
    assert.equal(layout, readFileSync(LAYOUT_GOLDEN, 'utf8'));
  });

  it('the index block holds a short separator and a varint handle per data block, restart interval 1', async () => {
    const { bytes } = await buildTable(GOLDEN_ENTRIES, GOLDEN_OPTIONS);
    const index = openTable(bytes).indexBlock.data.toString('hex');
    const expected = [
      // "apricot"#7,PUT -> (0, 66): no shorter key lies between apricot and banana.
      '000f02' + '61707269636f74' + '0107000000000000' + '0042',
      // "bb"#max,PUT -> (71, 37): between "banana" and "blueberry".
      '000a02' + '6262' + '01ffffffffffff1f' + '4725',
      // "date"#1,PUT -> (113, 81): "date" then "elderberry" differ by one in the first byte.
      '000c02' + '64617465' + '0101000000000000' + '7151',
      // "f"#max,PUT -> (199, 29): the short successor of "elderberry".
      '000903' + '66' + '01ffffffffffff1f' + 'c7011d',
      '00000000' + '14000000' + '23000000' + '34000000', // restarts: every entry
      '04000000',
    ].join('');
    assert.equal(index, expected);
  });

  it('the footer is three fixed handles, the version, its CRC and the magic', async () => {
    const { bytes } = await buildTable(GOLDEN_ENTRIES, GOLDEN_OPTIONS);
    const footer = bytes.subarray(bytes.length - 64);
    const expected = [
      '6301000000000000' + '4b00000000000000', // index: offset 355, size 75
      'e900000000000000' + '0a00000000000000', // filter: offset 233, size 10
      'f800000000000000' + '6600000000000000', // properties: offset 248, size 102
      '01000000', // format version 1
      '1ed342df', // CRC-32 of the 52 bytes above
      '5348414c45535354', // "SHALESST"
    ].join('');
    assert.equal(footer.toString('hex'), expected);
    assert.equal(bytes.length, 499);
  });

  it('data block 0, the filter and the properties are stored exactly as docs/format-sstable.partial.md shows', async () => {
    const { bytes } = await buildTable(GOLDEN_ENTRIES, GOLDEN_OPTIONS);
    const block0 = [
      '000d03' + '6170706c65' + '0105000000000000' + '726564', // "apple"#5,PUT "red"
      '050800' + '0003000000000000', // "apple"#3,DELETE: shares "apple"
      '000f06' + '61707269636f74' + '0107000000000000' + '6f72616e6765', // "apricot"#7,PUT "orange" (restart)
      '00000000' + '1e000000' + '02000000', // restarts 0 and 30, count 2
      '00' + '3fa78e7b', // trailer: uncompressed, crc32
    ].join('');
    assert.equal(bytes.subarray(0, 71).toString('hex'), block0);
    assert.equal(bytes.subarray(233, 243).toString('hex'), 'e4a31c6768a42b2663' + '07');
    const properties = [
      '0800000000000000' + '0200000000000000' + '7400000000000000' + '6200000000000000',
      '0400000000000000' + '0100000000000000' + '0800000000000000',
      '40000000' + '02000000' + '0a000000' + '01',
      '0d' + '6170706c65' + '0105000000000000',
      '12' + '656c6465726265727279' + '0006000000000000',
    ].join('');
    assert.equal(bytes.subarray(248, 350).toString('hex'), properties);
  });

  it('get() of the golden table sees versions by snapshot and returns tombstones', async () => {
    const { bytes } = await buildTable(GOLDEN_ENTRIES, GOLDEN_OPTIONS);
    const reader = openTable(bytes);
    assert.deepEqual(reader.get(Buffer.from('apple'), 10), { type: EntryType.PUT, value: Buffer.from('red'), seq: 5 });
    assert.deepEqual(reader.get(Buffer.from('apple'), 4), { type: EntryType.DELETE, value: Buffer.alloc(0), seq: 3 });
    assert.equal(reader.get(Buffer.from('apple'), 2), undefined);
    assert.deepEqual(reader.get(Buffer.from('elderberry'), 6), { type: EntryType.DELETE, value: Buffer.alloc(0), seq: 6 });
    assert.equal(reader.get(Buffer.from('elderberry'), 5), undefined);
    assert.equal(reader.get(Buffer.from('bb'), SEQUENCE_MAX), undefined);
    assert.equal(reader.get(Buffer.from('f'), SEQUENCE_MAX), undefined);
    assert.equal(reader.get(Buffer.from(''), SEQUENCE_MAX), undefined);
  });
});

describe('table round trips', () => {
  const configurations: { name: string; options: TableBuilderOptions; userKeyCount: number; values: 'random' | 'compressible' }[] = [
    { name: 'block 64 bytes, restart interval 1, no compression', options: { blockSizeBytes: 64, restartInterval: 1, compression: 'none' }, userKeyCount: 150, values: 'random' },
    { name: 'block 64 bytes, restart interval 2, snappy', options: { blockSizeBytes: 64, restartInterval: 2, compression: 'snappy' }, userKeyCount: 150, values: 'compressible' },
    { name: 'block 256 bytes, restart interval 3, no filter', options: { blockSizeBytes: 256, restartInterval: 3, bloomBitsPerKey: 0 }, userKeyCount: 150, values: 'random' },
    { name: 'defaults, random values', options: {}, userKeyCount: 1500, values: 'random' },
    { name: 'defaults, compressible values', options: {}, userKeyCount: 1500, values: 'compressible' },
  ];

  for (const { name, options, userKeyCount, values } of configurations) {
    it(`every entry reads back: ${name}`, async () => {
      const rng = new SeededRandom(testSeed(`round trip (${name})`));
      const entries = randomEntries(rng, userKeyCount, values);
      const { bytes, meta } = await buildTable(entries, options);
      const reader = openTable(bytes);
      assert.equal(meta.fileSizeBytes, bytes.length);
      assert.equal(meta.entryCount, entries.length);
      assert.equal(meta.tombstoneCount, entries.filter((e) => e.type === EntryType.DELETE).length);
      assert.deepEqual(meta.smallestKey, entries[0]!.key);
      assert.deepEqual(meta.largestKey, entries[entries.length - 1]!.key);
      assert.equal(meta.smallestSeq, Math.min(...entries.map((e) => e.seq)));
      assert.equal(meta.largestSeq, Math.max(...entries.map((e) => e.seq)));
      const properties = reader.properties;
      assert.equal(properties.entryCount, meta.entryCount);
      assert.equal(properties.tombstoneCount, meta.tombstoneCount);
      assert.deepEqual(properties.smallestKey, meta.smallestKey);
      assert.deepEqual(properties.largestKey, meta.largestKey);
      assert.equal(properties.rawKeyBytes, entries.reduce((sum, e) => sum + e.key.length, 0));
      assert.equal(properties.rawValueBytes, entries.reduce((sum, e) => sum + e.value.length, 0));
      assert.equal(properties.dataBlockCount, dataBlockHandles(reader).length);
      assertIteratesExactly(reader, entries);
      assertSeeksFind(reader, entries);
      assertGetsMatch(reader, entries, rng);
    });
  }

  it('a seeded random walk of next, prev and seek matches the sorted entries', async () => {
    const rng = new SeededRandom(testSeed('iterator random walk'));
    const entries = randomEntries(rng, 120, 'random');
    const { bytes } = await buildTable(entries, { blockSizeBytes: 64, restartInterval: 2 });
    const iterator = openTable(bytes).iterator();
    let position = -1; // -1 or entries.length: invalid
    for (let step = 0; step < 3000; step++) {
      const action = rng.int(0, 9);
      if (position < 0 || position >= entries.length || action === 0) {
        position = rng.int(0, entries.length - 1);
        iterator.seekInternalKey(entries[position]!.key);
      } else if (action === 1) {
        iterator.seekToFirst();
        position = 0;
      } else if (action === 2) {
        iterator.seekToLast();
        position = entries.length - 1;
      } else if (action <= 5) {
        iterator.prev();
        position--;
      } else {
        iterator.next();
        position++;
      }
      const inRange = position >= 0 && position < entries.length;
      assert.equal(iterator.valid(), inRange, `step ${step}`);
      if (inRange) {
        assert.deepEqual(iterator.key(), entries[position]!.key, `step ${step}`);
        assert.deepEqual(iterator.value(), entries[position]!.value, `step ${step}`);
      }
    }
  });

  it('seekForPrev between user keys and past either end lands on the neighbour or nothing', async () => {
    const reader = openTable((await buildTable(GOLDEN_ENTRIES, GOLDEN_OPTIONS)).bytes);
    const iterator = reader.iterator();
    iterator.seekForPrev(Buffer.from('b'), SEQUENCE_MAX);
    assert.equal(iterator.key().toString('latin1', 0, 7), 'apricot');
    iterator.seekForPrev(Buffer.from('apple'), 4); // "apple"#5 is at or before; #3 is after
    assert.equal(iterator.seq(), 5);
    iterator.seekForPrev(Buffer.from('zzz'), 0);
    assert.equal(iterator.userKey().toString(), 'elderberry');
    assert.equal(iterator.type(), EntryType.DELETE);
    iterator.seekForPrev(Buffer.from('a'), 0);
    assert.equal(iterator.valid(), false);
    iterator.seek(Buffer.from('zzz'), 0);
    assert.equal(iterator.valid(), false);
    iterator.close();
    iterator.close();
    assert.equal(iterator.valid(), false);
  });

  it('get() returns a copy of the value; changing it does not change the table', async () => {
    const { bytes } = await buildTable(GOLDEN_ENTRIES, GOLDEN_OPTIONS);
    const reader = openTable(bytes);
    const first = reader.get(Buffer.from('cherry'), SEQUENCE_MAX)!;
    first.value.fill(0);
    assert.equal(reader.get(Buffer.from('cherry'), SEQUENCE_MAX)!.value.toString(), 'dark red');
  });

  it('compressible values are stored in snappy blocks and random values in uncompressed ones', async () => {
    const rng = new SeededRandom(testSeed('compression per block'));
    const compressible = await buildTable(randomEntries(rng, 400, 'compressible'), { blockSizeBytes: 512 });
    // The last block may hold one short entry that snappy cannot shrink by 1/8.
    const compressedTypes = dataBlockTypes(openTable(compressible.bytes), compressible.bytes).slice(0, -1);
    assert(compressedTypes.every((type) => type === CompressionType.SNAPPY), `types ${compressedTypes.join()}`);
    // Random values of 200 bytes: the keys' mostly-zero trailers cannot make up 1/8 of a block.
    const randomValued = Array.from({ length: 200 }, (_, i) => entry(`key${String(i).padStart(4, '0')}`, i + 1, EntryType.PUT, rng.bytes(200)));
    const random = await buildTable(randomValued, { blockSizeBytes: 512 });
    const randomTypes = dataBlockTypes(openTable(random.bytes), random.bytes);
    assert(randomTypes.every((type) => type === CompressionType.NONE), `types ${randomTypes.join()}`);
    const none = await buildTable(randomEntries(rng, 400, 'compressible'), { blockSizeBytes: 512, compression: 'none' });
    assert(dataBlockTypes(openTable(none.bytes), none.bytes).every((type) => type === CompressionType.NONE));
  });

  it('a table without a filter has no filter block and says so in its layout', async () => {
    const { bytes } = await buildTable(GOLDEN_ENTRIES, { ...GOLDEN_OPTIONS, bloomBitsPerKey: 0 });
    const reader = openTable(bytes);
    assert.match(reader.layout(), /^filter: none$/m);
    assert.equal(reader.mayContain(Buffer.from('anything')), true);
    assert.equal(reader.get(Buffer.from('cherry'), 9)?.seq, 2);
  });

  it('with bloomPrefixBytes the filter also holds key prefixes: format version 2, no false negatives, few false positives', async () => {
    const rng = new SeededRandom(testSeed('prefix filter'));
    const entries = randomEntries(rng, 600, 'random');
    const { bytes } = await buildTable(entries, { blockSizeBytes: 256, bloomPrefixBytes: 3 });
    const reader = openTable(bytes);
    assert.equal(reader.properties.formatVersion, 2);
    assert.equal(reader.bloomPrefixBytes, 3);
    assert.match(reader.layout(), /format version 2\n[\s\S]*bloom prefix bytes 3\n/);
    assertIteratesExactly(reader, entries);
    assertGetsMatch(reader, entries, rng);
    const prefixes = new Set(entries.map((e) => e.userKey.subarray(0, 3).toString('hex')));
    for (const hex of prefixes) assert.equal(reader.mayContainPrefix(Buffer.from(hex, 'hex')), true, `prefix ${hex} is in the filter`);
    for (const e of entries) assert.equal(reader.mayContain(e.userKey), true, 'whole keys are in it too');
    const probes = 2000;
    const falsePositives = countFalsePositives(rng, probes, 3, prefixes, (probe) => reader.mayContainPrefix(probe));
    // About 1% at 10 bits per key (keys and prefixes both count); 4% leaves room for chance.
    assert.ok(falsePositives < probes * 0.04, `${falsePositives} false positives in ${probes}`);
    assert.equal(reader.mayContainPrefix(Buffer.from('ab')), true, 'a prefix of another length cannot be ruled out');

    const plain = openTable((await buildTable(entries, { blockSizeBytes: 256 })).bytes);
    assert.equal(plain.properties.formatVersion, 1, 'without a prefix filter a table stays at version 1');
    assert.equal(plain.mayContainPrefix(rng.bytes(3)), true);
    const unfiltered = openTable((await buildTable(entries, { bloomBitsPerKey: 0, bloomPrefixBytes: 3 })).bytes);
    assert.equal(unfiltered.properties.formatVersion, 1, 'no filter, no prefix filter');
    assert.equal(unfiltered.bloomPrefixBytes, 0);
  });

  it('expiring entries and a range-del block make a table of format version 3 that records them', async () => {
    const expiring = (expiresAtMs: number, value: string): Buffer => {
      const out = Buffer.alloc(8 + value.length);
      out.writeUInt32LE(expiresAtMs % 2 ** 32, 0);
      out.writeUInt32LE(Math.floor(expiresAtMs / 2 ** 32), 4);
      out.write(value, 8);
      return out;
    };
    const entries = [
      entry('a', 5, EntryType.PUT_EXPIRING, expiring(1_765_000_000_500, 'x')),
      entry('b', 6, EntryType.PUT, 'y'),
      entry('c', 7, EntryType.PUT_EXPIRING, expiring(1_765_000_000_000, 'z')),
      entry('d', 8, EntryType.DELETE),
    ];
    const withExpiry = openTable((await buildTable(entries)).bytes).properties;
    assert.equal(withExpiry.formatVersion, 3);
    assert.deepEqual([withExpiry.expiringEntryCount, withExpiry.expiryMinMs, withExpiry.rangeDeletionCount], [2, 1_765_000_000_000, 0]);
    assert.equal(withExpiry.rangeDelBlock, undefined);

    // Three tombstones: [b, c) at 9 and 4, [c, e) at 9.
    const fragments = [
      { start: Buffer.from('b'), end: Buffer.from('c'), seqs: [9, 4] },
      { start: Buffer.from('c'), end: Buffer.from('e'), seqs: [9] },
    ];
    const { contents, count } = encodeRangeDelBlock(fragments);
    const file = new MemoryWritableFile();
    const builder = new TableBuilder(file, { bloomPrefixBytes: 1 });
    for (const e of entries.filter((e) => e.type !== EntryType.PUT_EXPIRING)) builder.add(e.key, e.value);
    const bounds = { smallestKey: encodeInternalKey(Buffer.from('b'), 9, EntryType.RANGE_DELETE), largestKey: encodeInternalKey(Buffer.from('e'), SEQUENCE_MAX, EntryType.RANGE_DELETE) };
    await builder.finish({ rangeDelBlock: { contents, count, ...bounds, smallestSeq: 4, largestSeq: 9 } });
    const bytes = file.contents();
    const properties = openTable(bytes).properties;
    assert.equal(properties.formatVersion, 3);
    assert.deepEqual([properties.rangeDeletionCount, properties.expiringEntryCount, properties.expiryMinMs, properties.bloomPrefixBytes], [3, 0, 0, 1]);
    const handle = properties.rangeDelBlock!;
    assert.deepEqual(bytes.subarray(handle.offset, handle.offset + handle.size), contents, 'the block lies where its handle says');
    assert.equal(bytes[handle.offset + handle.size], CompressionType.NONE);
    assert.match(openTable(bytes).layout(), new RegExp(`\nrange-del: offset ${handle.offset}, size ${contents.length} \\+ 5, none, tombstones 3\n`));
    assert.match(openTable((await buildTable(entries)).bytes).layout(), /\n  expiring entries 2, earliest expiry 1765000000000 ms\n/);

    const plain = openTable((await buildTable(entries.filter((e) => e.type !== EntryType.PUT_EXPIRING))).bytes).properties;
    assert.equal(plain.formatVersion, 1, 'without either a table stays at version 1');
  });

  it('a bloom miss answers get() without reading a data block', async () => {
    const rng = new SeededRandom(testSeed('bloom short-circuit'));
    const entries = randomEntries(rng, 300, 'random');
    const { bytes } = await buildTable(entries, { blockSizeBytes: 128 });
    const { MemoryRandomAccessFile } = await import('./memory-file.js');
    const { TableReader } = await import('../../src/sstable/table-reader.js');
    const file = new MemoryRandomAccessFile(bytes);
    const reader = TableReader.open(file, TABLE_FILE_NAME, 1);
    const readsAtOpen = file.readCount;
    let misses = 0;
    for (let i = 0; i < 500; i++) {
      const key = Buffer.from(`missing-${i}`);
      if (reader.mayContain(key)) continue;
      misses++;
      assert.equal(reader.get(key, SEQUENCE_MAX), undefined);
    }
    assert(misses > 450);
    assert.equal(file.readCount, readsAtOpen);
  });

  it('large keys and values (multi-byte varints, blocks bigger than the target) round-trip', async () => {
    const rng = new SeededRandom(testSeed('large entries'));
    const entries = randomEntries(rng, 20, 'random', 20_000);
    const { bytes } = await buildTable(entries, { blockSizeBytes: 1024 });
    const reader = openTable(bytes);
    assertIteratesExactly(reader, entries);
    assertGetsMatch(reader, entries, rng);
  });
});

describe('table builder', () => {
  it('asserts that keys strictly increase in internal-key order', () => {
    const builder = new TableBuilder(new MemoryWritableFile());
    builder.add(encodeInternalKey(Buffer.from('b'), 5, EntryType.PUT), Buffer.alloc(0));
    assert.throws(() => builder.add(encodeInternalKey(Buffer.from('a'), 9, EntryType.PUT), Buffer.alloc(0)), { code: 'ERR_ASSERTION' });
    assert.throws(() => builder.add(encodeInternalKey(Buffer.from('b'), 5, EntryType.PUT), Buffer.alloc(0)), { code: 'ERR_ASSERTION' });
    assert.throws(() => builder.add(encodeInternalKey(Buffer.from('b'), 6, EntryType.PUT), Buffer.alloc(0)), { code: 'ERR_ASSERTION' });
    builder.add(encodeInternalKey(Buffer.from('b'), 4, EntryType.DELETE), Buffer.alloc(0));
    builder.abandon();
  });

  it('asserts on an empty table, a key shorter than its trailer, and finish() twice', async () => {
    await assert.rejects(new TableBuilder(new MemoryWritableFile()).finish(), { code: 'ERR_ASSERTION' });
    assert.throws(() => new TableBuilder(new MemoryWritableFile()).add(Buffer.from('short'), Buffer.alloc(0)), { code: 'ERR_ASSERTION' });
    const builder = new TableBuilder(new MemoryWritableFile());
    builder.add(encodeInternalKey(Buffer.from('a'), 1, EntryType.PUT), Buffer.alloc(0));
    await builder.finish();
    await assert.rejects(builder.finish(), { code: 'ERR_ASSERTION' });
    assert.throws(() => builder.add(encodeInternalKey(Buffer.from('b'), 1, EntryType.PUT), Buffer.alloc(0)), { code: 'ERR_ASSERTION' });
  });

  it('batches sealed blocks into appends of at least 64 KiB', async () => {
    const rng = new SeededRandom(testSeed('append batching'));
    const { bytes, file } = await buildTable(randomEntries(rng, 3000, 'random', 200));
    assert(bytes.length > 4 * TABLE_WRITE_CHUNK_BYTES);
    assert(file.appendCount <= Math.ceil(bytes.length / TABLE_WRITE_CHUNK_BYTES), `${file.appendCount} appends for ${bytes.length} bytes`);
  });

  it('approximateSizeBytes grows with the data and ends near the file size', async () => {
    const rng = new SeededRandom(testSeed('approximate size'));
    const entries = randomEntries(rng, 2000, 'random');
    const builder = new TableBuilder(new MemoryWritableFile());
    let previous = 0;
    for (const e of entries) {
      builder.add(e.key, e.value);
      assert(builder.approximateSizeBytes >= previous);
      previous = builder.approximateSizeBytes;
    }
    const meta = await builder.finish();
    assert(previous <= meta.fileSizeBytes && previous > meta.fileSizeBytes * 0.8, `${previous} vs ${meta.fileSizeBytes}`);
  });

  it('flush() writes everything sealed so far and bufferedBytes drops to zero', async () => {
    const file = new MemoryWritableFile();
    const builder = new TableBuilder(file, { blockSizeBytes: 64 });
    for (let i = 0; i < 100; i++) builder.add(encodeInternalKey(Buffer.from(`key${String(i).padStart(4, '0')}`), 1, EntryType.PUT), Buffer.alloc(30, i));
    assert(builder.bufferedBytes > 0);
    await builder.flush();
    assert.equal(builder.bufferedBytes, 0);
    assert(file.size > 0);
    await builder.finish();
  });

  it('advises a flush once 1 MiB is buffered, and a caller that follows the advice stays bounded', async () => {
    const rng = new SeededRandom(testSeed('flush advice'));
    const value = rng.bytes(1000);
    const builder = new TableBuilder(new MemoryWritableFile(), { compression: 'none' });
    let advisedAt = -1;
    let bufferedMax = 0;
    for (let i = 0; i < 3000; i++) {
      builder.add(encodeInternalKey(Buffer.from(`key${String(i).padStart(5, '0')}`), 1, EntryType.PUT), value);
      bufferedMax = Math.max(bufferedMax, builder.bufferedBytes);
      if (builder.flushAdvised) {
        if (advisedAt < 0) advisedAt = i;
        await builder.flush();
        assert.equal(builder.flushAdvised, false);
      }
    }
    assert(advisedAt > 900 && advisedAt < 1100, `advised at ${advisedAt}`);
    assert(bufferedMax < TABLE_FLUSH_ADVISED_BYTES + 8192);
    await builder.finish();
  });

  it('a failed append is reported by finish()', async () => {
    const file = new MemoryWritableFile();
    const builder = new TableBuilder(file);
    builder.add(encodeInternalKey(Buffer.from('a'), 1, EntryType.PUT), Buffer.alloc(10));
    file.failNextAppend = Object.assign(new Error('disk on fire'), { code: 'EIO' });
    await assert.rejects(builder.finish(), { name: 'ShaleError', code: 'IO_ERROR' });
    builder.abandon();
  });

  it('a short append is reported as an I/O error, and later adds throw it too', async () => {
    const file = new MemoryWritableFile();
    file.shortWriteBytes = 100;
    const builder = new TableBuilder(file, { blockSizeBytes: 256 });
    const value = new SeededRandom(1).bytes(1000);
    for (let i = 0; i < 100; i++) builder.add(encodeInternalKey(Buffer.from(`k${String(i).padStart(3, '0')}`), 1, EntryType.PUT), value);
    await assert.rejects(builder.flush(), { code: 'IO_ERROR' });
    assert.throws(() => builder.add(encodeInternalKey(Buffer.from('z'), 1, EntryType.PUT), value), { code: 'IO_ERROR' });
    builder.abandon();
  });

  it('finish() leaves the file unsynced and exactly as long as the table', async () => {
    const { bytes, meta } = await buildTable(GOLDEN_ENTRIES, GOLDEN_OPTIONS);
    assert.equal(meta.fileSizeBytes, bytes.length);
    const lastBlockEnd = bytes.length - 64;
    assert.equal(bytes.subarray(lastBlockEnd - BLOCK_TRAILER_BYTES, lastBlockEnd).length, BLOCK_TRAILER_BYTES);
  });
});
