/**
 * Compensated sizes (RocksDB's compensated file size): a table with range
 * tombstones counts, where compaction weighs levels and picks tables, as its own
 * bytes plus an estimate of the bytes its tombstones delete: the bytes of the
 * older tables its key range overlapped when it was made. Compacting such a
 * table down is what gives the deleted space back (docs/internals.md, "Range
 * deletes").
 */
import type { Version } from '../version/version.js';
import { userKeyOf } from '../version/version.js';
import type { FileMeta } from '../version/version-edit.js';

/** The bytes of `version`'s tables older than a new table `file` (at its level) that overlap its key range. */
export function rangeDeletedBytesEstimate(file: FileMeta, version: Version): number {
  const smallest = userKeyOf(file.smallest);
  const largest = userKeyOf(file.largest);
  let bytes = 0;
  // A flush's older tables are everywhere; a compaction output's are below its level (its inputs are not yet gone).
  version.levels.forEach((files, level) => {
    if (file.level > 0 && level <= file.level) return;
    for (const other of files) {
      if (other.fileNumber === file.fileNumber) continue;
      if (userKeyOf(other.smallest).compare(largest) <= 0 && userKeyOf(other.largest).compare(smallest) >= 0) bytes += other.sizeBytes;
    }
  });
  return bytes;
}

/** A table's bytes as compaction weighs them: its size plus what its range tombstones delete. */
export function compensatedBytes(file: FileMeta): number {
  return file.sizeBytes + (file.rangeDeletedBytes ?? 0);
}

/** Sets the estimate on each new table that has range tombstones (marked by a `rangeDeletedBytes` field). */
export function estimateRangeDeletedBytes(files: FileMeta[], version: Version): void {
  for (const file of files) if (file.rangeDeletedBytes !== undefined) file.rangeDeletedBytes = rangeDeletedBytesEstimate(file, version);
}
