/**
 * Reads the blocks `BlockBuilder` writes (docs/format.md, "SSTable: block
 * contents"): a decoded `Block` and a `BlockIterator` over its entries.
 *
 * A `Block` is decoded once (its restart array checked end to end) and may then
 * be shared, through the block cache, by any number of iterators: it is
 * immutable. Entries are checked lazily, as iterators decode them; any offset or
 * length that points outside the entry area is a `CorruptionError` naming the
 * file and the block's offset in it.
 */
import assert from '../util/assert.js';
import { CorruptionError } from '../errors.js';
import { RESTART_BYTES } from './block-builder.js';
import { copyBytes } from './byte-ranges.js';
import type { KeyComparator } from './comparator.js';

/** A decoded, immutable block: its contents and where its restart array starts. */
export class Block {
  /** The uncompressed contents: entries, restart array, restart count. */
  readonly data: Buffer;
  /** The file the block came from, for error messages. */
  readonly fileName: string;
  /** The block's offset in that file, for error messages and cache keys. */
  readonly offset: number;
  /** The end of the entries and the start of the restart array. */
  readonly restartsOffset: number;
  /** The number of restart points; at least 1. */
  readonly restartCount: number;
  /**
   * The restart array, decoded once: a seek's binary search reads it a few times
   * per probe, and `readUInt32LE` each time cost 9% of a cached point lookup.
   */
  readonly #restarts: Uint32Array;

  /**
   * Checks the restart array of `data`: a count of at least 1 that fits, a first
   * restart at 0, and strictly increasing restarts inside the entry area.
   */
  constructor(data: Buffer, fileName: string, offset: number) {
    this.data = data;
    this.fileName = fileName;
    this.offset = offset;
    if (data.length < RESTART_BYTES) this.#corrupt('block shorter than its restart count');
    const restartCount = data.readUInt32LE(data.length - RESTART_BYTES);
    if (restartCount === 0) this.#corrupt('block has no restart points');
    if (restartCount > Math.floor(data.length / RESTART_BYTES) - 1) this.#corrupt(`restart count ${restartCount} does not fit the block`);
    this.restartCount = restartCount;
    this.restartsOffset = data.length - (restartCount + 1) * RESTART_BYTES;
    if (data.readUInt32LE(this.restartsOffset) !== 0) this.#corrupt('first restart point is not 0');
    const restarts = new Uint32Array(restartCount);
    let previous = 0;
    for (let i = 1; i < restartCount; i++) {
      const restart = data.readUInt32LE(this.restartsOffset + i * RESTART_BYTES);
      if (restart <= previous || restart >= this.restartsOffset) this.#corrupt(`restart point ${i} out of order or out of bounds`);
      restarts[i] = restart;
      previous = restart;
    }
    this.#restarts = restarts;
  }

  /** The offset of restart point `index` (0 ≤ index < restartCount). */
  restartAt(index: number): number {
    return this.#restarts[index]!;
  }

  /** A new iterator over this block's entries in `comparator` order. */
  iterator(comparator: KeyComparator): BlockIterator {
    return new BlockIterator(this, comparator);
  }

  #corrupt(detail: string): never {
    throw new CorruptionError(this.fileName, this.offset, detail);
  }
}

const SCRATCH_INITIAL_BYTES = 64;

/**
 * An iterator over a block's entries. Unpositioned until a seek. After any method
 * throws `CorruptionError` the iterator is invalid. `key()` returns a fresh copy;
 * `value()` returns a view of the (immutable, possibly cached) block: do not
 * modify it.
 */
export class BlockIterator {
  #block: Block;
  #data: Buffer;
  #restartsOffset: number;
  readonly #comparator: KeyComparator;
  /** Offset of the current entry; `#restartsOffset` when not valid. */
  #current: number;
  /** The restart point at or before `#current`. */
  #restartIndex = 0;
  /** Offset of the entry after the current one. */
  #nextOffset = 0;
  /** The current key is `#key[0, #keyLength)`; the shared prefix of the next key is already in place. */
  #key = Buffer.allocUnsafe(SCRATCH_INITIAL_BYTES);
  #keyLength = 0;
  #keyCopy: Buffer | undefined;
  #valueStart = 0;
  #valueLength = 0;
  /** Scratch for `#readVarint`: the offset after the varint just read. */
  #varintEnd = 0;
  /** What `#decodeHeader` decoded last. */
  #headerShared = 0;
  #headerUnshared = 0;
  #headerValueLength = 0;
  #headerKeyStart = 0;
  /**
   * The entries of one restart interval as the last `prev()` decoded them, so the
   * next `prev()`s restore them instead of decoding the interval again (RocksDB's
   * prev cache): entry `i` starts at `#cached[i * 4]`, the next one at
   * `[i * 4 + 1]`, its value at `[i * 4 + 2]` for `[i * 4 + 3]` bytes; its key is
   * `#cachedKeys[#cachedKeyStarts[i], #cachedKeyStarts[i + 1])`. Empty (count 0)
   * after any move but `prev()`.
   */
  #cached = new Int32Array(4 * 16);
  #cachedKeyStarts = new Int32Array(17);
  #cachedKeys = Buffer.allocUnsafe(16 * SCRATCH_INITIAL_BYTES);
  #cachedCount = 0;
  /** The cached entry the iterator is at. */
  #cachedPosition = 0;

