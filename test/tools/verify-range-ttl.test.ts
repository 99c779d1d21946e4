/**
 * `DB.verify` and `checkTable` on tables of format version 3: range-del blocks
 * and PUT_EXPIRING entries. An intact database with range deletes and expiring
 * entries verifies, counting its tombstones; every byte of a range-del block is
 * checked by its checksum; a range-del block with a valid checksum whose entries
 * break the block's rules (order, overlap, type, count, empty range) is damage at
 * its offset, and so is one the table's bounds do not cover; a data block holding
 * a RANGE_DELETE entry, or an expiring value without a readable expiry time, is
 * damage at its offset, and repair drops that block rather than copy it.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { DB } from '../../src/index.js';
import { CrashableFS } from '../../src/testing/index.js';
import { EntryType, INTERNAL_KEY_TRAILER_BYTES, encodeInternalKey } from '../../src/keys.js';
import { BlockBuilder } from '../../src/sstable/block-builder.js';
import { blockChecksum } from '../../src/sstable/block-trailer.js';
import { TableBuilder } from '../../src/sstable/table-builder.js';
import { fragmentTombstones } from '../../src/rangedel/fragments.js';
import { rangeDelBlockSpec, type RangeDelBlockSpec } from '../../src/rangedel/table-tombstones.js';
import { encodeExpiringValue } from '../../src/util/expiring-value.js';
import { checkTable } from '../../src/tools/table-check.js';
import { MemoryRandomAccessFile, MemoryWritableFile } from '../sstable/memory-file.js';
import { dataBlockHandles } from '../sstable/table-fixture.js';
import { TableReader } from '../../src/sstable/table-reader.js';

const DIR = '/db';
const TABLE = '/t/000042.sst';
const NOW = 1_000_000;

interface Built {
  bytes: Buffer;
  rangeDelOffset: number;
}

/** A table of `entries` ([user key, seq, type, value]) and, when given, a range-del block spec as is. */
async function buildTable(entries: [string, number, EntryType, Buffer][], rangeDel?: RangeDelBlockSpec): Promise<Built> {
  const file = new MemoryWritableFile();
  const builder = new TableBuilder(file, { blockSizeBytes: 4096, compression: 'none' });
  for (const [userKey, seq, type, value] of entries) builder.add(encodeInternalKey(Buffer.from(userKey), seq, type), value);
  await builder.finish(rangeDel === undefined ? {} : { rangeDelBlock: rangeDel });
  const bytes = file.contents();
  // Stored uncompressed, right after the data blocks.
  return { bytes, rangeDelOffset: rangeDel === undefined ? -1 : bytes.indexOf(rangeDel.contents) };
}

/** `checkTable` of `bytes` as a table file. */
async function check(bytes: Buffer): Promise<Awaited<ReturnType<typeof checkTable>>> {
  const fs = new CrashableFS();
  await fs.mkdir('/t');
  fs.writeFileSync(TABLE, bytes, { synced: true });
  return checkTable(fs, TABLE, 42);
}

/** A range-del block spec whose contents are the raw entries given ([start, seq, type, end]), in that order, valid or not. */
function rawRangeDel(entries: [string, number, number, string][], count = entries.length): RangeDelBlockSpec {
  const builder = new BlockBuilder(1);
  for (const [start, seq, type, end] of entries) builder.add(encodeInternalKey(Buffer.from(start), seq, type as EntryType), Buffer.from(end));
  return {
    contents: builder.finish(),
    count,
    smallestKey: encodeInternalKey(Buffer.from('a'), 100, EntryType.RANGE_DELETE),
    largestKey: encodeInternalKey(Buffer.from('zz'), Number.MAX_SAFE_INTEGER, EntryType.RANGE_DELETE),
    smallestSeq: 1,
    largestSeq: 100,
  };
}

/**
 * The table's bytes with the type of the entry of `userKey` at `seq` changed to
 * `type` (its value as built) and its data block's checksum made right again:
 * damage only the block's own checks can find. Tables here have one data block,
 * at offset 0, uncompressed.
 */
function retypeEntry(bytes: Buffer, userKey: string, seq: number, from: EntryType, type: number): Buffer {
  const out = Buffer.from(bytes);
  const needle = encodeInternalKey(Buffer.from(userKey), seq, from);
  const reader = TableReader.open(new MemoryRandomAccessFile(bytes), TABLE, 42);
  const [block] = dataBlockHandles(reader);
  assert.equal(block!.offset, 0);
  // Stored whole in the data block (one-byte keys share no prefix); the properties block may hold it too.
  const at = out.indexOf(needle);
  assert.ok(at >= 0 && at < block!.size, 'the key is stored whole in the data block');
  out[at + needle.length - INTERNAL_KEY_TRAILER_BYTES] = type;
  out.writeUInt32LE(blockChecksum(out, block!.size), block!.size + 1);
  return out;
}

