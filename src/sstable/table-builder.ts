/**
 * Writes a table file from entries in internal-key order (docs/format.md,
 * "SSTable"): data blocks, then the filter, properties and index blocks, then
 * the footer.
 *
 * `add()` is synchronous: it encodes into the current data block and, when a
 * block fills, seals it (compression, trailer) into an in-memory write buffer.
 * Each full 64 KiB of sealed blocks is handed to one `append()`, chained behind
 * the previous one so the file grows in order. The index entry for a block is
 * written only when the next block's first key is known, so that it can be a
 * short separator rather than a whole key.
 */
import assert from '../util/assert.js';
import { readUint64, standaloneCopy } from '../util/coding.js';
import { ioError } from '../errors.js';
import type { WritableFile } from '../fs/file-system.js';
import { EntryType, INTERNAL_KEY_TRAILER_BYTES, compareInternalKeys, readTrailerSeq } from '../keys.js';
import { BlockBuilder } from './block-builder.js';
import { encodeBlockHandle, type BlockHandle } from './block-handle.js';
import { compressForSeal, writeSealed } from './block-trailer.js';
import { BLOOM_BITS_PER_KEY_DEFAULT, bloomHash, buildBloomFilter } from './bloom-filter.js';
import { compareBytes, copyBytes } from './byte-ranges.js';
import { compareInternalRanges } from './comparator.js';
import { encodeFooter } from './footer.js';
import { BLOCK_TRAILER_BYTES, INDEX_RESTART_INTERVAL, type CompressionName } from './format.js';
import { encodeProperties, tableFormatVersionFor } from './properties.js';
import { shortSuccessor, shortestSeparator } from './separator.js';

/** How a `TableBuilder` lays out its table. */
export interface TableBuilderOptions {
  /** A data block is cut once its entries reach this size (before compression). Default 4096. */
  blockSizeBytes?: number;
  /** Entries between restart points in data blocks. Default 16. */
  restartInterval?: number;
  /** Bloom filter bits per user key; 0 writes no filter block. Default 10 (about 1% false positives). */
  bloomBitsPerKey?: number;
  /** Compression for data and index blocks. Default 'snappy'. */
  compression?: CompressionName;
  /**
   * Also add the first N bytes of each user key longer than N to the filter (a
   * prefix filter: docs/format.md, "SSTable: filter block"); 0, the default, adds
   * none. Ignored without a filter (`bloomBitsPerKey` 0).
   */
  bloomPrefixBytes?: number;
}

/** What `finish()` writes beside the data blocks. */
export interface TableFinishExtras {
  /**
   * The range-del block's contents (its encoding is the range-del block's own:
   * docs/format.md) and how many range tombstones it holds (≥ 1). The block is
   * written after the data blocks, uncompressed, and makes the table version 3.
   */
  readonly rangeDelBlock?: {
    readonly contents: Buffer;
    readonly count: number;
    /**
     * The internal keys bounding the tombstones: the table's key bounds are widened
     * to them (docs/internals.md, "Range deletes"), and so are its sequence bounds.
     */
    readonly smallestKey: Buffer;
    readonly largestKey: Buffer;
    readonly smallestSeq: number;
    readonly largestSeq: number;
  };
}

/** What a finished table holds: the caller records it (e.g. in a version edit). */
export interface TableMeta {
  /** The length of the file `finish()` wrote. */
  readonly fileSizeBytes: number;
  readonly entryCount: number;
  readonly tombstoneCount: number;
  /** The first and last internal keys of the table. */
  readonly smallestKey: Buffer;
  readonly largestKey: Buffer;
  readonly smallestSeq: number;
  readonly largestSeq: number;
  /** PUT_EXPIRING entries, and the earliest expiry among them (0 when none), as the properties record them. */
  readonly expiringEntryCount: number;
  readonly expiryMinMs: number;
}

