/**
 * `DB.repair` of a database holding range deletes and expiring entries: the
 * tombstones of the tables' range-del blocks and of the logs' RANGE_DELETE ops
 * survive every repair path (kept table, rewritten damaged table, table found by
 * the block scan, merge without a MANIFEST), so that no key they deleted comes
 * back; and a PUT_EXPIRING keeps its expiry time, so an entry expired before the
 * repair stays absent and one expiring later still expires when its time comes.
 * A seeded damage matrix over such a table checks verify and repair together
 * (prints its seed, replays with SEED=).
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { DB, ShaleError, type Options } from '../../src/index.js';
import { CrashableFS, Rng } from '../../src/testing/index.js';
import { seededRandom, testSeed } from '../helpers.js';
import { TableReader } from '../../src/sstable/table-reader.js';
import { decodeFooter } from '../../src/sstable/footer.js';
import { FOOTER_BYTES } from '../../src/sstable/format.js';
import { dataBlockHandles } from '../sstable/table-fixture.js';
import { internalKeyComparator } from '../../src/sstable/comparator.js';
import { EntryType, compareInternalKeys, encodeInternalKey } from '../../src/keys.js';
import { FragmentedTombstones, fragmentTombstones, tombstonesOf, type RangeTombstone } from '../../src/rangedel/fragments.js';
import { exclusiveEndKey } from '../../src/rangedel/table-tombstones.js';
import { ArrayEntries, writeSalvagedTables } from '../../src/tools/salvage-writer.js';

const DIR = '/db';
const KEYS = 200;
const NOW = 1_000_000;
/** When the far expiries come: after it, the keys written with them read as absent. */
const LATER = NOW + 60_000;
const key = (i: number): string => `key${String(i).padStart(3, '0')}`;

/** A clock the test moves. */
const clock = { now: NOW };
const OPTIONS: Options = { blockSizeBytes: 256, compression: 'none', autoCompaction: false, clock: () => clock.now };

interface RangeFixture {
  fs: CrashableFS;
  /** The table holding the range delete of [key050, key080), the newest one. */
  table: string;
  /** The WAL, holding the writes after the last flush (not opened since: open would flush them). */
  log: string;
}

async function readAll(fs: CrashableFS, at: number, options: Options = {}): Promise<(string | undefined)[]> {
  clock.now = at;
  const db = await DB.open(DIR, { fs, ...OPTIONS, ...options });
  try {
    db.checkInvariants();
    const values: (string | undefined)[] = [];
    for (let i = 0; i < KEYS; i++) values.push((await db.get(key(i)))?.toString());
    return values;
  } finally {
    await db.close();
  }
}

/**
 * key000..key199 in a deeper table; then, in the newest table (L0), a range delete
 * of [key050, key080), new values for key150..key199, key100..key109 expiring at
 * LATER and key110..key119 expired already; then, in the WAL only, a range delete
 * of [key020, key030), a delete of key005, key120..key124 expiring at LATER and
 * key125..key129 expired already.
 */
async function rangeFixture(): Promise<RangeFixture> {
  clock.now = NOW;
  const fs = new CrashableFS();
  const db = await DB.open(DIR, { fs, ...OPTIONS });
  await db.write(Array.from({ length: KEYS }, (_, i) => ({ type: 'put' as const, key: key(i), value: `old ${i}` })));
  await db.flush();
  await db.compactRange();
  await db.deleteRange(key(50), key(80));
  for (let i = 150; i < KEYS; i++) await db.put(key(i), `new ${i}`);
  for (let i = 100; i < 110; i++) await db.put(key(i), `expiring ${i}`, { expiresAt: LATER });
  for (let i = 110; i < 120; i++) await db.put(key(i), `expired ${i}`, { expiresAt: NOW - 1 });
  await db.flush();
  await db.deleteRange(key(20), key(30));
  await db.delete(key(5));
  for (let i = 120; i < 125; i++) await db.put(key(i), `expiring ${i}`, { expiresAt: LATER });
  for (let i = 125; i < 130; i++) await db.put(key(i), `expired ${i}`, { expiresAt: NOW - 1 });
  await db.close();
  const tables = fs.listAll().filter((file) => file.endsWith('.sst')).sort();
  const logs = fs.listAll().filter((file) => file.endsWith('.log'));
  assert.equal(logs.length, 1);
  return { fs, table: tables.at(-1)!, log: logs[0]! };
}

