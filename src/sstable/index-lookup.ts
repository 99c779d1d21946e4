/**
 * A table's index block (docs/format.md, "SSTable: index block") decoded once,
 * when the table is opened, for point lookups: the separator keys side by side in
 * one buffer and the block handles as numbers. A lookup is then a binary search
 * over whole keys, with no varint to decode, no handle object to build and no
 * iterator to move: decoding restart entries and handles on every get was a
 * quarter of a cached point lookup.
 *
 * It costs, per data block, the separator key plus 24 bytes (three numbers in
 * typed arrays): next to the index block it is built from, held anyway.
 */
import { CorruptionError } from '../errors.js';
import { decodeBlockHandle } from './block-handle.js';
import type { Block } from './block-reader.js';
import { BLOCK_TRAILER_BYTES } from './format.js';
import { compareBytes } from './byte-ranges.js';
import { internalKeyComparator } from './comparator.js';

/** The decoded index: for block `i`, its separator key `keys[keyStart(i), keyEnds[i])` and its handle. */
export class IndexLookup {
  /** The number of data blocks. */
  readonly blockCount: number;
  /** Every separator key, in order, back to back. */
  readonly #keys: Buffer;
  /** The end of separator key `i` in `#keys`; key `i` starts where key `i - 1` ends. */
  readonly #keyEnds: Uint32Array;
  readonly #blockOffsets: Float64Array;
  readonly #blockSizes: Float64Array;

  /**
   * Decodes `indexBlock` (every entry, checked as the block iterator checks them)
   * and checks every handle: a handle that does not decode, or names bytes outside
   * `[0, dataEnd)`, is a `CorruptionError` at the index block's offset.
   */
  constructor(indexBlock: Block, dataEnd: number) {
    const iterator = indexBlock.iterator(internalKeyComparator);
    const keyChunks: Buffer[] = [];
    const keyEnds: number[] = [];
    const offsets: number[] = [];
    const sizes: number[] = [];
    let keyBytes = 0;
    for (iterator.seekToFirst(); iterator.valid(); iterator.next()) {
      const start = iterator.valueStart;
      const handle = decodeBlockHandle(indexBlock.data, start, start + iterator.valueLength, indexBlock.fileName, indexBlock.offset);
      if (handle.size > dataEnd - handle.offset - BLOCK_TRAILER_BYTES) {
        throw new CorruptionError(indexBlock.fileName, indexBlock.offset, `index entry points outside the data blocks (offset ${handle.offset})`);
      }
      keyChunks.push(iterator.key());
      keyBytes += iterator.keyLength;
      keyEnds.push(keyBytes);
      offsets.push(handle.offset);
      sizes.push(handle.size);
    }
    this.blockCount = keyEnds.length;
    this.#keys = Buffer.concat(keyChunks, keyBytes);
    this.#keyEnds = Uint32Array.from(keyEnds);
    this.#blockOffsets = Float64Array.from(offsets);
    this.#blockSizes = Float64Array.from(sizes);
  }

  /**
   * The index of the first block whose separator is ≥ the internal key `userKey ‖
   * trailer(seq, 0xff)`: the only block that can hold the newest entry of `userKey`
   * with a sequence ≤ `seq`. `blockCount` when every separator is smaller.
   */
  find(userKey: Uint8Array, seq: number): number {
    let low = 0;
    let high = this.blockCount;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.#compareSeparator(middle, userKey, seq) < 0) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  /** The file offset of data block `index`. */
  blockOffset(index: number): number {
    return this.#blockOffsets[index]!;
  }

  /** The stored size (trailer excluded) of data block `index`. */
  blockSize(index: number): number {
    return this.#blockSizes[index]!;
  }

  /**
   * Compares separator `index` with the lookup key `userKey ‖ trailer(seq, 0xff)`
   * in internal-key order, without building the lookup key. The lookup's type
   * 0xff sorts first among entries of its sequence, so with equal user keys the
   * separator is at or after it exactly when its sequence is ≤ `seq`.
   */
  #compareSeparator(index: number, userKey: Uint8Array, seq: number): number {
    const keys = this.#keys;
    const start = index === 0 ? 0 : this.#keyEnds[index - 1]!;
    const userEnd = this.#keyEnds[index]! - 8;
    const byUser = compareBytes(keys, start, userEnd, userKey, 0, userKey.length);
    if (byUser !== 0) return byUser;
    // The separator's sequence: the trailer's high 56 bits (a value above 2^53 - 1 only sorts early).
    const separatorSeq = keys.readUInt32LE(userEnd + 4) * 0x100_0000 + Math.floor(keys.readUInt32LE(userEnd) / 256);
    return separatorSeq > seq ? -1 : 1;
  }
}
