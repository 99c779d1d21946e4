/**
 * The compaction picker against a text golden file, in the style of Pebble's
 * datadriven tests: `test/compaction/testdata/picker.golden` holds the cases, each
 * a command and the levels it starts from, then `----` and what the picker
 * decided (the level scores, the pick: level, inputs per level, grandparents,
 * trivial move or not). `REWRITE=1` regenerates every expectation (review the
 * diff before committing); otherwise a mismatch fails with a diff.
 *
 * Commands (options are `name=value`, defaults in `DEFAULT_OPTIONS`):
 *
 *     pick [options]                     levelScores() and pickCompaction()
 *     expand L<n> <file>... [options]    expandCompaction() of the named seed tables
 *     manual <start>..<end>|all <pieces> [options]
 *                                        manualCompaction() of the key range, and
 *                                        splitForSubcompactions() into <pieces>
 *
 * Input lines:
 *
 *     L<n>                               the tables that follow are in level n
 *       <file> <smallest>..<largest> <sizeBytes> [rd=<bytes>]
 *                                        rd: the table's range tombstones delete <bytes> below (compensated size)
 *     pointer L<n> <key>                 level n's compaction pointer: past every version of <key>
 *     running L<n> <smallest>..<largest> <file>...
 *                                        a compaction in progress: it holds <file>s and writes
 *                                        [smallest, largest] into level n
 *
 * Keys are ASCII user keys. A table's keys get sequence numbers from its file
 * number (a higher number is newer), so L0 is ordered as the engine orders it.
 * Each case's levels go through `Version`, and `checkInvariants()`, first.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { EntryType, encodeInternalKey } from '../../src/keys.js';
import {
  conflicts,
  expandCompaction,
  grandparentOverlapBytesMax,
  l0GoesFirst,
  levelScores,
  manualCompaction,
  nextExpiryMs,
  overlapping,
  pickCompaction,
  pickExpiredCompaction,
  splitForSubcompactions,
  totalBytes,
  type Compaction,
  type CompactionsInProgress,
  type PickerOptions,
} from '../../src/compaction/picker.js';
import { Version, userKeyOf } from '../../src/version/version.js';
import type { FileMeta } from '../../src/version/version-edit.js';

const GOLDEN = new URL('../../../test/compaction/testdata/picker.golden', import.meta.url);
const REWRITE = process.env['REWRITE'] === '1';

/** Small round numbers, so that scores and limits are easy to read off a case. */
const DEFAULT_OPTIONS: PickerOptions = {
  l0CompactionTrigger: 4,
  levelBaseBytes: 1000,
  levelSizeMultiplier: 10,
  levelCountMax: 4,
  targetFileSizeBytes: 100,
  l0SlowdownTrigger: 8,
};

/** One case of the golden file. */
interface Case {
  /** The comment lines above the command: the test's name. */
  title: string;
  command: string;
  input: string[];
  expected: string;
  /** The line of the command in the golden file (1-based), for messages. */
  line: number;
}

/** Splits the golden file into cases: comment lines, a command, input lines, `----`, output up to a blank line. */
function parseGolden(text: string): Case[] {
  const lines = text.split('\n');
  const cases: Case[] = [];
  let comments: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === '') {
      comments = [];
      continue;
    }
    if (line.startsWith('#')) {
      comments.push(line.replace(/^#\s?/, ''));
      continue;
    }
    const start = i;
    const input: string[] = [];
    for (i++; i < lines.length && lines[i] !== '----'; i++) input.push(lines[i]!);
    assert.ok(i < lines.length, `picker.golden:${start + 1}: case without '----'`);
    const output: string[] = [];
    for (i++; i < lines.length && lines[i]!.trim() !== ''; i++) output.push(lines[i]!);
    cases.push({ title: comments.join(' '), command: line, input, expected: output.join('\n'), line: start + 1 });
    comments = [];
  }
  return cases;
}

