/**
 * `DB.repair(location)`: salvages what is intact in a damaged database, as
 * LevelDB's RepairDB does, and leaves a database that opens with every intact
 * entry readable (docs/tools.md, "Repair").
 *
 * - When CURRENT and the MANIFEST are readable, the tables it names keep their
 *   levels: an intact table stays as it is; a table with damaged data blocks is
 *   rewritten, at its level, from the entries of its intact blocks and the range
 *   tombstones of its range-del block; a table whose footer, index, filter,
 *   range-del or properties block is damaged is rewritten from the data blocks
 *   (and the range-del block) found by their checksums; a missing table is
 *   dropped. The intact records of the logs the MANIFEST does not cover, range
 *   deletes included, become one L0 table: they are newer than every table, so
 *   its tombstones delete only older versions, as they did in the logs.
 * - Otherwise nothing says which tables are live or which entry is newer than
 *   which, so every table in the directory and every log is merged, by internal
 *   key, into new L1 tables (the sequence numbers decide), as a compaction would;
 *   their range tombstones, fragmented together, are cut between those tables,
 *   so that each holds every version and every tombstone of its keys.
 *
 * Entries are copied as they are: a PUT_EXPIRING keeps its expiry time (its
 * value is `expiresAtMs ‖ value`), and an expired one stays, reading as a
 * delete, for compaction to drop.
 *
 * Crash safety: every new table is synced with its directory entry before a new
 * MANIFEST names it; the MANIFEST and CURRENT are written as open writes them
 * (`ManifestWriter.create`: MANIFEST synced, then CURRENT by temp file and
 * rename); only then are damaged and unreferenced files moved to `lost/`. A crash
 * before CURRENT switches leaves the old database as it was (plus unreferenced new
 * tables, which open deletes and a second repair sets aside); a crash after leaves
 * the repaired one.
 */
import { basename } from 'node:path';
import { CorruptionError, ioError } from '../errors.js';
import type { FileLock, FileSystem } from '../fs/file-system.js';
import { CURRENT_FILE_NAME, LOCK_FILE_NAME, filePath, logFileName, parseFileName, tableFileName } from '../filenames.js';
import { encodeInternalKey } from '../keys.js';
import { MemTable } from '../memtable/memtable.js';
import { resolveOptions, tableBuilderOptions, type ResolvedOptions } from '../options.js';
import { writeTable } from '../compaction/flush.js';
import { fragmentTombstones, tombstonesOf, type Fragment } from '../rangedel/fragments.js';
import { rangeDelBlockSpec } from '../rangedel/table-tombstones.js';
import { ManifestWriter, emptyManifestState, readCurrent, replayManifest, type ManifestState } from '../version/manifest.js';
import type { FileMeta } from '../version/version-edit.js';
import { WAL_MAGIC } from '../wal/log-format.js';
import { replayLogs } from '../wal/recovery.js';
import { scanTableBlocks } from './block-scan.js';
import { readLogRecords } from './log-records.js';
import { ArrayEntries, IntactEntries, writeSalvagedTables, type EntrySource } from './salvage-writer.js';
import { checkFormatVersion, checkTable, damageOf, type Damage, type TableCheck } from './table-check.js';
import { toolOptions } from './tool-options.js';
import { fileNumbers, listDatabase } from './database-directory.js';
import { progressTracker, type ProgressTracker, type ToolProgress } from './progress.js';

/** The folder, inside the database directory, where repair moves the files it does not keep. */
export const LOST_DIR_NAME = 'lost';