/** What the fixture reads, by construction (so that the fixture itself is checked too). */
function expected(at: number): (string | undefined)[] {
  return Array.from({ length: KEYS }, (_, i) => {
    if ((i >= 50 && i < 80) || (i >= 20 && i < 30) || i === 5 || (i >= 110 && i < 120) || (i >= 125 && i < 130)) return undefined;
    if ((i >= 100 && i < 110) || (i >= 120 && i < 125)) return at < LATER ? `expiring ${i}` : undefined;
    return i >= 150 ? `new ${i}` : `old ${i}`;
  });
}

async function tableLayout(fs: CrashableFS, table: string): Promise<{ rangeDelOffset: number; propertiesOffset: number; blocks: { offset: number; keys: number[] }[] }> {
  const handle = await fs.openRead(table);
  try {
    const reader = TableReader.open(handle, table, Number(path.basename(table, '.sst')));
    const footer = decodeFooter(handle.read(handle.size - FOOTER_BYTES, FOOTER_BYTES), handle.size, table);
    const blocks = dataBlockHandles(reader).map((block) => {
      const keys: number[] = [];
      const iterator = reader.dataBlock(block).iterator(internalKeyComparator);
      for (iterator.seekToFirst(); iterator.valid(); iterator.next()) keys.push(Number(iterator.key().subarray(3, -8).toString()));
      return { offset: block.offset, keys };
    });
    return { rangeDelOffset: reader.properties.rangeDelBlock!.offset, propertiesOffset: footer.propertiesHandle.offset, blocks };
  } finally {
    await handle.close();
  }
}

