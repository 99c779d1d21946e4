/**
 * Opening a database in a directory that is not quite what shale left: foreign
 * files, failing reads, failing removals. Open either succeeds or fails with a
 * typed `ShaleError` and leaves nothing open behind it.
 */
import assert from 'node:assert/strict';
import * as nodeFs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { DB, ShaleError } from '../../src/index.js';
import { NodeFileSystem } from '../../src/fs/node-fs.js';
import { parseFileName } from '../../src/filenames.js';
import { CrashableFS, FaultFS, Rng, type CrashMode, type FaultRule } from '../../src/testing/index.js';
import { filesMatching, tempDir } from '../helpers.js';

/** A closed database on disk holding k0..k9, with a MANIFEST, a table and a log for open to read. */
async function smallDatabase(): Promise<string> {
  const dir = tempDir();
  const db = await DB.open(dir);
  for (let i = 0; i < 5; i++) await db.put(`k${i}`, `v${i}`);
  await db.flush();
  for (let i = 5; i < 10; i++) await db.put(`k${i}`, `v${i}`);
  await db.close();
  return dir;
}

async function checkAllKeys(db: DB): Promise<void> {
  for (let i = 0; i < 10; i++) assert.equal((await db.get(`k${i}`))?.toString(), `v${i}`, `k${i}`);
}

/** Asserts `err` is a ShaleError with `code` whose cause is the OS error `causeCode`. */
function isTyped(err: unknown, code: string, causeCode: string): true {
  assert.ok(err instanceof ShaleError, `expected a ShaleError, got ${String(err)}`);
  assert.equal(err.code, code, err.message);
  assert.equal((err.cause as NodeJS.ErrnoException | undefined)?.code, causeCode, `cause of ${err.message}`);
  return true;
}

describe('file numbers past 2^53 - 1 are foreign files', () => {
  it('parseFileName ignores numbers a double cannot hold exactly, and keeps the largest safe one', () => {
    assert.equal(parseFileName('9007199254740993.sst'), undefined);
    assert.equal(parseFileName('99999999999999999999.tmp'), undefined);
    assert.equal(parseFileName('100000000000000000000.log'), undefined);
    assert.equal(parseFileName('MANIFEST-9007199254740992'), undefined);
    assert.deepEqual(parseFileName('9007199254740991.sst'), { kind: 'table', fileNumber: Number.MAX_SAFE_INTEGER });
  });

  for (const stray of ['99999999999999999999.tmp', '9007199254740993.sst']) {
    it(`an empty stray ${stray} does not stop open, write, flush and reopen, and is left alone`, async () => {
      const dir = await smallDatabase();
      nodeFs.writeFileSync(path.join(dir, stray), '');
      for (let round = 0; round < 3; round++) {
        const db = await DB.open(dir);
        await checkAllKeys(db);
        await db.put(`round${round}`, 'x');
        await db.flush();
        await db.close();
      }
      const db = await DB.open(dir);
      for (let round = 0; round < 3; round++) assert.equal((await db.get(`round${round}`))?.toString(), 'x');
      await db.close();
      assert.ok(nodeFs.existsSync(path.join(dir, stray)), 'a foreign file is not deleted');
      const numbered = filesMatching(dir, /^\d+\.(log|sst|tmp)$/).filter((name) => name !== stray);
      for (const name of numbered) assert.ok(Number.isSafeInteger(Number(name.split('.')[0])), `${name} has a safe number`);
    });
  }
});

describe('a failing read while opening is a typed error with the OS error as cause', () => {
  const cases: { name: string; rule: FaultRule }[] = [
    { name: 'EIO reading CURRENT', rule: { op: 'readFile', path: /CURRENT$/, error: 'EIO' } },
    { name: 'EIO opening the MANIFEST', rule: { op: 'openRead', path: /MANIFEST-\d+$/, error: 'EIO' } },
    { name: 'EIO reading the MANIFEST', rule: { op: 'read', path: /MANIFEST-\d+$/, error: 'EIO' } },
    { name: 'EIO opening a WAL for replay', rule: { op: 'openRead', path: /\.log$/, error: 'EIO' } },
    { name: 'EIO reading a WAL during replay', rule: { op: 'read', path: /\.log$/, error: 'EIO' } },
    { name: 'EIO closing a WAL after replay', rule: { op: 'close', path: /\.log$/, nth: 1, error: 'EIO' } },
    { name: 'EIO listing the directory', rule: { op: 'list', error: 'EIO' } },
    { name: 'EIO checking that the directory exists', rule: { op: 'mkdir', error: 'EIO' } },
  ];
  for (const { name, rule } of cases) {
    it(`${name} is IO_ERROR, and the database opens once the disk is healthy`, async () => {
      const dir = await smallDatabase();
      const fs = new FaultFS(new NodeFileSystem());
      fs.addRule(rule);
      await assert.rejects(DB.open(dir, { fs }), (err) => isTyped(err, 'IO_ERROR', 'EIO'));
      assert.ok(fs.injected > 0, 'the fault was injected');
      fs.clearRules();
      const db = await DB.open(dir, { fs });
      await checkAllKeys(db);
      await db.close();
    });
  }

  it('CURRENT being a directory is IO_ERROR with EISDIR as cause', async () => {
    const dir = tempDir();
    nodeFs.mkdirSync(path.join(dir, 'CURRENT'));
    await assert.rejects(DB.open(dir), (err) => isTyped(err, 'IO_ERROR', 'EISDIR'));
  });

  it('CURRENT being a directory is IO_ERROR on the in-memory file system too', async () => {
    const fs = new CrashableFS();
    await fs.mkdir('/db/CURRENT');
    await assert.rejects(DB.open('/db', { fs }), (err) => isTyped(err, 'IO_ERROR', 'EISDIR'));
  });
});

