/**
 * User keys, values, entry types and the ordering of internal keys.
 *
 * An entry in the memtable or a table is (user key, sequence number, type). Entries
 * order by user key ascending (bytewise, memcmp), then sequence descending, so the
 * newest version of a key comes first (docs/internals.md, "Internal keys").
 */
import { invalidArgument } from './errors.js';
import { compareRangesNative } from './util/bytes.js';

/**
 * Entry types. On disk in the WAL, the SSTable and the MANIFEST: these values must
 * never be renumbered.
 */
export const EntryType = {
  DELETE: 0,
  PUT: 1,
  /** A range tombstone over [start, end): a WAL op; in tables it lives in the range-del block, never in data blocks. */
  RANGE_DELETE: 2,
  /** A PUT whose value on disk is `expiresAtMs u64le ‖ value`: invisible from its expiry time on. */
  PUT_EXPIRING: 3,
} as const;
export type EntryType = (typeof EntryType)[keyof typeof EntryType];

/** The largest sequence number: 56 bits, the width of the on-disk field. Kept within a JS safe integer. */
export const SEQUENCE_MAX = Number.MAX_SAFE_INTEGER;

/** What callers may pass as a key or value. */
export type BytesLike = Uint8Array | string;

/** From this many bytes on, the native comparison beats a JS loop (it pays a fixed cost to cross into C++). */
const NATIVE_COMPARE_BYTES_MIN = 64;

/**
 * Bytewise comparison of user keys (memcmp order, shorter prefix first): negative,
 * zero or positive. The memtable calls it about 20 times a write, so short keys
 * take a plain loop.
 */
export function compareKeys(a: Uint8Array, b: Uint8Array): number {
  const length = a.length < b.length ? a.length : b.length;
  if (length >= NATIVE_COMPARE_BYTES_MIN) return Buffer.compare(a, b);
  for (let i = 0; i < length; i++) {
    const diff = a[i]! - b[i]!;
    if (diff !== 0) return diff;
  }
  return a.length - b.length;
}

/** Converts a key or value argument to a Buffer, or throws `INVALID_ARGUMENT` naming `what`. */
export function toBuffer(input: unknown, what: string): Buffer {
  if (typeof input === 'string') return Buffer.from(input, 'utf8');
  if (Buffer.isBuffer(input)) return input;
  if (input instanceof Uint8Array) return Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  const got = input === null ? 'null' : Array.isArray(input) ? 'array' : typeof input;
  throw invalidArgument(`${what} must be a Uint8Array, Buffer or string, got ${got}`);
}

/** Bytes of the trailer that follows the user key in an encoded internal key. */
export const INTERNAL_KEY_TRAILER_BYTES = 8;

const TWO_24 = 0x100_0000;

/**
 * Encodes an internal key as stored in tables: `userKey ‖ u64le(seq << 8 | type)`
 * (docs/format.md, "Internal keys"). `seq` is at most 2^53 - 1.
 */
export function encodeInternalKey(userKey: Uint8Array, seq: number, type: EntryType): Buffer {
  const out = Buffer.allocUnsafe(userKey.length + INTERNAL_KEY_TRAILER_BYTES);
  out.set(userKey, 0);
  writeTrailer(out, userKey.length, seq, type);
  return out;
}

/** Writes the 8-byte trailer `u64le(seq << 8 | type)` at `offset`. */
export function writeTrailer(out: Buffer, offset: number, seq: number, type: number): void {
  out.writeUInt32LE((seq % TWO_24) * 256 + type, offset);
  out.writeUInt32LE(Math.floor(seq / TWO_24), offset + 4);
}

/** Reads the sequence number from the trailer at `offset`; -1 when it exceeds 2^53 - 1. */
export function readTrailerSeq(buffer: Uint8Array, offset: number): number {
  // Byte by byte: on every merged entry, and cheaper than two bounds-checked readUInt32LE and a division.
  const low = buffer[offset + 1]! | (buffer[offset + 2]! << 8) | (buffer[offset + 3]! << 16);
  const top = buffer[offset + 7]!;
  if (top >= 0x20) return -1;
  const high = buffer[offset + 4]! | (buffer[offset + 5]! << 8) | (buffer[offset + 6]! << 16) | (top << 24);
  return high * TWO_24 + low;
}

/** Reads the entry type byte from the trailer at `offset`. */
export function readTrailerType(buffer: Buffer, offset: number): number {
  return buffer[offset]!;
}

/**
 * Orders two encoded internal keys: user key ascending, then sequence descending
 * (then type descending, which never decides between real entries).
 */
export function compareInternalKeys(a: Buffer, b: Buffer): number {
  const aUser = a.length - INTERNAL_KEY_TRAILER_BYTES;
  const bUser = b.length - INTERNAL_KEY_TRAILER_BYTES;
  const byUser = compareRangesNative(a, 0, aUser, b, 0, bUser);
  return byUser !== 0 ? byUser : compareTrailers(a, aUser, b, bUser);
}

/**
 * Orders two trailers (at `aOffset` in `a`, `bOffset` in `b`) newest first: the
 * larger u64le `seq << 8 | type` sorts before, comparing high then low words.
 */
export function compareTrailers(a: Buffer, aOffset: number, b: Buffer, bOffset: number): number {
  const aHigh = a.readUInt32LE(aOffset + 4);
  const bHigh = b.readUInt32LE(bOffset + 4);
  if (aHigh !== bHigh) return aHigh > bHigh ? -1 : 1;
  const aLow = a.readUInt32LE(aOffset);
  const bLow = b.readUInt32LE(bOffset);
  return aLow === bLow ? 0 : aLow > bLow ? -1 : 1;
}