/** What `DB.repair` kept, rewrote and dropped. */
export interface RepairReport {
  /** Whether the MANIFEST was readable and said which tables are live, at which level. */
  manifestUsed: boolean;
  /** Tables kept as they were. */
  tablesKept: string[];
  /** Tables rewritten from their intact blocks (or, without a MANIFEST, merged): the originals, and the new tables. */
  tablesRewritten: { from: string[]; to: string[]; entries: number }[];
  /** Tables the database no longer holds, none of whose entries could be read: missing, or their metadata damaged. */
  tablesDropped: string[];
  /** Logs whose intact records were salvaged, with how many write groups and operations. */
  logsReplayed: { name: string; records: number; operations: number }[];
  /** The new table (L0, or with the merged ones) holding the logs' writes; undefined when they held none. */
  logTable?: string;
  /** Files moved into `lost/`: damaged ones, and tables no live version names. */
  movedToLost: string[];
  /** Every damaged place found (a torn tail of the newest log, which recovery too would drop, is `tolerated`). */
  damage: Damage[];
  /** The sequence number the repaired database continues from. */
  lastSequence: number;
}

/** Options of `DB.repair`. */
export interface RepairOptions {
  /** The file system holding the database. Default: `node:fs`. */
  fs?: FileSystem;
  /** Called as files are read. */
  onProgress?: (progress: ToolProgress) => void;
}

/** Everything one repair works with. */
interface RepairRun {
  fs: FileSystem;
  dir: string;
  options: ResolvedOptions;
  report: RepairReport;
  state: ManifestState;
  /** Files to move to `lost/` once the new MANIFEST is in place. */
  lost: Set<string>;
  newFileNumber: () => number;
  progress: ProgressTracker;
}

/**
 * `DB.repair`: checks the arguments, takes the directory's lock, and repairs the
 * database in `location` (see the module comment). Rejects with
 * `INVALID_ARGUMENT`, `NOT_FOUND` (no database there), `LOCKED` or `IO_ERROR`.
 */
export async function repair(location: string, options: RepairOptions = {}): Promise<RepairReport> {
  const { fs, onProgress } = toolOptions(location, options, ['onProgress']);
  await listDatabase(fs, location);
  let lock: FileLock;
  try {
    lock = await fs.lock(filePath(location, LOCK_FILE_NAME));
  } catch (err) {
    throw ioError(`locking ${location}`, err);
  }
  try {
    // Listed again under the lock: until it was taken, a process could still have been changing the files.
    return await repairLocked(fs, location, await listDatabase(fs, location), onProgress as RepairOptions['onProgress']);
  } finally {
    await lock.release();
  }
}

async function repairLocked(fs: FileSystem, dir: string, names: string[], onProgress: RepairOptions['onProgress']): Promise<RepairReport> {
  const report: RepairReport = { manifestUsed: false, tablesKept: [], tablesRewritten: [], tablesDropped: [], logsReplayed: [], movedToLost: [], damage: [], lastSequence: 0 };
  const lost = new Set<string>();
  const old = await readOldState(fs, dir, names, report, lost);
  let nextFileNumber = names.reduce((next, name) => Math.max(next, (parseFileName(name)?.fileNumber ?? 0) + 1), old?.nextFileNumber ?? 1);
  const numbered = (kind: 'table' | 'log'): number[] => fileNumbers(names, kind);
  const tables = old === undefined ? numbered('table') : [...old.files.keys()].sort((a, b) => a - b);
  const logs = numbered('log').filter((number) => number >= (old?.logNumber ?? 0));
  const progress = await progressTracker(fs, dir, [...tables.map(tableFileName), ...logs.map(logFileName)], onProgress);
  const run: RepairRun = {
    fs,
    dir,
    options: resolveOptions({ fs }),
    report,
    state: emptyManifestState(),
    lost,
    newFileNumber: () => nextFileNumber++,
    progress,
  };
  if (old !== undefined) {
    report.manifestUsed = true;
    run.state.compactPointers = old.compactPointers;
    run.state.lastSequence = old.lastSequence;
    const named = new Set(old.files.keys());
    for (const table of numbered('table')) if (!named.has(table)) run.lost.add(tableFileName(table));
    // Every file is read before anything is written: a newer format (NOT_SUPPORTED) stops the repair with nothing changed.
    await checkFormatVersions(run, tables);
    const memtable = await replayIntactLogs(run, logs);
    for (const table of tables) await keepOrRewrite(run, old.files.get(table)!);
    await writeLogTable(run, memtable);
  } else {
    await checkFormatVersions(run, tables);
    const memtable = await replayIntactLogs(run, logs);
    await mergeEverything(run, tables, memtable);
  }
  await installState(run);
  await moveToLost(run);
  report.lastSequence = run.state.lastSequence;
  return report;
}

