/**
 * `DB.verify` on a small database (tool-fixture.ts): an intact one passes with
 * every file, block and entry counted; each kind of damage is found with its file
 * and offset; and, over the corruption matrix's damages, whatever makes open or a
 * read fail with CORRUPTION is in the report.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { CorruptionError, DB, ShaleError, type VerifyReport } from '../../src/index.js';
import { CrashableFS, Rng } from '../../src/testing/index.js';
import { BLOCK_TRAILER_BYTES, FOOTER_BYTES } from '../../src/sstable/format.js';
import { blockChecksum } from '../../src/sstable/block-trailer.js';
import { dataBlockHandles, openTable } from '../sstable/table-fixture.js';
import { EntryType } from '../../src/keys.js';
import { readLogEvents } from '../../src/wal/log-reader.js';
import { seededRandom, testSeed } from '../helpers.js';
import { DIR, KEY_COUNT, OPTIONS, fixture, readEvery } from './tool-fixture.js';

function damageIn(report: VerifyReport, file: string): { offset: number; tolerated?: true }[] {
  return report.damage.filter((damage) => damage.file === file);
}

describe('DB.verify', () => {
  it('an intact database is ok: every file, data block, entry and record counted, nothing changed', async () => {
    const { fs, table, log, manifest, dataBlocks } = await fixture();
    const before = fs.listAll().map((file) => `${file}:${fs.readFileSync(file).toString('hex')}`);
    const progress: number[] = [];
    const report = await DB.verify(DIR, { fs, onProgress: ({ bytesDone, bytesTotal }) => progress.push(bytesDone / bytesTotal) });
    assert.equal(report.ok, true);
    assert.deepEqual(report.damage, []);
    assert.deepEqual(report.files.map((file) => file.name), ['CURRENT', path.basename(manifest), path.basename(table), path.basename(log)]);
    assert.equal(report.blockCount, dataBlocks.length);
    assert.equal(report.entryCount, KEY_COUNT, '200 table entries and 10 WAL operations');
    // MANIFEST: header, snapshot + commit, flush edit + commit; WAL: header and 10 groups.
    assert.equal(report.recordCount, 5 + 11);
    assert.deepEqual(report.unreferencedTables, []);
    assert.equal(progress.at(-1), 1);
    assert.ok(progress.every((fraction, i) => i === 0 || fraction >= progress[i - 1]!), 'progress only grows');
    assert.deepEqual(fs.listAll().map((file) => `${file}:${fs.readFileSync(file).toString('hex')}`), before, 'verify changed nothing');
  });

  for (const which of ['first', 'middle', 'last'] as const) {
    it(`a flipped bit in the ${which} data block is damage at the block's offset; the other blocks are read`, async () => {
      const { fs, table, dataBlocks } = await fixture();
      const index = which === 'first' ? 0 : which === 'last' ? dataBlocks.length - 1 : dataBlocks.length >> 1;
      const block = dataBlocks[index]!;
      fs.flipBit(table, block.offset + (block.size >> 1), 1);
      const report = await DB.verify(DIR, { fs });
      assert.equal(report.ok, false);
      assert.deepEqual(damageIn(report, table).map((damage) => damage.offset), [block.offset]);
      assert.equal(report.blockCount, dataBlocks.length - 1);
      assert.ok(report.entryCount < KEY_COUNT && report.entryCount > KEY_COUNT - 20, `entries ${report.entryCount}`);
    });
  }

  it('damaged table metadata is damage at the block (index, properties) or footer offset', async () => {
    for (const at of ['index', 'properties', 'footer'] as const) {
      const { fs, table, footer, tableSizeBytes } = await fixture();
      const offset = at === 'index' ? footer.indexHandle.offset : at === 'properties' ? footer.propertiesHandle.offset : tableSizeBytes - FOOTER_BYTES;
      fs.flipBit(table, offset + 3, 0);
      const report = await DB.verify(DIR, { fs });
      assert.equal(report.ok, false, at);
      assert.deepEqual(damageIn(report, table).map((damage) => damage.offset), [offset], at);
    }
  });

  // The damages of test/db/table-corruption.test.ts, in tables of format version 1 and 2 (a prefix filter).
  for (const bloomPrefixBytes of [0, 3]) {
    it(`every metadata damage the table corruption test injects is found at its offset (bloomPrefixBytes ${bloomPrefixBytes})`, async () => {
      const cases: [string, (f: Awaited<ReturnType<typeof fixture>>) => { at: number; offset: number }][] = [
        ['index block', ({ footer }) => ({ at: footer.indexHandle.offset + (footer.indexHandle.size >> 1), offset: footer.indexHandle.offset })],
        ['filter block', ({ footer }) => ({ at: footer.filterHandle!.offset + (footer.filterHandle!.size >> 1), offset: footer.filterHandle!.offset })],
        ['properties block', ({ footer }) => ({ at: footer.propertiesHandle.offset + (footer.propertiesHandle.size >> 1), offset: footer.propertiesHandle.offset })],
        ["footer's index handle", ({ tableSizeBytes }) => ({ at: tableSizeBytes - FOOTER_BYTES + 1, offset: tableSizeBytes - FOOTER_BYTES })],
        ["footer's format version", ({ tableSizeBytes }) => ({ at: tableSizeBytes - FOOTER_BYTES + 48, offset: tableSizeBytes - FOOTER_BYTES })],
        ["footer's checksum", ({ tableSizeBytes }) => ({ at: tableSizeBytes - FOOTER_BYTES + 53, offset: tableSizeBytes - FOOTER_BYTES })],
        ["footer's magic", ({ tableSizeBytes }) => ({ at: tableSizeBytes - 1, offset: tableSizeBytes - FOOTER_BYTES })],
        ['properties byte 69', ({ footer }) => ({ at: footer.propertiesHandle.offset + 69, offset: footer.propertiesHandle.offset })],
      ];
      for (const [name, place] of cases) {
        const found = await fixture({ bloomPrefixBytes });
        assert.equal(found.footer.formatVersion, bloomPrefixBytes === 0 ? 1 : 2);
        const { at, offset } = place(found);
        found.fs.flipBit(found.table, at, 5);
        const report = await DB.verify(DIR, { fs: found.fs });
        assert.equal(report.ok, false, name);
        assert.deepEqual(damageIn(report, found.table).map((damage) => damage.offset), [offset], name);
      }
    });
  }

  it('a flipped bit in a block trailer is damage at that block', async () => {
    const { fs, table, dataBlocks } = await fixture();
    const block = dataBlocks[2]!;
    fs.flipBit(table, block.offset + block.size + BLOCK_TRAILER_BYTES - 1, 7);
    assert.deepEqual(damageIn(await DB.verify(DIR, { fs }), table).map((damage) => damage.offset), [block.offset]);
  });

  it('an expiring entry too short for its expiry time is damage at its block, though its checksum is right', async () => {
    const fs = new CrashableFS();
    const db = await DB.open(DIR, { fs, ...OPTIONS, bloomBitsPerKey: 0, compression: 'none' });
    await db.put('expiring-key', 'abc');
    await db.flush();
    await db.close();
    const table = fs.listAll().find((file) => file.endsWith('.sst'))!;
    const bytes = fs.readFileSync(table);
    // The PUT's type byte made PUT_EXPIRING, and the block's checksum made to match: no writer makes this entry.
    const typeAt = bytes.indexOf(Buffer.from('expiring-key')) + 'expiring-key'.length;
    bytes[typeAt] = EntryType.PUT_EXPIRING;
    const [block] = dataBlockHandles(openTable(fs.readFileSync(table)));
    const contentsEnd = block!.offset + block!.size;
    bytes.writeUInt32LE(blockChecksum(bytes, contentsEnd, block!.offset), contentsEnd + 1);
    fs.writeFileSync(table, bytes, { synced: true });
    const damage = damageIn(await DB.verify(DIR, { fs }), table);
    assert.deepEqual(damage.map((found) => [found.offset, (found as { reason?: string }).reason]), [[block!.offset, 'an expiring entry without its expiry time']]);
  });

  it('a missing table is damage naming it; the report fails', async () => {
    const { fs, table } = await fixture();
    await fs.remove(table);
    const report = await DB.verify(DIR, { fs });
    assert.equal(report.ok, false);
    assert.deepEqual(damageIn(report, table), [{ file: table, offset: 0, reason: 'the table is missing' }]);
  });

  it('a truncated newest WAL is tolerated damage at the torn record: what a crash leaves, and open drops', async () => {
    const { fs, log } = await fixture();
    const records = [...readLogEvents(fs.readFileSync(log))].filter((event) => event.kind === 'record');
    const last = records.at(-1)!;
    fs.writeFileSync(log, fs.readFileSync(log).subarray(0, last.offset + 9), { synced: true });
    const report = await DB.verify(DIR, { fs });
    assert.equal(report.ok, true);
    assert.deepEqual(damageIn(report, log).map((damage) => [damage.offset, damage.tolerated]), [[last.offset, true]]);
  });

  it('a flipped bit in a WAL record followed by intact records is damage, not a torn tail', async () => {
    const { fs, log } = await fixture();
    const records = [...readLogEvents(fs.readFileSync(log))].filter((event) => event.kind === 'record');
    const third = records[3]!;
    fs.flipBit(log, third.offset + 12, 0);
    const report = await DB.verify(DIR, { fs });
    assert.equal(report.ok, false);
    assert.equal(damageIn(report, log)[0]?.offset, third.offset);
    assert.equal(damageIn(report, log)[0]?.tolerated, undefined);
  });

  it('a damaged MANIFEST record is damage at its offset; CURRENT naming a missing MANIFEST is damage in CURRENT', async () => {
    const { fs, manifest } = await fixture();
    const records = [...readLogEvents(fs.readFileSync(manifest))].filter((event) => event.kind === 'record');
    fs.flipBit(manifest, records[1]!.end - 1, 0);
    const report = await DB.verify(DIR, { fs });
    assert.equal(report.ok, false);
    assert.equal(damageIn(report, manifest)[0]?.offset, records[1]!.offset);
    await fs.remove(manifest);
    const gone = await DB.verify(DIR, { fs });
    assert.equal(gone.ok, false);
    assert.match(damageIn(gone, path.join(DIR, 'CURRENT'))[0] ? gone.damage[0]!.reason : '', /does not exist/);
  });

  it('rejects a directory without a database with NOT_FOUND, and bad arguments with INVALID_ARGUMENT', async () => {
    const fs = new CrashableFS();
    await fs.mkdir('/empty');
    await assert.rejects(DB.verify('/empty', { fs }), (err: unknown) => err instanceof ShaleError && err.code === 'NOT_FOUND');
    await assert.rejects(DB.verify('/missing', { fs }), (err: unknown) => err instanceof ShaleError && err.code === 'NOT_FOUND');
    await assert.rejects(DB.verify('', { fs }), (err: unknown) => err instanceof ShaleError && err.code === 'INVALID_ARGUMENT');
    await assert.rejects(DB.verify('/empty', { fs, bogus: 1 } as never), (err: unknown) => err instanceof ShaleError && err.code === 'INVALID_ARGUMENT');
  });
});

it('verify reports every damage of the corruption matrix that open or a read meets, and repair then opens with every intact key readable', async () => {
  const random = seededRandom(testSeed('verify matrix'));
  const base = await fixture();
  const files = base.fs.listAll().filter((file) => /\.(log|sst)$|MANIFEST-|CURRENT$/.test(path.basename(file)));
  let detected = 0;
  for (const file of files) {
    const size = base.fs.fileInfo(file)!.size;
    const offsets = new Set([0, 1, size - 1, ...Array.from({ length: 6 }, () => Math.floor(random() * size))]);
    for (const kind of ['flip', 'zero', 'truncate'] as const) {
      for (const offset of offsets) {
        const context = `${kind} ${path.basename(file)} at ${offset} of ${size}`;
        const fs = base.fs.crashClone('drop-unsynced', new Rng(0));
        const bytes = fs.readFileSync(file);
        if (kind === 'flip') fs.flipBit(file, offset, offset % 8);
        else if (kind === 'zero') fs.corrupt(file, offset, Buffer.alloc(Math.min(64, bytes.length - offset)));
        else fs.writeFileSync(file, bytes.subarray(0, offset), { synced: true });
        // What the engine meets: an open or read failure naming a file.
        let failure: CorruptionError | undefined;
        let before: (string | undefined)[] = [];
        try {
          const db = await DB.open(DIR, { fs: fs.crashClone('drop-unsynced', new Rng(0)), ...OPTIONS });
          before = await readEvery(db);
          await db.close();
        } catch (err) {
          if (!(err instanceof CorruptionError)) throw new Error(`${context}: ${String(err)}`);
          failure = err;
        }
        const report = await DB.verify(DIR, { fs });
        if (failure !== undefined || before.includes('CORRUPTION')) {
          detected++;
          assert.equal(report.ok, false, `${context}: verify passed a database the engine fails on`);
          if (failure !== undefined) assert.ok(report.damage.some((damage) => damage.file === failure.file), `${context}: verify names ${failure.file}`);
        }
        // Repair, then every key reads right or is gone (never wrong, never CORRUPTION); keys the damaged database read stay.
        await DB.repair(DIR, { fs });
        assert.equal((await DB.verify(DIR, { fs })).ok, true, `${context}: the repaired database verifies`);
        const db = await DB.open(DIR, { fs, ...OPTIONS });
        const after = await readEvery(db);
        await db.close();
        after.forEach((got, i) => {
          if (got !== undefined) assert.equal(got, `value-${i}-`.repeat(3), `${context}: key ${i} after repair`);
          if (before[i] !== undefined && before[i] !== 'CORRUPTION') assert.equal(got, before[i], `${context}: key ${i} was readable before repair`);
        });
      }
    }
  }
  console.log(`# verify matrix: ${detected} damages the engine met, all reported`);
  assert.ok(detected > 10);
});
