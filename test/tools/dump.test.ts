/**
 * The dumps (`dump-log.ts`, `dump-table.ts`) on the tool fixture's files: every
 * record, as JSON-ready objects and as text, and past damage as far as the
 * format allows.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { dumpManifest, dumpWal, formatLogDump } from '../../src/tools/dump-log.js';
import { dumpTable, formatTableDump } from '../../src/tools/dump-table.js';
import { readLogEvents } from '../../src/wal/log-reader.js';
import { KEY_COUNT, TABLE_KEYS, fixture, key, value } from './tool-fixture.js';
import * as path from 'node:path';
import { DB } from '../../src/index.js';
import { CrashableFS } from '../../src/testing/index.js';

describe('dump-wal and dump-manifest', () => {
  it('a WAL: the header, then each write group with its ops, sequence numbers, keys and values', async () => {
    const { fs, log } = await fixture();
    const dump = await dumpWal(fs, log, 'utf8');
    assert.equal(dump.badCount, 0);
    assert.equal(dump.records[0]!.kind, 'header');
    assert.equal(dump.records[0]!['magic'], 'SHLW');
    const groups = dump.records.slice(1);
    assert.deepEqual(
      groups.map((record) => record['ops']),
      Array.from({ length: KEY_COUNT - TABLE_KEYS }, (_, i) => [{ seq: TABLE_KEYS + i + 1, type: 'PUT', key: key(TABLE_KEYS + i), value: value(TABLE_KEYS + i) }]),
    );
    const text = formatLogDump(await dumpWal(fs, log, 'readable'));
    assert.match(text.join('\n'), new RegExp(`^ {2}#201 PUT "${key(200)}" = "${value(200)}"$`, 'm'));
    const hex = await dumpWal(fs, log, 'hex');
    assert.equal((hex.records[1]!['ops'] as { key: string }[])[0]!.key, Buffer.from(key(200)).toString('hex'));
  });

  it('a MANIFEST with a flipped bit in its snapshot edit: the records before and after are dumped, the damage in between', async () => {
    const { fs, manifest } = await fixture();
    const records = [...readLogEvents(fs.readFileSync(manifest))].filter((event) => event.kind === 'record');
    fs.flipBit(manifest, records[1]!.offset + 12, 0);
    const dump = await dumpManifest(fs, manifest, 'readable');
    assert.deepEqual(
      dump.records.map((record) => [record.kind, record.offset]),
      [
        ['header', records[0]!.offset],
        ['bad', records[1]!.offset],
        ['edit-commit', records[2]!.offset],
        ['version-edit', records[3]!.offset],
        ['edit-commit', records[4]!.offset],
      ],
    );
    assert.equal(dump.badCount, 1);
    const text = formatLogDump(dump).join('\n');
    assert.match(text, new RegExp(`^@${records[1]!.offset} DAMAGED: checksum mismatch$`, 'm'));
    assert.match(text, /^ {2}add L0 table \d+: \d+ bytes, seq 1\.\.200, "key000"#1,PUT \.\. "key199"#200,PUT$/m);
  });
});

describe('dump-sst', () => {
  it('every data block with every entry, then the filter, properties and index blocks', async () => {
    const { fs, table, dataBlocks, footer } = await fixture();
    const dump = await dumpTable(fs, table, 'readable');
    assert.deepEqual(dump.damage, []);
    assert.equal(dump.footer?.formatVersion, 1);
    assert.equal(dump.properties?.['entryCount'], TABLE_KEYS);
    const data = dump.blocks.filter((block) => block.kind === 'data');
    assert.deepEqual(data.map((block) => block.offset), dataBlocks.map((block) => block.offset));
    assert.deepEqual(
      data.flatMap((block) => block.entries!).map((entry) => `${entry.key}#${entry.seq},${entry.type}=${entry.value}`),
      Array.from({ length: TABLE_KEYS }, (_, i) => `"${key(i)}"#${i + 1},PUT="${value(i)}"`),
    );
    assert.deepEqual(dump.blocks.filter((block) => block.kind !== 'data').map((block) => [block.kind, block.offset]), [
      ['filter', footer.filterHandle!.offset],
      ['properties', footer.propertiesHandle.offset],
      ['index', footer.indexHandle.offset],
    ]);
  });

  it('a damaged data block is shown damaged at its offset, and the blocks after it are dumped', async () => {
    const { fs, table, dataBlocks } = await fixture();
    fs.flipBit(table, dataBlocks[2]!.offset + 20, 6);
    const dump = await dumpTable(fs, table, 'readable');
    assert.deepEqual(dump.damage.map((damage) => damage.offset), [dataBlocks[2]!.offset]);
    const data = dump.blocks.filter((block) => block.kind === 'data');
    assert.equal(data.length, dataBlocks.length);
    assert.match(data[2]!.damage!, /checksum mismatch/);
    assert.ok(data.slice(3).every((block) => block.damage === undefined && block.entries!.length > 0));
    const text = formatTableDump(dump).join('\n');
    assert.match(text, new RegExp(`^data block @${dataBlocks[2]!.offset}: size ${dataBlocks[2]!.size}, 0 entries, DAMAGED: block checksum mismatch`, 'm'));
  });

  it('a damaged footer: the damage at the footer offset, and the data blocks found by their checksums', async () => {
    const { fs, table, tableSizeBytes, dataBlocks } = await fixture();
    fs.flipBit(table, tableSizeBytes - 10, 0);
    const dump = await dumpTable(fs, table, 'readable');
    assert.deepEqual(dump.damage.map((damage) => damage.offset), [tableSizeBytes - 64]);
    const found = dump.blocks.filter((block) => block.kind === 'data (found by checksum)');
    assert.deepEqual(found.map((block) => [block.offset, block.size]), dataBlocks.map((block) => [block.offset, block.size]));
    assert.equal(found.flatMap((block) => block.entries!).length, TABLE_KEYS);
    const text = formatTableDump(dump).join('\n');
    assert.match(text, /^DAMAGED @\d+: footer checksum mismatch/m);
    assert.match(text, /^scan stopped block @\d+: size 0, DAMAGED: not a data block/m);
  });
});

describe('dumps of expiring entries', () => {
  it('show an expiring op or entry as PUT_EXPIRING with its expiry time and the value behind it, and a table’s earliest expiry', async () => {
    const fs = new CrashableFS();
    const db = await DB.open('/db', { fs, compactionExecutor: 'inline', autoCompaction: false, clock: () => 5000 });
    await db.put('in-table', 'soon', { expiresAt: 7000 });
    await db.flush();
    await db.put('in-log', 'later', { ttl: 1000 });
    await db.close();
    const find = (pattern: RegExp): string => fs.listAll().find((file) => pattern.test(path.basename(file)))!;
    const wal = await dumpWal(fs, find(/\.log$/), 'utf8');
    assert.deepEqual((wal.records[1]!['ops'] as unknown[])[0], { seq: 2, type: 'PUT_EXPIRING', key: 'in-log', value: 'later', expiresAtMs: 6000 });
    assert.match(formatLogDump(wal).join('\n'), /#2 PUT_EXPIRING in-log = later \(expires at 6000\)$/m);
    const table = await dumpTable(fs, find(/\.sst$/), 'utf8');
    const entry = table.blocks.find((block) => block.kind === 'data')!.entries![0]!;
    assert.deepEqual([entry.type, entry.value, entry.expiresAtMs], ['PUT_EXPIRING', 'soon', 7000]);
    assert.equal(table.properties?.['expiryMinMs'], 7000);
    const manifest = formatLogDump(await dumpManifest(fs, find(/^MANIFEST-/), 'utf8')).join('\n');
    assert.match(manifest, /add L0 table \d+: .*, earliest expiry 7000$/m);
  });
});