/** Rejects with `NOT_SUPPORTED` if any of `tables` is of a table format version this release does not read. */
async function checkFormatVersions(run: RepairRun, tables: number[]): Promise<void> {
  for (const table of tables) {
    const path = filePath(run.dir, tableFileName(table));
    const file = await run.fs.openRead(path).catch(() => undefined);
    if (file === undefined) continue;
    try {
      checkFormatVersion(file, path);
    } finally {
      await file.close();
    }
  }
}

/** The state CURRENT and the MANIFEST describe, or undefined (with the damage noted) when either is unusable. */
async function readOldState(fs: FileSystem, dir: string, names: string[], report: RepairReport, lost: Set<string>): Promise<ManifestState | undefined> {
  if (!names.includes(CURRENT_FILE_NAME)) {
    report.damage.push({ file: filePath(dir, CURRENT_FILE_NAME), offset: 0, reason: 'CURRENT is missing' });
    return undefined;
  }
  try {
    return await replayManifest(fs, dir, await readCurrent(fs, dir));
  } catch (err) {
    if (!(err instanceof CorruptionError)) throw ioError(`reading the MANIFEST of ${dir}`, err);
    report.damage.push(damageOf(err));
    // A damaged MANIFEST is set aside; CURRENT is replaced anyway.
    if (parseFileName(basename(err.file))?.kind === 'manifest') lost.add(basename(err.file));
    return undefined;
  }
}

/** Keeps an intact table as it is, rewrites a damaged one from what can be read of it, drops one with nothing readable. */
async function keepOrRewrite(run: RepairRun, meta: FileMeta): Promise<void> {
  const { fs, dir, report } = run;
  const name = tableFileName(meta.fileNumber);
  const check = await checkedTable(run, name, meta.fileNumber);
  report.damage.push(...check.damage);
  if (check.damage.length === 0) {
    run.state.files.set(meta.fileNumber, meta);
    report.tablesKept.push(name);
    return;
  }
  if (!check.missing) run.lost.add(name);
  const salvage = await salvageSource(run, name, meta.fileNumber, check);
  if (salvage === undefined) {
    report.tablesDropped.push(name);
    return;
  }
  try {
    // One table: its entries and tombstones are subsets of the original's, so it fits where that was.
    const target = { fs, dir, level: meta.level, tableOptions: tableBuilderOptions(run.options, meta.level), targetFileSizeBytes: Infinity, newFileNumber: run.newFileNumber };
    const written = await writeSalvagedTables([salvage.source], target, salvage.tombstones);
    for (const table of written) run.state.files.set(table.fileNumber, table);
    report.tablesRewritten.push({ from: [name], to: written.map((table) => tableFileName(table.fileNumber)), entries: salvage.entries });
  } finally {
    await salvage.close();
  }
}

/** What can be read of a table: a source of its entries, how many, its range tombstones, and how to let go of it. */
interface Salvage {
  source: EntrySource;
  entries: number;
  /** Fragmented, from the table's range-del block (none when it has none, or it could not be read). */
  tombstones: readonly Fragment[];
  close: () => Promise<void>;
}

/**
 * The entries of table `name` that can be read: those of its intact blocks,
 * found through its index, or, when its metadata is damaged, by scanning for
 * blocks by their checksums (`block-scan.ts`), and its range tombstones.
 * Undefined when there are neither.
 */