const value = (text: string): Buffer => Buffer.from(text);

describe('verify: range-del blocks and expiring entries', () => {
  it('an intact database with range deletes and expiring entries verifies, its tombstones counted in tables and logs', async () => {
    const fs = new CrashableFS();
    const db = await DB.open(DIR, { fs, clock: () => NOW, autoCompaction: false });
    await db.put('a', '1');
    await db.put('b', '2', { expiresAt: NOW + 1000 });
    await db.put('c', '3', { expiresAt: NOW - 1 });
    await db.deleteRange('b', 'd');
    await db.deleteRange('x', 'z');
    await db.flush();
    await db.deleteRange('a', 'c');
    await db.put('e', '5', { ttl: 10 });
    await db.close();
    const report = await DB.verify(DIR, { fs });
    assert.deepEqual(report.damage, []);
    assert.equal(report.ok, true);
    const table = report.files.find((file) => file.kind === 'table')!;
    const log = report.files.find((file) => file.kind === 'log')!;
    assert.deepEqual([table.entries, table.rangeTombstones], [3, 2]);
    assert.deepEqual([log.entries, log.rangeTombstones], [2, 1]);
  });

  it('a flipped bit anywhere in a range-del block (contents or trailer) is damage at its offset', async () => {
    const fragments = fragmentTombstones([
      { start: value('b'), end: value('f'), seq: 9 },
      { start: value('d'), end: value('k'), seq: 11 },
    ]);
    const built = await buildTable([['a', 1, EntryType.PUT, value('x')], ['m', 2, EntryType.PUT, value('y')]], rangeDelBlockSpec(fragments));
    assert.deepEqual((await check(built.bytes)).damage, []);
    const reader = TableReader.open(new MemoryRandomAccessFile(built.bytes), TABLE, 42);
    const { offset, size } = reader.properties.rangeDelBlock!;
    for (let at = offset; at < offset + size + 5; at++) {
      const damaged = Buffer.from(built.bytes);
      damaged[at]! ^= 1 << (at % 8);
      const found = await check(damaged);
      assert.deepEqual(found.damage.map((damage) => damage.offset), [offset], `byte ${at}`);
      assert.equal(found.metadataIntact, false);
    }
  });

  const invalidBlocks: [string, [string, number, number, string][], number | undefined, RegExp][] = [
    ['fragments that overlap', [['b', 5, 2, 'f'], ['d', 7, 2, 'k']], undefined, /overlaps the fragment before/],
    ['sequences of a fragment out of order', [['b', 5, 2, 'f'], ['b', 7, 2, 'f']], undefined, /out of order/],
    ['one start with two ends', [['b', 7, 2, 'f'], ['b', 5, 2, 'g']], undefined, /ends its fragment elsewhere/],
    ['an entry of type PUT', [['b', 7, 1, 'f']], undefined, /has type 1/],
    ['an empty range', [['f', 7, 2, 'b']], undefined, /empty range/],
    ['a count the properties contradict', [['b', 7, 2, 'f']], 2, /1 entries, the properties say 2/],
  ];
  for (const [name, entries, count, reason] of invalidBlocks) {
    it(`a range-del block with a valid checksum and ${name} is damage at its offset`, async () => {
      const built = await buildTable([['a', 1, EntryType.PUT, value('x')]], rawRangeDel(entries, count));
      const found = await check(built.bytes);
      assert.deepEqual(found.damage.map((damage) => damage.offset), [built.rangeDelOffset]);
      assert.match(found.damage[0]!.reason, reason);
    });
  }

  it("a range-del block the table's key range does not cover is damage: reads and compactions would pass it over", async () => {
    const spec = rangeDelBlockSpec(fragmentTombstones([{ start: value('b'), end: value('q'), seq: 9 }]))!;
    // The bounds of a narrower tombstone: the table claims to end at "m".
    const narrow = { ...spec, largestKey: encodeInternalKey(value('m'), Number.MAX_SAFE_INTEGER, EntryType.RANGE_DELETE) };
    const built = await buildTable([['a', 1, EntryType.PUT, value('x')]], narrow);
    const found = await check(built.bytes);
    assert.deepEqual(found.damage.map((damage) => [damage.offset, damage.reason]), [[built.rangeDelOffset, "the properties' key range does not cover the range tombstones"]]);
    assert.deepEqual((await check((await buildTable([['a', 1, EntryType.PUT, value('x')]], spec)).bytes)).damage, []);
  });

  it('PUT_EXPIRING entries are accepted; one whose value is shorter than its expiry time, or whose expiry is beyond 2^53 - 1, is damage at its block', async () => {
    const entries: [string, number, EntryType, Buffer][] = [
      ['a', 1, EntryType.PUT, value('plain')],
      ['b', 2, EntryType.PUT_EXPIRING, encodeExpiringValue(NOW, value('expiring'))],
      ['c', 3, EntryType.PUT, value('abc')],
      ['d', 4, EntryType.PUT, value('\xff\xff\xff\xff\xff\xff\xff\xffbody')],
    ];
    const built = await buildTable(entries);
    const intact = await check(built.bytes);
    assert.deepEqual(intact.damage, []);
    assert.equal(intact.entryCount, 4);
    assert.equal(intact.properties?.expiringEntryCount, 1);
    // "c" as PUT_EXPIRING: 3 bytes, no expiry time.
    const short = await check(retypeEntry(built.bytes, 'c', 3, EntryType.PUT, EntryType.PUT_EXPIRING));
    assert.deepEqual(short.damage.map((damage) => [damage.offset, damage.reason]), [[0, 'an expiring entry without its expiry time']]);
    // "d" as PUT_EXPIRING: an expiry time of 2^64 - 1.
    const beyond = await check(retypeEntry(Buffer.from(built.bytes), 'd', 4, EntryType.PUT, EntryType.PUT_EXPIRING));
    assert.deepEqual(beyond.damage.map((damage) => [damage.offset, damage.reason]), [[0, 'an expiry time beyond 2^53 - 1']]);
  });

  it('a RANGE_DELETE entry inside a data block is damage at its block, even with a valid checksum', async () => {
    const built = await buildTable([['a', 1, EntryType.PUT, value('x')], ['b', 2, EntryType.DELETE, value('')], ['c', 3, EntryType.PUT, value('z')]]);
    const found = await check(retypeEntry(built.bytes, 'b', 2, EntryType.DELETE, EntryType.RANGE_DELETE));
    assert.deepEqual(found.damage.map((damage) => [damage.offset, damage.reason]), [[0, 'a range tombstone in a data block']]);
    assert.equal(found.damagedBlockCount, 1);
  });

  it('in a database, repair drops a data block holding a RANGE_DELETE entry rather than copy it into a table', async () => {
    const fs = new CrashableFS();
    const options = { fs, blockSizeBytes: 128, compression: 'none' as const, autoCompaction: false };
    const db = await DB.open(DIR, options);
    for (let i = 0; i < 40; i++) await db.put(`k${String(i).padStart(2, '0')}`, `value ${i}`);
    await db.flush();
    await db.close();
    const table = fs.listAll().find((file) => file.endsWith('.sst'))!;
    const bytes = fs.readFileSync(table);
    // The key as a data block stores it after "k0…": "10" and the trailer.
    const needle = encodeInternalKey(value('k10'), 11, EntryType.PUT).subarray(1);
    const at = bytes.indexOf(needle);
    assert.ok(at >= 0);
    // Retype the entry and make its block's checksum right again.
    const reader = TableReader.open(new MemoryRandomAccessFile(bytes), table, 1);
    const block = dataBlockHandles(reader).find((handle) => handle.offset <= at && at < handle.offset + handle.size)!;
    const damaged = Buffer.from(bytes);
    damaged[at + needle.length - INTERNAL_KEY_TRAILER_BYTES] = EntryType.RANGE_DELETE;
    damaged.writeUInt32LE(blockChecksum(damaged, block.offset + block.size, block.offset), block.offset + block.size + 1);
    fs.writeFileSync(table, damaged, { synced: true });
    const verified = await DB.verify(DIR, { fs });
    assert.deepEqual(verified.damage.map((damage) => [path.basename(damage.file), damage.offset]), [[path.basename(table), block.offset]]);
    const report = await DB.repair(DIR, { fs });
    assert.equal(report.tablesRewritten.length, 1);
    assert.equal((await DB.verify(DIR, { fs })).ok, true);
    const reopened = await DB.open(DIR, options);
    assert.equal(await reopened.get('k10'), undefined);
    assert.equal((await reopened.get('k00'))?.toString(), 'value 0');
    await reopened.close();
  });
});
