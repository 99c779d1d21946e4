/**
 * ShaleLevel's own behaviour, beyond abstract-level's shared suite: encodings on
 * shale's bytes, sublevels, the error codes of a locked or missing directory and
 * of oversized keys and values, explicit snapshots, ranged clear, persistence
 * across reopen, and the shale options it passes through.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { DB, ShaleError } from '../../src/index.js';
import { LevelError, ShaleLevel, type ShaleLevelOptions } from '../../src/level/index.js';
import { CrashableFS, FaultFS } from '../../src/testing/index.js';
import { filesMatching, tempDir } from '../helpers.js';

/** A predicate for `assert.rejects`: an error with `code`, and (if given) a cause with `causeCode`. */
function hasCode(code: string, causeCode?: string) {
  return (err: unknown): boolean => {
    assert.equal((err as { code?: unknown }).code, code, String(err));
    if (causeCode !== undefined) assert.equal((err as { cause?: { code?: unknown } }).cause?.code, causeCode, String(err));
    return true;
  };
}

describe('ShaleLevel', () => {
  it('stores utf8, json and view encodings as bytes, and reads each back in the encoding asked for', async () => {
    const db = new ShaleLevel<string, unknown>(tempDir(), { valueEncoding: 'json' });
    await db.put('doc', { n: 1, tags: ['a'] });
    assert.deepEqual(await db.get('doc'), { n: 1, tags: ['a'] });
    assert.equal(await db.get('doc', { valueEncoding: 'utf8' }), '{"n":1,"tags":["a"]}');

    const bytes = Uint8Array.from([0, 255, 128]);
    await db.put('raw', bytes, { valueEncoding: 'view' });
    const view = await db.get<string, Uint8Array>('raw', { valueEncoding: 'view' });
    assert.ok(view instanceof Uint8Array && !Buffer.isBuffer(view), 'view gives a plain Uint8Array');
    assert.deepEqual([...view], [0, 255, 128]);
    const buffer = await db.get<string, Buffer>('raw', { valueEncoding: 'buffer' });
    assert.ok(Buffer.isBuffer(buffer));
    assert.deepEqual([...buffer], [0, 255, 128]);

    // Keys order bytewise whatever the encoding: 0xff sorts after every utf8 'z'.
    await db.put(Uint8Array.from([0xff]), 'high', { keyEncoding: 'view', valueEncoding: 'utf8' });
    await db.put('z', 'low', { valueEncoding: 'utf8' });
    const keys = await db.keys({ keyEncoding: 'buffer', gte: Buffer.from('z') }).all();
    assert.deepEqual(
      keys.map((key) => (key as unknown as Buffer).toString('hex')),
      ['7a', 'ff'],
    );
    await db.close();
  });

  it('takes ttl and expiresAt in put, in batch options (for every put) and per batch operation, on the clock given', async () => {
    const time = { ms: 5_000_000 };
    const db = new ShaleLevel(tempDir(), { clock: () => time.ms });
    try {
      await db.put('put', 'a', { ttl: 10 } as never);
      await db.batch([{ type: 'put', key: 'batch', value: 'b' }, { type: 'put', key: 'own', value: 'c', ttl: 100 } as never, { type: 'del', key: 'none' }], { ttl: 20 } as never);
      await db.batch().put('chained', 'd', { expiresAt: time.ms + 30 } as never).write();
      await db.put('forever', 'e');
      assert.deepEqual(await db.keys().all(), ['batch', 'chained', 'forever', 'own', 'put']);
      time.ms += 10;
      assert.equal(await db.get('put'), undefined);
      time.ms += 10;
      assert.deepEqual(await db.keys().all(), ['chained', 'forever', 'own'], 'the batch ttl applied to the put without its own');
      time.ms += 10;
      assert.deepEqual(await db.getMany(['chained', 'own', 'forever']), [undefined, 'c', 'e']);
      time.ms += 70;
      assert.deepEqual(await db.keys().all(), ['forever']);
      await assert.rejects(db.put('k', 'v', { ttl: -1 } as never), (err: Error & { cause?: { code?: string } }) => err.cause?.code === 'INVALID_ARGUMENT' || /ttl/.test(err.message));
    } finally {
      await db.close();
    }
  });

  it('gives a sublevel its own keyspace and encodings, atomically batched with the root', async () => {
    const db = new ShaleLevel(tempDir());
    const users = db.sublevel<string, { name: string }>('users', { valueEncoding: 'json' });
    await users.put('1', { name: 'Ada' });
    // Each operation is encoded by its own database: json for the sublevel's, utf8 for the root's.
    await db.batch<string, unknown>(
      [
        { type: 'put', sublevel: users, key: '2', value: { name: 'Grace' } },
        { type: 'put', key: 'plain', value: 'root value' },
      ],
      {},
    );
    assert.deepEqual(await users.get('2'), { name: 'Grace' });
    assert.deepEqual(await users.iterator().all(), [
      ['1', { name: 'Ada' }],
      ['2', { name: 'Grace' }],
    ]);
    assert.deepEqual(await users.keys({ reverse: true, limit: 1 }).all(), ['2']);
    // The root sees the prefixed keys, stored by shale as they are.
    assert.deepEqual(await db.keys().all(), ['!users!1', '!users!2', 'plain']);
    await db.close();
  });

  it('opening a directory another database holds fails with LEVEL_LOCKED as the cause', async () => {
    const dir = tempDir();
    const first = new ShaleLevel(dir);
    await first.open();
    const second = new ShaleLevel(dir);
    await assert.rejects(second.open(), hasCode('LEVEL_DATABASE_NOT_OPEN', 'LEVEL_LOCKED'));
    assert.equal(second.status, 'closed');
    // The cause keeps shale's own error.
    await second.open().catch((err: { cause: LevelError }) => {
      assert.ok(err.cause instanceof LevelError);
      assert.ok(err.cause.cause instanceof ShaleError && err.cause.cause.code === 'LOCKED');
    });
    // A plain shale DB is locked out the same way, and the lock is free again after close.
    await assert.rejects(DB.open(dir), (err: unknown) => err instanceof ShaleError && err.code === 'LOCKED');
    await first.close();
    await second.open();
    assert.equal(second.status, 'open');
    await second.close();
  });

  it('createIfMissing: false on a missing directory and errorIfExists on a database fail with shale codes as the cause', async () => {
    const missing = new ShaleLevel(`${tempDir()}/absent`, { createIfMissing: false });
    await assert.rejects(missing.open(), hasCode('LEVEL_DATABASE_NOT_OPEN', 'NOT_FOUND'));
    const dir = tempDir();
    const db = new ShaleLevel(dir);
    await db.open();
    await db.close();
    await assert.rejects(db.open({ errorIfExists: true }), hasCode('LEVEL_DATABASE_NOT_OPEN', 'EXISTS'));
  });

  it('keys and values over shale limits are LEVEL_INVALID_KEY and LEVEL_INVALID_VALUE', async () => {
    const db = new ShaleLevel(tempDir(), { keyBytesMax: 8, valueBytesMax: 16 });
    await assert.rejects(db.put('123456789', 'v'), hasCode('LEVEL_INVALID_KEY', 'INVALID_ARGUMENT'));
    await assert.rejects(db.put('k', 'x'.repeat(17)), hasCode('LEVEL_INVALID_VALUE', 'INVALID_ARGUMENT'));
    await assert.rejects(
      db.batch([
        { type: 'put', key: 'ok', value: 'fine' },
        { type: 'del', key: '123456789' },
      ]),
      hasCode('LEVEL_INVALID_KEY'),
    );
    await assert.rejects(db.get('123456789'), hasCode('LEVEL_INVALID_KEY'));
    // A rejected batch wrote nothing.
    assert.equal(await db.get('ok'), undefined);
    await db.put('12345678', 'x'.repeat(16));
    assert.equal(await db.get('12345678'), 'x'.repeat(16));
    await db.close();
  });

  it('explicit snapshots read the past, in get, getMany, has and iterators, until closed', async () => {
    const db = new ShaleLevel(tempDir());
    await db.batch([
      { type: 'put', key: 'a', value: '1' },
      { type: 'put', key: 'b', value: '2' },
    ]);
    const snapshot = db.snapshot();
    await db.put('a', 'changed');
    await db.del('b');
    await db.put('c', 'new');
    assert.equal(await db.get('a', { snapshot }), '1');
    assert.deepEqual(await db.getMany(['a', 'b', 'c'], { snapshot }), ['1', '2', undefined]);
    assert.deepEqual(await db.hasMany(['a', 'b', 'c'], { snapshot }), [true, true, false]);
    assert.deepEqual(await db.iterator({ snapshot }).all(), [
      ['a', '1'],
      ['b', '2'],
    ]);
    assert.deepEqual(await db.iterator().all(), [
      ['a', 'changed'],
      ['c', 'new'],
    ]);
    await snapshot.close();
    await assert.rejects(db.get('a', { snapshot }), hasCode('LEVEL_SNAPSHOT_NOT_OPEN'));
    await assert.rejects(async () => db.iterator({ snapshot }).all(), hasCode('LEVEL_SNAPSHOT_NOT_OPEN'));
    await db.close();
  });

  it('clear deletes a range (gte wins over gt, as in abstract-level), with limit and reverse', async () => {
    // Tiny memtables: the keys are spread over flushed tables and the memtable.
    const db = new ShaleLevel(tempDir(), { memtableSizeBytes: 1024, blockSizeBytes: 64 });
    const keys = Array.from({ length: 3000 }, (_, i) => `k${String(i).padStart(4, '0')}`);
    await db.batch(keys.map((key) => ({ type: 'put' as const, key, value: 'v' })));
    await db.clear({ gte: 'k1000', gt: 'k2000', lt: 'k2500' });
    await db.clear({ lt: 'k1000', reverse: true, limit: 10 });
    const left = await db.keys().all();
    const expected = keys.filter((key) => !(key >= 'k1000' && key < 'k2500') && !(key >= 'k0990' && key < 'k1000'));
    assert.equal(left.length, expected.length);
    assert.deepEqual(left, expected);
    await db.close();
  });

  it('clear without a limit is one range delete: a few WAL bytes whatever the key count, bounds honoured, later writes kept', async () => {
    const db = new ShaleLevel(tempDir(), { memtableSizeBytes: 1024, blockSizeBytes: 64 });
    const keys = Array.from({ length: 3000 }, (_, i) => `k${String(i).padStart(4, '0')}`);
    await db.batch(keys.map((key) => ({ type: 'put' as const, key, value: 'v' })));
    const walBytes = (): number => db.stats().walBytesWritten;
    let before = walBytes();
    await db.clear({ gt: 'k0100', lte: 'k0200' });
    await db.clear({ gte: 'k2000', lt: 'k2100' });
    await db.clear({ gte: 'k0500', lt: 'k0400' });
    assert.ok(walBytes() - before < 200, `three ranged clears wrote ${walBytes() - before} WAL bytes`);
    assert.deepEqual(await db.keys().all(), keys.filter((key) => !(key > 'k0100' && key <= 'k0200') && !(key >= 'k2000' && key < 'k2100')));
    before = walBytes();
    await db.clear({ gte: 'k2900' });
    await db.clear();
    assert.ok(walBytes() - before < 200, `two unbounded clears wrote ${walBytes() - before} WAL bytes`);
    assert.deepEqual(await db.keys().all(), []);
    await db.put('k0001', 'after');
    assert.deepEqual(await db.keys().all(), ['k0001']);
    await db.close();
  });

  it('keeps what was written across close and reopen, with shale options applying to every open', async () => {
    const dir = tempDir();
    const db = new ShaleLevel<string, number>(dir, { valueEncoding: 'json', memtableSizeBytes: 1024 });
    for (let i = 0; i < 200; i++) await db.put(`n${i}`, i);
    await db.close();
    await db.open();
    assert.equal(await db.get('n199'), 199);
    assert.equal((await db.values({ gte: 'n10', lt: 'n11' }).all()).length, 11);
    await db.close();

    const reopened = new ShaleLevel<string, number>(dir, { valueEncoding: 'json' });
    assert.deepEqual(await reopened.getMany(['n0', 'n150', 'missing']), [0, 150, undefined]);
    await reopened.close();

    // Shale's own validation of its options surfaces as the cause of the failed open.
    const bad = new ShaleLevel(tempDir(), { memtableSizeBytes: 1 });
    await assert.rejects(bad.open(), hasCode('LEVEL_DATABASE_NOT_OPEN', 'INVALID_ARGUMENT'));
  });

  it('a failed fsync is LEVEL_IO_ERROR, and so is every later write', async () => {
    const faulty = new FaultFS(new CrashableFS());
    const db = new ShaleLevel('/db', { fs: faulty });
    await db.put('before', 'ok');
    faulty.addRule({ op: 'sync', error: 'EIO' });
    await assert.rejects(db.put('during', 'x'), hasCode('LEVEL_IO_ERROR', 'IO_ERROR'));
    faulty.clearRules();
    await assert.rejects(db.put('after', 'x'), hasCode('LEVEL_IO_ERROR', 'IO_ERROR'));
    assert.equal(await db.get('before'), 'ok');
    await db.close();
  });

  it('a damaged table block is LEVEL_CORRUPTION, never data', async () => {
    const dir = tempDir();
    const db = new ShaleLevel(dir, { compression: 'none' });
    await db.batch(Array.from({ length: 100 }, (_, i) => ({ type: 'put' as const, key: `key${i}`, value: `value${i}` })));
    await db.close();
    // Reopening turns the log into a table; damage the first data block of that table.
    await db.open();
    await db.close();
    const [table] = filesMatching(dir, /\.sst$/);
    assert.ok(table !== undefined, 'reopen wrote a table');
    const file = path.join(dir, table);
    const bytes = fs.readFileSync(file);
    bytes[16] = bytes[16]! ^ 0xff;
    fs.writeFileSync(file, bytes);
    await db.open();
    await assert.rejects(db.get('key0'), hasCode('LEVEL_CORRUPTION', 'CORRUPTION'));
    await assert.rejects(db.iterator().all(), hasCode('LEVEL_CORRUPTION', 'CORRUPTION'));
    await db.close();
  });

  it('an abort during a read rejects it with LEVEL_ABORTED', async () => {
    const db = new ShaleLevel(tempDir());
    await db.put('a', '1');
    const controller = new AbortController();
    const iterator = db.iterator({ signal: controller.signal });
    const pending = iterator.next();
    controller.abort();
    await assert.rejects(pending, (err: unknown) => hasCode('LEVEL_ABORTED')(err) && (err as Error).name === 'AbortError');
    await iterator.close();
    await db.close();
  });

  it('seek moves within the iterator range and its snapshot', async () => {
    const db = new ShaleLevel(tempDir());
    await db.batch(['a', 'b', 'c', 'd'].map((key) => ({ type: 'put' as const, key, value: key.toUpperCase() })));
    const iterator = db.iterator({ gte: 'b' });
    await db.put('bb', 'written after the iterator');
    iterator.seek('b\x00');
    assert.deepEqual(await iterator.next(), ['c', 'C']);
    iterator.seek('a'); // below the range: the iterator ends
    assert.equal(await iterator.next(), undefined);
    iterator.seek('b');
    assert.deepEqual(await iterator.nextv(10), [
      ['b', 'B'],
      ['c', 'C'],
      ['d', 'D'],
    ]);
    await iterator.close();
    await db.close();
  });
});

