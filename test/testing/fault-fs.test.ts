import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CrashableFS, FaultFS, Rng, seedFromEnv } from '../../src/testing/index.js';

function seeded(testName: string): Rng {
  const seed = seedFromEnv();
  console.log(`${testName}: seed ${seed}`);
  return new Rng(seed);
}

async function setup(rng = new Rng(1)): Promise<{ mem: CrashableFS; fs: FaultFS }> {
  const mem = new CrashableFS();
  await mem.mkdir('/db');
  return { mem, fs: new FaultFS(mem, rng) };
}

/** Runs `count` syncs, and returns the 1-based indexes of those that failed. */
async function failingSyncs(fs: FaultFS, path: string, count: number): Promise<number[]> {
  const file = await fs.openAppend(path).catch(() => fs.create(path));
  const failed: number[] = [];
  for (let i = 1; i <= count; i++) {
    try {
      await file.sync();
    } catch (err) {
      assert.equal((err as NodeJS.ErrnoException).code, 'EIO');
      failed.push(i);
    }
  }
  return failed;
}

describe('FaultFS', () => {
  it('without rules passes every call through and counts it', async () => {
    const { mem, fs } = await setup();
    const file = await fs.create('/db/a');
    assert.equal(await file.append(Buffer.from('abc')), 3);
    assert.equal(file.size, 3);
    await file.sync();
    await file.truncate(2);
    await file.close();
    await fs.rename('/db/a', '/db/b');
    const reader = await fs.openRead('/db/b');
    assert.equal(reader.size, 2);
    assert.equal(reader.read(0, 10).toString(), 'ab');
    await reader.close();
    assert.deepEqual(await fs.list('/db'), ['b']);
    assert.equal(await fs.exists('/db/b'), true);
    assert.equal((await fs.readFile('/db/b')).toString(), 'ab');
    await fs.syncDir('/db');
    await fs.remove('/db/b');
    await (await fs.lock('/db/LOCK')).release();
    assert.deepEqual(fs.calls, {
      mkdir: 0, list: 1, exists: 1, create: 1, openAppend: 0, openRead: 1, readFile: 1, rename: 1,
      remove: 1, syncDir: 1, lock: 1, append: 1, sync: 1, truncate: 1, read: 1, close: 2,
    });
    assert.equal(fs.injected, 0);
    assert.equal(mem.opCounts.sync, 1);
  });

  it('nth fails exactly the n-th matching call, with a node-shaped error', async () => {
    const { mem, fs } = await setup();
    fs.addRule({ op: 'sync', nth: 3, error: 'EIO' });
    assert.deepEqual(await failingSyncs(fs, '/db/log', 6), [3]);
    assert.equal(fs.injected, 1);
    assert.equal(fs.calls.sync, 6, 'failed calls are counted too');
    assert.equal(mem.opCounts.sync, 5, 'the failed call never reached the inner file system');
    const file = await fs.openAppend('/db/log');
    fs.addRule({ op: 'sync', nth: 1, error: 'EIO' });
    await assert.rejects(file.sync(), (err: NodeJS.ErrnoException) => {
      assert.equal(err.code, 'EIO');
      assert.equal(err.errno, -5);
      assert.equal(err.syscall, 'fdatasync');
      assert.equal(err.path, '/db/log');
      assert.match(err.message, /^EIO: injected i\/o error, fdatasync '\/db\/log'$/);
      return true;
    });
  });

  it('persistent keeps failing every matching call once triggered', async () => {
    const { fs } = await setup();
    fs.addRule({ op: 'sync', nth: 3, persistent: true, error: 'EIO' });
    assert.deepEqual(await failingSyncs(fs, '/db/log', 6), [3, 4, 5, 6]);
    assert.equal(fs.injected, 4);
  });

  it('oneIn fails matching calls at random, the same way for the same seed', async () => {
    const seed = seedFromEnv();
    console.log(`oneIn: seed ${seed}`);
    const runs: number[][] = [];
    for (let run = 0; run < 2; run++) {
      const { fs } = await setup(new Rng(seed));
      fs.addRule({ op: 'sync', oneIn: 4, error: 'EIO' });
      runs.push(await failingSyncs(fs, '/db/log', 400));
    }
    const [first, second] = runs as [number[], number[]];
    assert.ok(first.length > 60 && first.length < 140, `${first.length} of 400 failed`);
    assert.deepEqual(first, second);
  });

  it('oneIn with persistent fails everything after the first failure', async () => {
    const { fs } = await setup(seeded('oneIn persistent'));
    fs.addRule({ op: 'sync', oneIn: 5, persistent: true, error: 'EIO' });
    const failed = await failingSyncs(fs, '/db/log', 100);
    const firstFailure = failed[0];
    assert.ok(firstFailure !== undefined);
    assert.equal(failed.length, 100 - firstFailure + 1);
  });

  it('a path rule fails only calls on matching paths, by substring or RegExp', async () => {
    const { fs } = await setup();
    fs.addRule({ op: 'create', path: '.sst', error: 'ENOSPC' });
    fs.addRule({ op: 'openRead', path: /MANIFEST-\d+$/g, error: 'EIO' });
    await assert.rejects(fs.create('/db/000005.sst'), { code: 'ENOSPC', syscall: 'open' });
    assert.equal(await fs.exists('/db/000005.sst'), false, 'a failed create creates nothing');
    await (await fs.create('/db/000006.log')).close();
    await (await fs.create('/db/MANIFEST-000001')).close();
    for (let i = 0; i < 3; i++) await assert.rejects(fs.openRead('/db/MANIFEST-000001'), { code: 'EIO' });
    await (await fs.openRead('/db/000006.log')).close();
    // A synchronous open is an openRead to the rules.
    assert.throws(() => fs.openReadSync('/db/MANIFEST-000001'), { code: 'EIO', syscall: 'open' });
    await fs.openReadSync('/db/000006.log').close();
    assert.equal(fs.injected, 5);
  });

  it('a rename matches on either of its paths', async () => {
    const { mem, fs } = await setup();
    mem.writeFileSync('/db/000002.tmp', Buffer.from('x'), { synced: true });
    fs.addRule({ op: 'rename', path: 'CURRENT', error: 'EIO' });
    await assert.rejects(fs.rename('/db/000002.tmp', '/db/CURRENT'), { code: 'EIO', syscall: 'rename' });
    assert.deepEqual(mem.listAll(), ['/db/000002.tmp']);
    await fs.rename('/db/000002.tmp', '/db/000003.tmp');
  });

  it('op takes a list of operations or "*"', async () => {
    const { fs } = await setup();
    fs.addRule({ op: ['remove', 'syncDir'], error: 'EIO' });
    await assert.rejects(fs.syncDir('/db'), { code: 'EIO', syscall: 'fsync' });
    await fs.mkdir('/db/sub');
    fs.clearRules();
    fs.addRule({ op: '*', nth: 2, error: 'EIO' });
    assert.deepEqual(await fs.list('/db'), ['sub']);
    await assert.rejects(fs.mkdir('/db/x'), { code: 'EIO', syscall: 'mkdir' });
    assert.equal(await fs.exists('/db/x'), false);
  });

  it('clearRules makes the disk healthy again', async () => {
    const { fs } = await setup();
    fs.addRule({ op: 'append', error: 'EIO' });
    const file = await fs.create('/db/log');
    await assert.rejects(file.append(Buffer.from('x')), { code: 'EIO', syscall: 'write' });
    fs.clearRules();
    assert.equal(await file.append(Buffer.from('x')), 1);
  });

  it('ENOSPC on append writes nothing', async () => {
    const { mem, fs } = await setup();
    const file = await fs.create('/db/log');
    await file.append(Buffer.from('abc'));
    fs.addRule({ op: 'append', nth: 1, error: 'ENOSPC' });
    await assert.rejects(file.append(Buffer.from('defgh')), { code: 'ENOSPC', errno: -28 });
    assert.equal(file.size, 3);
    assert.equal(mem.readFileSync('/db/log').toString(), 'abc');
  });

  it('a short write passes a strict prefix through and resolves with its length', async () => {
    const rng = seeded('short write');
    const { mem, fs } = await setup(rng);
    const file = await fs.create('/db/log');
    await file.append(Buffer.from('head:'));
    fs.addRule({ op: 'append', error: 'short-write' });
    const lengths = new Set<number>();
    for (let i = 0; i < 50; i++) {
      const data = rng.bytes(20);
      const before = file.size;
      const written = await file.append(data);
      assert.ok(written >= 0 && written < data.length, `wrote ${written} of ${data.length}`);
      assert.equal(file.size, before + written);
      assert.deepEqual(mem.readFileSync('/db/log').subarray(before), data.subarray(0, written));
      lengths.add(written);
    }
    assert.ok(lengths.size > 5, 'the cut varies');
    assert.equal(fs.injected, 50);
    assert.equal(await file.append(Buffer.alloc(0)), 0);
  });

  it('a failed sync drops the unsynced data of a CrashableFS file, as Linux does', async () => {
    const { mem, fs } = await setup();
    const file = await fs.create('/db/log');
    await file.append(Buffer.from('durable'));
    await file.sync();
    await file.append(Buffer.from('-lost'));
    fs.addRule({ op: 'sync', nth: 1, error: 'EIO' });
    await assert.rejects(file.sync(), { code: 'EIO' });
    assert.equal(mem.readFileSync('/db/log').toString(), 'durable');
    assert.deepEqual(mem.fileInfo('/db/log'), { size: 7, syncedSize: 7, entrySynced: false });
    assert.equal(file.size, 7);
  });

  it('a failed sync reaches the CrashableFS through stacked FaultFS layers, even after a rename', async () => {
    const mem = new CrashableFS();
    await mem.mkdir('/db');
    const outer = new FaultFS(new FaultFS(mem));
    const file = await outer.create('/db/a.tmp');
    await file.append(Buffer.from('lost'));
    await outer.rename('/db/a.tmp', '/db/a');
    outer.addRule({ op: 'sync', error: 'ENOSPC' });
    await assert.rejects(file.sync(), { code: 'ENOSPC' });
    assert.equal(mem.readFileSync('/db/a').length, 0);
  });

  it('a failed close still closes the handle', async () => {
    const { fs } = await setup();
    const file = await fs.create('/db/log');
    fs.addRule({ op: 'close', nth: 1, error: 'EIO' });
    await assert.rejects(file.close(), { code: 'EIO', syscall: 'close' });
    await assert.rejects(file.append(Buffer.from('x')), { code: 'EBADF' });
  });

  it('a failed read throws synchronously', async () => {
    const { mem, fs } = await setup();
    mem.writeFileSync('/db/t.sst', Buffer.from('table'), { synced: true });
    const reader = await fs.openRead('/db/t.sst');
    fs.addRule({ op: 'read', nth: 2, error: 'EIO' });
    assert.equal(reader.read(0, 5).toString(), 'table');
    assert.throws(() => reader.read(0, 5), { code: 'EIO', syscall: 'read', path: '/db/t.sst' });
    assert.equal(reader.read(1, 2).toString(), 'ab');
  });

  it('calls locate the n-th mutating operation of a workload', async () => {
    // Count a workload's syncs on a clean run, then fail each one in turn.
    const workload = async (fs: FaultFS) => {
      const file = await fs.create('/db/log');
      for (let i = 0; i < 3; i++) {
        await file.append(Buffer.from([i]));
        await file.sync();
      }
    };
    const clean = await setup();
    await workload(clean.fs);
    const syncCount = clean.fs.calls.sync;
    assert.equal(syncCount, 3);
    for (let n = 1; n <= syncCount; n++) {
      const { mem, fs } = await setup();
      fs.addRule({ op: 'sync', nth: n, error: 'EIO' });
      await assert.rejects(workload(fs), { code: 'EIO' });
      assert.equal(mem.fileInfo('/db/log')?.syncedSize, n - 1);
    }
  });

  it('rejects rules that cannot mean anything', async () => {
    const { fs } = await setup();
    assert.throws(() => fs.addRule({ op: 'sync', error: 'short-write' }));
    assert.throws(() => fs.addRule({ op: '*', error: 'short-write' }));
    assert.throws(() => fs.addRule({ op: 'append', nth: 0, error: 'EIO' }));
    assert.throws(() => fs.addRule({ op: 'append', oneIn: 0, error: 'EIO' }));
    assert.throws(() => fs.addRule({ op: 'append', nth: 1, oneIn: 2, error: 'EIO' }));
    assert.throws(() => fs.addRule({ op: 'fsync' as 'sync', error: 'EIO' }));
    fs.addRule({ op: ['append'], error: 'short-write' });
  });
});
