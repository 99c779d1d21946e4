import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ShaleError } from '../../src/errors.js';
import { CrashableFS, Rng, seedFromEnv } from '../../src/testing/index.js';
import type { CrashMode } from '../../src/testing/index.js';

const BLOCK = 4096;
const CRASHES = 64;

/** A seeded Rng for one randomized test; the seed is printed so `SEED=` replays it. */
function seeded(testName: string): Rng {
  const seed = seedFromEnv();
  console.log(`${testName}: seed ${seed}`);
  return new Rng(seed);
}

/** Bytes with no zero byte, so a zero-filled block can never be mistaken for kept data. */
function nonZeroBytes(rng: Rng, n: number): Buffer {
  const bytes = rng.bytes(n);
  for (let i = 0; i < n; i++) bytes[i] = (bytes[i] as number) | 1;
  return bytes;
}

/** A file at `/db/name` with `synced` bytes synced (data and directory entry) and `unsynced` appended after. */
async function fileWithTail(fs: CrashableFS, name: string, synced: Buffer, unsynced: Buffer): Promise<void> {
  await fs.mkdir('/db');
  await fs.syncDir('/');
  const file = await fs.create(`/db/${name}`);
  await file.append(synced);
  await file.sync();
  await fs.syncDir('/db');
  await file.append(unsynced);
  await file.close();
}

function isZero(bytes: Buffer): boolean {
  return bytes.every((b) => b === 0);
}

