/**
 * The properties block: what a table holds, in fixed fields (docs/format.md,
 * "SSTable: properties block").
 *
 *     offset size field
 *          0    8 entryCount         u64le
 *          8    8 tombstoneCount     u64le (DELETE entries)
 *         16    8 rawKeyBytes        u64le (sum of internal key lengths)
 *         24    8 rawValueBytes      u64le (sum of value lengths)
 *         32    8 dataBlockCount     u64le
 *         40    8 smallestSeq        u64le
 *         48    8 largestSeq         u64le
 *         56    4 blockSizeBytes     u32le (builder option)
 *         60    4 restartInterval    u32le (builder option)
 *         64    4 bloomBitsPerKey    u32le (builder option; 0 = no filter)
 *         68    1 compression        u8 (CompressionType the builder was asked for)
 *         69    4 bloomPrefixBytes   u32le (format versions 2 and 3; ≥ 1 in version 2)
 *         73    8 rangeDelBlockOffset u64le (version 3 only; with size 0: no range-del block)
 *         81    8 rangeDelBlockSize  u64le (contents, trailer excluded)
 *         89    8 rangeDeletionCount u64le (range tombstones in that block)
 *         97    8 expiringEntryCount u64le (PUT_EXPIRING entries)
 *        105    8 expiryMinMs        u64le (their earliest expiry; 0 without any)
 * 69/73/113    … smallestKey        varint32 length ‖ internal key
 *              … largestKey         varint32 length ‖ internal key
 *
 * The block ends right after the largest key. Both keys are real internal keys.
 * Format version 1 has no bloomPrefixBytes field (it reads as 0: no prefixes in
 * the filter); versions 1 and 2 have no range-del or expiry fields (they read as
 * none), and hold at least one entry.
 */
import assert from '../util/assert.js';
import { readUint64, readVarint32, varint32Length, writeUint64, writeVarint32 } from '../util/coding.js';
import { CorruptionError } from '../errors.js';
import { INTERNAL_KEY_TRAILER_BYTES, compareInternalKeys } from '../keys.js';
import type { BlockHandle } from './block-handle.js';
import { CompressionType, TABLE_FORMAT_VERSION_PREFIX_FILTER, TABLE_FORMAT_VERSION_RANGE_DEL_EXPIRY, type CompressionName } from './format.js';

/** Everything a table records about itself. */
export interface TableProperties {
  /** From the footer, not the properties block. */
  readonly formatVersion: number;
  readonly entryCount: number;
  readonly tombstoneCount: number;
  readonly rawKeyBytes: number;
  readonly rawValueBytes: number;
  readonly dataBlockCount: number;
  readonly smallestSeq: number;
  readonly largestSeq: number;
  readonly smallestKey: Buffer;
  readonly largestKey: Buffer;
  readonly blockSizeBytes: number;
  readonly restartInterval: number;
  readonly bloomBitsPerKey: number;
  readonly compression: CompressionName;
  /**
   * With N > 0 the filter also holds the first N bytes of every user key longer
   * than N (a key of N bytes or fewer is in it whole), so a range inside one
   * N-byte prefix can skip the table. Nonzero exactly in format version 2.
   */
  readonly bloomPrefixBytes: number;
  /** Where the range-del block lies (format version 3); undefined when the table has none. */
  readonly rangeDelBlock: BlockHandle | undefined;
  /** Range tombstones stored in the range-del block; 0 without one. */
  readonly rangeDeletionCount: number;
  /** PUT_EXPIRING entries in the data blocks (format version 3; 0 before). */
  readonly expiringEntryCount: number;
  /** The earliest expiry time (ms since the epoch) of those entries; 0 when there are none. */
  readonly expiryMinMs: number;
}

const FIXED_BYTES = 69;
const PREFIX_FIELD_BYTES = 4;
/** Version 3's fields after the prefix length: range-del handle (16), rangeDeletionCount, expiringEntryCount, expiryMinMs. */
const VERSION_3_FIELD_BYTES = 40;

function fixedBytes(formatVersion: number): number {
  if (formatVersion >= TABLE_FORMAT_VERSION_RANGE_DEL_EXPIRY) return FIXED_BYTES + PREFIX_FIELD_BYTES + VERSION_3_FIELD_BYTES;
  return formatVersion >= TABLE_FORMAT_VERSION_PREFIX_FILTER ? FIXED_BYTES + PREFIX_FIELD_BYTES : FIXED_BYTES;
}

