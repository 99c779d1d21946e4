/**
 * The end of a range delete with no upper bound (`db.deleteRange(start)`,
 * `ShaleLevel.clear()` without `lt`/`lte`): docs/internals.md, "Range deletes".
 *
 * The on-disk tombstone always has an end key. For "every key from `start` on",
 * the end is a key above every key the database holds at the moment the
 * tombstone is written: the largest user key any memtable or table touches,
 * followed by a 0x00 byte (its immediate successor) when that key may exist,
 * or that key itself when it is a range tombstone's exclusive end. Every write
 * before the tombstone has a key below it; writes after it are newer than the
 * tombstone and unaffected whatever their key. So the end is computed by the
 * writer, when the tombstone's group commits: every earlier group is applied
 * then, and the earlier ops of its own group are counted in. Until then the op
 * carries `OPEN_END` as its end.
 */
import { EntryType, compareKeys } from '../keys.js';
import type { WriteOp } from '../wal/write-group.js';
import type { MemTable } from '../memtable/memtable.js';
import { isExclusiveEndKey } from '../rangedel/table-tombstones.js';
import { userKeyOf, type Version } from '../version/version.js';

/** An exclusive end above every key `memtables` and `version` hold, or undefined when they hold nothing. */
class KeyBound {
  #key: Buffer | undefined;
  #exclusive = false;

  consider(key: Buffer, exclusive: boolean): void {
    const byKey = this.#key === undefined ? 1 : compareKeys(key, this.#key);
    // On a tie an inclusive bound wins: the key itself may exist.
    if (byKey > 0 || (byKey === 0 && !exclusive)) {
      this.#key = key;
      this.#exclusive = exclusive;
    }
  }

  /** An exclusive end above every key considered, or undefined when there was none. */
  end(): Buffer | undefined {
    if (this.#key === undefined) return undefined;
    return this.#exclusive ? Buffer.from(this.#key) : Buffer.concat([this.#key, Buffer.from([0])]);
  }
}

/** The end of a range delete with no upper bound until the writer sets it (compared by identity). */
export const OPEN_END: Buffer = Buffer.alloc(0);

/** A range delete of every key from `start` on (its end set when it commits). */
export function deleteFromOp(start: Buffer): WriteOp {
  return { type: EntryType.RANGE_DELETE, key: start, value: OPEN_END };
}

/** Whether `ops` hold a range delete whose end is still open. */
export function hasOpenEnd(ops: readonly WriteOp[]): boolean {
  return ops.some((op) => op.value === OPEN_END && op.type === EntryType.RANGE_DELETE);
}

/**
 * Sets the end of every open range delete in `batches` (the ops of one group,
 * in order), given the memtables and version every earlier group is applied
 * to. An open range delete with nothing at or above its start becomes an empty
 * range: a write that deletes nothing.
 */
export function resolveOpenEnds(batches: readonly (readonly WriteOp[])[], memtables: readonly MemTable[], version: Version): void {
  const bound = new KeyBound();
  for (const memtable of memtables) {
    const largest = memtable.largestKeyBound();
    if (largest !== undefined) bound.consider(largest.key, largest.exclusive);
  }
  for (const file of version.files()) bound.consider(userKeyOf(file.largest), isExclusiveEndKey(file.largest));
  for (const ops of batches) {
    for (const op of ops) {
      if (op.type === EntryType.RANGE_DELETE && op.value === OPEN_END) {
        const end = bound.end();
        op.value = end !== undefined && end.compare(op.key) > 0 ? end : op.key;
      }
      if (op.type === EntryType.RANGE_DELETE) bound.consider(op.value, true);
      else bound.consider(op.key, false);
    }
  }
}
