/**
 * The range-del block of a table (docs/format.md, "SSTable: range-del block"):
 * the table's range tombstones, fragmented, in a block of the ordinary block
 * format with restart interval 1. One entry per (fragment, sequence):
 *
 *   key   = internal key (fragment start, seq, RANGE_DELETE)
 *   value = fragment end (a user key, exclusive)
 *
 * Entries come in internal-key order (start ascending, sequence descending), so
 * a fragment's sequences are consecutive entries, newest first. Fragments do not
 * overlap: every entry of one start has the same end, and the next start is at
 * or after it. Decoding checks all of that and hands back the fragments ready
 * for lookups; anything else is a `CorruptionError` naming the file and the
 * block's offset.
 */
import { CorruptionError } from '../errors.js';
import { EntryType, INTERNAL_KEY_TRAILER_BYTES, encodeInternalKey, readTrailerSeq } from '../keys.js';
import { FragmentedTombstones, type Fragment } from '../rangedel/fragments.js';
import { BlockBuilder } from './block-builder.js';
import { Block } from './block-reader.js';
import { internalKeyComparator } from './comparator.js';

/** Every entry is a restart point: the block is read whole, once, when the table opens. */
const RANGE_DEL_RESTART_INTERVAL = 1;

/** The contents of a range-del block holding `fragments` (in key order, not overlapping, at least one), and its entry count. */
export function encodeRangeDelBlock(fragments: readonly Fragment[]): { contents: Buffer; count: number } {
  const builder = new BlockBuilder(RANGE_DEL_RESTART_INTERVAL);
  let count = 0;
  for (const fragment of fragments) {
    for (const seq of fragment.seqs) {
      builder.add(encodeInternalKey(fragment.start, seq, EntryType.RANGE_DELETE), fragment.end);
      count++;
    }
  }
  return { contents: builder.finish(), count };
}

/**
 * Decodes and checks a range-del block's contents, read from `fileName` at
 * `offset`; `expectedCount` is the properties block's count (undefined when it
 * is not known: a block found by a scan).
 */
export function decodeRangeDelBlock(contents: Buffer, fileName: string, offset: number, expectedCount?: number): FragmentedTombstones {
  const corrupt = (detail: string): never => {
    throw new CorruptionError(fileName, offset, `bad range-del block: ${detail}`);
  };
  const iterator = new Block(contents, fileName, offset).iterator(internalKeyComparator);
  const fragments: Fragment[] = [];
  let current: { start: Buffer; end: Buffer; seqs: number[] } | undefined;
  let count = 0;
  for (iterator.seekToFirst(); iterator.valid(); iterator.next()) {
    const key = iterator.key();
    if (key.length < INTERNAL_KEY_TRAILER_BYTES) corrupt(`entry ${count} has a ${key.length}-byte key`);
    const userKeyLength = key.length - INTERNAL_KEY_TRAILER_BYTES;
    if (key[userKeyLength] !== EntryType.RANGE_DELETE) corrupt(`entry ${count} has type ${key[userKeyLength]}`);
    const seq = readTrailerSeq(key, userKeyLength);
    if (seq < 1) corrupt(`entry ${count} has sequence ${seq}`);
    const start = key.subarray(0, userKeyLength);
    const end = Buffer.from(iterator.value());
    if (start.compare(end) >= 0) corrupt(`entry ${count} is an empty range`);
    if (current !== undefined && current.start.equals(start)) {
      if (!current.end.equals(end)) corrupt(`entry ${count} ends its fragment elsewhere than the one before`);
      if (seq >= current.seqs[current.seqs.length - 1]!) corrupt(`entry ${count} is out of order`);
      current.seqs.push(seq);
    } else {
      if (current !== undefined && start.compare(current.end) < 0) corrupt(`entry ${count} overlaps the fragment before`);
      current = { start, end, seqs: [seq] };
      fragments.push(current);
    }
    count++;
  }
  if (expectedCount !== undefined && count !== expectedCount) corrupt(`${count} entries, the properties say ${expectedCount}`);
  if (count === 0) corrupt('no entries');
  return new FragmentedTombstones(fragments);
}
