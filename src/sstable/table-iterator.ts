/**
 * The two-level iterator over a whole table (docs/format.md, "SSTable: index
 * block"): an iterator over the index block picks a data block, an iterator over
 * that data block walks its entries, and stepping off either end of a data block
 * moves the index iterator and loads the neighbour.
 */
import assert from '../util/assert.js';
import { CorruptionError } from '../errors.js';
import type { InternalIterator } from '../iterator/internal-iterator.js';
import { EntryType, INTERNAL_KEY_TRAILER_BYTES, readTrailerSeq, writeTrailer } from '../keys.js';
import { EXPIRY_BYTES } from '../util/expiring-value.js';
import { decodeBlockHandle, type BlockHandle } from './block-handle.js';
import type { Block, BlockIterator } from './block-reader.js';
import { compareBytes } from './byte-ranges.js';
import { internalKeyComparator } from './comparator.js';

/** What a `TableIterator` needs from its table: the index block and a way to load data blocks. */
export interface DataBlockSource {
  readonly fileName: string;
  readonly indexBlock: Block;
  /** The decoded data block at `handle` (checked, possibly from the block cache). */
  dataBlock(handle: BlockHandle): Block;
}

/**
 * A seek target's type byte: above every real type, so that `(userKey, seq, 0xff)`
 * sorts before every entry of `userKey` with a sequence ≤ seq.
 */
export const SEEK_TYPE = 0xff;

/**
 * An iterator over every entry of a table in internal-key order; the table's
 * `InternalIterator`. Unpositioned until a seek. `key()` and `userKey()` return
 * buffers the caller may keep (copied once per position); `value()` is a
 * read-only view of an immutable block. A damaged block makes the moving call
 * throw `CorruptionError` (naming the file and the block's offset) and leaves
 * the iterator invalid. Holds no resources beyond memory: `close()` only drops
 * its blocks.
 */
export class TableIterator implements InternalIterator {
  readonly #source: DataBlockSource;
  readonly #index: BlockIterator;
  #data: BlockIterator | undefined;
  /** The offset of the block `#data` iterates; -1 when no block is loaded. */
  #dataOffset = -1;
  /** The user key of the current position; reset on every move. */
  #userKey: Buffer | undefined;
  readonly #userKeyCopies: boolean;

  /**
   * Prefer `TableReader.iterator()`. With `userKeyCopies` the iterator serves a
   * reader of user keys (a DB iterator): `userKey()` copies only the user key,
   * and `key()` costs a copy of its own. Without it (compaction, which writes
   * internal keys) `userKey()` is a view of `key()`'s one copy.
   */
  constructor(source: DataBlockSource, userKeyCopies = false) {
    this.#source = source;
    this.#userKeyCopies = userKeyCopies;
    this.#index = source.indexBlock.iterator(internalKeyComparator);
  }

  /** Whether the iterator is at an entry. */
  valid(): boolean {
    return this.#dataOffset >= 0 && this.#data!.valid();
  }

