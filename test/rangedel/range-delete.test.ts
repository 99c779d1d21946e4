/**
 * `db.deleteRange` and `{ type: 'deleteRange' }` batch ops end to end: arguments,
 * visibility at snapshots, reads from the memtable and from tables at every
 * level, both iteration directions and seeks, recovery from the WAL, and what
 * compaction keeps (docs/internals.md, "Range deletes").
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DB, ShaleError, type Options } from '../../src/index.js';
import { CrashableFS, Rng } from '../../src/testing/index.js';

const DIR = '/db';
const key = (i: number): string => `k${String(i).padStart(4, '0')}`;

function isCode(code: string) {
  return (err: unknown): boolean => err instanceof ShaleError && err.code === code;
}

async function openFilled(options: Options = {}, count = 100): Promise<{ db: DB; fs: CrashableFS }> {
  const fs = new CrashableFS();
  const db = await DB.open(DIR, { fs, memtableSizeBytes: 4096, ...options });
  await db.write(Array.from({ length: count }, (_, i) => ({ type: 'put' as const, key: key(i), value: `v${i}` })));
  return { db, fs };
}

async function keys(db: DB, options: Parameters<DB['keys']>[0] = {}): Promise<string[]> {
  return (await db.keys(options).all()).map((k) => k.toString());
}

const expectedKeys = (count: number, deleted: (i: number) => boolean): string[] =>
  Array.from({ length: count }, (_, i) => i).filter((i) => !deleted(i)).map(key);

describe('deleteRange', () => {
  it('rejects start > end with INVALID_ARGUMENT and writes nothing; start == end deletes nothing', async () => {
    const { db } = await openFilled();
    const before = db.latestSequence;
    await assert.rejects(db.deleteRange('b', 'a'), isCode('INVALID_ARGUMENT'));
    await assert.rejects(db.write([{ type: 'put', key: 'x', value: 'y' }, { type: 'deleteRange', start: 'z', end: 'a' }]), isCode('INVALID_ARGUMENT'));
    assert.equal(db.latestSequence, before, 'a rejected batch writes nothing');
    await db.deleteRange(key(5), key(5));
    assert.equal(db.latestSequence, before + 1n, 'an empty range is still a write');
    assert.equal((await db.get(key(5)))?.toString(), 'v5');
    await db.close();
  });

  it('deletes [start, end) in the memtable: get, getSync and both iteration directions', async () => {
    const { db } = await openFilled({ memtableSizeBytes: 1 << 20 });
    await db.deleteRange(key(10), key(20));
    assert.equal(await db.get(key(10)), undefined);
    assert.equal(db.getSync(key(19)), undefined);
    assert.equal((await db.get(key(20)))?.toString(), 'v20', 'the end is exclusive');
    assert.equal((await db.get(key(9)))?.toString(), 'v9');
    const expected = expectedKeys(100, (i) => i >= 10 && i < 20);
    assert.deepEqual(await keys(db), expected);
    assert.deepEqual(await keys(db, { reverse: true }), [...expected].reverse());
    await db.close();
  });

  it('a snapshot taken before the range delete still sees the keys; puts after it are visible', async () => {
    const { db } = await openFilled();
    const snapshot = db.snapshot();
    await db.deleteRange(key(0), key(50));
    await db.put(key(7), 'again');
    for (const step of ['memtable', 'flushed', 'compacted']) {
      if (step === 'flushed') await db.flush();
      if (step === 'compacted') await db.compactRange();
      assert.equal((await db.get(key(3), { snapshot }))?.toString(), 'v3', `${step}: the snapshot sees the old value`);
      assert.equal(await db.get(key(3)), undefined, step);
      assert.equal((await db.get(key(7)))?.toString(), 'again', `${step}: a put after the range delete is visible`);
      assert.equal((await db.iterator({ snapshot }).all()).length, 100, step);
      assert.deepEqual(await keys(db), [key(7), ...expectedKeys(100, (i) => i < 50)], step);
    }
    snapshot.release();
    await db.close();
  });

  it('without an end deletes every key from the start on that was written before it, at every level', async () => {
    const { db } = await openFilled({}, 300);
    await db.compactRange();
    await db.deleteRange(key(10), key(20));
    await db.put('zzz', 'memtable');
    const writes = [db.put('zzzz', 'queued before'), db.deleteRange(key(250), undefined), db.put('zzzzz', 'queued after')];
    await Promise.all(writes);
    assert.deepEqual(await keys(db), [...expectedKeys(250, (i) => i >= 10 && i < 20), 'zzzzz']);
    await db.deleteRange('', undefined);
    assert.deepEqual(await keys(db), []);
    await db.deleteRange('', undefined);
    await db.put(key(1), 'new');
    await db.compactRange();
    assert.deepEqual(await keys(db), [key(1)]);
    db.checkInvariants();
    await db.close();
  });

  it('a batch applies puts, deletes and range deletes in order', async () => {
    const { db } = await openFilled({}, 10);
    await db.write([
      { type: 'put', key: key(20), value: 'before' },
      { type: 'deleteRange', start: key(0), end: key(30) },
      { type: 'put', key: key(3), value: 'after' },
    ]);
    assert.deepEqual(await keys(db), [key(3)]);
    await db.close();
  });

  it('honours tombstones in every level: tables below hide older data, seeks land past deleted keys', async () => {
    const { db } = await openFilled({}, 300);
    await db.compactRange();
    await db.deleteRange(key(100), key(200));
    await db.flush();
    // The tombstone is in L0 now, the keys below it.
    const expected = expectedKeys(300, (i) => i >= 100 && i < 200);
    for (const step of ['tombstone in L0', 'compacted']) {
      if (step === 'compacted') await db.compactRange();
      assert.equal(await db.get(key(150)), undefined, step);
      assert.equal(db.getSync(key(100)), undefined, step);
      assert.equal((await db.get(key(200)))?.toString(), 'v200', step);
      assert.deepEqual(await keys(db), expected, step);
      assert.deepEqual(await keys(db, { reverse: true }), [...expected].reverse(), step);
      const forward = db.iterator();
      forward.seek(key(120));
      assert.equal((await forward.next())?.[0].toString(), key(200), `${step}: seek into the range lands after it`);
      await forward.close();
      const backward = db.iterator({ reverse: true });
      backward.seek(key(199));
      assert.equal((await backward.next())?.[0].toString(), key(99), `${step}: a reverse seek lands before it`);
      await backward.close();
      db.checkInvariants();
    }
    await db.close();
  });

  it('survives a crash through the WAL, and a reopen through the tables', async () => {
    const { db, fs } = await openFilled({ memtableSizeBytes: 1 << 20 });
    await db.deleteRange(key(30), key(60));
    // A power loss right after the acknowledged (synced) range delete: only synced bytes survive.
    const crashed = fs.crashClone('drop-unsynced', new Rng(0));
    await db.close();
    const reopened = await DB.open(DIR, { fs: crashed });
    assert.deepEqual(await keys(reopened), expectedKeys(100, (i) => i >= 30 && i < 60));
    await reopened.close();
    const again = await DB.open(DIR, { fs: crashed });
    assert.deepEqual(await keys(again), expectedKeys(100, (i) => i >= 30 && i < 60));
    await again.close();
  });

  it('DB.repair keeps range tombstones: replayed from the WAL, and merged into the new tables without a MANIFEST', async () => {
    for (const withManifest of [true, false]) {
      const fs = new CrashableFS();
      const db = await DB.open(DIR, { fs, memtableSizeBytes: 4096, autoCompaction: false });
      await db.write(Array.from({ length: 200 }, (_, i) => ({ type: 'put' as const, key: key(i), value: `v${i}` })));
      await db.flush();
      await db.deleteRange(key(20), key(80));
      await db.put(key(50), 'after');
      await db.flush();
      // One in a table, one still in the WAL.
      await db.deleteRange(key(150), key(190));
      await db.put(key(160), 'after too');
      await db.close();
      if (!withManifest) await fs.remove('/db/CURRENT');
      const report = await DB.repair(DIR, { fs });
      assert.equal(report.manifestUsed, withManifest);
      const repaired = await DB.open(DIR, { fs });
      const expected = [...expectedKeys(200, (i) => (i >= 20 && i < 80) || (i >= 150 && i < 190)), key(50), key(160)].sort();
      assert.deepEqual(await keys(repaired), expected, withManifest ? 'with the MANIFEST' : 'without it');
      assert.equal((await repaired.get(key(50)))?.toString(), 'after');
      repaired.checkInvariants();
      await repaired.close();
    }
  });

  it('DB.repair keeps the range tombstones of a table it rewrites from a block scan (damaged footer)', async () => {
    const fs = new CrashableFS();
    const db = await DB.open(DIR, { fs, memtableSizeBytes: 1 << 20, autoCompaction: false });
    await db.write(Array.from({ length: 200 }, (_, i) => ({ type: 'put' as const, key: key(i), value: `v${i}` })));
    await db.flush();
    await db.deleteRange(key(20), key(80));
    await db.put(key(50), 'after');
    await db.flush();
    await db.close();
    const tables = fs.listAll().filter((name) => name.endsWith('.sst')).sort();
    const newest = tables[tables.length - 1]!;
    // The footer's last byte (its magic): the table's metadata cannot be trusted, its blocks are found by their checksums.
    fs.flipBit(newest, fs.fileInfo(newest)!.size - 1, 0);
    const report = await DB.repair(DIR, { fs });
    assert.ok(report.movedToLost.some((name) => newest.endsWith(name)), `the damaged table goes to lost/: ${JSON.stringify(report)}`);
    const repaired = await DB.open(DIR, { fs });
    assert.deepEqual(await keys(repaired), [...expectedKeys(200, (i) => i >= 20 && i < 80), key(50)].sort());
    await repaired.close();
  });

  it('compaction to the bottom drops the deleted entries and the tombstone', async () => {
    const { db } = await openFilled({}, 400);
    await db.deleteRange(key(0), key(400));
    await db.compactRange();
    const stats = db.stats();
    const tables = db.levelFileCounts().reduce((sum, count) => sum + count, 0);
    assert.equal(tables, 0, `no table is left once everything is deleted: ${JSON.stringify(db.levelFileCounts())}`);
    assert.deepEqual(await keys(db), []);
    assert.ok(stats !== undefined);
    await db.close();
  });

  it('compaction keeps the tombstone while an older level may hold keys under it', async () => {
    const { db } = await openFilled({}, 200);
    await db.compactRange();
    const snapshot = db.snapshot();
    await db.deleteRange(key(50), key(150));
    await db.compactRange();
    assert.equal((await db.get(key(60), { snapshot }))?.toString(), 'v60', 'the snapshot keeps the covered versions');
    assert.equal(await db.get(key(60)), undefined);
    snapshot.release();
    await db.compactRange();
    assert.equal(await db.get(key(60)), undefined);
    assert.deepEqual(await keys(db), expectedKeys(200, (i) => i >= 50 && i < 150));
    db.checkInvariants();
    await db.close();
  });
});
