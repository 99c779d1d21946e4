/**
 * Range tombstone fragmentation against a brute-force model: for random
 * tombstones over a small key space, every probe key (on boundaries, between
 * them, outside all) at every snapshot gets the covering sequence the raw
 * tombstones give. Seeded (printed; SEED= replays).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FragmentedTombstones, fragmentTombstones, tombstonesOf, type RangeTombstone } from '../../src/rangedel/fragments.js';
import { Rng } from '../../src/testing/index.js';
import { testSeed } from '../helpers.js';

const key = (text: string): Buffer => Buffer.from(text);
const tombstone = (start: string, end: string, seq: number): RangeTombstone => ({ start: key(start), end: key(end), seq });

/** The newest tombstone at or below `snapshot` covering `probe`, straight from the raw list. */
function bruteCoveringSeq(tombstones: readonly RangeTombstone[], probe: Buffer, snapshot: number): number {
  let best = 0;
  for (const t of tombstones) if (t.start.compare(probe) <= 0 && probe.compare(t.end) < 0 && t.seq <= snapshot && t.seq > best) best = t.seq;
  return best;
}

function show(set: FragmentedTombstones): string[] {
  return set.fragments.map((f) => `[${f.start.toString()},${f.end.toString()})@${f.seqs.join(',')}`);
}

describe('range tombstone fragments', () => {
  it('cuts overlapping tombstones at every boundary, each piece naming every tombstone over it', () => {
    const set = FragmentedTombstones.of([tombstone('a', 'e', 5), tombstone('c', 'g', 9), tombstone('c', 'd', 7), tombstone('x', 'z', 2)]);
    assert.deepEqual(show(set), ['[a,c)@5', '[c,d)@9,7,5', '[d,e)@9,5', '[e,g)@9', '[x,z)@2']);
    assert.equal(set.coveringSeq(key('c'), 100), 9);
    assert.equal(set.coveringSeq(key('c'), 8), 7);
    assert.equal(set.coveringSeq(key('c'), 6), 5);
    assert.equal(set.coveringSeq(key('c'), 4), 0, 'a snapshot older than every tombstone sees none');
    assert.equal(set.coveringSeq(key('g'), 100), 0, 'the end is exclusive');
    assert.equal(set.coveringSeq(key('w'), 100), 0, 'a gap between pieces');
    assert.equal(set.coveringSeq(key('a'), 100), 5, 'the start is inclusive');
  });

  it('drops empty tombstones and repeated sequences', () => {
    assert.deepEqual(fragmentTombstones([tombstone('b', 'b', 3), tombstone('c', 'a', 4)]), []);
    assert.ok(FragmentedTombstones.of([]).isEmpty);
    assert.deepEqual(show(FragmentedTombstones.of([tombstone('a', 'c', 3), tombstone('a', 'c', 3)])), ['[a,c)@3']);
  });

  it('looks up a key inside a larger buffer by its range', () => {
    const set = FragmentedTombstones.of([tombstone('bb', 'bd', 4)]);
    const buffer = key('xxbcxx');
    assert.equal(set.coveringSeq(buffer, 10, 2, 4), 4);
    assert.equal(set.coveringSeq(buffer, 10, 0, 2), 0);
  });

  it('agrees with the raw tombstones on every key and snapshot, and survives re-fragmenting (randomized)', () => {
    const seed = testSeed('range tombstone fragments');
    const rng = new Rng(seed);
    const alphabet = 'abcdefgh';
    const randomKey = (): string => Array.from({ length: rng.range(1, 3) }, () => alphabet[rng.int(alphabet.length)]).join('');
    for (let round = 0; round < 300; round++) {
      const tombstones = Array.from({ length: rng.range(0, 12) }, () => tombstone(randomKey(), randomKey(), rng.range(1, 40)));
      const set = FragmentedTombstones.of(tombstones);
      const context = `seed ${seed} round ${round}: ${tombstones.map((t) => `[${t.start},${t.end})@${t.seq}`).join(' ')}`;
      for (let i = 0; i < set.fragments.length; i++) {
        const f = set.fragments[i]!;
        assert.ok(f.start.compare(f.end) < 0, `${context}: empty piece`);
        assert.ok(i === 0 || set.fragments[i - 1]!.end.compare(f.start) <= 0, `${context}: pieces overlap or are out of order`);
        assert.ok(f.seqs.length > 0 && f.seqs.every((s, j) => j === 0 || f.seqs[j - 1]! > s), `${context}: seqs not strictly descending`);
      }
      const again = FragmentedTombstones.of(tombstonesOf(set.fragments));
      const probes = [...tombstones.flatMap((t) => [t.start, t.end]), ...Array.from({ length: 20 }, () => key(randomKey()))];
      for (const probe of probes) {
        for (const snapshot of [0, 1, rng.range(1, 40), 20, 40, Number.MAX_SAFE_INTEGER]) {
          const expected = bruteCoveringSeq(tombstones, probe, snapshot);
          assert.equal(set.coveringSeq(probe, snapshot), expected, `${context}: ${probe.toString()} at ${snapshot}`);
          assert.equal(again.coveringSeq(probe, snapshot), expected, `${context}: re-fragmented, ${probe.toString()} at ${snapshot}`);
        }
      }
    }
  });
});
