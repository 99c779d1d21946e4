/**
 * The commit history on its own: what it keeps with and without open
 * transactions, its floor, its eviction by age and by bytes, and its checks of
 * keys and ranges.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CommitHistory, HISTORY_ENTRY_OVERHEAD_BYTES, HISTORY_RANGE_OVERHEAD_BYTES } from '../../src/db/commit-history.js';
import { EntryType } from '../../src/keys.js';
import type { WriteOp } from '../../src/wal/write-group.js';

const put = (key: string): WriteOp => ({ type: EntryType.PUT, key: Buffer.from(key), value: Buffer.from('v') });
/** A range delete of [start, end): entry type 2 (`EntryType.RANGE_DELETE`, fixed on disk). */
const deleteRange = (start: string, end: string): WriteOp => ({ type: 2 as WriteOp['type'], key: Buffer.from(start), value: Buffer.from(end) });
const keys = (...names: string[]): Buffer[] => names.map((name) => Buffer.from(name));
const bound = (key: string, inclusive: boolean) => ({ key: Buffer.from(key), inclusive });

describe('commit history', () => {
  it('keeps nothing while no transaction is open, only moving its floor', () => {
    const history = new CommitHistory(1 << 20, 10);
    history.startGroup();
    history.record(11, [put('a'), put('b')]);
    assert.equal(history.size, 0);
    assert.equal(history.floor, 12);
    history.checkInvariants();
  });

  it('the first transaction records the current group, which may not be visible yet', () => {
    const history = new CommitHistory(1 << 20, 10);
    history.startGroup();
    history.record(11, [put('a')]);
    history.record(12, [put('b')]);
    // The group is sequenced but not visible: the transaction's snapshot is 10.
    history.begin(10);
    assert.equal(history.floor, 10);
    assert.deepEqual(history.check({ snapshotSeq: 10, keys: keys('b'), ranges: [] }), { kind: 'key', key: Buffer.from('b'), seq: 12 });
    assert.equal(history.check({ snapshotSeq: 10, keys: keys('c'), ranges: [] }), undefined);
    history.checkInvariants();
    history.end(10);
    assert.equal(history.size, 0);
    assert.equal(history.floor, 12);
  });

  it('a group seen before the transaction opened and already visible is not a conflict', () => {
    const history = new CommitHistory(1 << 20, 0);
    history.startGroup();
    history.record(1, [put('a')]);
    history.begin(1);
    history.startGroup();
    history.record(2, [put('b')]);
    assert.equal(history.check({ snapshotSeq: 1, keys: keys('a'), ranges: [] }), undefined);
    assert.equal(history.check({ snapshotSeq: 1, keys: keys('b'), ranges: [] })?.kind, 'key');
    history.checkInvariants();
  });

  it('checks ranges with their bounds, inclusive and exclusive, open at either end', () => {
    const history = new CommitHistory(1 << 20, 0);
    history.begin(0);
    history.startGroup();
    history.record(1, [put('b'), put('d')]);
    const check = (lower: ReturnType<typeof bound> | undefined, upper: ReturnType<typeof bound> | undefined): string | undefined => {
      const conflict = history.check({ snapshotSeq: 0, keys: [], ranges: [{ lower, upper }] });
      return conflict?.kind === 'key' ? conflict.key.toString() : conflict?.kind;
    };
    assert.equal(check(bound('b', true), bound('b', true)), 'b');
    assert.equal(check(bound('b', false), bound('d', false)), undefined);
    assert.equal(check(bound('b', false), bound('d', true)), 'd');
    assert.equal(check(undefined, bound('a', true)), undefined);
    assert.equal(check(bound('c', true), undefined), 'd');
    assert.equal(check(undefined, undefined), 'b');
    assert.equal(check(bound('e', true), undefined), undefined);
  });

  it('drops what no open transaction can conflict with, and raises the floor past what the byte bound evicts', () => {
    const entryBytes = 1 + HISTORY_ENTRY_OVERHEAD_BYTES;
    const history = new CommitHistory(3 * entryBytes, 0);
    history.begin(0);
    history.startGroup();
    history.record(1, [put('a'), put('b'), put('c')]);
    assert.equal(history.size, 3);
    history.startGroup();
    history.record(4, [put('d')]);
    // Over the bound: the oldest write goes, and a snapshot before it can no longer be checked.
    assert.equal(history.size, 3);
    assert.equal(history.floor, 1);
    assert.deepEqual(history.check({ snapshotSeq: 0, keys: keys('x'), ranges: [] }), { kind: 'history', floor: 1 });
    history.checkInvariants();
    // A newer transaction; once the old one ends, writes at or below the new snapshot are dropped as the next batch comes.
    history.begin(4);
    history.end(0);
    history.startGroup();
    history.record(5, [put('e')]);
    assert.equal(history.size, 1);
    assert.equal(history.check({ snapshotSeq: 4, keys: keys('a', 'd'), ranges: [] }), undefined);
    assert.equal(history.check({ snapshotSeq: 4, keys: keys('e'), ranges: [] })?.kind, 'key');
    history.checkInvariants();
  });

  it('a key written twice keeps its latest sequence number after the older write is evicted', () => {
    const history = new CommitHistory(1 << 20, 0);
    history.begin(0);
    history.startGroup();
    history.record(1, [put('k')]);
    history.begin(1);
    history.startGroup();
    history.record(2, [put('k')]);
    history.end(0);
    history.startGroup();
    history.record(3, [put('z')]);
    assert.deepEqual(history.check({ snapshotSeq: 1, keys: keys('k'), ranges: [] }), { kind: 'key', key: Buffer.from('k'), seq: 2 });
    history.checkInvariants();
  });

  it('records a range delete as a range: keys inside it and read ranges overlapping it conflict', () => {
    const history = new CommitHistory(1 << 20, 0);
    history.begin(0);
    history.startGroup();
    history.record(1, [deleteRange('c', 'f')]);
    const keyConflict = (name: string): string | undefined => {
      const conflict = history.check({ snapshotSeq: 0, keys: keys(name), ranges: [] });
      return conflict?.kind === 'range' ? conflict.key.toString() : conflict?.kind;
    };
    assert.equal(keyConflict('c'), 'c');
    assert.equal(keyConflict('e\xff'), 'e\xff');
    assert.equal(keyConflict('f'), undefined, 'the end is exclusive');
    assert.equal(keyConflict('b'), undefined);
    const rangeConflict = (lower: ReturnType<typeof bound> | undefined, upper: ReturnType<typeof bound> | undefined): boolean =>
      history.check({ snapshotSeq: 0, keys: [], ranges: [{ lower, upper }] }) !== undefined;
    assert.equal(rangeConflict(bound('a', true), bound('c', true)), true);
    assert.equal(rangeConflict(bound('a', true), bound('c', false)), false);
    assert.equal(rangeConflict(bound('f', true), undefined), false);
    assert.equal(rangeConflict(bound('e', false), undefined), true, 'keys above e and below f exist');
    assert.equal(rangeConflict(undefined, undefined), true);
    // A snapshot taken after the range delete does not conflict with it.
    assert.equal(history.check({ snapshotSeq: 1, keys: keys('d'), ranges: [{ lower: undefined, upper: undefined }] }), undefined);
    history.checkInvariants();
  });

  it('a range delete whose only key above an exclusive bound is the bound itself does not overlap it', () => {
    const history = new CommitHistory(1 << 20, 0);
    history.begin(0);
    history.startGroup();
    // [b, b ‖ 0x00) holds exactly the key b.
    history.record(1, [{ type: 2 as WriteOp['type'], key: Buffer.from('b'), value: Buffer.from('b\0', 'latin1') }]);
    assert.equal(history.check({ snapshotSeq: 0, keys: [], ranges: [{ lower: bound('b', false), upper: undefined }] }), undefined);
    assert.notEqual(history.check({ snapshotSeq: 0, keys: [], ranges: [{ lower: bound('b', true), upper: undefined }] }), undefined);
  });

  it('evicts range deletes with the rest, in order, charging their end keys', () => {
    const entryBytes = 1 + HISTORY_ENTRY_OVERHEAD_BYTES;
    // The range delete costs its start and end keys and the range overhead.
    const rangeBytes = 2 + HISTORY_RANGE_OVERHEAD_BYTES;
    const history = new CommitHistory(entryBytes + rangeBytes, 0);
    history.begin(0);
    history.startGroup();
    history.record(1, [deleteRange('a', 'b'), put('x')]);
    assert.equal(history.bytes, entryBytes + rangeBytes);
    history.startGroup();
    history.record(3, [put('y')]);
    // Over the bound: the range delete goes first, and the floor passes it.
    assert.equal(history.floor, 1);
    assert.equal(history.check({ snapshotSeq: 1, keys: keys('a'), ranges: [] }), undefined);
    history.checkInvariants();
  });
});