describe('CrashableFS as a file system', () => {
  it('appends, reads at offsets and reports sizes', async () => {
    const fs = new CrashableFS();
    await fs.mkdir('/db');
    await fs.syncDir('/');
    const file = await fs.create('/db/a');
    assert.equal(await file.append(Buffer.from('hello ')), 6);
    assert.equal(await file.append(Buffer.from('world')), 5);
    assert.equal(file.size, 11);
    const reader = await fs.openRead('/db/a');
    assert.equal(reader.size, 11);
    assert.equal(reader.read(6, 5).toString(), 'world');
    assert.equal(reader.read(6, 100).toString(), 'world', 'fewer bytes only at the end');
    assert.equal(reader.read(50, 10).length, 0);
    // A read sees the file as it is now; `size` stays the size at open.
    await file.append(Buffer.from('!'));
    assert.equal(reader.read(0, 100).toString(), 'hello world!');
    assert.equal(reader.size, 11);
    // What read returned is a copy.
    const bytes = reader.read(0, 5);
    await file.truncate(0);
    assert.equal(bytes.toString(), 'hello');
    assert.deepEqual(await fs.readFile('/db/a'), Buffer.alloc(0));
  });

  it('openAppend continues at the end of an existing file', async () => {
    const fs = new CrashableFS();
    fs.writeFileSync('/db/log', Buffer.from('abc'), { synced: true });
    const file = await fs.openAppend('/db/log');
    assert.equal(file.size, 3);
    await file.append(Buffer.from('def'));
    assert.equal((await fs.readFile('/db/log')).toString(), 'abcdef');
  });

  it('truncate shrinks, and extends with zeros', async () => {
    const fs = new CrashableFS();
    await fs.mkdir('/d');
    const file = await fs.create('/d/f');
    await file.append(Buffer.from('abcdef'));
    await file.truncate(2);
    assert.equal(file.size, 2);
    await file.truncate(5);
    assert.deepEqual(await fs.readFile('/d/f'), Buffer.from([0x61, 0x62, 0, 0, 0]));
    await file.append(Buffer.from('z'));
    assert.deepEqual(await fs.readFile('/d/f'), Buffer.from([0x61, 0x62, 0, 0, 0, 0x7a]));
    await assert.rejects(file.truncate(-1), { code: 'EINVAL' });
  });

  it('fails like node:fs, with code, errno, syscall and path', async () => {
    const fs = new CrashableFS();
    await fs.mkdir('/db');
    await fs.syncDir('/');
    fs.writeFileSync('/db/file', Buffer.from('x'), { synced: true });
    await assert.rejects(fs.create('/db/file'), { code: 'EEXIST', errno: -17, syscall: 'open', path: '/db/file' });
    await assert.rejects(fs.create('/db'), { code: 'EEXIST' });
    await assert.rejects(fs.openRead('/db/missing'), { code: 'ENOENT', errno: -2, message: "ENOENT: no such file or directory, open '/db/missing'" });
    await assert.rejects(fs.openAppend('/db/missing'), { code: 'ENOENT' });
    await assert.rejects(fs.readFile('/db/missing'), { code: 'ENOENT' });
    await assert.rejects(fs.remove('/db/missing'), { code: 'ENOENT', syscall: 'unlink' });
    await assert.rejects(fs.rename('/db/missing', '/db/other'), { code: 'ENOENT' });
    await assert.rejects(fs.create('/nowhere/file'), { code: 'ENOENT' });
    await assert.rejects(fs.create('/db/file/child'), { code: 'ENOTDIR' });
    await assert.rejects(fs.list('/db/file'), { code: 'ENOTDIR' });
    await assert.rejects(fs.list('/nowhere'), { code: 'ENOENT' });
    await assert.rejects(fs.readFile('/db'), { code: 'EISDIR' });
    await assert.rejects(fs.openRead('/db'), { code: 'EISDIR' });
    assert.throws(() => fs.openReadSync('/db/missing'), { code: 'ENOENT', errno: -2, syscall: 'open' });
    assert.throws(() => fs.openReadSync('/db'), { code: 'EISDIR' });
    await assert.rejects(fs.remove('/db'), { code: 'EISDIR' });
    await assert.rejects(fs.mkdir('/db/file'), { code: 'EEXIST' });
    await assert.rejects(fs.mkdir('/db/file/sub'), { code: 'ENOTDIR' });
    await assert.rejects(fs.syncDir('/nowhere'), { code: 'ENOENT' });
    await assert.rejects(fs.rename('/db/file', '/db'), { code: 'EISDIR' });
    await assert.rejects(fs.exists('/db/file/child'), { code: 'ENOTDIR' });
  });

  it('mkdir is recursive and idempotent; list names files and subdirectories', async () => {
    const fs = new CrashableFS();
    await fs.mkdir('/a/b/c');
    await fs.mkdir('/a/b/c');
    await fs.mkdir('/a/b');
    await (await fs.create('/a/b/f')).close();
    assert.deepEqual((await fs.list('/a/b')).sort(), ['c', 'f']);
    assert.deepEqual(await fs.list('/a/b/c'), []);
    assert.equal(await fs.exists('/a/b/c'), true);
    assert.equal(await fs.exists('/a/b/f'), true);
    assert.equal(await fs.exists('/a/b/g'), false);
    assert.equal(await fs.exists('/x/y'), false);
    assert.equal(await fs.exists('/'), true);
  });

  it('normalizes paths', async () => {
    const fs = new CrashableFS();
    await fs.mkdir('/db/');
    const file = await fs.create('/db//x');
    await file.append(Buffer.from('1'));
    assert.equal((await fs.readFile('/db/./x')).toString(), '1');
    assert.equal((await fs.readFile('/db/sub/../x')).toString(), '1');
    await assert.rejects(fs.create('/db/x'), { code: 'EEXIST' });
    assert.deepEqual(fs.listAll(), ['/db/x']);
  });

  it('rename replaces an existing file, and handles follow the file', async () => {
    const fs = new CrashableFS();
    fs.writeFileSync('/db/CURRENT', Buffer.from('old'), { synced: true });
    const temp = await fs.create('/db/CURRENT.tmp');
    await temp.append(Buffer.from('new'));
    const oldReader = await fs.openRead('/db/CURRENT');
    await fs.rename('/db/CURRENT.tmp', '/db/CURRENT');
    assert.equal((await fs.readFile('/db/CURRENT')).toString(), 'new');
    assert.equal(await fs.exists('/db/CURRENT.tmp'), false);
    assert.deepEqual(await fs.list('/db'), ['CURRENT']);
    // The replaced file lives on for its open handle, as an unlinked inode does.
    assert.equal(oldReader.read(0, 10).toString(), 'old');
    // The writer still writes the renamed file.
    await temp.append(Buffer.from('er'));
    assert.equal((await fs.readFile('/db/CURRENT')).toString(), 'newer');
    // Renaming a file onto itself changes nothing.
    await fs.rename('/db/CURRENT', '/db//CURRENT');
    assert.equal((await fs.readFile('/db/CURRENT')).toString(), 'newer');
  });

  it('a removed file stays readable through an open handle', async () => {
    const fs = new CrashableFS();
    fs.writeFileSync('/db/t', Buffer.from('table'), { synced: true });
    const reader = await fs.openRead('/db/t');
    await fs.remove('/db/t');
    assert.equal(await fs.exists('/db/t'), false);
    assert.equal(reader.read(0, 5).toString(), 'table');
  });

  it('a closed handle fails with EBADF, and closing twice is harmless', async () => {
    const fs = new CrashableFS();
    await fs.mkdir('/db');
    await fs.syncDir('/');
    const file = await fs.create('/db/f');
    await file.close();
    await file.close();
    await assert.rejects(file.append(Buffer.from('x')), { code: 'EBADF' });
    await assert.rejects(file.sync(), { code: 'EBADF' });
    const reader = await fs.openRead('/db/f');
    await reader.close();
    assert.throws(() => reader.read(0, 1), { code: 'EBADF' });
  });

  it('lock is exclusive until released; releasing twice is harmless', async () => {
    const fs = new CrashableFS();
    await fs.mkdir('/db');
    await fs.syncDir('/');
    const lock = await fs.lock('/db/LOCK');
    await assert.rejects(fs.lock('/db//LOCK'), (err: unknown) => err instanceof ShaleError && err.code === 'LOCKED');
    const other = await fs.lock('/other-db-lock');
    await lock.release();
    await lock.release();
    const again = await fs.lock('/db/LOCK');
    await again.release();
    await other.release();
    await assert.rejects(fs.lock('/nowhere/LOCK'), { code: 'ENOENT' });
  });

  it('counts operations, so a test can count fsyncs', async () => {
    const fs = new CrashableFS();
    await fs.mkdir('/db');
    const file = await fs.create('/db/log');
    await file.append(Buffer.from('a'));
    await file.append(Buffer.from('b'));
    await file.sync();
    await fs.syncDir('/db');
    await fs.rename('/db/log', '/db/log2');
    const reader = await fs.openRead('/db/log2');
    reader.read(0, 1);
    fs.readFileSync('/db/log2');
    assert.equal(fs.opCounts.append, 2);
    assert.equal(fs.opCounts.sync, 1);
    assert.equal(fs.opCounts.syncDir, 1);
    assert.equal(fs.opCounts.create, 1);
    assert.equal(fs.opCounts.rename, 1);
    assert.equal(fs.opCounts.read, 1);
    assert.equal(fs.opCounts.readFile, 0, 'test helpers are not counted');
  });

  it('fileInfo and listAll describe files and their sync state', async () => {
    const fs = new CrashableFS();
    await fileWithTail(fs, 'log', Buffer.from('12345'), Buffer.from('678'));
    await (await fs.create('/db/sub-less')).close();
    await fs.mkdir('/db/archive');
    fs.writeFileSync('/db/archive/old', Buffer.from('z'), { synced: true });
    assert.deepEqual(fs.fileInfo('/db/log'), { size: 8, syncedSize: 5, entrySynced: true });
    assert.deepEqual(fs.fileInfo('/db/sub-less'), { size: 0, syncedSize: 0, entrySynced: false });
    assert.equal(fs.fileInfo('/db/missing'), undefined);
    assert.equal(fs.fileInfo('/db/archive'), undefined);
    assert.deepEqual(fs.listAll(), ['/db/archive/old', '/db/log', '/db/sub-less']);
  });

  it('dropUnsynced resets a file to its synced content', async () => {
    const fs = new CrashableFS();
    await fileWithTail(fs, 'log', Buffer.from('keep'), Buffer.from('lose'));
    fs.dropUnsynced('/db/log');
    assert.equal(fs.readFileSync('/db/log').toString(), 'keep');
    const file = await fs.openAppend('/db/log');
    await file.append(Buffer.from('!'));
    assert.equal(fs.readFileSync('/db/log').toString(), 'keep!');
  });

  it('writeFileSync plants synced or unsynced content', async () => {
    const fs = new CrashableFS();
    const rng = new Rng(1);
    fs.writeFileSync('/db/a', Buffer.from('durable'), { synced: true });
    fs.writeFileSync('/db/a', Buffer.from('volatile'), { synced: false });
    assert.equal(fs.readFileSync('/db/a').toString(), 'volatile');
    assert.deepEqual(fs.fileInfo('/db/a'), { size: 8, syncedSize: 7, entrySynced: true });
    assert.equal(fs.crashClone('drop-unsynced', rng).readFileSync('/db/a').toString(), 'durable');
  });

  it('corrupt and flipBit change the durable bytes too', async () => {
    const fs = new CrashableFS();
    await fileWithTail(fs, 'log', Buffer.from('abcdef'), Buffer.from('gh'));
    fs.corrupt('/db/log', 1, Buffer.from('XY'));
    fs.flipBit('/db/log', 0, 0);
    fs.corrupt('/db/log', 6, Buffer.from('Z'));
    assert.equal(fs.readFileSync('/db/log').toString(), '`XYdefZh');
    assert.equal(fs.crashClone('drop-unsynced', new Rng(1)).readFileSync('/db/log').toString(), '`XYdef');
    assert.throws(() => fs.corrupt('/db/log', 7, Buffer.from('too long')));
  });
});

