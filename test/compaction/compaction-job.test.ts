/**
 * The compaction merge (`runCompactionJob`) run directly on input tables built
 * with `TableBuilder` on a `CrashableFS`: which versions and tombstones it drops
 * and keeps (snapshot stripes, deeper levels), where it cuts output tables
 * (target size, grandparent overlap, never inside a user key), and that a
 * failed job leaves no output behind.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CorruptionError } from '../../src/errors.js';
import { runCompactionJob, type CompactionJobResult, type CompactionJobSpec, type KeySpan } from '../../src/compaction/compaction-job.js';
import { userKeyOf } from '../../src/version/version.js';
import type { FileMeta } from '../../src/version/version-edit.js';
import { filePath, tableFileName } from '../../src/filenames.js';
import { EntryType, compareInternalKeys, encodeInternalKey } from '../../src/keys.js';
import { TableBuilder, type TableBuilderOptions } from '../../src/sstable/table-builder.js';
import { TableReader } from '../../src/sstable/table-reader.js';
import { CrashableFS, FaultFS, Rng } from '../../src/testing/index.js';
import { dataBlockHandles } from '../sstable/table-fixture.js';
import { testSeed } from '../helpers.js';
import { encodeExpiringValue } from '../../src/util/expiring-value.js';
import type { CompactionFilterFunction } from '../../src/compaction/compaction-filter.js';

const DIR = '/db';
const TABLE_OPTIONS: TableBuilderOptions = { blockSizeBytes: 256, compression: 'none', bloomBitsPerKey: 10, restartInterval: 4 };

/** One entry of an input or output table. */
interface Entry {
  key: string;
  seq: number;
  type: EntryType;
  value: string;
}

const put = (key: string, seq: number, value = `${key}@${seq}`): Entry => ({ key, seq, type: EntryType.PUT, value });
const del = (key: string, seq: number): Entry => ({ key, seq, type: EntryType.DELETE, value: '' });
/** An expiring put: its stored value is `expiresAtMs u64le ‖ value` (written by `writeInput` as latin1). */
const exp = (key: string, seq: number, expiresAtMs: number, value = `${key}@${seq}`): Entry => ({
  key,
  seq,
  type: EntryType.PUT_EXPIRING,
  value: encodeExpiringValue(expiresAtMs, Buffer.from(value)).toString('latin1'),
});

function internalKey(entry: Entry): Buffer {
  return encodeInternalKey(Buffer.from(entry.key), entry.seq, entry.type);
}

function sorted(entries: readonly Entry[]): Entry[] {
  return [...entries].sort((a, b) => compareInternalKeys(internalKey(a), internalKey(b)));
}

/** Writes table `fileNumber` holding `entries` (any order) into DIR, synced. */
async function writeInput(fs: CrashableFS, fileNumber: number, entries: readonly Entry[], options = TABLE_OPTIONS): Promise<string> {
  const path = filePath(DIR, tableFileName(fileNumber));
  await fs.mkdir(DIR);
  const file = await fs.create(path);
  const builder = new TableBuilder(file, options);
  for (const entry of sorted(entries)) builder.add(internalKey(entry), Buffer.from(entry.value, entry.type === EntryType.PUT_EXPIRING ? 'latin1' : 'utf8'));
  await builder.finish();
  await file.sync();
  await file.close();
  await fs.syncDir(DIR);
  return path;
}

/** Every entry of table `fileNumber`, in table order. */
async function readTable(fs: CrashableFS | FaultFS, fileNumber: number): Promise<Entry[]> {
  const path = filePath(DIR, tableFileName(fileNumber));
  const file = await fs.openRead(path);
  try {
    const iterator = TableReader.open(file, path, fileNumber).iterator();
    const entries: Entry[] = [];
    for (iterator.seekToFirst(); iterator.valid(); iterator.next()) {
      const type = iterator.type();
      entries.push({ key: iterator.userKey().toString(), seq: iterator.seq(), type, value: iterator.value().toString(type === EntryType.PUT_EXPIRING ? 'latin1' : 'utf8') });
    }
    iterator.close();
    return entries;
  } finally {
    await file.close();
  }
}

