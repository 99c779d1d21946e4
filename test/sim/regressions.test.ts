/**
 * Regression tests for bugs the crash simulator, the exhaustive crash points and
 * the I/O-error tests found, each named after what it caught. They build the
 * failing state directly, so they keep testing the bug whatever the simulator's
 * random streams become. (The seeds and call numbers quoted reproduced the bugs
 * on the tree as it was when they were found; later changes shift them.)
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DB } from '../../src/db/db.js';
import type { Options } from '../../src/options.js';
import { ShaleError } from '../../src/errors.js';
import { CrashableFS, type CrashMode } from '../../src/testing/crashable-fs.js';
import { FaultFS } from '../../src/testing/fault-fs.js';
import { Rng } from '../../src/testing/rng.js';
import { ManifestWriter, emptyManifestState, replayManifest } from '../../src/version/manifest.js';
import { emptyEdit } from '../../src/version/version-edit.js';
import { VersionSet } from '../../src/version/version-set.js';
import { CrashPointFS } from '../../sim/crash-point-fs.js';
import { History, checkFiles, checkRecovered } from '../../sim/oracle.js';
import { CRASH_MODES, DIR } from '../../sim/simulate.js';
import { encodeValue, keyOf, type SimWrite } from '../../sim/workload.js';

const OPTIONS: Options = { memtableSizeBytes: 4096, blockSizeBytes: 256, compactionExecutor: 'inline', autoCompaction: false };
const KEYS = [keyOf(1), keyOf(2), keyOf(3)];

/** Every state a crash right after each mutating file operation of `run` may leave: every mode, `variants` draws each. */
async function crashStatesOf(fs: CrashPointFS, run: () => Promise<unknown>, variants: number): Promise<{ at: string; mode: CrashMode; clone: CrashableFS }[]> {
  const states: { at: string; mode: CrashMode; clone: CrashableFS }[] = [];
  const rng = new Rng(1);
  fs.onMutation = (count, op, path) => {
    for (const mode of CRASH_MODES) for (let v = 0; v < variants; v++) states.push({ at: `${count}: ${op} ${path}`, mode, clone: fs.inner.crashClone(mode, rng) });
  };
  await run();
  fs.onMutation = undefined;
  return states;
}

function putWrite(writeId: number, key: Buffer, sync: boolean): SimWrite {
  return { writeId, kind: 'put', sync, ops: [{ type: 'put', key, value: encodeValue(key, writeId, 0, 20) }] };
}

