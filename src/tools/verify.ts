/**
 * `DB.verify(location)`: reads every byte of a closed database that open or a
 * read could need and reports each damaged place, changing nothing
 * (docs/tools.md, "Verify"). It reads CURRENT, every record of the MANIFEST, every
 * block of every table the MANIFEST names (`table-check.ts`), and every record of
 * the logs recovery would replay; it also asks the engine's own recovery code
 * (`replayManifest`, `replayLogs`) for its verdict, so that whatever would make
 * open fail is in the report even when the record-by-record reading saw nothing.
 *
 * Damage that open tolerates without loss (a torn tail of the newest WAL or of
 * the MANIFEST, what a crash leaves) is reported with `tolerated: true` and does
 * not make the report fail. Verify takes no lock: run it on a closed database (a
 * running one may delete files under it, reported as missing).
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { CorruptionError, ioError } from '../errors.js';
import type { FileSystem } from '../fs/file-system.js';
import { CURRENT_FILE_NAME, filePath, logFileName, manifestFileName, tableFileName } from '../filenames.js';
import { applyEdit, emptyManifestState, readCurrent, replayManifest, type ManifestState } from '../version/manifest.js';
import { MANIFEST_MAGIC, WAL_MAGIC } from '../wal/log-format.js';
import { replayLogs } from '../wal/recovery.js';
import { EntryType } from '../keys.js';

import { readLogRecords, type LogRecord } from './log-records.js';
import { checkTable, damageOf, type Damage } from './table-check.js';
import { toolOptions } from './tool-options.js';
import { fileNumbers, listDatabase } from './database-directory.js';
import { progressTracker, type ProgressTracker, type ToolProgress } from './progress.js';

export type { Damage } from './table-check.js';
export type { ToolProgress } from './progress.js';

/** One file `DB.verify` read. */
export interface VerifiedFile {
  /** The file's name in the database directory. */
  name: string;
  kind: 'current' | 'manifest' | 'log' | 'table';
  sizeBytes: number;
  /** Log records (MANIFEST, WAL) or data blocks (table) read. */
  records: number;
  /** Entries: operations of a WAL, entries of a table's intact blocks; 0 for others. */
  entries: number;
  /** A table's range tombstones (its range-del block's entries), a WAL's RANGE_DELETE operations (counted in `entries` too); 0 for others. */
  rangeTombstones: number;
  /** Damaged places found in this file (tolerated ones included). */
  damageCount: number;
}

/** What `DB.verify` found. */
export interface VerifyReport {
  /** True when nothing is damaged, or only tolerated damage (see `Damage.tolerated`). */
  ok: boolean;
  /** Every file read, in the order read. */
  files: VerifiedFile[];
  /** Table data blocks read. */
  blockCount: number;
  /** Table entries and WAL operations read. */
  entryCount: number;
  /** Log records (MANIFEST and WAL) read. */
  recordCount: number;
  /** Every damaged place, with its file and offset. */
  damage: Damage[];
  /** Tables in the directory that the MANIFEST does not name: leftovers of a crash, which open deletes. Not read. */
  unreferencedTables: string[];
}

/** Options of `DB.verify`. */
export interface VerifyOptions {
  /** The file system holding the database. Default: `node:fs`. */
  fs?: FileSystem;
  /** Called as files are read. */
  onProgress?: (progress: ToolProgress) => void;
}

/** The state the MANIFEST describes, if it could be read (undefined: CURRENT or the MANIFEST is unusable). */
interface ManifestView {
  state: ManifestState | undefined;
}

/**
 * `DB.verify`: checks the arguments, then verifies the database in `location`
 * (see the module comment). Rejects with `INVALID_ARGUMENT`, `NOT_FOUND` (no
 * database there), `NOT_SUPPORTED` (a table or log of a newer format than this
 * release reads) or `IO_ERROR`; damage is in the report, never a rejection.
 */
export async function verify(location: string, options: VerifyOptions = {}): Promise<VerifyReport> {
  const { fs, onProgress } = toolOptions(location, options, ['onProgress']);
  return verifyDatabase(location, fs, onProgress as VerifyOptions['onProgress']);
}

