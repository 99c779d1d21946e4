/**
 * The fixed-size footer at the end of every table (docs/format.md, "SSTable:
 * footer").
 *
 *     offset size field
 *          0    8 index block offset      u64le
 *          8    8 index block size        u64le (contents, trailer excluded)
 *         16    8 filter block offset     u64le (0 with size 0: no filter)
 *         24    8 filter block size       u64le
 *         32    8 properties block offset u64le
 *         40    8 properties block size   u64le
 *         48    4 format version          u32le (1, 2 or 3)
 *         52    4 crc32 of bytes 0..52    u32le
 *         56    8 magic                   "SHALESST"
 *
 * The footer has its own checksum because its handles are what every later check
 * trusts: a flipped bit in an offset must be caught here, not show up as an odd
 * error somewhere else in the file.
 */
import { crc32 } from '../util/crc32.js';
import { readUint64, writeUint64 } from '../util/coding.js';
import { CorruptionError } from '../errors.js';
import type { BlockHandle } from './block-handle.js';
import { BLOCK_TRAILER_BYTES, FOOTER_BYTES, TABLE_FORMAT_VERSIONS_READ, TABLE_MAGIC } from './format.js';

const VERSION_OFFSET = 48;
const CHECKSUM_OFFSET = 52;
const MAGIC_OFFSET = 56;

/** The decoded footer. */
export interface Footer {
  readonly indexHandle: BlockHandle;
  /** Undefined when the table has no filter block. */
  readonly filterHandle: BlockHandle | undefined;
  readonly propertiesHandle: BlockHandle;
  readonly formatVersion: number;
}

/** Encodes `footer` as its 64 bytes. */
export function encodeFooter(footer: Footer): Buffer {
  const out = Buffer.alloc(FOOTER_BYTES);
  writeHandle(out, 0, footer.indexHandle);
  writeHandle(out, 16, footer.filterHandle ?? { offset: 0, size: 0 });
  writeHandle(out, 32, footer.propertiesHandle);
  out.writeUInt32LE(footer.formatVersion, VERSION_OFFSET);
  out.writeUInt32LE(crc32(out.subarray(0, CHECKSUM_OFFSET)), CHECKSUM_OFFSET);
  TABLE_MAGIC.copy(out, MAGIC_OFFSET);
  return out;
}

/**
 * Decodes the footer of a table of `fileSize` bytes from `bytes` (the last
 * `FOOTER_BYTES` of the file, or all of it if shorter). Checks the magic, the
 * checksum, the version, and that every handle points at a whole block inside the
 * file before the footer. Any failure is a `CorruptionError` at the footer's
 * offset (0 when the file is shorter than a footer).
 */
export function decodeFooter(bytes: Buffer, fileSize: number, fileName: string): Footer {
  const footerOffset = Math.max(0, fileSize - FOOTER_BYTES);
  const corrupt = (detail: string): never => {
    throw new CorruptionError(fileName, footerOffset, detail);
  };
  if (fileSize < FOOTER_BYTES || bytes.length !== FOOTER_BYTES) corrupt(`file of ${fileSize} bytes is too short for a table footer`);
  if (!bytes.subarray(MAGIC_OFFSET).equals(TABLE_MAGIC)) corrupt('bad table magic (not a table, or truncated)');
  const expected = bytes.readUInt32LE(CHECKSUM_OFFSET);
  if (crc32(bytes.subarray(0, CHECKSUM_OFFSET)) !== expected) corrupt('footer checksum mismatch');
  const formatVersion = bytes.readUInt32LE(VERSION_OFFSET);
  if (!TABLE_FORMAT_VERSIONS_READ.includes(formatVersion)) {
    corrupt(`unsupported table format version ${formatVersion} (this release reads ${TABLE_FORMAT_VERSIONS_READ.join(', ')})`);
  }
  const indexHandle = readHandle(bytes, 0, footerOffset, corrupt);
  const noFilter = readUint64(bytes, 16) === 0 && readUint64(bytes, 24) === 0;
  const filterHandle = noFilter ? undefined : readHandle(bytes, 16, footerOffset, corrupt);
  const propertiesHandle = readHandle(bytes, 32, footerOffset, corrupt);
  return { indexHandle, filterHandle, propertiesHandle, formatVersion };
}

function writeHandle(out: Buffer, offset: number, handle: BlockHandle): void {
  writeUint64(out, handle.offset, offset);
  writeUint64(out, handle.size, offset + 8);
}

function readHandle(bytes: Buffer, at: number, footerOffset: number, corrupt: (detail: string) => never): BlockHandle {
  const offset = readUint64(bytes, at);
  const size = readUint64(bytes, at + 8);
  if (offset < 0 || size < 0) corrupt(`block handle at footer byte ${at} out of range`);
  // A block and its trailer must end at or before the footer.
  if (size > footerOffset - offset - BLOCK_TRAILER_BYTES) corrupt(`block handle at footer byte ${at} points past the footer`);
  return { offset, size };
}
