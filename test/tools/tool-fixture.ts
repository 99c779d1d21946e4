/**
 * A small damaged-or-not database for the tool tests: key000..key199 in one table
 * of many 256-byte blocks (flushed), then key200..key209 in the WAL only, on a
 * `CrashableFS`, closed.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { DB, type Options } from '../../src/index.js';
import { CrashableFS } from '../../src/testing/index.js';
import { TableReader } from '../../src/sstable/table-reader.js';
import { internalKeyComparator } from '../../src/sstable/comparator.js';
import { decodeFooter, type Footer } from '../../src/sstable/footer.js';
import { FOOTER_BYTES } from '../../src/sstable/format.js';
import type { BlockHandle } from '../../src/sstable/block-handle.js';
import { dataBlockHandles } from '../sstable/table-fixture.js';

export const DIR = '/db';
export const OPTIONS: Options = { blockSizeBytes: 256, compression: 'none', autoCompaction: false };
export const TABLE_KEYS = 200;
export const WAL_KEYS = 10;
export const KEY_COUNT = TABLE_KEYS + WAL_KEYS;

export const key = (i: number): string => `key${String(i).padStart(3, '0')}`;
export const value = (i: number): string => `value-${i}-`.repeat(3);

export interface Fixture {
  fs: CrashableFS;
  table: string;
  log: string;
  manifest: string;
  footer: Footer;
  tableSizeBytes: number;
  dataBlocks: BlockHandle[];
  /** The data block index of each table key. */
  blockOfKey: Map<string, number>;
}

/** The closed database described in the module comment. */
export async function fixture(options: Options = {}): Promise<Fixture> {
  const fs = new CrashableFS();
  const db = await DB.open(DIR, { fs, ...OPTIONS, ...options });
  await db.write(Array.from({ length: TABLE_KEYS }, (_, i) => ({ type: 'put' as const, key: key(i), value: value(i) })));
  await db.flush();
  for (let i = TABLE_KEYS; i < KEY_COUNT; i++) await db.put(key(i), value(i));
  await db.close();
  const find = (pattern: RegExp): string => {
    const found = fs.listAll().filter((file) => pattern.test(path.basename(file)));
    assert.equal(found.length, 1, `one file like ${pattern}: ${fs.listAll().join(', ')}`);
    return found[0]!;
  };
  const table = find(/\.sst$/);
  const handle = await fs.openRead(table);
  try {
    const reader = TableReader.open(handle, table, Number(path.basename(table, '.sst')));
    const dataBlocks = dataBlockHandles(reader);
    const blockOfKey = new Map<string, number>();
    dataBlocks.forEach((block, index) => {
      const iterator = reader.dataBlock(block).iterator(internalKeyComparator);
      for (iterator.seekToFirst(); iterator.valid(); iterator.next()) blockOfKey.set(iterator.key().subarray(0, -8).toString(), index);
    });
    const footer = decodeFooter(handle.read(handle.size - FOOTER_BYTES, FOOTER_BYTES), handle.size, table);
    return { fs, table, log: find(/\.log$/), manifest: find(/^MANIFEST-/), footer, tableSizeBytes: handle.size, dataBlocks, blockOfKey };
  } finally {
    await handle.close();
  }
}

/** Every key's value as the database reads it: a string, `undefined`, or `CORRUPTION`. */
/** Opens the database on `fs` with the fixture's options, checks its invariants, and reads every key. */
export async function openAndReadEvery(fs: CrashableFS): Promise<(string | undefined)[]> {
  const db = await DB.open(DIR, { fs, ...OPTIONS });
  try {
    db.checkInvariants();
    return await readEvery(db);
  } finally {
    await db.close();
  }
}

export async function readEvery(db: DB): Promise<(string | undefined)[]> {
  const values: (string | undefined)[] = [];
  for (let i = 0; i < KEY_COUNT; i++) {
    try {
      values.push((await db.get(key(i)))?.toString());
    } catch (err) {
      values.push((err as { code?: string }).code === 'CORRUPTION' ? 'CORRUPTION' : String(err));
    }
  }
  return values;
}