/** A job over `inputs`, each table a sorted run of its own unless grouped (`[[1], [2, 3]]`). */
function spec(inputs: number[] | number[][], overrides: Partial<CompactionJobSpec> = {}): CompactionJobSpec {
  return {
    dir: DIR,
    outputLevel: 1,
    inputs: inputs.map((run) => (typeof run === 'number' ? [run] : run)),
    snapshots: [],
    nowMs: 0,
    deeperSpans: [],
    grandparents: [],
    targetFileSizeBytes: 1024 * 1024,
    grandparentOverlapBytesMax: 10 * 1024 * 1024,
    tableOptions: TABLE_OPTIONS,
    verifyChecksums: true,
    yieldEveryEntries: 0,
    share: { start: null, end: null },
    ...overrides,
  };
}

/** File numbers for outputs, from `first` up; records what it handed out. */
function numbers(first = 100): { allocate: () => Promise<number>; allocated: number[] } {
  const allocated: number[] = [];
  let next = first;
  return {
    allocated,
    allocate: () => {
      allocated.push(next);
      return Promise.resolve(next++);
    },
  };
}

async function run(
  fs: CrashableFS,
  jobSpec: CompactionJobSpec,
  allocate = numbers().allocate,
): Promise<{ result: CompactionJobResult; outputs: Entry[][] }> {
  const result = await runCompactionJob(jobSpec, fs, allocate);
  const outputs: Entry[][] = [];
  for (const meta of result.outputs) outputs.push(await readTable(fs, meta.fileNumber));
  return { result, outputs };
}

function show(entries: readonly Entry[]): string[] {
  return entries.map((e) => `${e.key}@${e.seq}${e.type === EntryType.DELETE ? ':DEL' : e.type === EntryType.PUT_EXPIRING ? ':EXP' : ''}`);
}

function span(smallest: string, largest: string): KeySpan {
  return [Buffer.from(smallest), Buffer.from(largest)];
}

/** The user-key range of an output table's metadata. */
function userRange(meta: FileMeta): [string, string] {
  return [userKeyOf(meta.smallest).toString(), userKeyOf(meta.largest).toString()];
}

/** Checks outputs are in key order, do not overlap, and no user key lies in two of them. */
function checkDisjoint(outputs: readonly FileMeta[]): void {
  for (let i = 1; i < outputs.length; i++) {
    const [, previousLargest] = userRange(outputs[i - 1]!);
    const [smallest] = userRange(outputs[i]!);
    assert.ok(previousLargest < smallest, `outputs ${i - 1} and ${i} share or invert user keys: ${previousLargest} ≥ ${smallest}`);
  }
}

/**
 * Writes up to `tableCount` input tables (numbers 1 up) of `entries` random puts
 * and deletes over `keyCount` keys, sequences growing by `seqStep()`; a table
 * that drew no entry is not written. Returns the entries per table, the numbers
 * written and the last sequence.
 */
async function writeRandomInputs(
  fs: CrashableFS,
  rng: Rng,
  shape: { keyCount: number; tableCount: number; entries: number; seqStep: () => number; deleteChance: number },
): Promise<{ tables: Entry[][]; inputs: number[]; seq: number }> {
  const tables: Entry[][] = Array.from({ length: shape.tableCount }, () => []);
  let seq = 0;
  for (let i = shape.entries; i > 0; i--) {
    const key = `k${pad(rng.int(shape.keyCount), 2)}`;
    seq += shape.seqStep();
    tables[rng.int(shape.tableCount)]!.push(rng.bool(shape.deleteChance) ? del(key, seq) : put(key, seq));
  }
  const inputs: number[] = [];
  for (let t = 0; t < shape.tableCount; t++) {
    if (tables[t]!.length === 0) continue;
    await writeInput(fs, t + 1, tables[t]!);
    inputs.push(t + 1);
  }
  return { tables, inputs, seq };
}

function pad(i: number, width = 4): string {
  return String(i).padStart(width, '0');
}

