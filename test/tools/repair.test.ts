/**
 * `DB.repair` on the tool fixture's database after each kind of damage (a flipped
 * bit in a table, a truncated WAL, a missing table, a damaged MANIFEST, a lost
 * CURRENT): the database opens afterwards, every intact entry reads right, the
 * damaged files are in `lost/`, and a crash at any point of a repair leaves a
 * directory that a second repair turns into the same database.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { DB, ShaleError } from '../../src/index.js';
import { CrashableFS, Rng } from '../../src/testing/index.js';
import { CrashPointFS } from '../../sim/crash-point-fs.js';
import { readLogEvents } from '../../src/wal/log-reader.js';
import { FOOTER_BYTES } from '../../src/sstable/format.js';
import { chunkCrc, maskCrc } from '../../src/wal/log-format.js';
import { crc32 } from '../../src/util/crc32.js';
import { DIR, KEY_COUNT, OPTIONS, TABLE_KEYS, fixture, key, openAndReadEvery, readEvery, value } from './tool-fixture.js';

const everyValue = Array.from({ length: KEY_COUNT }, (_, i) => value(i));

describe('DB.repair', () => {
  it('an intact database is kept as it is: nothing rewritten, nothing lost', async () => {
    const { fs, table } = await fixture();
    const report = await DB.repair(DIR, { fs });
    assert.equal(report.manifestUsed, true);
    assert.deepEqual(report.tablesKept, [path.basename(table)]);
    assert.deepEqual([report.tablesRewritten, report.tablesDropped, report.movedToLost, report.damage], [[], [], [], []]);
    assert.equal(report.lastSequence, KEY_COUNT);
    assert.deepEqual(await openAndReadEvery(fs), everyValue);
  });

  it('a flipped bit in a data block: the table is rewritten from its other blocks, the original moved to lost/', async () => {
    const { fs, table, dataBlocks, blockOfKey } = await fixture();
    const damaged = dataBlocks[5]!;
    fs.flipBit(table, damaged.offset + 7, 4);
    const report = await DB.repair(DIR, { fs });
    const lostKeys = [...blockOfKey].filter(([, block]) => block === 5).map(([k]) => k);
    assert.ok(lostKeys.length > 0);
    assert.deepEqual(report.damage.map((damage) => [damage.file, damage.offset]), [[table, damaged.offset]]);
    assert.equal(report.tablesRewritten.length, 1);
    assert.equal(report.tablesRewritten[0]!.entries, TABLE_KEYS - lostKeys.length);
    assert.deepEqual(report.movedToLost, [path.basename(table)]);
    assert.ok(fs.fileInfo(path.join(DIR, 'lost', path.basename(table))) !== undefined, 'the damaged table is in lost/');
    const after = await openAndReadEvery(fs);
    after.forEach((got, i) => assert.equal(got, lostKeys.includes(key(i)) ? undefined : value(i), key(i)));
    assert.equal((await DB.verify(DIR, { fs })).ok, true);
  });

  for (const bloomBitsPerKey of [10, 0]) {
    for (const where of ['index', 'footer'] as const) {
      it(`a damaged ${where} (${bloomBitsPerKey === 0 ? 'no filter block' : 'a filter block'}): the data blocks are found by their checksums and every entry kept`, async () => {
        const { fs, table, footer, tableSizeBytes } = await fixture({ bloomBitsPerKey });
        fs.flipBit(table, where === 'index' ? footer.indexHandle.offset + 4 : tableSizeBytes - FOOTER_BYTES + 2, 3);
        const report = await DB.repair(DIR, { fs });
        assert.deepEqual(report.tablesRewritten.map((rewritten) => [rewritten.from, rewritten.entries]), [[[path.basename(table)], TABLE_KEYS]]);
        assert.deepEqual(await openAndReadEvery(fs), everyValue);
      });
    }
  }

  it('a damaged footer and a damaged data block: the blocks before the damaged one are kept', async () => {
    const { fs, table, tableSizeBytes, dataBlocks, blockOfKey } = await fixture();
    fs.flipBit(table, tableSizeBytes - 1, 0);
    fs.flipBit(table, dataBlocks[4]!.offset + 9, 0);
    const report = await DB.repair(DIR, { fs });
    const kept = [...blockOfKey].filter(([, block]) => block < 4).map(([k]) => k);
    assert.equal(report.tablesRewritten[0]?.entries, kept.length);
    const after = await openAndReadEvery(fs);
    after.forEach((got, i) => assert.equal(got, i >= TABLE_KEYS || kept.includes(key(i)) ? value(i) : undefined, key(i)));
  });

  it('a missing table: repair drops it and the database opens with the WAL writes', async () => {
    const { fs, table } = await fixture();
    await fs.remove(table);
    await assert.rejects(DB.open(DIR, { fs, ...OPTIONS }), (err: unknown) => err instanceof ShaleError && err.code === 'CORRUPTION');
    const report = await DB.repair(DIR, { fs });
    assert.deepEqual(report.tablesDropped, [path.basename(table)]);
    const after = await openAndReadEvery(fs);
    after.forEach((got, i) => assert.equal(got, i < TABLE_KEYS ? undefined : value(i), key(i)));
  });

  it('a WAL cut in its third record keeps the records before the cut', async () => {
    const { fs, log } = await fixture();
    const records = [...readLogEvents(fs.readFileSync(log))].filter((event) => event.kind === 'record');
    // Record 0 is the header; record n holds key TABLE_KEYS + n - 1.
    fs.writeFileSync(log, fs.readFileSync(log).subarray(0, records[3]!.offset + 10), { synced: true });
    const report = await DB.repair(DIR, { fs });
    assert.deepEqual(report.logsReplayed, [{ name: path.basename(log), records: 2, operations: 2 }]);
    // A torn tail, as recovery sees it: the log is not set aside.
    assert.deepEqual(report.movedToLost, []);
    assert.equal(report.damage[0]?.tolerated, true);
    const after = await openAndReadEvery(fs);
    after.forEach((got, i) => assert.equal(got, i < TABLE_KEYS + 2 ? value(i) : undefined, key(i)));
  });

  it('a flipped bit in a synced WAL record: the records after it are salvaged too, the log moved to lost/', async () => {
    const { fs, log } = await fixture();
    const records = [...readLogEvents(fs.readFileSync(log))].filter((event) => event.kind === 'record');
    fs.flipBit(log, records[3]!.offset + 12, 0);
    await assert.rejects(DB.open(DIR, { fs: fs.crashClone('drop-unsynced', new Rng(0)), ...OPTIONS }), (err: unknown) => err instanceof ShaleError && err.code === 'CORRUPTION');
    const report = await DB.repair(DIR, { fs });
    assert.deepEqual(report.logsReplayed, [{ name: path.basename(log), records: 9, operations: 9 }]);
    assert.deepEqual(report.movedToLost, [path.basename(log)]);
    const after = await openAndReadEvery(fs);
    after.forEach((got, i) => assert.equal(got, i === TABLE_KEYS + 2 ? undefined : value(i), key(i)));
  });

  it('a damaged MANIFEST: every table and log is merged by sequence number, and every entry reads right', async () => {
    const { fs, manifest } = await fixture();
    fs.flipBit(manifest, 30, 0);
    const report = await DB.repair(DIR, { fs });
    assert.equal(report.manifestUsed, false);
    assert.ok(report.movedToLost.includes(path.basename(manifest)));
    assert.deepEqual(await openAndReadEvery(fs), everyValue);
  });

  it('without CURRENT, newer versions and deletes win over older ones, whichever table holds them', async () => {
    const fs = new CrashableFS();
    const db = await DB.open(DIR, { fs, ...OPTIONS });
    // Three tables and the WAL, each overwriting or deleting what the one before wrote.
    for (let round = 0; round < 3; round++) {
      await db.write(Array.from({ length: 40 }, (_, i) => ({ type: 'put' as const, key: key(i), value: `round ${round} of ${i}` })));
      await db.delete(key(round));
      await db.flush();
    }
    await db.put(key(10), 'newest');
    await db.delete(key(11));
    await db.close();
    await fs.remove(path.join(DIR, 'CURRENT'));
    const report = await DB.repair(DIR, { fs });
    assert.equal(report.manifestUsed, false);
    const reopened = await DB.open(DIR, { fs, ...OPTIONS });
    const got = await reopened.iterator().all();
    await reopened.close();
    const expected = Array.from({ length: 40 }, (_, i) => i)
      .filter((i) => i !== 2 && i !== 11)
      .map((i) => [key(i), i === 10 ? 'newest' : `round 2 of ${i}`]);
    assert.deepEqual(got.map(([k, v]) => [k.toString(), v.toString()]), expected);
  });

  it('a table or log of a newer format version is NOT_SUPPORTED for verify and repair, and repair changes nothing', async () => {
    for (const which of ['table', 'log'] as const) {
      const { fs, table, log, tableSizeBytes } = await fixture();
      if (which === 'table') {
        // Footer version 9, its checksum recomputed: an intact table of a format this release does not read.
        const footer = fs.readFileSync(table).subarray(tableSizeBytes - FOOTER_BYTES);
        footer.writeUInt32LE(9, 48);
        footer.writeUInt32LE(crc32(footer.subarray(0, 52)), 52);
        fs.corrupt(table, tableSizeBytes - FOOTER_BYTES, footer);
      } else {
        // Log header version 9 (payload byte 5 of the header record at 0), its chunk checksum recomputed.
        const bytes = fs.readFileSync(log);
        const length = bytes.readUInt16LE(4);
        bytes.writeUInt16LE(9, 7 + 5);
        bytes.writeUInt32LE(maskCrc(chunkCrc(bytes[6]!, bytes, 7, 7 + length)), 0);
        fs.corrupt(log, 0, bytes.subarray(0, 7 + length));
      }
      const before = fs.listAll().map((file) => `${file}:${fs.readFileSync(file).toString('hex')}`);
      const notSupported = (err: unknown) => err instanceof ShaleError && err.code === 'NOT_SUPPORTED';
      await assert.rejects(DB.verify(DIR, { fs }), notSupported, which);
      await assert.rejects(DB.repair(DIR, { fs }), notSupported, which);
      assert.deepEqual(fs.listAll().map((file) => `${file}:${fs.readFileSync(file).toString('hex')}`), before, `${which}: nothing changed`);
    }
  });

  it('refuses an open database (LOCKED) and a directory without one (NOT_FOUND)', async () => {
    const { fs } = await fixture();
    const db = await DB.open(DIR, { fs, ...OPTIONS });
    await assert.rejects(DB.repair(DIR, { fs }), (err: unknown) => err instanceof ShaleError && err.code === 'LOCKED');
    await db.close();
    await fs.mkdir('/empty');
    await assert.rejects(DB.repair('/empty', { fs }), (err: unknown) => err instanceof ShaleError && err.code === 'NOT_FOUND');
  });
});

it('a crash after any file-system operation of a repair leaves a directory that repair again turns into the repaired database, never wrong data', async () => {
  const { fs: damaged, table, dataBlocks, log } = await fixture();
  damaged.flipBit(table, dataBlocks[1]!.offset + 3, 0);
  const bytes = damaged.readFileSync(log);
  damaged.writeFileSync(log, bytes.subarray(0, bytes.length - 5), { synced: true });
  // The repair without a crash, on a copy: what every crashed repair must end up as.
  const reference = damaged.crashClone('drop-unsynced', new Rng(0));
  await DB.repair(DIR, { fs: reference });
  const expected = await openAndReadEvery(reference);
  assert.ok(expected.filter((got) => got !== undefined).length > KEY_COUNT - 20);

  const states: CrashableFS[] = [];
  const counting = new CrashPointFS(damaged, () => {
    for (const mode of ['drop-unsynced', 'keep-prefix'] as const) states.push(damaged.crashClone(mode, new Rng(states.length)));
  });
  await DB.repair(DIR, { fs: counting });
  assert.ok(counting.mutations > 10, `mutations ${counting.mutations}`);
  for (const [index, state] of states.entries()) {
    const context = `crash state ${index} (after mutation ${(index >> 1) + 1})`;
    // Opened as it is, the crashed directory never returns a wrong value.
    try {
      const db = await DB.open(DIR, { fs: state.crashClone('drop-unsynced', new Rng(0)), ...OPTIONS });
      const got = await readEvery(db);
      await db.close();
      got.forEach((read, i) => assert.ok(read === undefined || read === 'CORRUPTION' || read === value(i), `${context}: ${key(i)} read ${read}`));
    } catch (err) {
      assert.ok(err instanceof ShaleError && err.code === 'CORRUPTION', `${context}: open failed with ${String(err)}`);
    }
    await DB.repair(DIR, { fs: state });
    assert.deepEqual(await openAndReadEvery(state), expected, context);
  }
});