/** The lowest table format version that holds what `properties` describes (docs/format.md, "SSTable: footer"). */
export function tableFormatVersionFor(properties: Omit<TableProperties, 'formatVersion'>): number {
  if (properties.rangeDelBlock !== undefined || properties.expiringEntryCount > 0) return TABLE_FORMAT_VERSION_RANGE_DEL_EXPIRY;
  return properties.bloomPrefixBytes > 0 ? TABLE_FORMAT_VERSION_PREFIX_FILTER : 1;
}

/** Encodes the properties block contents (`formatVersion` is the footer's, not stored here). */
export function encodeProperties(properties: TableProperties): Buffer {
  const version = properties.formatVersion;
  assert.equal(version, tableFormatVersionFor(properties), 'a table is written at the lowest format version that holds it');
  assert.equal(properties.rangeDelBlock !== undefined, properties.rangeDeletionCount > 0, 'a range-del block exactly when there are range tombstones');
  assert(properties.expiringEntryCount > 0 || properties.expiryMinMs === 0, 'expiryMinMs is 0 without expiring entries');
  const size = fixedBytes(properties.formatVersion) + keyFieldBytes(properties.smallestKey) + keyFieldBytes(properties.largestKey);
  const out = Buffer.alloc(size);
  let offset = writeUint64(out, properties.entryCount, 0);
  offset = writeUint64(out, properties.tombstoneCount, offset);
  offset = writeUint64(out, properties.rawKeyBytes, offset);
  offset = writeUint64(out, properties.rawValueBytes, offset);
  offset = writeUint64(out, properties.dataBlockCount, offset);
  offset = writeUint64(out, properties.smallestSeq, offset);
  offset = writeUint64(out, properties.largestSeq, offset);
  offset = out.writeUInt32LE(properties.blockSizeBytes, offset);
  offset = out.writeUInt32LE(properties.restartInterval, offset);
  offset = out.writeUInt32LE(properties.bloomBitsPerKey, offset);
  offset = out.writeUInt8(properties.compression === 'snappy' ? CompressionType.SNAPPY : CompressionType.NONE, offset);
  if (version >= TABLE_FORMAT_VERSION_PREFIX_FILTER) offset = out.writeUInt32LE(properties.bloomPrefixBytes, offset);
  if (version >= TABLE_FORMAT_VERSION_RANGE_DEL_EXPIRY) {
    offset = writeUint64(out, properties.rangeDelBlock?.offset ?? 0, offset);
    offset = writeUint64(out, properties.rangeDelBlock?.size ?? 0, offset);
    offset = writeUint64(out, properties.rangeDeletionCount, offset);
    offset = writeUint64(out, properties.expiringEntryCount, offset);
    offset = writeUint64(out, properties.expiryMinMs, offset);
  }
  offset = writeKeyField(out, properties.smallestKey, offset);
  offset = writeKeyField(out, properties.largestKey, offset);
  return out;
}

/**
 * Decodes and checks a properties block. Short or trailing bytes, counts that
 * contradict each other and keys out of order are a `CorruptionError` in
 * `fileName` at `blockOffset`.
 */
