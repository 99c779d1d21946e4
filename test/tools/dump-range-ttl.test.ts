/**
 * The dumps on files of a database with range deletes and expiring entries:
 * dump-wal shows RANGE_DELETE ops with their end and PUT_EXPIRING ops with their
 * expiry time; dump-sst shows the version-3 properties, the range-del block and
 * its tombstones, and expiring entries, also when the table's metadata is
 * damaged (the block scan finds the range-del block) or the range-del block is;
 * dump-manifest shows a table's earliest expiry.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DB } from '../../src/index.js';
import { CrashableFS } from '../../src/testing/index.js';
import { dumpManifest, dumpWal, formatLogDump } from '../../src/tools/dump-log.js';
import { dumpTable, formatTableDump } from '../../src/tools/dump-table.js';

const DIR = '/db';
/** 2026-12-07T16:00:00Z. */
const NOW = 1_796_659_200_000;

/** A closed database: a table with a put, an expiring put and a range delete; a WAL with a range delete and an expiring put. */
async function database(): Promise<{ fs: CrashableFS; table: string; log: string; manifest: string }> {
  const fs = new CrashableFS();
  const db = await DB.open(DIR, { fs, clock: () => NOW, autoCompaction: false, compression: 'none' });
  await db.put('a', '1');
  await db.put('b', '2', { expiresAt: NOW + 1000 });
  await db.deleteRange('b', 'd');
  await db.deleteRange('c', 'f');
  await db.flush();
  await db.deleteRange('x', 'z');
  await db.put('e', '5', { ttl: 10 });
  await db.close();
  const find = (test: (file: string) => boolean): string => fs.listAll().find(test)!;
  return { fs, table: find((file) => file.endsWith('.sst')), log: find((file) => file.endsWith('.log')), manifest: find((file) => file.includes('MANIFEST-')) };
}