  /** Prefer `block.iterator(comparator)`. */
  constructor(block: Block, comparator: KeyComparator) {
    this.#block = block;
    this.#data = block.data;
    this.#restartsOffset = block.restartsOffset;
    this.#current = block.restartsOffset;
    this.#comparator = comparator;
  }

  /** Points this iterator at another block (unpositioned), reusing its scratch space. */
  reset(block: Block): void {
    this.#cachedCount = 0;
    this.#block = block;
    this.#data = block.data;
    this.#restartsOffset = block.restartsOffset;
    this.#invalidate();
  }

  /** The block being iterated. */
  get block(): Block {
    return this.#block;
  }

  /** Whether the iterator is at an entry. */
  valid(): boolean {
    return this.#current < this.#restartsOffset;
  }

  /** The current key, as a new buffer the caller may keep. Requires `valid`. */
  key(): Buffer {
    assert(this.valid(), 'key() of an invalid block iterator');
    if (this.#keyCopy === undefined) {
      this.#keyCopy = Buffer.allocUnsafe(this.#keyLength);
      this.#key.copy(this.#keyCopy, 0, 0, this.#keyLength);
    }
    return this.#keyCopy;
  }

  /**
   * The current key less its last `trailerBytes`, as a buffer the caller may keep:
   * a view of `key()`'s copy when one was made, else a copy of just those bytes
   * (a scan that hands out user keys need not copy the trailer, then cut it off).
   */
  keyWithout(trailerBytes: number): Buffer {
    assert(this.valid() && this.#keyLength >= trailerBytes, 'keyWithout() of an invalid block iterator');
    const length = this.#keyLength - trailerBytes;
    if (this.#keyCopy !== undefined) return this.#keyCopy.subarray(0, length);
    const copy = Buffer.allocUnsafe(length);
    this.#key.copy(copy, 0, 0, length);
    return copy;
  }

  /**
   * The scratch buffer whose first `keyLength` bytes are the current key, for
   * callers that compare in place. Valid only until the iterator moves.
   */
  rawKey(): Buffer {
    return this.#key;
  }

  /** The length of the current key in `rawKey()`. */
  get keyLength(): number {
    return this.#keyLength;
  }

  /** The current value: a read-only view of the block. Requires `valid`. */
  value(): Buffer {
    assert(this.valid(), 'value() of an invalid block iterator');
    return this.#data.subarray(this.#valueStart, this.#valueStart + this.#valueLength);
  }

  /** Where the current value starts in `block.data`, and its length: for callers that decode it in place. */
  get valueStart(): number {
    return this.#valueStart;
  }

  /** The length of the current value in `block.data`. */
  get valueLength(): number {
    return this.#valueLength;
  }

  /** Moves to the first entry (invalid if the block is empty). */
  seekToFirst(): void {
    this.#cachedCount = 0;
    this.#seekToRestart(0);
    this.#parseNext();
  }

  /** Moves to the last entry (invalid if the block is empty). */
  seekToLast(): void {
    this.#cachedCount = 0;
    this.#seekToRestart(this.#block.restartCount - 1);
    if (!this.#parseNext()) return;
    while (this.#nextOffset < this.#restartsOffset) this.#parseNext();
  }

  /** Moves to the first entry whose key is ≥ `target`, or becomes invalid if none is. */
  seek(target: Buffer): void {
    this.#cachedCount = 0;
    // Binary search for the last restart point whose key is < target, then scan.
    let left = 0;
    let right = this.#block.restartCount - 1;
    while (left < right) {
      const mid = (left + right + 1) >>> 1;
      if (this.#compareRestartKey(mid, target) < 0) left = mid;
      else right = mid - 1;
    }
    this.#seekToRestart(left);
    const comparator = this.#comparator;
    while (this.#parseNext()) {
      if (comparator.compare(this.#key, 0, this.#keyLength, target) >= 0) return;
    }
  }

  /** Moves to the next entry. Requires `valid`. */
  next(): void {
    assert(this.valid(), 'next() of an invalid block iterator');
    this.#cachedCount = 0;
    this.#parseNext();
  }

  /**
   * Moves to the previous entry (invalid before the first). Requires `valid`.
   * Entries decode only forwards, so this rescans from the restart point before
   * the current entry, remembering the interval's entries: the `prev()`s that
   * follow within it restore them without decoding.
   */
  prev(): void {
    assert(this.valid(), 'prev() of an invalid block iterator');
    if (this.#cachedCount > 0 && this.#cachedPosition > 0) {
      this.#restoreCached(--this.#cachedPosition);
      return;
    }
    const original = this.#current;
    while (this.#block.restartAt(this.#restartIndex) >= original) {
      if (this.#restartIndex === 0) {
        this.#invalidate();
        return;
      }
      this.#restartIndex--;
    }
    this.#seekToRestart(this.#restartIndex);
    this.#cachedCount = 0;
    do {
      const moved = this.#parseNext();
      // Invariant: every entry before `original` decoded before, so it decodes again.
      assert(moved, 'entry before the current one vanished');
      this.#cacheCurrent();
    } while (this.#nextOffset < original);
    this.#cachedPosition = this.#cachedCount - 1;
  }

  /** Appends the current entry to the prev cache. */
  #cacheCurrent(): void {
    const index = this.#cachedCount;
    if ((index + 1) * 4 > this.#cached.length) {
      const grown = new Int32Array(this.#cached.length * 2);
      grown.set(this.#cached);
      this.#cached = grown;
      const starts = new Int32Array(this.#cachedKeyStarts.length * 2);
      starts.set(this.#cachedKeyStarts);
      this.#cachedKeyStarts = starts;
    }
    const cached = this.#cached;
    cached[index * 4] = this.#current;
    cached[index * 4 + 1] = this.#nextOffset;
    cached[index * 4 + 2] = this.#valueStart;
    cached[index * 4 + 3] = this.#valueLength;
    const keyStart = index === 0 ? 0 : this.#cachedKeyStarts[index]!;
    const keyEnd = keyStart + this.#keyLength;
    if (keyEnd > this.#cachedKeys.length) {
      const grown = Buffer.allocUnsafe(Math.max(keyEnd, this.#cachedKeys.length * 2));
      this.#cachedKeys.copy(grown, 0, 0, keyStart);
      this.#cachedKeys = grown;
    }
    copyBytes(this.#key, 0, this.#keyLength, this.#cachedKeys, keyStart);
    this.#cachedKeyStarts[index] = keyStart;
    this.#cachedKeyStarts[index + 1] = keyEnd;
    this.#cachedCount = index + 1;
  }

  /** Makes cached entry `index` (of the current restart interval) the current one. */
  #restoreCached(index: number): void {
    const cached = this.#cached;
    const keyStart = this.#cachedKeyStarts[index]!;
    const keyLength = this.#cachedKeyStarts[index + 1]! - keyStart;
    if (keyLength > this.#key.length) this.#growKey(keyLength, 0);
    copyBytes(this.#cachedKeys, keyStart, keyStart + keyLength, this.#key, 0);
    this.#keyLength = keyLength;
    this.#keyCopy = undefined;
    this.#current = cached[index * 4]!;
    this.#nextOffset = cached[index * 4 + 1]!;
    this.#valueStart = cached[index * 4 + 2]!;
    this.#valueLength = cached[index * 4 + 3]!;
  }

  #invalidate(): void {
    this.#cachedCount = 0;
    this.#current = this.#restartsOffset;
    this.#restartIndex = this.#block.restartCount;
    this.#nextOffset = this.#restartsOffset;
    this.#keyLength = 0;
    this.#keyCopy = undefined;
  }

  #seekToRestart(index: number): void {
    this.#keyLength = 0;
    this.#restartIndex = index;
    this.#nextOffset = this.#block.restartAt(index);
    this.#current = this.#restartsOffset;
  }

  /** Decodes the entry at `#nextOffset`; false (and invalid) at the end of the entries. */
  #parseNext(): boolean {
    this.#keyCopy = undefined;
    const offset = this.#nextOffset;
    if (offset >= this.#restartsOffset) {
      this.#invalidate();
      return false;
    }
    this.#current = this.#restartsOffset; // invalid until the entry decodes
    const data = this.#data;
    const limit = this.#restartsOffset;
    this.#decodeHeader(offset, limit);
    const shared = this.#headerShared;
    const unshared = this.#headerUnshared;
    const valueLength = this.#headerValueLength;
    const keyStart = this.#headerKeyStart;
    if (shared > this.#keyLength) this.#corrupt(offset, `entry shares ${shared} bytes with a ${this.#keyLength}-byte previous key`);
    const keyEnd = keyStart + unshared;
    if (keyEnd > limit || valueLength > limit - keyEnd) this.#corrupt(offset, 'entry runs past the end of the block');
    const keyLength = shared + unshared;
    if (keyLength < this.#comparator.keyBytesMin) this.#corrupt(offset, `key of ${keyLength} bytes is too short`);
    if (keyLength > this.#key.length) this.#growKey(keyLength, shared);
    copyBytes(data, keyStart, keyEnd, this.#key, shared);
    this.#keyLength = keyLength;
    this.#valueStart = keyEnd;
    this.#valueLength = valueLength;
    this.#nextOffset = keyEnd + valueLength;
    this.#current = offset;
    const restartCount = this.#block.restartCount;
    while (this.#restartIndex + 1 < restartCount && this.#block.restartAt(this.#restartIndex + 1) <= offset) this.#restartIndex++;
    return true;
  }

  /** Compares the key of restart point `index` (stored whole: shared = 0) with `target`. */
  #compareRestartKey(index: number, target: Buffer): number {
    const data = this.#data;
    const limit = this.#restartsOffset;
    const offset = this.#block.restartAt(index);
    this.#decodeHeader(offset, limit);
    const shared = this.#headerShared;
    const unshared = this.#headerUnshared;
    const valueLength = this.#headerValueLength;
    const keyStart = this.#headerKeyStart;
    if (shared !== 0) this.#corrupt(offset, 'restart entry shares a prefix');
    const keyEnd = keyStart + unshared;
    if (keyEnd > limit || valueLength > limit - keyEnd) this.#corrupt(offset, 'entry runs past the end of the block');
    if (unshared < this.#comparator.keyBytesMin) this.#corrupt(offset, `key of ${unshared} bytes is too short`);
    return this.#comparator.compare(data, keyStart, keyEnd, target);
  }

  /**
   * Decodes the entry header at `offset` (shared, unshared and value lengths) into
   * the `#header*` fields, with the key's first byte at `#headerKeyStart`. Fields,
   * not a returned object: this runs once per entry on every scan and seek.
   */
  #decodeHeader(offset: number, limit: number): void {
    const data = this.#data;
    // Fast path: three one-byte varints, as for every short key and value.
    if (offset + 3 <= limit && (data[offset]! | data[offset + 1]! | data[offset + 2]!) < 0x80) {
      this.#headerShared = data[offset]!;
      this.#headerUnshared = data[offset + 1]!;
      this.#headerValueLength = data[offset + 2]!;
      this.#headerKeyStart = offset + 3;
      return;
    }
    this.#headerShared = this.#readVarint(offset, limit);
    this.#headerUnshared = this.#readVarint(this.#varintEnd, limit);
    this.#headerValueLength = this.#readVarint(this.#varintEnd, limit);
    this.#headerKeyStart = this.#varintEnd;
  }

  /** Reads a varint32 at `offset` below `limit`; the offset after it goes to `#varintEnd`. */
  #readVarint(offset: number, limit: number): number {
    const data = this.#data;
    let value = 0;
    let multiplier = 1;
    for (let i = 0; i < 5; i++) {
      if (offset >= limit) break;
      const byte = data[offset++]!;
      value += (byte & 0x7f) * multiplier;
      if (byte < 0x80) {
        if (value > 0xffff_ffff) break;
        this.#varintEnd = offset;
        return value;
      }
      multiplier *= 0x80;
    }
    return this.#corrupt(offset, 'bad varint in entry header');
  }

  #growKey(keyLength: number, shared: number): void {
    const grown = Buffer.allocUnsafe(Math.max(keyLength, this.#key.length * 2));
    this.#key.copy(grown, 0, 0, shared);
    this.#key = grown;
  }

  #corrupt(entryOffset: number, detail: string): never {
    this.#invalidate();
    throw new CorruptionError(this.#block.fileName, this.#block.offset, `${detail} (entry at block offset ${entryOffset})`);
  }
}