describe('compaction job: which versions survive', () => {
  it('versions hidden by a newer version in the same snapshot stripe are dropped', async () => {
    const fs = new CrashableFS();
    await writeInput(fs, 1, [put('a', 1), put('a', 4), put('b', 2)]);
    await writeInput(fs, 2, [put('a', 6), put('b', 5), put('c', 3)]);
    const { result, outputs } = await run(fs, spec([1, 2]));
    assert.deepEqual(show(outputs.flat()), ['a@6', 'b@5', 'c@3']);
    assert.equal(result.entriesRead, 6);
    assert.equal(result.entriesWritten, 3);
    assert.equal(outputs.flat()[0]!.value, 'a@6', 'the newest value survives');
  });

  it('each live snapshot keeps the newest version it can see, and only that one', async () => {
    const fs = new CrashableFS();
    await writeInput(fs, 1, Array.from({ length: 10 }, (_, i) => put('k', i + 1)));
    // Stripes: seq ≤ 3 (every snapshot sees them), 4..7 (snapshot 7 and the latest read), 8..10 (the latest read).
    const { outputs } = await run(fs, spec([1], { snapshots: [3, 7] }));
    assert.deepEqual(show(outputs.flat()), ['k@10', 'k@7', 'k@3']);
  });

  it('a snapshot at the exact sequence of a version keeps that version', async () => {
    const fs = new CrashableFS();
    await writeInput(fs, 1, [put('k', 2), put('k', 5), put('k', 9)]);
    const { outputs } = await run(fs, spec([1], { snapshots: [2, 5, 9] }));
    assert.deepEqual(show(outputs.flat()), ['k@9', 'k@5', 'k@2']);
  });

  it('a tombstone every snapshot sees is dropped at the base level, with the versions it hides', async () => {
    const fs = new CrashableFS();
    await writeInput(fs, 1, [put('a', 1), put('k', 2), put('z', 3)]);
    await writeInput(fs, 2, [del('k', 5)]);
    const { outputs } = await run(fs, spec([1, 2]));
    assert.deepEqual(show(outputs.flat()), ['a@1', 'z@3']);
  });

  it('a tombstone is kept when a deeper level may hold its key, and the versions it hides are dropped', async () => {
    const fs = new CrashableFS();
    await writeInput(fs, 1, [put('a', 1), put('k', 2), put('z', 3)]);
    await writeInput(fs, 2, [del('k', 5)]);
    const { outputs } = await run(fs, spec([1, 2], { deeperSpans: [[span('b', 'c')], [span('j', 'l')]] }));
    assert.deepEqual(show(outputs.flat()), ['a@1', 'k@5:DEL', 'z@3']);
  });

  it('a tombstone is dropped when the deeper levels hold tables, but none whose range holds its key', async () => {
    const fs = new CrashableFS();
    await writeInput(fs, 1, [put('k', 2), del('k', 5), del('m', 6), del('x', 7)]);
    const { outputs } = await run(fs, spec([1], { deeperSpans: [[span('a', 'j'), span('l', 'l')], [span('n', 'w')]] }));
    assert.deepEqual(show(outputs.flat()), []);
  });

  it('a tombstone is kept while a snapshot older than it is live, and so is the version that snapshot sees', async () => {
    const fs = new CrashableFS();
    await writeInput(fs, 1, [put('k', 2), del('k', 5)]);
    const kept = await run(fs, spec([1], { snapshots: [3] }));
    assert.deepEqual(show(kept.outputs.flat()), ['k@5:DEL', 'k@2']);
    // A snapshot newer than the tombstone sees it too: it is obsolete again.
    const fs2 = new CrashableFS();
    await writeInput(fs2, 1, [put('k', 2), del('k', 5)]);
    const dropped = await run(fs2, spec([1], { snapshots: [6] }));
    assert.deepEqual(show(dropped.outputs.flat()), []);
  });

  it('an empty result writes no output table', async () => {
    const fs = new CrashableFS();
    await writeInput(fs, 1, [put('k', 1), del('k', 2)]);
    const { result } = await run(fs, spec([1]));
    assert.deepEqual(result.outputs, []);
    assert.deepEqual(fs.listAll(), [filePath(DIR, tableFileName(1))]);
  });

  it('what every snapshot reads is unchanged by the merge, and nothing invisible survives (randomized)', async () => {
    const seed = testSeed('compaction job visibility');
    const rng = new Rng(seed);
    for (let round = 0; round < 30; round++) {
      const fs = new CrashableFS();
      const keyCount = rng.range(1, 12);
      const { tables, inputs, seq } = await writeRandomInputs(fs, rng, {
        keyCount,
        tableCount: rng.range(1, 4),
        entries: rng.range(1, 80),
        seqStep: () => rng.range(1, 3),
        deleteChance: 0.3,
      });
      const snapshots = [...new Set(Array.from({ length: rng.int(4) }, () => rng.range(1, seq)))].sort((a, b) => a - b);
      const deeperSpans = rng.bool() ? [[span(`k${pad(rng.int(keyCount), 2)}`, `k${pad(rng.int(keyCount), 2)}z`)]] : [];
      const all = sorted(tables.flat());
      const { outputs } = await run(fs, spec(inputs, { snapshots, deeperSpans, targetFileSizeBytes: 1024 }));
      const out = outputs.flat();
      const context = `seed ${seed} round ${round}: snapshots ${snapshots.join(',')}, deeper ${deeperSpans.flat().map((s) => `${s[0]}..${s[1]}`)}`;
      // A reader at S sees the newest version with seq ≤ S; a tombstone or no version reads as absent.
      const read = (entries: Entry[], key: string, at: number): string | undefined => {
        const found = entries.find((e) => e.key === key && e.seq <= at);
        return found === undefined || found.type === EntryType.DELETE ? undefined : found.value;
      };
      const keys = [...new Set(all.map((e) => e.key))];
      for (const at of [...snapshots, Infinity]) {
        for (const key of keys) assert.equal(read(out, key, at), read(all, key, at), `${context}: ${key} at ${at}`);
      }
      // Minimal: one version per key per stripe at most, and no tombstone every reader sees unless a deeper span may hold its key.
      for (const key of keys) {
        const versions = out.filter((e) => e.key === key);
        const stripes = versions.map((e) => snapshots.findIndex((s) => s >= e.seq)).map((i) => (i < 0 ? snapshots.length : i));
        assert.equal(new Set(stripes).size, stripes.length, `${context}: two versions of ${key} in one stripe`);
        const oldest = versions.at(-1);
        const deeperMayHold = deeperSpans.flat().some(([low, high]) => low.toString() <= key && key <= high.toString());
        if (oldest?.type === EntryType.DELETE && stripes.at(-1) === 0) assert.ok(deeperMayHold, `${context}: obsolete tombstone of ${key} kept`);
      }
    }
  });
});

