/**
 * Reads below the memtables: point lookups through the levels, and the merged
 * iterator over memtables and tables (docs/internals.md, "Read path").
 *
 * A get looks in L0 newest first (every table whose key range holds the key),
 * then in each deeper level in the one table whose range can hold it (binary
 * search), skipping tables whose bloom filter says no. The first entry visible at
 * the snapshot decides: a PUT's value, or a DELETE's absence.
 */
import { userKeyOf, type Version } from '../version/version.js';
import type { FileMeta } from '../version/version-edit.js';
import type { InternalIterator } from '../iterator/internal-iterator.js';
import { DBIterator, type KeyRange } from '../iterator/db-iterator.js';
import { LevelIterator } from '../iterator/level-iterator.js';
import { MergingIterator } from '../iterator/merging-iterator.js';
import type { MemLookup, MemTable } from '../memtable/memtable.js';
import { MemTableIterator } from '../memtable/memtable-iterator.js';
import type { TableCache } from '../sstable/table-cache.js';
import type { TableReader } from '../sstable/table-reader.js';

function holdsKey(file: FileMeta, key: Buffer): boolean {
  return userKeyOf(file.smallest).compare(key) <= 0 && userKeyOf(file.largest).compare(key) >= 0;
}

async function getFromTable(tableCache: TableCache, file: FileMeta, key: Buffer, seq: number): Promise<MemLookup | undefined> {
  const reader = await tableCache.acquire(file.fileNumber);
  try {
    return reader.get(key, seq);
  } finally {
    tableCache.release(file.fileNumber);
  }
}

/** The newest entry for `key` visible at `seq` in `version`'s tables, or undefined. */
export async function getFromVersion(version: Version, tableCache: TableCache, key: Buffer, seq: number): Promise<MemLookup | undefined> {
  for (const file of version.levels[0] ?? []) {
    if (!holdsKey(file, key) || file.smallestSeq > seq) continue;
    const found = await getFromTable(tableCache, file, key, seq);
    if (found !== undefined) return found;
  }
  for (let level = 1; level < version.levels.length; level++) {
    const files = version.levels[level]!;
    const index = version.findFile(level, key);
    const file = files[index];
    if (file === undefined || userKeyOf(file.smallest).compare(key) > 0) continue;
    const found = await getFromTable(tableCache, file, key, seq);
    if (found !== undefined) return found;
  }
  return undefined;
}

/**
 * Builds the user-visible iterator over `memtables` (newest first) and
 * `version`'s tables at snapshot `seq`. Every table the iterator may read is
 * opened and pinned now; `release` unpins them.
 */
export async function buildDbIterator(
  memtables: readonly MemTable[],
  version: Version,
  tableCache: TableCache,
  seq: number,
  range: KeyRange,
  reverse: boolean,
): Promise<{ iterator: DBIterator; release: () => void }> {
  const acquired: number[] = [];
  const release = (): void => {
    for (const fileNumber of acquired.splice(0)) tableCache.release(fileNumber);
  };
  try {
    const readers = new Map<number, TableReader>();
    for (const file of version.files()) {
      readers.set(file.fileNumber, await tableCache.acquire(file.fileNumber));
      acquired.push(file.fileNumber);
    }
    const children: InternalIterator[] = memtables.map((memtable) => new MemTableIterator(memtable));
    for (const file of version.levels[0] ?? []) children.push(readers.get(file.fileNumber)!.iterator());
    for (let level = 1; level < version.levels.length; level++) {
      const files = version.levels[level]!;
      if (files.length === 0) continue;
      children.push(
        new LevelIterator(
          files,
          (file) => readers.get(file.fileNumber)!.iterator(),
          (file) => userKeyOf(file.largest),
        ),
      );
    }
    return { iterator: new DBIterator(new MergingIterator(children), seq, range, reverse), release };
  } catch (err) {
    release();
    throw err;
  }
}