/** Verifies the database in `dir` (see the module comment). Rejects only when `dir` holds no database, or on an I/O error. */
export async function verifyDatabase(dir: string, fs: FileSystem, onProgress?: (progress: ToolProgress) => void): Promise<VerifyReport> {
  const names = await listDatabase(fs, dir);
  const report: VerifyReport = { ok: true, files: [], blockCount: 0, entryCount: 0, recordCount: 0, damage: [], unreferencedTables: [] };
  const manifest = await verifyManifest(fs, dir, names, report);
  const onDisk = (kind: 'table' | 'log'): number[] => fileNumbers(names, kind);
  const tables = manifest.state === undefined ? onDisk('table') : [...manifest.state.files.keys()].sort((a, b) => a - b);
  if (manifest.state !== undefined) {
    const named = new Set(tables);
    report.unreferencedTables = onDisk('table').filter((number) => !named.has(number)).map(tableFileName);
  }
  const logs = onDisk('log').filter((number) => number >= (manifest.state?.logNumber ?? 0));
  const progress = await progressTracker(fs, dir, [...tables.map(tableFileName), ...logs.map(logFileName)], onProgress);
  for (const fileNumber of tables) await verifyTable(fs, dir, fileNumber, manifest.state, report, progress);
  await verifyLogs(fs, dir, logs, report, progress);
  if (manifest.state !== undefined) checkNeededLog(dir, manifest.state, logs, report);
  report.ok = report.damage.every((damage) => damage.tolerated === true);
  return report;
}

/** Reads CURRENT and the MANIFEST it names, record by record; returns the state when both are usable. */
async function verifyManifest(fs: FileSystem, dir: string, names: string[], report: VerifyReport): Promise<ManifestView> {
  const current = filePath(dir, CURRENT_FILE_NAME);
  if (!names.includes(CURRENT_FILE_NAME)) {
    report.damage.push({ file: current, offset: 0, reason: 'CURRENT is missing' });
    return { state: undefined };
  }
  let manifestNumber: number;
  try {
    manifestNumber = await readCurrent(fs, dir);
  } catch (err) {
    if (!(err instanceof CorruptionError)) throw ioError(`reading ${current}`, err);
    report.damage.push(damageOf(err));
    report.files.push({ name: CURRENT_FILE_NAME, kind: 'current', sizeBytes: 0, records: 0, entries: 0, rangeTombstones: 0, damageCount: 1 });
    return { state: undefined };
  }
  report.files.push({ name: CURRENT_FILE_NAME, kind: 'current', sizeBytes: manifestFileName(manifestNumber).length + 1, records: 1, entries: 0, rangeTombstones: 0, damageCount: 0 });
  const name = manifestFileName(manifestNumber);
  const path = filePath(dir, name);
  if (!names.includes(name)) {
    report.damage.push({ file: current, offset: 0, reason: `CURRENT names ${name}, which does not exist` });
    return { state: undefined };
  }
  const { sizeBytes, records } = await readLogRecords(fs, path, { magic: MANIFEST_MAGIC, fileNumber: manifestNumber });
  const state = emptyManifestState();
  for (const record of records) if (record.kind === 'version-edit') applyEdit(state, record.edit);
  const damage = logDamage(path, records, true);
  // The engine's own verdict: whatever makes open fail is damage, found above or not.
  const verdict = await replayManifest(fs, dir, manifestNumber).then(
    () => undefined,
    (err: unknown) => {
      if (err instanceof CorruptionError) return damageOf(err);
      throw err;
    },
  );
  if (verdict !== undefined) addUnlessKnown(damage, verdict);
  report.damage.push(...damage);
  report.recordCount += records.length;
  report.files.push({ name, kind: 'manifest', sizeBytes, records: records.length, entries: 0, rangeTombstones: 0, damageCount: damage.length });
  return { state: verdict === undefined ? state : undefined };
}

/**
 * The damage among `records`: each bad place, tolerated when `tornTailTolerated`
 * and it is a framing problem with no intact record after it (a torn tail).
 */
function logDamage(path: string, records: LogRecord[], tornTailTolerated: boolean): Damage[] {
  const damage: Damage[] = [];
  records.forEach((record, index) => {
    if (record.kind !== 'bad') return;
    const tail = records.slice(index + 1).every((later) => later.kind === 'bad');
    const found: Damage = { file: path, offset: record.offset, reason: record.reason };
    if (tornTailTolerated && tail && record.framing) found.tolerated = true;
    damage.push(found);
  });
  return damage;
}