describe('compaction job: expiry and the compaction filter', () => {
  it('an expired entry becomes a DELETE at its sequence: kept above deeper data, dropped at the base with what it hides', async () => {
    const fs = new CrashableFS();
    await writeInput(fs, 1, [put('a', 1), put('k', 2), put('z', 3)]);
    await writeInput(fs, 2, [exp('a', 4, 100), exp('k', 5, 100), exp('z', 6, 101)]);
    const atBase = await run(fs, spec([1, 2], { nowMs: 100 }));
    assert.deepEqual(show(atBase.outputs.flat()), ['z@6:EXP'], 'expired at 100 itself; z expires at 101');
    const aboveDeeper = await run(fs, spec([1, 2], { nowMs: 100, deeperSpans: [[span('j', 'l')]] }), numbers(200).allocate);
    assert.deepEqual(show(aboveDeeper.outputs.flat()), ['k@5:DEL', 'z@6:EXP']);
    const notYet = await run(fs, spec([1, 2], { nowMs: 99 }), numbers(300).allocate);
    assert.deepEqual(show(notYet.outputs.flat()), ['a@4:EXP', 'k@5:EXP', 'z@6:EXP']);
    assert.deepEqual(notYet.outputs.flat()[2]!.value, exp('z', 6, 101).value, 'an entry kept keeps its stored value, expiry time included');
    assert.equal(notYet.result.outputs[0]!.expiryMinMs, 100, 'the output records its earliest expiry');
  });

  it('an expired entry a snapshot sees is rewritten as a DELETE too, and the older version that snapshot sees stays', async () => {
    const fs = new CrashableFS();
    await writeInput(fs, 1, [put('k', 2), exp('k', 5, 50), put('k', 8)]);
    const { outputs } = await run(fs, spec([1], { nowMs: 60, snapshots: [3, 6] }));
    assert.deepEqual(show(outputs.flat()), ['k@8', 'k@5:DEL', 'k@2']);
  });

  it('the filter sees the newest live value of a key no snapshot can see; remove is a DELETE at its sequence', async () => {
    const fs = new CrashableFS();
    await writeInput(fs, 1, [put('a', 1), put('a', 3), put('b', 2), del('c', 4), put('d', 5), exp('e', 6, 10), exp('f', 7, 1000), put('g', 9)]);
    const seen: string[] = [];
    const filter: CompactionFilterFunction = (key, value, context) => {
      seen.push(`${key.toString()}=${value.toString()}@${context.expiresAtMs ?? '-'}`);
      if (key.toString() === 'a' || key.toString() === 'f') return 'remove';
      if (key.toString() === 'b') return { value: Buffer.from('B') };
      return 'keep';
    };
    // Snapshot 8: g (seq 9) is the only entry above it. Then no snapshot.
    const withSnapshot = await runCompactionJob(spec([1], { nowMs: 20, snapshots: [8] }), fs, numbers().allocate, filter);
    assert.deepEqual(seen, ['g=g@9@-'], 'entries a live snapshot can see are not shown to the filter');
    assert.equal(withSnapshot.entriesWritten, 5, "a@3 b@2 d@5 f@7 g@9: c and the expired e are tombstones every snapshot sees");
    seen.length = 0;
    const result = await runCompactionJob(spec([1], { nowMs: 20, deeperSpans: [[span('a', 'a')]] }), fs, numbers(200).allocate, filter);
    assert.deepEqual(seen, ['a=a@3@-', 'b=b@2@-', 'd=d@5@-', 'f=f@7@1000', 'g=g@9@-'], 'no tombstone, no expired entry, one version per key');
    const outputs = await readTable(fs, result.outputs[0]!.fileNumber);
    assert.deepEqual(show(outputs), ['a@3:DEL', 'b@2', 'd@5', 'g@9'], 'a removed over deeper data stays a DELETE; f and the expired e go');
    assert.equal(outputs[1]!.value, 'B');
  });

  it('a value the filter replaces on an expiring entry keeps its expiry time', async () => {
    const fs = new CrashableFS();
    await writeInput(fs, 1, [exp('k', 1, 500, 'old')]);
    const result = await runCompactionJob(spec([1], { nowMs: 20 }), fs, numbers().allocate, () => ({ value: Buffer.from('new') }));
    const [entry] = await readTable(fs, result.outputs[0]!.fileNumber);
    assert.equal(entry!.type, EntryType.PUT_EXPIRING);
    assert.equal(entry!.value, exp('k', 1, 500, 'new').value);
  });
});

