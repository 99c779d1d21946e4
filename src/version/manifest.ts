/**
 * The MANIFEST: a log (the WAL's framing) of version edits naming the files that
 * make up the database, and CURRENT, the one-line file naming the live MANIFEST
 * (docs/format.md, "MANIFEST" and "CURRENT").
 *
 * Every edit is synced, then followed by a commit record, synced too, before it
 * takes effect (before any file it obsoletes is deleted). So a crash can only
 * tear the last record, and damage followed by an intact record is corruption.
 * The commit record is what makes bit rot in the last edit detectable: a damaged
 * edit is followed by its intact commit. An intact edit whose commit was torn is
 * applied: everything it names was synced before it was written, and files it
 * obsoletes were not deleted yet, so applying it loses nothing.
 *
 * A new MANIFEST holding a snapshot of the whole state is written on every open
 * and CURRENT is switched to it (write temp, sync, rename, sync dir).
 */
import { CorruptionError, ShaleError, ioError } from '../errors.js';
import type { FileSystem } from '../fs/file-system.js';
import { CURRENT_FILE_NAME, filePath, manifestFileName, tempFileName } from '../filenames.js';
import { checkFileHeader } from '../wal/log-file-header.js';
import { MANIFEST_MAGIC, RecordKind } from '../wal/log-format.js';
import { readUint64, writeUint64 } from '../util/coding.js';
import { readLogEvents, readWholeFile } from '../wal/log-reader.js';
import { LogWriter } from '../wal/log-writer.js';
import { decodeVersionEdit, emptyEdit, encodeVersionEdit, type FileMeta, type VersionEdit } from './version-edit.js';

/** The database's persistent state as the MANIFEST describes it. */
export interface ManifestState {
  logNumber: number;
  nextFileNumber: number;
  lastSequence: number;
  /** Live tables by file number. */
  files: Map<number, FileMeta>;
  compactPointers: Map<number, Buffer>;
}

export function emptyManifestState(): ManifestState {
  return { logNumber: 0, nextFileNumber: 1, lastSequence: 0, files: new Map(), compactPointers: new Map() };
}

/** Applies `edit` to `state` in place. */
export function applyEdit(state: ManifestState, edit: VersionEdit): void {
  if (edit.logNumber !== undefined) state.logNumber = edit.logNumber;
  // Counters only grow: numbers taken while an edit was being written must not be handed out again.
  if (edit.nextFileNumber !== undefined) state.nextFileNumber = Math.max(state.nextFileNumber, edit.nextFileNumber);
  if (edit.lastSequence !== undefined) state.lastSequence = Math.max(state.lastSequence, edit.lastSequence);
  for (const pointer of edit.compactPointers) state.compactPointers.set(pointer.level, pointer.key);
  for (const deleted of edit.deletedFiles) state.files.delete(deleted.fileNumber);
  for (const file of edit.newFiles) state.files.set(file.fileNumber, file);
}

/** An edit that recreates `state` from nothing: the first record of a new MANIFEST. */
export function snapshotEdit(state: ManifestState): VersionEdit {
  const edit = emptyEdit();
  edit.logNumber = state.logNumber;
  edit.nextFileNumber = state.nextFileNumber;
  edit.lastSequence = state.lastSequence;
  for (const [level, key] of state.compactPointers) edit.compactPointers.push({ level, key });
  edit.newFiles.push(...state.files.values());
  return edit;
}

/** Reads CURRENT and returns the number of the MANIFEST it names. */
export async function readCurrent(fs: FileSystem, dir: string): Promise<number> {
  const file = filePath(dir, CURRENT_FILE_NAME);
  const content = (await fs.readFile(file)).toString('latin1');
  const match = /^MANIFEST-(\d{6,})\n$/.exec(content);
  if (!match) throw new CorruptionError(file, 0, `CURRENT does not name a MANIFEST: ${JSON.stringify(content.slice(0, 40))}`);
  return Number(match[1]);
}

