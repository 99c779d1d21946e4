/**
 * A backup's manifest: the file `meta/<id>` in a backup directory naming the
 * tables of one backup with their sizes and checksums, and holding a snapshot
 * of the database's MANIFEST state to restore from (docs/format.md, "Backup
 * manifest").
 *
 *   magic "SHALEBAK" (8) | version u8 (=1) | id u32le | sequence u64le |
 *   createdMs u64le | fileCount u32le |
 *   fileCount × { fileNumber u64le | sizeBytes u64le | crc32 u32le } |
 *   editLength u32le | edit (a MANIFEST version edit, the snapshot) |
 *   crc32 u32le of every byte before it
 */
import { CorruptionError, ShaleError } from '../errors.js';
import { readUint64, writeUint64 } from '../util/coding.js';
import { crc32 } from '../util/crc32.js';
import { applyEdit, emptyManifestState, snapshotEdit, type ManifestState } from '../version/manifest.js';
import { decodeVersionEdit, encodeVersionEdit } from '../version/version-edit.js';

/** The first 8 bytes of a backup manifest. */
export const BACKUP_MAGIC = Buffer.from('SHALEBAK', 'latin1');
/** On disk: a reader refuses versions it does not know. */
export const BACKUP_FORMAT_VERSION = 1;
const HEADER_BYTES = 8 + 1 + 4 + 8 + 8 + 4;
const FILE_RECORD_BYTES = 8 + 8 + 4;

/** A table of a backup: its number in the database, and what its bytes must be. */
export interface BackupFile {
  fileNumber: number;
  sizeBytes: number;
  crc32: number;
}

/** Everything a backup manifest records. */
export interface BackupManifest {
  id: number;
  /** The backup holds exactly the writes up to this sequence number. */
  sequence: number;
  /** Milliseconds since the epoch when the backup was made. */
  createdMs: number;
  files: BackupFile[];
  /** The MANIFEST state a restore writes (its table numbers are `files`'). */
  state: ManifestState;
}

/** The bytes of `manifest`, checksummed. */
export function encodeBackupManifest(manifest: BackupManifest): Buffer {
  const edit = encodeVersionEdit(snapshotEdit(manifest.state));
  const out = Buffer.alloc(HEADER_BYTES + manifest.files.length * FILE_RECORD_BYTES + 4 + edit.length + 4);
  BACKUP_MAGIC.copy(out, 0);
  out[8] = BACKUP_FORMAT_VERSION;
  out.writeUInt32LE(manifest.id, 9);
  writeUint64(out, manifest.sequence, 13);
  writeUint64(out, manifest.createdMs, 21);
  out.writeUInt32LE(manifest.files.length, 29);
  let at = HEADER_BYTES;
  for (const file of manifest.files) {
    writeUint64(out, file.fileNumber, at);
    writeUint64(out, file.sizeBytes, at + 8);
    out.writeUInt32LE(file.crc32, at + 16);
    at += FILE_RECORD_BYTES;
  }
  out.writeUInt32LE(edit.length, at);
  edit.copy(out, at + 4);
  at += 4 + edit.length;
  out.writeUInt32LE(crc32(out.subarray(0, at)), at);
  return out;
}

/** Decodes a backup manifest; any damage is a `CorruptionError` naming `file` and the offset. */
export function decodeBackupManifest(bytes: Buffer, file: string): BackupManifest {
  const fail = (offset: number, detail: string): never => {
    throw new CorruptionError(file, offset, `bad backup manifest: ${detail}`);
  };
  if (bytes.length < HEADER_BYTES + 8) fail(0, `${bytes.length} bytes is too short`);
  if (!bytes.subarray(0, 8).equals(BACKUP_MAGIC)) fail(0, 'bad magic');
  if (bytes[8]! > BACKUP_FORMAT_VERSION) {
    throw new ShaleError('NOT_SUPPORTED', `${file}: backup manifest version ${bytes[8]} is newer than this version of shale reads (${BACKUP_FORMAT_VERSION})`);
  }
  if (bytes[8] !== BACKUP_FORMAT_VERSION) fail(8, `bad format version ${bytes[8]}`);
  const crcAt = bytes.length - 4;
  if (crc32(bytes.subarray(0, crcAt)) !== bytes.readUInt32LE(crcAt)) fail(crcAt, 'checksum mismatch');
  const u64 = (at: number): number => {
    const value = readUint64(bytes, at);
    if (value < 0) fail(at, 'u64 beyond 2^53');
    return value;
  };
  const id = bytes.readUInt32LE(9);
  const sequence = u64(13);
  const createdMs = u64(21);
  const fileCount = bytes.readUInt32LE(29);
  if (fileCount > (crcAt - HEADER_BYTES - 4) / FILE_RECORD_BYTES) fail(29, `file count ${fileCount} overruns the manifest`);
  const files: BackupFile[] = [];
  let at = HEADER_BYTES;
  for (let i = 0; i < fileCount; i++, at += FILE_RECORD_BYTES) {
    files.push({ fileNumber: u64(at), sizeBytes: u64(at + 8), crc32: bytes.readUInt32LE(at + 16) });
  }
  const editLength = bytes.readUInt32LE(at);
  if (editLength !== crcAt - at - 4) fail(at, `edit length ${editLength} does not fill the manifest`);
  const state = emptyManifestState();
  applyEdit(state, decodeVersionEdit(bytes.subarray(at + 4, crcAt), file, at + 4));
  const named = new Set(files.map((entry) => entry.fileNumber));
  if (named.size !== files.length || state.files.size !== files.length || [...state.files.keys()].some((n) => !named.has(n))) {
    fail(at, 'the table list and the MANIFEST snapshot disagree');
  }
  return { id, sequence, createdMs, files, state };
}