function addUnlessKnown(damage: Damage[], found: Damage): void {
  const known = damage.find((d) => d.file === found.file && d.offset === found.offset);
  if (known === undefined) damage.push(found);
  else if (known.tolerated === true) {
    // The engine does not tolerate it (a torn tail that is not one): it is damage.
    delete known.tolerated;
    known.reason = found.reason;
  }
}

async function verifyTable(fs: FileSystem, dir: string, fileNumber: number, state: ManifestState | undefined, report: VerifyReport, progress: ProgressTracker): Promise<void> {
  const name = tableFileName(fileNumber);
  const path = filePath(dir, name);
  progress.start(name);
  const check = await checkTable(fs, path, fileNumber, { onProgress: (bytes) => progress.within(bytes) });
  progress.finish();
  const meta = state?.files.get(fileNumber);
  if (meta !== undefined && check.sizeBytes > 0 && check.sizeBytes !== meta.sizeBytes) {
    check.damage.push({ file: path, offset: 0, reason: `the table is ${check.sizeBytes} bytes; the MANIFEST says ${meta.sizeBytes}` });
  }
  report.damage.push(...check.damage);
  report.blockCount += check.blockCount - check.damagedBlockCount;
  report.entryCount += check.entryCount;
  report.files.push({ name, kind: 'table', sizeBytes: check.sizeBytes, records: check.blockCount, entries: check.entryCount, rangeTombstones: check.rangeTombstoneCount, damageCount: check.damage.length });
}

/** Reads every log recovery would replay; damage in the newest is tolerated where recovery would drop it as a torn tail. */
async function verifyLogs(fs: FileSystem, dir: string, logs: number[], report: VerifyReport, progress: ProgressTracker): Promise<void> {
  for (const [index, fileNumber] of logs.entries()) {
    const name = logFileName(fileNumber);
    const path = filePath(dir, name);
    progress.start(name);
    const { sizeBytes, records } = await readLogRecords(fs, path, { magic: WAL_MAGIC, fileNumber });
    progress.finish();
    const newest = index === logs.length - 1;
    const damage = logDamage(path, records, false);
    if (newest && damage.length > 0 && (await replayVerdict(fs, dir, [fileNumber])) === undefined) {
      for (const found of damage) found.tolerated = true;
    }
    report.damage.push(...damage);
    report.recordCount += records.length;
    let entries = 0;
    let rangeTombstones = 0;
    for (const record of records) {
      if (record.kind !== 'write-group') continue;
      entries += record.group.ops.length;
      for (const op of record.group.ops) if (op.type === EntryType.RANGE_DELETE) rangeTombstones++;
    }
    report.entryCount += entries;
    report.files.push({ name, kind: 'log', sizeBytes, records: records.length, entries, rangeTombstones, damageCount: damage.length });
    await nextTurn();
  }
  // Across logs: sequence numbers must follow on, as recovery checks.
  const verdict = await replayVerdict(fs, dir, logs);
  if (verdict !== undefined) addUnlessKnown(report.damage, verdict);
}

/** What recovery says of `logs` in the default mode: undefined when it replays them. */
async function replayVerdict(fs: FileSystem, dir: string, logs: number[]): Promise<Damage | undefined> {
  try {
    await replayLogs(fs, dir, logs, 'tolerate-tail', () => undefined);
    return undefined;
  } catch (err) {
    if (err instanceof CorruptionError) return damageOf(err);
    throw err;
  }
}

/** As open checks: the log the MANIFEST's log number names must exist when any later log does. */
function checkNeededLog(dir: string, state: ManifestState, logs: number[], report: VerifyReport): void {
  const later = logs.some((number) => number > state.logNumber);
  if (!later || logs.includes(state.logNumber)) return;
  const manifest = report.files.find((file) => file.kind === 'manifest');
  report.damage.push({
    file: filePath(dir, manifest?.name ?? CURRENT_FILE_NAME),
    offset: 0,
    reason: `the MANIFEST needs log ${logFileName(state.logNumber)}, which is missing while later logs exist`,
  });
}
