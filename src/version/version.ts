/**
 * Versions: the set of tables that make up the database at one moment, by level
 * (docs/internals.md, "Versions"). A version never changes; each MANIFEST edit
 * makes a new one. Readers (iterators) pin the version they read, and a table is
 * deleted only when no pinned or current version holds it.
 *
 * L0 holds flushed tables, which may overlap; it is kept newest first (by the
 * largest sequence number, then file number). L1 and deeper hold tables sorted by
 * smallest key that never overlap.
 */
import assert from 'node:assert/strict';
import { INTERNAL_KEY_TRAILER_BYTES, compareInternalKeys } from '../keys.js';
import { isExclusiveEndKey } from '../rangedel/table-tombstones.js';
import type { FileMeta, VersionEdit } from './version-edit.js';

/** The user key of an encoded internal key (a view, no copy). */
export function userKeyOf(internalKey: Buffer): Buffer {
  return internalKey.subarray(0, internalKey.length - INTERNAL_KEY_TRAILER_BYTES);
}

/**
 * Whether every key of the table `file` lies before the user key `userKey`: its
 * largest user key is smaller, or equal but an exclusive range-tombstone end
 * (a bound the table's keys stop short of; docs/internals.md, "Range deletes").
 */
export function endsBefore(file: FileMeta, userKey: Buffer): boolean {
  const byKey = userKeyOf(file.largest).compare(userKey);
  return byKey < 0 || (byKey === 0 && isExclusiveEndKey(file.largest));
}

function newestFirst(a: FileMeta, b: FileMeta): number {
  return b.largestSeq - a.largestSeq || b.fileNumber - a.fileNumber;
}

function bySmallestKey(a: FileMeta, b: FileMeta): number {
  return compareInternalKeys(a.smallest, b.smallest);
}

export class Version {
  /** Tables per level; `levels[0]` newest first, deeper levels by key. */
  readonly levels: readonly (readonly FileMeta[])[];
  #refs = 0;
  readonly #onUnused: (version: Version) => void;

  constructor(levels: FileMeta[][], onUnused: (version: Version) => void) {
    levels[0]!.sort(newestFirst);
    for (let level = 1; level < levels.length; level++) levels[level]!.sort(bySmallestKey);
    this.levels = levels;
    this.#onUnused = onUnused;
  }

  /** Pins the version: its tables stay on disk until `unref()`. */
  ref(): void {
    this.#refs++;
  }

  unref(): void {
    assert(this.#refs > 0, 'Version.unref without ref');
    if (--this.#refs === 0) this.#onUnused(this);
  }

  get refs(): number {
    return this.#refs;
  }

  /** Every table of every level. */
  *files(): Generator<FileMeta> {
    for (const level of this.levels) yield* level;
  }

  /** The applied result of `edit` on this version's tables. */
  levelsAfter(edit: VersionEdit): FileMeta[][] {
    const deleted = new Set(edit.deletedFiles.map((file) => file.fileNumber));
    const levels = this.levels.map((files) => files.filter((file) => !deleted.has(file.fileNumber)));
    for (const file of edit.newFiles) {
      while (levels.length <= file.level) levels.push([]);
      levels[file.level]!.push(file);
    }
    return levels;
  }

  /**
   * The index of the first table at `level` (≥ 1) that does not end before
   * `userKey` (see `endsBefore`); `levels[level].length` if none.
   */
  findFile(level: number, userKey: Buffer): number {
    const files = this.levels[level] ?? [];
    let low = 0;
    let high = files.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (endsBefore(files[middle]!, userKey)) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  /** Checks level structure: sorted, non-overlapping at L1+, each file's range well-formed. For tests. */
  checkInvariants(): void {
    const seen = new Set<number>();
    this.levels.forEach((files, level) => {
      for (const file of files) {
        assert(!seen.has(file.fileNumber), `file ${file.fileNumber} appears twice`);
        seen.add(file.fileNumber);
        assert.equal(file.level, level, `file ${file.fileNumber} recorded at level ${file.level}, found at ${level}`);
        assert(compareInternalKeys(file.smallest, file.largest) <= 0, `file ${file.fileNumber} smallest > largest`);
        assert(file.smallestSeq <= file.largestSeq, `file ${file.fileNumber} sequence range inverted`);
      }
      if (level === 0) return;
      for (let i = 1; i < files.length; i++) {
        // Touching is allowed where a table's range tombstones end (exclusively) at the next one's first key.
        assert(endsBefore(files[i - 1]!, userKeyOf(files[i]!.smallest)), `L${level} files ${files[i - 1]!.fileNumber} and ${files[i]!.fileNumber} overlap`);
      }
    });
  }
}
