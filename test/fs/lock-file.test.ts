/**
 * The directory lock across PID namespaces, boots and hosts: the rule that
 * judges a LOCK someone left (`judgeLock`, with forged LOCK contents), and a real
 * second PID namespace holding a database open while this process tries to open it.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DB, ShaleError } from '../../src/index.js';
import {
  LOCK_FORMAT_VERSION,
  LOCK_STALE_MS,
  formatLock,
  judgeLock,
  parseLock,
  type LockIdentity,
  type LockProbe,
} from '../../src/fs/lock-file.js';
import { tempDir } from '../helpers.js';

const indexModule = fileURLToPath(new URL('../../src/index.js', import.meta.url));

const HERE: LockIdentity = {
  pid: 4242,
  startTime: '900',
  pidNamespace: 'pid:[4026531836]',
  bootId: '46112035-78eb-4cc1-890c-d213bf547f9d',
  hostname: 'vm',
};

/** The owner of a forged LOCK: by default a process in our namespace, boot and host. */
function owner(overrides: Partial<LockIdentity> = {}): LockIdentity {
  return { ...HERE, pid: 1, startTime: '77', ...overrides };
}

/** A probe of a forged system where `running` pids run with the given start times. */
function probe(running: Record<number, string>, heartbeatAgeMs: number | undefined, options: { zombies?: number[]; here?: LockIdentity } = {}): LockProbe {
  return {
    here: options.here ?? HERE,
    heartbeatAgeMs,
    processState: (pid) => (options.zombies?.includes(pid) ? 'zombie' : running[pid] !== undefined ? 'running' : 'gone'),
    startTime: (pid) => running[pid],
  };
}

const FRESH_MS = 1_000;
const STALE_MS = LOCK_STALE_MS + 1_000;