describe('compaction job: subcompaction shares', () => {
  it('the shares of a key range, merged apart, write exactly what the whole merge writes (randomized)', async () => {
    const seed = testSeed('compaction job shares');
    const rng = new Rng(seed);
    for (let round = 0; round < 20; round++) {
      const fs = new CrashableFS();
      const keyCount = rng.range(2, 40);
      const { inputs, seq } = await writeRandomInputs(fs, rng, { keyCount, tableCount: 3, entries: rng.range(1, 150), seqStep: () => 1, deleteChance: 0.2 });
      const snapshots = [...new Set(Array.from({ length: rng.int(3) }, () => rng.range(1, seq)))].sort((a, b) => a - b);
      const whole = (await run(fs, spec(inputs, { snapshots, targetFileSizeBytes: 1024 }))).outputs.flat();
      // Cut points: some at keys that exist, some between them (k05a), in order.
      const cuts = [...new Set(Array.from({ length: rng.range(1, 4) }, () => `k${pad(rng.int(keyCount), 2)}${rng.bool() ? 'a' : ''}`))].sort();
      const bounds = [null, ...cuts.map((cut) => Buffer.from(cut)), null];
      const pieces: Entry[] = [];
      const { allocate } = numbers(1000); // past the whole merge's outputs
      for (let i = 0; i + 1 < bounds.length; i++) {
        const share = { start: bounds[i] ?? null, end: bounds[i + 1] ?? null };
        const { result, outputs } = await run(fs, spec(inputs, { snapshots, targetFileSizeBytes: 1024, share }), allocate);
        for (const entry of outputs.flat()) {
          assert.ok(share.start === null || entry.key >= share.start.toString(), `seed ${seed} round ${round}: ${entry.key} before its share`);
          assert.ok(share.end === null || entry.key < share.end.toString(), `seed ${seed} round ${round}: ${entry.key} past its share`);
        }
        checkDisjoint(result.outputs);
        pieces.push(...outputs.flat());
      }
      assert.deepEqual(show(pieces), show(whole), `seed ${seed} round ${round}: cuts ${cuts.join(',')}`);
    }
  });
});

