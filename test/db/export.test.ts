/**
 * db.export and DB.import (src/db/export.ts, import.ts, export-format.ts): both
 * forms round-trip any keys and values at one snapshot, the stream is produced
 * in chunks as it is read, and damaged or cut-short streams are corruption
 * naming the offset.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { CorruptionError, DB } from '../../src/index.js';
import { ExportDecoder, encodeBinaryEnd, encodeBinaryEntry, encodeBinaryHeader } from '../../src/db/export-format.js';
import { isCode, SeededRandom, tempDir, testSeed } from '../helpers.js';

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function entries(db: DB): Promise<[string, string][]> {
  return (await db.iterator().all()).map(([key, value]) => [key.toString('hex'), value.toString('hex')]);
}

/** A database of random binary keys and values (the empty key and 0xff bytes among them). */
async function randomDatabase(seed: number, count: number): Promise<DB> {
  const random = new SeededRandom(seed);
  const db = await DB.open(tempDir(), { memtableSizeBytes: 32 * 1024 });
  await db.put(Buffer.alloc(0), 'the empty key');
  await db.put(Buffer.from([0xff, 0xff]), Buffer.alloc(0));
  for (let i = 0; i < count; i++) await db.put(random.bytes(random.int(1, 24)), random.bytes(random.int(0, 300)));
  return db;
}

async function importBytes(bytes: Buffer | Buffer[], name?: string): Promise<{ dir: string; result: Awaited<ReturnType<typeof DB.import>> }> {
  const dir = path.join(tempDir(), 'imported');
  const chunks = Array.isArray(bytes) ? bytes : [bytes];
  const result = await DB.import(dir, Readable.from(chunks), name === undefined ? {} : { sourceName: name });
  return { dir, result };
}

/** Feeds `bytes` to a decoder one byte at a time: every split point of every record. */
function decodeBytewise(bytes: Buffer): number {
  const decoder = new ExportDecoder('bytes', { keyBytesMax: 1 << 16, valueBytesMax: 1 << 24 });
  let count = 0;
  for (let i = 0; i < bytes.length; i++) count += decoder.push(bytes.subarray(i, i + 1)).length;
  decoder.finish();
  return count;
}

