/**
 * Checkpoints and backups of a database holding range deletes and expiring
 * entries: they copy whole tables, so a checkpoint and a restored backup read
 * exactly as the source does, now and after the expiry times pass (every key by
 * get and by a full scan), keys a range delete removed stay removed though the
 * tables below still hold them, and the copies' MANIFEST keeps each table's
 * earliest expiry. Randomized: prints its seed, replays with SEED=.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { DB, restoreBackup, type Options } from '../../src/index.js';
import { NodeFileSystem } from '../../src/fs/node-fs.js';
import { readCurrent, replayManifest } from '../../src/version/manifest.js';
import { SeededRandom, tempDir, testSeed } from '../helpers.js';

/** 2026-12-07T16:00:00Z. */
const NOW = 1_796_659_200_000;
const clock = { now: NOW };
const KEYS = 400;
const key = (i: number): string => `key${String(i).padStart(4, '0')}`;
const OPTIONS: Options = {
  clock: () => clock.now,
  memtableSizeBytes: 8 * 1024,
  targetFileSizeBytes: 16 * 1024,
  levelBaseBytes: 64 * 1024,
  compactionExecutor: 'inline',
};

/** What a database reads at the clock's time: every key by get, and a full scan. */
async function reads(db: DB): Promise<{ gets: (string | undefined)[]; scan: [string, string][] }> {
  const gets: (string | undefined)[] = [];
  for (let i = 0; i < KEYS; i++) gets.push((await db.get(key(i)))?.toString());
  const scan = (await db.iterator().all()).map(([k, v]) => [k.toString(), v.toString()] as [string, string]);
  return { gets, scan };
}

/**
 * Every key written, pushed to the bottom; then random overwrites (a third of
 * them expiring within the next minute, some expired already), deletes and
 * range deletes over several flushes, the last ones left in the memtable.
 */
async function sourceDatabase(random: SeededRandom): Promise<DB> {
  clock.now = NOW;
  // No background compaction: the range tombstones stay in the tables above the keys they cover (a
  // compaction to the bottom would drop both), which is what a copy that lost them would get wrong.
  const db = await DB.open(tempDir(), { ...OPTIONS, autoCompaction: false });
  await db.write(Array.from({ length: KEYS }, (_, i) => ({ type: 'put' as const, key: key(i), value: `base ${i}` })));
  await db.compactRange();
  for (let round = 0; round < 4; round++) {
    for (let n = 0; n < 150; n++) {
      const i = random.int(0, KEYS - 1);
      const pick = random.int(0, 9);
      if (pick < 3) await db.put(key(i), `round ${round} expiring ${n}`, { expiresAt: NOW + random.int(1, 60_000) });
      else if (pick === 3) await db.put(key(i), `round ${round} expired ${n}`, { expiresAt: NOW - random.int(0, 1000) });
      else if (pick === 4) await db.delete(key(i));
      else if (pick === 5) await db.deleteRange(key(i), key(Math.min(KEYS, i + random.int(1, 30))));
      else await db.put(key(i), `round ${round} value ${n}`);
    }
    if (round < 3) await db.flush();
  }
  return db;
}

async function tableFacts(dir: string): Promise<{ rangeTombstones: number; tablesWithExpiry: number }> {
  const report = await DB.verify(dir);
  assert.deepEqual(report.damage, [], `${dir} verifies`);
  const fs = new NodeFileSystem();
  const state = await replayManifest(fs, dir, await readCurrent(fs, dir));
  return {
    rangeTombstones: report.files.reduce((sum, file) => sum + (file.kind === 'table' ? file.rangeTombstones : 0), 0),
    tablesWithExpiry: [...state.files.values()].filter((meta) => meta.expiryMinMs !== undefined).length,
  };
}

describe('checkpoints and backups of range deletes and expiring entries', () => {
  it('a checkpoint and a restored backup read as the source does, before and after the expiry times, with the tombstones and expiries in their tables', async () => {
    const seed = testSeed('checkpoint and backup with range deletes and TTL');
    const db = await sourceDatabase(new SeededRandom(seed));
    const now = await reads(db);
    const checkpoint = path.join(tempDir(), 'checkpoint');
    await db.checkpoint(checkpoint);
    const backups = path.join(tempDir(), 'backups');
    const backup = await db.backup(backups);
    clock.now = NOW + 120_000;
    const later = await reads(db);
    await db.close();
    // The workload's premises: range deletes and expiries that change what reads see.
    assert.notDeepEqual(later, now, 'entries expired between the two reads');
    assert.ok(now.gets.filter((value) => value === undefined).length > 20, 'keys deleted, by range deletes among others');

    const restored = path.join(tempDir(), 'restored');
    await restoreBackup(backups, backup.id, restored);
    for (const [name, dir] of [['checkpoint', checkpoint], ['restored backup', restored]] as const) {
      const facts = await tableFacts(dir);
      assert.ok(facts.rangeTombstones > 0, `${name}: its tables hold range tombstones`);
      assert.ok(facts.tablesWithExpiry > 0, `${name}: its MANIFEST records earliest expiries`);
      clock.now = NOW;
      const copy = await DB.open(dir, { ...OPTIONS, createIfMissing: false });
      assert.deepEqual(await reads(copy), now, `${name} at the source's time`);
      clock.now = NOW + 120_000;
      assert.deepEqual(await reads(copy), later, `${name} after the expiries`);
      // Compacting the copy drops what expired and what the tombstones cover, and reads do not change.
      await copy.compactRange();
      assert.deepEqual(await reads(copy), later, `${name} compacted`);
      await copy.close();
    }
  });
});
