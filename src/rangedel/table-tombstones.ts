/**
 * Range tombstones on their way into a table: the range-del block's contents and
 * the bounds they widen the table to (docs/internals.md, "Range deletes"), in a
 * plain object that a flush or compaction job can carry to the worker thread.
 *
 * A table's smallest key covers the first fragment's start, as the internal key
 * (start, newest seq, RANGE_DELETE). Its largest covers the last fragment's end,
 * which is exclusive: the internal key (end, SEQUENCE_MAX, RANGE_DELETE), which
 * sorts before every real version of the user key `end`. So a table whose
 * tombstones stop where the next table's keys begin does not overlap it in
 * internal-key order, though both name the same user key.
 */
import { EntryType, INTERNAL_KEY_TRAILER_BYTES, SEQUENCE_MAX, encodeInternalKey, readTrailerSeq } from '../keys.js';
import { encodeRangeDelBlock } from '../sstable/range-del-block.js';
import type { TableFinishExtras } from '../sstable/table-builder.js';
import type { Fragment } from './fragments.js';

/** What `TableBuilder.finish` takes to write a range-del block. */
export type RangeDelBlockSpec = NonNullable<TableFinishExtras['rangeDelBlock']>;

/** The range-del block of a table holding `fragments` (key order, not overlapping), or undefined when there are none. */
export function rangeDelBlockSpec(fragments: readonly Fragment[]): RangeDelBlockSpec | undefined {
  if (fragments.length === 0) return undefined;
  const { contents, count } = encodeRangeDelBlock(fragments);
  const first = fragments[0]!;
  const last = fragments[fragments.length - 1]!;
  let smallestSeq = Number.MAX_SAFE_INTEGER;
  let largestSeq = 0;
  for (const fragment of fragments) {
    smallestSeq = Math.min(smallestSeq, fragment.seqs[fragment.seqs.length - 1]!);
    largestSeq = Math.max(largestSeq, fragment.seqs[0]!);
  }
  return {
    contents,
    count,
    smallestKey: encodeInternalKey(first.start, first.seqs[0]!, EntryType.RANGE_DELETE),
    largestKey: exclusiveEndKey(last.end),
    smallestSeq,
    largestSeq,
  };
}

/** The internal key a table's bounds record for a tombstone's exclusive end `end`. */
export function exclusiveEndKey(end: Uint8Array): Buffer {
  return encodeInternalKey(end, SEQUENCE_MAX, EntryType.RANGE_DELETE);
}

/** Whether internal key `key` is a table bound made by `exclusiveEndKey`: its user key is not in the table. */
export function isExclusiveEndKey(key: Buffer): boolean {
  const trailer = key.length - INTERNAL_KEY_TRAILER_BYTES;
  return key[trailer] === EntryType.RANGE_DELETE && readTrailerSeq(key, trailer) === SEQUENCE_MAX;
}

/** The spec with Buffers again after a trip through `postMessage`, which turns them into plain Uint8Arrays. */
export function revivedRangeDelBlockSpec(spec: RangeDelBlockSpec | undefined): RangeDelBlockSpec | undefined {
  if (spec === undefined) return undefined;
  const buffer = (bytes: Uint8Array): Buffer => (Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  return { ...spec, contents: buffer(spec.contents), smallestKey: buffer(spec.smallestKey), largestKey: buffer(spec.largestKey) };
}
