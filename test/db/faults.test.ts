import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DB, ShaleError } from '../../src/index.js';
import { CrashableFS, FaultFS, Rng, type CrashMode, type FaultRule } from '../../src/testing/index.js';
import { testSeed } from '../helpers.js';

const DIR = '/db';

function isIoError(err: unknown): boolean {
  assert.ok(err instanceof ShaleError, `expected a ShaleError, got ${String(err)}`);
  assert.equal(err.code, 'IO_ERROR', err.message);
  return true;
}

async function allKeys(db: DB, count: number): Promise<string[]> {
  const present: string[] = [];
  for (let i = 0; i < count; i++) if ((await db.get(`k${i}`)) !== undefined) present.push(`k${i}`);
  return present;
}

describe('group commit', () => {
  it('64 sync writes in flight share one fsync; one at a time each pays its own; sync: false pays none', async () => {
    const fs = new FaultFS(new CrashableFS());
    const db = await DB.open(DIR, { fs });
    let before = fs.calls.sync;
    await Promise.all(Array.from({ length: 64 }, (_, i) => db.put(`k${i}`, 'v')));
    assert.equal(fs.calls.sync - before, 1);

    before = fs.calls.sync;
    for (let i = 0; i < 10; i++) await db.put(`s${i}`, 'v');
    assert.equal(fs.calls.sync - before, 10);

    before = fs.calls.sync;
    await Promise.all(Array.from({ length: 64 }, (_, i) => db.put(`n${i}`, 'v', { sync: false })));
    assert.equal(fs.calls.sync - before, 0);
    assert.equal(db.latestSequence, 138n);
    await db.close();
  });

  it('writes arriving while a group syncs form the next group, and most of a stream shares fsyncs', async () => {
    const fs = new FaultFS(new CrashableFS());
    const db = await DB.open(DIR, { fs });
    const before = { append: fs.calls.append, sync: fs.calls.sync };
    // Keep 64 writes in flight: each completion issues the next.
    let issued = 0;
    const worker = async (): Promise<void> => {
      while (issued < 1000) await db.put(`k${issued++}`, 'v');
    };
    await Promise.all(Array.from({ length: 64 }, worker));
    const syncs = fs.calls.sync - before.sync;
    assert.equal(fs.calls.append - before.append, syncs, 'one WAL append per group, one fsync per group');
    assert.ok(syncs < 1000 / 8, `1000 writes took ${syncs} fsyncs`);
    await db.close();
  });
});

describe('I/O errors poison the write path', () => {
  const cases: { name: string; rule: FaultRule }[] = [
    { name: 'a failed fsync (EIO)', rule: { op: 'sync', path: /\.log$/, nth: 1, error: 'EIO' } },
    { name: 'a short write', rule: { op: 'append', path: /\.log$/, nth: 1, error: 'short-write' } },
    { name: 'a full disk (ENOSPC)', rule: { op: 'append', path: /\.log$/, nth: 1, error: 'ENOSPC' } },
  ];
  for (const { name, rule } of cases) {
    it(`${name}: the write and every later one reject with IO_ERROR, reads keep working, reopen recovers`, async () => {
      const crashable = new CrashableFS();
      const fs = new FaultFS(crashable);
      const db = await DB.open(DIR, { fs });
      for (let i = 0; i < 5; i++) await db.put(`k${i}`, `v${i}`);
      fs.addRule(rule);
      await assert.rejects(db.put('k5', 'v5'), isIoError);
      fs.clearRules();
      await assert.rejects(db.put('k6', 'v6'), isIoError);
      await assert.rejects(db.put('k7', 'v7', { sync: false }), isIoError);
      await assert.rejects(db.write([{ type: 'delete', key: 'k0' }]), isIoError);
      assert.equal((await db.get('k4'))?.toString(), 'v4');
      assert.equal(await db.get('k5'), undefined, 'a failed write is never visible');
      assert.deepEqual((await db.keys().all()).map(String), ['k0', 'k1', 'k2', 'k3', 'k4'], 'nor to an iterator');
      const snapshot = db.snapshot();
      assert.equal(await db.get('k5', { snapshot }), undefined, 'nor at a snapshot taken after the failure');
      snapshot.release();
      assert.equal(db.latestSequence, 5n);
      const syncsBeforeClose = fs.calls.sync;
      await db.close();
      assert.equal(fs.calls.sync, syncsBeforeClose, 'close does not retry the sync');

      // Power loss after the failure: every acknowledged write is there, nothing after it.
      const reopened = await DB.open(DIR, { fs: crashable.crashClone('drop-unsynced', new Rng(1)) });
      assert.deepEqual(await allKeys(reopened, 8), ['k0', 'k1', 'k2', 'k3', 'k4']);
      await reopened.put('k5', 'again');
      await reopened.close();
    });
  }

  it('writes queued behind a failing group are rejected too, none applied', async () => {
    const fs = new FaultFS(new CrashableFS());
    const db = await DB.open(DIR, { fs });
    fs.addRule({ op: 'sync', path: /\.log$/, nth: 1, error: 'EIO' });
    const first = db.put('a', '1');
    await Promise.resolve();
    const queued = Array.from({ length: 10 }, (_, i) => db.put(`q${i}`, 'v'));
    await assert.rejects(first, isIoError);
    for (const write of queued) await assert.rejects(write, isIoError);
    assert.equal(db.latestSequence, 0n);
    await db.close();
  });

  it('a failed sync of the old log during memtable rotation poisons the write path', async () => {
    const fs = new FaultFS(new CrashableFS());
    const db = await DB.open(DIR, { fs, memtableSizeBytes: 1024 });
    fs.addRule({ op: 'create', path: /\.log$/, nth: 1, error: 'ENOSPC' });
    let failed = 0;
    for (let i = 0; i < 40; i++) {
      await db.put(`k${i}`, 'x'.repeat(50), { sync: false }).catch((err: unknown) => {
        isIoError(err);
        failed++;
      });
    }
    assert.ok(failed > 0 && failed < 40, `${failed} writes failed`);
    await db.close();
  });
});

