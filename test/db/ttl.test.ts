/**
 * Expiring entries (`put`'s `ttl` and `expiresAt`, a batch put's, the `clock`
 * option): invisible to every read from their expiry time on, at any snapshot,
 * whatever the clock does afterwards; hiding older versions like a DELETE; kept
 * across reopen; and dropped by compaction, picked by their tables' earliest
 * expiry without any read. The model-based run with a controlled clock is in
 * test/db/model.test.ts.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { DB, type Options } from '../../src/index.js';
import { CrashableFS } from '../../src/testing/index.js';
import { tempDir } from '../helpers.js';

/** A clock the test moves: `time.ms` is what the database reads. */
function manualClock(startMs = 1_000_000): { ms: number; clock: () => number } {
  const time = { ms: startMs, clock: () => time.ms };
  return time;
}

async function openInline(time: { clock: () => number }, options: Options = {}, fs = new CrashableFS()): Promise<DB> {
  return DB.open('/db', { fs, clock: time.clock, compactionExecutor: 'inline', ...options });
}

function totalBytes(db: DB): number {
  return db.stats().levels.reduce((sum, level) => sum + level.bytes, 0);
}

async function entries(db: DB, options: Parameters<DB['iterator']>[0] = {}): Promise<string[]> {
  const out: string[] = [];
  for await (const [key, value] of db.iterator(options)) out.push(`${key.toString()}=${value.toString()}`);
  return out;
}

