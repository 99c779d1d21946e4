/**
 * A call's arguments are their values at call time, and an operation on
 * something closed is NOT_OPEN, never an empty result (docs/durability.md,
 * "Arguments and lifetimes"; issue: reliability defects 2 and 3).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DB, ShaleError } from '../../src/index.js';
import { CrashableFS } from '../../src/testing/index.js';

/** A database with `aaa` and `bbb` in a table (so reads wait for I/O) or in the memtable. */
async function twoKeys(inTable: boolean): Promise<DB> {
  const db = await DB.open('/db', { fs: new CrashableFS() });
  await db.put('aaa', 'A');
  await db.put('bbb', 'B');
  if (inTable) await db.flush();
  return db;
}

function notOpen(err: unknown): boolean {
  assert.ok(err instanceof ShaleError, `expected a ShaleError, got ${String(err)}`);
  assert.equal(err.code, 'NOT_OPEN', err.message);
  return true;
}

describe('caller buffers changed after the call', () => {
  for (const inTable of [true, false]) {
    const where = inTable ? 'in a table' : 'in the memtable';
    it(`get answers for the key as it was at the call, ${where}`, async () => {
      const db = await twoKeys(inTable);
      // 600 gets cross the every-256th-read loop turn at least twice.
      for (let i = 0; i < 600; i++) {
        const key = Buffer.from('aaa');
        const pending = db.get(key);
        key.write('bbb');
        assert.equal((await pending)?.toString(), 'A', `get ${i}`);
      }
      await db.close();
    });

    it(`getMany answers for the keys as they were at the call, ${where}`, async () => {
      const db = await twoKeys(inTable);
      for (let i = 0; i < 600; i++) {
        const key = Buffer.from('aaa');
        const pending = db.getMany([key, 'bbb']);
        key.write('bbb');
        assert.deepEqual((await pending).map(String), ['A', 'B'], `getMany ${i}`);
      }
      await db.close();
    });

    it(`an iterator's bounds and seek target are their values at the call, ${where}`, async () => {
      const db = await twoKeys(inTable);
      const bound = Buffer.from('aaa');
      const bounded = db.keys({ gte: bound });
      bound.write('bbb');
      assert.deepEqual((await bounded.all()).map(String), ['aaa', 'bbb']);

      const target = Buffer.from('aaa');
      const sought = db.keys();
      sought.seek(target);
      target.write('bbb');
      assert.deepEqual((await sought.all()).map(String), ['aaa', 'bbb']);

      const later = db.keys();
      assert.equal((await later.next())?.toString(), 'aaa');
      const again = Buffer.from('aaa');
      later.seek(again);
      again.write('bbb');
      assert.deepEqual((await later.all()).map(String), ['aaa', 'bbb']);
      await db.close();
    });
  }
});

describe('closing the database during a scan', () => {
  const count = 10_000;
  async function filled(): Promise<DB> {
    const db = await DB.open('/db', { fs: new CrashableFS() });
    const ops = Array.from({ length: count }, (_, i) => ({ type: 'put' as const, key: `k${String(i).padStart(6, '0')}`, value: 'v' }));
    await db.write(ops);
    return db;
  }

  it('next() rejects with NOT_OPEN after close(), never answers undefined early', async () => {
    const db = await filled();
    const iterator = db.keys();
    let seen = 0;
    let closing: Promise<void> | undefined;
    await assert.rejects(async () => {
      for (;;) {
        const key = await iterator.next();
        if (key === undefined) assert.fail(`next() answered the end after ${seen} of ${count} keys`);
        if (++seen === 4096) closing = db.close();
      }
    }, notOpen);
    await closing;
  });

  it('for await and nextv reject with NOT_OPEN after close()', async () => {
    for (const style of ['for-await', 'nextv'] as const) {
      const db = await filled();
      const iterator = db.keys();
      let seen = 0;
      let closing: Promise<void> | undefined;
      await assert.rejects(async () => {
        if (style === 'for-await') {
          for await (const _ of iterator) if (++seen === 4096) closing = db.close();
        } else {
          for (;;) {
            const batch = await iterator.nextv(100);
            if (batch.length === 0) assert.fail(`nextv answered the end after ${seen} of ${count} keys`);
            seen += batch.length;
            if (seen === 4100) closing = db.close();
          }
        }
      }, notOpen, style);
      assert.ok(seen < count, `${style} saw every key before close took effect`);
      await closing;
    }
  });
});