/** The options a `TableBuilder` uses for what the caller leaves out. */
export const TABLE_BUILDER_DEFAULTS = {
  blockSizeBytes: 4096,
  restartInterval: 16,
  bloomBitsPerKey: BLOOM_BITS_PER_KEY_DEFAULT,
  compression: 'snappy',
  bloomPrefixBytes: 0,
} as const satisfies Required<TableBuilderOptions>;

/** Sealed blocks are gathered into appends of at least this size. */
export const TABLE_WRITE_CHUNK_BYTES = 64 * 1024;

/** Past this many unwritten bytes `flushAdvised` turns true: the caller should `await flush()`. */
export const TABLE_FLUSH_ADVISED_BYTES = 1024 * 1024;

/**
 * The bound on unwritten bytes. `add()` cannot wait, so a caller that never
 * flushes would hold the whole table in memory; past this bound that is a bug
 * and `add()` asserts.
 */
export const TABLE_BUFFERED_BYTES_MAX = 64 * 1024 * 1024;

const BLOOM_BITS_PER_KEY_MAX = 64;

/**
 * Builds one table into `file`, which must be empty. Call `add()` for each entry
 * in strictly increasing internal-key order, then `finish()` (or `abandon()`).
 * `finish()` does not sync the file: the caller syncs, closes, and makes the file
 * name durable.
 */
export class TableBuilder {
  readonly #file: WritableFile;
  readonly #blockSizeBytes: number;
  readonly #restartInterval: number;
  readonly #bloomBitsPerKey: number;
  readonly #compression: CompressionName;
  /** The prefix length the filter holds; 0 without a filter. */
  readonly #bloomPrefixBytes: number;
  readonly #dataBlock: BlockBuilder;
  readonly #indexBlock = new BlockBuilder(INDEX_RESTART_INTERVAL);
  /** The handle of the last data block, waiting for the next key to pick its index key. */
  #pendingHandle: BlockHandle | undefined;
  #lastKey = Buffer.allocUnsafe(64);
  #lastKeyLength = 0;
  #smallestKey: Buffer | undefined;
  #filterHashes = new Uint32Array(256);
  #filterHashCount = 0;
  #entryCount = 0;
  #tombstoneCount = 0;
  #expiringEntryCount = 0;
  #expiryMinMs = 0;
  #rawKeyBytes = 0;
  #rawValueBytes = 0;
  #smallestSeq = Number.MAX_SAFE_INTEGER;
  #largestSeq = 0;
  #dataBlockCount = 0;
  /** The file offset of the next sealed block: everything sealed so far, written or not. */
  #offset = 0;
  /** Sealed blocks not yet handed to a write, in `#chunk[0, #chunkLength)`; blocks are sealed straight into it. */
  #chunk: Buffer | undefined;
  #chunkLength = 0;
  /** Chunks handed to the write loop, in file order. */
  #queued: Buffer[] = [];
  #queuedBytes = 0;
  #writeLoop: Promise<void> | undefined;
  #writeError: unknown;
  #state: 'building' | 'finishing' | 'finished' | 'abandoned' = 'building';

