/**
 * A version edit: one MANIFEST record, the change from one version of the
 * database's file set to the next (docs/format.md, "MANIFEST version edit").
 *
 *   kind u8 (=3) | fields…, each: tag varint32 | value
 *
 * Tags are on disk: never renumber them. An unknown tag is corruption: a field
 * this version cannot interpret might change what the database contains.
 */
import assert from 'node:assert/strict';
import { CorruptionError } from '../errors.js';
import { readUint64, readVarint32, standaloneCopy, varint32Length, writeUint64, writeVarint32 } from '../util/coding.js';
import { RecordKind } from '../wal/log-format.js';

/** Field tags. On disk: never renumber. */
export const EditTag = {
  LOG_NUMBER: 1,
  NEXT_FILE_NUMBER: 2,
  LAST_SEQUENCE: 3,
  DELETED_FILE: 4,
  NEW_FILE: 5,
  COMPACT_POINTER: 6,
  /**
   * `fileNumber u64le | expiryMinMs u64le`: the earliest expiry among a new file's
   * expiring entries. Follows that file's NEW_FILE in the same edit (MANIFEST log
   * format version 2).
   */
  FILE_EXPIRY: 7,
  /**
   * `fileNumber u64le | rangeDeletedBytes u64le`: for a new file with range
   * tombstones, the bytes of older tables their ranges overlapped when it was
   * made. Follows that file's NEW_FILE in the same edit, only when nonzero.
   */
  FILE_RANGE_DELETED_BYTES: 8,
} as const;

/** A table as the MANIFEST records it. */
export interface FileMeta {
  level: number;
  fileNumber: number;
  sizeBytes: number;
  /** Encoded internal keys (user key ‖ trailer) of the first and last entries. */
  smallest: Buffer;
  largest: Buffer;
  smallestSeq: number;
  largestSeq: number;
  /**
   * The earliest expiry time (ms since the epoch) among the table's expiring
   * entries; absent when it holds none. Compaction picks a table whose time has
   * passed, so expired data leaves the disk without being read.
   */
  expiryMinMs?: number;
  /**
   * For a table with range tombstones: the bytes of older tables their ranges
   * overlapped when it was made, an estimate of the space they delete. It adds
   * to the table's size where compaction weighs levels and picks tables
   * (docs/internals.md, "Range deletes"). Absent (0) without tombstones.
   */
  rangeDeletedBytes?: number;
}

export interface VersionEdit {
  /** Logs numbered below this hold nothing that is not in tables; they may be deleted. */
  logNumber?: number;
  nextFileNumber?: number;
  lastSequence?: number;
  deletedFiles: { level: number; fileNumber: number }[];
  newFiles: FileMeta[];
  /** Where the next compaction of a level starts (an encoded internal key). */
  compactPointers: { level: number; key: Buffer }[];
}

export function emptyEdit(): VersionEdit {
  return { deletedFiles: [], newFiles: [], compactPointers: [] };
}

/** The largest level number an edit may name. */
export const LEVEL_MAX = 15;

export function encodeVersionEdit(edit: VersionEdit): Buffer {
  const chunks: Buffer[] = [Buffer.from([RecordKind.VERSION_EDIT])];
  const tag = (value: number): void => {
    const b = Buffer.allocUnsafe(varint32Length(value));
    writeVarint32(b, value, 0);
    chunks.push(b);
  };
  const u64 = (value: number): void => {
    const b = Buffer.allocUnsafe(8);
    writeUint64(b, value, 0);
    chunks.push(b);
  };
  const level = (value: number): void => {
    assert(Number.isInteger(value) && value >= 0 && value <= LEVEL_MAX, 'level out of range');
    chunks.push(Buffer.from([value]));
  };
  const bytes = (value: Buffer): void => {
    tag(value.length);
    chunks.push(value);
  };
  if (edit.logNumber !== undefined) (tag(EditTag.LOG_NUMBER), u64(edit.logNumber));
  if (edit.nextFileNumber !== undefined) (tag(EditTag.NEXT_FILE_NUMBER), u64(edit.nextFileNumber));
  if (edit.lastSequence !== undefined) (tag(EditTag.LAST_SEQUENCE), u64(edit.lastSequence));
  for (const pointer of edit.compactPointers) (tag(EditTag.COMPACT_POINTER), level(pointer.level), bytes(pointer.key));
  for (const deleted of edit.deletedFiles) (tag(EditTag.DELETED_FILE), level(deleted.level), u64(deleted.fileNumber));
  for (const file of edit.newFiles) {
    tag(EditTag.NEW_FILE);
    level(file.level);
    u64(file.fileNumber);
    u64(file.sizeBytes);
    u64(file.smallestSeq);
    u64(file.largestSeq);
    bytes(file.smallest);
    bytes(file.largest);
    if (file.expiryMinMs !== undefined) (tag(EditTag.FILE_EXPIRY), u64(file.fileNumber), u64(file.expiryMinMs));
    if ((file.rangeDeletedBytes ?? 0) > 0) (tag(EditTag.FILE_RANGE_DELETED_BYTES), u64(file.fileNumber), u64(file.rangeDeletedBytes!));
  }
  return Buffer.concat(chunks);
}

