import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { DB } from '../../src/index.js';
import { READ_ONLY_LOAD_ATTEMPTS } from '../../src/db/read-only.js';
import { CrashableFS } from '../../src/testing/index.js';
import type { FileSystem } from '../../src/index.js';
import { isCode, SeededRandom, tempDir, testSeed } from '../helpers.js';

/** Every file of `dir` (LOCK aside, which a writer heartbeats) with the hash of its bytes. */
function directoryDigest(dir: string): Record<string, string> {
  const digest: Record<string, string> = {};
  for (const name of fs.readdirSync(dir).sort()) {
    if (name === 'LOCK') continue;
    digest[name] = createHash('sha256').update(fs.readFileSync(path.join(dir, name))).digest('hex');
  }
  return digest;
}

async function scan(db: DB, options?: Parameters<DB['iterator']>[0]): Promise<[string, string][]> {
  const out: [string, string][] = [];
  for await (const [key, value] of db.iterator(options)) out.push([key.toString(), value.toString()]);
  return out;
}

/** Small memtables and tables, so a few hundred writes make several logs and tables. */
const SMALL = { memtableSizeBytes: 4 * 1024, targetFileSizeBytes: 4 * 1024, blockSizeBytes: 256 } as const;

describe('read-only open', () => {
  it('reads what is in tables and in the logs, and every write call, flush and compactRange rejects with READ_ONLY', async () => {
    const dir = tempDir();
    const writer = await DB.open(dir, SMALL);
    for (let i = 0; i < 300; i++) await writer.put(`k${String(i).padStart(4, '0')}`, `v${i}`);
    await writer.flush();
    await writer.put('in-the-log', 'only');
    await writer.delete('k0000');
    const reader = await DB.open(dir, { readOnly: true });
    assert.equal(reader.readOnly, true);
    assert.equal(writer.readOnly, false);
    assert.equal(reader.latestSequence, writer.latestSequence);
    assert.equal((await reader.get('in-the-log'))?.toString(), 'only');
    assert.equal(reader.getSync('k0299')?.toString(), 'v299');
    assert.equal(await reader.get('k0000'), undefined);
    assert.deepEqual(await scan(reader), await scan(writer));
    await assert.rejects(reader.put('a', 'b'), isCode('READ_ONLY'));
    await assert.rejects(reader.delete('a'), isCode('READ_ONLY'));
    await assert.rejects(reader.write([{ type: 'put', key: 'a', value: 'b' }]), isCode('READ_ONLY'));
    await assert.rejects(reader.write([]), isCode('READ_ONLY'));
    await assert.rejects(reader.deleteRange('a', 'b'), isCode('READ_ONLY'));
    await assert.rejects(reader.deleteRange('a', undefined), isCode('READ_ONLY'));
    await assert.rejects(reader.flush(), isCode('READ_ONLY'));
    assert.throws(() => reader.transaction(), isCode('READ_ONLY'));
    await assert.rejects(reader.runTransaction(() => undefined), isCode('READ_ONLY'));
    await assert.rejects(reader.compactRange(), isCode('READ_ONLY'));
    assert.equal(await reader.get('a'), undefined);
    await reader.close();
    await assert.rejects(reader.put('a', 'b'), isCode('NOT_OPEN'));
    await assert.rejects(reader.refresh(), isCode('NOT_OPEN'));
    await writer.close();
  });

  it('sees range deletes from the logs and from the tables, and follows one with refresh()', async () => {
    const dir = tempDir();
    const writer = await DB.open(dir, SMALL);
    for (let i = 0; i < 100; i++) await writer.put(`k${String(i).padStart(3, '0')}`, `v${i}`);
    await writer.deleteRange('k010', 'k020');
    await writer.flush();
    await writer.deleteRange('k050', undefined);
    const reader = await DB.open(dir, { readOnly: true });
    const expected = (await scan(writer)).map(([key]) => key);
    assert.deepEqual((await scan(reader)).map(([key]) => key), expected);
    assert.equal(expected.length, 40);
    assert.equal(reader.getSync('k015'), undefined);
    assert.equal(reader.getSync('k060'), undefined);
    await writer.deleteRange('k000', 'k005');
    await writer.compactRange();
    assert.equal((await reader.get('k001'))?.toString(), 'v1');
    await reader.refresh();
    assert.equal(await reader.get('k001'), undefined);
    assert.deepEqual(await scan(reader), await scan(writer));
    await reader.close();
    await writer.close();
  });

  it('changes no byte on disk, not even a torn log tail, which it reports as dropped', async () => {
    const dir = tempDir();
    const writer = await DB.open(dir, SMALL);
    for (let i = 0; i < 200; i++) await writer.put(`k${i}`, `v${i}`);
    await writer.close();
    const log = fs.readdirSync(dir).filter((name) => name.endsWith('.log')).sort().at(-1)!;
    // A torn tail: half of a record header, as a crash mid-append leaves it.
    fs.appendFileSync(path.join(dir, log), Buffer.from([1, 2, 3]));
    const before = directoryDigest(dir);
    assert.equal(fs.existsSync(path.join(dir, 'LOCK')), false, 'the closed writer removed its LOCK');
    const reader = await DB.open(dir, { readOnly: true, walRecovery: 'absolute' });
    assert.equal(reader.recoveryReport.droppedBytes, 3);
    assert.equal((await reader.get('k199'))?.toString(), 'v199');
    await scan(reader);
    await reader.refresh();
    await reader.close();
    assert.deepEqual(directoryDigest(dir), before);
    assert.equal(fs.existsSync(path.join(dir, 'LOCK')), false, 'the reader took no LOCK');
  });

  it('creates nothing: a missing database is NOT_FOUND, and readOnly with errorIfExists is INVALID_ARGUMENT', async () => {
    const parent = tempDir();
    const missing = path.join(parent, 'db');
    await assert.rejects(DB.open(missing, { readOnly: true }), isCode('NOT_FOUND'));
    assert.equal(fs.existsSync(missing), false);
    await assert.rejects(DB.open(parent, { readOnly: true }), isCode('NOT_FOUND'));
    assert.deepEqual(fs.readdirSync(parent), []);
    await assert.rejects(DB.open(parent, { readOnly: true, errorIfExists: true }), isCode('INVALID_ARGUMENT'));
    await assert.rejects(DB.open(parent, { readOnly: 'yes' as unknown as boolean }), isCode('INVALID_ARGUMENT'));
  });

  it('several readers beside a writer: readers take no lock, a second writer still gets LOCKED', async () => {
    const dir = tempDir();
    const first = await DB.open(dir);
    await first.put('a', '1');
    await first.close();
    const readers = await Promise.all([1, 2, 3].map(() => DB.open(dir, { readOnly: true })));
    // Readers opened first do not keep a writer out.
    const writer = await DB.open(dir);
    await assert.rejects(DB.open(dir), isCode('LOCKED'));
    await writer.put('a', '2');
    for (const reader of readers) assert.equal((await reader.get('a'))?.toString(), '1');
    const late = await DB.open(dir, { readOnly: true });
    assert.equal((await late.get('a'))?.toString(), '2');
    for (const reader of [...readers, late]) await reader.close();
    await writer.close();
  });

  it('keeps its view while the writer compacts and deletes every table it reads, even with maxOpenFiles 1; refresh() moves on', async () => {
    const dir = tempDir();
    const writer = await DB.open(dir, { ...SMALL, autoCompaction: false });
    for (let i = 0; i < 400; i++) await writer.put(`k${String(i).padStart(4, '0')}`, `old${i}`);
    await writer.flush();
    const reader = await DB.open(dir, { readOnly: true, maxOpenFiles: 1 });
    const tablesSeen = reader.liveTableNumbers();
    assert.ok(tablesSeen.length > 1, `several tables (${tablesSeen.length})`);
    const oldView = await scan(reader);
    const iterator = reader.iterator({ gte: 'k0100' });
    const snapshot = reader.snapshot();
    for (let i = 0; i < 400; i += 2) await writer.put(`k${String(i).padStart(4, '0')}`, `new${i}`);
    await writer.compactRange();
    // The writer removes obsolete tables in the background: wait for the removals to land.
    const tableNames = tablesSeen.map((table) => `${String(table).padStart(6, '0')}.sst`);
    for (let turn = 0; turn < 500 && tableNames.some((name) => fs.existsSync(path.join(dir, name))); turn++) await new Promise((resolve) => setTimeout(resolve, 10));
    const onDisk = fs.readdirSync(dir);
    for (const table of tablesSeen) assert.ok(!onDisk.includes(`${String(table).padStart(6, '0')}.sst`), `table ${table} was deleted by the writer`);
    // Every table of the view was deleted; reads still see the view.
    assert.deepEqual(await scan(reader), oldView);
    assert.equal(reader.getSync('k0000')?.toString(), 'old0');
    assert.equal((await reader.get('k0002', { snapshot }))?.toString(), 'old2');
    await reader.refresh();
    assert.equal((await reader.get('k0000'))?.toString(), 'new0');
    assert.equal((await reader.get('k0001'))?.toString(), 'old1');
    assert.deepEqual(await scan(reader), await scan(writer));
    // The iterator opened before refresh() keeps its view; the snapshot cannot follow.
    const first = await iterator.next();
    assert.deepEqual(first && [first[0].toString(), first[1].toString()], ['k0100', 'old100']);
    await iterator.close();
    assert.throws(() => reader.getSync('k0000', { snapshot }), isCode('INVALID_ARGUMENT'));
    snapshot.release();
    reader.checkInvariants();
    await reader.close();
    await writer.close();
  });

  it('a refresh with no writer sees the state a writer left on close, and a reopened writer deletes what the reader still reads', async () => {
    const dir = tempDir();
    const writer = await DB.open(dir, SMALL);
    await writer.put('x', '1');
    await writer.close();
    const reader = await DB.open(dir, { readOnly: true });
    // The writer's next open replays its log into a table and deletes the log the reader replayed.
    const again = await DB.open(dir, SMALL);
    await again.put('x', '2');
    assert.equal((await reader.get('x'))?.toString(), '1');
    await reader.refresh();
    assert.equal((await reader.get('x'))?.toString(), '2');
    await again.close();
    await reader.refresh();
    assert.equal((await reader.get('x'))?.toString(), '2');
    await reader.close();
  });

  it('a refresh() follows a writer that keeps writing, flushing and compacting: the view is a prefix of the writes holding every one acknowledged before the call', async () => {
    const seed = testSeed('read-only follows a writer');
    const random = new SeededRandom(seed);
    const dir = tempDir();
    const writer = await DB.open(dir, { ...SMALL, l0CompactionTrigger: 2 });
    const reader = await DB.open(dir, { readOnly: true });
    /** Every write issued, in issue order (the write queue's order, so sequence order). */
    const issued: { key: string; value: string | undefined }[] = [];
    let acknowledged = 0;
    const pending: Promise<void>[] = [];
    const issue = (): void => {
      const key = `k${random.int(0, 60)}`;
      const value = random.next() < 0.2 ? undefined : `v${issued.length}-${'x'.repeat(random.int(0, 60))}`;
      const index = issued.length;
      issued.push({ key, value });
      const done = value === undefined ? writer.delete(key) : writer.put(key, value, { sync: random.next() < 0.1 });
      pending.push(
        done.then(() => {
          acknowledged = Math.max(acknowledged, index + 1);
        }),
      );
    };
    const stateAfter = (count: number): Map<string, string> => {
      const state = new Map<string, string>();
      for (const { key, value } of issued.slice(0, count)) {
        if (value === undefined) state.delete(key);
        else state.set(key, value);
      }
      return state;
    };
    for (let round = 0; round < 60; round++) {
      for (let n = random.int(0, 40); n > 0; n--) issue();
      if (random.next() < 0.5) await Promise.all(pending.splice(0));
      const ackedBefore = acknowledged;
      const refreshed = reader.refresh();
      for (let n = random.int(0, 10); n > 0; n--) issue();
      await refreshed;
      const issuedAfter = issued.length;
      const view = new Map(await scan(reader));
      let matched = -1;
      for (let count = ackedBefore; count <= issuedAfter && matched < 0; count++) {
        const state = stateAfter(count);
        if (state.size === view.size && [...state].every(([key, value]) => view.get(key) === value)) matched = count;
      }
      assert.ok(matched >= 0, `seed ${seed} round ${round}: the view is no prefix of ${ackedBefore}..${issuedAfter} writes`);
      assert.equal(reader.latestSequence >= BigInt(ackedBefore), true);
      reader.checkInvariants();
    }
    await Promise.all(pending);
    await reader.refresh();
    assert.deepEqual(await scan(reader), await scan(writer), `seed ${seed}`);
    await reader.close();
    await writer.close();
  });

  it('starts a load again when the writer flushes, compacts and deletes files in the middle of it', async () => {
    const fs = new CrashableFS();
    const writer = await DB.open('/db', { ...SMALL, fs });
    for (let i = 0; i < 200; i++) await writer.put(`k${String(i).padStart(3, '0')}`, `v${i}`);
    await writer.flush();
    await writer.put('in-the-log', 'x');
    let lists = 0;
    // The reader's file system: its second listing of the directory (after it replayed the MANIFEST) waits for the writer to move on.
    const racing = new Proxy(fs, {
      get(target, name) {
        if (name === 'list') {
          return async (dir: string) => {
            if (++lists === 2) {
              await writer.put('during-the-load', 'y');
              await writer.flush();
              await writer.compactRange();
            }
            return target.list(dir);
          };
        }
        const value: unknown = Reflect.get(target, name, target);
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    }) as FileSystem;
    const reader = await DB.open('/db', { readOnly: true, fs: racing });
    assert.ok(lists > 2, 'the load ran again');
    assert.match(reader.metrics(), /^shale_read_only_load_retries_total [1-9]/m);
    assert.equal((await reader.get('during-the-load'))?.toString(), 'y');
    assert.deepEqual(await scan(reader), await scan(writer));
    assert.equal(reader.latestSequence, writer.latestSequence);
    await reader.close();
    await writer.close();
  });

  it(`retries a load at most ${READ_ONLY_LOAD_ATTEMPTS} times, then reports the damage it keeps finding`, async () => {
    const dir = tempDir();
    const writer = await DB.open(dir);
    await writer.put('a', '1');
    await writer.close();
    // CURRENT names a MANIFEST that does not exist: no writer is switching it, so every attempt fails alike.
    fs.writeFileSync(path.join(dir, 'CURRENT'), 'MANIFEST-999999\n');
    await assert.rejects(DB.open(dir, { readOnly: true }), isCode('CORRUPTION'));
  });
});