/** Writes the cases back with `outputs` in place of their expectations. */
function formatGolden(text: string, cases: Case[], outputs: Map<Case, string>): string {
  const lines = text.split('\n');
  const out: string[] = [];
  let i = 0;
  for (const c of cases) {
    while (i < c.line - 1) out.push(lines[i++]!);
    out.push(c.command, ...c.input, '----', outputs.get(c) ?? c.expected);
    i = c.line + c.input.length + 1;
    while (i < lines.length && lines[i]!.trim() !== '') i++;
  }
  while (i < lines.length) out.push(lines[i++]!);
  return out.join('\n');
}

function pad(fileNumber: number): string {
  return String(fileNumber).padStart(6, '0');
}

/** A table of `level` with user keys [smallest, largest]; its sequence numbers grow with its file number. */
function table(level: number, fileNumber: number, smallest: string, largest: string, sizeBytes: number): FileMeta {
  const smallestSeq = fileNumber * 100;
  const largestSeq = fileNumber * 100 + 1;
  return {
    level,
    fileNumber,
    sizeBytes,
    // The newer version first, so that a one-key table's smallest internal key sorts before its largest.
    smallest: encodeInternalKey(Buffer.from(smallest), largestSeq, EntryType.PUT),
    largest: encodeInternalKey(Buffer.from(largest), smallestSeq, EntryType.PUT),
    smallestSeq,
    largestSeq,
  };
}

interface Setup {
  levels: readonly (readonly FileMeta[])[];
  pointers: Map<number, Buffer>;
  options: PickerOptions;
  running: CompactionsInProgress;
  /** Command words that are not options (the `expand` seed). */
  words: string[];
}

function parseCase(c: Case): Setup {
  const [, ...args] = c.command.split(/\s+/);
  const options: PickerOptions = { ...DEFAULT_OPTIONS };
  const words: string[] = [];
  for (const arg of args) {
    const option = /^(\w+)=(\d+)$/.exec(arg);
    if (option === null) {
      words.push(arg);
      continue;
    }
    assert.ok(option[1]! in options, `picker.golden:${c.line}: unknown option ${option[1]}`);
    options[option[1] as keyof PickerOptions] = Number(option[2]);
  }
  const levels: FileMeta[][] = Array.from({ length: options.levelCountMax }, () => []);
  const pointers = new Map<number, Buffer>();
  const running = { files: new Set<number>(), outputs: [] as { level: number; smallest: Buffer; largest: Buffer }[] };
  let level = -1;
  for (const raw of c.input) {
    const line = raw.trim();
    const levelHeader = /^L(\d+)$/.exec(line);
    const file = /^(\d+) (\S+)\.\.(\S+) (\d+)(?: rd=(\d+))?$/.exec(line);
    const pointer = /^pointer L(\d+) (\S+)$/.exec(line);
    const inProgress = /^running L(\d+) (\S+)\.\.(\S+)((?: \d+)+)$/.exec(line);
    if (inProgress) {
      running.outputs.push({ level: Number(inProgress[1]), smallest: Buffer.from(inProgress[2]!), largest: Buffer.from(inProgress[3]!) });
      for (const file of inProgress[4]!.trim().split(' ')) running.files.add(Number(file));
    } else if (levelHeader) {
      level = Number(levelHeader[1]);
      assert.ok(level < options.levelCountMax, `picker.golden:${c.line}: L${level} past levelCountMax`);
    } else if (file) {
      assert.ok(level >= 0, `picker.golden:${c.line}: a table before any L<n> line`);
      const meta = table(level, Number(file[1]), file[2]!, file[3]!, Number(file[4]));
      if (file[5] !== undefined) meta.rangeDeletedBytes = Number(file[5]);
      levels[level]!.push(meta);
    } else if (pointer) {
      // Sequence 0 sorts after every version of the key: the pointer is past all of them.
      pointers.set(Number(pointer[1]), encodeInternalKey(Buffer.from(pointer[2]!), 0, EntryType.DELETE));
    } else {
      assert.fail(`picker.golden:${c.line}: cannot parse input line ${JSON.stringify(raw)}`);
    }
  }
  const version = new Version(levels, () => undefined);
  version.checkInvariants();
  return { levels: version.levels, pointers, options, running, words };
}

