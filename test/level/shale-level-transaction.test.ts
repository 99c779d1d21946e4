/**
 * `ShaleLevel`'s `transaction` and `runTransaction` additional methods: shale
 * transactions with the database's abstract-level encodings.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ShaleError } from '../../src/index.js';
import { ShaleLevel } from '../../src/level/index.js';
import { tempDir } from '../helpers.js';

describe('ShaleLevel transactions', () => {
  it('apply the encodings to keys, values and bounds, and read their own writes', async () => {
    const db = new ShaleLevel<string, { n: number }>(tempDir(), { valueEncoding: 'json' });
    await db.open();
    assert.equal(db.supports.additionalMethods['transaction'], true);
    await db.batch([
      { type: 'put', key: 'a', value: { n: 1 } },
      { type: 'put', key: 'b', value: { n: 2 } },
    ]);
    const tx = db.transaction({ isolation: 'serializable' });
    assert.deepEqual(await tx.get('a'), { n: 1 });
    tx.put('c', { n: 3 }).del('b');
    assert.deepEqual(tx.getSync('c'), { n: 3 });
    assert.deepEqual(await tx.getMany(['a', 'b', 'c']), [{ n: 1 }, undefined, { n: 3 }]);
    assert.deepEqual(await tx.entries({ gt: 'a' }), [['c', { n: 3 }]]);
    assert.deepEqual(await tx.keys({ reverse: true }), ['c', 'a']);
    assert.deepEqual(await tx.values({ lte: 'a' }), [{ n: 1 }]);
    assert.equal(await db.get('c'), undefined);
    await tx.commit();
    assert.deepEqual(await db.values().all(), [{ n: 1 }, { n: 3 }]);
    await db.close();
  });

  it('deleteRange takes keys in the key encoding, hides the range from its reads and commits with the writes after it', async () => {
    const db = new ShaleLevel<number, string>(tempDir(), { keyEncoding: 'json', valueEncoding: 'utf8' });
    await db.open();
    await db.batch([1, 2, 3, 4].map((key) => ({ type: 'put' as const, key, value: `v${key}` })));
    const tx = db.transaction();
    assert.equal(tx.deleteRange(2, 4).put(3, 'again'), tx);
    assert.equal(await tx.get(2), undefined);
    assert.deepEqual(await tx.keys(), [1, 3, 4]);
    assert.throws(() => tx.deleteRange(4, 2), (err: unknown) => err instanceof ShaleError && err.code === 'INVALID_ARGUMENT');
    await tx.commit();
    assert.deepEqual(await db.iterator().all(), [
      [1, 'v1'],
      [3, 'again'],
      [4, 'v4'],
    ]);
    await db.close();
  });

  it('a conflict is the CONFLICT ShaleError; runTransaction retries it and waits for a deferred open', async () => {
    const location = tempDir();
    const db = new ShaleLevel<string, number>(location, { valueEncoding: 'json' });
    await db.open();
    await db.put('counter', 0);
    const tx = db.transaction();
    tx.put('counter', 10);
    await db.put('counter', 1);
    await assert.rejects(tx.commit(), (err: unknown) => err instanceof ShaleError && err.code === 'CONFLICT');
    await db.close();

    const reopened = new ShaleLevel<string, number>(location, { valueEncoding: 'json' });
    // Called before the deferred open completes.
    const increments = Array.from({ length: 8 }, () =>
      reopened.runTransaction(async (t) => {
        t.put('counter', ((await t.get('counter')) ?? 0) + 1);
      }, { retries: 100, sync: false }),
    );
    await Promise.all(increments);
    assert.equal(await reopened.get('counter'), 9);
    await reopened.close();
    assert.throws(() => reopened.transaction(), (err: unknown) => (err as { code?: string }).code === 'LEVEL_DATABASE_NOT_OPEN');
  });
});
