/**
 * Short index keys (docs/format.md, "SSTable: index block").
 *
 * An index entry needs a key `s` with `last key of block i ≤ s < first key of
 * block i+1`; it need not be a real key. Shorter keys make a smaller index that
 * binary-searches faster, so, as LevelDB's FindShortestSeparator does, we shorten
 * the *user* key when the two neighbours differ in a byte that leaves room, and
 * give the shortened user key the trailer of (SEQUENCE_MAX, PUT), the first
 * position of that user key in internal-key order. When nothing can be shortened
 * the separator is the block's last internal key itself.
 */
import assert from 'node:assert/strict';
import { EntryType, INTERNAL_KEY_TRAILER_BYTES, SEQUENCE_MAX, compareInternalKeys, encodeInternalKey } from '../keys.js';

/**
 * Returns an internal key `s` with `lastKey ≤ s < nextKey` (both internal keys,
 * `lastKey < nextKey`), as short as the user keys allow.
 */
export function shortestSeparator(lastKey: Buffer, nextKey: Buffer): Buffer {
  const lastUserLength = lastKey.length - INTERNAL_KEY_TRAILER_BYTES;
  const nextUserLength = nextKey.length - INTERNAL_KEY_TRAILER_BYTES;
  const commonMax = Math.min(lastUserLength, nextUserLength);
  let diff = 0;
  while (diff < commonMax && lastKey[diff] === nextKey[diff]) diff++;
  // One user key is a prefix of the other (or they are equal): nothing to cut.
  if (diff >= commonMax) return lastKey;
  const lastByte = lastKey[diff]!;
  if (lastByte === 0xff || lastByte + 1 >= nextKey[diff]!) return lastKey;
  if (diff + 1 >= lastUserLength) return lastKey; // cutting would not shorten it
  const userKey = Buffer.from(lastKey.subarray(0, diff + 1));
  userKey[diff] = lastByte + 1;
  const separator = encodeInternalKey(userKey, SEQUENCE_MAX, EntryType.PUT);
  // Invariant: the separator sits between the two keys.
  assert(compareInternalKeys(lastKey, separator) < 0, 'separator not after the last key');
  assert(compareInternalKeys(separator, nextKey) < 0, 'separator not before the next key');
  return separator;
}

/**
 * Returns a short internal key `s ≥ lastKey` for the last index entry: the user
 * key cut after its first byte that is not 0xff, that byte incremented. A user key
 * of only 0xff bytes is kept whole.
 */
export function shortSuccessor(lastKey: Buffer): Buffer {
  const userLength = lastKey.length - INTERNAL_KEY_TRAILER_BYTES;
  for (let i = 0; i < userLength; i++) {
    const byte = lastKey[i]!;
    if (byte === 0xff) continue;
    if (i + 1 >= userLength) return lastKey; // cutting would not shorten it
    const userKey = Buffer.from(lastKey.subarray(0, i + 1));
    userKey[i] = byte + 1;
    const successor = encodeInternalKey(userKey, SEQUENCE_MAX, EntryType.PUT);
    // Invariant: the successor does not sort before the key it stands for.
    assert(compareInternalKeys(lastKey, successor) < 0, 'successor before the last key');
    return successor;
  }
  return lastKey;
}
