/**
 * `DB.destroy`: removes shale's files and nothing else, refuses an open database
 * and a directory that holds no shale database (LevelDB's names are shale's too).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { DB, ShaleError } from '../../src/index.js';
import { CrashableFS } from '../../src/testing/index.js';
import { tempDir } from '../helpers.js';
import { DIR, OPTIONS, fixture } from './tool-fixture.js';

const code = (expected: string) => (err: unknown) => err instanceof ShaleError && err.code === expected;

describe('DB.destroy', () => {
  it('removes every file of a database, and the directory once empty (node:fs)', async () => {
    const dir = path.join(tempDir(), 'db');
    const db = await DB.open(dir);
    await db.put('a', '1');
    await db.flush();
    await db.put('b', '2');
    await db.close();
    const report = await DB.destroy(dir);
    assert.ok(report.removed.includes('CURRENT') && report.removed.some((name) => name.endsWith('.sst')) && report.removed.some((name) => name.endsWith('.log')));
    assert.deepEqual(report.kept, []);
    assert.equal(report.directoryRemoved, true);
    assert.equal(fs.existsSync(dir), false);
  });

  it('leaves files that are not shale\'s, and the directory holding them', async () => {
    const dir = tempDir();
    const db = await DB.open(dir);
    await db.put('a', '1');
    await db.close();
    fs.writeFileSync(path.join(dir, 'notes.txt'), 'mine');
    const report = await DB.destroy(dir);
    assert.deepEqual(report.kept, ['notes.txt']);
    assert.equal(report.directoryRemoved, false);
    assert.deepEqual(fs.readdirSync(dir), ['notes.txt']);
  });

  it('removes what repair moved to lost/', async () => {
    const { fs: memory, table, dataBlocks } = await fixture();
    memory.flipBit(table, dataBlocks[0]!.offset, 0);
    await DB.repair(DIR, { fs: memory });
    const report = await DB.destroy(DIR, { fs: memory });
    assert.ok(report.removed.includes(`lost/${path.basename(table)}`), report.removed.join(', '));
    assert.deepEqual(memory.listAll(), []);
  });

  it('refuses an open database with LOCKED and removes nothing', async () => {
    const { fs: memory } = await fixture();
    const db = await DB.open(DIR, { fs: memory, ...OPTIONS });
    const before = memory.listAll();
    await assert.rejects(DB.destroy(DIR, { fs: memory }), code('LOCKED'));
    assert.deepEqual(memory.listAll(), before, 'nothing removed');
    await db.close();
  });

  it('refuses a directory of foreign files, even with shale-like names (LevelDB uses CURRENT, MANIFEST- and .log)', async () => {
    const memory = new CrashableFS();
    await memory.mkdir('/other');
    memory.writeFileSync('/other/CURRENT', Buffer.from('MANIFEST-000001\n'), { synced: true });
    memory.writeFileSync('/other/MANIFEST-000001', Buffer.from('leveldb bytes, not shale'), { synced: true });
    memory.writeFileSync('/other/000003.log', Buffer.alloc(100, 7), { synced: true });
    await assert.rejects(DB.destroy('/other', { fs: memory }), code('NOT_FOUND'));
    assert.equal(memory.listAll().length, 3);
    await assert.rejects(DB.destroy('/nowhere', { fs: memory }), code('NOT_FOUND'));
    await assert.rejects(DB.destroy(42 as never), code('INVALID_ARGUMENT'));
  });
});
