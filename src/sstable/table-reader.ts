/**
 * Reads a table file (docs/format.md, "SSTable" and "SSTable: reading"): point
 * lookups through the bloom filter and the index, the two-level iterator, the
 * properties, and a layout dump.
 *
 * `open()` reads and checks the footer and every metadata block (index, filter,
 * properties) — always with checksums, whatever `verifyChecksums` says, since it
 * happens once per table. Data blocks are read on demand, synchronously, through
 * the block cache when there is one. Nothing here is async: a block read from the
 * page cache costs microseconds, and `get()` must not pay an event-loop turn.
 */
import assert from '../util/assert.js';
import { CorruptionError, ioError } from '../errors.js';
import type { RandomAccessFile } from '../fs/file-system.js';
import { EXPIRY_BYTES } from '../util/expiring-value.js';
import { EntryType, INTERNAL_KEY_TRAILER_BYTES, SEQUENCE_MAX, readTrailerSeq, writeTrailer } from '../keys.js';
import type { BlockCache, BlockSlots } from './block-cache.js';
import type { BlockHandle } from './block-handle.js';
import { Block, type BlockIterator } from './block-reader.js';
import { openBlock, type OpenedBlock } from './block-trailer.js';
import { BloomFilter } from './bloom-filter.js';
import { compareBytes, copyBytes } from './byte-ranges.js';
import { internalKeyComparator } from './comparator.js';
import { decodeFooter, type Footer } from './footer.js';
import { BLOCK_TRAILER_BYTES, FOOTER_BYTES } from './format.js';
import { IndexLookup } from './index-lookup.js';
import { decodeProperties, type TableProperties } from './properties.js';
import { SEEK_TYPE, TableIterator, type DataBlockSource } from './table-iterator.js';
import { formatTableLayout } from './table-layout.js';
import { FragmentedTombstones, newerOfEntryAndTombstone } from '../rangedel/fragments.js';
import { decodeRangeDelBlock } from './range-del-block.js';

/** How a `TableReader` reads. */
export interface TableReaderOptions {
  /** Check the CRC of every data block read from the file. Default true. Metadata blocks are always checked. */
  verifyChecksums?: boolean;
  /** The shared cache of decoded data blocks. Default: none (every read goes to the file). */
  blockCache?: BlockCache;
}

/** The newest entry for a user key visible at a snapshot. */
export interface TableGetResult {
  /** PUT, or DELETE: a tombstone, which hides older versions in older tables. */
  readonly type: EntryType;
  /**
   * The value (empty for DELETE): a read-only view of the (immutable, possibly
   * cached) block. It stays valid after later reads; copy it before handing it to
   * anyone who may change it.
   */
  readonly value: Buffer;
  readonly seq: number;
}

/**
 * An open table. Holds the index block, the filter and the properties in memory;
 * reads data blocks from `file` on demand. The caller owns `file`: keep it open
 * while the reader (or any of its iterators) is in use, close it afterwards.
 */
export class TableReader implements DataBlockSource {
  readonly fileName: string;
  readonly fileNumber: number;
  /** What the table records about itself. */
  readonly properties: TableProperties;
  /** The decoded index block (one entry per data block). */
  readonly indexBlock: Block;
  readonly #file: RandomAccessFile;
  readonly #footer: Footer;
  readonly #filter: BloomFilter | undefined;
  readonly #verifyChecksums: boolean;
  readonly #blockCache: BlockCache | undefined;
  /** Data blocks lie in [0, #dataEnd): everything before the first metadata block. */
  readonly #dataEnd: number;
  /** The index decoded for point lookups. */
  readonly #indexLookup: IndexLookup;
  /** This reader's cached data blocks by block index (filled and emptied by the block cache). */
  readonly #blockSlots: BlockSlots = [];
  /** The fragments of the range-del block, decoded at open. */
  readonly #rangeTombstones: FragmentedTombstones;
  /** The data block iterator reused by `get()`, which runs to completion synchronously. */
  #getData: BlockIterator | undefined;

