/**
 * Finds the data blocks of a table whose index cannot be read (a damaged footer,
 * index, filter or properties block) by their checksums, for `DB.repair`
 * (docs/tools.md, "Repair"). Data blocks are written back to back from offset 0
 * (docs/format.md, "SSTable"), each `contents ‖ type ‖ crc32(contents ‖ type)`:
 * from the start of one block, the first place where the CRC of the bytes so far
 * (type byte included) equals the four bytes after them, and the type byte is a
 * known compression type, is its end, and the next block starts there. A false
 * match has odds of about 2^-39 a byte; a block found must also decode, hold
 * internal keys of known types in strictly increasing order after the previous
 * block's, or the scan stops. It stops, too, at the end of the data blocks: when
 * the footer is intact its handles say where that is; otherwise at the first
 * block that is not a data block (the filter or properties block, which do not
 * decode as one). Blocks after a damaged data block are not found: without its
 * length nothing says where the next one starts.
 *
 * The range-del block (format version 3) follows the data blocks: the block
 * where the scan stops is decoded as one too, and when it is an intact range-del
 * block (checksum, entries, order: `decodeRangeDelBlock`), its tombstones are
 * salvaged with the entries, and the scan has found the end of the data blocks.
 */
import { CorruptionError, ioError } from '../errors.js';
import type { FileSystem } from '../fs/file-system.js';
import { Block } from '../sstable/block-reader.js';
import { bytewiseComparator } from '../sstable/comparator.js';
import { openBlock } from '../sstable/block-trailer.js';
import { decodeFooter } from '../sstable/footer.js';
import { BLOCK_TRAILER_BYTES, CompressionType, FOOTER_BYTES } from '../sstable/format.js';
import { readWholeFile } from '../wal/log-reader.js';
import { checkedEntries } from './table-check.js';
import type { Fragment } from '../rangedel/fragments.js';
import { decodeRangeDelBlock } from '../sstable/range-del-block.js';

/** What a scan found: the entries of the data blocks it could read, in order, and where and why it stopped. */
export interface BlockScan {
  /** The data blocks found, in file order: where each is stored (`size` without the trailer), and its entries. */
  blocks: { offset: number; size: number; entries: [Buffer, Buffer][] }[];
  /** Every entry of `blocks`, in order. */
  entries: [Buffer, Buffer][];
  /** The tombstones of the range-del block found right after the data blocks (none when there is none, or it is damaged). */
  rangeTombstones: readonly Fragment[];
  /** Where that range-del block is stored (`size` without the trailer), when found. */
  rangeDelBlock?: { offset: number; size: number };
  /** The offset where the scan stopped, and why (undefined: it reached the known end of the data blocks). */
  stoppedAt?: { offset: number; reason: string };
}

const KNOWN_COMPRESSION_TYPES: ReadonlySet<number> = new Set(Object.values(CompressionType));

/**
 * CRC-32 (IEEE, the polynomial of node:zlib and the crc-32 package) a byte at a
 * time: the search needs the CRC of every prefix, which the one-shot functions of
 * `util/crc32.ts` would recompute from the start each time.
 */
const CRC_TABLE = (() => {
  const table = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c;
  }
  return table;
})();

/** Scans the table at `path` for its data blocks (see the module comment). */
export async function scanTableBlocks(fs: FileSystem, path: string): Promise<BlockScan> {
  return scanTableBytes(await readTable(fs, path), path);
}

/** Scans a table's bytes (the whole file, named `path`) for its data blocks. */
export function scanTableBytes(bytes: Buffer, path: string): BlockScan {
  return scanDataBlocks(bytes, path, dataEnd(bytes, path));
}

async function readTable(fs: FileSystem, path: string): Promise<Buffer> {
  let bytes: Buffer;
  try {
    const handle = await fs.openRead(path);
    try {
      bytes = readWholeFile(handle);
    } finally {
      await handle.close();
    }
  } catch (err) {
    throw ioError(`reading ${path}`, err);
  }
  return bytes;
}