describe('judgeLock: may a LOCK found in place be taken over?', () => {
  describe('an owner in our PID namespace, boot and host is judged by its pid, at once', () => {
    it('a running pid with the recorded start time holds the lock, however old its heartbeat', () => {
      const verdict = judgeLock(formatLock(owner()), probe({ 1: '77' }, STALE_MS));
      assert.equal(verdict.stale, false, verdict.reason);
    });
    it('a dead pid is stale even with a fresh heartbeat (a kill -9 does not block the next open)', () => {
      const verdict = judgeLock(formatLock(owner()), probe({}, 0));
      assert.equal(verdict.stale, true, verdict.reason);
      assert.match(verdict.reason, /process 1 .*is gone/);
    });
    it('a zombie (killed, not yet reaped) is stale', () => {
      assert.equal(judgeLock(formatLock(owner()), probe({ 1: '77' }, 0, { zombies: [1] })).stale, true);
    });
    it('a running pid with another start time is a reused pid: stale', () => {
      assert.equal(judgeLock(formatLock(owner()), probe({ 1: '78' }, 0)).stale, true);
    });
    it('without /proc on either side (no namespaces, no boot ids) the pid is all there is', () => {
      const bare = { pidNamespace: undefined, bootId: undefined, startTime: undefined };
      const here = { ...HERE, ...bare };
      assert.equal(judgeLock(formatLock(owner(bare)), probe({}, 0, { here })).stale, true);
      assert.equal(judgeLock(formatLock(owner(bare)), probe({ 1: '1' }, STALE_MS, { here })).stale, false);
    });
  });

  const foreignOwners: { name: string; identity: LockIdentity }[] = [
    { name: 'another PID namespace (a container)', identity: owner({ pidNamespace: 'pid:[4026532178]' }) },
    { name: 'another boot of the kernel', identity: owner({ bootId: 'a0000000-0000-0000-0000-000000000000' }) },
    { name: 'another host', identity: owner({ hostname: 'other-host' }) },
    { name: 'a namespace it could not read', identity: owner({ pidNamespace: undefined }) },
    { name: 'a boot id it could not read', identity: owner({ bootId: undefined }) },
  ];
  for (const { name, identity } of foreignOwners) {
    describe(`an owner in ${name}: its pid means nothing here, its heartbeat decides`, () => {
      it('with a fresh heartbeat it holds the lock, though a process with its pid runs here with another start time, or none does', () => {
        for (const running of [{}, { 1: '5' }, { 1: '77' }]) {
          const verdict = judgeLock(formatLock(identity), probe(running, FRESH_MS));
          assert.equal(verdict.stale, false, `${JSON.stringify(running)}: ${verdict.reason}`);
          assert.match(verdict.reason, /heartbeat is 1 s old/);
        }
      });
      it('with a heartbeat stopped for longer than LOCK_STALE_MS it is stale', () => {
        const verdict = judgeLock(formatLock(identity), probe({}, STALE_MS));
        assert.equal(verdict.stale, true, verdict.reason);
      });
      it('with a heartbeat that cannot be read it holds the lock: nothing is taken on a guess', () => {
        assert.equal(judgeLock(formatLock(identity), probe({}, undefined)).stale, false);
      });
    });
  }

  it('an owner that beats slowly gets 5 of its intervals before it is stale', () => {
    const slow = formatLock(owner({ pidNamespace: 'pid:[1]' }), 20_000);
    assert.equal(judgeLock(slow, probe({}, 90_000)).stale, false);
    assert.equal(judgeLock(slow, probe({}, 110_000)).stale, true);
  });

  describe('an old-format LOCK (version 1: "<pid> <starttime>", no namespace, no heartbeat)', () => {
    it('is held while its pid runs here with the recorded start time, or by pid alone', () => {
      assert.equal(judgeLock('1 77\n', probe({ 1: '77' }, STALE_MS)).stale, false);
      assert.equal(judgeLock('1\n', probe({ 1: '5' }, STALE_MS)).stale, false);
    });
    it('is never taken on the pid\'s absence, which may only mean another namespace; the error says so', () => {
      for (const running of [{}, { 1: '78' }]) {
        const verdict = judgeLock('1 77\n', probe(running, STALE_MS));
        assert.equal(verdict.stale, false);
        assert.match(verdict.reason, /LOCK format 1.*may run in another/);
      }
    });
  });

  it('a LOCK that is empty or garbled (a power loss before its bytes were synced) is stale: no live owner leaves one', () => {
    for (const content of ['', '\0\0\0\0', 'not a pid\n', `shale LOCK ${LOCK_FORMAT_VERSION}\npid 1\n`.slice(0, 15)]) {
      assert.equal(judgeLock(content, probe({ 1: '77' }, 0)).stale, true, JSON.stringify(content));
    }
  });

  it('a LOCK in a newer format is held: this version cannot read its owner', () => {
    assert.equal(judgeLock('shale LOCK 3\npid 1\n', probe({}, STALE_MS)).stale, false);
  });

  it('formatLock and parseLock round-trip every field, unknown ones as undefined', () => {
    const full = owner({ hostname: 'host with spaces' });
    assert.deepEqual(parseLock(formatLock(full, 1500)), { version: 2, ...full, hostname: 'host_with_spaces', heartbeatMs: 1500 });
    const bare = owner({ startTime: undefined, pidNamespace: undefined, bootId: undefined, hostname: undefined });
    assert.deepEqual(parseLock(formatLock(bare)), { version: 2, ...bare, heartbeatMs: 2000 });
    assert.deepEqual(parseLock('12 34\n'), { version: 1, pid: 12, startTime: '34', pidNamespace: undefined, bootId: undefined, hostname: undefined, heartbeatMs: undefined });
  });
});

/**
 * A new PID namespace with its own /proc, whose first process (pid 1 there) is
 * killed when unshare is: without --kill-child it would outlive a SIGKILL to unshare.
 */
const UNSHARE_ARGS = ['--pid', '--fork', '--mount-proc', '--kill-child'];

/** Whether this process may make a PID namespace; the reason it may not, if not. */
function whyNoPidNamespace(): string | undefined {
  if (process.platform !== 'linux') return `PID namespaces are Linux only (this is ${process.platform})`;
  const probeRun = spawnSync('unshare', [...UNSHARE_ARGS, 'true'], { encoding: 'utf8' });
  if (probeRun.error !== undefined) return `unshare cannot run: ${probeRun.error.message}`;
  if (probeRun.status !== 0) return `unshare ${UNSHARE_ARGS.join(' ')} is not permitted here: ${probeRun.stderr.trim()}`;
  return undefined;
}

/** Whether `pid` runs (a zombie does not count: it writes nothing more). */
function isRunning(pid: number): boolean {
  try {
    return !/^\S+ \(.*\) [ZX] /.test(fs.readFileSync(`/proc/${pid}/stat`, 'latin1'));
  } catch {
    return false;
  }
}

