/**
 * The commit history with range deletes: a RANGE_DELETE op is recorded as the
 * range [start, end) it deletes, and checks find it from the keys a transaction
 * wrote or read and from the ranges it iterated or deleted; newer ranges paint
 * over older ones, eviction drops what is left of a range, and the byte bound
 * counts ranges. A seeded run checks every answer against a brute-force scan of
 * what was recorded.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CommitHistory, HISTORY_ENTRY_OVERHEAD_BYTES, HISTORY_RANGE_OVERHEAD_BYTES, type ReadRange } from '../../src/db/commit-history.js';
import { EntryType } from '../../src/keys.js';
import { Rng } from '../../src/testing/index.js';
import type { WriteOp } from '../../src/wal/write-group.js';
import { testSeed } from '../helpers.js';

const put = (key: string): WriteOp => ({ type: EntryType.PUT, key: Buffer.from(key), value: Buffer.from('v') });
const del = (start: string, end: string): WriteOp => ({ type: EntryType.RANGE_DELETE, key: Buffer.from(start), value: Buffer.from(end) });
const keys = (...names: string[]): Buffer[] => names.map((name) => Buffer.from(name));
const bound = (key: string, inclusive: boolean) => ({ key: Buffer.from(key), inclusive });
const range = (lower: ReturnType<typeof bound> | undefined, upper: ReturnType<typeof bound> | undefined): ReadRange => ({ lower, upper });

/** The conflict's kind, key and sequence number, as text. */
function describe_(conflict: ReturnType<CommitHistory['check']>): string | undefined {
  if (conflict === undefined) return undefined;
  if (conflict.kind === 'history') return `history ${conflict.floor}`;
  if (conflict.kind === 'key') return `key ${conflict.key.toString()}@${conflict.seq}`;
  return `range ${conflict.key.toString()} in [${conflict.start.toString()},${conflict.end.toString()})@${conflict.seq}`;
}