  /** Moves to the first entry of the table. */
  seekToFirst(): void {
    this.#unposition();
    this.#index.seekToFirst();
    if (this.#loadBlock()) this.#data!.seekToFirst();
    this.#skipEmptyBlocksForward();
  }

  /** Moves to the last entry of the table. */
  seekToLast(): void {
    this.#unposition();
    this.#index.seekToLast();
    if (this.#loadBlock()) this.#data!.seekToLast();
    this.#skipEmptyBlocksBackward();
  }

  /** Moves to the first entry at or after (userKey, seq): a greater user key, or the same with a sequence ≤ seq. */
  seek(userKey: Buffer, seq: number): void {
    this.seekInternalKey(seekTarget(userKey, seq));
  }

  /** Moves to the last entry at or before (userKey, seq): a smaller user key, or the same with a sequence ≥ seq. */
  seekForPrev(userKey: Buffer, seq: number): void {
    this.seek(userKey, seq);
    if (!this.valid()) {
      this.seekToLast();
      return;
    }
    // The entry found is at or after the target; keep it only if it is the target itself.
    if (this.#isAt(userKey, seq)) return;
    this.prev();
  }

  /** Moves to the first entry whose internal key is ≥ `target` (an encoded internal key), or becomes invalid. */
  seekInternalKey(target: Buffer): void {
    assert(target.length >= INTERNAL_KEY_TRAILER_BYTES, 'seek target is not an internal key');
    this.#unposition();
    this.#index.seek(target);
    if (this.#loadBlock()) this.#data!.seek(target);
    this.#skipEmptyBlocksForward();
  }

  /** Moves to the next entry. Requires `valid()`. */
  next(): void {
    assert(this.valid(), 'next() of an invalid table iterator');
    this.#userKey = undefined;
    this.#data!.next();
    this.#skipEmptyBlocksForward();
  }

  /** Moves to the previous entry. Requires `valid()`. */
  prev(): void {
    assert(this.valid(), 'prev() of an invalid table iterator');
    this.#userKey = undefined;
    this.#data!.prev();
    this.#skipEmptyBlocksBackward();
  }

  /** The current internal key (`userKey ‖ u64le(seq << 8 | type)`): a buffer the caller may keep. Requires `valid()`. */
  key(): Buffer {
    assert(this.valid(), 'key() of an invalid table iterator');
    return this.#data!.key();
  }

  /** The same as `key()`. */
  internalKey(): Buffer {
    return this.key();
  }

  /**
   * The current user key, unchanged when the iterator moves. With `userKeyCopies`
   * a copy of the user key alone (or a view of `key()`'s copy if that was taken
   * first), else always a view of `key()`. Requires `valid()`.
   */
  userKey(): Buffer {
    if (this.#userKey === undefined) {
      if (this.#userKeyCopies) {
        assert(this.valid(), 'userKey() of an invalid table iterator');
        this.#userKey = this.#data!.keyWithout(INTERNAL_KEY_TRAILER_BYTES);
      } else {
        const key = this.key();
        this.#userKey = key.subarray(0, key.length - INTERNAL_KEY_TRAILER_BYTES);
      }
    }
    return this.#userKey;
  }

  /** The current entry's sequence number. Requires `valid()`. */
  seq(): number {
    assert(this.valid(), 'seq() of an invalid table iterator');
    const data = this.#data!;
    const seq = readTrailerSeq(data.rawKey(), data.keyLength - INTERNAL_KEY_TRAILER_BYTES);
    if (seq < 0) throw new CorruptionError(this.#source.fileName, this.#dataOffset, 'sequence number beyond 2^53 - 1');
    return seq;
  }

  /** The current entry's type: PUT, DELETE or PUT_EXPIRING (whose value is then checked to hold its expiry time). Requires `valid()`. */
  type(): EntryType {
    assert(this.valid(), 'type() of an invalid table iterator');
    const data = this.#data!;
    const type = data.rawKey()[data.keyLength - INTERNAL_KEY_TRAILER_BYTES]!;
    if (type === EntryType.PUT || type === EntryType.DELETE) return type;
    if (type !== EntryType.PUT_EXPIRING) throw new CorruptionError(this.#source.fileName, this.#dataOffset, `unknown entry type ${type}`);
    if (data.value().length < EXPIRY_BYTES) throw new CorruptionError(this.#source.fileName, this.#dataOffset, 'an expiring entry without its expiry time');
    return type;
  }

  /** The current value: a read-only view of an immutable block; copy it to modify it. Requires `valid()`. */
  value(): Buffer {
    assert(this.valid(), 'value() of an invalid table iterator');
    return this.#data!.value();
  }

  /**
   * The scratch buffer whose first `rawKeyLength` bytes are the current internal
   * key, for a caller that compares and copies it in place (the compaction merge).
   * Valid only until the iterator moves. Requires `valid()`.
   */
  rawKey(): Buffer {
    return this.#data!.rawKey();
  }

  /** The length of the current internal key in `rawKey()`. */
  get rawKeyLength(): number {
    return this.#data!.keyLength;
  }

  /** The current data block's bytes: the value lies at [`valueStart`, `valueStart + valueLength`). */
  blockData(): Buffer {
    return this.#data!.block.data;
  }

  /** Where the current value starts in `blockData()`. */
  get valueStart(): number {
    return this.#data!.valueStart;
  }

  /** The length of the current value. */
  get valueLength(): number {
    return this.#data!.valueLength;
  }

  /** Drops the current block and leaves the iterator unpositioned. Idempotent; the iterator may be reused after a seek. */
  close(): void {
    this.#data = undefined;
    this.#dataOffset = -1;
    this.#userKey = undefined;
  }

  /**
   * Whether the current entry is (userKey, seq), read from the raw key without
   * `seq()`: a damaged sequence number never equals a real one, so such an entry
   * is simply not the target (it is reported when it is read), rather than an
   * error thrown with the iterator left on it.
   */
  #isAt(userKey: Buffer, seq: number): boolean {
    const data = this.#data!;
    const key = data.rawKey();
    const userKeyLength = data.keyLength - INTERNAL_KEY_TRAILER_BYTES;
    return readTrailerSeq(key, userKeyLength) === seq && compareBytes(key, 0, userKeyLength, userKey, 0, userKey.length) === 0;
  }

  /**
   * Leaves the iterator invalid before a seek moves the index: a damaged index
   * block makes the index move throw, and the iterator must not then still report
   * its old entry. The loaded block stays, so a seek within it need not reload it.
   */
  #unposition(): void {
    this.#userKey = undefined;
    this.#data?.reset(this.#data.block);
  }

  /** Loads the block the index iterator points at; false (and invalid) when it points nowhere. */
  #loadBlock(): boolean {
    if (!this.#index.valid()) {
      this.#dataOffset = -1;
      return false;
    }
    const index = this.#index;
    const indexBlock = index.block;
    const start = index.valueStart;
    const loadedOffset = this.#dataOffset;
    this.#dataOffset = -1; // stays invalid if decoding or loading throws
    const handle = decodeBlockHandle(indexBlock.data, start, start + index.valueLength, this.#source.fileName, indexBlock.offset);
    if (handle.offset === loadedOffset) {
      this.#dataOffset = loadedOffset;
      return true;
    }
    const block = this.#source.dataBlock(handle);
    if (this.#data === undefined) this.#data = block.iterator(internalKeyComparator);
    else this.#data.reset(block);
    this.#dataOffset = handle.offset;
    return true;
  }

  #skipEmptyBlocksForward(): void {
    while (this.#dataOffset >= 0 && !this.#data!.valid()) {
      this.#index.next();
      if (this.#loadBlock()) this.#data!.seekToFirst();
    }
  }

  #skipEmptyBlocksBackward(): void {
    while (this.#dataOffset >= 0 && !this.#data!.valid()) {
      this.#index.prev();
      if (this.#loadBlock()) this.#data!.seekToLast();
    }
  }
}

/** Encodes the seek target `userKey ‖ u64le(seq << 8 | 0xff)`. */
export function seekTarget(userKey: Uint8Array, seq: number): Buffer {
  assert(Number.isSafeInteger(seq) && seq >= 0, 'seek sequence must be a non-negative safe integer');
  const target = Buffer.allocUnsafe(userKey.length + INTERNAL_KEY_TRAILER_BYTES);
  target.set(userKey, 0);
  writeTrailer(target, userKey.length, seq, SEEK_TYPE);
  return target;
}