describe('TTL', () => {
  it('an entry is visible until its expiry time and absent from that millisecond on, to every kind of read', async () => {
    const time = manualClock();
    const db = await openInline(time);
    try {
      await db.put('a', '1');
      await db.put('b', '2', { ttl: 100 });
      await db.put('c', '3', { expiresAt: time.ms + 50 });
      time.ms += 49;
      assert.equal((await db.get('c'))?.toString(), '3');
      assert.deepEqual(await entries(db), ['a=1', 'b=2', 'c=3']);
      time.ms += 1;
      assert.equal(await db.get('c'), undefined, 'expired at expiresAt itself');
      assert.equal(db.getSync('c'), undefined);
      assert.deepEqual(await entries(db), ['a=1', 'b=2']);
      assert.deepEqual(await entries(db, { reverse: true }), ['b=2', 'a=1']);
      time.ms += 50;
      assert.deepEqual(
        (await db.getMany(['a', 'b', 'c'])).map((value) => value?.toString()),
        ['1', undefined, undefined],
      );
      assert.deepEqual(db.getManySync(['b']), [undefined]);
      assert.deepEqual(await entries(db), ['a=1']);
      const keys: string[] = [];
      for await (const key of db.keys({ reverse: true })) keys.push(key.toString());
      assert.deepEqual(keys, ['a']);
    } finally {
      await db.close();
    }
  });

  it('an expired entry hides older values of its key, like a DELETE at its sequence number', async () => {
    const time = manualClock();
    const db = await openInline(time);
    try {
      await db.put('k', 'old');
      await db.flush();
      await db.put('k', 'new', { ttl: 10 });
      assert.equal((await db.get('k'))?.toString(), 'new');
      time.ms += 10;
      assert.equal(await db.get('k'), undefined);
      assert.deepEqual(await entries(db), []);
      assert.deepEqual(await entries(db, { reverse: true }), []);
      await db.put('k', 'newest');
      assert.equal((await db.get('k'))?.toString(), 'newest', 'a later write is visible again');
    } finally {
      await db.close();
    }
  });

  it('an expiresAt already past is a valid write: the key reads as absent at once', async () => {
    const time = manualClock();
    const db = await openInline(time);
    try {
      await db.put('k', 'old');
      await db.put('k', 'gone', { expiresAt: time.ms - 1000 });
      assert.equal(await db.get('k'), undefined);
      await db.write([{ type: 'put', key: 'j', value: 'x', expiresAt: 0 }]);
      assert.equal(await db.get('j'), undefined);
    } finally {
      await db.close();
    }
  });

  it('a snapshot never shows an expired entry, and a clock moving backwards never revives one', async () => {
    const time = manualClock();
    const db = await openInline(time);
    try {
      await db.put('k', 'v', { ttl: 100 });
      const snapshot = db.snapshot();
      time.ms += 100;
      assert.equal(await db.get('k', { snapshot }), undefined, 'expiry is judged by the current time at any snapshot');
      assert.deepEqual(await entries(db, { snapshot }), []);
      time.ms -= 60_000;
      assert.equal(await db.get('k'), undefined, 'the database time is monotone');
      assert.equal(await db.get('k', { snapshot }), undefined);
      // A ttl counts from the database's time, not the clock that went back.
      await db.put('t', 'v', { ttl: 10 });
      time.ms += 60_000 + 10;
      assert.equal((await db.get('t'))?.toString(), undefined, 'ttl 10 from the high-water mark has passed');
      snapshot.release();
    } finally {
      await db.close();
    }
  });

  it('an open iterator stops returning an entry once it expires', async () => {
    const time = manualClock();
    const db = await openInline(time);
    try {
      for (let i = 0; i < 5; i++) await db.put(`k${i}`, `v${i}`, i % 2 === 0 ? { ttl: 100 } : {});
      const iterator = db.iterator();
      assert.deepEqual((await iterator.next())?.map(String), ['k0', 'v0']);
      time.ms += 100;
      const rest: string[] = [];
      for (let entry = await iterator.next(); entry !== undefined; entry = await iterator.next()) rest.push(entry[0].toString());
      await iterator.close();
      assert.ok(!rest.includes('k2') && !rest.includes('k4'), `expired keys returned: ${rest.join(',')}`);
      assert.ok(rest.includes('k3'));
    } finally {
      await db.close();
    }
  });

  it('a batch put takes ttl and expiresAt per operation', async () => {
    const time = manualClock();
    const db = await openInline(time);
    try {
      await db.write([
        { type: 'put', key: 'a', value: '1', ttl: 5 },
        { type: 'put', key: 'b', value: '2', expiresAt: time.ms + 10 },
        { type: 'put', key: 'c', value: '3' },
      ]);
      time.ms += 5;
      assert.deepEqual(await entries(db), ['b=2', 'c=3']);
      time.ms += 5;
      assert.deepEqual(await entries(db), ['c=3']);
    } finally {
      await db.close();
    }
  });

  it('bad ttl and expiresAt arguments are INVALID_ARGUMENT and write nothing', async () => {
    const time = manualClock();
    const db = await openInline(time);
    try {
      const bad: unknown[] = [
        { ttl: 0 },
        { ttl: -5 },
        { ttl: Number.NaN },
        { ttl: Infinity },
        { ttl: '10' },
        { expiresAt: 1.5 },
        { expiresAt: -1 },
        { expiresAt: 2 ** 53 },
        { expiresAt: '5' },
        { ttl: 10, expiresAt: 5 },
        { ttl: Number.MAX_SAFE_INTEGER },
        { tll: 10 },
      ];
      for (const options of bad) {
        await assert.rejects(db.put('k', 'v', options as never), { code: 'INVALID_ARGUMENT' }, JSON.stringify(options));
        // A batch operation's unknown fields are not checked (as before): only the expiry fields are.
        if ('tll' in (options as object)) continue;
        await assert.rejects(db.write([{ type: 'put', key: 'k', value: 'v', ...(options as object) }]), { code: 'INVALID_ARGUMENT' }, JSON.stringify(options));
      }
      await assert.rejects(db.delete('k', { ttl: 10 } as never), { code: 'INVALID_ARGUMENT' });
      assert.equal(await db.get('k'), undefined);
      assert.equal(db.latestSequence, 0n, 'nothing was written');
    } finally {
      await db.close();
    }
  });

  it('a clock that returns something other than a time fails the read or write with INVALID_ARGUMENT', async () => {
    let value: unknown = 1000;
    const db = await openInline({ clock: () => value as number });
    try {
      await db.put('k', 'v', { ttl: 10 });
      value = Number.NaN;
      await assert.rejects(db.get('k'), { code: 'INVALID_ARGUMENT' });
      await assert.rejects(db.put('j', 'v', { ttl: 10 }), { code: 'INVALID_ARGUMENT' });
      // Background work goes on at the last good time: a flush and a compaction with the clock broken.
      await db.put('j', 'w');
      await db.compactRange();
      value = 1005;
      assert.equal((await db.get('k'))?.toString(), 'v');
      assert.equal((await db.get('j'))?.toString(), 'w');
    } finally {
      await db.close();
    }
    await assert.rejects(DB.open('/x', { fs: new CrashableFS(), clock: 5 as never }), { code: 'INVALID_ARGUMENT' });
  });

  it('expiring entries survive a reopen (from the WAL and from tables) with their expiry times', async () => {
    const time = manualClock();
    const fs = new CrashableFS();
    let db = await openInline(time, {}, fs);
    await db.put('table', 't', { ttl: 100 });
    await db.flush();
    await db.put('wal', 'w', { ttl: 200 });
    await db.close();
    db = await openInline(time, {}, fs);
    try {
      assert.deepEqual(await entries(db), ['table=t', 'wal=w']);
      time.ms += 100;
      assert.deepEqual(await entries(db), ['wal=w']);
      time.ms += 100;
      assert.deepEqual(await entries(db), []);
    } finally {
      await db.close();
    }
  });

  it('compaction drops expired entries: after compactRange nothing of them is left on disk', async () => {
    const time = manualClock();
    const db = await openInline(time, { memtableSizeBytes: 4096, blockSizeBytes: 256, autoCompaction: false });
    try {
      for (let i = 0; i < 300; i++) await db.put(`key${String(i).padStart(4, '0')}`, 'x'.repeat(50), { sync: false, ...(i % 3 === 0 ? {} : { ttl: 1000 }) });
      await db.compactRange();
      const before = totalBytes(db);
      time.ms += 1000;
      await db.compactRange();
      const after = totalBytes(db);
      assert.ok(after < before / 2, `size ${before} → ${after}`);
      const keys: string[] = [];
      for await (const key of db.keys()) keys.push(key.toString());
      assert.equal(keys.length, 100);
      db.checkInvariants();
    } finally {
      await db.close();
    }
  });

  it('a table whose earliest expiry has passed is compacted without any read or write asking for it', async () => {
    const time = manualClock();
    const db = await DB.open(tempDir(), { clock: time.clock, memtableSizeBytes: 4096, blockSizeBytes: 256 });
    try {
      for (let i = 0; i < 200; i++) await db.put(`key${String(i).padStart(4, '0')}`, 'y'.repeat(50), { sync: false, ttl: 300 });
      await db.compactRange();
      const before = totalBytes(db);
      assert.ok(before > 0);
      // The picker found nothing expired and armed its timer for the earliest expiry (300 ms away by this
      // clock, so 300 ms of real time). Time passes; nothing reads or writes.
      time.ms += 300;
      // The expiry timer never keeps a process alive: this test's interval does, while it waits.
      const keepAlive = setInterval(() => undefined, 1000);
      try {
        while (totalBytes(db) > 0) await once(db, 'compaction');
      } finally {
        clearInterval(keepAlive);
      }
      assert.deepEqual(db.levelFileCounts().filter((count) => count > 0), [], 'every table was expired and is gone');
      assert.deepEqual(await entries(db), []);
    } finally {
      await db.close();
    }
  });
});