describe('ShaleLevel: what the engine can do', () => {
  it('opens read-only beside a writer: reads, refresh() moves on, writes reject with READ_ONLY, metrics() is Prometheus text', async () => {
    const dir = tempDir();
    const writer = new ShaleLevel(dir);
    await writer.put('a', '1');
    const reader = new ShaleLevel(dir, { readOnly: true });
    assert.equal(await reader.get('a'), '1');
    await writer.put('a', '2');
    assert.equal(await reader.get('a'), '1');
    await reader.refresh();
    assert.equal(await reader.get('a'), '2');
    await assert.rejects(reader.put('b', '1'), hasCode('READ_ONLY'));
    await assert.rejects(reader.batch([{ type: 'del', key: 'a' }]), hasCode('READ_ONLY'));
    assert.match(reader.metrics(), /^shale_read_only 1$/m);
    await reader.close();
    assert.throws(() => reader.metrics(), hasCode('LEVEL_DATABASE_NOT_OPEN'));
    await writer.close();
  });

  it('declares compactRange, getProperty, stats, flush, refresh, metrics, transaction and runTransaction, and the DB events, in supports', () => {
    const db = new ShaleLevel(tempDir());
    assert.deepEqual(db.supports.additionalMethods, { compactRange: true, getProperty: true, stats: true, flush: true, refresh: true, metrics: true, transaction: true, runTransaction: true });
    for (const name of ['flush', 'compaction', 'stall', 'background-error']) assert.equal(db.supports.events[name], true, name);
    return db.close();
  });

  it('passes flush, compactRange, stats and getProperty through, and re-emits flush and compaction events', async () => {
    const db = new ShaleLevel(tempDir(), { l0CompactionTrigger: 2 });
    const flushes: unknown[] = [];
    const compactions: unknown[] = [];
    db.on('flush' as never, (event: unknown) => flushes.push(event));
    db.on('compaction' as never, (event: unknown) => compactions.push(event));
    await db.put('a', '1'); // before the open finishes: flush below waits for it
    await db.flush();
    await db.put('b', '2');
    await db.compactRange('a', 'z');
    assert.ok(flushes.length >= 2, `flush events: ${flushes.length}`);
    assert.ok(compactions.length >= 1, `compaction events: ${compactions.length}`);
    const stats = db.stats();
    assert.equal(stats.flushCount, flushes.length);
    assert.equal(stats.levels[0]!.fileCount, 0, 'compactRange moved L0 down');
    assert.match(db.getProperty('shale.levels') ?? '', /^level {2}files/);
    assert.equal(db.getProperty('no.such.property'), undefined);
    assert.deepEqual(await db.keys().all(), ['a', 'b']);
    await db.close();
    assert.throws(() => db.stats(), hasCode('LEVEL_DATABASE_NOT_OPEN'));
    await assert.rejects(db.flush(), hasCode('LEVEL_DATABASE_NOT_OPEN'));
  });

  it('validates every shale option as DB.open does: a bad one fails the open', async () => {
    const bad: ShaleLevelOptions<string, string>[] = [
      { compactionExecutor: 'bogus' as 'inline' },
      { memtableSizeBytes: 'big' as unknown as number },
      { walRecovery: 'maybe' as 'absolute' },
      { autoCompaction: 1 as unknown as boolean },
    ];
    for (const options of bad) {
      await assert.rejects(new ShaleLevel(tempDir(), options).open(), hasCode('LEVEL_DATABASE_NOT_OPEN', 'INVALID_ARGUMENT'), JSON.stringify(options));
    }
  });

  it("takes classic-level's cacheSize, writeBufferSize, blockSize and boolean compression as shale's options", async () => {
    const db = new ShaleLevel(tempDir(), { cacheSize: 1024 * 1024, writeBufferSize: 64 * 1024, blockSize: 1024, compression: false });
    await db.open();
    assert.equal(db.stats().blockCache.capacityBytes, 1024 * 1024);
    await db.close();
    await assert.rejects(new ShaleLevel(tempDir(), { cacheSize: 1, blockCacheBytes: 2 }).open(), hasCode('LEVEL_DATABASE_NOT_OPEN', 'INVALID_ARGUMENT'));
    await assert.rejects(new ShaleLevel(tempDir(), { blockSize: 1 }).open(), hasCode('LEVEL_DATABASE_NOT_OPEN', 'INVALID_ARGUMENT'), 'the mapped value is validated too');
  });

  it("leaves other names to the user, as abstract-level does: postopen hooks see them, and they change nothing", async () => {
    const db = new ShaleLevel(tempDir(), { userland: 123 } as never);
    let seen: unknown;
    db.hooks.postopen.add(async (options: unknown) => void (seen = options));
    await db.open();
    assert.deepEqual(seen, { createIfMissing: true, errorIfExists: false, userland: 123 });
    await db.close();
  });

  it('level-read-stream reads a range as a Node stream', async () => {
    const { EntryStream } = await import('level-read-stream');
    const db = new ShaleLevel<string, string>(tempDir());
    await db.batch(Array.from({ length: 50 }, (_, i) => ({ type: 'put' as const, key: `k${String(i).padStart(2, '0')}`, value: `v${i}` })));
    const entries: [string, string][] = [];
    for await (const entry of new EntryStream(db, { gte: 'k10', lt: 'k20' }) as AsyncIterable<{ key: string; value: string }>) entries.push([entry.key, entry.value]);
    assert.deepEqual(entries, Array.from({ length: 10 }, (_, i) => [`k${10 + i}`, `v${10 + i}`]));
    await db.close();
  });
});