describe('CrashableFS.crashClone: file data', () => {
  it('drop-unsynced leaves exactly the synced bytes', async () => {
    const fs = new CrashableFS();
    const rng = seeded('drop-unsynced');
    const synced = rng.bytes(10_000);
    await fileWithTail(fs, 'log', synced, rng.bytes(20_000));
    for (let i = 0; i < 8; i++) assert.deepEqual(fs.crashClone('drop-unsynced', rng).readFileSync('/db/log'), synced);
  });

  it('a file that was never synced comes back empty', async () => {
    const fs = new CrashableFS();
    await fs.mkdir('/db');
    await fs.syncDir('/');
    const file = await fs.create('/db/log');
    await fs.syncDir('/db');
    await file.append(Buffer.from('never synced'));
    assert.deepEqual(fs.crashClone('drop-unsynced', new Rng(3)).readFileSync('/db/log'), Buffer.alloc(0));
  });

  it('keep-prefix leaves a prefix of the current bytes, no shorter than the synced ones', async () => {
    const fs = new CrashableFS();
    const rng = seeded('keep-prefix');
    const synced = rng.bytes(1000);
    const tail = rng.bytes(3000);
    const current = Buffer.concat([synced, tail]);
    await fileWithTail(fs, 'log', synced, tail);
    const lengths = new Set<number>();
    for (let i = 0; i < CRASHES; i++) {
      const after = fs.crashClone('keep-prefix', rng).readFileSync('/db/log');
      assert.ok(after.length >= synced.length && after.length <= current.length, `length ${after.length}`);
      assert.deepEqual(after, current.subarray(0, after.length));
      lengths.add(after.length);
    }
    assert.ok(lengths.size > 10, 'the tear point varies');
  });

  for (const mode of ['keep-blocks', 'garbage-blocks'] as const) {
    it(`${mode} keeps synced bytes and only touches whole 4 KiB blocks past them`, async () => {
      const fs = new CrashableFS();
      const rng = seeded(mode);
      // The synced length is not block-aligned: the rest of its block is at risk as a unit.
      const synced = nonZeroBytes(rng, 5000);
      const tail = nonZeroBytes(rng, 5 * BLOCK);
      const current = Buffer.concat([synced, tail]);
      await fileWithTail(fs, 'log', synced, tail);
      const seen = { kept: 0, zeroed: 0, garbage: 0, fullLength: 0, shorter: 0 };
      for (let i = 0; i < CRASHES; i++) {
        const after = fs.crashClone(mode, rng).readFileSync('/db/log');
        assert.ok(after.length >= synced.length && after.length <= current.length, `length ${after.length}`);
        if (after.length === current.length) seen.fullLength++;
        else seen.shorter++;
        assert.deepEqual(after.subarray(0, synced.length), synced, 'synced bytes are intact');
        for (let start = synced.length; start < after.length; start = (Math.floor(start / BLOCK) + 1) * BLOCK) {
          const end = Math.min((Math.floor(start / BLOCK) + 1) * BLOCK, after.length);
          const got = after.subarray(start, end);
          if (got.equals(current.subarray(start, end))) seen.kept++;
          else if (isZero(got)) seen.zeroed++;
          else {
            assert.equal(mode, 'garbage-blocks', `block at ${start} is neither kept nor zeroed`);
            seen.garbage++;
          }
        }
      }
      assert.ok(seen.kept > 0 && seen.zeroed > 0 && seen.fullLength > 0 && seen.shorter > 0, JSON.stringify(seen));
      if (mode === 'garbage-blocks') assert.ok(seen.garbage > 0, JSON.stringify(seen));
    });
  }

  for (const mode of ['keep-prefix', 'keep-blocks', 'garbage-blocks'] as const) {
    it(`${mode}: a file truncated below its synced length since its last sync comes back old or new`, async () => {
      const fs = new CrashableFS();
      const rng = seeded(`${mode} truncated`);
      const old = Buffer.from('0123456789');
      await fileWithTail(fs, 'log', old, Buffer.alloc(0));
      const file = await fs.openAppend('/db/log');
      await file.truncate(4);
      await file.append(Buffer.from('abc'));
      const outcomes = new Set<string>();
      for (let i = 0; i < CRASHES; i++) outcomes.add(fs.crashClone(mode, rng).readFileSync('/db/log').toString());
      assert.deepEqual([...outcomes].sort(), ['0123456789', '0123abc']);
      assert.equal(fs.crashClone('drop-unsynced', rng).readFileSync('/db/log').toString(), '0123456789');
    });
  }

  it('a file fully synced is the same in every mode', async () => {
    const fs = new CrashableFS();
    const rng = seeded('fully synced');
    const data = rng.bytes(9000);
    await fileWithTail(fs, 'table', data, Buffer.alloc(0));
    for (const mode of ['drop-unsynced', 'keep-prefix', 'keep-blocks', 'garbage-blocks'] as CrashMode[]) {
      assert.deepEqual(fs.crashClone(mode, rng).readFileSync('/db/table'), data);
    }
  });
});