async function salvageSource(run: RepairRun, name: string, fileNumber: number, check: TableCheck): Promise<Salvage | undefined> {
  if (check.missing) return undefined;
  const path = filePath(run.dir, name);
  if (!check.metadataIntact) {
    const scan = await scanTableBlocks(run.fs, path);
    if (scan.entries.length === 0 && scan.rangeTombstones.length === 0) return undefined;
    return { source: new ArrayEntries(scan.entries), entries: scan.entries.length, tombstones: scan.rangeTombstones, close: async () => undefined };
  }
  const file = await run.fs.openRead(path);
  const source = IntactEntries.open(file, path, fileNumber)!;
  if (check.entryCount === 0 && source.rangeTombstones.length === 0) {
    await file.close();
    return undefined;
  }
  return { source, entries: check.entryCount, tombstones: source.rangeTombstones, close: () => file.close() };
}

/** Reads and checks table `name`, reporting progress. */
async function checkedTable(run: RepairRun, name: string, fileNumber: number): Promise<TableCheck> {
  run.progress.start(name);
  const check = await checkTable(run.fs, filePath(run.dir, name), fileNumber, { onProgress: (bytes) => run.progress.within(bytes) });
  run.progress.finish();
  return check;
}

/**
 * Applies the intact write groups of `logs` (ascending) to a memtable. Damage that
 * recovery tolerates (a torn tail of the newest log) ends the replay there, as
 * recovery would, so that a database with no other damage repairs to exactly what
 * open would recover; after any other damage every intact record is salvaged, and
 * the log goes to `lost/`.
 */
async function replayIntactLogs(run: RepairRun, logs: number[]): Promise<MemTable> {
  const memtable = new MemTable(run.options.memtableNodeSizeMax);
  for (const [index, fileNumber] of logs.entries()) {
    const name = logFileName(fileNumber);
    const path = filePath(run.dir, name);
    run.progress.start(name);
    const { records } = await readLogRecords(run.fs, path, { magic: WAL_MAGIC, fileNumber });
    run.progress.finish();
    const damaged = records.some((record) => record.kind === 'bad');
    const tornTail = damaged && index === logs.length - 1 && (await recoveryAccepts(run, fileNumber));
    let groups = 0;
    let operations = 0;
    for (const record of records) {
      if (record.kind === 'bad') {
        run.report.damage.push({ file: path, offset: record.offset, reason: record.reason, ...(tornTail ? { tolerated: true as const } : {}) });
        if (tornTail) break;
        run.lost.add(name);
      } else if (record.kind === 'write-group') {
        let seq = record.group.firstSeq;
        for (const op of record.group.ops) memtable.add(seq++, op.type, op.key, op.value);
        run.state.lastSequence = Math.max(run.state.lastSequence, seq - 1);
        groups++;
        operations += record.group.ops.length;
      }
    }
    run.report.logsReplayed.push({ name, records: groups, operations });
  }
  return memtable;
}

/** Whether recovery replays log `fileNumber` as the newest log (its damage a torn tail it drops). */
async function recoveryAccepts(run: RepairRun, fileNumber: number): Promise<boolean> {
  try {
    await replayLogs(run.fs, run.dir, [fileNumber], 'tolerate-tail', () => undefined);
    return true;
  } catch (err) {
    if (err instanceof CorruptionError) return false;
    throw err;
  }
}

/** Writes the logs' salvaged writes, range tombstones included, as one L0 table (as recovery does). */
async function writeLogTable(run: RepairRun, memtable: MemTable): Promise<void> {
  const fileNumber = run.newFileNumber();
  const rangeDel = rangeDelBlockSpec(memtable.rangeTombstones.fragments);
  const table = await writeTable(run.fs, run.dir, fileNumber, 0, memtable.entries(), tableBuilderOptions(run.options, 0), rangeDel);
  if (table === undefined) return;
  run.state.files.set(table.fileNumber, table);
  run.report.logTable = tableFileName(table.fileNumber);
}

