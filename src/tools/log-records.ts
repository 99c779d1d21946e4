/**
 * Every record of a log file (a WAL or a MANIFEST, docs/format.md, "Log framing"),
 * decoded, and every damaged place, in file order: what `dump-wal`,
 * `dump-manifest`, `DB.verify` and `DB.repair` read. Unlike recovery and
 * `replayManifest`, which stop at the first damage that matters, this goes on
 * past damage (as far as `log-reader.ts` can resynchronise) and turns a record
 * whose payload does not decode into a `bad` entry of its own.
 *
 * Decoding is the engine's own (`checkFileHeader`, `decodeWriteGroup`,
 * `decodeVersionEdit`): a record kind is one line of `RECORD_DECODERS`.
 */
import { CorruptionError, ShaleError } from '../errors.js';
import type { FileSystem } from '../fs/file-system.js';
import { checkFileHeader } from '../wal/log-file-header.js';
import { RecordKind } from '../wal/log-format.js';
import { readLogEvents, readWholeFile } from '../wal/log-reader.js';
import { decodeWriteGroup, type WriteGroup } from '../wal/write-group.js';
import { decodeVersionEdit, type VersionEdit } from '../version/version-edit.js';
import { readUint64 } from '../util/coding.js';

/** The header record every log file starts with. */
export interface HeaderRecord {
  kind: 'header';
  offset: number;
  end: number;
  magic: string;
  formatVersion: number;
  fileNumber: number;
}

/** One decoded record of a log file, or one damaged place (`bad`). */
export type LogRecord =
  | HeaderRecord
  | { kind: 'write-group'; offset: number; end: number; group: WriteGroup }
  | { kind: 'version-edit'; offset: number; end: number; edit: VersionEdit }
  | { kind: 'edit-commit'; offset: number; end: number; editOffset: number }
  /** Bad framing (`framing: true`, as the log reader found it) or an intact record whose payload does not decode. */
  | { kind: 'bad'; offset: number; reason: string; framing: boolean };

/** What a log file should be: its magic and number, from its name (undefined: whatever number its header holds). */
export interface LogExpectation {
  magic: string;
  fileNumber: number | undefined;
}

type Decoded = Exclude<LogRecord, { kind: 'bad' }>;
type Decoder = (payload: Buffer, file: string, offset: number, end: number) => Decoded;

/** Payload decoders by record kind (the payload's first byte). On disk: see `RecordKind`. */
const RECORD_DECODERS: Record<number, Decoder> = {
  [RecordKind.WRITE_GROUP]: (payload, file, offset, end) => ({ kind: 'write-group', offset, end, group: decodeWriteGroup(payload, file, offset) }),
  [RecordKind.VERSION_EDIT]: (payload, file, offset, end) => ({ kind: 'version-edit', offset, end, edit: decodeVersionEdit(payload, file, offset) }),
  [RecordKind.EDIT_COMMIT]: (payload, file, offset, end) => ({ kind: 'edit-commit', offset, end, editOffset: decodeCommit(payload, file, offset) }),
};

/**
 * Decodes every record of the log held in `bytes` (the whole file, named `file`).
 * The first record must be a header matching `expected`; anything wrong with a
 * record is a `bad` entry at its offset, and reading goes on. Only `ShaleError`s
 * other than corruption (a newer format version: `NOT_SUPPORTED`) are thrown.
 */
export function decodeLogRecords(bytes: Buffer, file: string, expected: LogExpectation): LogRecord[] {
  const records: LogRecord[] = [];
  let first = true;
  for (const event of readLogEvents(bytes)) {
    if (event.kind === 'bad') {
      records.push({ kind: 'bad', offset: event.offset, reason: event.reason, framing: true });
      first = false;
      continue;
    }
    try {
      if (first) records.push(decodeHeader(event.payload, file, event.offset, event.end, expected));
      else records.push(decodePayload(event.payload, file, event.offset, event.end));
    } catch (err) {
      if (!(err instanceof CorruptionError)) throw err;
      records.push({ kind: 'bad', offset: event.offset, reason: err.message.replace(/^corruption in .* at offset \d+: /, ''), framing: false });
    }
    first = false;
  }
  const last = records.at(-1);
  const validEnd = last === undefined || last.kind === 'bad' ? 0 : last.end;
  if (records.length === 0 && bytes.length > 0) records.push({ kind: 'bad', offset: 0, reason: 'no intact record', framing: true });
  else if (last !== undefined && last.kind !== 'bad' && bytes.length > validEnd) {
    // As recovery has it: nothing may follow the last record unread.
    records.push({ kind: 'bad', offset: validEnd, reason: 'trailing bytes', framing: true });
  }
  return records;
}

/** Reads the whole log file at `path` and decodes it (see `decodeLogRecords`). */
export async function readLogRecords(fs: FileSystem, path: string, expected: LogExpectation): Promise<{ sizeBytes: number; records: LogRecord[] }> {
  const handle = await fs.openRead(path);
  let bytes: Buffer;
  try {
    bytes = readWholeFile(handle);
  } finally {
    await handle.close();
  }
  return { sizeBytes: bytes.length, records: decodeLogRecords(bytes, path, expected) };
}

function decodeHeader(payload: Buffer, file: string, offset: number, end: number, expected: LogExpectation): HeaderRecord {
  if (offset !== 0) throw new CorruptionError(file, offset, 'the first intact record is not at offset 0');
  const fileNumber = expected.fileNumber ?? (payload.length >= 15 ? readUint64(payload, 7) : -1);
  checkFileHeader(payload, expected.magic, fileNumber, file);
  return { kind: 'header', offset, end, magic: payload.toString('latin1', 1, 5), formatVersion: payload.readUInt16LE(5), fileNumber: readUint64(payload, 7) };
}

function decodePayload(payload: Buffer, file: string, offset: number, end: number): Decoded {
  const decoder = payload.length === 0 ? undefined : RECORD_DECODERS[payload[0]!];
  if (decoder === undefined) throw new CorruptionError(file, offset, `unknown record kind ${payload[0] ?? '(empty record)'}`);
  return decoder(payload, file, offset, end);
}

/** The MANIFEST's commit record: kind, then the offset of the edit it commits (u64le). */
function decodeCommit(payload: Buffer, file: string, offset: number): number {
  const editOffset = payload.length === 9 ? readUint64(payload, 1) : -1;
  if (editOffset < 0) throw new CorruptionError(file, offset, 'bad edit commit record');
  return editOffset;
}

/** Whether `err` is a `ShaleError` that says the file is of a newer format than this release reads. */
export function isNotSupported(err: unknown): err is ShaleError {
  return err instanceof ShaleError && err.code === 'NOT_SUPPORTED';
}