/** Where the data blocks end: from an intact footer, else the end of the file. */
function dataEnd(bytes: Buffer, path: string): number {
  try {
    const footer = decodeFooter(bytes.subarray(Math.max(0, bytes.length - FOOTER_BYTES)), bytes.length, path);
    return Math.min(footer.indexHandle.offset, footer.propertiesHandle.offset, footer.filterHandle?.offset ?? Infinity);
  } catch (err) {
    if (err instanceof CorruptionError) return bytes.length;
    throw err;
  }
}

/** Scans `bytes[0, limit)` for data blocks. */
export function scanDataBlocks(bytes: Buffer, path: string, limit: number): BlockScan {
  const scan: BlockScan = { blocks: [], entries: [], rangeTombstones: [] };
  let previous: Buffer | undefined;
  let start = 0;
  while (start < limit) {
    const end = findBlockEnd(bytes, start, limit);
    if (end < 0) {
      scan.stoppedAt = { offset: start, reason: 'no block with a valid checksum starts here' };
      break;
    }
    let entries: [Buffer, Buffer][];
    try {
      entries = decodeDataBlock(bytes.subarray(start, end), path, start, previous);
    } catch (err) {
      if (!(err instanceof CorruptionError)) throw err;
      const rangeDel = decodeRangeDel(bytes.subarray(start, end), path, start);
      if (rangeDel !== undefined) {
        scan.rangeTombstones = rangeDel;
        scan.rangeDelBlock = { offset: start, size: end - start - BLOCK_TRAILER_BYTES };
      } else {
        scan.stoppedAt = { offset: start, reason: `not a data block: ${err.message}` };
      }
      break;
    }
    scan.blocks.push({ offset: start, size: end - start - BLOCK_TRAILER_BYTES, entries });
    scan.entries.push(...entries);
    previous = entries.at(-1)![0];
    start = end;
  }
  return scan;
}

/** The end (trailer included) of the first stored block starting at `start` and ending by `limit`; -1 if none. */
function findBlockEnd(bytes: Buffer, start: number, limit: number): number {
  let crc = -1;
  // The type byte is at `at`; the CRC of contents ‖ type follows it.
  for (let at = start; at + BLOCK_TRAILER_BYTES <= limit; at++) {
    crc = CRC_TABLE[(crc ^ bytes[at]!) & 0xff]! ^ (crc >>> 8);
    if (!KNOWN_COMPRESSION_TYPES.has(bytes[at]!)) continue;
    if ((crc ^ -1) >>> 0 === bytes.readUInt32LE(at + 1)) return at + BLOCK_TRAILER_BYTES;
  }
  return -1;
}

/** The fragments of the stored block `stored` (at `offset`) when it is an intact range-del block; undefined otherwise. */
function decodeRangeDel(stored: Buffer, path: string, offset: number): Fragment[] | undefined {
  try {
    const contents = openBlock(stored, path, offset, true).contents;
    // The properties that would give the count may be what is damaged: the block's own entry count stands in.
    const block = new Block(contents, path, offset);
    const iterator = block.iterator(bytewiseComparator);
    let count = 0;
    for (iterator.seekToFirst(); iterator.valid(); iterator.next()) count++;
    const fragments = decodeRangeDelBlock(contents, path, offset, count).fragments;
    return fragments.length === 0 ? undefined : [...fragments];
  } catch (err) {
    if (err instanceof CorruptionError) return undefined;
    throw err;
  }
}

/** The entries of the stored block `stored` (at `offset`), checked as any data block is (`checkedEntries`). */

function decodeDataBlock(stored: Buffer, path: string, offset: number, previous: Buffer | undefined): [Buffer, Buffer][] {
  return checkedEntries(new Block(openBlock(stored, path, offset, true).contents, path, offset), previous);
}