describe('CrashableFS.crashClone: directory entries', () => {
  it('an unsynced create is sometimes lost, sometimes kept, in every mode', async () => {
    const rng = seeded('unsynced create');
    for (const mode of ['drop-unsynced', 'keep-prefix', 'keep-blocks', 'garbage-blocks'] as CrashMode[]) {
      const fs = new CrashableFS();
      await fs.mkdir('/db');
      await fs.syncDir('/');
      const file = await fs.create('/db/new');
      await file.append(Buffer.from('data'));
      await file.sync();
      let kept = 0;
      for (let i = 0; i < CRASHES; i++) {
        const after = fs.crashClone(mode, rng);
        if (after.fileInfo('/db/new') === undefined) continue;
        kept++;
        assert.equal(after.readFileSync('/db/new').toString(), 'data', 'synced data survives with its name');
      }
      assert.ok(kept > 0 && kept < CRASHES, `${mode}: kept ${kept} of ${CRASHES}`);
    }
  });

  it('a create followed by syncDir is always kept', async () => {
    const fs = new CrashableFS();
    const rng = seeded('synced create');
    await fs.mkdir('/db');
    await fs.syncDir('/');
    await (await fs.create('/db/new')).close();
    await fs.syncDir('/db');
    for (let i = 0; i < CRASHES; i++) assert.deepEqual(fs.crashClone('keep-prefix', rng).listAll(), ['/db/new']);
  });

  it('syncDir of one directory does not make another durable', async () => {
    const fs = new CrashableFS();
    const rng = seeded('other directory');
    await fs.mkdir('/db/sub');
    await (await fs.create('/db/sub/f')).close();
    await fs.syncDir('/db');
    let lost = 0;
    for (let i = 0; i < CRASHES; i++) if (fs.crashClone('drop-unsynced', rng).fileInfo('/db/sub/f') === undefined) lost++;
    assert.ok(lost > 0);
  });

  it('a created directory whose parent was not synced may vanish in a crash, with everything in it', async () => {
    const fs = new CrashableFS();
    const rng = seeded('unsynced mkdir');
    await fs.mkdir('/db');
    await fs.syncDir('/');
    await fs.mkdir('/db/a/b');
    // Everything inside is durable as far as its own directory goes: only /db's entry for a is not.
    await fs.syncDir('/db/a');
    const file = await fs.create('/db/a/b/f');
    await file.append(Buffer.from('data'));
    await file.sync();
    await fs.syncDir('/db/a/b');
    let lost = 0;
    for (let i = 0; i < CRASHES; i++) {
      const after = fs.crashClone('drop-unsynced', rng);
      if (await after.exists('/db/a')) {
        assert.equal(after.readFileSync('/db/a/b/f').toString(), 'data', 'a kept directory keeps its synced contents');
        continue;
      }
      lost++;
      assert.deepEqual(await after.list('/db'), []);
      assert.equal(await after.exists('/db/a/b'), false, 'a lost directory takes its subdirectories with it');
      assert.deepEqual(after.listAll(), [], 'and their files');
      await after.mkdir('/db/a/b');
      assert.deepEqual(await after.list('/db/a/b'), [], 'a directory made again after the crash starts empty');
    }
    assert.ok(lost > 0 && lost < CRASHES, `lost /db/a in ${lost} of ${CRASHES} crashes`);
  });

  it('a created directory survives every crash once the parent of each level it created is synced', async () => {
    const fs = new CrashableFS();
    const rng = seeded('synced mkdir');
    await fs.mkdir('/db/a/b');
    for (const parent of ['/', '/db', '/db/a']) await fs.syncDir(parent);
    await (await fs.create('/db/a/b/f')).close();
    await fs.syncDir('/db/a/b');
    for (let i = 0; i < CRASHES; i++) assert.deepEqual(fs.crashClone('drop-unsynced', rng).listAll(), ['/db/a/b/f']);
  });

  it('a file planted with writeFileSync({ synced: true }) has durable parent directories', async () => {
    const fs = new CrashableFS();
    fs.writeFileSync('/x/y/z', Buffer.from('planted'), { synced: true });
    for (let i = 0; i < 8; i++) assert.equal(fs.crashClone('drop-unsynced', new Rng(i)).readFileSync('/x/y/z').toString(), 'planted');
  });

  it('an unsynced rename of a synced file leaves it under the old name, the new one, both or neither', async () => {
    const fs = new CrashableFS();
    const rng = seeded('unsynced rename');
    fs.writeFileSync('/db/a', Buffer.from('content'), { synced: true });
    await fs.rename('/db/a', '/db/b');
    const outcomes = new Set<string>();
    for (let i = 0; i < CRASHES; i++) {
      const after = fs.crashClone('drop-unsynced', rng);
      const names = after.listAll();
      for (const name of names) assert.equal(after.readFileSync(name).toString(), 'content');
      outcomes.add(names.join(',') || 'none');
    }
    assert.deepEqual([...outcomes].sort(), ['/db/a', '/db/a,/db/b', '/db/b', 'none']);
  });

  it('two names left for one file after a crash do not alias', async () => {
    const fs = new CrashableFS();
    const rng = seeded('alias');
    fs.writeFileSync('/db/a', Buffer.from('x'), { synced: true });
    await fs.rename('/db/a', '/db/b');
    for (let i = 0; i < CRASHES; i++) {
      const after = fs.crashClone('drop-unsynced', rng);
      if (after.listAll().length !== 2) continue;
      await (await after.openAppend('/db/a')).append(Buffer.from('y'));
      assert.equal(after.readFileSync('/db/b').toString(), 'x');
      return;
    }
    assert.fail('no crash kept both names');
  });

  it('replacing CURRENT by rename: old or new before syncDir, always new after, never missing', async () => {
    const fs = new CrashableFS();
    const rng = seeded('replace CURRENT');
    fs.writeFileSync('/db/CURRENT', Buffer.from('MANIFEST-000001\n'), { synced: true });
    const temp = await fs.create('/db/000002.tmp');
    await temp.append(Buffer.from('MANIFEST-000002\n'));
    await temp.sync();
    await temp.close();
    await fs.rename('/db/000002.tmp', '/db/CURRENT');
    const outcomes = new Set<string>();
    for (let i = 0; i < CRASHES; i++) outcomes.add(fs.crashClone('garbage-blocks', rng).readFileSync('/db/CURRENT').toString());
    assert.deepEqual([...outcomes].sort(), ['MANIFEST-000001\n', 'MANIFEST-000002\n']);
    await fs.syncDir('/db');
    for (let i = 0; i < CRASHES; i++) {
      const after = fs.crashClone('garbage-blocks', rng);
      assert.deepEqual(after.listAll(), ['/db/CURRENT']);
      assert.equal(after.readFileSync('/db/CURRENT').toString(), 'MANIFEST-000002\n');
    }
  });

  it('an unsynced removal can be undone by a crash; a synced one cannot', async () => {
    const fs = new CrashableFS();
    const rng = seeded('unsynced remove');
    fs.writeFileSync('/db/000003.log', Buffer.from('records'), { synced: true });
    await fs.remove('/db/000003.log');
    let resurrected = 0;
    for (let i = 0; i < CRASHES; i++) {
      const after = fs.crashClone('keep-blocks', rng);
      if (after.fileInfo('/db/000003.log') === undefined) continue;
      resurrected++;
      assert.equal(after.readFileSync('/db/000003.log').toString(), 'records');
    }
    assert.ok(resurrected > 0 && resurrected < CRASHES, `resurrected ${resurrected} of ${CRASHES}`);
    await fs.syncDir('/db');
    for (let i = 0; i < CRASHES; i++) assert.deepEqual(fs.crashClone('keep-blocks', rng).listAll(), []);
  });

  it('a name removed and created again comes back as one of the two files, whole', async () => {
    const fs = new CrashableFS();
    const rng = seeded('remove then create');
    fs.writeFileSync('/db/f', Buffer.from('first'), { synced: true });
    await fs.remove('/db/f');
    const file = await fs.create('/db/f');
    await file.append(Buffer.from('second'));
    await file.sync();
    const outcomes = new Set<string>();
    for (let i = 0; i < CRASHES; i++) outcomes.add(fs.crashClone('drop-unsynced', rng).readFileSync('/db/f').toString());
    assert.deepEqual([...outcomes].sort(), ['first', 'second']);
  });
});

