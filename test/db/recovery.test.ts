import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { CorruptionError, DB, ShaleError, type FileSystem } from '../../src/index.js';
import { CrashableFS, Rng } from '../../src/testing/index.js';
import { EntryType } from '../../src/keys.js';
import type { WalRecoveryMode } from '../../src/options.js';
import { LOG_BLOCK_BYTES, RecordKind } from '../../src/wal/log-format.js';
import { readLogEvents } from '../../src/wal/log-reader.js';
import { frameRecord } from '../../src/wal/log-writer.js';
import { encodeWriteGroup, opEncodedBytes } from '../../src/wal/write-group.js';
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
    // A power loss kept the records after k1 but zeroed k1's payload: those later records
    // claim only k0's end as synced, so the damage is a torn tail and recovery stops before it.
    const log = newestLog(dir);
    const k1 = recordOffsets(log)[2]!;
    const payloadZeroed = copyDir(dir);
    const bytes = fs.readFileSync(log);
    bytes.fill(0, k1.offset + 7, k1.end);
    fs.writeFileSync(path.join(payloadZeroed, path.basename(log)), bytes);
    const { present, db: reopened } = await keysPresent(payloadZeroed, 5);
    assert.equal(present, 1);
    assert.equal(reopened.recoveryReport.droppedRecords, 3);
    await reopened.close();
    // With k1's header zeroed too, nothing says where the next chunk starts: the reader
    // skips the rest of the block instead of trying bytes, and drops the same tail.
    bytes.fill(0, k1.offset, k1.end);
    fs.writeFileSync(log, bytes);
    const { present: presentAfterZeroedHeader, db: again } = await keysPresent(dir, 5);
    assert.equal(presentAfterZeroedHeader, 1);
    assert.equal(again.recoveryReport.droppedRecords, 0);
    assert.equal(again.recoveryReport.droppedBytes, bytes.length - k1.offset);
    await again.close();
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

/**
 * Bytes a user might store that are themselves log framing, built with the real
 * writer: a FULL chunk holding a write group that claims 2^40 bytes were synced,
 * and the smallest chunk there is (8 bytes: a header and a one-byte payload).
 */
function chunkShapedBytes(): Buffer {
  const op = { type: EntryType.PUT, key: Buffer.from('fake-key'), value: Buffer.from('fake-value') };
  const group = encodeWriteGroup(2 ** 40, 1, [[op]], 1, opEncodedBytes(op));
  return Buffer.concat([Buffer.from('['), frameRecord(group, 0), frameRecord(Buffer.from([RecordKind.VERSION_EDIT]), 0), Buffer.from(']')]);
}

type Outcome = 'opened' | 'CORRUPTION';

/** Opens `dir` in `mode`; returns the outcome and, when it opened, how many of k0..k(count-1) it holds. */
async function openOutcome(dir: string, mode: WalRecoveryMode, count: number): Promise<{ outcome: Outcome; present: number }> {
  let db: DB;
  try {
    db = await DB.open(dir, { walRecovery: mode });
  } catch (err) {
    if (!(err instanceof CorruptionError)) throw err;
    return { outcome: 'CORRUPTION', present: -1 };
  }
  let present = 0;
  for (let i = 0; i < count; i++) {
    const value = await db.get(`k${i}`);
    if (value === undefined) continue;
    assert.ok(value.toString('latin1').startsWith(`value-${i}`), `k${i} holds its own value`);
    present++;
  }
  await db.close();
  return { outcome: 'opened', present };
}

/** A database whose 5 sync puts k0..k4 have values embedding `inner` (plain or chunk-shaped bytes), closed. */
async function databaseWithValuesEmbedding(inner: Buffer): Promise<string> {
  const dir = tempDir();
  const db = await DB.open(dir);
  for (let i = 0; i < 5; i++) await db.put(`k${i}`, Buffer.concat([Buffer.from(`value-${i}`), inner]));
  await db.close();
  return dir;
}