function describeScores(levels: readonly (readonly FileMeta[])[], options: PickerOptions): string {
  const scores = levelScores(levels, options).map((score, level) => `L${level} ${score.toFixed(2)}`);
  const last = options.levelCountMax - 1;
  return `scores: ${scores.join('  ')}  (L${last} is the last level: ${totalBytes(levels[last] ?? [])} bytes, never compacted)`;
}

function fileList(files: readonly FileMeta[]): string {
  if (files.length === 0) return 'none';
  const keys = (file: FileMeta): string => `${userKeyOf(file.smallest).toString()}..${userKeyOf(file.largest).toString()}`;
  return files.map((file) => `${pad(file.fileNumber)}[${keys(file)}]`).join(' ');
}

function describePick(compaction: Compaction | undefined, options: PickerOptions): string {
  if (compaction === undefined) return 'pick: none';
  const { level, outputLevel, inputs, grandparents } = compaction;
  const inputBytes = totalBytes(inputs[0]) + totalBytes(inputs[1]);
  const gpBytes = totalBytes(grandparents);
  return [
    `pick: L${level} -> L${outputLevel}, score ${compaction.score.toFixed(2)}`,
    `  inputs L${level}${outputLevel > level + 1 ? `-L${outputLevel - 1}` : ''}: ${fileList(inputs[0])}`,
    `  inputs L${outputLevel}: ${fileList(inputs[1])}`,
    `  input bytes: ${inputBytes}`,
    `  grandparents L${outputLevel + 1}: ${fileList(grandparents)} (${gpBytes} bytes, limit ${grandparentOverlapBytesMax(options)})`,
    `  trivial move: ${compaction.trivialMove ? 'yes' : 'no'}`,
  ].join('\n');
}

/** Runs one case and returns its output text. */
function run(c: Case): string {
  const setup = parseCase(c);
  const verb = c.command.split(/\s+/)[0];
  if (verb === 'pick') {
    assert.equal(setup.words.length, 0, `picker.golden:${c.line}: pick takes only options`);
    const compaction = pickCompaction(setup.levels, setup.pointers, setup.options, setup.running);
    return `${describeScores(setup.levels, setup.options)}\n${describePick(compaction, setup.options)}`;
  }
  if (verb === 'expand') {
    const [levelWord, ...seedWords] = setup.words;
    const level = Number(/^L(\d+)$/.exec(levelWord ?? '')?.[1] ?? NaN);
    assert.ok(Number.isInteger(level), `picker.golden:${c.line}: expand L<n> <file>...`);
    const wanted = new Set(seedWords.map(Number));
    const seed = (setup.levels[level] ?? []).filter((file) => wanted.has(file.fileNumber));
    assert.equal(seed.length, wanted.size, `picker.golden:${c.line}: a seed table is not in L${level}`);
    return describePick(expandCompaction(setup.levels, level, seed, setup.options, 0), setup.options);
  }
  if (verb === 'manual') {
    const { compaction, pieces } = manualCase(c, setup);
    if (compaction === undefined) return 'manual: nothing to do';
    const shares = splitForSubcompactions(compaction, pieces).map(
      (share) => `[${share.start?.toString() ?? '-inf'}, ${share.end?.toString() ?? '+inf'})`,
    );
    return `${describePick(compaction, setup.options)}\n  shares (${pieces} asked): ${shares.join(' ')}`;
  }
  return assert.fail(`picker.golden:${c.line}: unknown command ${verb}`);
}

function manualCase(c: Case, setup: Setup): { compaction: Compaction | undefined; pieces: number; start?: Buffer; end?: Buffer } {
  const [rangeWord, piecesWord] = setup.words;
  const range = /^(\S+)\.\.(\S+)$/.exec(rangeWord ?? '');
  assert.ok((range !== null || rangeWord === 'all') && /^\d+$/.test(piecesWord ?? ''), `picker.golden:${c.line}: manual <start>..<end>|all <pieces>`);
  const start = range ? Buffer.from(range[1]!) : undefined;
  const end = range ? Buffer.from(range[2]!) : undefined;
  const compaction = manualCompaction(setup.levels, start, end, setup.options);
  return { compaction, pieces: Number(piecesWord), ...(start ? { start } : {}), ...(end ? { end } : {}) };
}