/** Without a MANIFEST: merges the intact entries of every table and log into new L1 tables; every old table goes to `lost/`. */
async function mergeEverything(run: RepairRun, tables: number[], memtable: MemTable): Promise<void> {
  const { fs, dir, report } = run;
  const salvages: Salvage[] = [];
  try {
    for (const fileNumber of tables) {
      const name = tableFileName(fileNumber);
      const check = await checkedTable(run, name, fileNumber);
      report.damage.push(...check.damage);
      run.lost.add(name);
      const salvage = await salvageSource(run, name, fileNumber, check);
      if (salvage === undefined) report.tablesDropped.push(name);
      else salvages.push(salvage);
    }
    const logEntries = [...memtable.entries()].map(([key, value]) => [encodeInternalKey(key.key, key.seq, key.type), value] as const);
    const sources = [...salvages.map((salvage) => salvage.source), new ArrayEntries(logEntries)];
    // Every tombstone found, fragmented together (the same one found twice counts once).
    const tombstones = fragmentTombstones([...salvages.flatMap((salvage) => tombstonesOf(salvage.tombstones)), ...tombstonesOf(memtable.rangeTombstones.fragments)]);
    const written = await writeSalvagedTables(
      sources,
      { fs, dir, level: 1, tableOptions: tableBuilderOptions(run.options, 1), targetFileSizeBytes: run.options.targetFileSizeBytes, newFileNumber: run.newFileNumber },
      tombstones,
    );

    for (const table of written) {
      run.state.files.set(table.fileNumber, table);
      run.state.lastSequence = Math.max(run.state.lastSequence, table.largestSeq);
    }
    const from = tables.map(tableFileName).filter((name) => !report.tablesDropped.includes(name));
    const entries = written.length === 0 ? 0 : (await Promise.all(written.map((table) => entryCount(run, table)))).reduce((a, b) => a + b, 0);
    report.tablesRewritten.push({ from, to: written.map((table) => tableFileName(table.fileNumber)), entries });
  } finally {
    for (const salvage of salvages) await salvage.close();
  }
}

async function entryCount(run: RepairRun, table: FileMeta): Promise<number> {
  return (await checkTable(run.fs, filePath(run.dir, tableFileName(table.fileNumber)), table.fileNumber)).entryCount;
}

/** Makes the new tables' directory entries durable, then writes the new MANIFEST and switches CURRENT to it. */
async function installState(run: RepairRun): Promise<void> {
  const { fs, dir, state } = run;
  try {
    await fs.syncDir(dir);
  } catch (err) {
    throw ioError(`syncing directory ${dir}`, err);
  }
  for (const table of state.files.values()) state.lastSequence = Math.max(state.lastSequence, table.largestSeq);
  // A log number above every log present: each one is now in a table, and open deletes them.
  state.logNumber = run.newFileNumber();
  const manifestNumber = run.newFileNumber();
  const tempNumber = run.newFileNumber();
  state.nextFileNumber = run.newFileNumber();
  const manifest = await ManifestWriter.create(fs, dir, manifestNumber, tempNumber, state);
  await manifest.close();
}

/** Moves the files in `run.lost` to `lost/` (only once the new MANIFEST no longer needs them). */
async function moveToLost(run: RepairRun): Promise<void> {
  if (run.lost.size === 0) return;
  const { fs, dir } = run;
  const lostDir = filePath(dir, LOST_DIR_NAME);
  try {
    await fs.mkdir(lostDir);
    for (const name of [...run.lost].sort()) {
      const target = (await fs.exists(filePath(lostDir, name))) ? `${name}.${Date.now()}` : name;
      await fs.rename(filePath(dir, name), filePath(lostDir, target));
      run.report.movedToLost.push(name);
    }
    await fs.syncDir(lostDir);
    await fs.syncDir(dir);
  } catch (err) {
    throw ioError(`moving damaged files to ${lostDir}`, err);
  }
}
