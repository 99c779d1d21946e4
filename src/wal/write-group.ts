/**
 * The payload of a WAL record: one write group, the batches the writer took from
 * the queue in one turn (docs/format.md, "WAL write group").
 *
 *   kind u8 (=2) | durableOffset u64le | firstSeq u64le | count u32le | count × op
 *   op: type u8 | keyLength varint32 | key | (all but DELETE) valueLength varint32 | value
 *
 * A RANGE_DELETE op (log format version 2) deletes [key, value): its "key" is the
 * range's start and its "value" the end.
 *
 * A PUT_EXPIRING op (log format version 2) is a PUT's whose value is
 * `expiresAtMs u64le ‖ value` (util/expiring-value.ts).
 *
 * `durableOffset` is how many bytes of this log were known synced when the group
 * was appended. Recovery uses it to tell a torn tail (damage past every durable
 * offset any later record claims) from corruption of synced data.
 */
import { CorruptionError } from '../errors.js';
import { readUint64, readVarint32, varint32Length, writeUint64, writeVarint32 } from '../util/coding.js';
import { EntryType } from '../keys.js';
import { EXPIRY_BYTES } from '../util/expiring-value.js';
import { LOG_FORMAT_VERSION, RecordKind } from './log-format.js';

/** One operation of a batch, with its key and value already copied into Buffers. */
export interface WriteOp {
  type: EntryType;
  key: Buffer;
  /** The value of a PUT (for PUT_EXPIRING, `expiresAtMs u64le ‖ value`); empty for a DELETE. A RANGE_DELETE deletes [key, value). */
  value: Buffer;
}

export interface WriteGroup {
  durableOffset: number;
  firstSeq: number;
  ops: WriteOp[];
}

const GROUP_HEADER_BYTES = 1 + 8 + 8 + 4;
const EMPTY: Buffer = Buffer.alloc(0);

/** Whether an op of `type` carries a second byte string after its key: a PUT's value, a RANGE_DELETE's end, a PUT_EXPIRING's expiry and value. */
function hasValue(type: number): boolean {
  return type !== EntryType.DELETE;
}

/** The encoded size of one op. */
export function opEncodedBytes(op: WriteOp): number {
  let size = 1 + varint32Length(op.key.length) + op.key.length;
  if (hasValue(op.type)) size += varint32Length(op.value.length) + op.value.length;
  return size;
}

/** Encodes a group whose ops are the concatenation of `batches`. `opBytes` is the sum of `opEncodedBytes`. */
export function encodeWriteGroup(
  durableOffset: number,
  firstSeq: number,
  batches: readonly (readonly WriteOp[])[],
  opCount: number,
  opBytes: number,
): Buffer {
  const out = Buffer.allocUnsafe(GROUP_HEADER_BYTES + opBytes);
  out[0] = RecordKind.WRITE_GROUP;
  writeUint64(out, durableOffset, 1);
  writeUint64(out, firstSeq, 9);
  out.writeUInt32LE(opCount, 17);
  let position = GROUP_HEADER_BYTES;
  for (const batch of batches) {
    for (const op of batch) {
      out[position++] = op.type;
      position = writeVarint32(out, op.key.length, position);
      // TypedArray#set: no native binding to cross, a third faster than Buffer#copy for short runs.
      out.set(op.key, position);
      position += op.key.length;
      if (hasValue(op.type)) {
        position = writeVarint32(out, op.value.length, position);
        out.set(op.value, position);
        position += op.value.length;
      }
    }
  }
  if (position !== out.length) throw new Error(`write group size mismatch: ${position} != ${out.length}`);
  return out;
}

/** Reads only `durableOffset` of a record that may be a write group; undefined if it is not one. */
export function peekDurableOffset(payload: Buffer): number | undefined {
  if (payload.length < GROUP_HEADER_BYTES || payload[0] !== RecordKind.WRITE_GROUP) return undefined;
  const value = readUint64(payload, 1);
  return value < 0 ? undefined : value;
}

/**
 * Decodes a write group of a log of format `formatVersion` (op types newer than
 * the file's are corruption). `file` and `offset` (of the record) name the place
 * in a `CorruptionError`. Op keys and values are views into `payload`.
 */
export function decodeWriteGroup(payload: Buffer, file: string, offset: number, formatVersion = LOG_FORMAT_VERSION): WriteGroup {
  const fail = (detail: string): never => {
    throw new CorruptionError(file, offset, `bad write group: ${detail}`);
  };
  if (payload.length < GROUP_HEADER_BYTES) fail('shorter than its header');
  if (payload[0] !== RecordKind.WRITE_GROUP) fail(`record kind ${payload[0]} is not a write group`);
  const durableOffset = readUint64(payload, 1);
  const firstSeq = readUint64(payload, 9);
  const count = payload.readUInt32LE(17);
  if (durableOffset < 0 || firstSeq < 1) fail('bad durable offset or sequence number');
  if (count === 0 || firstSeq + count - 1 > Number.MAX_SAFE_INTEGER) fail(`bad op count ${count}`);
  const ops: WriteOp[] = [];
  let position = GROUP_HEADER_BYTES;
  const end = payload.length;
  for (let i = 0; i < count; i++) {
    if (position >= end) fail(`op ${i} of ${count} missing`);
    const type = payload[position++]!;
    if (!opTypeKnown(type, formatVersion)) fail(`op ${i} has unknown type ${type}`);
    const keyLength = readVarint32(payload, position, end) ?? fail(`op ${i} key length`);
    position = keyLength.next;
    if (keyLength.value > end - position) fail(`op ${i} key overruns the record`);
    const key = payload.subarray(position, position + keyLength.value);
    position += keyLength.value;
    let value: Buffer = EMPTY;
    if (hasValue(type)) {
      const valueLength = readVarint32(payload, position, end) ?? fail(`op ${i} value length`);
      position = valueLength.next;
      if (valueLength.value > end - position) fail(`op ${i} value overruns the record`);
      value = payload.subarray(position, position + valueLength.value);
      position += valueLength.value;
      if (type === EntryType.PUT_EXPIRING && value.length < EXPIRY_BYTES) fail(`op ${i} is an expiring put without its expiry time`);
    }
    if (type === EntryType.RANGE_DELETE && key.compare(value) > 0) fail(`op ${i} is a range delete whose start is past its end`);
    ops.push({ type: type as EntryType, key, value });
  }
  if (position !== end) fail(`${end - position} trailing bytes`);
  return { durableOffset, firstSeq, ops };
}

/** Whether a log of format `formatVersion` may hold ops of `type`: version 1 has PUT and DELETE only. */
function opTypeKnown(type: number, formatVersion: number): boolean {
  if (type === EntryType.PUT || type === EntryType.DELETE) return true;
  return formatVersion >= 2 && (type === EntryType.RANGE_DELETE || type === EntryType.PUT_EXPIRING);
}
