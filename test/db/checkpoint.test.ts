/**
 * db.checkpoint (src/db/checkpoint.ts): a checkpoint opens as a database equal to
 * the source at the checkpoint's sequence, while writes go on; tables are
 * hard-linked on one file system and copied where links are impossible; a bad
 * target is refused. Crash safety is in test/sim/crash-points.test.ts.
 */
import assert from 'node:assert/strict';
import * as nodeFs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { DB, ShaleError, type Options } from '../../src/index.js';
import type { FileSystem } from '../../src/fs/file-system.js';
import { CrashableFS } from '../../src/testing/crashable-fs.js';
import { FaultFS } from '../../src/testing/fault-fs.js';
import { isCode, SeededRandom, tempDir, testSeed } from '../helpers.js';
import { WriteLog, randomWrites, scan } from './write-log.js';

const SMALL: Options = { memtableSizeBytes: 8 * 1024, targetFileSizeBytes: 16 * 1024, levelBaseBytes: 64 * 1024, compactionExecutor: 'inline' };

describe('db.checkpoint', () => {
  it('a checkpoint taken while writes go on opens equal to the source at its sequence (full scans compared)', async () => {
    const seed = testSeed('checkpoint while writing');
    const random = new SeededRandom(seed);
    const dir = tempDir();
    const db = await DB.open(dir, SMALL);
    const log = new WriteLog();
    await randomWrites(db, log, random, 1500);
    const before = db.latestSequence;
    const target = path.join(tempDir(), 'checkpoint');
    // Writes keep going while the checkpoint runs.
    const [result] = await Promise.all([db.checkpoint(target), randomWrites(db, log, random, 400)]);
    assert.ok(result.sequence >= before, `the checkpoint's sequence ${result.sequence} misses writes acknowledged before it (${before})`);
    assert.ok(result.sequence <= db.latestSequence);
    assert.ok(result.tableCount > 0);
    await db.compactRange();
    await randomWrites(db, log, random, 200);

    const copy = await DB.open(target, { ...SMALL, createIfMissing: false });
    assert.equal(copy.latestSequence, result.sequence);
    assert.deepEqual(await scan(copy), log.stateAt(result.sequence));
    // The source goes on unaffected, and so does the checkpoint once written to.
    assert.deepEqual(await scan(db), log.stateAt(db.latestSequence));
    await copy.put('only-in-copy', 'x');
    assert.equal(await db.get('only-in-copy'), undefined);
    await copy.close();
    await db.close();
  });

  it('hard-links tables on one file system: the checkpoint shares their inodes and survives the source being deleted', async () => {
    const dir = tempDir();
    const db = await DB.open(dir, SMALL);
    const log = new WriteLog();
    await randomWrites(db, log, new SeededRandom(7), 800);
    const target = path.join(dir, '..', `${path.basename(dir)}-checkpoint`);
    const result = await db.checkpoint(target);
    assert.equal(result.linkedCount, result.tableCount);
    const tables = nodeFs.readdirSync(target).filter((name) => name.endsWith('.sst'));
    assert.equal(tables.length, result.tableCount);
    for (const name of tables) assert.equal(nodeFs.statSync(path.join(target, name)).ino, nodeFs.statSync(path.join(dir, name)).ino, name);
    assert.deepEqual(nodeFs.readdirSync(target).filter((name) => !name.endsWith('.sst')).sort(), ['CURRENT', `MANIFEST-${nodeFs.readFileSync(path.join(target, 'CURRENT'), 'latin1').trim().slice(9)}`]);
    await db.close();
    nodeFs.rmSync(dir, { recursive: true });
    const copy = await DB.open(target, { createIfMissing: false });
    assert.deepEqual(await scan(copy), log.stateAt(result.sequence));
    await copy.close();
    nodeFs.rmSync(target, { recursive: true });
  });

  it('copies tables where the file system cannot link them, and a checkpoint of an empty database is an empty database', async () => {
    const crashable = new CrashableFS();
    // The same file system without hard links.
    const fs = new Proxy(crashable, {
      get: (target, name) => {
        if (name === 'link') return undefined;
        const value: unknown = Reflect.get(target, name, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    }) as FileSystem;
    const empty = await DB.open('/empty', { fs });
    const emptyResult = await empty.checkpoint('/empty-checkpoint');
    assert.deepEqual({ ...emptyResult }, { sequence: 0n, tableCount: 0, linkedCount: 0, sizeBytes: 0 });
    await empty.close();
    const reopened = await DB.open('/empty-checkpoint', { fs, createIfMissing: false });
    assert.deepEqual(await scan(reopened), []);
    await reopened.close();

    const db = await DB.open('/db', { ...SMALL, fs });
    const log = new WriteLog();
    await randomWrites(db, log, new SeededRandom(11), 600);
    // A file system whose links fail as across devices (EXDEV): copied too.
    const crossDevice = new Proxy(crashable, {
      get: (target, name) => {
        if (name === 'link') return () => Promise.reject(Object.assign(new Error('EXDEV: cross-device link not permitted, link'), { code: 'EXDEV' }));
        const value: unknown = Reflect.get(target, name, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    }) as FileSystem;
    const other = await DB.open('/other', { ...SMALL, fs: crossDevice });
    await other.put('k', 'v');
    const crossResult = await other.checkpoint('/other-checkpoint');
    assert.equal(crossResult.linkedCount, 0);
    assert.equal(crossResult.tableCount, 1);
    await other.close();
    const otherCopy = await DB.open('/other-checkpoint', { fs: crossDevice, createIfMissing: false });
    assert.equal((await otherCopy.get('k'))?.toString(), 'v');
    await otherCopy.close();
    const result = await db.checkpoint('/nested/dir/checkpoint');
    assert.equal(result.linkedCount, 0);
    assert.ok(result.tableCount > 0);
    for (const name of await fs.list('/nested/dir/checkpoint')) {
      if (name.endsWith('.sst')) assert.ok(crashable.fileInfo(`/nested/dir/checkpoint/${name}`)!.syncedSize > 0, `${name} was not synced`);
    }
    await db.close();
    const copy = await DB.open('/nested/dir/checkpoint', { fs, createIfMissing: false });
    assert.deepEqual(await scan(copy), log.stateAt(result.sequence));
    await copy.close();
  });

  it('range deletes and expiring entries are in the checkpoint as in the source', async () => {
    let now = 1_000_000;
    const clock = (): number => now;
    const db = await DB.open(tempDir(), { ...SMALL, clock });
    for (let i = 0; i < 100; i++) await db.put(`k${String(i).padStart(3, '0')}`, `v${i}`);
    await db.flush();
    await db.deleteRange('k010', 'k050');
    await db.put('short', 'lived', { ttl: 1000 });
    await db.put('long', 'lived', { ttl: 1_000_000 });
    const target = path.join(tempDir(), 'checkpoint');
    await db.checkpoint(target);
    const expected = await scan(db);
    await db.close();
    assert.equal(expected.length, 62);
    const copy = await DB.open(target, { createIfMissing: false, clock });
    assert.deepEqual(await scan(copy), expected);
    now += 5000;
    assert.equal(await copy.get('short'), undefined);
    assert.equal((await copy.get('long'))?.toString(), 'lived');
    await copy.close();
  });

  it('refuses a target that exists, a bad target and a closed database, creating nothing', async () => {
    const dir = tempDir();
    const db = await DB.open(dir);
    await db.put('a', '1');
    const existing = tempDir();
    await assert.rejects(db.checkpoint(existing), isCode('EXISTS'));
    assert.deepEqual(nodeFs.readdirSync(existing), []);
    await assert.rejects(db.checkpoint(''), isCode('INVALID_ARGUMENT'));
    await assert.rejects(db.checkpoint(42 as unknown as string), isCode('INVALID_ARGUMENT'));
    await db.close();
    const target = path.join(tempDir(), 'never');
    await assert.rejects(db.checkpoint(target), isCode('NOT_OPEN'));
    assert.equal(nodeFs.existsSync(target), false);
  });

  it('an I/O error at any step of writing the target rejects with IO_ERROR and leaves the source as it was', async () => {
    let steps = 0;
    for (let nth = 1; ; nth++) {
      const fs = new FaultFS(new CrashableFS());
      const db = await DB.open('/db', { ...SMALL, fs });
      const log = new WriteLog();
      await randomWrites(db, log, new SeededRandom(nth), 300);
      const atCall = log.stateAt(db.latestSequence);
      fs.addRule({ op: ['mkdir', 'create', 'append', 'sync', 'syncDir', 'rename'], path: '/checkpoint', nth, error: 'EIO' });
      const outcome = await db.checkpoint('/checkpoint').then(
        () => 'resolved',
        (err: unknown) => {
          assert.ok(err instanceof ShaleError && err.code === 'IO_ERROR', `step ${nth}: ${String(err)}`);
          return 'rejected';
        },
      );
      // The source takes writes and reads as before.
      await log.put(db, 'after', 'the checkpoint');
      assert.deepEqual(await scan(db), log.stateAt(db.latestSequence), `step ${nth}`);
      await db.close();
      fs.clearRules();
      // A target with CURRENT is a complete checkpoint (the error came after CURRENT was in place); without, it does not open.
      if (await fs.exists('/checkpoint/CURRENT')) {
        const copy = await DB.open('/checkpoint', { fs, createIfMissing: false });
        assert.deepEqual(await scan(copy), atCall, `step ${nth}`);
        await copy.close();
      } else {
        await assert.rejects(DB.open('/checkpoint', { fs, createIfMissing: false }), `step ${nth}`);
      }
      if (outcome === 'resolved') break;
      steps++;
    }
    assert.ok(steps > 5, `only ${steps} failing steps`);
  });

  it('a read-only database refuses checkpoints and backups with READ_ONLY, and exports and estimates as a writer does', async () => {
    const dir = tempDir();
    const writer = await DB.open(dir);
    for (let i = 0; i < 50; i++) await writer.put(`k${i}`, `v${i}`);
    await writer.flush();
    const reader = await DB.open(dir, { readOnly: true });
    await assert.rejects(reader.checkpoint(path.join(tempDir(), 'c')), isCode('READ_ONLY'));
    await assert.rejects(reader.backup(path.join(tempDir(), 'b')), isCode('READ_ONLY'));
    assert.equal(await reader.approximateCount(), await writer.approximateCount());
    assert.equal(await reader.approximateSize(), await writer.approximateSize());
    const exported: Buffer[] = [];
    for await (const chunk of reader.export()) exported.push(chunk as Buffer);
    const written: Buffer[] = [];
    for await (const chunk of writer.export()) written.push(chunk as Buffer);
    assert.deepEqual(Buffer.concat(exported), Buffer.concat(written));
    await reader.close();
    await writer.close();
  });

  it('close waits for a checkpoint under way', async () => {
    const db = await DB.open(tempDir(), SMALL);
    const log = new WriteLog();
    await randomWrites(db, log, new SeededRandom(3), 300);
    const target = path.join(tempDir(), 'checkpoint');
    const checkpoint = db.checkpoint(target);
    // Let the checkpoint's flush start before close begins.
    await new Promise((resolve) => setImmediate(resolve));
    await db.close();
    const result = await checkpoint;
    const copy = await DB.open(target, { createIfMissing: false });
    assert.deepEqual(await scan(copy), log.stateAt(result.sequence));
    await copy.close();
  });
});
