import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { CorruptionError, DB, ShaleError, type FileSystem } from '../../src/index.js';
import { CrashableFS, Rng } from '../../src/testing/index.js';
import { readLogEvents } from '../../src/wal/log-reader.js';
import { copyDir, filesMatching, tempDir } from '../helpers.js';

/** Creates a database holding k0..k(n-1) written one sync put at a time, closed. Returns its directory. */
async function databaseWithRecords(count: number, options: { sync?: boolean } = {}): Promise<string> {
  const dir = tempDir();
  const db = await DB.open(dir);
  for (let i = 0; i < count; i++) await db.put(`k${i}`, `value-${i}`, { sync: options.sync ?? true });
  await db.close();
  return dir;
}

function newestLog(dir: string): string {
  const logs = filesMatching(dir, /\.log$/);
  return path.join(dir, logs[logs.length - 1]!);
}

/** The start offsets of the records of a log (record 0 is the file header). */
function recordOffsets(file: string): { offset: number; end: number }[] {
  return [...readLogEvents(fs.readFileSync(file))].map((event) => {
    assert.equal(event.kind, 'record');
    return event.kind === 'record' ? { offset: event.offset, end: event.end } : { offset: -1, end: -1 };
  });
}

async function keysPresent(dir: string, count: number, options = {}): Promise<{ present: number; db: DB }> {
  const db = await DB.open(dir, options);
  let present = 0;
  for (let i = 0; i < count; i++) {
    const value = await db.get(`k${i}`);
    if (value !== undefined) {
      assert.equal(value.toString(), `value-${i}`);
      present++;
    }
  }
  return { present, db };
}

function flipBit(file: string, offset: number): void {
  const bytes = fs.readFileSync(file);
  bytes[offset]! ^= 0x10;
  fs.writeFileSync(file, bytes);
}

