/**
 * `db.approximateSize` and `db.approximateCount`: how many bytes of table files,
 * and how many table entries, a key range [start, end) covers, estimated from
 * the version's file metadata, each table's index (block offsets) and its
 * properties (entry count), without reading a data block (docs/internals.md,
 * "Approximate sizes").
 *
 * A table wholly inside the range counts whole. A table the range cuts counts
 * the bytes between the data blocks where `start` and `end` fall, and its entry
 * count in the same proportion of its data bytes. Only tables count: writes
 * still in a memtable do not (flush first to include them), and old versions and
 * tombstones in tables do, until compaction drops them.
 */
import type { FileMeta } from '../version/version-edit.js';
import { userKeyOf } from '../version/version.js';
import type { VersionSet } from '../version/version-set.js';
import type { TableCache } from '../sstable/table-cache.js';
import type { TableReader } from '../sstable/table-reader.js';

/** What the estimates read: the version set (pinned while they run) and the table cache. */
export interface ApproximateParts {
  versions: VersionSet;
  tableCache: TableCache;
}

/** A key range: `start` inclusive, `end` exclusive; either may be open. */
export interface KeyBounds {
  start: Buffer | undefined;
  end: Buffer | undefined;
}

/** What one table contributes to a range. */
interface TableShare {
  bytes: number;
  entries: number;
}

/** The bytes of table files the range covers. */
export async function approximateSize(parts: ApproximateParts, bounds: KeyBounds): Promise<number> {
  return (await sumShares(parts, bounds, false)).bytes;
}

/** The table entries (every version, tombstones included) the range covers, rounded. */
export async function approximateCount(parts: ApproximateParts, bounds: KeyBounds): Promise<number> {
  return Math.round((await sumShares(parts, bounds, true)).entries);
}

async function sumShares(parts: ApproximateParts, bounds: KeyBounds, needEntries: boolean): Promise<TableShare> {
  const { version, release } = parts.versions.pin();
  const total: TableShare = { bytes: 0, entries: 0 };
  try {
    if (bounds.start !== undefined && bounds.end !== undefined && bounds.start.compare(bounds.end) >= 0) return total;
    for (const file of version.files()) {
      const cover = coverage(file, bounds);
      if (cover === 'none') continue;
      if (cover === 'all' && !needEntries) {
        total.bytes += file.sizeBytes;
        continue;
      }
      const table = await parts.tableCache.acquire(file.fileNumber);
      try {
        const share = cover === 'all' ? { bytes: file.sizeBytes, entries: table.properties.entryCount } : partialShare(table, bounds);
        total.bytes += share.bytes;
        total.entries += share.entries;
      } finally {
        parts.tableCache.release(file.fileNumber);
      }
    }
  } finally {
    release();
  }
  return total;
}

/** Whether the range misses `file`, holds all of it, or cuts it. */
function coverage(file: FileMeta, bounds: KeyBounds): 'none' | 'all' | 'some' {
  const smallest = userKeyOf(file.smallest);
  const largest = userKeyOf(file.largest);
  if (bounds.end !== undefined && smallest.compare(bounds.end) >= 0) return 'none';
  if (bounds.start !== undefined && largest.compare(bounds.start) < 0) return 'none';
  const fromStart = bounds.start === undefined || smallest.compare(bounds.start) >= 0;
  const toEnd = bounds.end === undefined || largest.compare(bounds.end) < 0;
  return fromStart && toEnd ? 'all' : 'some';
}

function partialShare(table: TableReader, bounds: KeyBounds): TableShare {
  const dataEnd = table.dataEndOffset;
  const low = bounds.start === undefined ? 0 : table.approximateOffsetOf(bounds.start);
  const high = bounds.end === undefined ? dataEnd : table.approximateOffsetOf(bounds.end);
  const bytes = Math.max(0, high - low);
  return { bytes, entries: dataEnd === 0 ? 0 : (table.properties.entryCount * bytes) / dataEnd };
}