describe('db.export and DB.import', () => {
  for (const options of [{}, { format: 'jsonl' as const }, { format: 'jsonl' as const, encoding: 'base64' as const }]) {
    it(`round-trips random binary keys and values at the snapshot of the call (${JSON.stringify(options)})`, async () => {
      const seed = testSeed(`export ${JSON.stringify(options)}`);
      const db = await randomDatabase(seed, 2000);
      const expected = await entries(db);
      const stream = db.export(options);
      // Writes after the call are not in the export.
      await db.put('after', 'the call');
      await db.delete(Buffer.alloc(0));
      const bytes = await collect(stream);
      await db.close();
      const { dir, result } = await importBytes(bytes);
      assert.equal(result.count, expected.length);
      assert.equal(result.format, options.format ?? 'binary');
      const imported = await DB.open(dir, { createIfMissing: false });
      assert.deepEqual(await entries(imported), expected);
      await imported.close();
      // The decoder takes the same bytes split anywhere.
      assert.equal(decodeBytewise(bytes), expected.length);
    });
  }

  it('JSON lines with utf8 text are readable by other tools, and refuse bytes that are not UTF-8', async () => {
    const db = await DB.open(tempDir());
    await db.put('naïve', 'café ☕');
    await db.put('b', '{"quoted": "json"}\n');
    const text = (await collect(db.export({ format: 'jsonl', encoding: 'utf8' }))).toString('utf8');
    assert.deepEqual(text.trimEnd().split('\n').map((line) => JSON.parse(line) as unknown), [
      { format: 'shale-export', version: 2, encoding: 'utf8' },
      { key: 'b', value: '{"quoted": "json"}\n' },
      { key: 'naïve', value: 'café ☕' },
      { end: true, count: 2 },
    ]);
    const { dir } = await importBytes(Buffer.from(text));
    const imported = await DB.open(dir, { createIfMissing: false });
    assert.equal((await imported.get('naïve'))?.toString(), 'café ☕');
    await imported.close();
    await db.put(Buffer.from([0xc3]), 'a lone lead byte');
    await assert.rejects(collect(db.export({ format: 'jsonl', encoding: 'utf8' })), isCode('INVALID_ARGUMENT'));
    await db.close();
  });

  it('the binary form is the documented bytes (docs/format.md, "Export stream")', async () => {
    const db = await DB.open(tempDir());
    await db.put('k', 'v1');
    const bytes = await collect(db.export());
    await db.close();
    assert.equal(
      bytes.toString('hex'),
      // Header: magic, version 2, flags 0, reserved.
      '5348414c45455850' + '02' + '00' + '0000' +
        // Entry: tag 1, key length 1, value length 2, "k", "v1", CRC-32 (computed by Python's binascii.crc32).
        '01' + '01' + '02' + '6b' + '7631' + 'b669ce81' +
        // End: tag 2, count 1 (u64le), CRC-32.
        '02' + '0100000000000000' + 'b63c5504',
    );
  });

  it('a key range exports only its keys', async () => {
    const db = await DB.open(tempDir());
    for (let i = 0; i < 50; i++) await db.put(`k${String(i).padStart(2, '0')}`, `v${i}`);
    const bytes = await collect(db.export({ gte: 'k10', lt: 'k20', format: 'jsonl', encoding: 'utf8' }));
    await db.close();
    const { dir, result } = await importBytes(bytes);
    assert.equal(result.count, 10);
    const imported = await DB.open(dir, { createIfMissing: false });
    assert.deepEqual((await imported.keys().all()).map(String), Array.from({ length: 10 }, (_, i) => `k${10 + i}`));
    await imported.close();
  });

  it('a large export comes in bounded chunks as it is read', async () => {
    const db = await DB.open(tempDir());
    for (let i = 0; i < 20; i++) {
      await db.write(Array.from({ length: 100 }, (_, j) => ({ type: 'put' as const, key: `k${i}-${j}`, value: Buffer.alloc(500, j) })));
    }
    const sizes: number[] = [];
    for await (const chunk of db.export()) sizes.push((chunk as Buffer).length);
    assert.ok(sizes.length > 10, `${sizes.length} chunks`);
    assert.ok(Math.max(...sizes) < 64 * 1024 + 600, `largest chunk ${Math.max(...sizes)}`);
    // A reader that stops early releases the snapshot: close does not wait for it.
    const stream = db.export();
    for await (const _chunk of stream) break;
    assert.ok(stream.destroyed);
    await db.close();
    assert.throws(() => db.export(), isCode('NOT_OPEN'));
  });

  it('a stream cut short, with a flipped bit, bytes after its end, or another magic is corruption naming the offset', async () => {
    const entry = encodeBinaryEntry(Buffer.from('key'), Buffer.from('value'));
    const whole = Buffer.concat([encodeBinaryHeader(), entry, entry, encodeBinaryEnd(2)]);
    assert.equal(decodeBytewise(whole), 2);
    const cases: [string, Buffer, number][] = [
      ['cut before the end record', whole.subarray(0, 12 + 2 * entry.length), 12 + 2 * entry.length],
      ['cut inside a record', whole.subarray(0, 12 + entry.length + 3), 12 + entry.length],
      ['a flipped bit in the second value', Buffer.concat([encodeBinaryHeader(), entry, Buffer.from(entry).fill(0x77, 7, 8), encodeBinaryEnd(2)]), 12 + entry.length],
      ['an end record that miscounts', Buffer.concat([encodeBinaryHeader(), entry, encodeBinaryEnd(2)]), 12 + entry.length],
      ['bytes after the end', Buffer.concat([whole, entry]), whole.length],
      ['another magic', Buffer.concat([Buffer.from('SHALEEXQ'), whole.subarray(8)]), 0],
      ['version 0', Buffer.concat([whole.subarray(0, 8), Buffer.from([0]), whole.subarray(9)]), 8],
      ['a JSON stream without its end line', Buffer.from('{"format":"shale-export","version":1,"encoding":"base64"}\n{"key":"a2V5","value":""}\n'), 84],
      ['a JSON line that is not base64', Buffer.from('{"format":"shale-export","version":1,"encoding":"base64"}\n{"key":"k!y","value":""}\n'), 58],
    ];
    for (const [what, bytes, offset] of cases) {
      await assert.rejects(importBytes(bytes, 'dump.bin'), (err: unknown) => {
        assert.ok(err instanceof CorruptionError, `${what}: ${String(err)}`);
        assert.equal(err.file, 'dump.bin', what);
        assert.equal(err.offset, offset, `${what}: ${err.message}`);
        return true;
      });
    }
  });

  it('a later format version, binary or JSON, is NOT_SUPPORTED', async () => {
    const whole = Buffer.concat([encodeBinaryHeader(), encodeBinaryEnd(0)]);
    await assert.rejects(importBytes(Buffer.concat([whole.subarray(0, 8), Buffer.from([3]), whole.subarray(9)])), isCode('NOT_SUPPORTED'));
    await assert.rejects(importBytes(Buffer.from('{"format":"shale-export","version":3,"encoding":"base64"}\n{"end":true,"count":0}\n')), isCode('NOT_SUPPORTED'));
  });

  it('import refuses a directory holding a database, bad sources and bad export options', async () => {
    const dir = tempDir();
    const db = await DB.open(dir);
    await db.put('a', '1');
    const bytes = await collect(db.export());
    await assert.rejects(DB.import(dir, Readable.from([bytes])), isCode('LOCKED'));
    await db.close();
    await assert.rejects(DB.import(dir, Readable.from([bytes])), isCode('EXISTS'));
    await assert.rejects(DB.import(path.join(tempDir(), 'x'), 'not a stream' as unknown as AsyncIterable<Uint8Array>), isCode('INVALID_ARGUMENT'));
    await assert.rejects(DB.import(path.join(tempDir(), 'x'), Readable.from([42], { objectMode: true })), isCode('INVALID_ARGUMENT'));
    const failing = (async function* () {
      yield bytes.subarray(0, 5);
      throw Object.assign(new Error('EIO: i/o error, read'), { code: 'EIO' });
    })();
    await assert.rejects(DB.import(path.join(tempDir(), 'y'), failing), isCode('IO_ERROR'));
    const other = await DB.open(tempDir());
    assert.throws(() => other.export({ format: 'csv' as 'binary' }), isCode('INVALID_ARGUMENT'));
    assert.throws(() => other.export({ encoding: 'utf8' }), isCode('INVALID_ARGUMENT'));
    await other.close();
  });
});