describe('WAL recovery', () => {
  it('recovers every write after a clean close', async () => {
    const dir = await databaseWithRecords(50);
    const { present, db } = await keysPresent(dir, 50);
    assert.equal(present, 50);
    assert.equal(db.latestSequence, 50n);
    assert.equal(db.recoveryReport.writesReplayed, 50);
    await db.close();
  });

  it('drops a torn tail at every byte offset of the last record and recovers everything before it', async () => {
    const dir = await databaseWithRecords(5);
    const log = newestLog(dir);
    const last = recordOffsets(log).at(-1)!;
    for (let cut = last.offset; cut < last.end; cut++) {
      const copy = copyDir(dir);
      fs.truncateSync(path.join(copy, path.basename(log)), cut);
      const { present, db } = await keysPresent(copy, 5);
      assert.equal(present, 4, `cut at ${cut}`);
      assert.equal(db.latestSequence, 4n);
      assert.equal(db.recoveryReport.droppedBytes, cut - last.offset, `cut at ${cut}`);
      assert.equal(db.recoveryReport.stoppedAt?.offset ?? -1, cut === last.offset ? -1 : last.offset);
      await db.close();
    }
  });

  it('drops a zeroed tail silently and reports its bytes', async () => {
    const dir = await databaseWithRecords(3);
    fs.appendFileSync(newestLog(dir), Buffer.alloc(8192));
    const { present, db } = await keysPresent(dir, 3);
    assert.equal(present, 3);
    assert.equal(db.recoveryReport.droppedBytes, 8192);
    assert.equal(db.recoveryReport.droppedRecords, 0);
    await db.close();
  });

  it('after dropping a tail, the next open is clean and new writes follow the recovered ones', async () => {
    const dir = await databaseWithRecords(3);
    fs.appendFileSync(newestLog(dir), Buffer.from('garbage that is not a record'));
    let db = await DB.open(dir);
    await db.put('after', 'x');
    assert.equal(db.latestSequence, 4n);
    await db.close();
    db = await DB.open(dir);
    assert.equal(db.recoveryReport.droppedBytes, 0);
    assert.equal((await db.get('after'))?.toString(), 'x');
    assert.equal(db.latestSequence, 4n);
    await db.close();
  });

  it('a flipped bit in a synced record that later records follow is CORRUPTION naming the file and offset', async () => {
    const dir = await databaseWithRecords(5);
    const log = newestLog(dir);
    const second = recordOffsets(log)[2]!;
    flipBit(log, second.offset + 12);
    await assert.rejects(DB.open(dir), (err: unknown) => {
      assert.ok(err instanceof CorruptionError);
      assert.equal(err.code, 'CORRUPTION');
      assert.equal(err.file, log);
      assert.equal(err.offset, second.offset);
      return true;
    });
  });

  it('the lock is released when open fails, so a repaired database opens', async () => {
    const dir = await databaseWithRecords(5);
    const log = newestLog(dir);
    flipBit(log, recordOffsets(log)[2]!.offset + 12);
    await assert.rejects(DB.open(dir), CorruptionError);
    const db = await DB.open(dir, { walRecovery: 'point-in-time' });
    await db.close();
  });

  it('damage among unsynced records past the last synced point is a tolerated tail', async () => {
    const dir = tempDir();
    const db = await DB.open(dir);
    await db.put('k0', 'value-0');
    for (let i = 1; i < 5; i++) await db.put(`k${i}`, `value-${i}`, { sync: false });
    await db.close();
    // A power loss kept the records after k1 but zeroed k1's: those later records claim
    // only k0's end as synced, so the damage is a torn tail and recovery stops before it.
    const log = newestLog(dir);
    const k1 = recordOffsets(log)[2]!;
    const bytes = fs.readFileSync(log);
    bytes.fill(0, k1.offset, k1.end);
    fs.writeFileSync(log, bytes);
    const { present, db: reopened } = await keysPresent(dir, 5);
    assert.equal(present, 1);
    assert.equal(reopened.recoveryReport.droppedRecords, 3);
    await reopened.close();
  });

  it("walRecovery 'absolute' rejects even a torn tail", async () => {
    const dir = await databaseWithRecords(3);
    const log = newestLog(dir);
    fs.truncateSync(log, fs.statSync(log).size - 2);
    await assert.rejects(DB.open(dir, { walRecovery: 'absolute' }), CorruptionError);
  });

  it("walRecovery 'point-in-time' stops at the first bad record without an error", async () => {
    const dir = await databaseWithRecords(6);
    const log = newestLog(dir);
    flipBit(log, recordOffsets(log)[3]!.offset + 12);
    const { present, db } = await keysPresent(dir, 6, { walRecovery: 'point-in-time' });
    assert.equal(present, 2);
    assert.equal(db.latestSequence, 2n);
    assert.equal(db.recoveryReport.droppedRecords, 3);
    await db.close();
  });

  it('damage in a log older than the newest is CORRUPTION; point-in-time drops the later logs', async () => {
    // Flushes that never finish keep every frozen memtable's log, as a crash before
    // the flushes completed would.
    const crashable = new CrashableFS();
    const stalling = new Proxy(crashable, {
      get(target, property) {
        if (property === 'create') return (p: string) => (p.endsWith('.sst') ? new Promise(() => undefined) : target.create(p));
        const value: unknown = Reflect.get(target, property, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    }) as FileSystem;
    const db = await DB.open('/db', { fs: stalling, memtableSizeBytes: 1024, immutableMemtableCountMax: 64 });
    for (let i = 0; i < 40; i++) await db.put(`k${i}`, `value-${i}`);
    const fs = crashable.crashClone('drop-unsynced', new Rng(1));
    const logs = fs.listAll().filter((name) => name.endsWith('.log')).sort();
    assert.ok(logs.length >= 3, `memtable rotation made ${logs.length} logs`);
    const older = logs[0]!;
    const offsets = [...readLogEvents(fs.readFileSync(older))].map((event) => event.offset);
    fs.flipBit(older, offsets[3]! + 12);
    await assert.rejects(DB.open('/db', { fs }), (err: unknown) => err instanceof CorruptionError && err.file === older);
    const recovered = await DB.open('/db', { fs, walRecovery: 'point-in-time' });
    const present = [];
    for (let i = 0; i < 40; i++) if ((await recovered.get(`k${i}`)) !== undefined) present.push(i);
    assert.deepEqual(present, [0, 1]);
    assert.deepEqual(recovered.recoveryReport.logsDropped, logs.slice(1).map((name) => Number.parseInt(path.basename(name), 10)));
    await recovered.close();
    const reopened = await DB.open('/db', { fs });
    assert.equal(reopened.latestSequence, 2n);
    await reopened.close();
  });

  it('a missing CURRENT with data files present is CORRUPTION, not a fresh database', async () => {
    const dir = await databaseWithRecords(2);
    fs.rmSync(path.join(dir, 'CURRENT'));
    await assert.rejects(DB.open(dir), (err: unknown) => err instanceof ShaleError && err.code === 'CORRUPTION');
  });

  it('a CURRENT naming no MANIFEST is CORRUPTION naming CURRENT', async () => {
    const dir = await databaseWithRecords(2);
    fs.writeFileSync(path.join(dir, 'CURRENT'), 'MANIFEST-999999\n');
    await assert.rejects(
      DB.open(dir),
      (err: unknown) => err instanceof CorruptionError && err.file.endsWith('CURRENT') && err.message.includes('MANIFEST-999999'),
    );
    fs.writeFileSync(path.join(dir, 'CURRENT'), 'garbage');
    await assert.rejects(DB.open(dir), (err: unknown) => err instanceof CorruptionError && err.file.endsWith('CURRENT'));
  });

  it('leaves no temp files or old MANIFESTs after open', async () => {
    const dir = await databaseWithRecords(2);
    fs.writeFileSync(path.join(dir, '000099.tmp'), 'partial');
    const db = await DB.open(dir);
    assert.deepEqual(filesMatching(dir, /\.tmp$/), []);
    assert.equal(filesMatching(dir, /^MANIFEST-/).length, 1);
    await db.close();
  });
});
