/**
 * Transactions through the public API: read-your-writes, isolation, conflicts,
 * runTransaction, limits, and the abandoned-transaction release.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { ConflictError, DB, Transaction } from '../../src/index.js';
import { isCode, tempDir } from '../helpers.js';

const text = (value: Buffer | undefined): string | undefined => value?.toString();

async function entries(iterator: AsyncIterable<[Buffer, Buffer]>): Promise<string[]> {
  const out: string[] = [];
  for await (const [key, value] of iterator) out.push(`${key.toString()}=${value.toString()}`);
  return out;
}

describe('transactions', () => {
  it('read their own writes over their snapshot, and see no later commit', async () => {
    const db = await DB.open(tempDir());
    await db.write([
      { type: 'put', key: 'a', value: '1' },
      { type: 'put', key: 'b', value: '2' },
      { type: 'put', key: 'c', value: '3' },
    ]);
    const tx = db.transaction();
    tx.put('b', 'two').delete('c').put('d', '4');
    await db.put('a', 'later');
    await db.put('e', 'later');
    assert.equal(text(await tx.get('a')), '1');
    assert.equal(text(await tx.get('b')), 'two');
    assert.equal(await tx.get('c'), undefined);
    assert.equal(text(tx.getSync('d')), '4');
    assert.deepEqual((await tx.getMany(['a', 'c', 'd', 'e'])).map(text), ['1', undefined, '4', undefined]);
    assert.deepEqual(await entries(tx.iterator()), ['a=1', 'b=two', 'd=4']);
    assert.deepEqual(await entries(tx.iterator({ reverse: true })), ['d=4', 'b=two', 'a=1']);
    assert.deepEqual(await entries(tx.iterator({ gt: 'a', lte: 'c' })), ['b=two']);
    assert.deepEqual(await entries(tx.iterator({ gte: 'b', reverse: true, limit: 2 })), ['d=4', 'b=two']);
    assert.deepEqual((await tx.keys({ lt: 'd' }).all()).map(String), ['a', 'b']);
    assert.deepEqual((await tx.values({ reverse: true }).all()).map(String), ['4', 'two', '1']);
    // Nothing is applied before commit.
    assert.equal(text(await db.get('b')), '2');
    await tx.commit();
    assert.equal(tx.state, 'committed');
    assert.deepEqual(await entries(db.iterator()), ['a=later', 'b=two', 'd=4', 'e=later']);
    await db.close();
  });

  it('an iterator keeps the writes of its creation; seeking finds buffered keys in both directions', async () => {
    const db = await DB.open(tempDir());
    await db.write(['b', 'd', 'f'].map((key) => ({ type: 'put' as const, key, value: 'db' })));
    const tx = db.transaction();
    tx.put('c', 'tx').put('f', 'tx').delete('d');
    const forward = tx.iterator();
    tx.put('a', 'after');
    assert.deepEqual(await entries(forward), ['b=db', 'c=tx', 'f=tx']);
    const seeking = tx.iterator();
    seeking.seek('c');
    assert.equal(String((await seeking.next())?.[0]), 'c');
    seeking.seek('d');
    assert.equal(String((await seeking.next())?.[0]), 'f');
    await seeking.close();
    const backward = tx.iterator({ reverse: true });
    backward.seek('e');
    assert.deepEqual((await backward.all()).map(([key]) => String(key)), ['c', 'b', 'a']);
    tx.abort();
    await db.close();
  });

  it('snapshot isolation: the first committer wins on the same key, nothing of the loser is applied', async () => {
    const db = await DB.open(tempDir());
    await db.put('k', '0');
    const first = db.transaction();
    const second = db.transaction();
    first.put('k', 'first');
    second.put('k', 'second').put('other', 'x');
    await first.commit();
    await assert.rejects(second.commit(), (err: unknown) => {
      assert.ok(err instanceof ConflictError);
      assert.equal(err.code, 'CONFLICT');
      assert.equal(String(err.key), 'k');
      assert.match(err.message, /"k"/);
      return true;
    });
    assert.equal(second.state, 'failed');
    second.abort();
    assert.equal(second.state, 'failed', 'abort() of an ended transaction changes nothing');
    assert.equal(text(await db.get('k')), 'first');
    assert.equal(await db.get('other'), undefined);
    await db.close();
  });

  it('stats() and metrics() count commits and conflicts, and show open transactions and the history they keep', async () => {
    const db = await DB.open(tempDir());
    const open = db.transaction();
    const loser = db.transaction();
    loser.put('k', 'loser');
    await db.put('k', 'plain');
    assert.equal(db.stats().openTransactionCount, 2);
    assert.ok(db.stats().transactionHistoryBytes > 0, 'the plain write is kept for the open transactions');
    await assert.rejects(loser.commit(), isCode('CONFLICT'));
    open.put('other', 'v');
    await open.commit();
    await db.transaction().commit();
    const stats = db.stats();
    assert.deepEqual(
      [stats.transactionCommitCount, stats.transactionConflictCount, stats.openTransactionCount, stats.transactionHistoryBytes],
      [2, 1, 0, 0],
    );
    const metrics = db.metrics();
    assert.match(metrics, /^shale_transaction_commits_total 2$/m);
    assert.match(metrics, /^shale_transaction_conflicts_total 1$/m);
    assert.match(metrics, /^shale_transactions_open 0$/m);
    await db.close();
  });

  it('a plain write after the snapshot conflicts, even one queued in the same write group', async () => {
    const db = await DB.open(tempDir());
    const tx = db.transaction();
    tx.put('k', 'tx');
    const [plain, commit] = await Promise.allSettled([db.put('k', 'plain'), tx.commit()]);
    assert.equal(plain.status, 'fulfilled');
    assert.equal(commit.status, 'rejected');
    assert.ok(isCode('CONFLICT')(commit.reason));
    assert.equal(text(await db.get('k')), 'plain');
    await db.close();
  });

  it('disjoint writers both commit under snapshot isolation; write skew is possible there', async () => {
    const db = await DB.open(tempDir());
    await db.write([{ type: 'put', key: 'x', value: '1' }, { type: 'put', key: 'y', value: '1' }]);
    // Each moves one unit out if the sum stays >= 1: serially, only one can.
    const skew = async (tx: Transaction, key: string): Promise<void> => {
      const sum = Number(text(await tx.get('x'))) + Number(text(await tx.get('y')));
      if (sum >= 2) tx.put(key, '0');
    };
    const a = db.transaction();
    const b = db.transaction();
    await skew(a, 'x');
    await skew(b, 'y');
    await Promise.all([a.commit(), b.commit()]);
    assert.deepEqual([text(await db.get('x')), text(await db.get('y'))], ['0', '0']);
    await db.close();
  });

  it('serializable: a key read and changed by another commit fails the commit (no write skew)', async () => {
    const db = await DB.open(tempDir());
    await db.write([{ type: 'put', key: 'x', value: '1' }, { type: 'put', key: 'y', value: '1' }]);
    const a = db.transaction({ isolation: 'serializable' });
    const b = db.transaction({ isolation: 'serializable' });
    for (const [tx, key] of [[a, 'x'], [b, 'y']] as const) {
      const sum = Number(text(await tx.get('x'))) + Number(text(await tx.get('y')));
      if (sum >= 2) tx.put(key, '0');
    }
    await a.commit();
    await assert.rejects(b.commit(), (err: unknown) => err instanceof ConflictError && String(err.key) === 'x');
    assert.deepEqual([text(await db.get('x')), text(await db.get('y'))], ['0', '1']);
    await db.close();
  });

  it('serializable: a write landing in an iterated range fails the commit; one beyond what was read does not', async () => {
    const db = await DB.open(tempDir());
    await db.write(['a', 'c', 'e', 'g'].map((key) => ({ type: 'put' as const, key, value: 'v' })));
    const phantom = db.transaction({ isolation: 'serializable' });
    assert.deepEqual((await phantom.keys({ gte: 'a', lt: 'f' }).all()).map(String), ['a', 'c', 'e']);
    phantom.put('count', '3');
    await db.put('b', 'inserted');
    await assert.rejects(phantom.commit(), (err: unknown) => err instanceof ConflictError && String(err.key) === 'b');

    const partial = db.transaction({ isolation: 'serializable' });
    const iterator = partial.keys({ gte: 'a', limit: 2 });
    assert.deepEqual((await iterator.all()).map(String), ['a', 'b']);
    partial.put('first-two', 'read');
    await db.put('f', 'beyond what the iterator reached');
    await partial.commit();
    assert.equal(partial.state, 'committed');

    const empty = db.transaction({ isolation: 'serializable' });
    assert.deepEqual(await empty.keys({ gt: 'x' }).all(), []);
    await db.put('y', 'into the empty range');
    await assert.rejects(empty.commit(), isCode('CONFLICT'));
    await db.close();
  });

  it('serializable read-only transactions are checked too; snapshot read-only ones always commit', async () => {
    const db = await DB.open(tempDir());
    await db.put('k', '1');
    const reader = db.transaction({ isolation: 'serializable' });
    const snapshotReader = db.transaction();
    await reader.get('k');
    await snapshotReader.get('k');
    await db.put('k', '2');
    await assert.rejects(reader.commit(), isCode('CONFLICT'));
    await snapshotReader.commit();
    await db.close();
  });

  it('a range delete after the snapshot conflicts with the keys and ranges it covers, and only those', async () => {
    const db = await DB.open(tempDir());
    await db.write(['a', 'c', 'e', 'g'].map((key) => ({ type: 'put' as const, key, value: 'v' })));
    const writer = db.transaction();
    writer.put('d', 'tx');
    const outside = db.transaction();
    outside.put('h', 'tx');
    const reader = db.transaction({ isolation: 'serializable' });
    assert.deepEqual((await reader.keys({ gt: 'a', lt: 'd' }).all()).map(String), ['c']);
    reader.put('0-count', '1');
    const readerOfOthers = db.transaction({ isolation: 'serializable' });
    assert.equal(await readerOfOthers.get('f'), undefined);
    readerOfOthers.put('0-seen', 'no');
    await db.deleteRange('b', 'e');
    await assert.rejects(writer.commit(), (err: unknown) => err instanceof ConflictError && String(err.key) === 'd');
    await assert.rejects(reader.commit(), (err: unknown) => err instanceof ConflictError && String(err.key) === 'b');
    await outside.commit();
    await readerOfOthers.commit();
    // An open-ended range delete covers every key from its start at the moment it commits.
    const late = db.transaction();
    late.put('g', 'tx');
    await db.deleteRange('f', undefined);
    await assert.rejects(late.commit(), isCode('CONFLICT'));
    assert.deepEqual((await db.keys().all()).map(String), ['0-seen', 'a', 'e']);
    db.checkInvariants();
    await db.close();
  });

  it('a snapshot older than the commit history reaches fails with CONFLICT, never a wrong answer', async () => {
    const db = await DB.open(tempDir(), { transactionHistoryBytesMax: 1024 });
    const old = db.transaction();
    old.put('mine', 'x');
    for (let i = 0; i < 100; i++) await db.put(`other-${i}`, 'v', { sync: false });
    await assert.rejects(old.commit(), (err: unknown) => err instanceof ConflictError && err.key === undefined && /transactionHistoryBytesMax/.test(err.message));
    assert.equal(await db.get('mine'), undefined);
    // A fresh one is checked against a history that reaches its snapshot.
    const fresh = db.transaction();
    fresh.put('mine', 'y');
    await fresh.commit();
    assert.equal(text(await db.get('mine')), 'y');
    db.checkInvariants();
    await db.close();
  });

  it('runTransaction retries on conflict with a fresh snapshot and returns what fn returned', async () => {
    const db = await DB.open(tempDir());
    await db.put('counter', '0');
    let runs = 0;
    const increments = Array.from({ length: 16 }, () =>
      db.runTransaction(async (tx) => {
        runs++;
        const value = Number(text(await tx.get('counter')));
        tx.put('counter', String(value + 1));
        return value;
      }, { retries: 100, sync: false }),
    );
    const seen = await Promise.all(increments);
    assert.deepEqual([...seen].sort((a, b) => a - b), Array.from({ length: 16 }, (_, i) => i));
    assert.equal(text(await db.get('counter')), '16');
    assert.ok(runs > 16, 'concurrent increments of one key conflicted and ran again');
    await db.close();
  });

  it('runTransaction gives up after retries, and aborts when fn throws', async () => {
    const db = await DB.open(tempDir());
    let runs = 0;
    await assert.rejects(
      db.runTransaction(async (tx) => {
        runs++;
        tx.put('k', 'tx');
        await db.put('k', 'interloper');
      }, { retries: 2 }),
      isCode('CONFLICT'),
    );
    assert.equal(runs, 3);
    let leaked: Transaction | undefined;
    await assert.rejects(
      db.runTransaction((tx) => {
        leaked = tx;
        tx.put('never', 'x');
        throw new Error('boom');
      }),
      /boom/,
    );
    assert.equal(leaked?.state, 'aborted');
    assert.equal(await db.get('never'), undefined);
    assert.equal(db.stats().liveSnapshotCount, 0);
    await db.close();
  });

  it('bad arguments are INVALID_ARGUMENT; a finished transaction is NOT_OPEN; limits hold', async () => {
    const db = await DB.open(tempDir(), { transactionBytesMax: 1024 });
    assert.throws(() => db.transaction({ isolation: 'repeatable-read' as 'snapshot' }), isCode('INVALID_ARGUMENT'));
    assert.throws(() => db.transaction({ isolaton: 'snapshot' } as object), isCode('INVALID_ARGUMENT'));
    await assert.rejects(db.runTransaction(() => undefined, { retries: -1 }), isCode('INVALID_ARGUMENT'));
    const tx = db.transaction();
    assert.throws(() => tx.put('k', 'v'.repeat(2000)), isCode('INVALID_ARGUMENT'));
    assert.throws(() => tx.iterator({ snapshot: db.snapshot() } as object), isCode('INVALID_ARGUMENT'));
    tx.put('k', 'v');
    assert.equal(text(await tx.get('k')), 'v');
    await assert.rejects(tx.commit({ snyc: true } as object), isCode('INVALID_ARGUMENT'));
    tx.abort();
    tx.abort();
    assert.throws(() => tx.put('k', 'v'), isCode('NOT_OPEN'));
    await assert.rejects(tx.get('k'), isCode('NOT_OPEN'));
    await assert.rejects(tx.commit(), isCode('NOT_OPEN'));
    assert.equal(await db.get('k'), undefined);
    // The caller's buffers are copied.
    const key = Buffer.from('mutable');
    const value = Buffer.from('before');
    const copying = db.transaction();
    copying.put(key, value);
    key.fill(0);
    value.fill(0);
    await copying.commit();
    assert.equal(text(await db.get('mutable')), 'before');
    const open = db.transaction();
    await db.close();
    await assert.rejects(open.get('k'), isCode('NOT_OPEN'));
    open.put('k', 'v');
    await assert.rejects(open.commit(), isCode('NOT_OPEN'));
  });

  it('an abandoned transaction is released when collected, with a warning', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const db = await DB.open(tempDir());
    const warnings: Error[] = [];
    const onWarning = (warning: Error): void => void warnings.push(warning);
    process.on('warning', onWarning);
    try {
      (() => {
        db.transaction().put('k', 'v');
      })();
      assert.equal(db.stats().liveSnapshotCount, 1);
      for (let i = 0; i < 20 && db.stats().liveSnapshotCount > 0; i++) {
        gc();
        await new Promise((resolve) => setImmediate(resolve));
      }
      assert.equal(db.stats().liveSnapshotCount, 0);
      await new Promise((resolve) => setImmediate(resolve));
      assert.ok(warnings.some((warning) => (warning as { code?: string }).code === 'SHALE_TRANSACTION_ABANDONED'));
      db.checkInvariants();
    } finally {
      process.off('warning', onWarning);
      await db.close();
    }
  });
});

describe('transactions: when a refused commit rejects', () => {
  it('only once the write it conflicted with is visible, so a retry on a fresh snapshot reads that write', async () => {
    const db = await DB.open(tempDir());
    await db.put('k', 'old');
    const tx = db.transaction();
    tx.put('k', 'mine');
    // In one write group: the plain put is sequenced first, the commit refused after it.
    const plain = db.put('k', 'theirs', { sync: true });
    const seen = await tx.commit().then(
      () => assert.fail('the commit conflicts with the plain put'),
      (err: unknown) => {
        assert.ok(err instanceof ConflictError, String(err));
        // At the moment of the rejection, not later.
        const retry = db.transaction();
        const value = text(retry.getSync('k'));
        retry.abort();
        return [text(db.getSync('k')), value];
      },
    );
    assert.deepEqual(seen, ['theirs', 'theirs']);
    await plain;
    await db.close();
  });
});

describe('transactions and range deletes', () => {
  const fill = async (db: DB, names: string): Promise<void> => {
    await db.write([...names].map((name) => ({ type: 'put' as const, key: name, value: name.toUpperCase() })));
  };

  it('a plain range delete after the snapshot over a key written (or, serializable, read or iterated) fails the commit', async () => {
    const db = await DB.open(tempDir());
    await fill(db, 'abcdefgh');
    // Snapshot isolation: a key written inside the range.
    const writer = db.transaction();
    writer.put('c', 'mine');
    const outside = db.transaction();
    outside.put('x', 'mine');
    await db.deleteRange('b', 'd');
    await assert.rejects(writer.commit(), (err: unknown) => err instanceof ConflictError && err.key?.toString() === 'c' && /range-deleted/.test(err.message));
    await outside.commit();
    // The range's end is exclusive: a write to it does not conflict.
    const atEnd = db.transaction();
    atEnd.put('d', 'mine');
    await db.write([{ type: 'deleteRange', start: 'a', end: 'd' }]);
    await atEnd.commit();
    // Serializable: a key read, and a range iterated that held no key at all.
    const reader = db.transaction({ isolation: 'serializable' });
    assert.equal(text(await reader.get('f')), 'F');
    reader.put('y', '1');
    const scanner = db.transaction({ isolation: 'serializable' });
    assert.deepEqual(await entries(scanner.iterator({ gte: 'a', lt: 'c' })), []);
    scanner.put('z', '1');
    const snapshotReader = db.transaction();
    assert.equal(text(await snapshotReader.get('f')), 'F');
    snapshotReader.put('w', '1');
    await db.deleteRange('ab', 'bb');
    await db.deleteRange('e', 'g');
    await assert.rejects(reader.commit(), isCode('CONFLICT'));
    await assert.rejects(scanner.commit(), isCode('CONFLICT'));
    await snapshotReader.commit();
    // A range delete with no end (every key from its start on) is recorded with the end it was given.
    const late = db.transaction();
    late.put('h', 'mine');
    await db.deleteRange('g', undefined);
    await assert.rejects(late.commit(), isCode('CONFLICT'));
    assert.deepEqual(await entries(db.iterator()), ['d=mine']);
    await db.close();
  });

  it('deleteRange hides the range from its own reads, except keys written after it; the commit applies it in that order', async () => {
    const dir = tempDir();
    const db = await DB.open(dir);
    await fill(db, 'abcdefgh');
    const tx = db.transaction();
    tx.put('c', 'before').put('g', 'kept');
    const early = tx.iterator();
    assert.equal(tx.deleteRange('b', 'e'), tx);
    tx.put('d', 'after');
    tx.deleteRange('f', 'g');
    assert.equal(await tx.get('b'), undefined);
    assert.equal(tx.getSync('c'), undefined);
    assert.equal(text(await tx.get('d')), 'after');
    assert.equal(text(await tx.get('e')), 'E');
    assert.equal(await tx.get('f'), undefined);
    assert.equal(text(await tx.get('g')), 'kept');
    assert.deepEqual(await entries(tx.iterator()), ['a=A', 'd=after', 'e=E', 'g=kept', 'h=H']);
    assert.deepEqual(await entries(tx.iterator({ reverse: true })), ['h=H', 'g=kept', 'e=E', 'd=after', 'a=A']);
    assert.deepEqual(await entries(tx.iterator({ gt: 'b', lte: 'f' })), ['d=after', 'e=E']);
    assert.deepEqual(await entries(tx.iterator({ gte: 'c', lt: 'e', reverse: true })), ['d=after']);
    const seeking = tx.iterator();
    seeking.seek('bb');
    assert.deepEqual((await seeking.next())?.map(String), ['d', 'after']);
    await seeking.close();
    const seekingBack = tx.iterator({ reverse: true });
    seekingBack.seek('cc');
    assert.deepEqual((await seekingBack.next())?.map(String), ['a', 'A']);
    await seekingBack.close();
    // An iterator made before the range delete keeps its view.
    assert.deepEqual(await entries(early), ['a=A', 'b=B', 'c=before', 'd=D', 'e=E', 'f=F', 'g=kept', 'h=H']);
    // Ranges that touch or overlap merge; deleting the put key again drops it.
    tx.deleteRange('e', 'f');
    tx.deleteRange('a', 'b');
    assert.deepEqual(await entries(tx.iterator()), ['d=after', 'g=kept', 'h=H']);
    // Nothing is applied before commit.
    assert.equal(text(await db.get('b')), 'B');
    const before = db.latestSequence;
    await tx.commit();
    // One range delete ([a, g), merged from four) and two key writes.
    assert.equal(db.latestSequence - before, 3n);
    const expected = ['d=after', 'g=kept', 'h=H'];
    assert.deepEqual(await entries(db.iterator()), expected);
    await db.close();
    const reopened = await DB.open(dir);
    assert.deepEqual(await entries(reopened.iterator()), expected);
    await reopened.close();
  });

  it('a transaction that deleted a range conflicts with any write into it after its snapshot, and with nothing outside it', async () => {
    const db = await DB.open(tempDir());
    await fill(db, 'abcdef');
    const clashes = db.transaction();
    clashes.deleteRange('b', 'd');
    const newKey = db.transaction();
    newKey.deleteRange('b', 'd');
    const overlapping = db.transaction();
    overlapping.deleteRange('k', 'm');
    const clear = db.transaction();
    clear.deleteRange('b', 'd');
    await db.put('c', 'other');
    await assert.rejects(clashes.commit(), (err: unknown) => err instanceof ConflictError && err.key?.toString() === 'c');
    // A key that did not exist at the snapshot, written inside the range.
    const racing = db.put('bb', 'new');
    await assert.rejects(newKey.commit(), isCode('CONFLICT'));
    await racing;
    // A range delete overlapping its range.
    await db.deleteRange('l', 'z');
    await assert.rejects(overlapping.commit(), isCode('CONFLICT'));
    // Writes beside the range, and at its exclusive end.
    await db.put('a', 'other');
    await db.put('d', 'other');
    clear.abort();
    const late = db.transaction();
    late.deleteRange('b', 'd');
    await db.put('a', 'again');
    await db.put('d', 'again');
    await late.commit();
    assert.deepEqual(await entries(db.iterator()), ['a=again', 'd=again', 'e=E', 'f=F']);
    await db.close();
  });

  it('bad ranges are INVALID_ARGUMENT; an empty range does nothing; ranges count toward transactionBytesMax', async () => {
    const db = await DB.open(tempDir(), { transactionBytesMax: 1024 });
    const tx = db.transaction();
    assert.throws(() => tx.deleteRange('b', 'a'), isCode('INVALID_ARGUMENT'));
    assert.throws(() => tx.deleteRange('a', undefined as unknown as string), isCode('INVALID_ARGUMENT'));
    assert.throws(() => tx.deleteRange('a'.repeat(600), 'b'.repeat(600)), isCode('INVALID_ARGUMENT'));
    tx.deleteRange('a', 'a');
    const before = db.latestSequence;
    await tx.commit();
    assert.equal(db.latestSequence, before);
    // Merging frees bytes: the put that did not fit beside two ranges fits beside their union.
    const merging = db.transaction();
    merging.deleteRange('a'.repeat(400), 'b');
    assert.throws(() => merging.put('k', 'v'.repeat(600)), isCode('INVALID_ARGUMENT'));
    merging.deleteRange('a', 'b');
    merging.put('k', 'v'.repeat(600));
    merging.abort();
    await db.close();
  });
});