describe('commit history: range deletes', () => {
  it('a key inside a range deleted after the snapshot conflicts; the end is exclusive, the start inclusive', () => {
    const history = new CommitHistory(1 << 20, 0);
    history.begin(0);
    history.startGroup();
    history.record(1, [del('c', 'f')]);
    const check = (...names: string[]): string | undefined => describe_(history.check({ snapshotSeq: 0, keys: keys(...names), ranges: [] }));
    assert.equal(check('c'), 'range c in [c,f)@1');
    assert.equal(check('ez'), 'range ez in [c,f)@1');
    assert.equal(check('b'), undefined);
    assert.equal(check('f'), undefined);
    assert.equal(check('a', 'd'), 'range d in [c,f)@1');
    // A snapshot at or after the range delete sees it: no conflict.
    assert.equal(history.check({ snapshotSeq: 1, keys: keys('d'), ranges: [] }), undefined);
    history.checkInvariants();
  });

  it('a range (iterated or deleted) overlapping a deleted range conflicts, with exact bounds', () => {
    const history = new CommitHistory(1 << 20, 0);
    history.begin(0);
    history.startGroup();
    history.record(1, [del('c', 'f')]);
    const check = (lower: ReturnType<typeof bound> | undefined, upper: ReturnType<typeof bound> | undefined): string | undefined =>
      describe_(history.check({ snapshotSeq: 0, keys: [], ranges: [range(lower, upper)] }));
    assert.equal(check(bound('a', true), bound('c', false)), undefined);
    assert.equal(check(bound('a', true), bound('c', true)), 'range c in [c,f)@1');
    assert.equal(check(bound('f', true), undefined), undefined);
    assert.equal(check(bound('e', false), bound('f', false)), 'range e\0 in [c,f)@1');
    assert.equal(check(bound('d', true), bound('d', true)), 'range d in [c,f)@1');
    assert.equal(check(undefined, undefined), 'range c in [c,f)@1');
    assert.equal(check(undefined, bound('b', true)), undefined);
    // Nothing but the range's own end: [f, g) starts where [c, f) stops.
    assert.equal(check(bound('f', true), bound('g', false)), undefined);
  });

  it('an empty range deletes nothing and records nothing, but takes its sequence number', () => {
    const history = new CommitHistory(1 << 20, 0);
    history.begin(0);
    history.startGroup();
    history.record(1, [del('c', 'c'), put('x')]);
    assert.equal(history.size, 1);
    assert.equal(describe_(history.check({ snapshotSeq: 0, keys: keys('c', 'x'), ranges: [] })), 'key x@2');
    history.checkInvariants();
  });

  it('a newer range paints over older ones; evicting the older keeps what the newer covers', () => {
    const history = new CommitHistory(1 << 20, 0);
    history.begin(0);
    history.startGroup();
    history.record(1, [del('a', 'z')]);
    history.begin(1);
    history.startGroup();
    history.record(2, [del('m', 'p')]);
    history.checkInvariants();
    const at = (snapshotSeq: number, ...names: string[]): string | undefined => describe_(history.check({ snapshotSeq, keys: keys(...names), ranges: [] }));
    assert.equal(at(0, 'b'), 'range b in [a,m)@1');
    assert.equal(at(0, 'n'), 'range n in [m,p)@2');
    assert.equal(at(0, 'q'), 'range q in [p,z)@1');
    assert.equal(at(1, 'b'), undefined);
    assert.equal(at(1, 'n'), 'range n in [m,p)@2');
    // The older transaction ends: the next record drops the range at sequence 1, keeping [m, p).
    history.end(0);
    history.startGroup();
    history.record(3, [put('zz')]);
    history.checkInvariants();
    assert.equal(history.size, 2);
    assert.equal(at(1, 'b', 'q'), undefined);
    assert.equal(at(1, 'o'), 'range o in [m,p)@2');
    assert.equal(at(1, 'p'), undefined);
  });

  it('a range spanning others replaces them, cutting those that reach past its bounds', () => {
    const history = new CommitHistory(1 << 20, 0);
    history.begin(0);
    history.startGroup();
    history.record(1, [del('b', 'd'), del('e', 'g'), del('h', 'k')]);
    history.record(4, [del('c', 'i')]);
    history.checkInvariants();
    const at = (name: string): string | undefined => describe_(history.check({ snapshotSeq: 0, keys: keys(name), ranges: [] }));
    assert.equal(at('b'), 'range b in [b,c)@1');
    assert.equal(at('c'), 'range c in [c,i)@4');
    assert.equal(at('f'), 'range f in [c,i)@4');
    assert.equal(at('i'), 'range i in [i,k)@3');
    assert.equal(at('k'), undefined);
    assert.equal(at('a'), undefined);
  });

  it('counts a range in its bytes: the byte bound evicts it and raises the floor past it', () => {
    const rangeBytes = 2 + HISTORY_RANGE_OVERHEAD_BYTES;
    const history = new CommitHistory(rangeBytes + 1 + HISTORY_ENTRY_OVERHEAD_BYTES, 0);
    history.begin(0);
    history.startGroup();
    history.record(1, [del('a', 'c'), put('x')]);
    assert.equal(history.bytes, rangeBytes + 1 + HISTORY_ENTRY_OVERHEAD_BYTES);
    history.checkInvariants();
    history.startGroup();
    history.record(3, [put('y')]);
    assert.equal(history.floor, 1);
    assert.equal(history.size, 2);
    assert.equal(describe_(history.check({ snapshotSeq: 1, keys: keys('b'), ranges: [] })), undefined);
    assert.equal(describe_(history.check({ snapshotSeq: 0, keys: keys('q'), ranges: [] })), 'history 1');
    history.checkInvariants();
  });

  it('agrees with a brute-force scan of what it recorded (seeded)', () => {
    const seed = testSeed('commit history ranges');
    const rng = new Rng(seed);
    const letters = 'abcdefghij';
    const key = (): string => letters[rng.int(letters.length)]! + (rng.bool(0.3) ? letters[rng.int(letters.length)]! : '');
    const history = new CommitHistory(rng.bool() ? 1 << 20 : 40 * (HISTORY_RANGE_OVERHEAD_BYTES + 4), 0);
    const recorded: { seq: number; start: string; end: string | undefined }[] = [];
    const open: number[] = [];
    let seq = 0;
    for (let step = 0; step < 2000; step++) {
      const roll = rng.float();
      if (roll < 0.1 || open.length === 0) {
        history.begin(seq);
        open.push(seq);
      } else if (roll < 0.18) {
        history.end(open.splice(rng.int(open.length), 1)[0]!);
      } else if (roll < 0.6) {
        const ops: WriteOp[] = [];
        for (let i = rng.range(1, 3); i > 0; i--) {
          if (rng.bool(0.4)) {
            const [a, b] = [key(), key()].sort();
            ops.push(del(a!, b!));
          } else {
            ops.push(put(key()));
          }
        }
        history.startGroup();
        history.record(seq + 1, ops);
        for (const op of ops) {
          seq++;
          recorded.push({ seq, start: op.key.toString(), end: op.type === EntryType.RANGE_DELETE ? op.value.toString() : undefined });
        }
      } else if (open.length > 0) {
        const snapshotSeq = open[rng.int(open.length)]!;
        const queryKeys = rng.bool(0.5) ? [key()] : [];
        const lower = rng.bool(0.2) ? undefined : bound(key(), rng.bool());
        const upper = rng.bool(0.2) ? undefined : bound(key(), rng.bool());
        const ranges = rng.bool(0.5) ? [range(lower, upper)] : [];
        const conflict = history.check({ snapshotSeq, keys: keys(...queryKeys), ranges });
        const inRange = (name: string): boolean =>
          (lower === undefined || name > lower.key.toString() || (lower.inclusive && name === lower.key.toString())) &&
          (upper === undefined || name < upper.key.toString() || (upper.inclusive && name === upper.key.toString()));
        // Whether [start, end) and the query range share a key: its first key above the lower bound, below the end and within the upper.
        const overlaps = (start: string, end: string): boolean => {
          let first = start;
          if (lower !== undefined && !inRange(first) && first <= lower.key.toString()) first = lower.inclusive ? lower.key.toString() : `${lower.key.toString()}\0`;
          return first < end && inRange(first);
        };
        const expected = recorded.some(
          (write) =>
            write.seq > snapshotSeq &&
            (write.end === undefined
              ? queryKeys.includes(write.start) || (ranges.length > 0 && inRange(write.start))
              : queryKeys.some((name) => name >= write.start && name < write.end!) || (ranges.length > 0 && overlaps(write.start, write.end))),
        );
        const where = `seed ${seed} step ${step}: snapshot ${snapshotSeq} keys ${JSON.stringify(queryKeys)} range ${JSON.stringify({ lower, upper })}`;
        if (snapshotSeq < history.floor) {
          assert.equal(conflict?.kind, 'history', where);
        } else {
          assert.equal(conflict !== undefined, expected, `${where}: got ${describe_(conflict)}`);
        }
      }
      history.checkInvariants();
    }
  });
});