describe('DB.repair with range deletes and expiring entries', () => {
  it('the fixture reads as built: range deletes in a table and in the WAL, expired and expiring puts', async () => {
    const { fs } = await rangeFixture();
    assert.deepEqual(await readAll(fs, NOW), expected(NOW));
    assert.deepEqual(await readAll(fs, LATER), expected(LATER));
  });

  it('no damage: the log table keeps the WAL range delete and the expiry times; the database reads as before', async () => {
    const { fs, table, log } = await rangeFixture();
    const report = await DB.repair(DIR, { fs });
    assert.equal(report.manifestUsed, true);
    assert.ok(report.tablesKept.includes(path.basename(table)));
    assert.deepEqual(report.logsReplayed, [{ name: path.basename(log), records: 12, operations: 12 }]);
    assert.deepEqual(report.damage, []);
    assert.deepEqual(await readAll(fs, NOW), expected(NOW));
    assert.deepEqual(await readAll(fs, LATER), expected(LATER));
    assert.equal((await DB.verify(DIR, { fs })).ok, true);
  });

  it('a damaged data block of the table holding a range delete: the rewritten table keeps the tombstone, no deleted key comes back', async () => {
    const { fs, table } = await rangeFixture();
    const { blocks } = await tableLayout(fs, table);
    // A block of the new values (key150..key199): their keys may fall back to the old values, nothing else changes.
    const damaged = blocks.find((block) => block.keys.some((i) => i >= 150))!;
    fs.flipBit(table, damaged.offset + 5, 2);
    const report = await DB.repair(DIR, { fs });
    assert.deepEqual(report.damage.map((damage) => [damage.file, damage.offset]), [[table, damaged.offset]]);
    assert.equal(report.tablesRewritten.length, 1);
    for (const at of [NOW, LATER]) {
      const got = await readAll(fs, at);
      const want = expected(at);
      got.forEach((value, i) => {
        if (damaged.keys.includes(i)) assert.equal(value, `old ${i}`, `${key(i)} lost its newer version with the block`);
        else assert.equal(value, want[i], `${key(i)} at ${at}`);
      });
    }
    assert.equal((await DB.verify(DIR, { fs })).ok, true);
  });

  for (const where of ['properties', 'footer'] as const) {
    it(`a damaged ${where} block: the block scan finds the data blocks and the range-del block, and nothing is lost`, async () => {
      const { fs, table } = await rangeFixture();
      const { propertiesOffset } = await tableLayout(fs, table);
      const size = fs.fileInfo(table)!.size;
      fs.flipBit(table, where === 'properties' ? propertiesOffset + 3 : size - FOOTER_BYTES + 2, 1);
      const report = await DB.repair(DIR, { fs });
      assert.equal(report.damage.length, 1);
      assert.deepEqual(report.movedToLost, [path.basename(table)]);
      assert.deepEqual(await readAll(fs, NOW), expected(NOW));
      assert.deepEqual(await readAll(fs, LATER), expected(LATER));
    });
  }

  it('a damaged range-del block is damage at its offset; repair keeps the table entries and reports the loss', async () => {
    const { fs, table } = await rangeFixture();
    const { rangeDelOffset } = await tableLayout(fs, table);
    fs.flipBit(table, rangeDelOffset + 2, 0);
    const verified = await DB.verify(DIR, { fs });
    assert.deepEqual(verified.damage.map((damage) => [damage.file, damage.offset]), [[table, rangeDelOffset]]);
    const report = await DB.repair(DIR, { fs });
    assert.deepEqual(report.damage.map((damage) => [damage.file, damage.offset]), [[table, rangeDelOffset]]);
    assert.equal(report.tablesRewritten[0]?.entries, 70, 'the 50 new values and the 20 expiring puts of the table are kept');
    const got = await readAll(fs, NOW);
    const want = expected(NOW);
    // The keys of [key050, key080) are what the lost tombstone deleted; every other key reads as before.
    got.forEach((value, i) => assert.equal(value, i >= 50 && i < 80 ? `old ${i}` : want[i], key(i)));
  });

  it('without CURRENT: every table and log merged into L1, tombstones and expiry times included, every key as before', async () => {
    const { fs } = await rangeFixture();
    await fs.remove(path.join(DIR, 'CURRENT'));
    const report = await DB.repair(DIR, { fs });
    assert.equal(report.manifestUsed, false);
    assert.deepEqual(await readAll(fs, NOW), expected(NOW));
    assert.deepEqual(await readAll(fs, LATER), expected(LATER));
    assert.equal((await DB.verify(DIR, { fs })).ok, true);
  });

  it('without CURRENT, a table holding nothing but a range delete still deletes what it covers', async () => {
    clock.now = NOW;
    const fs = new CrashableFS();
    const db = await DB.open(DIR, { fs, ...OPTIONS });
    await db.write(Array.from({ length: KEYS }, (_, i) => ({ type: 'put' as const, key: key(i), value: `old ${i}` })));
    await db.flush();
    await db.deleteRange(key(10), key(190));
    await db.flush();
    await db.close();
    await fs.remove(path.join(DIR, 'CURRENT'));
    await DB.repair(DIR, { fs });
    const got = await readAll(fs, NOW);
    got.forEach((value, i) => assert.equal(value, i >= 10 && i < 190 ? undefined : `old ${i}`, key(i)));
  });
});