/** Invariants every manual compaction must keep: it takes all it must, and its shares partition the keys. */
function checkManual(c: Case, setup: Setup): void {
  const { compaction, pieces, start, end } = manualCase(c, setup);
  if (compaction === undefined) return;
  const inputs = new Set([...compaction.inputs[0], ...compaction.inputs[1]].map((file) => file.fileNumber));
  for (let level = 0; level <= compaction.outputLevel; level++) {
    for (const file of overlapping(setup.levels[level] ?? [], start, end)) assert.ok(inputs.has(file.fileNumber), `table ${file.fileNumber} in the range is an input`);
  }
  // Closed under overlap: no table of a level at or above the output is left overlapping what the inputs cover.
  const taken = [...compaction.inputs[0], ...compaction.inputs[1]];
  for (let level = 0; level <= compaction.outputLevel; level++) {
    for (const file of setup.levels[level] ?? []) {
      if (inputs.has(file.fileNumber)) continue;
      assert.equal(overlapping(taken, userKeyOf(file.smallest), userKeyOf(file.largest)).length, 0, `table ${file.fileNumber} overlaps the inputs but is left`);
    }
  }
  for (const file of compaction.inputs[1]) assert.equal(file.level, compaction.outputLevel);
  for (const file of compaction.inputs[0]) assert.ok(file.level >= compaction.level && file.level < compaction.outputLevel);
  const shares = splitForSubcompactions(compaction, pieces);
  assert.ok(shares.length >= 1 && shares.length <= Math.max(1, pieces), 'at most the pieces asked for');
  assert.equal(shares[0]!.start, null);
  assert.equal(shares.at(-1)!.end, null);
  for (let i = 1; i < shares.length; i++) {
    assert.ok(shares[i]!.start !== null && shares[i]!.start!.equals(shares[i - 1]!.end!), 'shares meet end to start');
    if (i + 1 < shares.length) assert.ok(shares[i]!.start!.compare(shares[i]!.end!) < 0, 'shares are not empty');
  }
}

/** Invariants every pick must keep, whatever the golden says. */
function checkPick(c: Case): void {
  const setup = parseCase(c);
  if (c.command.startsWith('expand')) return;
  if (c.command.startsWith('manual')) return checkManual(c, setup);
  const compaction = pickCompaction(setup.levels, setup.pointers, setup.options, setup.running);
  const idle = setup.running.files.size === 0;
  const l0Urgent = l0GoesFirst(setup.levels, levelScores(setup.levels, setup.options), setup.options);
  if (compaction === undefined) {
    if (idle) for (const score of levelScores(setup.levels, setup.options)) assert.ok(score < 1, 'no pick while a level scores ≥ 1');
    return;
  }
  assert.ok(compaction.level < setup.options.levelCountMax - 1, 'the last level is never picked');
  assert.ok(compaction.score >= 1, 'only a level scoring ≥ 1 is picked');
  if (idle && !l0Urgent) assert.equal(compaction.score, Math.max(...levelScores(setup.levels, setup.options)), 'the highest score is picked');
  if (idle && l0Urgent) assert.equal(compaction.level, 0, 'L0 at its slowdown trigger goes first unless L1 is far over its target');
  assert.ok(!conflicts(compaction, setup.running), 'a pick never meets a running compaction');
  assert.ok(compaction.inputs[0].length > 0, 'a pick has source tables');
}

describe('compaction picker (testdata/picker.golden; REWRITE=1 regenerates)', () => {
  const text = readFileSync(GOLDEN, 'utf8');
  const cases = parseGolden(text);
  const outputs = new Map<Case, string>();

  it('the golden file holds the cases the picker is specified by', () => {
    assert.ok(cases.length >= 12, `only ${cases.length} cases in picker.golden`);
    for (const c of cases) assert.ok(c.title.length > 0, `picker.golden:${c.line}: a case needs a comment naming it`);
  });

  for (const c of cases) {
    it(`${c.title} (picker.golden:${c.line})`, () => {
      const output = run(c);
      outputs.set(c, output);
      checkPick(c);
      if (!REWRITE) assert.equal(output, c.expected, `picker.golden:${c.line} differs (REWRITE=1 regenerates; review the diff)`);
    });
  }

  after(() => {
    if (REWRITE) writeFileSync(GOLDEN, formatGolden(text, cases, outputs));
  });
});