/** Open descriptors of this process; `undefined` where there is no /proc. */
function openDescriptorCount(): number | undefined {
  try {
    return nodeFs.readdirSync('/proc/self/fd').length;
  } catch {
    return undefined;
  }
}

describe('a failed open closes every file it opened', () => {
  // Each rule fails one step of open after some files are open: the WAL being
  // replayed, the recovered table, the new MANIFEST, the new log, the removal of
  // obsolete files. A descriptor left to the garbage collector would show up here
  // as growth (and, for a FileHandle, as node's DEP0137 warning much later).
  const cases: { name: string; rule: FaultRule }[] = [
    { name: 'reading the WAL', rule: { op: 'read', path: /\.log$/, error: 'EIO' } },
    { name: 'syncing the recovered table', rule: { op: 'sync', path: /\.sst$/, error: 'EIO' } },
    { name: 'syncing the new MANIFEST', rule: { op: 'sync', path: /MANIFEST-\d+$/, error: 'EIO' } },
    { name: 'installing CURRENT', rule: { op: 'rename', path: /CURRENT$/, error: 'EIO' } },
    { name: 'creating the new log', rule: { op: 'create', path: /\.log$/, error: 'EIO' } },
    { name: 'syncing the directory after the new log', rule: { op: 'syncDir', nth: 4, error: 'EIO' } },
    { name: 'removing an obsolete file', rule: { op: 'remove', error: 'EIO' } },
  ];
  for (const { name, rule } of cases) {
    it(`failing at ${name}, 30 times over, leaves no descriptor open`, async (t) => {
      if (openDescriptorCount() === undefined) return t.skip('no /proc/self/fd on this system');
      const dir = await smallDatabase();
      const failingOpen = async (): Promise<void> => {
        const fs = new FaultFS(new NodeFileSystem());
        fs.addRule(rule);
        // Unflushed writes, so that every open has a WAL to replay and a table to write.
        const db = await DB.open(dir);
        await db.put('unflushed', 'x');
        await db.close();
        await assert.rejects(DB.open(dir, { fs }), (err) => err instanceof ShaleError);
        assert.ok(fs.injected > 0, `the fault at ${name} was injected`);
      };
      await failingOpen(); // Warm up: node opens some descriptors of its own on first use.
      const before = openDescriptorCount();
      for (let i = 0; i < 30; i++) await failingOpen();
      assert.equal(openDescriptorCount(), before, 'open descriptors before and after 30 failed opens');
      const db = await DB.open(dir);
      await checkAllKeys(db);
      await db.close();
    });
  }
});

describe('creating the database directory', () => {
  // A power loss may drop a directory entry its parent never synced, and with it
  // the directory and every acknowledged write inside.
  it('a database made in directories that did not exist keeps a sync write through every crash', async () => {
    const modes: CrashMode[] = ['drop-unsynced', 'keep-prefix'];
    const fs = new CrashableFS();
    const db = await DB.open('/a/b/db', { fs });
    await db.put('k', 'v');
    for (const mode of modes) {
      for (let i = 0; i < 32; i++) {
        const after = fs.crashClone(mode, new Rng(i));
        const reopened = await DB.open('/a/b/db', { fs: after, createIfMissing: false });
        assert.equal((await reopened.get('k'))?.toString(), 'v', `${mode}, crash ${i}`);
        await reopened.close();
      }
    }
    await db.close();
  });

  it('only the levels open created have their parents synced, each once', async () => {
    const fs = new CrashableFS();
    await fs.mkdir('/a');
    await fs.syncDir('/');
    const faults = new FaultFS(fs);
    const synced: string[] = [];
    const spy: typeof faults.syncDir = async (dir) => {
      synced.push(dir);
      await FaultFS.prototype.syncDir.call(faults, dir);
    };
    faults.syncDir = spy;
    await (await DB.open('/a/b/c/db', { fs: faults })).close();
    const parents = synced.filter((dir) => !dir.endsWith('/db'));
    assert.deepEqual(parents.sort(), ['/a', '/a/b', '/a/b/c']);
    synced.length = 0;
    await (await DB.open('/a/b/c/db', { fs: faults })).close();
    assert.deepEqual(synced.filter((dir) => !dir.endsWith('/db')), [], 'reopening creates nothing, so syncs no parent');
  });
});