  private constructor(file: RandomAccessFile, fileName: string, fileNumber: number, options: TableReaderOptions, parts: OpenedParts) {
    this.#file = file;
    this.fileName = fileName;
    this.fileNumber = fileNumber;
    this.#verifyChecksums = options.verifyChecksums ?? true;
    this.#blockCache = options.blockCache;
    this.#footer = parts.footer;
    this.indexBlock = parts.indexBlock;
    this.#filter = parts.filter;
    this.properties = parts.properties;
    this.#rangeTombstones = parts.rangeTombstones;
    const { indexHandle, filterHandle, propertiesHandle } = parts.footer;
    const rangeDelOffset = parts.properties.rangeDelBlock?.offset ?? Infinity;
    this.#dataEnd = Math.min(indexHandle.offset, propertiesHandle.offset, filterHandle?.offset ?? Infinity, rangeDelOffset);
    this.#indexLookup = new IndexLookup(parts.indexBlock, this.#dataEnd);
  }

  /**
   * Opens the table in `file` (named `fileName` in errors, `fileNumber` in the
   * block cache). A missing or damaged footer is a `CorruptionError` at the footer
   * offset; a damaged index, filter or properties block is one at that block's
   * offset (every index entry and block handle is decoded and checked here).
   * Synchronous.
   */
  static open(file: RandomAccessFile, fileName: string, fileNumber: number, options: TableReaderOptions = {}): TableReader {
    const fileSize = file.size;
    const footerBytes = fileSize >= FOOTER_BYTES ? readAt(file, fileName, fileSize - FOOTER_BYTES, FOOTER_BYTES) : Buffer.alloc(0);
    const footer = decodeFooter(footerBytes, fileSize, fileName);
    const readMeta = (handle: BlockHandle): Buffer => readStoredBlock(file, fileName, handle, true).contents;
    const indexBlock = new Block(readMeta(footer.indexHandle), fileName, footer.indexHandle.offset);
    const filterHandle = footer.filterHandle;
    const filter = filterHandle === undefined ? undefined : new BloomFilter(readMeta(filterHandle), fileName, filterHandle.offset);
    const propertiesOffset = footer.propertiesHandle.offset;
    const properties = decodeProperties(readMeta(footer.propertiesHandle), footer.formatVersion, fileName, propertiesOffset);
    if ((properties.bloomBitsPerKey > 0) !== (filter !== undefined)) {
      throw new CorruptionError(fileName, propertiesOffset, 'properties and footer disagree on the filter block');
    }
    const rangeDel = properties.rangeDelBlock;
    if (rangeDel !== undefined && rangeDel.offset + rangeDel.size + BLOCK_TRAILER_BYTES > propertiesOffset) {
      throw new CorruptionError(fileName, propertiesOffset, 'the range-del block does not lie before the properties block');
    }
    const rangeTombstones = rangeDel === undefined ? FragmentedTombstones.EMPTY : decodeRangeDelBlock(readMeta(rangeDel), fileName, rangeDel.offset, properties.rangeDeletionCount);
    return new TableReader(file, fileName, fileNumber, options, { footer, indexBlock, filter, properties, rangeTombstones });
  }

  /** The table file's size in bytes. */
  get fileSizeBytes(): number {
    return this.#file.size;
  }

  /**
   * The file offset where entries of `userKey` and later keys begin, from the
   * index alone (no data block is read): the offset of the first data block
   * whose separator is at or after the key, or the end of the data blocks when
   * every entry is before it. `approximateSize` subtracts two of these.
   */
  approximateOffsetOf(userKey: Uint8Array): number {
    const index = this.#indexLookup.find(userKey, SEQUENCE_MAX);
    return index < this.#indexLookup.blockCount ? this.#indexLookup.blockOffset(index) : this.#dataEnd;
  }

  /** The end of the data blocks: what `approximateOffsetOf` answers past the last key. */
  get dataEndOffset(): number {
    return this.#dataEnd;
  }

