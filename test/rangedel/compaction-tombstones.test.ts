/**
 * What compaction does with range tombstones (src/rangedel/compaction-tombstones.ts):
 * which versions they delete per snapshot stripe, which tombstones the outputs
 * keep, and how the kept ones are cut between output tables.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CompactionTombstones, clipFragments, type InclusiveSpan } from '../../src/rangedel/compaction-tombstones.js';
import { fragmentTombstones, type Fragment } from '../../src/rangedel/fragments.js';

const b = (text: string): Buffer => Buffer.from(text, 'latin1');

/** Stripe of a sequence with live snapshots `snapshots` (ascending): the index of the first snapshot ≥ it. */
const stripes = (snapshots: number[]) => (seq: number): number => {
  const index = snapshots.findIndex((snapshot) => snapshot >= seq);
  return index < 0 ? snapshots.length : index;
};

const show = (fragments: readonly Fragment[]): string[] => fragments.map((f) => `${f.start.toString()}..${f.end.toString()}@${f.seqs.join(',')}`);

describe('compaction tombstones', () => {
  it('a version under a tombstone goes only when no snapshot lies between them', () => {
    const fragments = fragmentTombstones([{ start: b('b'), end: b('f'), seq: 20 }]);
    // Snapshot 10: versions at or below 10 stay visible to it; those in (10, 20) do not.
    const tombstones = new CompactionTombstones(fragments, stripes([10]), []);
    assert.equal(tombstones.deletes(b('a'), 1, 5), false, 'outside the range');
    assert.equal(tombstones.deletes(b('c'), 1, 5), false, 'the snapshot at 10 sees it');
    assert.equal(tombstones.deletes(b('c'), 1, 15), true, 'no snapshot between 15 and 20');
    assert.equal(tombstones.deletes(b('d'), 1, 25), false, 'newer than the tombstone');
    assert.equal(tombstones.deletes(b('f'), 1, 5), false, 'the end is exclusive');
  });

  it('keeps the newest tombstone of each stripe, and drops one every reader sees when nothing deeper overlaps it', () => {
    const fragments = fragmentTombstones([
      { start: b('a'), end: b('c'), seq: 5 },
      { start: b('a'), end: b('c'), seq: 7 },
      { start: b('a'), end: b('c'), seq: 30 },
      { start: b('m'), end: b('p'), seq: 8 },
    ]);
    const deeper: InclusiveSpan[][] = [[[b('n'), b('z')]]];
    const tombstones = new CompactionTombstones(fragments, stripes([10]), deeper);
    // [a,c): 7 (stripe 0, newest of 5 and 7) is seen by every reader and nothing below overlaps: it goes; 30 stays.
    // [m,p): 8 is in stripe 0 but a deeper table overlaps it: it stays.
    assert.deepEqual(show(tombstones.takeUntil(null)), ['a..c@30', 'm..p@8']);
  });

  it('cuts the kept fragments at the output boundaries, every piece going to exactly one output', () => {
    const fragments = fragmentTombstones([
      { start: b('a'), end: b('h'), seq: 9 },
      { start: b('k'), end: b('m'), seq: 9 },
    ]);
    const tombstones = new CompactionTombstones(fragments, stripes([1]), [[[b('a'), b('z')]]]);
    assert.deepEqual(show(tombstones.takeUntil(b('c'))), ['a..c@9']);
    assert.deepEqual(show(tombstones.takeUntil(b('e'))), ['c..e@9']);
    assert.deepEqual(show(tombstones.takeUntil(b('l'))), ['e..h@9', 'k..l@9']);
    assert.deepEqual(show(tombstones.takeUntil(null)), ['l..m@9']);
    assert.deepEqual(show(tombstones.takeUntil(null)), []);
  });

  it('clips fragments to a subcompaction share', () => {
    const fragments = fragmentTombstones([{ start: b('a'), end: b('z'), seq: 3 }]);
    assert.deepEqual(show(clipFragments(fragments, b('c'), b('f'))), ['c..f@3']);
    assert.deepEqual(show(clipFragments(fragments, null, b('c'))), ['a..c@3']);
    assert.deepEqual(show(clipFragments(fragments, b('z'), null)), []);
  });
});
