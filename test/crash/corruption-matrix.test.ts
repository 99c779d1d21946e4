/**
 * Damage every kind of file of a closed database (WAL, tables, MANIFEST,
 * CURRENT) in every way (a flipped bit, a zeroed range, a truncation) at many
 * offsets, and reopen: the damage is a CorruptionError naming the damaged file,
 * or harmless, and never a wrong value.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { it } from 'node:test';
import { CorruptionError, DB, ShaleError } from '../../src/index.js';
import { CrashableFS, Rng } from '../../src/testing/index.js';
import { seededRandom, testSeed } from '../helpers.js';

const DIR = '/db';
// A prefix filter of 5 bytes ("key00", "key01", "key02"): the tables are format version 2.
const OPTIONS = { memtableSizeBytes: 8 * 1024, blockSizeBytes: 512, autoCompaction: false, bloomPrefixBytes: 5 } as const;
const KEYS = 300;
const key = (i: number): string => `key${String(i).padStart(4, '0')}`;
const value = (i: number): string => `value-${i}-${'x'.repeat(i % 50)}`;
/** Keys written after the last flush: they live only in the WAL. */
const WAL_ONLY = new Set([KEYS - 2, KEYS - 1]);

type Damage = 'flip' | 'zero' | 'truncate';

async function pristine(): Promise<CrashableFS> {
  const fs = new CrashableFS();
  const db = await DB.open(DIR, { fs, ...OPTIONS });
  for (let i = 0; i < KEYS - 2; i++) await db.put(key(i), value(i));
  await db.flush();
  for (const i of WAL_ONLY) await db.put(key(i), value(i));
  await db.close();
  return fs;
}

function damage(fs: CrashableFS, file: string, kind: Damage, offset: number): void {
  const bytes = fs.readFileSync(file);
  if (kind === 'flip') fs.flipBit(file, offset, offset % 8);
  else if (kind === 'zero') fs.corrupt(file, offset, Buffer.alloc(Math.min(64, bytes.length - offset)));
  else fs.writeFileSync(file, bytes.subarray(0, offset), { synced: true });
}

/** Reads every key, and each prefix's range with an iterator; returns how many reads failed with CORRUPTION. Throws on a wrong value. */
async function readAll(db: DB, file: string, context: string): Promise<number> {
  let corrupt = 0;
  for (const prefix of ['key00', 'key01', 'key02']) {
    try {
      const entries = await db.iterator({ gte: prefix, lt: `${prefix.slice(0, -1)}${Number(prefix.at(-1)) + 1}` }).all();
      const expected = Array.from({ length: 100 }, (_, j) => Number(prefix.at(-1)) * 100 + j).filter((i) => i < KEYS);
      const got = entries.map(([k, v]) => `${k}=${v}`);
      const want = expected.map((i) => `${key(i)}=${value(i)}`);
      // As for gets: a dropped torn WAL tail may take the last keys with it.
      const tornTail = file.endsWith('.log') && got.length < want.length && expected.slice(got.length).every((i) => WAL_ONLY.has(i));
      if (!tornTail) assert.deepEqual(got, want, `${context}: the range of ${prefix} read wrong entries`);
      else assert.deepEqual(got, want.slice(0, got.length), `${context}: the range of ${prefix} read wrong entries`);
    } catch (err) {
      if (!(err instanceof CorruptionError)) throw err;
      assert.equal(err.file, file, `${context}: the error names ${err.file}`);
      corrupt++;
    }
  }
  for (let i = 0; i < KEYS; i++) {
    try {
      const found = await db.get(key(i));
      // The last WAL record may be dropped as a torn tail: damage there cannot be told from a torn write.
      if (found === undefined && WAL_ONLY.has(i) && file.endsWith('.log')) continue;
      assert.equal(found?.toString(), value(i), `${context}: ${key(i)} read a wrong value`);
    } catch (err) {
      if (!(err instanceof CorruptionError)) throw err;
      assert.equal(err.file, file, `${context}: the error names ${err.file}`);
      corrupt++;
    }
  }
  return corrupt;
}

it('damage to any file, in any way, at any offset is CORRUPTION naming the file or harmless, never a wrong value', async () => {
  const random = seededRandom(testSeed('corruption matrix'));
  const base = await pristine();
  const files = base.listAll().filter((file) => /\.(log|sst)$|MANIFEST-|CURRENT$/.test(path.basename(file)));
  assert.deepEqual([...new Set(files.map((file) => path.basename(file).replace(/\d+/, 'N')))].sort(), ['CURRENT', 'MANIFEST-N', 'N.log', 'N.sst']);
  const outcomes = { failedOpen: 0, failedReads: 0, harmless: 0 };
  for (const file of files) {
    const size = base.fileInfo(file)!.size;
    const offsets = new Set([0, 1, size - 1, ...Array.from({ length: 12 }, () => Math.floor(random() * size))]);
    for (const kind of ['flip', 'zero', 'truncate'] as Damage[]) {
      for (const offset of offsets) {
        if (offset < 0 || offset >= size) continue;
        const context = `${kind} ${path.basename(file)} at ${offset} of ${size}`;
        // Everything was synced at close: a drop-unsynced clone is an exact copy.
        const fs = base.crashClone('drop-unsynced', new Rng(0));
        damage(fs, file, kind, offset);
        let db: DB;
        try {
          db = await DB.open(DIR, { fs, ...OPTIONS });
        } catch (err) {
          assert.ok(err instanceof ShaleError && err.code === 'CORRUPTION', `${context}: open failed with ${String(err)}`);
          assert.ok(err instanceof CorruptionError && err.file === file, `${context}: the error names ${(err as CorruptionError).file}`);
          outcomes.failedOpen++;
          continue;
        }
        try {
          if ((await readAll(db, file, context)) > 0) outcomes.failedReads++;
          else outcomes.harmless++;
        } finally {
          await db.close();
        }
      }
    }
  }
  console.log(`# corruption matrix: ${JSON.stringify(outcomes)}`);
  assert.ok(outcomes.failedOpen > 0 && outcomes.failedReads > 0, 'damage was detected both at open and on read');
});
