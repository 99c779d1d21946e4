/**
 * Export format version 2: an expiring entry is exported with its expiry time
 * (binary tag 3, JSON `expiresAt`) and imported as an expiring entry that
 * expires at the same instant, never as one that lives for ever; an entry
 * expired at the export's snapshot and keys a range delete removed are not
 * exported. Version 1 exports stay readable; in them an expiring entry is
 * corruption, and so is an expiry time beyond 2^53 - 1.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { CorruptionError, DB, type Options } from '../../src/index.js';
import { ExportDecoder, encodeBinaryEnd, encodeBinaryEntry, encodeBinaryHeader, encodeJsonEntry } from '../../src/db/export-format.js';
import { tempDir } from '../helpers.js';

/** 2026-12-07T16:00:00Z. */
const NOW = 1_796_659_200_000;
const SOON = NOW + 5_000;
const clock = { now: NOW };
const OPTIONS: Options = { clock: () => clock.now };

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function contents(db: DB): Promise<[string, string][]> {
  return (await db.iterator().all()).map(([key, value]) => [key.toString(), value.toString()]);
}

async function importBytes(bytes: Buffer, options: Options = OPTIONS): Promise<string> {
  const dir = path.join(tempDir(), 'imported');
  await DB.import(dir, Readable.from([bytes]), { ...options, sourceName: 'dump' });
  return dir;
}

function isCorruptionAt(offset: number, reason: RegExp) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof CorruptionError, String(err));
    assert.equal(err.offset, offset, err.message);
    assert.match(err.message, reason);
    return true;
  };
}

/** A database holding plain, expiring, expired and range-deleted keys, at NOW. */
async function source(): Promise<DB> {
  clock.now = NOW;
  const db = await DB.open(tempDir(), { ...OPTIONS, memtableSizeBytes: 16 * 1024 });
  for (let i = 0; i < 300; i++) await db.put(`k${String(i).padStart(3, '0')}`, `value ${i}`, i % 3 === 0 ? { expiresAt: SOON + i } : i % 3 === 1 ? { expiresAt: NOW - 1 } : {});
  await db.deleteRange('k100', 'k150');
  await db.flush();
  await db.put('forever', 'stays');
  await db.put('soon', 'goes', { ttl: 1000 });
  return db;
}

