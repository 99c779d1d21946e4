/**
 * Reads a whole table file block by block and checks everything that can be
 * checked (docs/format.md, "SSTable"): the footer, the index, filter and
 * properties blocks (as `TableReader.open` does), then every data block's
 * checksum and structure, every entry's type, the order of every key (within and
 * across blocks), and the entry count and key range against the properties.
 * `DB.verify` reports what it finds; `DB.repair` uses the entries of the intact
 * blocks of a damaged table. A damaged data block costs its own entries only: the
 * index, when intact, says where the next one starts.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { CorruptionError, ShaleError, ioError } from '../errors.js';
import { FOOTER_BYTES, TABLE_FORMAT_VERSIONS_READ, TABLE_MAGIC } from '../sstable/format.js';
import { crc32 } from '../util/crc32.js';
import type { RandomAccessFile, FileSystem } from '../fs/file-system.js';
import { EntryType, INTERNAL_KEY_TRAILER_BYTES, compareInternalKeys, encodeInternalKey, readTrailerSeq, readTrailerType } from '../keys.js';
import { decodeBlockHandle, type BlockHandle } from '../sstable/block-handle.js';
import { bytewiseComparator, internalKeyComparator } from '../sstable/comparator.js';
import type { Block } from '../sstable/block-reader.js';
import type { TableProperties } from '../sstable/properties.js';
import { TableReader } from '../sstable/table-reader.js';
import { EXPIRY_BYTES, readExpiry } from '../util/expiring-value.js';
import { exclusiveEndKey } from '../rangedel/table-tombstones.js';


/** One damaged place: the file, the byte offset where the bad record, block or field starts, and what is wrong. */
export interface Damage {
  file: string;
  offset: number;
  reason: string;
  /**
   * True for damage that open tolerates and that is no loss: a torn tail of the
   * newest WAL (what a crash leaves) or of the MANIFEST. Absent otherwise.
   */
  tolerated?: true;
}

/** What `checkTable` found in one table. */
export interface TableCheck {
  file: string;
  sizeBytes: number;
  /** The file does not exist. */
  missing: boolean;
  /** The footer, index, filter and properties blocks are intact (else no data block can be located). */
  metadataIntact: boolean;
  /** Undefined when the metadata is damaged. */
  properties?: TableProperties;
  /** Data blocks the index names (0 when the metadata is damaged). */
  blockCount: number;
  /** Data blocks that failed a check; their entries are not counted. */
  damagedBlockCount: number;
  /** Entries of the intact data blocks. */
  entryCount: number;
  /** Range tombstones of the range-del block (one per piece and sequence, as stored), which open read and checked; 0 without one. */
  rangeTombstoneCount: number;
  damage: Damage[];
}

export interface TableCheckOptions {
  /** Called with each intact data block's entries, in order: internal keys (copies) and values (views of the block, valid for good). */
  onEntries?: (entries: readonly [Buffer, Buffer][]) => void | Promise<void>;
  /** Called after each data block with the bytes of the file read so far. */
  onProgress?: (bytesRead: number) => void;
}

/**
 * Entry types a data block may hold (docs/format.md, "Internal keys"): every type
 * but RANGE_DELETE, whose tombstones live in the range-del block only.
 */
const DATA_ENTRY_TYPES: ReadonlySet<number> = new Set(Object.values(EntryType).filter((type) => type !== EntryType.RANGE_DELETE));
/** Data blocks between turns of the event loop (a block is a few KiB: well under a millisecond each). */
const BLOCKS_BETWEEN_TURNS = 64;

