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
 *
 * Compactions run concurrently when they cannot meet (`CompactionsInProgress`):
 * no input table is another's, and no two write overlapping key ranges into one
 * level. L0 at its slowdown trigger goes first (its debt is what stops writes)
 * unless L1 is more than twice as far over its target (`l0GoesFirst`).
 */
import { compareInternalKeys } from '../keys.js';
import { userKeyOf } from '../version/version.js';
import { compensatedBytes } from '../rangedel/compensation.js';
import type { FileMeta } from '../version/version-edit.js';

export interface PickerOptions {
  l0CompactionTrigger: number;
  levelBaseBytes: number;
  levelSizeMultiplier: number;
  levelCountMax: number;
  targetFileSizeBytes: number;
  /** L0 table count at which an L0 compaction goes before every other level. */
  l0SlowdownTrigger: number;
}

/** What the running compactions hold: their input tables, and the key ranges they write into each level. */
export interface CompactionsInProgress {
  readonly files: ReadonlySet<number>;
  readonly outputs: readonly { readonly level: number; readonly smallest: Buffer; readonly largest: Buffer }[];
}

export const NOTHING_IN_PROGRESS: CompactionsInProgress = { files: new Set(), outputs: [] };

/** The key range `compaction` writes into its output level. */
export function outputRange(compaction: Compaction): { level: number; smallest: Buffer; largest: Buffer } {
  return { level: compaction.outputLevel, ...userKeyRange([...compaction.inputs[0], ...compaction.inputs[1]]) };
}

/** Whether `compaction` may run beside the compactions `running`. */
export function conflicts(compaction: Compaction, running: CompactionsInProgress): boolean {
  for (const files of compaction.inputs) for (const file of files) if (running.files.has(file.fileNumber)) return true;
  const mine = outputRange(compaction);
  return running.outputs.some(
    (other) => other.level === mine.level && other.smallest.compare(mine.largest) <= 0 && other.largest.compare(mine.smallest) >= 0,
  );
}

/** Source-level seeds tried per level when the first conflicts with a running compaction. */
const SEEDS_TRIED_MAX = 32;

/**
 * A chosen compaction: `inputs[0]` from `level`, `inputs[1]` from `outputLevel`.
 * An automatic one has `outputLevel === level + 1`; a manual one may span several
 * levels, and then `inputs[0]` holds the tables of every level from `level` to
 * `outputLevel - 1`.
 */