describe('CrashableFS.crashClone: the clone', () => {
  it('leaves the original untouched and usable', async () => {
    const fs = new CrashableFS();
    const rng = seeded('original untouched');
    await fileWithTail(fs, 'log', rng.bytes(100), rng.bytes(9000));
    const writer = await fs.openAppend('/db/log');
    await (await fs.create('/db/unsynced-entry')).close();
    await fs.remove('/db/log');
    const lock = await fs.lock('/db/LOCK');
    const before = { files: fs.listAll(), info: fs.fileInfo('/db/unsynced-entry'), writerSize: writer.size };
    for (const mode of ['drop-unsynced', 'keep-prefix', 'keep-blocks', 'garbage-blocks'] as CrashMode[]) {
      fs.crashClone(mode, rng);
    }
    assert.deepEqual({ files: fs.listAll(), info: fs.fileInfo('/db/unsynced-entry'), writerSize: writer.size }, before);
    await writer.append(Buffer.from('more'));
    assert.equal(writer.size, 9104);
    await assert.rejects(fs.lock('/db/LOCK'), { code: 'LOCKED' });
    await lock.release();
  });

  it('holds no locks, is independent of the original, and is wholly durable', async () => {
    const fs = new CrashableFS();
    const rng = seeded('clone state');
    await fileWithTail(fs, 'log', Buffer.from('synced'), Buffer.from('-tail'));
    await fs.lock('/db/LOCK');
    const after = fs.crashClone('keep-prefix', rng);
    const lock = await after.lock('/db/LOCK');
    await lock.release();
    // Everything in a clone is durable: crashing it again changes nothing.
    const info = after.fileInfo('/db/log');
    assert.ok(info !== undefined && info.entrySynced && info.size === info.syncedSize, JSON.stringify(info));
    const content = after.readFileSync('/db/log');
    assert.deepEqual(after.crashClone('drop-unsynced', rng).readFileSync('/db/log'), content);
    const file = await after.openAppend('/db/log');
    await file.append(Buffer.from('!'));
    assert.equal(fs.readFileSync('/db/log').toString(), 'synced-tail');
    assert.deepEqual(after.readFileSync('/db/log'), Buffer.concat([content, Buffer.from('!')]));
  });

  it('the same seed gives the same crash state', async () => {
    const fs = new CrashableFS();
    const setup = new Rng(77);
    await fs.mkdir('/db');
    await fs.syncDir('/');
    for (let i = 0; i < 10; i++) {
      const file = await fs.create(`/db/f${i}`);
      await file.append(setup.bytes(setup.int(3 * BLOCK)));
      if (setup.bool()) await file.sync();
      await file.append(setup.bytes(setup.int(3 * BLOCK)));
      if (i === 4) await fs.syncDir('/db');
    }
    const snapshot = (clone: CrashableFS) => clone.listAll().map((name) => `${name}:${clone.readFileSync(name).toString('hex')}`);
    for (const mode of ['keep-prefix', 'keep-blocks', 'garbage-blocks'] as CrashMode[]) {
      assert.deepEqual(snapshot(fs.crashClone(mode, new Rng(5))), snapshot(fs.crashClone(mode, new Rng(5))));
      assert.notDeepEqual(snapshot(fs.crashClone(mode, new Rng(5))), snapshot(fs.crashClone(mode, new Rng(6))));
    }
  });
});
