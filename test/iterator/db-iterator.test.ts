import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DBIterator } from '../../src/iterator/db-iterator.js';
import type { KeyRange } from '../../src/iterator/key-range.js';
import { MergingIterator } from '../../src/iterator/merging-iterator.js';
import { EntryType, SEQUENCE_MAX } from '../../src/keys.js';
import { Rng } from '../../src/testing/rng.js';
import { testSeed } from '../helpers.js';
import { VectorIterator, del, put, type Entry } from './vector-iterator.js';

const KEYS = ['', 'a', 'a\x00', 'ab', 'b', 'ba', 'c', 'd', 'e', '\xff'];
/** Bounds and seek targets: the keys written and some never written, between and beyond them. */
const PROBE_KEYS = [...KEYS, 'aa', 'bb', 'cc', 'z', '\xff\xff'];
const BOUND_NAMES = ['gt', 'gte', 'lt', 'lte'] as const;

/** A DB iterator over `entries` spread across `sourceCount` merged sources. */
function dbIterator(entries: readonly Entry[], snapshotSeq: number, range: KeyRange, reverse: boolean, rng?: Rng, sourceCount = 1): DBIterator {
  const sources: Entry[][] = Array.from({ length: sourceCount }, () => []);
  entries.forEach((entry, i) => sources[rng === undefined ? i % sourceCount : rng.int(sourceCount)]!.push(entry));
  const inner = new MergingIterator(sources.map((source) => new VectorIterator(source)));
  return new DBIterator(inner, snapshotSeq, range, reverse);
}

/** Every key and value from the current position on, as strings. */
function drain(iterator: DBIterator): string[] {
  const seen: string[] = [];
  for (; iterator.valid(); iterator.advance()) seen.push(`${iterator.key().toString('latin1')}=${iterator.value().toString('latin1')}`);
  return seen;
}

function scan(entries: readonly Entry[], snapshotSeq: number, range: KeyRange = {}, reverse = false): string[] {
  const iterator = dbIterator(entries, snapshotSeq, range, reverse);
  iterator.seekToStart();
  return drain(iterator);
}

function inRange(key: Buffer, range: KeyRange): boolean {
  if (range.gt !== undefined && !(key.compare(range.gt) > 0)) return false;
  if (range.gte !== undefined && !(key.compare(range.gte) >= 0)) return false;
  if (range.lt !== undefined && !(key.compare(range.lt) < 0)) return false;
  if (range.lte !== undefined && !(key.compare(range.lte) <= 0)) return false;
  return true;
}

/** The model: for each key, its newest entry at or below the snapshot; live ones in range, in iteration order. */
function expectedView(history: readonly Entry[], snapshotSeq: number, range: KeyRange, reverse: boolean): Entry[] {
  const newest = new Map<string, Entry>();
  for (const entry of history) {
    const name = entry.userKey.toString('latin1');
    const known = newest.get(name);
    if (entry.seq <= snapshotSeq && (known === undefined || entry.seq > known.seq)) newest.set(name, entry);
  }
  const live = [...newest.values()].filter((entry) => entry.type === EntryType.PUT && inRange(entry.userKey, range));
  live.sort((a, b) => a.userKey.compare(b.userKey));
  return reverse ? live.reverse() : live;
}

function show(entries: readonly Entry[]): string[] {
  return entries.map((entry) => `${entry.userKey.toString('latin1')}=${entry.value.toString('latin1')}`);
}

function randomHistory(rng: Rng, length: number): Entry[] {
  const history: Entry[] = [];
  for (let seq = 1; seq <= length; seq++) {
    const key = rng.pick(KEYS);
    history.push(rng.bool(0.3) ? del(key, seq) : put(key, seq, `v${seq}`));
  }
  return history;
}

function randomRange(rng: Rng, combination: number): KeyRange {
  const range: KeyRange = {};
  BOUND_NAMES.forEach((name, bit) => {
    if ((combination & (1 << bit)) !== 0) range[name] = Buffer.from(rng.pick(PROBE_KEYS), 'latin1');
  });
  return range;
}

function describeCase(history: readonly Entry[], snapshotSeq: number, range: KeyRange, reverse: boolean): string {
  const bounds = BOUND_NAMES.filter((name) => range[name] !== undefined).map((name) => `${name}=${JSON.stringify(range[name]!.toString('latin1'))}`);
  return `${history.length} writes, snapshot ${snapshotSeq}, {${bounds.join(', ')}}${reverse ? ', reverse' : ''}`;
}