it('salvaged entries cut into small tables: the tombstones are cut at the same user keys, every table bounds its own, and none overlaps the next', async () => {
  const fs = new CrashableFS();
  await fs.mkdir(DIR);
  const entries = Array.from({ length: 300 }, (_, i) => [encodeInternalKey(Buffer.from(key(i)), 1000 + i, EntryType.PUT), Buffer.from(`value ${i}`.repeat(4))] as const);
  // Tombstones across the whole range, past both ends of the entries, overlapping each other.
  const tombstones = fragmentTombstones([
    { start: Buffer.from('a'), end: Buffer.from(key(40)), seq: 2000 },
    { start: Buffer.from(key(30)), end: Buffer.from(key(250)), seq: 500 },
    { start: Buffer.from(key(245)), end: Buffer.from('zzz'), seq: 2100 },
  ]);
  let next = 10;
  const written = await writeSalvagedTables(
    [new ArrayEntries(entries)],
    { fs, dir: DIR, level: 1, tableOptions: { blockSizeBytes: 256, compression: 'none' }, targetFileSizeBytes: 1024, newFileNumber: () => next++ },
    tombstones,
  );
  assert.ok(written.length >= 5, `${written.length} tables`);
  const pieces: RangeTombstone[] = [];
  for (const [index, meta] of written.entries()) {
    const file = path.join(DIR, `0000${meta.fileNumber}.sst`);
    const handle = await fs.openRead(file);
    try {
      const reader = TableReader.open(handle, file, meta.fileNumber);
      const fragments = reader.rangeTombstones().fragments;
      assert.ok(fragments.length > 0, `table ${index} has tombstones: they cover every key`);
      // The table's bounds cover its tombstones; its successor begins after them.
      assert.ok(compareInternalKeys(meta.smallest, encodeInternalKey(fragments[0]!.start, fragments[0]!.seqs[0]!, EntryType.RANGE_DELETE)) <= 0);
      assert.ok(compareInternalKeys(meta.largest, exclusiveEndKey(fragments.at(-1)!.end)) >= 0);
      const following = written[index + 1];
      if (following !== undefined) assert.ok(compareInternalKeys(meta.largest, following.smallest) < 0, `table ${index} overlaps the next`);
      pieces.push(...tombstonesOf(fragments));
    } finally {
      await handle.close();
    }
  }
  // Together the tables hold exactly the tombstones: every key is covered by the same sequences.
  const together = FragmentedTombstones.of(pieces);
  const original = new FragmentedTombstones(tombstones);
  const seqsAt = (list: FragmentedTombstones, probe: Buffer): readonly number[] => {
    const index = list.indexOf(probe);
    return index < 0 ? [] : list.fragments[index]!.seqs;
  };
  for (const probe of ['0', 'a', 'b', ...Array.from({ length: 310 }, (_, i) => key(i)), 'zz', 'zzz', 'zzzz']) {
    assert.deepEqual(seqsAt(together, Buffer.from(probe)), seqsAt(original, Buffer.from(probe)), probe);
  }
});

it('damage anywhere in a table with a range-del block and expiring entries: verify reports what the engine meets, and repair leaves a database that verifies and reads no value that was never there', async () => {
  const seed = testSeed('range-del table damage matrix');
  const random = seededRandom(seed);
  const base = await rangeFixture();
  const size = base.fs.fileInfo(base.table)!.size;
  const { rangeDelOffset } = await tableLayout(base.fs, base.table);
  // Random places, and always some inside the range-del block and its trailer.
  const offsets = new Set([...Array.from({ length: 10 }, () => Math.floor(random() * size)), rangeDelOffset, rangeDelOffset + 3, rangeDelOffset + 12]);
  let detected = 0;
  for (const offset of offsets) {
    for (const kind of ['flip', 'truncate'] as const) {
      const context = `SEED=${seed}: ${kind} at ${offset} of ${size}`;
      const fs = base.fs.crashClone('drop-unsynced', new Rng(0));
      if (kind === 'flip') fs.flipBit(base.table, offset, offset % 8);
      else fs.writeFileSync(base.table, fs.readFileSync(base.table).subarray(0, offset), { synced: true });
      let failed = false;
      try {
        const values = await readAll(fs.crashClone('drop-unsynced', new Rng(0)), NOW);
        assert.ok(values.every((got, i) => got === expected(NOW)[i] || got === `old ${i}`), `${context}: the damaged database read a value never written`);
      } catch (err) {
        assert.ok(err instanceof ShaleError && err.code === 'CORRUPTION', `${context}: ${String(err)}`);
        failed = true;
      }
      const verified = await DB.verify(DIR, { fs });
      if (failed) {
        detected++;
        assert.equal(verified.ok, false, `${context}: verify passed a database the engine fails on`);
      }
      await DB.repair(DIR, { fs });
      assert.equal((await DB.verify(DIR, { fs })).ok, true, `${context}: the repaired database verifies`);
      for (const at of [NOW, LATER]) {
        const want = expected(at);
        // A key reads its value, nothing (its entry lost), or the base value under what was lost; never anything else.
        (await readAll(fs, at)).forEach((got, i) => assert.ok(got === want[i] || got === undefined || got === `old ${i}`, `${context}: ${key(i)} read ${got} at ${at}`));
      }
    }
  }
  console.log(`# range-del table damage matrix: ${detected} damages the engine met, all reported`);
  assert.ok(detected > 3);
});