describe('power loss on the write path (CrashableFS)', () => {
  const modes: CrashMode[] = ['drop-unsynced', 'keep-prefix', 'keep-blocks', 'garbage-blocks'];
  it('after a crash in any mode, the database is a prefix of the writes holding every acknowledged sync write', async () => {
    const seed = testSeed('write-path power loss');
    const seeds = Number(process.env['SEEDS'] ?? 300);
    for (let s = 0; s < seeds; s++) {
      const rng = new Rng(seed + s);
      const crashable = new CrashableFS();
      const memtableSizeBytes = rng.bool(0.5) ? 1024 : 1024 * 1024;
      let db = await DB.open(DIR, { fs: crashable, memtableSizeBytes });
      // Writes: k0, k1, …; every fifth is a batch of kN and kN-pair.
      const writeCount = rng.range(1, 60);
      let lastSyncAcked = -1;
      const pending: Promise<void>[] = [];
      for (let i = 0; i < writeCount; i++) {
        const sync = rng.bool(0.3);
        const write =
          i % 5 === 4
            ? db.write([{ type: 'put', key: `k${i}`, value: `v${i}` }, { type: 'put', key: `k${i}-pair`, value: `v${i}` }], { sync })
            : db.put(`k${i}`, `v${i}`, { sync });
        pending.push(write.then(() => { if (sync) lastSyncAcked = Math.max(lastSyncAcked, i); }));
        if (rng.bool(0.7)) await Promise.all(pending.splice(0));
      }
      // Crash with some writes possibly still in flight: their promises are abandoned.
      const mode = rng.pick(modes);
      const crashed = crashable.crashClone(mode, rng);
      const syncAckedAtCrash = lastSyncAcked;
      await Promise.allSettled(pending);
      await db.close().catch(() => undefined);
      const context = `seed ${seed + s} (SEED=${seed} offset ${s}), mode ${mode}`;
      db = await DB.open(DIR, { fs: crashed, memtableSizeBytes });
      let prefix = 0;
      while (prefix < writeCount && (await db.get(`k${prefix}`)) !== undefined) prefix++;
      assert.ok(prefix > syncAckedAtCrash, `${context}: sync write ${syncAckedAtCrash} lost (prefix ${prefix})`);
      for (let i = 0; i < writeCount; i++) {
        const value = await db.get(`k${i}`);
        assert.equal(value?.toString(), i < prefix ? `v${i}` : undefined, `${context}: k${i} breaks the prefix ${prefix}`);
        if (i % 5 === 4) assert.equal((await db.get(`k${i}-pair`))?.toString(), value?.toString(), `${context}: half a batch`);
      }
      const ops = prefix + Math.floor(prefix / 5);
      assert.equal(db.latestSequence, BigInt(ops), context);
      db.checkInvariants();
      await db.close();
    }
  });
});
