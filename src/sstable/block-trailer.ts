/**
 * Sealing and opening stored blocks: compression and the 5-byte trailer
 * (docs/format.md, "SSTable: block trailer").
 *
 * A block on disk is `contents ‖ type u8 ‖ crc u32le`, where `type` is a
 * `CompressionType` and `crc` is the CRC-32 (IEEE, as computed by the crc-32
 * package) of `contents ‖ type`. Covering the type byte means a flipped type
 * cannot make good bytes decompress as garbage unnoticed.
 */
import { crc32 } from '../util/crc32.js';
import { CorruptionError } from '../errors.js';
import { readVarint32 } from '../util/coding.js';
import { BLOCK_TRAILER_BYTES, CompressionType, type CompressionName } from './format.js';
import { snappy, snappyMissingError } from './snappy-codec.js';

/**
 * Snappy turns at most 3 input bytes into 64 output bytes (a 2-byte-offset copy),
 * so an uncompressed length claiming more than 22× the input is corrupt. Checking
 * it before decompressing keeps a garbled length from allocating gigabytes.
 */
const SNAPPY_EXPANSION_MAX = 22;

/** Computes the block CRC: CRC-32 of the contents at `stored[start, contentsEnd)` continued over the type byte after them. */
export function blockChecksum(stored: Buffer, contentsEnd: number, start = 0): number {
  return crc32(stored.subarray(start, contentsEnd + 1));
}

/**
 * Returns `raw` as stored on disk: compressed with snappy when asked and when it
 * saves at least 1/8 of the size (otherwise the CPU spent decompressing is not
 * worth it), followed by the trailer. Where no snappy build loads, every block is
 * stored uncompressed (see snappy-codec.ts). The result is a new buffer.
 */
export function sealBlock(raw: Buffer, compression: CompressionName): Buffer {
  const { contents, type } = compressForSeal(raw, compression);
  const stored = Buffer.allocUnsafe(contents.length + BLOCK_TRAILER_BYTES);
  writeSealed(contents, type, stored, 0);
  return stored;
}

/** The contents `sealBlock` stores for `raw` and their compression type: `raw` itself when it stays uncompressed. */
export function compressForSeal(raw: Buffer, compression: CompressionName): { contents: Buffer; type: CompressionType } {
  if (compression === 'snappy' && snappy.available) {
    const compressed = snappy.codec.compressSync(raw);
    if (compressed.length < raw.length - Math.floor(raw.length / 8)) return { contents: compressed, type: CompressionType.SNAPPY };
  }
  return { contents: raw, type: CompressionType.NONE };
}

/**
 * Writes the stored form of `contents` (compressed as `type` says) and its
 * trailer into `out` at `offset`, which must have room for
 * `contents.length + BLOCK_TRAILER_BYTES`; returns the bytes written.
 */
export function writeSealed(contents: Buffer, type: CompressionType, out: Buffer, offset: number): number {
  out.set(contents, offset);
  const typeAt = offset + contents.length;
  out[typeAt] = type;
  out.writeUInt32LE(blockChecksum(out, typeAt, offset), typeAt + 1);
  return contents.length + BLOCK_TRAILER_BYTES;
}

/** What `openBlock` returns: the uncompressed contents and how they were stored. */
export interface OpenedBlock {
  /** The block's contents, uncompressed. A view of `stored` when it was not compressed. */
  readonly contents: Buffer;
  readonly compressionType: CompressionType;
}

/**
 * Checks and decompresses a stored block (contents and trailer, exactly). Bad
 * length, checksum, type or compressed data is a `CorruptionError` in `fileName`
 * at `offset` (the block's file offset). A snappy block read where no snappy
 * build loads is `NOT_SUPPORTED`: the bytes are fine, this process cannot read them.
 */
export function openBlock(stored: Buffer, fileName: string, offset: number, verifyChecksum: boolean): OpenedBlock {
  if (stored.length < BLOCK_TRAILER_BYTES) throw new CorruptionError(fileName, offset, 'block shorter than its trailer');
  const contentsEnd = stored.length - BLOCK_TRAILER_BYTES;
  if (verifyChecksum) {
    const expected = stored.readUInt32LE(contentsEnd + 1);
    const actual = blockChecksum(stored, contentsEnd);
    if (actual !== expected) throw new CorruptionError(fileName, offset, `block checksum mismatch (stored ${hex32(expected)}, computed ${hex32(actual)})`);
  }
  const type = stored[contentsEnd]!;
  const contents = stored.subarray(0, contentsEnd);
  switch (type) {
    case CompressionType.NONE:
      return { contents, compressionType: CompressionType.NONE };
    case CompressionType.SNAPPY:
      return { contents: uncompressSnappy(contents, fileName, offset), compressionType: CompressionType.SNAPPY };
    default:
      throw new CorruptionError(fileName, offset, `unknown block compression type ${type}`);
  }
}

function uncompressSnappy(compressed: Buffer, fileName: string, offset: number): Buffer {
  const length = readVarint32(compressed, 0, compressed.length);
  if (length === undefined) throw new CorruptionError(fileName, offset, 'bad snappy length');
  if (length.value > compressed.length * SNAPPY_EXPANSION_MAX) {
    throw new CorruptionError(fileName, offset, `snappy length ${length.value} impossible for ${compressed.length} compressed bytes`);
  }
  if (!snappy.available) throw snappyMissingError(fileName, offset, snappy.reason);
  let raw: Buffer;
  try {
    raw = snappy.codec.uncompressSync(compressed);
  } catch (cause) {
    throw new CorruptionError(fileName, offset, 'bad snappy data', { cause });
  }
  if (raw.length !== length.value) throw new CorruptionError(fileName, offset, 'snappy length mismatch');
  return raw;
}

function hex32(value: number): string {
  return '0x' + value.toString(16).padStart(8, '0');
}