describe('dumps of range deletes and expiring entries', () => {
  it('dump-wal: a RANGE_DELETE op with its start and end, a PUT_EXPIRING op with its value and expiry time', async () => {
    const { fs, log } = await database();
    const dump = await dumpWal(fs, log, 'utf8');
    assert.equal(dump.records[0]!['formatVersion'], 2);
    assert.deepEqual(
      dump.records.slice(1).flatMap((record) => record['ops'] as unknown[]),
      [
        { seq: 5, type: 'RANGE_DELETE', key: 'x', end: 'z' },
        { seq: 6, type: 'PUT_EXPIRING', key: 'e', value: '5', expiresAtMs: NOW + 10 },
      ],
    );
    const text = formatLogDump(await dumpWal(fs, log, 'readable')).join('\n');
    assert.match(text, /^ {2}#5 RANGE_DELETE "x" \.\. "z" \(end exclusive\)$/m);
    assert.match(text, /^ {2}#6 PUT_EXPIRING "e" = "5" \(expires at 1796659200010\)$/m);
  });

  it('dump-sst: the version-3 properties, expiring entries with their expiry, the range-del block with every tombstone', async () => {
    const { fs, table } = await database();
    const dump = await dumpTable(fs, table, 'utf8');
    assert.deepEqual(dump.damage, []);
    const properties = dump.properties!;
    assert.equal(properties['formatVersion'], 3);
    // Four stored tombstones: one per piece and sequence (below).
    assert.deepEqual([properties['rangeDeletionCount'], properties['expiringEntryCount'], properties['expiryMinMs']], [4, 1, NOW + 1000]);
    assert.deepEqual(properties['largestKey'], { key: 'f', seq: 'max', type: 'RANGE_DELETE' });
    const rangeDel = dump.blocks.find((block) => block.kind === 'range-del')!;
    assert.deepEqual(properties['rangeDelBlock'], { offset: rangeDel.offset, size: rangeDel.size });
    // Fragmented: ["b","c") {3}, ["c","d") {4, 3}, ["d","f") {4}.
    assert.deepEqual(rangeDel.entries, [
      { key: 'b', seq: 3, type: 'RANGE_DELETE', end: 'c' },
      { key: 'c', seq: 4, type: 'RANGE_DELETE', end: 'd' },
      { key: 'c', seq: 3, type: 'RANGE_DELETE', end: 'd' },
      { key: 'd', seq: 4, type: 'RANGE_DELETE', end: 'f' },
    ]);
    assert.deepEqual(dump.blocks.find((block) => block.kind === 'data')!.entries, [
      { key: 'a', seq: 1, type: 'PUT', value: '1' },
      { key: 'b', seq: 2, type: 'PUT_EXPIRING', value: '2', expiresAtMs: NOW + 1000 },
    ]);
    assert.deepEqual(
      dump.blocks.map((block) => block.kind),
      ['data', 'range-del', 'filter', 'properties', 'index'],
    );
    const text = formatTableDump(await dumpTable(fs, table, 'readable')).join('\n');
    assert.match(text, new RegExp(`rangeDelBlock offset ${rangeDel.offset}, size ${rangeDel.size}, rangeDeletionCount 4, expiringEntryCount 1, expiryMinMs 1796659201000 \\(2026-12-07T16:00:01\\.000Z\\)`));
    assert.match(text, new RegExp(`^range-del block @${rangeDel.offset}: size ${rangeDel.size}, none, 4 entries$`, 'm'));
    assert.match(text, /^ {2}"c"#4,RANGE_DELETE \.\. "d" \(end exclusive\)$/m);
    assert.match(text, /^ {2}"b"#2,PUT_EXPIRING = "2" \(expires at 1796659201000\)$/m);
  });

  it('dump-sst with a damaged properties block: the data blocks and the range-del block found by their checksums', async () => {
    const { fs, table } = await database();
    const intact = await dumpTable(fs, table, 'utf8');
    const properties = intact.blocks.find((block) => block.kind === 'properties')!;
    const rangeDel = intact.blocks.find((block) => block.kind === 'range-del')!;
    fs.flipBit(table, properties.offset + 10, 3);
    const dump = await dumpTable(fs, table, 'utf8');
    assert.deepEqual(dump.damage.map((damage) => damage.offset), [properties.offset]);
    const found = dump.blocks.find((block) => block.kind === 'range-del (found by checksum)')!;
    assert.deepEqual([found.offset, found.size, found.entries], [rangeDel.offset, rangeDel.size, rangeDel.entries]);
    assert.equal(dump.blocks.find((block) => block.kind === 'data (found by checksum)')?.entries?.length, 2);
    assert.equal(dump.blocks.some((block) => block.kind === 'scan stopped'), false, 'the scan ended at the range-del block');
  });

  it('dump-sst with a damaged range-del block: shown damaged at its offset, the data blocks still dumped', async () => {
    const { fs, table } = await database();
    const rangeDel = (await dumpTable(fs, table, 'utf8')).blocks.find((block) => block.kind === 'range-del')!;
    fs.flipBit(table, rangeDel.offset + 4, 0);
    const dump = await dumpTable(fs, table, 'readable');
    assert.deepEqual(dump.damage.map((damage) => damage.offset), [rangeDel.offset]);
    const shown = dump.blocks.find((block) => block.kind === 'range-del')!;
    assert.equal(shown.offset, rangeDel.offset);
    assert.match(shown.damage!, /^block checksum mismatch/);
    assert.equal(dump.blocks.find((block) => block.kind === 'data (found by checksum)')?.entries?.length, 2);
    assert.match(formatTableDump(dump).join('\n'), new RegExp(`^range-del block @${rangeDel.offset}: size ${rangeDel.size}, DAMAGED: block checksum mismatch`, 'm'));
  });

  it("dump-manifest: a table's earliest expiry and its bounds widened to its tombstones", async () => {
    const { fs, manifest } = await database();
    const text = formatLogDump(await dumpManifest(fs, manifest, 'readable')).join('\n');
    assert.match(text, /^ {2}add L0 table \d+: \d+ bytes, seq 1\.\.4, "a"#1,PUT \.\. "f"#max,RANGE_DELETE, earliest expiry 1796659201000$/m);
  });
});
