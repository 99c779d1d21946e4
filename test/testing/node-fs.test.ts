import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { ShaleError } from '../../src/errors.js';
import { NodeFileSystem } from '../../src/fs/node-fs.js';
import { currentIdentity, formatLock } from '../../src/fs/lock-file.js';

/** The LOCK a process `pid` in this namespace would write (its start time from /proc where there is one). */
function lockOf(pid: number, startTime = startTimeOf(pid)): string {
  return formatLock({ ...currentIdentity(), pid, startTime });
}

/** Field 22 of /proc/<pid>/stat, or undefined off Linux. */
function startTimeOf(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

const onLinux = process.platform === 'linux';

function isLocked(err: unknown): boolean {
  return err instanceof ShaleError && err.code === 'LOCKED';
}

async function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => child.once('exit', () => resolve()));
}

/** The first line a child prints. */
async function firstLine(child: ChildProcess): Promise<string> {
  let text = '';
  for await (const chunk of child.stdout ?? []) {
    text += String(chunk);
    if (text.includes('\n')) break;
  }
  return text.split('\n')[0] ?? '';
}

async function waitFor(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.fail(`timed out waiting for ${what}`);
}

describe('NodeFileSystem', () => {
  let dir = '';
  const nfs = new NodeFileSystem();
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shale-'));
  });
  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('creates, appends, syncs and reads at offsets', async () => {
    const file = await nfs.create(path.join(dir, 'a'));
    assert.equal(await file.append(Buffer.from('hello ')), 6);
    assert.equal(await file.append(new Uint8Array([0x77, 0x6f, 0x72, 0x6c, 0x64])), 5);
    assert.equal(file.size, 11);
    await file.sync();
    await file.close();
    const reader = await nfs.openRead(path.join(dir, 'a'));
    assert.equal(reader.size, 11);
    assert.equal(reader.read(6, 5).toString(), 'world');
    assert.equal(reader.read(6, 100).toString(), 'world', 'fewer bytes only at the end');
    assert.equal(reader.read(100, 5).length, 0);
    await reader.close();
    assert.equal((await nfs.readFile(path.join(dir, 'a'))).toString(), 'hello world');
  });

  it('openReadSync opens the same file as openRead, within the call; a missing one throws ENOENT', async () => {
    const file = await nfs.create(path.join(dir, 'a'));
    await file.append(Buffer.from('hello world'));
    await file.close();
    const reader = nfs.openReadSync(path.join(dir, 'a'));
    assert.equal(reader.size, 11);
    assert.equal(reader.read(6, 5).toString(), 'world');
    await reader.close();
    assert.throws(() => reader.read(0, 1), { code: 'EBADF' });
    assert.throws(() => nfs.openReadSync(path.join(dir, 'missing')), { code: 'ENOENT' });
  });

  it('create of an existing file fails with EEXIST; opening a missing one with ENOENT', async () => {
    await (await nfs.create(path.join(dir, 'a'))).close();
    await assert.rejects(nfs.create(path.join(dir, 'a')), { code: 'EEXIST' });
    await assert.rejects(nfs.openRead(path.join(dir, 'missing')), { code: 'ENOENT' });
    await assert.rejects(nfs.openAppend(path.join(dir, 'missing')), { code: 'ENOENT' });
    await assert.rejects(nfs.readFile(path.join(dir, 'missing')), { code: 'ENOENT' });
    await assert.rejects(nfs.remove(path.join(dir, 'missing')), { code: 'ENOENT' });
  });

  it('openAppend continues at the end, and truncate cuts the file', async () => {
    const p = path.join(dir, 'log');
    fs.writeFileSync(p, 'abcdef');
    const file = await nfs.openAppend(p);
    assert.equal(file.size, 6);
    await file.append(Buffer.from('gh'));
    await file.truncate(3);
    assert.equal(file.size, 3);
    await file.append(Buffer.from('XY'));
    await file.sync();
    await file.close();
    assert.equal(fs.readFileSync(p, 'latin1'), 'abcXY');
  });

  it('a closed reader fails with EBADF rather than reading a reused descriptor; closing twice is harmless', async () => {
    const p = path.join(dir, 't');
    fs.writeFileSync(p, 'table');
    const reader = await nfs.openRead(p);
    await reader.close();
    await reader.close();
    assert.throws(() => reader.read(0, 1), { code: 'EBADF' });
  });

  it('renames over an existing file, removes, lists, checks existence and syncs the directory', async () => {
    await nfs.mkdir(path.join(dir, 'sub', 'deeper'));
    await nfs.mkdir(path.join(dir, 'sub'));
    fs.writeFileSync(path.join(dir, 'CURRENT'), 'old');
    fs.writeFileSync(path.join(dir, 'CURRENT.tmp'), 'new');
    await nfs.rename(path.join(dir, 'CURRENT.tmp'), path.join(dir, 'CURRENT'));
    await nfs.syncDir(dir);
    assert.equal(fs.readFileSync(path.join(dir, 'CURRENT'), 'latin1'), 'new');
    assert.deepEqual((await nfs.list(dir)).sort(), ['CURRENT', 'sub']);
    assert.equal(await nfs.exists(path.join(dir, 'CURRENT')), true);
    assert.equal(await nfs.exists(path.join(dir, 'sub', 'deeper')), true);
    assert.equal(await nfs.exists(path.join(dir, 'CURRENT.tmp')), false);
    await nfs.remove(path.join(dir, 'CURRENT'));
    await nfs.syncDir(dir);
    assert.deepEqual(await nfs.list(dir), ['sub']);
  });

  describe('lock', () => {
    it('a second lock in this process fails with LOCKED until the first is released', async () => {
      const lockPath = path.join(dir, 'LOCK');
      const lock = await nfs.lock(lockPath);
      await assert.rejects(nfs.lock(lockPath), isLocked);
      await assert.rejects(nfs.lock(path.join(dir, '.', 'LOCK')), isLocked, 'the same file by another spelling');
      await lock.release();
      await lock.release();
      assert.equal(fs.existsSync(lockPath), false);
      const again = await nfs.lock(lockPath);
      assert.deepEqual(fs.readdirSync(dir), ['LOCK'], 'no staging file is left behind');
      await again.release();
    });

    it('writes this process identity into LOCK', async () => {
      const lock = await nfs.lock(path.join(dir, 'LOCK'));
      const content = fs.readFileSync(path.join(dir, 'LOCK'), 'latin1');
      assert.equal(content, lockOf(process.pid));
      await lock.release();
    });

    it('a LOCK left by a dead process does not block', async () => {
      const child = spawn(process.execPath, ['-e', '']);
      await exited(child);
      assert.ok(child.pid !== undefined);
      fs.writeFileSync(path.join(dir, 'LOCK'), lockOf(child.pid, undefined));
      const lock = await nfs.lock(path.join(dir, 'LOCK'));
      await lock.release();
    });

    it('a LOCK held by a live process blocks, by pid alone or by pid and start time', async () => {
      const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 10000)']);
      try {
        assert.ok(child.pid !== undefined);
        const lockPath = path.join(dir, 'LOCK');
        fs.writeFileSync(lockPath, lockOf(child.pid, undefined));
        await assert.rejects(nfs.lock(lockPath), isLocked);
        if (onLinux) {
          const identity = lockOf(child.pid);
          fs.writeFileSync(lockPath, identity);
          await assert.rejects(nfs.lock(lockPath), isLocked);
          assert.equal(fs.readFileSync(lockPath, 'latin1'), identity, 'a held LOCK is left alone');
        }
      } finally {
        child.kill('SIGKILL');
        await exited(child);
      }
    });

    it('a LOCK naming a live pid with another start time (a reused pid) does not block', { skip: !onLinux }, async () => {
      const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 10000)']);
      try {
        assert.ok(child.pid !== undefined);
        const startTime = startTimeOf(child.pid);
        assert.ok(startTime !== undefined);
        fs.writeFileSync(path.join(dir, 'LOCK'), lockOf(child.pid, String(Number(startTime) + 1)));
        const lock = await nfs.lock(path.join(dir, 'LOCK'));
        await lock.release();
      } finally {
        child.kill('SIGKILL');
        await exited(child);
      }
    });

    it('a LOCK left by a killed process not yet reaped (a zombie) does not block', { skip: !onLinux }, async () => {
      // The shell starts a short-lived child, then becomes `sleep`, which never reaps
      // it. The child outlives the exec, so the shell cannot reap it first.
      const parent = spawn('sh', ['-c', 'sleep 0.3 & echo $!; exec sleep 10'], { stdio: ['ignore', 'pipe', 'inherit'] });
      try {
        const pid = Number(await firstLine(parent));
        assert.ok(Number.isSafeInteger(pid) && pid > 0);
        const statPath = `/proc/${pid}/stat`;
        await waitFor(() => / Z /.test(fs.readFileSync(statPath, 'latin1')), `${pid} to become a zombie`);
        fs.writeFileSync(path.join(dir, 'LOCK'), lockOf(pid));
        const lock = await nfs.lock(path.join(dir, 'LOCK'));
        await lock.release();
      } finally {
        parent.kill('SIGKILL');
        await exited(parent);
      }
    });

    it('an empty or garbled LOCK (a crash before its bytes were synced) does not block', async () => {
      for (const content of ['', '\0\0\0\0', 'not a pid\n']) {
        fs.writeFileSync(path.join(dir, 'LOCK'), content);
        const lock = await nfs.lock(path.join(dir, 'LOCK'));
        await lock.release();
      }
    });
  });
});