describe('compaction picker: expired data (TTL)', () => {
  const expiring = (file: FileMeta, expiryMinMs: number): FileMeta => ({ ...file, expiryMinMs });

  it('picks the table whose earliest expiry passed longest ago, as a real merge one level down, never a trivial move', () => {
    const l1 = [table(1, 1, 'a', 'c', 100), expiring(table(1, 2, 'd', 'f', 100), 50), expiring(table(1, 3, 'g', 'i', 100), 40)];
    const l2 = [table(2, 4, 'h', 'k', 100)];
    const levels = [[], l1, l2, []];
    assert.equal(pickExpiredCompaction(levels, 39, DEFAULT_OPTIONS), undefined, 'nothing has expired at 39');
    const picked = pickExpiredCompaction(levels, 40, DEFAULT_OPTIONS)!;
    assert.deepEqual([picked.level, picked.outputLevel], [1, 2]);
    assert.deepEqual(picked.inputs.map((files) => files.map((file) => file.fileNumber)), [[3], [4]]);
    const alone = pickExpiredCompaction(levels, 60, DEFAULT_OPTIONS, { files: new Set([3]), outputs: [] })!;
    assert.deepEqual(alone.inputs.map((files) => files.map((file) => file.fileNumber)), [[2], []], 'a table taken by a running compaction is passed over');
    assert.equal(alone.trivialMove, false, 'the point is to rewrite it');
  });

  it('rewrites a table of the last level in place, and takes an L0 table with the L0 tables it overlaps', () => {
    const last = [expiring(table(3, 7, 'a', 'c', 100), 10)];
    const inPlace = pickExpiredCompaction([[], [], [], last], 10, DEFAULT_OPTIONS)!;
    assert.deepEqual([inPlace.level, inPlace.outputLevel, inPlace.trivialMove], [3, 3, false]);
    assert.deepEqual(inPlace.inputs.map((files) => files.map((file) => file.fileNumber)), [[7], []]);
    const l0 = [expiring(table(0, 8, 'a', 'd', 10), 5), table(0, 9, 'c', 'f', 10), table(0, 10, 'x', 'z', 10)];
    const fromL0 = pickExpiredCompaction([l0, [], [], []], 5, DEFAULT_OPTIONS)!;
    assert.deepEqual(fromL0.inputs[0].map((file) => file.fileNumber).sort(), [8, 9]);
  });

  it('nextExpiryMs is the earliest expiry still to come', () => {
    const levels = [[expiring(table(0, 1, 'a', 'b', 1), 30)], [expiring(table(1, 2, 'a', 'b', 1), 20), table(1, 3, 'c', 'd', 1)]];
    assert.equal(nextExpiryMs(levels, 0), 20);
    assert.equal(nextExpiryMs(levels, 20), 30);
    assert.equal(nextExpiryMs(levels, 30), undefined);
  });

  it('manualCompaction rewrites the output level alone only for a table the rewrite predicate names', () => {
    const levels = [[], [table(1, 1, 'a', 'c', 100), table(1, 2, 'd', 'f', 100)], [], []];
    assert.equal(manualCompaction(levels, undefined, undefined, DEFAULT_OPTIONS), undefined);
    const rewrite = manualCompaction(levels, undefined, undefined, DEFAULT_OPTIONS, (file) => file.fileNumber === 2)!;
    assert.deepEqual([rewrite.level, rewrite.outputLevel, rewrite.trivialMove], [1, 1, false]);
    assert.deepEqual(rewrite.inputs[1].map((file) => file.fileNumber), [1, 2]);
    const single = manualCompaction([[table(0, 5, 'a', 'b', 10)], [], [], []], undefined, undefined, DEFAULT_OPTIONS, () => true)!;
    assert.equal(single.trivialMove, false, 'a lone table to rewrite is merged, not moved');
  });
});

