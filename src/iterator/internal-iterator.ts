/**
 * The iterator every source of entries offers the read path: the memtables, each
 * table, each level, and the merge of them all. It walks internal entries
 * (user key, sequence, type, value) in internal-key order: user key ascending
 * (bytewise), then sequence descending. It is synchronous: tables are read with
 * synchronous block reads behind a block cache (docs/internals.md, "Read path").
 */
import { compareKeys, type EntryType } from '../keys.js';

export interface InternalIterator {
  /** Whether the iterator is positioned at an entry. */
  valid(): boolean;
  seekToFirst(): void;
  seekToLast(): void;
  /**
   * Positions at the first entry at or after (userKey, seq) in internal order: the
   * first entry whose user key is greater, or equal with a sequence ≤ `seq`.
   */
  seek(userKey: Buffer, seq: number): void;
  /**
   * Positions at the last entry at or before (userKey, seq) in internal order: the
   * last entry whose user key is smaller, or equal with a sequence ≥ `seq`.
   */
  seekForPrev(userKey: Buffer, seq: number): void;
  /** Moves to the next entry. Requires `valid()`. */
  next(): void;
  /** Moves to the previous entry. Requires `valid()`. */
  prev(): void;
  /**
   * The current entry's user key. Requires `valid()`. The Buffer stays unchanged
   * after the iterator moves (it may be a view of an immutable block), but callers
   * that hand it out copy it.
   */
  userKey(): Buffer;
  /**
   * The current entry's internal key (`userKey ‖ u64le(seq << 8 | type)`, as tables
   * store it), with the same lifetime rule as `userKey`. Compaction writes it as it
   * is; a table iterator has it without building it.
   */
  internalKey(): Buffer;
  seq(): number;
  type(): EntryType;
  /** The current entry's value (empty for a DELETE). Same lifetime rule as `userKey`. */
  value(): Buffer;
  /** Releases what the iterator holds (pinned blocks, table references). Idempotent. */
  close(): void;
}

/** Orders (user key, seq) pairs in internal-key order. */
export function compareInternal(aKey: Buffer, aSeq: number, bKey: Buffer, bSeq: number): number {
  const byKey = compareKeys(aKey, bKey);
  if (byKey !== 0) return byKey;
  return aSeq === bSeq ? 0 : aSeq > bSeq ? -1 : 1;
}