async function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => child.once('exit', () => resolve()));
}

/** Reads the child's lines until one matches; rejects if it exits first. */
function lineMatching(child: ChildProcess, pattern: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (chunk: Buffer): void => {
      text += chunk.toString();
      const line = text.split('\n').find((l) => pattern.test(l));
      if (line !== undefined) {
        child.stdout?.off('data', onData);
        resolve(line);
      }
    };
    child.stdout?.on('data', onData);
    child.once('exit', (code, signal) => reject(new Error(`child exited (${code ?? signal}) before printing ${pattern}; it printed ${JSON.stringify(text)}`)));
  });
}

describe('the lock across a real PID namespace', () => {
  it('a database held open by pid 1 of another PID namespace is LOCKED here, not taken over, and its acknowledged writes survive', { timeout: 120_000 }, async (t) => {
    const why = whyNoPidNamespace();
    if (why !== undefined) return t.skip(why);
    const dir = tempDir();
    // The child is pid 1 of its own namespace; pid 1 on the host (init) runs, with another start time.
    const script = `
      const { DB } = await import(${JSON.stringify(indexModule)});
      const db = await DB.open(${JSON.stringify(dir)});
      console.log('open as pid ' + process.pid);
      for (let i = 0; ; i++) {
        await db.put('k' + i, 'v' + i);
        if (i % 10 === 0) console.log('acked ' + i);
      }`;
    const child = spawn('unshare', [...UNSHARE_ARGS, process.execPath, '--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      assert.equal(await lineMatching(child, /^open as pid/), 'open as pid 1');
      await lineMatching(child, /^acked 20$/);
      const lock = fs.readFileSync(path.join(dir, 'LOCK'), 'latin1');
      assert.match(lock, /^shale LOCK 2\npid 1\n/, 'the LOCK names pid 1 of the other namespace');
      await assert.rejects(DB.open(dir), (err: unknown) => {
        assert.ok(err instanceof ShaleError, String(err));
        assert.equal(err.code, 'LOCKED', err.message);
        assert.match(err.message, /another PID namespace/);
        assert.match(err.message, new RegExp(`remove ${path.join(dir, 'LOCK').replace(/[/.]/g, '\\$&')}`));
        return true;
      });
      assert.equal(fs.readFileSync(path.join(dir, 'LOCK'), 'latin1'), lock, 'the LOCK was not touched');
      const lastAcked = Number((await lineMatching(child, /^acked \d*0$/)).split(' ')[1]);
      // The database's process as the host sees it: unshare's only child.
      const hostPid = Number(fs.readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'latin1').trim());
      assert.ok(Number.isSafeInteger(hostPid) && hostPid > 0, `host pid ${hostPid}`);
      child.kill('SIGKILL');
      await exited(child);
      while (isRunning(hostPid)) await new Promise((resolve) => setTimeout(resolve, 20));

      // Its process is gone, but from here nothing can prove it: the heartbeat must go stale first.
      await assert.rejects(DB.open(dir), (err: unknown) => err instanceof ShaleError && err.code === 'LOCKED');
      const stopped = new Date(Date.now() - LOCK_STALE_MS - 10_000);
      fs.utimesSync(path.join(dir, 'LOCK'), stopped, stopped);
      const db = await DB.open(dir);
      for (let i = 0; i <= lastAcked; i++) assert.equal((await db.get(`k${i}`))?.toString(), `v${i}`, `k${i}`);
      await db.close();
    } finally {
      child.kill('SIGKILL');
      await exited(child);
    }
  });

  // Not timed: it waits for the change however long it takes; the timeout only ends a hang.
  it('the owner keeps its heartbeat: the LOCK\'s mtime moves while the database is open', { timeout: 120_000 }, async (t) => {
    const dir = tempDir();
    const db = await DB.open(dir);
    try {
      const lockPath = path.join(dir, 'LOCK');
      const old = new Date(Date.now() - 60_000);
      fs.utimesSync(lockPath, old, old);
      const touched = (): boolean => fs.statSync(lockPath).mtimeMs > old.getTime() + 30_000;
      while (!touched()) await new Promise((resolve) => setTimeout(resolve, 200));
    } finally {
      await db.close();
    }
    t.diagnostic('heartbeat seen');
  });
});