export interface Compaction {
  level: number;
  outputLevel: number;
  inputs: [FileMeta[], FileMeta[]];
  /** Tables of `outputLevel + 1` the output overlaps: output files are cut to bound overlap with them. */
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

function compensatedTotalBytes(files: readonly FileMeta[]): number {
  return files.reduce((sum, file) => sum + compensatedBytes(file), 0);
}

/** Scores of every level but the last (which has nowhere to compact to). */
export function levelScores(levels: readonly (readonly FileMeta[])[], options: PickerOptions): number[] {
  const scores: number[] = [];
  for (let level = 0; level < options.levelCountMax - 1; level++) {
    const files = levels[level] ?? [];
    // Deeper levels weigh their tables' compensated sizes: range tombstones count for the space they delete below.
    scores.push(level === 0 ? files.length / options.l0CompactionTrigger : compensatedTotalBytes(files) / levelTargetBytes(level, options));
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
 * Picks the compaction to run next beside `running`, or undefined when every
 * score is below 1 or every candidate conflicts. Levels go by score, highest
 * first, except that L0 at `l0SlowdownTrigger` tables goes first.
 * `compactPointers` maps a level to the largest internal key its last compaction took.
 */
export function pickCompaction(
  levels: readonly (readonly FileMeta[])[],
  compactPointers: ReadonlyMap<number, Buffer>,
  options: PickerOptions,
  running: CompactionsInProgress = NOTHING_IN_PROGRESS,
): Compaction | undefined {
  const scores = levelScores(levels, options);
  const l0Urgent = l0GoesFirst(levels, scores, options);
  const order = scores
    .map((score, level) => ({ score, level }))
    .filter((entry) => entry.score >= 1)
    .sort((a, b) => (l0Urgent && (a.level === 0 || b.level === 0) ? a.level - b.level : b.score - a.score || a.level - b.level));
  let blocking = running;
  for (const { level, score } of order) {
    for (const seed of seedsOf(levels[level] ?? [], level, compactPointers.get(level))) {
      const compaction = expandCompaction(levels, level, seed, options, score);
      if (!conflicts(compaction, blocking)) return compaction;
      // An urgent L0 compaction that must wait for running ones reserves what it
      // needs: starting more compactions on its L1 tables would starve it.
      if (level === 0 && l0Urgent) blocking = withReserved(blocking, compaction);
    }
  }
  return undefined;
}

/**
 * L1's score may reach this many times L0's before an urgent L0 stops going
 * first: L0 spans the key space, so every L0→L1 merge rewrites all of L1, and an
 * L1 that never compacts down makes each one longer than the last (in a
 * 4,000,000 × 1,000 B fill L1 grew to 1.7 GB, 166 times its target, and the
 * fill's last quarter ran at 18% of its first).
 */
export const L0_URGENT_L1_SCORE_RATIO_MAX = 2;

/**
 * Whether L0 goes before every other level: at its slowdown trigger (its debt is
 * what paces and stops writes), unless L1 is more than
 * `L0_URGENT_L1_SCORE_RATIO_MAX` times as far over its target, when the scores
 * decide as usual.
 */
export function l0GoesFirst(levels: readonly (readonly FileMeta[])[], scores: readonly number[], options: PickerOptions): boolean {
  if ((levels[0]?.length ?? 0) < options.l0SlowdownTrigger) return false;
  return (scores[1] ?? 0) <= L0_URGENT_L1_SCORE_RATIO_MAX * (scores[0] ?? 0);
}

function withReserved(running: CompactionsInProgress, compaction: Compaction): CompactionsInProgress {
  const files = new Set(running.files);
  for (const level of compaction.inputs) for (const file of level) files.add(file.fileNumber);
  return { files, outputs: [...running.outputs, outputRange(compaction)] };
}

/** Source tables to start from: all of L0; deeper, the tables past the compaction pointer, wrapping around. */
function seedsOf(files: readonly FileMeta[], level: number, pointer: Buffer | undefined): FileMeta[][] {
  if (files.length === 0) return [];
  if (level === 0) return [[...files]];
  const after = pointer === undefined ? 0 : files.findIndex((file) => compareInternalKeys(file.largest, pointer) > 0);
  const first = after < 0 ? 0 : after;
  const seeds: FileMeta[][] = [];
  // A table whose range tombstones delete more below than it holds goes first: compacting it gives that space back.
  const covering = mostRangeDeleting(files);
  if (covering !== undefined) seeds.push([covering]);
  for (let i = 0; seeds.length < Math.min(files.length, SEEDS_TRIED_MAX); i++) {
    const file = files[(first + i) % files.length]!;
    if (file !== covering) seeds.push([file]);
  }
  return seeds;
}

/** The table whose range tombstones delete the most bytes below it, if any deletes more than the table's own size. */
function mostRangeDeleting(files: readonly FileMeta[]): FileMeta | undefined {
  let best: FileMeta | undefined;
  for (const file of files) {
    const deleted = file.rangeDeletedBytes ?? 0;
    if (deleted > file.sizeBytes && deleted > (best?.rangeDeletedBytes ?? 0)) best = file;
  }
  return best;
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

/**
 * The manual compaction of [start, end] (open bounds when undefined): every table
 * of every level overlapping the range, closed under overlap across all levels,
 * merged in one job into the deepest level holding such a table (at least L1).
 * One merge instead of one per level reads and writes each byte once, not once
 * per level it passes (docs/internals.md, "Manual compaction"). Undefined when
 * there is nothing to do: no table in the range, or all of them already in the
 * output level and none of them one `rewrite` asks to rewrite in place (a table
 * holding expired entries, or any table when a compaction filter is set: as
 * RocksDB's CompactRange compacts the bottommost level when there is a filter).
 */
export function manualCompaction(
  levels: readonly (readonly FileMeta[])[],
  start: Buffer | undefined,
  end: Buffer | undefined,
  options: PickerOptions,
  rewrite: (file: FileMeta) => boolean = () => false,
): Compaction | undefined {
  const outputLevel = Math.max(
    1,
    levels.reduce((last, files, level) => (overlapping(files, start, end).length > 0 ? level : last), 0),
  );
  const inRange = Array.from({ length: outputLevel + 1 }, (_, level) => levels[level] ?? []);
  let taken = inRange.map((files) => overlapping(files, start, end));
  for (;;) {
    const all = taken.flat();
    if (all.length === 0) return undefined;
    const range = userKeyRange(all);
    const grown = inRange.map((files) => overlapping(files, range.smallest, range.largest));
    const same = grown.every((files, level) => files.length === taken[level]!.length);
    taken = grown;
    if (same) break;
  }
  const upper = taken.slice(0, outputLevel).flat();
  if (upper.length === 0 && !taken[outputLevel]!.some(rewrite)) return undefined;
  const level = taken.findIndex((files) => files.length > 0);
  const range = userKeyRange(taken.flat());
  const grandparents = overlapping(levels[outputLevel + 1] ?? [], range.smallest, range.largest);
  const lower = taken[outputLevel]!;
  const trivialMove = upper.length === 1 && lower.length === 0 && !rewrite(upper[0]!) && totalBytes(grandparents) <= grandparentOverlapBytesMax(options);
  return { level, outputLevel, inputs: [upper, lower], grandparents, trivialMove, score: 0 };
}

/** A subcompaction's share of the user-key space: [start, end), either bound open when null. */
export interface KeyRangeShare {
  start: Buffer | null;
  end: Buffer | null;
}

/**
 * Cuts `compaction`'s key space into at most `pieces` shares of about equal input
 * bytes, at the smallest keys of its tables below L0 (those tables are disjoint
 * within a level, so their sizes say where the bytes are; L0 tables usually span
 * the whole range and say nothing). Shares are in key order and cover all keys.
 */
export function splitForSubcompactions(compaction: Compaction, pieces: number): KeyRangeShare[] {
  const sized = [...compaction.inputs[0], ...compaction.inputs[1]]
    .filter((file) => file.level > 0)
    .map((file) => ({ key: userKeyOf(file.smallest), bytes: file.sizeBytes }))
    .sort((a, b) => a.key.compare(b.key));
  const total = sized.reduce((sum, file) => sum + file.bytes, 0);
  const cuts: Buffer[] = [];
  let before = 0;
  for (const file of sized) {
    const wanted = (total * (cuts.length + 1)) / pieces;
    if (cuts.length < pieces - 1 && before >= wanted && before > 0) {
      if (cuts.length === 0 || cuts[cuts.length - 1]!.compare(file.key) < 0) cuts.push(file.key);
    }
    before += file.bytes;
  }
  const shares: KeyRangeShare[] = [];
  for (let i = 0; i <= cuts.length; i++) shares.push({ start: i === 0 ? null : cuts[i - 1]!, end: cuts[i] ?? null });
  return shares;
}

/**
 * A compaction of the table whose earliest expiry has passed longest ago
 * (RocksDB's TTL compaction), so expired data leaves the disk without a read;
 * undefined when no table holds an entry expired at `nowMs`, or every such
 * table is taken by a running compaction. Only when no level scores ≥ 1. A
 * table of L0 to the next-to-last level goes down as `expandCompaction` would
 * take it, never as a trivial move (the point is to rewrite it); one in the last
 * level is rewritten in place.
 */
export function pickExpiredCompaction(
  levels: readonly (readonly FileMeta[])[],
  nowMs: number,
  options: PickerOptions,
  running: CompactionsInProgress = NOTHING_IN_PROGRESS,
): Compaction | undefined {
  const candidates: FileMeta[] = [];
  for (const files of levels) {
    for (const file of files) {
      if (file.expiryMinMs !== undefined && file.expiryMinMs <= nowMs && !running.files.has(file.fileNumber)) candidates.push(file);
    }
  }
  candidates.sort((a, b) => a.expiryMinMs! - b.expiryMinMs! || a.fileNumber - b.fileNumber);
  const lastLevel = options.levelCountMax - 1;
  for (const file of candidates.slice(0, SEEDS_TRIED_MAX)) {
    const compaction =
      file.level < lastLevel
        ? { ...expandCompaction(levels, file.level, [file], options, 0), trivialMove: false }
        : { level: file.level, outputLevel: file.level, inputs: [[file], []] as [FileMeta[], FileMeta[]], grandparents: [], trivialMove: false, score: 0 };
    if (!conflicts(compaction, running)) return compaction;
  }
  return undefined;
}

/** The earliest expiry among the tables of `levels` that is still to come after `nowMs`; undefined when none. */
export function nextExpiryMs(levels: readonly (readonly FileMeta[])[], nowMs: number): number | undefined {
  let next: number | undefined;
  for (const files of levels) {
    for (const file of files) {
      const expiry = file.expiryMinMs;
      if (expiry !== undefined && expiry > nowMs && (next === undefined || expiry < next)) next = expiry;
    }
  }
  return next;
}
