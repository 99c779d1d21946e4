/**
 * The log framing shared by write-ahead logs and the MANIFEST (docs/format.md,
 * "Log framing"). A log is a sequence of 32 KiB blocks; a logical record is cut
 * into chunks that never cross a block boundary, each with a 7-byte header:
 *
 *   masked crc32 u32le | length u16le | chunk type u8 | payload (length bytes)
 *
 * The CRC covers the type byte and the payload. A block's last < 7 bytes, too few
 * for a header, are zero padding. This is LevelDB's log format: a reader can
 * resynchronise at the next block boundary after damage.
 */
import { crc32 } from '../util/crc32.js';

export const LOG_BLOCK_BYTES = 32 * 1024;
export const CHUNK_HEADER_BYTES = 7;

/** Chunk types. On disk: never renumber. 0 is reserved for zeroed (preallocated or torn) space. */
export const ChunkType = {
  ZERO: 0,
  FULL: 1,
  FIRST: 2,
  MIDDLE: 3,
  LAST: 4,
} as const;
export type ChunkType = (typeof ChunkType)[keyof typeof ChunkType];

/** Logical record kinds: the first payload byte of every record. On disk: never renumber. */
export const RecordKind = {
  /** The first record of every log file: magic, format version, file number. */
  FILE_HEADER: 1,
  /** A WAL write group. */
  WRITE_GROUP: 2,
  /** A MANIFEST version edit. */
  VERSION_EDIT: 3,
  /** A MANIFEST commit: the edit before it was synced whole (see manifest.ts). */
  EDIT_COMMIT: 4,
} as const;

const MASK_DELTA = 0xa282ead8;

/**
 * Masks a CRC before storing it: a CRC computed over bytes that themselves hold
 * CRCs is weak, so stored CRCs are rotated and offset (as LevelDB does).
 */
export function maskCrc(crc: number): number {
  return ((((crc >>> 15) | (crc << 17)) >>> 0) + MASK_DELTA) >>> 0;
}

export function unmaskCrc(masked: number): number {
  const rotated = (masked - MASK_DELTA) >>> 0;
  return ((rotated >>> 17) | (rotated << 15)) >>> 0;
}

const TYPE_SEEDS = [0, 1, 2, 3, 4].map((type) => crc32(Uint8Array.of(type)));

/** The CRC-32 of a chunk: over its type byte, then its payload (util/crc32.ts: node:zlib's where the runtime has it). */
export function chunkCrc(type: number, data: Uint8Array, start: number, end: number): number {
  const seed = TYPE_SEEDS[type] ?? crc32(Uint8Array.of(type));
  return crc32(data.subarray(start, end), seed);
}

/** Identifies which kind of log a file is; written in its header record. */
export interface LogFileHeader {
  /** 4 ASCII bytes: `SHLW` for a WAL, `SHLM` for a MANIFEST. */
  magic: string;
  formatVersion: number;
  fileNumber: number;
}

export const WAL_MAGIC = 'SHLW';
export const MANIFEST_MAGIC = 'SHLM';
/**
 * The version of the log framing and of the record formats inside it, written in
 * every new log's header. Readers accept 1 and 2; version 2 adds the write-group
 * op types RANGE_DELETE (2) and PUT_EXPIRING (3), which a version-1 file never holds.
 */
export const LOG_FORMAT_VERSION = 2;