describe('export and import of expiring entries', () => {
  for (const options of [{}, { format: 'jsonl' as const }, { format: 'jsonl' as const, encoding: 'utf8' as const }]) {
    it(`an expiring entry expires in the import when it would have in the source (${JSON.stringify(options)})`, async () => {
      const db = await source();
      const expected = await contents(db);
      // Every third key expires soon, every third one has expired already, and [k100, k150) is deleted.
      // 200 live of k000..k299, less the 33 of them in [k100, k150), and "forever" and "soon".
      assert.equal(expected.length, 200 - 33 + 2);
      const bytes = await collect(db.export(options));
      clock.now = SOON + 200;
      const laterInSource = await contents(db);
      await db.close();

      clock.now = NOW;
      const dir = await importBytes(bytes);
      const imported = await DB.open(dir, { ...OPTIONS, createIfMissing: false });
      assert.deepEqual(await contents(imported), expected);
      clock.now = SOON + 200;
      assert.deepEqual(await contents(imported), laterInSource, 'the same keys have expired in both');
      assert.ok(laterInSource.length < expected.length && laterInSource.some(([key]) => key === 'forever'));
      clock.now = SOON + 1000;
      assert.equal(await imported.get('k297'), undefined);
      await imported.close();
    });
  }

  it('the binary record of an expiring entry is the documented bytes (docs/format.md, "Export stream: binary")', async () => {
    clock.now = NOW;
    const db = await DB.open(tempDir(), OPTIONS);
    await db.put('k', 'v1', { expiresAt: NOW + 1000 });
    const bytes = await collect(db.export());
    const json = (await collect(db.export({ format: 'jsonl', encoding: 'utf8' }))).toString();
    await db.close();
    assert.equal(
      bytes.toString('hex'),
      '5348414c45455850' + '02' + '00' + '0000' +
        // Tag 3, expiresAtMs 1796659201000 (u64le), key length 1, value length 2, "k", "v1", CRC-32 (Python's binascii.crc32).
        '03' + 'e8c33b51a2010000' + '01' + '02' + '6b' + '7631' + 'b2ea4fde' +
        '02' + '0100000000000000' + 'b63c5504',
    );
    assert.equal(json, '{"format":"shale-export","version":2,"encoding":"utf8"}\n{"key":"k","value":"v1","expiresAt":1796659201000}\n{"end":true,"count":1}\n');
  });

  it('a version 1 export (no expiry times) still imports; an expiring entry inside one is corruption', async () => {
    const version1 = Buffer.from('5348414c45455850' + '01000000' + '01' + '01' + '02' + '6b' + '7631' + 'b669ce81' + '02' + '0100000000000000' + 'b63c5504', 'hex');
    const dir = await importBytes(version1);
    const imported = await DB.open(dir, { ...OPTIONS, createIfMissing: false });
    assert.deepEqual(await contents(imported), [['k', 'v1']]);
    await imported.close();
    const jsonV1 = '{"format":"shale-export","version":1,"encoding":"utf8"}\n{"key":"k","value":"v1"}\n{"end":true,"count":1}\n';
    const jsonDir = await importBytes(Buffer.from(jsonV1));
    const fromJson = await DB.open(jsonDir, { ...OPTIONS, createIfMissing: false });
    assert.deepEqual(await contents(fromJson), [['k', 'v1']]);
    await fromJson.close();

    const tag3InV1 = Buffer.concat([version1.subarray(0, 12), encodeBinaryEntry(Buffer.from('k'), Buffer.from('v'), NOW), encodeBinaryEnd(1)]);
    await assert.rejects(importBytes(tag3InV1), isCorruptionAt(12, /unknown record tag 3/));
    const expiresInV1 = '{"format":"shale-export","version":1,"encoding":"utf8"}\n{"key":"k","value":"v1","expiresAt":5}\n{"end":true,"count":1}\n';
    await assert.rejects(importBytes(Buffer.from(expiresInV1)), isCorruptionAt(56, /an expiring entry in a version 1 export/));
  });

  it('an expiry time beyond 2^53 - 1, or an expiresAt that is not a whole number, is corruption at its record', async () => {
    const record = encodeBinaryEntry(Buffer.from('k'), Buffer.from('v'), 1);
    // Set the expiry to 2^64 - 1 and fix the record's CRC, so that only the value is wrong.
    const beyond = Buffer.from(record);
    beyond.fill(0xff, 1, 9);
    const { crc32 } = await import('../../src/util/crc32.js');
    beyond.writeUInt32LE(crc32(beyond.subarray(0, beyond.length - 4)), beyond.length - 4);
    await assert.rejects(importBytes(Buffer.concat([encodeBinaryHeader(), beyond, encodeBinaryEnd(1)])), isCorruptionAt(12, /beyond 2\^53/));
    for (const bad of ['1.5', '-1', '"soon"', '9007199254740992']) {
      const text = `{"format":"shale-export","version":2,"encoding":"utf8"}\n{"key":"k","value":"v","expiresAt":${bad}}\n{"end":true,"count":1}\n`;
      await assert.rejects(importBytes(Buffer.from(text)), isCorruptionAt(56, /expiresAt/), bad);
    }
  });

  it('the decoder takes expiring records split at every byte', () => {
    const entries = [
      { key: Buffer.from('a'), value: Buffer.from('plain') },
      { key: Buffer.from('b'), value: Buffer.alloc(0), expiresAtMs: 0 },
      { key: Buffer.alloc(300, 7), value: Buffer.alloc(200, 9), expiresAtMs: Number.MAX_SAFE_INTEGER },
    ];
    const bytes = Buffer.concat([encodeBinaryHeader(), ...entries.map((e) => encodeBinaryEntry(e.key, e.value, e.expiresAtMs)), encodeBinaryEnd(entries.length)]);
    const decoder = new ExportDecoder('bytes', { keyBytesMax: 1024, valueBytesMax: 1024 });
    const decoded = [];
    for (let i = 0; i < bytes.length; i++) decoded.push(...decoder.push(bytes.subarray(i, i + 1)));
    decoder.finish();
    assert.deepEqual(decoded, entries);
    assert.equal(encodeJsonEntry(Buffer.from('b'), Buffer.alloc(0), 'base64', 0), '{"key":"Yg==","value":"","expiresAt":0}\n');
  });
});
