/**
 * db.approximateSize and db.approximateCount (src/db/approximate.ts): estimates
 * from table metadata, properties and index offsets, checked against the files
 * on disk and the keys written.
 */
import assert from 'node:assert/strict';
import * as nodeFs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { DB } from '../../src/index.js';
import { isCode, tempDir } from '../helpers.js';

const KEY_COUNT = 10_000;
const key = (i: number): string => `k${String(i).padStart(5, '0')}`;

/** A compacted database of KEY_COUNT keys with 100-byte values, in many tables. */
async function filled(): Promise<{ db: DB; dir: string }> {
  const dir = tempDir();
  const db = await DB.open(dir, { memtableSizeBytes: 64 * 1024, targetFileSizeBytes: 64 * 1024, blockSizeBytes: 1024, compression: 'none' });
  for (let start = 0; start < KEY_COUNT; start += 500) {
    await db.write(Array.from({ length: 500 }, (_, i) => ({ type: 'put' as const, key: key(start + i), value: 'v'.repeat(100) })));
  }
  await db.compactRange();
  return { db, dir };
}

/** The bytes of the live tables' files (compaction's inputs may still be on their way out). */
function tableBytesOnDisk(db: DB, dir: string): number {
  return db.liveTableNumbers().reduce((sum, fileNumber) => sum + nodeFs.statSync(path.join(dir, `${String(fileNumber).padStart(6, '0')}.sst`)).size, 0);
}

/** `actual` within `tolerance` (a fraction) of `expected`. */
function near(actual: number, expected: number, tolerance: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= expected * tolerance, `${what}: ${actual}, expected ${expected} ± ${(tolerance * 100).toFixed(0)}%`);
}

describe('db.approximateSize and db.approximateCount', () => {
  it('the whole key space is every table byte and every entry', async () => {
    const { db, dir } = await filled();
    assert.ok(db.liveTableNumbers().length > 5, 'many tables');
    assert.equal(await db.approximateSize(), tableBytesOnDisk(db, dir));
    assert.equal(await db.approximateCount(), KEY_COUNT);
    assert.equal(await db.approximateCount(key(0), 'l'), KEY_COUNT);
    await db.close();
  });

  it('a range is counted in proportion, to within a block or two', async () => {
    const { db, dir } = await filled();
    const total = tableBytesOnDisk(db, dir);
    for (const [from, to] of [
      [2000, 4000],
      [0, 5000],
      [123, 9876],
      [4500, 4700],
    ] as const) {
      const fraction = (to - from) / KEY_COUNT;
      near(await db.approximateCount(key(from), key(to)), to - from, 0.05 + 40 / (to - from), `count of [${key(from)}, ${key(to)})`);
      near(await db.approximateSize(key(from), key(to)), total * fraction, 0.05 + 0.005 / fraction, `size of [${key(from)}, ${key(to)})`);
    }
    // Adjacent ranges add up to the whole (the cut falls at one block boundary in both).
    const left = await db.approximateSize(undefined, key(3333));
    const right = await db.approximateSize(key(3333));
    near(left + right, total, 0.02, 'two halves');
    await db.close();
  });

  it('empty, reversed and outside ranges are zero; the memtable is not counted until flushed', async () => {
    const { db } = await filled();
    assert.equal(await db.approximateSize(key(10), key(10)), 0);
    assert.equal(await db.approximateCount(key(20), key(10)), 0);
    assert.equal(await db.approximateSize('z'), 0);
    assert.equal(await db.approximateCount(undefined, 'a'), 0);
    await db.close();

    const fresh = await DB.open(tempDir());
    // Random bytes: compression does not shrink them.
    await fresh.put('a', randomBytes(1000));
    assert.equal(await fresh.approximateSize(), 0);
    assert.equal(await fresh.approximateCount(), 0);
    await fresh.flush();
    assert.ok((await fresh.approximateSize()) > 1000);
    assert.equal(await fresh.approximateCount(), 1);
    await fresh.close();
  });

  it('overwrites and deletes count until compaction drops them', async () => {
    const db = await DB.open(tempDir());
    for (let i = 0; i < 100; i++) await db.put(key(i), 'first');
    await db.flush();
    for (let i = 0; i < 100; i++) await db.delete(key(i));
    await db.flush();
    assert.equal(await db.approximateCount(), 200);
    await db.compactRange();
    assert.equal(await db.approximateCount(), 0);
    await db.close();
  });

  it('bad bounds are INVALID_ARGUMENT and a closed database NOT_OPEN', async () => {
    const db = await DB.open(tempDir());
    await assert.rejects(db.approximateSize(42 as unknown as string), isCode('INVALID_ARGUMENT'));
    await assert.rejects(db.approximateCount('a', null as unknown as string), isCode('INVALID_ARGUMENT'));
    await db.close();
    await assert.rejects(db.approximateSize(), isCode('NOT_OPEN'));
    await assert.rejects(db.approximateCount(), isCode('NOT_OPEN'));
  });
});
