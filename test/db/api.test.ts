import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DB } from '../../src/index.js';
import { isCode, scriptFile, tempDir } from '../helpers.js';

const indexModule = fileURLToPath(new URL('../../src/index.js', import.meta.url));

describe('DB API', () => {
  it('puts, gets, deletes and overwrites; strings and bytes are interchangeable', async () => {
    const db = await DB.open(tempDir());
    await db.put('a', 'one');
    await db.put(Buffer.from('b'), new Uint8Array([1, 2, 3]));
    assert.equal((await db.get(Buffer.from('a')))?.toString(), 'one');
    assert.deepEqual([...((await db.get('b')) ?? [])], [1, 2, 3]);
    await db.put('a', 'two');
    assert.equal((await db.get('a'))?.toString(), 'two');
    await db.delete('a');
    assert.equal(await db.get('a'), undefined);
    assert.equal(await db.get('never'), undefined);
    await db.put('', 'empty key');
    assert.equal((await db.get(''))?.toString(), 'empty key');
    assert.equal(db.latestSequence, 5n);
    await db.close();
  });

  it('keeps its own copies: changing a Buffer after put or after get changes nothing stored', async () => {
    const db = await DB.open(tempDir());
    const value = Buffer.from('original');
    const pending = db.put('k', value);
    value.write('CHANGED!');
    await pending;
    const read = (await db.get('k'))!;
    assert.equal(read.toString(), 'original');
    read.write('mutated!');
    assert.equal((await db.get('k'))?.toString(), 'original');
    await db.close();
  });

  it('applies a batch atomically and in order, across reopen', async () => {
    const dir = tempDir();
    let db = await DB.open(dir);
    await db.put('gone', 'x');
    await db.write([
      { type: 'put', key: 'a', value: '1' },
      { type: 'delete', key: 'gone' },
      { type: 'put', key: 'a', value: '2' },
      { type: 'put', key: 'b', value: '3' },
    ]);
    assert.equal(db.latestSequence, 5n);
    await db.close();
    db = await DB.open(dir);
    assert.equal((await db.get('a'))?.toString(), '2');
    assert.equal((await db.get('b'))?.toString(), '3');
    assert.equal(await db.get('gone'), undefined);
    assert.equal(db.latestSequence, 5n);
    await db.close();
  });

  it('resolves concurrent writes in the order they were issued, with consecutive sequence numbers', async () => {
    const dir = tempDir();
    const db = await DB.open(dir);
    const order: number[] = [];
    const writes = Array.from({ length: 100 }, (_, i) =>
      db.put('same-key', `v${i}`, { sync: i % 3 === 0 }).then(() => order.push(i)),
    );
    await Promise.all(writes);
    assert.deepEqual(order, Array.from({ length: 100 }, (_, i) => i));
    assert.equal((await db.get('same-key'))?.toString(), 'v99');
    assert.equal(db.latestSequence, 100n);
    await db.close();
    const reopened = await DB.open(dir);
    assert.equal((await reopened.get('same-key'))?.toString(), 'v99');
    await reopened.close();
  });

  it('rejects bad keys, values, batches and options with INVALID_ARGUMENT and writes nothing', async () => {
    const db = await DB.open(tempDir(), { keyBytesMax: 8, valueBytesMax: 16 });
    const bad: (() => Promise<unknown>)[] = [
      () => db.put(42 as never, 'v'),
      () => db.put(null as never, 'v'),
      () => db.put(undefined as never, 'v'),
      () => db.put({} as never, 'v'),
      () => db.put('k', 7 as never),
      () => db.put('k', undefined as never),
      () => db.put('123456789', 'v'),
      () => db.put('k', 'x'.repeat(17)),
      () => db.get(5 as never),
      () => db.get('123456789'),
      () => db.delete([] as never),
      () => db.write('nope' as never),
      () => db.write([{ type: 'merge', key: 'k', value: 'v' } as never]),
      () => db.write([{ type: 'put', key: 'k', value: 'v' }, null as never]),
      () => db.write([{ type: 'put', key: 'ok', value: 'v' }, { type: 'put', key: 'k' } as never]),
      () => db.put('k', 'v', { sync: 'yes' } as never),
      () => db.put('k', 'v', 3 as never),
    ];
    for (const call of bad) await assert.rejects(call(), isCode('INVALID_ARGUMENT'));
    assert.equal(db.latestSequence, 0n);
    assert.equal(await db.get('ok'), undefined);
    await db.close();
    await assert.rejects(DB.open(tempDir(), { memtableSizeBytes: -1 }), isCode('INVALID_ARGUMENT'));
    await assert.rejects(DB.open(tempDir(), { walRecovery: 'maybe' as never }), isCode('INVALID_ARGUMENT'));
    await assert.rejects(DB.open(tempDir(), { noSuchOption: true } as never), isCode('INVALID_ARGUMENT'));
    await assert.rejects(DB.open(''), isCode('INVALID_ARGUMENT'));
  });

  it('a misspelt option of any call is INVALID_ARGUMENT naming it, as at open; the right names still work', async () => {
    const db = await DB.open(tempDir());
    await assert.rejects(db.put('k', 'v', { snyc: false } as never), /unknown write option snyc/);
    await assert.rejects(db.delete('k', { sync: true, fast: 1 } as never), isCode('INVALID_ARGUMENT'));
    await assert.rejects(db.write([], { Sync: true } as never), isCode('INVALID_ARGUMENT'));
    await assert.rejects(db.get('k', { snapshots: db.snapshot() } as never), /unknown read option snapshots/);
    await assert.rejects(db.getMany(['k'], { fillCache: false } as never), isCode('INVALID_ARGUMENT'));
    assert.throws(() => db.getSync('k', { fillCache: false } as never), isCode('INVALID_ARGUMENT'));
    assert.throws(() => db.iterator({ revrse: true } as never), /unknown iterator option revrse/);
    assert.throws(() => db.keys({ start: 'a' } as never), isCode('INVALID_ARGUMENT'));
    assert.equal(db.latestSequence, 0n);
    await db.put('k', 'v', { sync: false });
    const snapshot = db.snapshot();
    assert.equal((await db.get('k', { snapshot }))?.toString(), 'v');
    assert.deepEqual(
      (await db.keys({ gte: 'a', lt: 'z', reverse: true, limit: 5, snapshot }).all()).map(String),
      ['k'],
    );
    snapshot.release();
    await db.close();
  });

  it('close waits for queued writes; operations after close are NOT_OPEN; closing twice is harmless', async () => {
    const dir = tempDir();
    const db = await DB.open(dir);
    const writes = Array.from({ length: 20 }, (_, i) => db.put(`k${i}`, 'v', { sync: false }));
    const closing = db.close();
    assert.equal(db.isOpen, false);
    await Promise.all(writes);
    await closing;
    await db.close();
    await assert.rejects(db.put('x', 'y'), isCode('NOT_OPEN'));
    await assert.rejects(db.get('k1'), isCode('NOT_OPEN'));
    await assert.rejects(db.delete('k1'), isCode('NOT_OPEN'));
    await assert.rejects(db.write([]), isCode('NOT_OPEN'));
    const reopened = await DB.open(dir);
    assert.equal(reopened.latestSequence, 20n);
    await reopened.close();
  });

  it('createIfMissing: false rejects a missing database with NOT_FOUND; errorIfExists rejects an existing one', async () => {
    const missing = path.join(tempDir(), 'nothing-here');
    await assert.rejects(DB.open(missing, { createIfMissing: false }), isCode('NOT_FOUND'));
    assert.equal(fs.existsSync(missing), false);
    const emptyDir = tempDir();
    await assert.rejects(DB.open(emptyDir, { createIfMissing: false }), isCode('NOT_FOUND'));
    const dir = tempDir();
    await (await DB.open(dir)).close();
    await assert.rejects(DB.open(dir, { errorIfExists: true }), isCode('EXISTS'));
    await (await DB.open(dir, { createIfMissing: false })).close();
  });

  it('creates missing parent directories', async () => {
    const dir = path.join(tempDir(), 'a', 'b', 'c');
    const db = await DB.open(dir);
    await db.put('k', 'v');
    await db.close();
    assert.ok(fs.existsSync(path.join(dir, 'CURRENT')));
  });
});