describe('compaction job: sorted runs', () => {
  it("a level's tables read as one run merge exactly as they do one run each, from any share start", async () => {
    const seed = testSeed('compaction job sorted runs');
    const rng = new Rng(seed);
    for (let round = 0; round < 20; round++) {
      const fs = new CrashableFS();
      // An L0-like table over all keys, and a level of disjoint tables (some empty ranges between them).
      const keyCount = rng.range(4, 60);
      let seq = 1000;
      const l0: Entry[] = [];
      for (let i = rng.range(1, 40); i > 0; i--) l0.push(rng.bool(0.2) ? del(`k${pad(rng.int(keyCount), 2)}`, ++seq) : put(`k${pad(rng.int(keyCount), 2)}`, ++seq));
      const cuts = [...new Set(Array.from({ length: rng.range(1, 5) }, () => rng.range(1, keyCount - 1)))].sort((a, b) => a - b);
      const bounds = [0, ...cuts, keyCount];
      const level: number[] = [];
      for (let t = 0; t + 1 < bounds.length; t++) {
        const entries: Entry[] = [];
        for (let k = bounds[t]!; k < bounds[t + 1]!; k++) if (rng.bool(0.7)) entries.push(put(`k${pad(k, 2)}`, rng.range(1, 999)));
        if (entries.length === 0) continue;
        await writeInput(fs, 10 + t, entries);
        level.push(10 + t);
      }
      await writeInput(fs, 1, l0.length > 0 ? l0 : [put('k00', ++seq)]);
      const start = rng.bool() ? null : Buffer.from(`k${pad(rng.int(keyCount), 2)}${rng.bool() ? 'a' : ''}`);
      const share = { start, end: null };
      const apart = (await run(fs, spec([1, ...level], { share }))).outputs.flat();
      const together = (await run(fs, spec([[1], level], { share }), numbers(1000).allocate)).outputs.flat();
      const context = `seed ${seed} round ${round}: level ${level.join(',')}, start ${start?.toString() ?? 'none'}`;
      assert.deepEqual(show(together), show(apart), context);
      for (const entry of together) assert.ok(start === null || entry.key >= start.toString(), `${context}: ${entry.key} before the start`);
    }
  });
});

describe('compaction job: where outputs are cut', () => {
  it('outputs are cut near targetFileSizeBytes and never split one user key across two outputs', async () => {
    const fs = new CrashableFS();
    const targetFileSizeBytes = 4096;
    const entries: Entry[] = [];
    let seq = 0;
    for (let i = 0; i < 200; i++) {
      // Every tenth key has 12 versions, all kept by snapshots: more than a target's worth of bytes for one key.
      const versions = i % 10 === 0 ? 12 : 1;
      for (let v = 0; v < versions; v++) entries.push(put(`key${pad(i)}`, ++seq, `v${seq}-`.padEnd(400, 'x')));
    }
    await writeInput(fs, 1, entries.filter((_, i) => i % 2 === 0));
    await writeInput(fs, 2, entries.filter((_, i) => i % 2 === 1));
    const snapshots = Array.from({ length: seq }, (_, i) => i + 1);
    const { result, outputs } = await run(fs, spec([1, 2], { snapshots, targetFileSizeBytes }));
    assert.equal(outputs.flat().length, entries.length, 'snapshots at every sequence keep every version');
    assert.ok(result.outputs.length >= 10, `many outputs: ${result.outputs.length}`);
    checkDisjoint(result.outputs);
    const keyGroupBytesMax = 12 * 430;
    for (const [index, meta] of result.outputs.entries()) {
      const last = index === result.outputs.length - 1;
      // Cut only once the data reached the target, at the next user key: at most one key's versions (and the metadata blocks) past it.
      if (!last) assert.ok(meta.sizeBytes >= targetFileSizeBytes, `output ${index} cut early: ${meta.sizeBytes} bytes`);
      assert.ok(meta.sizeBytes <= targetFileSizeBytes + keyGroupBytesMax + 2048, `output ${index} too big: ${meta.sizeBytes} bytes`);
    }
    const bigKeyOutputs = outputs.map((table) => table.filter((e) => e.key === 'key0100').length).filter((count) => count > 0);
    assert.deepEqual(bigKeyOutputs, [12], 'the 12 versions of key0100 (about 5 KiB, more than a target) lie in one output');
    for (const [index, table] of outputs.entries()) assert.deepEqual(userRange(result.outputs[index]!), [table[0]!.key, table.at(-1)!.key]);
  });

  it('outputs are cut early by grandparent overlap', async () => {
    const fs = new CrashableFS();
    await writeInput(fs, 1, Array.from({ length: 100 }, (_, i) => put(`k${pad(i, 3)}`, i + 1)));
    // Ten grandparents of 1000 bytes, each over 6 of every 10 keys; at most 2500 bytes of overlap per output.
    const grandparents = Array.from({ length: 10 }, (_, g) => ({ span: span(`k${pad(10 * g, 3)}`, `k${pad(10 * g + 5, 3)}`), sizeBytes: 1000 }));
    const grandparentOverlapBytesMax = 2500;
    const alone = await runCompactionJob(spec([1]), fs, numbers().allocate);
    assert.equal(alone.outputs.length, 1, 'without grandparents the inputs fit one output');
    for (const meta of alone.outputs) await fs.remove(filePath(DIR, tableFileName(meta.fileNumber)));
    const { result, outputs } = await run(fs, spec([1], { grandparents, grandparentOverlapBytesMax }));
    assert.ok(result.outputs.length >= 3, `cut by grandparent overlap into ${result.outputs.length} outputs`);
    assert.equal(outputs.flat().length, 100);
    checkDisjoint(result.outputs);
    for (const [index, meta] of result.outputs.entries()) {
      const [smallest, largest] = userRange(meta);
      const overlapBytes = grandparents
        .filter(({ span: [low, high] }) => low.toString() <= largest && high.toString() >= smallest)
        .reduce((sum, grandparent) => sum + grandparent.sizeBytes, 0);
      // The limit, plus the grandparent straddling each end of the output.
      assert.ok(overlapBytes <= grandparentOverlapBytesMax + 2 * 1000, `output ${index} (${smallest}..${largest}) overlaps ${overlapBytes} grandparent bytes`);
    }
  });
});