/** Decodes a version edit record; `file` and `offset` name the record in a `CorruptionError`. */
export function decodeVersionEdit(payload: Buffer, file: string, offset: number): VersionEdit {
  const fail = (detail: string): never => {
    throw new CorruptionError(file, offset, `bad version edit: ${detail}`);
  };
  if (payload.length < 1 || payload[0] !== RecordKind.VERSION_EDIT) fail('not a version edit record');
  const end = payload.length;
  let position = 1;
  const varint = (): number => {
    const read = readVarint32(payload, position, end) ?? fail('truncated varint');
    position = read.next;
    return read.value;
  };
  const u64 = (): number => {
    if (end - position < 8) fail('truncated u64');
    const value = readUint64(payload, position);
    if (value < 0) fail('u64 beyond 2^53');
    position += 8;
    return value;
  };
  const level = (): number => {
    if (position >= end) fail('truncated level');
    const value = payload[position++]!;
    if (value > LEVEL_MAX) fail(`level ${value}`);
    return value;
  };
  const bytes = (): Buffer => {
    const length = varint();
    if (length > end - position) fail('key overruns the record');
    // Its own buffer: a file's keys live as long as the file and are sent to the worker.
    const value = standaloneCopy(payload.subarray(position, position + length));
    position += length;
    return value;
  };
  const edit = emptyEdit();
  while (position < end) {
    const tag = varint();
    switch (tag) {
      case EditTag.LOG_NUMBER:
        edit.logNumber = u64();
        break;
      case EditTag.NEXT_FILE_NUMBER:
        edit.nextFileNumber = u64();
        break;
      case EditTag.LAST_SEQUENCE:
        edit.lastSequence = u64();
        break;
      case EditTag.COMPACT_POINTER:
        edit.compactPointers.push({ level: level(), key: bytes() });
        break;
      case EditTag.DELETED_FILE:
        edit.deletedFiles.push({ level: level(), fileNumber: u64() });
        break;
      case EditTag.NEW_FILE: {
        const fileLevel = level();
        const fileNumber = u64();
        const sizeBytes = u64();
        const smallestSeq = u64();
        const largestSeq = u64();
        const smallest = bytes();
        const largest = bytes();
        edit.newFiles.push({ level: fileLevel, fileNumber, sizeBytes, smallestSeq, largestSeq, smallest, largest });
        break;
      }
      case EditTag.FILE_EXPIRY: {
        const fileNumber = u64();
        const expiryMinMs = u64();
        const added = edit.newFiles.at(-1);
        if (added === undefined || added.fileNumber !== fileNumber) fail(`file expiry for ${fileNumber}, which is not the new file before it`);
        else added.expiryMinMs = expiryMinMs;
        break;
      }
      case EditTag.FILE_RANGE_DELETED_BYTES: {
        const fileNumber = u64();
        const rangeDeletedBytes = u64();
        const added = edit.newFiles.at(-1);
        if (added === undefined || added.fileNumber !== fileNumber) fail(`range-deleted bytes of file ${fileNumber}, which is not the new file before it`);
        else added.rangeDeletedBytes = rangeDeletedBytes;
        break;
      }
      default:
        fail(`unknown tag ${tag}`);
    }
  }
  return edit;
}