describe('LOCK', () => {
  it('a second open in the same process is LOCKED until the first closes', async () => {
    const dir = tempDir();
    const db = await DB.open(dir);
    await assert.rejects(DB.open(dir), isCode('LOCKED'));
    await assert.rejects(DB.open(path.join(dir, '.', '')), isCode('LOCKED'));
    await db.close();
    await (await DB.open(dir)).close();
  });

  it('an open by another process is LOCKED while it lives, and its lock does not survive a kill', async () => {
    const dir = tempDir();
    const child = spawn(
      process.execPath,
      // A script file, not `--input-type=module -e`: Deno runs -e code as a classic script, without top-level await.
      [scriptFile(`const { DB } = await import(${JSON.stringify(indexModule)}); await DB.open(${JSON.stringify(dir)}); console.log('open'); setInterval(() => {}, 1000);`)],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => chunk.toString().includes('open') && resolve());
      child.on('exit', (code) => reject(new Error(`child exited early with ${code}`)));
    });
    await assert.rejects(DB.open(dir), isCode('LOCKED'));
    const exited = new Promise((resolve) => child.on('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    assert.ok(fs.existsSync(path.join(dir, 'LOCK')), 'the killed process left its LOCK behind');
    const db = await DB.open(dir);
    await db.close();
  });

  it('a database its opener dropped without closing keeps its files and its LOCK through garbage collection', async (t) => {
    const dir = tempDir();
    // Node exposes gc through a V8 flag, Bun as Bun.gc; elsewhere the test cannot force a collection.
    const child = spawn(
      process.execPath,
      [
        scriptFile(`
          const { DB } = await import(${JSON.stringify(indexModule)});
          let gc = globalThis.Bun ? () => globalThis.Bun.gc(true) : undefined;
          if (!gc) {
            try {
              (await import('node:v8')).setFlagsFromString('--expose-gc');
              gc = (await import('node:vm')).runInNewContext('gc');
            } catch {}
          }
          if (typeof gc !== 'function') { console.log('no-gc'); process.exit(0); }
          await (async () => { const db = await DB.open(${JSON.stringify(dir)}); await db.put('k', 'v', { sync: true }); })();
          for (let i = 0; i < 5; i++) { gc(); await new Promise((resolve) => setTimeout(resolve, 20)); }
          console.log('collected');
          setInterval(() => {}, 1000);`),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const said = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => resolve(chunk.toString().trim()));
      child.on('exit', (code) => reject(new Error(`child exited early with ${code}: ${stderr}`)));
    });
    if (said === 'no-gc') {
      t.skip('this runtime gives no way to force a garbage collection');
      return;
    }
    assert.equal(said, 'collected');
    await assert.rejects(DB.open(dir), isCode('LOCKED'));
    assert.equal(child.exitCode, null, 'the child is still alive');
    const exited = new Promise((resolve) => child.on('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    assert.doesNotMatch(stderr, /garbage collection/i, 'no file handle was left to the collector');
    const db = await DB.open(dir);
    assert.equal((await db.get('k'))?.toString(), 'v');
    await db.close();
  });
});