describe('regressions found by the crash simulator', () => {
  // `npm run sim -- --seed 5` (also seeds 1, 7, 16) and the 'creating a database'
  // crash points: open created the first log before CURRENT existed, so a crash
  // in between left a log without CURRENT, which the next open refused as
  // CORRUPTION ("CURRENT is missing but 000002.log exists"): a database that
  // could never be opened again, though nothing had been written to it.
  it('a crash while creating a database never leaves a log without CURRENT: every crash state opens as an empty database', async () => {
    const fs = new CrashPointFS(new CrashableFS());
    const states = await crashStatesOf(fs, async () => (await DB.open(DIR, { ...OPTIONS, fs })).close(), 4);
    assert.ok(states.length >= 4 * 4 * 8, `${states.length} crash states`);
    for (const { at, mode, clone } of states) {
      const db = await DB.open(DIR, { ...OPTIONS, fs: clone }).catch((err: unknown) => assert.fail(`crash after op ${at} (${mode}): ${String(err)}`));
      checkFiles(clone, DIR, db, `crash after op ${at} (${mode})`);
      assert.equal(db.latestSequence, 0n);
      await db.put('k', 'v');
      await db.close();
    }
  });

  // `npm run sim -- --seed 118` (also 120, 122): a crash left a torn tail in the
  // newest log; the open that recovered it created the next log before switching
  // CURRENT to its new MANIFEST, and crashed in between. The next open replayed
  // the old log and the new, empty one, so the old log was no longer the newest
  // and its torn tail was reported as CORRUPTION ("only the newest log may have a
  // torn tail"): the database could not be opened again.
  it('a crash during recovery does not turn the torn tail of the newest log into corruption', async () => {
    const crashable = new CrashableFS();
    const db = await DB.open(DIR, { ...OPTIONS, fs: crashable });
    const history = new History(new Map(), 0);
    const writes = [putWrite(1, KEYS[0]!, true), putWrite(2, KEYS[1]!, true), putWrite(3, KEYS[2]!, false)];
    for (const write of writes) {
      const op = write.ops[0]!;
      const index = history.issue(write);
      await db.put(op.key, op.type === 'put' ? op.value : Buffer.alloc(0), { sync: write.sync });
      history.ack(index);
    }
    // Power loss with half of the last (unsynced) record on disk: a torn tail.
    const log = crashable.listAll().find((file) => file.endsWith('.log'))!;
    const { size, syncedSize } = crashable.fileInfo(log)!;
    assert.ok(size > syncedSize, 'the last write is unsynced');
    const torn = crashable.crashClone('drop-unsynced', new Rng(0));
    torn.writeFileSync(log, crashable.readFileSync(log).subarray(0, syncedSize + Math.floor((size - syncedSize) / 2)), { synced: true });
    await db.close();

    const mark = history.mark();
    const fs = new CrashPointFS(torn);
    const states = await crashStatesOf(fs, async () => (await DB.open(DIR, { ...OPTIONS, fs })).close(), 2);
    assert.ok(states.length > 20, `${states.length} crash states`);
    for (const { at, mode, clone } of states) {
      const where = `crash in recovery after op ${at} (${mode})`;
      const reopened = await DB.open(DIR, { ...OPTIONS, fs: clone }).catch((err: unknown) => assert.fail(`${where}: ${String(err)}`));
      checkFiles(clone, DIR, reopened, where);
      const recovered = await checkRecovered(reopened, history, mark, KEYS, where);
      assert.equal(recovered.prefix, 2, `${where}: the torn write is dropped, the synced ones kept`);
      await reopened.close();
    }
  });
});

/** `err` and its causes, outermost first. */
function causes(err: unknown): unknown[] {
  const chain: unknown[] = [];
  for (let e = err; e !== undefined && chain.length < 10; e = e instanceof Error ? e.cause : undefined) chain.push(e);
  return chain;
}

/** An IO_ERROR caused by the injected EIO, with no assertion failure on the way. */
function isInjectedIoError(err: unknown): boolean {
  assert.ok(err instanceof ShaleError && err.code === 'IO_ERROR', `expected IO_ERROR, got ${String(err)}`);
  const chain = causes(err);
  assert.ok(!chain.some((e) => e instanceof assert.AssertionError), `an assertion failed on the error path: ${chain.map(String).join(' <- ')}`);
  assert.ok(chain.some((e) => (e as NodeJS.ErrnoException).code === 'EIO'), `the EIO is not among the causes: ${chain.map(String).join(' <- ')}`);
  return true;
}

const tables = (fs: CrashableFS): string[] => fs.listAll().filter((file) => file.endsWith('.sst'));