export function decodeProperties(contents: Buffer, formatVersion: number, fileName: string, blockOffset: number): TableProperties {
  const corrupt = (detail: string): never => {
    throw new CorruptionError(fileName, blockOffset, `properties block: ${detail}`);
  };
  const fixed = fixedBytes(formatVersion);
  if (contents.length < fixed) corrupt('too short');
  const u64 = (at: number, name: string): number => {
    const value = readUint64(contents, at);
    return value < 0 ? corrupt(`${name} out of range`) : value;
  };
  const entryCount = u64(0, 'entryCount');
  const tombstoneCount = u64(8, 'tombstoneCount');
  const rawKeyBytes = u64(16, 'rawKeyBytes');
  const rawValueBytes = u64(24, 'rawValueBytes');
  const dataBlockCount = u64(32, 'dataBlockCount');
  const smallestSeq = u64(40, 'smallestSeq');
  const largestSeq = u64(48, 'largestSeq');
  const blockSizeBytes = contents.readUInt32LE(56);
  const restartInterval = contents.readUInt32LE(60);
  const bloomBitsPerKey = contents.readUInt32LE(64);
  const compressionType = contents[68]!;
  const bloomPrefixBytes = fixed > FIXED_BYTES ? contents.readUInt32LE(FIXED_BYTES) : 0;
  if (formatVersion === TABLE_FORMAT_VERSION_PREFIX_FILTER && bloomPrefixBytes === 0) corrupt('format version 2 without a prefix filter');
  if (bloomPrefixBytes > 0 && bloomBitsPerKey === 0) corrupt('a prefix length without a filter');
  const extended = decodeVersion3Fields(contents, formatVersion, u64, corrupt);
  if (entryCount === 0 && extended.rangeDeletionCount === 0) corrupt('a table holds at least one entry or range tombstone');
  if ((entryCount === 0) !== (dataBlockCount === 0)) corrupt('data blocks exactly when there are entries');
  if (tombstoneCount > entryCount) corrupt('more tombstones than entries');
  if (tombstoneCount + extended.expiringEntryCount > entryCount) corrupt('more tombstones and expiring entries than entries');
  if (rawKeyBytes < entryCount * INTERNAL_KEY_TRAILER_BYTES) corrupt('rawKeyBytes too small for entryCount');
  if (smallestSeq > largestSeq) corrupt('smallestSeq above largestSeq');
  if (restartInterval === 0) corrupt('restartInterval 0');
  if (compressionType !== CompressionType.NONE && compressionType !== CompressionType.SNAPPY) corrupt(`unknown compression ${compressionType}`);
  const cursor = { offset: fixed };
  const smallestKey = readKeyField(contents, cursor, corrupt);
  const largestKey = readKeyField(contents, cursor, corrupt);
  if (cursor.offset !== contents.length) corrupt('trailing bytes');
  if (compareInternalKeys(smallestKey, largestKey) > 0) corrupt('smallestKey after largestKey');
  return {
    formatVersion,
    entryCount,
    tombstoneCount,
    rawKeyBytes,
    rawValueBytes,
    dataBlockCount,
    smallestSeq,
    largestSeq,
    smallestKey,
    largestKey,
    blockSizeBytes,
    restartInterval,
    bloomBitsPerKey,
    compression: compressionType === CompressionType.SNAPPY ? 'snappy' : 'none',
    bloomPrefixBytes,
    ...extended,
  };
}

type Version3Fields = Pick<TableProperties, 'rangeDelBlock' | 'rangeDeletionCount' | 'expiringEntryCount' | 'expiryMinMs'>;

/** Reads version 3's range-del and expiry fields (none before version 3). */
function decodeVersion3Fields(
  contents: Buffer,
  formatVersion: number,
  u64: (at: number, name: string) => number,
  corrupt: (detail: string) => never,
): Version3Fields {
  if (formatVersion < TABLE_FORMAT_VERSION_RANGE_DEL_EXPIRY) return { rangeDelBlock: undefined, rangeDeletionCount: 0, expiringEntryCount: 0, expiryMinMs: 0 };
  const at = FIXED_BYTES + PREFIX_FIELD_BYTES;
  const rangeDelOffset = u64(at, 'rangeDelBlockOffset');
  const rangeDelSize = u64(at + 8, 'rangeDelBlockSize');
  const rangeDeletionCount = u64(at + 16, 'rangeDeletionCount');
  const expiringEntryCount = u64(at + 24, 'expiringEntryCount');
  const expiryMinMs = u64(at + 32, 'expiryMinMs');
  const hasBlock = rangeDelOffset !== 0 || rangeDelSize !== 0;
  if (hasBlock !== (rangeDeletionCount > 0)) corrupt('a range-del block exactly when there are range tombstones');
  if (expiringEntryCount === 0 && expiryMinMs !== 0) corrupt('an earliest expiry without expiring entries');
  if (!hasBlock && expiringEntryCount === 0) corrupt('format version 3 with neither range tombstones nor expiring entries');
  return { rangeDelBlock: hasBlock ? { offset: rangeDelOffset, size: rangeDelSize } : undefined, rangeDeletionCount, expiringEntryCount, expiryMinMs };
}

function keyFieldBytes(key: Buffer): number {
  return varint32Length(key.length) + key.length;
}

function writeKeyField(out: Buffer, key: Buffer, offset: number): number {
  const start = writeVarint32(out, key.length, offset);
  key.copy(out, start);
  return start + key.length;
}

function readKeyField(contents: Buffer, cursor: { offset: number }, corrupt: (detail: string) => never): Buffer {
  const length = readVarint32(contents, cursor.offset, contents.length);
  if (length === undefined) return corrupt('bad key length');
  if (length.value < INTERNAL_KEY_TRAILER_BYTES) corrupt('key shorter than an internal key trailer');
  if (length.value > contents.length - length.next) corrupt('key runs past the end of the block');
  cursor.offset = length.next + length.value;
  return Buffer.from(contents.subarray(length.next, cursor.offset));
}