/** Reads and checks every block of the table at `path` (see the module comment). A missing file is damage at offset 0. */
export async function checkTable(fs: FileSystem, path: string, fileNumber: number, options: TableCheckOptions = {}): Promise<TableCheck> {
  const check: TableCheck = { file: path, sizeBytes: 0, missing: false, metadataIntact: false, blockCount: 0, damagedBlockCount: 0, entryCount: 0, rangeTombstoneCount: 0, damage: [] };
  let file: RandomAccessFile;
  try {
    file = await fs.openRead(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw ioError(`opening ${path}`, err);
    check.missing = true;
    check.damage.push({ file: path, offset: 0, reason: 'the table is missing' });
    return check;
  }
  try {
    check.sizeBytes = file.size;
    checkFormatVersion(file, path);
    let reader: TableReader;
    let handles: BlockHandle[];
    try {
      reader = TableReader.open(file, path, fileNumber);
      handles = dataBlockHandles(reader);
    } catch (err) {
      if (!(err instanceof CorruptionError)) throw err;
      check.damage.push(damageOf(err));
      return check;
    }
    check.metadataIntact = true;
    check.properties = reader.properties;
    check.blockCount = handles.length;
    check.rangeTombstoneCount = reader.properties.rangeDeletionCount;
    await checkDataBlocks(reader, handles, check, options);
    if (check.damage.length === 0) checkAgainstProperties(reader, check);
    return check;
  } finally {
    await file.close();
  }
}

/**
 * Throws `NOT_SUPPORTED` for a table whose footer is intact (magic and checksum)
 * but of a format version this release does not read: the table reader calls
 * that corruption (it cannot tell), but a tool must not take a newer file for a
 * damaged one. Repair would otherwise rewrite it from what it understands and
 * lose what it does not (a newer block, say), and verify would report damage
 * that is not there.
 */
export function checkFormatVersion(file: RandomAccessFile, path: string): void {
  if (file.size < FOOTER_BYTES) return;
  const footer = file.read(file.size - FOOTER_BYTES, FOOTER_BYTES);
  if (footer.length !== FOOTER_BYTES || !footer.subarray(FOOTER_MAGIC_OFFSET).equals(TABLE_MAGIC)) return;
  if (crc32(footer.subarray(0, FOOTER_CHECKSUM_OFFSET)) !== footer.readUInt32LE(FOOTER_CHECKSUM_OFFSET)) return;
  const version = footer.readUInt32LE(FOOTER_VERSION_OFFSET);
  if (!TABLE_FORMAT_VERSIONS_READ.includes(version)) {
    throw new ShaleError('NOT_SUPPORTED', `${path} has table format version ${version}; this release reads ${TABLE_FORMAT_VERSIONS_READ.join(' and ')}`);
  }
}

/** Where the footer keeps its version, checksum and magic (docs/format.md, "SSTable: footer"). */
const FOOTER_VERSION_OFFSET = 48;
const FOOTER_CHECKSUM_OFFSET = 52;
const FOOTER_MAGIC_OFFSET = 56;

async function checkDataBlocks(reader: TableReader, handles: BlockHandle[], check: TableCheck, options: TableCheckOptions): Promise<void> {
  let previous: Buffer | undefined;
  for (const [index, handle] of handles.entries()) {
    if (index > 0 && index % BLOCKS_BETWEEN_TURNS === 0) await nextTurn();
    let entries: [Buffer, Buffer][];
    try {
      entries = blockEntries(reader, handle, previous);
    } catch (err) {
      if (!(err instanceof CorruptionError)) throw err;
      check.damage.push(damageOf(err));
      check.damagedBlockCount++;
      options.onProgress?.(handle.offset + handle.size);
      continue;
    }
    previous = entries.at(-1)?.[0] ?? previous;
    check.entryCount += entries.length;
    if (options.onEntries !== undefined) await options.onEntries(entries);
    options.onProgress?.(handle.offset + handle.size);
  }
}

/** The entries of the data block at `handle`, checked (see `checkedEntries`). */
export function blockEntries(reader: TableReader, handle: BlockHandle, previous: Buffer | undefined): [Buffer, Buffer][] {
  return checkedEntries(reader.dataBlock(handle), previous);
}

/**
 * The entries of `block` (whose checksum and structure its reader checked),
 * checked: every key an internal key of a type a data block holds (not
 * RANGE_DELETE), each after the one before it (`previous`: the last key of the
 * previous intact block), every PUT_EXPIRING value starting with an expiry time
 * (8 bytes, at most 2^53 - 1), and at least one entry. Keys are copies; values
 * are views of the block.
 */
export function checkedEntries(block: Block, previous: Buffer | undefined): [Buffer, Buffer][] {
  const fail = (detail: string): never => {
    throw new CorruptionError(block.fileName, block.offset, detail);
  };
  const entries: [Buffer, Buffer][] = [];
  const iterator = block.iterator(internalKeyComparator);
  for (iterator.seekToFirst(); iterator.valid(); iterator.next()) {
    const key = iterator.key();
    const userKeyLength = key.length - INTERNAL_KEY_TRAILER_BYTES;
    if (userKeyLength < 0) fail('key shorter than an internal key');
    const type = readTrailerType(key, userKeyLength);
    if (type === EntryType.RANGE_DELETE) fail('a range tombstone in a data block');
    if (!DATA_ENTRY_TYPES.has(type)) fail(`unknown entry type ${type}`);
    if (readTrailerSeq(key, userKeyLength) < 0) fail('sequence number beyond 2^53');
    if (previous !== undefined && compareInternalKeys(previous, key) >= 0) fail('keys out of order');
    const value = iterator.value();
    if (type === EntryType.PUT_EXPIRING && readExpiry(value) < 0) fail(value.length < EXPIRY_BYTES ? 'an expiring entry without its expiry time' : 'an expiry time beyond 2^53 - 1');
    entries.push([key, value]);
    previous = key;
  }
  if (entries.length === 0) fail('empty data block');
  return entries;
}

/** The handles of the data blocks, from the index (whose entries `TableReader.open` checked). */
export function dataBlockHandles(reader: TableReader): BlockHandle[] {
  const index = reader.indexBlock;
  const iterator = index.iterator(bytewiseComparator);
  const handles: BlockHandle[] = [];
  for (iterator.seekToFirst(); iterator.valid(); iterator.next()) {
    const value = iterator.value();
    handles.push(decodeBlockHandle(value, 0, value.length, reader.fileName, index.offset));
  }
  return handles;
}

/**
 * With every block intact, the entries must be what the properties say (their
 * count), and the properties' key range must cover the range tombstones, whose
 * table a read or a compaction would otherwise pass over (docs/format.md,
 * "SSTable: range-del block").
 */
function checkAgainstProperties(reader: TableReader, check: TableCheck): void {
  const properties = reader.properties;
  if (check.entryCount !== properties.entryCount || check.blockCount !== properties.dataBlockCount) {
    check.damage.push({
      file: check.file,
      offset: reader.indexBlock.offset,
      reason: `the index names ${check.blockCount} blocks holding ${check.entryCount} entries; the properties say ${properties.dataBlockCount} blocks, ${properties.entryCount} entries`,
    });
  }
  const fragments = reader.rangeTombstones().fragments;
  if (fragments.length === 0) return;
  const first = fragments[0]!;
  const smallest = encodeInternalKey(first.start, first.seqs[0]!, EntryType.RANGE_DELETE);
  const largest = exclusiveEndKey(fragments[fragments.length - 1]!.end);
  if (compareInternalKeys(properties.smallestKey, smallest) > 0 || compareInternalKeys(properties.largestKey, largest) < 0) {
    check.damage.push({ file: check.file, offset: reader.properties.rangeDelBlock!.offset, reason: "the properties' key range does not cover the range tombstones" });
  }
}

/** A `CorruptionError` as a damage record. */
export function damageOf(err: CorruptionError): Damage {
  return { file: err.file, offset: err.offset, reason: err.message.replace(/^corruption in .* at offset \d+: /, '') };
}