/** Replays the MANIFEST numbered `manifestNumber` into a state. */
export async function replayManifest(fs: FileSystem, dir: string, manifestNumber: number): Promise<ManifestState> {
  const file = filePath(dir, manifestFileName(manifestNumber));
  let bytes: Buffer;
  try {
    const handle = await fs.openRead(file);
    try {
      bytes = readWholeFile(handle);
    } finally {
      await handle.close();
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      // The damaged file is CURRENT (or the MANIFEST was lost): name CURRENT, whose content is wrong.
      const current = filePath(dir, CURRENT_FILE_NAME);
      throw new CorruptionError(current, 0, `CURRENT names ${manifestFileName(manifestNumber)}, which does not exist`, { cause: err });
    }
    throw ioError(`reading ${file}`, err);
  }
  const state = emptyManifestState();
  let records = 0;
  let damage: { offset: number; reason: string } | undefined;
  for (const event of readLogEvents(bytes)) {
    if (event.kind === 'bad') {
      damage ??= event;
      continue;
    }
    if (damage) throw new CorruptionError(file, damage.offset, `${damage.reason}, followed by intact edits`);
    if (records === 0) checkFileHeader(event.payload, MANIFEST_MAGIC, manifestNumber, file);
    else if (event.payload[0] === RecordKind.EDIT_COMMIT) checkCommit(event.payload, file, event.offset);
    else applyEdit(state, decodeVersionEdit(event.payload, file, event.offset));
    records++;
  }
  // A MANIFEST is only named by CURRENT once its snapshot edit is synced: it has at least two records.
  if (records < 2) throw new CorruptionError(file, damage?.offset ?? 0, 'MANIFEST has no snapshot edit');
  return state;
}

/** The commit record: kind, then the offset of the edit record it commits (u64le). */
function encodeCommit(editOffset: number): Buffer {
  const out = Buffer.alloc(9);
  out[0] = RecordKind.EDIT_COMMIT;
  writeUint64(out, editOffset, 1);
  return out;
}

function checkCommit(payload: Buffer, file: string, offset: number): void {
  if (payload.length !== 9 || readUint64(payload, 1) < 0) throw new CorruptionError(file, offset, 'bad edit commit record');
}

/** The live MANIFEST, open for appending edits. */
export class ManifestWriter {
  readonly manifestNumber: number;
  readonly #log: LogWriter;

  private constructor(manifestNumber: number, log: LogWriter) {
    this.manifestNumber = manifestNumber;
    this.#log = log;
  }

  /**
   * Creates MANIFEST-`manifestNumber` holding a snapshot of `state`, syncs it, and
   * points CURRENT at it (using temp file number `tempNumber`). When this resolves
   * the new MANIFEST is the durable one.
   */
  static async create(
    fs: FileSystem,
    dir: string,
    manifestNumber: number,
    tempNumber: number,
    state: ManifestState,
  ): Promise<ManifestWriter> {
    const path = filePath(dir, manifestFileName(manifestNumber));
    const log = await LogWriter.create(fs, path, MANIFEST_MAGIC, manifestNumber);
    const writer = new ManifestWriter(manifestNumber, log);
    try {
      const editOffset = log.size;
      await log.addRecord(encodeVersionEdit(snapshotEdit(state)));
      await log.addRecord(encodeCommit(editOffset));
      await log.sync();
      // The MANIFEST's directory entry must be durable before CURRENT can name it:
      // a crash may keep an unsynced rename and lose an unsynced creation.
      await fs.syncDir(dir);
      await installCurrent(fs, dir, manifestNumber, tempNumber);
    } catch (err) {
      await log.close().catch(() => undefined);
      throw ioError(`creating ${path}`, err);
    }
    return writer;
  }

  /** The MANIFEST's length in bytes. */
  get sizeBytes(): number {
    return this.#log.size;
  }

  /** Appends `edit`, syncs it, then commits it: when this resolves the edit is durable and may take effect. */
  async append(edit: VersionEdit): Promise<void> {
    const editOffset = this.#log.size;
    await this.#log.addRecord(encodeVersionEdit(edit));
    await this.#log.sync();
    await this.#log.addRecord(encodeCommit(editOffset));
    await this.#log.sync();
  }

  async close(): Promise<void> {
    await this.#log.close();
  }
}

/** Replaces CURRENT so that it names MANIFEST-`manifestNumber`: write temp, sync, rename, sync dir. */
async function installCurrent(fs: FileSystem, dir: string, manifestNumber: number, tempNumber: number): Promise<void> {
  const temp = filePath(dir, tempFileName(tempNumber));
  const content = Buffer.from(`${manifestFileName(manifestNumber)}\n`, 'latin1');
  try {
    const file = await fs.create(temp);
    try {
      const written = await file.append(content);
      if (written !== content.length) throw new ShaleError('IO_ERROR', `short write to ${temp}`);
      await file.sync();
    } finally {
      await file.close();
    }
    await fs.rename(temp, filePath(dir, CURRENT_FILE_NAME));
    await fs.syncDir(dir);
  } catch (err) {
    throw ioError('installing CURRENT', err);
  }
}