describe('compaction job: failures', () => {
  it('a corrupt input block makes the job fail with CorruptionError and leaves no output files behind', async () => {
    const fs = new CrashableFS();
    const entries = Array.from({ length: 400 }, (_, i) => put(`key${pad(i)}`, i + 1, `value-${i}-`.repeat(4)));
    await writeInput(fs, 1, entries.filter((_, i) => i % 2 === 0));
    const damaged = await writeInput(fs, 2, entries.filter((_, i) => i % 2 === 1));
    const handle = await fs.openRead(damaged);
    const blocks = dataBlockHandles(TableReader.open(handle, damaged, 2));
    await handle.close();
    assert.ok(blocks.length >= 20, `many data blocks: ${blocks.length}`);
    // A block two thirds of the way in: several outputs are finished before the merge reaches it.
    const block = blocks[Math.floor((blocks.length * 2) / 3)]!;
    fs.flipBit(damaged, block.offset + 5, 3);
    const before = fs.listAll();
    const { allocate, allocated } = numbers();
    await assert.rejects(runCompactionJob(spec([1, 2], { targetFileSizeBytes: 2048 }), fs, allocate), (err: unknown) => {
      assert.ok(err instanceof CorruptionError, `expected a CorruptionError, got ${String(err)}`);
      assert.equal(err.code, 'CORRUPTION');
      assert.equal(err.file, damaged);
      assert.equal(err.offset, block.offset);
      return true;
    });
    assert.ok(allocated.length >= 3, `outputs were started before the damage was met: ${allocated.join(', ')}`);
    assert.deepEqual(fs.listAll(), before, 'every output, finished or not, is removed');
  });

  it('a failed output write (ENOSPC) fails the job and leaves no output files behind', async () => {
    const base = new CrashableFS();
    await writeInput(base, 1, Array.from({ length: 400 }, (_, i) => put(`key${pad(i)}`, i + 1, `value-${i}-`.repeat(4))));
    const fs = new FaultFS(base);
    // The third output's first write fails: two finished outputs exist by then.
    fs.addRule({ op: 'create', path: /\.sst$/, nth: 3, error: 'ENOSPC' });
    const before = base.listAll();
    await assert.rejects(runCompactionJob(spec([1], { targetFileSizeBytes: 2048 }), fs, numbers().allocate), (err: unknown) => {
      assert.ok(err instanceof Error && 'code' in err && err.code === 'IO_ERROR', `expected IO_ERROR, got ${String(err)}`);
      return true;
    });
    assert.deepEqual(base.listAll(), before);
  });
});