const MODES: WalRecoveryMode[] = ['tolerate-tail', 'absolute', 'point-in-time'];

describe('WAL recovery with user bytes that look like log framing', () => {
  // Ways a crash damages the last record: cut at a byte, or its first bytes lost
  // (a page not written) with the rest of the record kept.
  const damages = (last: { offset: number; end: number }): { name: string; apply: (file: string) => void }[] => {
    const out: { name: string; apply: (file: string) => void }[] = [];
    for (let at = last.offset + 1; at < last.end; at++) {
      out.push({ name: `cut at ${at}`, apply: (file) => fs.truncateSync(file, at) });
      if ((at - last.offset) % 7 === 0) {
        out.push({
          name: `zeroed ${last.offset}..${at}`,
          apply: (file) => {
            const bytes = fs.readFileSync(file);
            bytes.fill(0, last.offset, at);
            fs.writeFileSync(file, bytes);
          },
        });
      }
    }
    return out;
  };

  it('a torn last record opens (tail dropped) exactly as it does with plain bytes, in every mode', async () => {
    const framed = await databaseWithValuesEmbedding(chunkShapedBytes());
    const plain = await databaseWithValuesEmbedding(Buffer.alloc(chunkShapedBytes().length, 'p'));
    const log = (dir: string): string => newestLog(dir);
    const lastFramed = recordOffsets(log(framed)).at(-1)!;
    const lastPlain = recordOffsets(log(plain)).at(-1)!;
    assert.deepEqual(lastFramed, lastPlain, 'both logs have the same layout');
    let tried = 0;
    // Every damage with chunk-shaped bytes in the default mode; every fourth in the other
    // modes and with plain bytes (the control), to keep the test short.
    for (const [index, damage] of damages(lastFramed).entries()) {
      for (const mode of MODES) {
        const dirs = index % 4 === 0 ? ([['plain', plain], ['chunk-shaped', framed]] as const) : ([['chunk-shaped', framed]] as const);
        if (mode !== 'tolerate-tail' && index % 4 !== 0) continue;
        const expected = mode === 'absolute' ? { outcome: 'CORRUPTION', present: -1 } : { outcome: 'opened', present: 4 };
        for (const [name, dir] of dirs) {
          const copy = copyDir(dir);
          damage.apply(path.join(copy, path.basename(log(dir))));
          assert.deepEqual(await openOutcome(copy, mode, 5), expected, `${name} bytes, ${damage.name}, ${mode}`);
          tried++;
        }
      }
    }
    assert.ok(tried > 200, `${tried} damaged states`);
  });

  it('a damaged header in a synced record is CORRUPTION, shown by the records in the blocks after it', async () => {
    const dir = tempDir();
    const db = await DB.open(dir);
    for (let i = 0; i < 40; i++) await db.put(`k${i}`, Buffer.concat([Buffer.from(`value-${i}`), chunkShapedBytes(), Buffer.alloc(2000, i)]));
    await db.close();
    const log = newestLog(dir);
    const second = recordOffsets(log)[2]!;
    const bytes = fs.readFileSync(log);
    bytes.fill(0, second.offset, second.offset + 7); // nothing left says where the next chunk starts
    fs.writeFileSync(log, bytes);
    assert.ok(bytes.length > 2 * LOG_BLOCK_BYTES);
    await assert.rejects(DB.open(dir), (err: unknown) => err instanceof CorruptionError && err.file === log && err.offset === second.offset);
  });

  it('a flipped bit in a synced record is still CORRUPTION when later records embed chunk-shaped bytes', async () => {
    const dir = await databaseWithValuesEmbedding(chunkShapedBytes());
    const log = newestLog(dir);
    const second = recordOffsets(log)[2]!;
    flipBit(log, second.offset + 12);
    await assert.rejects(DB.open(dir), (err: unknown) => err instanceof CorruptionError && err.file === log && err.offset === second.offset);
  });
});