  /** False when the table certainly holds no entry for `userKey` (bloom filter); true when it may. */
  mayContain(userKey: Uint8Array): boolean {
    return this.#filter === undefined || this.#filter.mayContain(userKey);
  }

  /** The key prefix length the filter holds (0: none); `mayContainPrefix` answers only for this length. */
  get bloomPrefixBytes(): number {
    return this.properties.bloomPrefixBytes;
  }

  /**
   * False when the table certainly holds no key that begins with `prefix`; true
   * when it may, and always when its filter holds no prefixes of that length.
   */
  mayContainPrefix(prefix: Uint8Array): boolean {
    if (this.#filter === undefined || prefix.length !== this.properties.bloomPrefixBytes) return true;
    return this.#filter.mayContain(prefix);
  }

  /**
   * The newest entry for `userKey` with seq ≤ `snapshotSeq`, or undefined when this
   * table holds none. A tombstone comes back as `type: DELETE`: the caller must
   * stop looking in older tables.
   */
  get(userKey: Uint8Array, snapshotSeq: number): TableGetResult | undefined {
    assert(Number.isSafeInteger(snapshotSeq) && snapshotSeq >= 0, 'snapshotSeq must be a non-negative safe integer');
    const found = this.#getPoint(userKey, snapshotSeq);
    const tombstones = this.#rangeTombstones;
    return tombstones.isEmpty ? found : newerOfEntryAndTombstone(found, tombstones.coveringSeq(userKey, snapshotSeq));
  }

  /** The range tombstones of the table's range-del block, fragmented (empty without one). */
  rangeTombstones(): FragmentedTombstones {
    return this.#rangeTombstones;
  }

  #getPoint(userKey: Uint8Array, snapshotSeq: number): TableGetResult | undefined {
    if (this.#filter !== undefined && !this.#filter.mayContain(userKey)) return undefined;
    const blockIndex = this.#indexLookup.find(userKey, snapshotSeq);
    if (blockIndex === this.#indexLookup.blockCount) return undefined;
    const block = this.#dataBlockAt(blockIndex);
    const data = this.#getData ?? (this.#getData = block.iterator(internalKeyComparator));
    data.reset(block);
    // Index keys separate blocks, so the first entry ≥ lookup, if it is of this
    // user key at all, is in this block: seeking past its end means "none here".
    data.seek(lookupTarget(userKey, snapshotSeq));
    if (!data.valid()) return undefined;
    const key = data.rawKey();
    const userKeyLength = data.keyLength - INTERNAL_KEY_TRAILER_BYTES;
    if (userKeyLength !== userKey.length || compareBytes(key, 0, userKeyLength, userKey, 0, userKey.length) !== 0) return undefined;
    const type = key[userKeyLength]!;
    const seq = readTrailerSeq(key, userKeyLength);
    if (type !== EntryType.PUT && type !== EntryType.DELETE && type !== EntryType.PUT_EXPIRING) {
      throw new CorruptionError(this.fileName, block.offset, `unknown entry type ${type}`);
    }
    if (seq < 0 || seq > snapshotSeq) throw new CorruptionError(this.fileName, block.offset, 'entry out of order');
    const value = data.value();
    if (type === EntryType.PUT_EXPIRING && value.length < EXPIRY_BYTES) throw new CorruptionError(this.fileName, block.offset, 'an expiring entry without its expiry time');
    return { type, value, seq };
  }

  /** A new iterator over every entry; `userKeyCopies` for a reader of user keys only (see `TableIterator`). */
  iterator(userKeyCopies = false): TableIterator {
    return new TableIterator(this, userKeyCopies);
  }

  /**
   * The decoded data block at `handle`: from the block cache, or read from the file,
   * checked and (when checksums were verified) added to the cache.
   */
  dataBlock(handle: BlockHandle): Block {
    const cache = this.#blockCache;
    if (cache !== undefined) {
      const cached = cache.get(this.fileNumber, handle.offset);
      if (cached !== undefined) return cached;
    }
    if (handle.size > this.#dataEnd - handle.offset - BLOCK_TRAILER_BYTES) {
      throw new CorruptionError(this.fileName, this.indexBlock.offset, `index entry points outside the data blocks (offset ${handle.offset})`);
    }
    const block = this.#readDataBlock(handle.offset, handle.size);
    // Only verified blocks enter the shared cache, so a reader that skips checks cannot hand bad bytes to one that doesn't.
    if (cache !== undefined && this.#verifyChecksums) cache.insert(this.fileNumber, handle.offset, block);
    return block;
  }

  /** `dataBlock` for data block `index` of the decoded index (whose handles were checked at open), through this reader's cache slots. */
  #dataBlockAt(index: number): Block {
    const lookup = this.#indexLookup;
    const offset = lookup.blockOffset(index);
    const cache = this.#blockCache;
    if (cache !== undefined) {
      const cached = cache.lookup(this.fileNumber, offset, this.#blockSlots, index);
      if (cached !== undefined) return cached;
    }
    const block = this.#readDataBlock(offset, lookup.blockSize(index));
    if (cache !== undefined && this.#verifyChecksums) cache.insert(this.fileNumber, offset, block, this.#blockSlots, index);
    return block;
  }

  #readDataBlock(offset: number, size: number): Block {
    const opened = readStoredBlock(this.#file, this.fileName, { offset, size }, this.#verifyChecksums);
    return new Block(opened.contents, this.fileName, offset);
  }

  /**
   * A human-readable dump of every block (kind, offset, size, compression, entry
   * and restart counts), the filter, the properties and the footer. Reads every
   * block, bypassing the cache; for tests and debugging.
   */
  layout(): string {
    return formatTableLayout({
      fileName: this.fileName,
      fileSizeBytes: this.#file.size,
      footer: this.#footer,
      properties: this.properties,
      filter: this.#filter,
      indexBlock: this.indexBlock,
      readBlock: (handle) => readStoredBlock(this.#file, this.fileName, handle, true),
    });
  }

}

/** The lookup key of `get()`, rebuilt in place for each lookup (valid until the next). */
let lookupScratch = Buffer.alloc(0);

/**
 * `userKey ‖ u64le(seq << 8 | 0xff)`: type 0xff sorts before every entry of
 * userKey with a sequence ≤ seq, after those above it. The buffer is shared and
 * overwritten by the next call: `get()` uses it and returns before anything else can.
 */
function lookupTarget(userKey: Uint8Array, seq: number): Buffer {
  if (lookupScratch.length !== userKey.length + INTERNAL_KEY_TRAILER_BYTES) lookupScratch = Buffer.allocUnsafe(userKey.length + INTERNAL_KEY_TRAILER_BYTES);
  copyBytes(userKey, 0, userKey.length, lookupScratch, 0);
  writeTrailer(lookupScratch, userKey.length, seq, SEEK_TYPE);
  return lookupScratch;
}

interface OpenedParts {
  readonly footer: Footer;
  readonly indexBlock: Block;
  readonly filter: BloomFilter | undefined;
  readonly properties: TableProperties;
  readonly rangeTombstones: FragmentedTombstones;
}

/** Reads exactly `length` bytes at `position`; a short read means the file is truncated. */
function readAt(file: RandomAccessFile, fileName: string, position: number, length: number): Buffer {
  let bytes: Buffer;
  try {
    bytes = file.read(position, length);
  } catch (cause) {
    throw ioError(`read ${fileName} at offset ${position}`, cause);
  }
  if (bytes.length !== length) throw new CorruptionError(fileName, position, `read ${bytes.length} of ${length} bytes: file truncated`);
  return bytes;
}

/** Reads, checks and decompresses the block at `handle`. */
function readStoredBlock(file: RandomAccessFile, fileName: string, handle: BlockHandle, verifyChecksum: boolean): OpenedBlock {
  const stored = readAt(file, fileName, handle.offset, handle.size + BLOCK_TRAILER_BYTES);
  return openBlock(stored, fileName, handle.offset, verifyChecksum);
}
