/**
 * Helpers for the table tests: build a table in memory from entries, open it, and
 * generate seeded random tables with a model of what `get()` must return.
 */
import { EntryType, compareInternalKeys, encodeInternalKey } from '../../src/keys.js';
import type { BlockHandle } from '../../src/sstable/block-handle.js';
import { decodeBlockHandle } from '../../src/sstable/block-handle.js';
import { TableBuilder, type TableBuilderOptions, type TableMeta } from '../../src/sstable/table-builder.js';
import { TableReader, type TableReaderOptions } from '../../src/sstable/table-reader.js';
import { MemoryRandomAccessFile, MemoryWritableFile } from './memory-file.js';
import type { SeededRandom } from '../helpers.js';

export const TABLE_FILE_NAME = '000042.sst';
export const TABLE_FILE_NUMBER = 42;

/** One entry of a test table. */
export interface TestEntry {
  readonly userKey: Buffer;
  readonly seq: number;
  readonly type: EntryType;
  readonly value: Buffer;
  readonly key: Buffer;
}

export function entry(userKey: string | Buffer, seq: number, type: EntryType, value: string | Buffer = ''): TestEntry {
  const user = typeof userKey === 'string' ? Buffer.from(userKey) : userKey;
  const bytes = typeof value === 'string' ? Buffer.from(value) : value;
  return { userKey: user, seq, type, value: bytes, key: encodeInternalKey(user, seq, type) };
}

/** Builds a table of `entries` (sorted here) and returns its bytes and meta. */
export async function buildTable(entries: readonly TestEntry[], options: TableBuilderOptions = {}): Promise<{ bytes: Buffer; meta: TableMeta; file: MemoryWritableFile }> {
  const file = new MemoryWritableFile();
  const builder = new TableBuilder(file, options);
  for (const e of sortEntries(entries)) builder.add(e.key, e.value);
  const meta = await builder.finish();
  return { bytes: file.contents(), meta, file };
}

export function openTable(bytes: Buffer, options: TableReaderOptions = {}): TableReader {
  return TableReader.open(new MemoryRandomAccessFile(bytes), TABLE_FILE_NAME, TABLE_FILE_NUMBER, options);
}

export function sortEntries(entries: readonly TestEntry[]): TestEntry[] {
  return [...entries].sort((a, b) => compareInternalKeys(a.key, b.key));
}

/** The handles of the data blocks, from the index. */
export function dataBlockHandles(reader: TableReader): BlockHandle[] {
  const index = reader.indexBlock;
  const iterator = index.iterator({ name: 'any', keyBytesMin: 0, compare: () => 0 });
  const handles: BlockHandle[] = [];
  for (iterator.seekToFirst(); iterator.valid(); iterator.next()) {
    const value = iterator.value();
    handles.push(decodeBlockHandle(value, 0, value.length, reader.fileName, index.offset));
  }
  return handles;
}

/** What a read at `snapshotSeq` must find for `userKey` among `entries`. */
export function expectedGet(entries: readonly TestEntry[], userKey: Buffer, snapshotSeq: number): TestEntry | undefined {
  let best: TestEntry | undefined;
  for (const e of entries) {
    if (!e.userKey.equals(userKey) || e.seq > snapshotSeq) continue;
    if (best === undefined || e.seq > best.seq) best = e;
  }
  return best;
}

/**
 * Seeded random entries: `userKeyCount` distinct user keys, each with 1 to 3
 * versions (unique sequence numbers, about 1 in 5 a tombstone). Values are random
 * bytes (incompressible) or repetitive text (compressible).
 */
export function randomEntries(rng: SeededRandom, userKeyCount: number, values: 'random' | 'compressible', valueBytesMax = 40): TestEntry[] {
  const userKeys = new Set<string>();
  while (userKeys.size < userKeyCount) userKeys.add(rng.bytes(rng.int(1, 16)).toString('hex'));
  const entries: TestEntry[] = [];
  let seq = 1;
  const seqs = [...userKeys].flatMap((hex) => Array.from({ length: rng.int(1, 3) }, () => hex));
  // Shuffle so that versions of one key get scattered sequence numbers.
  for (let i = seqs.length - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [seqs[i], seqs[j]] = [seqs[j]!, seqs[i]!];
  }
  for (const hex of seqs) {
    const isDelete = rng.next() < 0.2;
    const length = rng.int(0, valueBytesMax);
    const value = isDelete ? Buffer.alloc(0) : values === 'random' ? rng.bytes(length) : Buffer.from(`value-${seq}-`.repeat(length).slice(0, length * 4));
    entries.push(entry(Buffer.from(hex, 'hex'), seq++, isDelete ? EntryType.DELETE : EntryType.PUT, value));
  }
  return sortEntries(entries);
}