describe('DB iterator', () => {
  const history = [put('a', 1, 'a1'), put('b', 2, 'b2'), del('a', 3), put('c', 4, 'c4'), put('a', 5, 'a5'), del('c', 6), put('b', 7, 'b7')];

  it('shows the newest version of each key at the snapshot, forwards and backwards', () => {
    assert.deepEqual(scan(history, 7), ['a=a5', 'b=b7']);
    assert.deepEqual(scan(history, 7, {}, true), ['b=b7', 'a=a5']);
    assert.deepEqual(scan(history, 2), ['a=a1', 'b=b2']);
    assert.deepEqual(scan(history, 2, {}, true), ['b=b2', 'a=a1']);
  });

  it('hides a key whose newest visible version is a delete, and older versions with it', () => {
    assert.deepEqual(scan(history, 3), ['b=b2']);
    assert.deepEqual(scan(history, 3, {}, true), ['b=b2']);
    assert.deepEqual(scan(history, 6), ['a=a5', 'b=b2']);
    assert.deepEqual(scan(history, 6, {}, true), ['b=b2', 'a=a5']);
  });

  it('sees nothing at snapshot 0 and everything written up to the snapshot after it', () => {
    assert.deepEqual(scan(history, 0), []);
    assert.deepEqual(scan(history, 0, {}, true), []);
    assert.deepEqual(scan(history, 4), ['b=b2', 'c=c4']);
  });

  it('excludes exclusive bounds, includes inclusive ones, and takes the tighter of two on one side', () => {
    assert.deepEqual(scan(history, 7, { gt: Buffer.from('a') }), ['b=b7']);
    assert.deepEqual(scan(history, 7, { gte: Buffer.from('a'), lt: Buffer.from('b') }), ['a=a5']);
    assert.deepEqual(scan(history, 7, { lte: Buffer.from('b') }, true), ['b=b7', 'a=a5']);
    assert.deepEqual(scan(history, 7, { lt: Buffer.from('b') }, true), ['a=a5']);
    assert.deepEqual(scan(history, 7, { gt: Buffer.from('a'), gte: Buffer.from('a') }), ['b=b7']);
    assert.deepEqual(scan(history, 7, { lt: Buffer.from('b'), lte: Buffer.from('a') }, true), ['a=a5']);
    assert.deepEqual(scan(history, 7, { gt: Buffer.from('b'), lt: Buffer.from('a') }), []);
  });

  it('holds exclusive bounds against versions at sequence 0 and SEQUENCE_MAX', () => {
    const extremes = [put('a', 0, 'a0'), put('b', SEQUENCE_MAX, 'bmax'), put('c', 1, 'c1')];
    assert.deepEqual(scan(extremes, SEQUENCE_MAX, { gt: Buffer.from('a') }), ['b=bmax', 'c=c1']);
    assert.deepEqual(scan(extremes, SEQUENCE_MAX, { lt: Buffer.from('b') }, true), ['a=a0']);
    assert.deepEqual(scan(extremes, SEQUENCE_MAX, { lt: Buffer.from('c') }, true), ['b=bmax', 'a=a0']);
  });

  it('seeks to the first key at or after the target, or at or before it in reverse', () => {
    const forward = dbIterator(history, 7, {}, false);
    forward.seek(Buffer.from('a\x00'));
    assert.deepEqual(drain(forward), ['b=b7']);
    const reverse = dbIterator(history, 7, {}, true);
    reverse.seek(Buffer.from('a\x00'));
    assert.deepEqual(drain(reverse), ['a=a5']);
    reverse.seek(Buffer.from('b'));
    assert.deepEqual(drain(reverse), ['b=b7', 'a=a5']);
  });

  it('ends at once when seeking to a target outside the range', () => {
    const iterator = dbIterator(history, 7, { gt: Buffer.from('a'), lte: Buffer.from('b') }, false);
    for (const target of ['', 'a', 'b\x00', 'z']) {
      iterator.seek(Buffer.from(target));
      assert.equal(iterator.valid(), false, `seek(${JSON.stringify(target)})`);
    }
    iterator.seek(Buffer.from('a\x00'));
    assert.deepEqual(drain(iterator), ['b=b7']);
  });

  const COPY_BOTH = { keys: true, values: true };

  it('copies batches, stopping at the entry count or once the byte budget is spent', () => {
    const iterator = dbIterator([put('a', 1, 'xx'), put('b', 2, 'yy'), put('c', 3, 'zz')], 3, {}, false);
    iterator.seekToStart();
    const keyView = iterator.key();
    const out: [Buffer, Buffer][] = [];
    assert.equal(iterator.nextBatch(2, 1000, out, COPY_BOTH), 2);
    out[0]![0][0] = 0x7a;
    assert.equal(keyView.toString(), 'a', 'keys are copies');
    assert.equal(iterator.key().toString(), 'c');
    assert.equal(iterator.nextBatch(10, 1000, out, COPY_BOTH), 1);
    assert.equal(iterator.nextBatch(10, 1000, out, COPY_BOTH), 0);
    assert.deepEqual(
      out.map(([key, value]) => `${key.toString()}=${value.toString()}`),
      ['z=xx', 'b=yy', 'c=zz'],
    );
    iterator.seekToStart();
    assert.equal(iterator.nextBatch(10, 3, [], COPY_BOTH), 1, 'a batch past its byte budget ends after the entry that crossed it');
    assert.equal(iterator.nextBatch(10, 0, [], COPY_BOTH), 1, 'a batch always makes progress');
  });

  it('hands out views when told not to copy, and they stay unchanged as the iterator moves', () => {
    const iterator = dbIterator([put('a', 1, 'xx'), put('b', 2, 'yy')], 3, {}, false);
    iterator.seekToStart();
    const keyView = iterator.key();
    const valueView = iterator.value();
    const out: [Buffer, Buffer][] = [];
    assert.equal(iterator.nextBatch(1, 1000, out, { keys: false, values: true }), 1);
    assert.equal(out[0]![0], keyView, 'the key is the view');
    assert.notEqual(out[0]![1], valueView, 'the value is a copy');
    assert.equal(iterator.nextBatch(1, 1000, out, { keys: true, values: false }), 1);
    assert.equal(out[1]![1].toString(), 'yy');
    assert.equal(iterator.valid(), false);
    assert.deepEqual(out.map(([key, value]) => `${key.toString()}=${value.toString()}`), ['a=xx', 'b=yy']);
  });

  it('closes the inner iterator', () => {
    const source = new VectorIterator(history);
    const iterator = new DBIterator(source, 7, {}, false);
    iterator.seekToStart();
    iterator.close();
    assert.equal(iterator.valid(), false);
    assert.equal(source.closeCount, 1);
  });

  it('matches a model over random histories and snapshots, for every combination of bounds, both ways', () => {
    const rng = new Rng(testSeed('DB iterator model'));
    for (let round = 0; round < 12; round++) {
      const writes = randomHistory(rng, rng.range(0, 80));
      const sourceCount = rng.range(1, 4);
      for (let combination = 0; combination < 16; combination++) {
        for (const reverse of [false, true]) {
          const snapshotSeq = rng.int(writes.length + 2);
          const range = randomRange(rng, combination);
          checkAgainstModel(rng, writes, snapshotSeq, range, reverse, sourceCount);
        }
      }
    }
  });

  function checkAgainstModel(rng: Rng, writes: readonly Entry[], snapshotSeq: number, range: KeyRange, reverse: boolean, sourceCount: number): void {
    const context = describeCase(writes, snapshotSeq, range, reverse);
    const expected = expectedView(writes, snapshotSeq, range, reverse);
    const iterator = dbIterator(writes, snapshotSeq, range, reverse, rng, sourceCount);
    iterator.seekToStart();
    assert.deepEqual(drain(iterator), show(expected), `scan: ${context}`);

    iterator.seekToStart();
    const batched: [Buffer, Buffer][] = [];
    const copy = { keys: rng.bool(), values: rng.bool() };
    while (iterator.nextBatch(rng.range(1, 4), rng.range(0, 12), batched, copy) > 0);
    assert.deepEqual(
      batched.map(([key, value]) => `${key.toString('latin1')}=${value.toString('latin1')}`),
      show(expected),
      `batches: ${context}`,
    );

    for (let i = 0; i < 4; i++) {
      const target = Buffer.from(rng.pick(PROBE_KEYS), 'latin1');
      const fromTarget = inRange(target, range)
        ? expected.filter((entry) => (reverse ? entry.userKey.compare(target) <= 0 : entry.userKey.compare(target) >= 0))
        : [];
      iterator.seek(target);
      assert.deepEqual(drain(iterator), show(fromTarget), `seek(${JSON.stringify(target.toString('latin1'))}): ${context}`);
    }
  }
});
