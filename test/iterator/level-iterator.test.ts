import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LevelIterator } from '../../src/iterator/level-iterator.js';
import { Rng } from '../../src/testing/rng.js';
import { testSeed } from '../helpers.js';
import { assertAt, randomWalk } from './iterator-model.js';
import { VectorIterator, compareEntries, del, put, type Entry } from './vector-iterator.js';

/** A vector-backed stand-in for a table's metadata. */
interface FakeFile {
  readonly entries: readonly Entry[];
  readonly largestUserKey: Buffer;
}

/** A level over `files` that records every table iterator it opens. */
function openLevel(files: readonly (readonly Entry[])[]): { level: LevelIterator<FakeFile>; opened: VectorIterator[] } {
  const opened: VectorIterator[] = [];
  const fakeFiles = files.map((entries): FakeFile => {
    const sorted = [...entries].sort(compareEntries);
    return { entries: sorted, largestUserKey: sorted.at(-1)!.userKey };
  });
  const level = new LevelIterator(
    fakeFiles,
    (file) => {
      const table = new VectorIterator(file.entries);
      opened.push(table);
      return table;
    },
    (file) => file.largestUserKey,
  );
  return { level, opened };
}

/** Asserts that at most one table iterator is open and none was closed twice. */
function assertOneOpenAtMost(opened: readonly VectorIterator[]): void {
  assert(opened.every((table) => table.closeCount <= 1), 'a table iterator was closed twice');
  assert(opened.filter((table) => table.closeCount === 0).length <= 1, 'more than one table iterator open');
}

/** Random files: distinct user keys in order, each with all its versions in one file. */
function randomFiles(rng: Rng): Entry[][] {
  const files: Entry[][] = [];
  let seq = 1;
  let file: Entry[] = [];
  for (let key = 0; key < 40; key++) {
    if (!rng.bool(0.6)) continue;
    const name = `k${String(key).padStart(2, '0')}`;
    for (let version = rng.range(1, 3); version > 0; version--) file.push(rng.bool(0.25) ? del(name, seq++) : put(name, seq++));
    if (rng.bool(0.3)) {
      files.push(file);
      file = [];
    }
  }
  if (file.length > 0) files.push(file);
  return files;
}

const SEEK_KEYS = ['', 'k', 'k00', 'k05', 'k05\x00', 'k17', 'k2', 'k23', 'k39', 'k4', 'z'].map((key) => Buffer.from(key));

describe('level iterator', () => {
  it('is never valid over an empty level', () => {
    const { level } = openLevel([]);
    for (const move of [() => level.seekToFirst(), () => level.seekToLast(), () => level.seek(Buffer.from('a'), 9), () => level.seekForPrev(Buffer.from('a'), 9)]) {
      move();
      assert.equal(level.valid(), false);
    }
  });

  it('opens no table until positioned, and closes each table it leaves once', () => {
    const files = [[put('a', 1)], [put('b', 2), put('c', 3)], [put('d', 4)]];
    const { level, opened } = openLevel(files);
    assert.equal(opened.length, 0);
    level.seek(Buffer.from('c'), 9);
    assert.equal(opened.length, 1, 'a seek opens only the table that can hold the key');
    level.seekForPrev(Buffer.from('b'), 0);
    assert.equal(opened.length, 1, 'a seek within the open table keeps it');
    level.next();
    assert.equal(level.userKey().toString(), 'c');
    level.next();
    assert.equal(level.userKey().toString(), 'd');
    level.next();
    assert.equal(level.valid(), false);
    assert.deepEqual(
      opened.map((table) => table.closeCount),
      [1, 1],
    );
    level.close();
    level.close();
    assertOneOpenAtMost(opened);
  });

  it("moves on to the neighbouring table when a seek falls past the end of a table's entries", () => {
    const files = [[put('a', 5), put('b', 9)], [put('c', 3), put('d', 2)]];
    const model = files.flat().sort(compareEntries);
    const { level, opened } = openLevel(files);
    level.seek(Buffer.from('b'), 4);
    assertAt(level, model, 2, 'seek(b, 4): every version of b is newer, so c@3 follows');
    level.seekForPrev(Buffer.from('c'), 5);
    assertAt(level, model, 1, 'seekForPrev(c, 5): c@3 is after (c, 5), so b@9 precedes');
    level.seekForPrev(Buffer.from('a'), 6);
    assert.equal(level.valid(), false, 'seekForPrev(a, 6): a@5 is after (a, 6) and nothing precedes it');
    level.seek(Buffer.from('e'), 0);
    assert.equal(level.valid(), false);
    assertOneOpenAtMost(opened);
  });

  it('refuses tables whose largest keys are out of order', () => {
    assert.throws(() => openLevel([[put('b', 1)], [put('a', 2)]]), assert.AssertionError);
    assert.throws(() => openLevel([[put('a', 1)], [put('a', 2)]]), assert.AssertionError);
  });

  it('matches the concatenated tables under random seeks and steps, one table open at a time', () => {
    const rng = new Rng(testSeed('level iterator model'));
    for (let round = 0; round < 20; round++) {
      const files = randomFiles(rng);
      const { level, opened } = openLevel(files);
      const model = files.flat().sort(compareEntries);
      randomWalk(level, model, rng, { steps: 200, keys: SEEK_KEYS, seqMax: model.length + 1, afterEach: () => assertOneOpenAtMost(opened) });
      level.close();
      assert(opened.every((table) => table.closeCount === 1), 'close() left a table iterator open');
    }
  });
});