  /** @param file an empty file opened for appending; the builder never closes it. */
  constructor(file: WritableFile, options: TableBuilderOptions = {}) {
    assert.equal(file.size, 0, 'a table is built into an empty file');
    this.#file = file;
    this.#blockSizeBytes = options.blockSizeBytes ?? TABLE_BUILDER_DEFAULTS.blockSizeBytes;
    this.#restartInterval = options.restartInterval ?? TABLE_BUILDER_DEFAULTS.restartInterval;
    this.#bloomBitsPerKey = options.bloomBitsPerKey ?? TABLE_BUILDER_DEFAULTS.bloomBitsPerKey;
    this.#compression = options.compression ?? TABLE_BUILDER_DEFAULTS.compression;
    const bloomPrefixBytes = options.bloomPrefixBytes ?? TABLE_BUILDER_DEFAULTS.bloomPrefixBytes;
    assert(Number.isSafeInteger(bloomPrefixBytes) && bloomPrefixBytes >= 0, 'bloomPrefixBytes must be an integer ≥ 0');
    this.#bloomPrefixBytes = this.#bloomBitsPerKey > 0 ? bloomPrefixBytes : 0;
    assert(Number.isSafeInteger(this.#blockSizeBytes) && this.#blockSizeBytes >= 1, 'blockSizeBytes must be an integer ≥ 1');
    assert(Number.isSafeInteger(this.#restartInterval) && this.#restartInterval >= 1, 'restartInterval must be an integer ≥ 1');
    assert(Number.isSafeInteger(this.#bloomBitsPerKey), 'bloomBitsPerKey must be an integer');
    assert(this.#bloomBitsPerKey >= 0 && this.#bloomBitsPerKey <= BLOOM_BITS_PER_KEY_MAX, 'bloomBitsPerKey out of range');
    assert(this.#compression === 'snappy' || this.#compression === 'none', 'compression must be snappy or none');
    this.#dataBlock = new BlockBuilder(this.#restartInterval);
  }

  /** Entries added so far. */
  get entryCount(): number {
    return this.#entryCount;
  }

  /**
   * The size of the file if it were finished now, less the filter, properties and
   * index blocks: what compaction compares against its target file size.
   */
  get approximateSizeBytes(): number {
    return this.#offset + (this.#dataBlock.empty ? 0 : this.#dataBlock.estimatedSizeBytes);
  }

  /**
   * Sealed bytes held in memory, not yet written. Writes proceed in the background
   * whenever the caller yields to the event loop.
   */
  get bufferedBytes(): number {
    return this.#chunkLength + this.#queuedBytes;
  }

  /**
   * Whether the caller should `await flush()` before adding more: `add()` never
   * waits, and a caller adding in a loop without yielding would otherwise buffer
   * up to `TABLE_BUFFERED_BYTES_MAX`, where `add()` asserts.
   */
  get flushAdvised(): boolean {
    return this.bufferedBytes >= TABLE_FLUSH_ADVISED_BYTES;
  }

  /**
   * Adds an entry. `internalKey` (`userKey ‖ u64le(seq << 8 | type)`) must sort
   * strictly after the previous one. Both buffers are copied; the caller may reuse
   * them. Throws the write error if an earlier background write failed.
   */
  add(internalKey: Buffer, value: Uint8Array): void {
    this.addEntry(internalKey, internalKey.length, value, 0, value.length);
  }

  /**
   * `add()` of the internal key `key[0, keyLength)` and the value
   * `valueSource[valueStart, valueStart + valueLength)`: for a merge that reads
   * entries where they lie (an iterator's scratch key, a block's value bytes).
   */
  addEntry(key: Buffer, keyLength: number, valueSource: Uint8Array, valueStart: number, valueLength: number): void {
    assert.equal(this.#state, 'building', 'add() after finish() or abandon()');
    if (this.#writeError !== undefined) throw this.#writeError;
    assert(this.bufferedBytes <= TABLE_BUFFERED_BYTES_MAX, 'table builder buffer over its bound: await flush() when flushAdvised');
    assert(keyLength >= INTERNAL_KEY_TRAILER_BYTES && keyLength <= key.length, 'internal key shorter than its trailer');
    const userKeyLength = keyLength - INTERNAL_KEY_TRAILER_BYTES;
    const type = key[userKeyLength]!;
    const seq = readTrailerSeq(key, userKeyLength);
    if (type !== EntryType.PUT && type !== EntryType.DELETE && type !== EntryType.PUT_EXPIRING) assert.fail(`unknown entry type ${type}`);
    assert(seq >= 0, 'sequence number beyond 2^53 - 1');
    if (this.#entryCount > 0) {
      // Invariant: keys arrive strictly increasing, so the table is sorted.
      assert(compareInternalRanges(this.#lastKey, 0, this.#lastKeyLength, key, 0, keyLength) < 0, 'keys must be added in strictly increasing internal-key order');
    }
    if (this.#pendingHandle !== undefined) {
      const separator = shortestSeparator(this.#lastKey.subarray(0, this.#lastKeyLength), key.subarray(0, keyLength));
      this.#indexBlock.add(separator, encodeBlockHandle(this.#pendingHandle));
      this.#pendingHandle = undefined;
    }
    if (this.#bloomBitsPerKey > 0 && !this.#sameUserKeyAsLast(key, userKeyLength)) {
      this.#addFilterHash(bloomHash(key, 0, userKeyLength));
      const prefixBytes = this.#bloomPrefixBytes;
      // A key of N bytes or fewer is its own prefix, in the filter already; a prefix
      // shared with the key before is in it too (keys arrive sorted, so they are neighbours).
      if (prefixBytes > 0 && userKeyLength > prefixBytes && !this.#samePrefixAsLast(key, prefixBytes)) {
        this.#addFilterHash(bloomHash(key, 0, prefixBytes));
      }
    }
    this.#dataBlock.addEntry(key, keyLength, valueSource, valueStart, valueLength);
    // The table's bounds live as long as the table and cross threads: buffers of their own (coding.ts).
    if (this.#entryCount === 0) this.#smallestKey = standaloneCopy(key.subarray(0, keyLength));
    this.#entryCount++;
    if (type === EntryType.DELETE) this.#tombstoneCount++;
    else if (type === EntryType.PUT_EXPIRING) this.#noteExpiry(valueSource, valueStart, valueLength);
    this.#rawKeyBytes += keyLength;
    this.#rawValueBytes += valueLength;
    if (seq < this.#smallestSeq) this.#smallestSeq = seq;
    if (seq > this.#largestSeq) this.#largestSeq = seq;
    this.#rememberLastKey(key, keyLength);
    if (this.#dataBlock.estimatedSizeBytes >= this.#blockSizeBytes) this.#finishDataBlock();
  }

  /** Counts an expiring entry, whose value starts with its expiry time: `expiresAtMs u64le ‖ value`. */
  #noteExpiry(valueSource: Uint8Array, valueStart: number, valueLength: number): void {
    assert(valueLength >= 8, 'an expiring entry starts with its 8-byte expiry time');
    const view = Buffer.from(valueSource.buffer, valueSource.byteOffset + valueStart, 8);
    const expiresAtMs = readUint64(view, 0);
    assert(expiresAtMs >= 0, 'expiry time beyond 2^53 - 1');
    if (this.#expiringEntryCount === 0 || expiresAtMs < this.#expiryMinMs) this.#expiryMinMs = expiresAtMs;
    this.#expiringEntryCount++;
  }

  /** Waits until every sealed block is written; throws the first write error. */
  async flush(): Promise<void> {
    this.#cutChunk();
    while (this.#writeLoop !== undefined) await this.#writeLoop;
    if (this.#writeError !== undefined) throw this.#writeError;
  }

  /**
   * Writes the last data block, the filter, properties and index blocks and the
   * footer, waits for every write, and describes the table. Does not sync. The
   * table must hold at least one entry (abandon an empty one).
   */
  async finish(extras: TableFinishExtras = {}): Promise<TableMeta> {
    assert.equal(this.#state, 'building', 'finish() after finish() or abandon()');
    const rangeDel = extras.rangeDelBlock;
    assert(this.#entryCount > 0 || rangeDel !== undefined, 'finish() of an empty table; abandon() it instead');
    this.#state = 'finishing';
    if (!this.#dataBlock.empty) this.#finishDataBlock();
    let lastKey = standaloneCopy(this.#lastKey.subarray(0, this.#lastKeyLength));
    if (this.#pendingHandle !== undefined) {
      this.#indexBlock.add(shortSuccessor(lastKey), encodeBlockHandle(this.#pendingHandle));
      this.#pendingHandle = undefined;
    }
    assert(rangeDel === undefined || rangeDel.count >= 1, 'a range-del block holds at least one tombstone');
    let smallestKey = this.#smallestKey;
    if (rangeDel !== undefined) {
      // The table's bounds cover its tombstones as well as its entries.
      if (smallestKey === undefined || compareInternalKeys(rangeDel.smallestKey, smallestKey) < 0) smallestKey = rangeDel.smallestKey;
      if (this.#entryCount === 0 || compareInternalKeys(rangeDel.largestKey, lastKey) > 0) lastKey = rangeDel.largestKey;
      this.#smallestSeq = Math.min(this.#smallestSeq, rangeDel.smallestSeq);
      this.#largestSeq = Math.max(this.#largestSeq, rangeDel.largestSeq);
    }
    const rangeDelHandle = rangeDel === undefined ? undefined : this.#seal(rangeDel.contents, 'none');
    const filterHandle =
      this.#bloomBitsPerKey > 0 ? this.#seal(buildBloomFilter(this.#filterHashes, this.#filterHashCount, this.#bloomBitsPerKey), 'none') : undefined;
    assert(smallestKey !== undefined);
    const properties = {
      entryCount: this.#entryCount,
      tombstoneCount: this.#tombstoneCount,
      rawKeyBytes: this.#rawKeyBytes,
      rawValueBytes: this.#rawValueBytes,
      dataBlockCount: this.#dataBlockCount,
      smallestSeq: this.#smallestSeq,
      largestSeq: this.#largestSeq,
      smallestKey,
      largestKey: lastKey,
      blockSizeBytes: this.#blockSizeBytes,
      restartInterval: this.#restartInterval,
      bloomBitsPerKey: this.#bloomBitsPerKey,
      compression: this.#compression,
      bloomPrefixBytes: this.#bloomPrefixBytes,
      rangeDelBlock: rangeDelHandle,
      rangeDeletionCount: rangeDel?.count ?? 0,
      expiringEntryCount: this.#expiringEntryCount,
      expiryMinMs: this.#expiryMinMs,
    };
    const formatVersion = tableFormatVersionFor(properties);
    const propertiesHandle = this.#seal(encodeProperties({ formatVersion, ...properties }), 'none');
    const indexHandle = this.#seal(this.#indexBlock.finish(), this.#compression);
    const footer = encodeFooter({ indexHandle, filterHandle, propertiesHandle, formatVersion });
    this.#push(footer);
    await this.flush();
    // Invariant: the file holds exactly the bytes sealed, in order.
    assert.equal(this.#file.size, this.#offset, 'table file size differs from the bytes written');
    this.#state = 'finished';
    return {
      fileSizeBytes: this.#offset,
      entryCount: this.#entryCount,
      tombstoneCount: this.#tombstoneCount,
      smallestKey,
      largestKey: lastKey,
      smallestSeq: this.#smallestSeq,
      largestSeq: this.#largestSeq,
      expiringEntryCount: this.#expiringEntryCount,
      expiryMinMs: this.#expiryMinMs,
    };
  }

  /**
   * Gives up on the table: buffered blocks are dropped and no more writes start
   * (one already handed to the file may still complete). The caller closes and
   * removes the file.
   */
  abandon(): void {
    assert(this.#state === 'building' || this.#state === 'finishing', 'abandon() after finish()');
    this.#state = 'abandoned';
    this.#chunk = undefined;
    this.#chunkLength = 0;
    this.#queued = [];
    this.#queuedBytes = 0;
  }

  #finishDataBlock(): void {
    const handle = this.#seal(this.#dataBlock.finish(), this.#compression);
    this.#dataBlock.reset();
    this.#dataBlockCount++;
    this.#pendingHandle = handle;
  }

  /** Seals `contents` (copying them) into the write buffer and returns its handle. */
  #seal(contents: Buffer, compression: CompressionName): BlockHandle {
    const sealed = compressForSeal(contents, compression);
    const stored = sealed.contents.length + BLOCK_TRAILER_BYTES;
    const chunk = this.#reserve(stored);
    writeSealed(sealed.contents, sealed.type, chunk, this.#chunkLength);
    const handle = { offset: this.#offset, size: sealed.contents.length };
    this.#appended(stored);
    return handle;
  }

  #push(bytes: Buffer): void {
    this.#reserve(bytes.length).set(bytes, this.#chunkLength);
    this.#appended(bytes.length);
  }

  /**
   * The write buffer, with room for `bytes` more past `#chunkLength`. It is cut
   * once it holds a chunk's worth, so twice that fits every usual block; a larger
   * block grows it.
   */
  #reserve(bytes: number): Buffer {
    const needed = this.#chunkLength + bytes;
    if (this.#chunk === undefined) {
      this.#chunk = Buffer.allocUnsafe(Math.max(2 * TABLE_WRITE_CHUNK_BYTES, needed));
    } else if (needed > this.#chunk.length) {
      const grown = Buffer.allocUnsafe(Math.max(2 * this.#chunk.length, needed));
      this.#chunk.copy(grown, 0, 0, this.#chunkLength);
      this.#chunk = grown;
    }
    return this.#chunk;
  }

  #appended(bytes: number): void {
    this.#chunkLength += bytes;
    this.#offset += bytes;
    if (this.#chunkLength >= TABLE_WRITE_CHUNK_BYTES) this.#cutChunk();
  }

  /** Hands the write buffer to the write loop as one chunk, starting the loop if idle. */
  #cutChunk(): void {
    if (this.#chunkLength === 0) return;
    const chunk = this.#chunk!.subarray(0, this.#chunkLength);
    // The next blocks go into a new buffer: this one belongs to the write until it completes.
    this.#chunk = undefined;
    this.#chunkLength = 0;
    this.#queued.push(chunk);
    this.#queuedBytes += chunk.length;
    if (this.#writeLoop === undefined) this.#writeLoop = this.#writeQueued();
  }

  /** Appends queued chunks one at a time, in order, until the queue is empty or a write fails. */
  async #writeQueued(): Promise<void> {
    // Yield first so that `#writeLoop` is set before the loop can end and clear it.
    await Promise.resolve();
    try {
      while (this.#queued.length > 0 && this.#writeError === undefined) {
        const chunk = this.#queued[0]!;
        let written: number;
        try {
          written = await this.#file.append(chunk);
        } catch (cause) {
          throw ioError('append to table file', cause);
        }
        if (written !== chunk.length) throw ioError('append to table file', new Error(`short write: ${written} of ${chunk.length} bytes`));
        if (this.#state === 'abandoned') return;
        this.#queued.shift();
        this.#queuedBytes -= chunk.length;
      }
    } catch (error) {
      this.#writeError = error;
    } finally {
      this.#writeLoop = undefined;
    }
  }

  #sameUserKeyAsLast(internalKey: Buffer, userKeyLength: number): boolean {
    if (this.#entryCount === 0) return false;
    const lastUserLength = this.#lastKeyLength - INTERNAL_KEY_TRAILER_BYTES;
    return compareBytes(this.#lastKey, 0, lastUserLength, internalKey, 0, userKeyLength) === 0;
  }

  /** Whether the last key added was at least `prefixBytes` long and began with the same `prefixBytes` as `internalKey`. */
  #samePrefixAsLast(internalKey: Buffer, prefixBytes: number): boolean {
    if (this.#entryCount === 0 || this.#lastKeyLength - INTERNAL_KEY_TRAILER_BYTES < prefixBytes) return false;
    return compareBytes(this.#lastKey, 0, prefixBytes, internalKey, 0, prefixBytes) === 0;
  }

  #addFilterHash(hash: number): void {
    if (this.#filterHashCount === this.#filterHashes.length) {
      const grown = new Uint32Array(this.#filterHashes.length * 2);
      grown.set(this.#filterHashes);
      this.#filterHashes = grown;
    }
    this.#filterHashes[this.#filterHashCount++] = hash;
  }

  #rememberLastKey(key: Buffer, keyLength: number): void {
    if (keyLength > this.#lastKey.length) this.#lastKey = Buffer.allocUnsafe(Math.max(keyLength, this.#lastKey.length * 2));
    copyBytes(key, 0, keyLength, this.#lastKey, 0);
    this.#lastKeyLength = keyLength;
  }
}
