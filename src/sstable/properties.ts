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
 *         69    4 bloomPrefixBytes   u32le (format version 2 only; ≥ 1)
 *   69 or 73    … smallestKey        varint32 length ‖ internal key
 *              … largestKey         varint32 length ‖ internal key
 *
 * The block ends right after the largest key. A table always holds at least one
 * entry, so both keys are real internal keys. Format version 1 has no
 * bloomPrefixBytes field (it reads as 0: no prefixes in the filter).
 */
import assert from '../util/assert.js';
import { readUint64, readVarint32, varint32Length, writeUint64, writeVarint32 } from '../util/coding.js';
import { CorruptionError } from '../errors.js';
import { INTERNAL_KEY_TRAILER_BYTES, compareInternalKeys } from '../keys.js';
import { CompressionType, TABLE_FORMAT_VERSION_PREFIX_FILTER, type CompressionName } from './format.js';

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
}

const FIXED_BYTES = 69;
const PREFIX_FIELD_BYTES = 4;

function fixedBytes(formatVersion: number): number {
  return formatVersion >= TABLE_FORMAT_VERSION_PREFIX_FILTER ? FIXED_BYTES + PREFIX_FIELD_BYTES : FIXED_BYTES;
}

/** Encodes the properties block contents (`formatVersion` is the footer's, not stored here). */
export function encodeProperties(properties: TableProperties): Buffer {
  const withPrefix = properties.formatVersion >= TABLE_FORMAT_VERSION_PREFIX_FILTER;
  assert.equal(withPrefix, properties.bloomPrefixBytes > 0, 'bloomPrefixBytes > 0 exactly in format version 2');
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
  if (withPrefix) offset = out.writeUInt32LE(properties.bloomPrefixBytes, offset);
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
  if (fixed > FIXED_BYTES && (bloomPrefixBytes === 0 || bloomBitsPerKey === 0)) corrupt('format version 2 without a prefix filter');
  if (entryCount === 0 || dataBlockCount === 0) corrupt('a table holds at least one entry and one data block');
  if (tombstoneCount > entryCount) corrupt('more tombstones than entries');
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
  };
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
