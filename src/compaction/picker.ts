/**
 * Choosing the next compaction: a pure function of the version's levels, the
 * compaction pointers and the options (docs/internals.md, "Compaction").
 *
 * Each level gets a score: L0 its file count over `l0CompactionTrigger`, deeper
 * levels their bytes over their target size (`levelBaseBytes` ×
 * `levelSizeMultiplier`^(n-1)). The highest score ≥ 1 compacts. L0 compacts all
 * its files; a deeper level compacts the first table past its compaction
 * pointer, so successive compactions rotate through the key space. Inputs expand
 * to every overlapping table of the next level, and then to more of the source
 * level when that adds no next-level table. A single table that overlaps nothing
 * below moves down by a MANIFEST edit alone.
 */
import { compareInternalKeys } from '../keys.js';
import { userKeyOf } from '../version/version.js';
import type { FileMeta } from '../version/version-edit.js';

export interface PickerOptions {
  l0CompactionTrigger: number;
  levelBaseBytes: number;
  levelSizeMultiplier: number;
  levelCountMax: number;
  targetFileSizeBytes: number;
}

/** A chosen compaction: `inputs[0]` from `level`, `inputs[1]` from `level + 1`. */
export interface Compaction {
  level: number;
  outputLevel: number;
  inputs: [FileMeta[], FileMeta[]];
  /** Tables of `level + 2` the output overlaps: output files are cut to bound overlap with them. */
  grandparents: FileMeta[];
  /** One input table, nothing to merge with: move it down by a MANIFEST edit. */
  trivialMove: boolean;
  /** The score that chose it (≥ 1), or 0 for a manual compaction. */
  score: number;
}

/** Bytes a level may hold before it scores 1. */
export function levelTargetBytes(level: number, options: PickerOptions): number {
  return options.levelBaseBytes * options.levelSizeMultiplier ** Math.max(0, level - 1);
}

/** A compaction's output overlaps at most this many bytes of the level below it before a new file is started. */
export function grandparentOverlapBytesMax(options: PickerOptions): number {
  return 10 * options.targetFileSizeBytes;
}

/** Source-level inputs may grow to this many bytes when expanding adds no next-level table. */
function expandedInputBytesMax(options: PickerOptions): number {
  return 25 * options.targetFileSizeBytes;
}

export function totalBytes(files: readonly FileMeta[]): number {
  return files.reduce((sum, file) => sum + file.sizeBytes, 0);
}

/** Scores of every level but the last (which has nowhere to compact to). */
export function levelScores(levels: readonly (readonly FileMeta[])[], options: PickerOptions): number[] {
  const scores: number[] = [];
  for (let level = 0; level < options.levelCountMax - 1; level++) {
    const files = levels[level] ?? [];
    scores.push(level === 0 ? files.length / options.l0CompactionTrigger : totalBytes(files) / levelTargetBytes(level, options));
  }
  return scores;
}

/** The user-key range [smallest, largest] covered by `files`. */
export function userKeyRange(files: readonly FileMeta[]): { smallest: Buffer; largest: Buffer } {
  let smallest = userKeyOf(files[0]!.smallest);
  let largest = userKeyOf(files[0]!.largest);
  for (const file of files) {
    if (userKeyOf(file.smallest).compare(smallest) < 0) smallest = userKeyOf(file.smallest);
    if (userKeyOf(file.largest).compare(largest) > 0) largest = userKeyOf(file.largest);
  }
  return { smallest, largest };
}

/** The tables of `files` whose user-key range intersects [smallest, largest] (either bound may be open). */
export function overlapping(files: readonly FileMeta[], smallest: Buffer | undefined, largest: Buffer | undefined): FileMeta[] {
  return files.filter(
    (file) =>
      (largest === undefined || userKeyOf(file.smallest).compare(largest) <= 0) &&
      (smallest === undefined || userKeyOf(file.largest).compare(smallest) >= 0),
  );
}

/**
 * The L0 tables overlapping [smallest, largest], closed under overlap: L0 tables
 * overlap each other, so a table overlapping one taken is taken too. Otherwise an
 * older version of a key could stay in L0, where reads look first, while a newer
 * one moves below it.
 */
function overlappingL0(files: readonly FileMeta[], smallest: Buffer, largest: Buffer): FileMeta[] {
  let taken = overlapping(files, smallest, largest);
  for (;;) {
    if (taken.length === 0) return taken;
    const range = userKeyRange(taken);
    const grown = overlapping(files, range.smallest, range.largest);
    if (grown.length === taken.length) return grown;
    taken = grown;
  }
}

/**
 * Picks the compaction to run next, or undefined when every score is below 1.
 * `compactPointers` maps a level to the largest internal key its last compaction took.
 */
export function pickCompaction(
  levels: readonly (readonly FileMeta[])[],
  compactPointers: ReadonlyMap<number, Buffer>,
  options: PickerOptions,
): Compaction | undefined {
  const scores = levelScores(levels, options);
  let best = -1;
  for (let level = 0; level < scores.length; level++) {
    if (scores[level]! >= 1 && (best < 0 || scores[level]! > scores[best]!)) best = level;
  }
  if (best < 0) return undefined;
  const sourceFiles = levels[best] ?? [];
  let seed: FileMeta[];
  if (best === 0) {
    seed = [...sourceFiles];
  } else {
    const pointer = compactPointers.get(best);
    const next = pointer === undefined ? undefined : sourceFiles.find((file) => compareInternalKeys(file.largest, pointer) > 0);
    seed = [next ?? sourceFiles[0]!];
  }
  return expandCompaction(levels, best, seed, options, scores[best]!);
}

/**
 * Builds a compaction of `seed` (tables of `level`): adds the overlapping tables of
 * `level + 1`, grows the source side where that adds nothing below, and finds the
 * grandparents.
 */
export function expandCompaction(
  levels: readonly (readonly FileMeta[])[],
  level: number,
  seed: FileMeta[],
  options: PickerOptions,
  score: number,
): Compaction {
  const source = levels[level] ?? [];
  const below = levels[level + 1] ?? [];
  const sourceOverlapping = (smallest: Buffer, largest: Buffer): FileMeta[] =>
    level === 0 ? overlappingL0(source, smallest, largest) : overlapping(source, smallest, largest);
  let inputs0 = level === 0 ? sourceOverlapping(userKeyRange(seed).smallest, userKeyRange(seed).largest) : seed;
  const range = userKeyRange(inputs0);
  let inputs1 = overlapping(below, range.smallest, range.largest);
  if (inputs1.length > 0) {
    // Grow the source side over the whole range the inputs cover, if that pulls in no more of the level below.
    const all = userKeyRange([...inputs0, ...inputs1]);
    const expanded0 = sourceOverlapping(all.smallest, all.largest);
    if (expanded0.length > inputs0.length && totalBytes(expanded0) + totalBytes(inputs1) < expandedInputBytesMax(options)) {
      const expandedRange = userKeyRange(expanded0);
      const expanded1 = overlapping(below, expandedRange.smallest, expandedRange.largest);
      if (expanded1.length === inputs1.length) {
        inputs0 = expanded0;
        inputs1 = expanded1;
      }
    }
  }
  const all = userKeyRange([...inputs0, ...inputs1]);
  const grandparents = overlapping(levels[level + 2] ?? [], all.smallest, all.largest);
  const trivialMove = inputs0.length === 1 && inputs1.length === 0 && totalBytes(grandparents) <= grandparentOverlapBytesMax(options);
  return { level, outputLevel: level + 1, inputs: [inputs0, inputs1], grandparents, trivialMove, score };
}