describe('regressions found by the I/O-error tests', () => {
  // io-errors.test.ts, 'EIO on fsync of a file' #78 and 'EIO on fsync of the
  // directory' #30 (once and persistent): when syncing a finished table failed
  // (or the directory sync after it), writeTable's error path called
  // builder.abandon() after finish(), so the assertion "abandon() after finish()"
  // escaped instead of IO_ERROR (from DB.open, whose recovery writes a table) and
  // the partial table was left behind. Compaction outputs had the same path.
  it('a failed fsync of the table recovery writes rejects open with IO_ERROR, and the next open recovers', async () => {
    const crashable = new CrashableFS();
    const db = await DB.open(DIR, { ...OPTIONS, fs: crashable });
    for (let i = 0; i < 10; i++) await db.put(`k${i}`, `v${i}`);
    await db.close();
    for (const op of ['sync', 'syncDir'] as const) {
      const fs = new FaultFS(crashable);
      fs.addRule(op === 'sync' ? { op, path: /\.sst$/, nth: 1, error: 'EIO' } : { op, nth: 1, error: 'EIO' });
      await assert.rejects(DB.open(DIR, { ...OPTIONS, fs }), isInjectedIoError);
      assert.equal(fs.injected, 1);
      assert.deepEqual(tables(crashable), [], `${op}: the partial table is removed`);
    }
    const reopened = await DB.open(DIR, { ...OPTIONS, fs: crashable });
    assert.equal((await reopened.get('k9'))?.toString(), 'v9');
    await reopened.close();
  });

  it('a failed fsync of a flushed table is IO_ERROR caused by the EIO, and the partial table is removed', async () => {
    const crashable = new CrashableFS();
    const fs = new FaultFS(crashable);
    const db = await DB.open(DIR, { ...OPTIONS, fs });
    for (let i = 0; i < 10; i++) await db.put(`k${i}`, `v${i}`);
    fs.addRule({ op: 'sync', path: /\.sst$/, nth: 1, error: 'EIO' });
    await assert.rejects(db.flush(), isInjectedIoError);
    assert.deepEqual(tables(crashable), []);
    await assert.rejects(db.put('k', 'v'), isInjectedIoError);
    assert.equal((await db.get('k3'))?.toString(), 'v3');
    await db.close();
  });

  it('a failed fsync of a compaction output is IO_ERROR caused by the EIO, and the output is removed', async () => {
    const crashable = new CrashableFS();
    const fs = new FaultFS(crashable);
    const db = await DB.open(DIR, { ...OPTIONS, fs });
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 10; i++) await db.put(`k${i}`, `v${round}.${i}`);
      await db.flush();
    }
    const before = tables(crashable);
    fs.addRule({ op: 'sync', path: /\.sst$/, nth: 1, error: 'EIO' });
    await assert.rejects(db.compactRange(), isInjectedIoError);
    assert.deepEqual(tables(crashable), before, 'the inputs stay, the failed output is gone');
    assert.equal((await db.get('k3'))?.toString(), 'v2.3');
    await db.close();
  });
});

describe('regressions found by the I/O-error tests: the MANIFEST', () => {
  // io-errors.test.ts, 'a short write, once' #38 and #41: a short write left
  // part of an edit at the end of the MANIFEST and failed that flush or
  // compaction, but the version set kept appending: the next flush's edit landed
  // intact after the torn one, and every later open refused the database with
  // CORRUPTION ("checksum mismatch, followed by intact edits").
  it('after a failed MANIFEST write no edit is appended after it, so the torn edit stays a droppable tail', async () => {
    const crashable = new CrashableFS();
    const fs = new FaultFS(crashable, new Rng(7));
    await crashable.mkdir(DIR);
    const manifest = await ManifestWriter.create(fs, DIR, 1, 2, emptyManifestState());
    const versions = new VersionSet({ fs, dir: DIR, manifestSizeBytesMax: 1 << 20, deleteTables: () => undefined }, emptyManifestState(), manifest);
    const edit = (logNumber: number): ReturnType<typeof emptyEdit> => ({ ...emptyEdit(), logNumber });
    await versions.logAndApply(edit(5));
    const sizeBefore = crashable.fileInfo(`${DIR}/MANIFEST-000001`)!.size;
    fs.addRule({ op: 'append', path: 'MANIFEST', nth: 1, error: 'short-write' });
    await assert.rejects(versions.logAndApply(edit(6)), (err: unknown) => err instanceof ShaleError && err.code === 'IO_ERROR');
    const sizeTorn = crashable.fileInfo(`${DIR}/MANIFEST-000001`)!.size;
    assert.ok(sizeTorn > sizeBefore, 'the short write left part of the edit behind');
    fs.clearRules();
    await assert.rejects(versions.logAndApply(edit(7)), 'an edit after a failed write fails too');
    assert.equal(crashable.fileInfo(`${DIR}/MANIFEST-000001`)!.size, sizeTorn, 'nothing appended after the torn edit');
    const state = await replayManifest(crashable, DIR, 1);
    assert.equal(state.logNumber, 5, 'the torn edit is dropped, the ones before it kept');
  });
});
