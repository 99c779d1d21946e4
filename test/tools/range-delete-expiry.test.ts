/**
 * The tools on a database holding range tombstones and expiring entries (table
 * format version 3, log format version 2): verify passes it, the dumps show both,
 * and repair keeps every range tombstone it can read, so that nothing they
 * deleted comes back: carried into a rewritten table, or applied when every
 * table is merged.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { DB } from '../../src/index.js';
import { CrashableFS, Rng } from '../../src/testing/index.js';
import { TableReader } from '../../src/sstable/table-reader.js';
import { dumpTable, formatTableDump } from '../../src/tools/dump-table.js';
import { dumpWal, formatLogDump } from '../../src/tools/dump-log.js';
import { dataBlockHandles } from '../sstable/table-fixture.js';
import { DIR, OPTIONS, key, openAndReadEvery, value } from './tool-fixture.js';

/** A far future expiry: the entries expire, but not during the test. */
const EXPIRES_AT = 4_000_000_000_000;
const deletedByTable = (i: number): boolean => i >= 50 && i < 70;
const deletedByLog = (i: number): boolean => i >= 150 && i < 160;

/**
 * key000..key199 in table A; table B holds the range tombstone [key050, key070)
 * and key100 rewritten as expiring; the WAL holds [key150, key160) and key201
 * expiring. Returns the file system and the two tables, oldest first.
 */
async function database(): Promise<{ fs: CrashableFS; tables: string[]; log: string }> {
  const fs = new CrashableFS();
  const db = await DB.open(DIR, { fs, ...OPTIONS });
  await db.write(Array.from({ length: 200 }, (_, i) => ({ type: 'put' as const, key: key(i), value: value(i) })));
  await db.flush();
  await db.deleteRange(key(50), key(70));
  await db.put(key(100), 'expiring', { expiresAt: EXPIRES_AT });
  await db.flush();
  await db.deleteRange(key(150), key(160));
  await db.put(key(201), 'expiring too', { expiresAt: EXPIRES_AT });
  await db.close();
  const tables = fs.listAll().filter((file) => file.endsWith('.sst')).sort();
  const logs = fs.listAll().filter((file) => file.endsWith('.log'));
  assert.equal(tables.length, 2);
  return { fs, tables, log: logs[0]! };
}

function expected(i: number): string | undefined {
  if (i === 100) return 'expiring';
  if (i === 201) return 'expiring too';
  if (i >= 200 || deletedByTable(i) || deletedByLog(i)) return undefined;
  return value(i);
}

const everyExpected = Array.from({ length: 210 }, (_, i) => expected(i));

describe('verify and the dumps with range tombstones and expiring entries', () => {
  it('verify passes the database; the table dump shows the range-del block and the expiring entry; the WAL dump both ops', async () => {
    const { fs, tables, log } = await database();
    assert.deepEqual(await openAndReadEvery(fs.crashClone('drop-unsynced', new Rng(0))), everyExpected);
    const report = await DB.verify(DIR, { fs });
    assert.equal(report.ok, true, JSON.stringify(report.damage));
    const text = formatTableDump(await dumpTable(fs, tables[1]!, 'readable')).join('\n');
    assert.match(text, /^range-del block @\d+: size \d+, none, 1 entries$/m);
    assert.match(text, /^ {2}"key050"#201,RANGE_DELETE \.\. "key070" \(end exclusive\)$/m);
    assert.match(text, new RegExp(`^ {2}"key100"#202,PUT_EXPIRING = "expiring" \\(expires at ${EXPIRES_AT}\\)$`, 'm'));
    assert.match(text, /^properties: formatVersion 3, .*rangeDeletionCount 1/m);
    const wal = formatLogDump(await dumpWal(fs, log, 'readable')).join('\n');
    assert.match(wal, /^@\d+ header: magic SHLW, format version 2/m);
    assert.match(wal, /^ {2}#203 RANGE_DELETE "key150" \.\. "key160" \(end exclusive\)$/m);
    assert.match(wal, new RegExp(`^ {2}#204 PUT_EXPIRING "key201" = "expiring too" \\(expires at ${EXPIRES_AT}\\)$`, 'm'));
  });
});

describe('repair with range tombstones', () => {
  it('an intact database repairs to the same reads', async () => {
    const { fs } = await database();
    await DB.repair(DIR, { fs });
    assert.deepEqual(await openAndReadEvery(fs), everyExpected);
  });

  it("a damaged data block in the table holding a range tombstone: the rewritten table keeps the tombstone, so the range stays deleted", async () => {
    const { fs, tables } = await database();
    const table = tables[1]!;
    const handle = await fs.openRead(table);
    const blocks = dataBlockHandles(TableReader.open(handle, table, Number(path.basename(table, '.sst'))));
    await handle.close();
    fs.flipBit(table, blocks[0]!.offset + 2, 0);
    const report = await DB.repair(DIR, { fs });
    assert.equal(report.tablesRewritten.length, 1);
    const after = await openAndReadEvery(fs);
    // key100's newer (expiring) version was in the damaged block: the older one is what is left.
    after.forEach((got, i) => assert.equal(got, i === 100 ? value(100) : expected(i), key(i)));
  });

  it('without CURRENT every table and log is merged and each range tombstone deletes what it covers', async () => {
    const { fs } = await database();
    await fs.remove(path.join(DIR, 'CURRENT'));
    const report = await DB.repair(DIR, { fs });
    assert.equal(report.manifestUsed, false);
    assert.deepEqual(await openAndReadEvery(fs), everyExpected);
    assert.equal((await DB.verify(DIR, { fs })).ok, true);
  });
});
