/**
 * `DB.repair(location)`: salvages what is intact in a damaged database, as
 * LevelDB's RepairDB does, and leaves a database that opens with every intact
 * entry readable (docs/tools.md, "Repair").
 *
 * - When CURRENT and the MANIFEST are readable, the tables it names keep their
 *   levels: an intact table stays as it is; a table with damaged data blocks is
 *   rewritten, at its level, from the entries of its intact blocks; a table whose
 *   footer, index, filter or properties are damaged (no block can be found) or
 *   that is missing is dropped. The intact records of the logs the MANIFEST does
 *   not cover become one L0 table: they are newer than every table.
 * - Otherwise nothing says which tables are live or which entry is newer than
 *   which, so every table in the directory and every log is merged, by internal
 *   key, into new L1 tables (the sequence numbers decide), as a compaction would.
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
import { CorruptionError, ShaleError, ioError } from '../errors.js';
import { TABLE_FORMAT_VERSION, TABLE_FORMAT_VERSION_PREFIX_FILTER, TABLE_FORMAT_VERSION_RANGE_DEL_EXPIRY } from '../sstable/format.js';
import type { FileLock, FileSystem } from '../fs/file-system.js';
import { CURRENT_FILE_NAME, LOCK_FILE_NAME, filePath, logFileName, parseFileName, tableFileName } from '../filenames.js';
import { EntryType, INTERNAL_KEY_TRAILER_BYTES, SEQUENCE_MAX, encodeInternalKey, readTrailerSeq } from '../keys.js';
import { FragmentedTombstones, mergeFragments, tombstonesOf, type RangeTombstone } from '../rangedel/fragments.js';
import { rangeDelBlockSpec } from '../rangedel/table-tombstones.js';
import { TableReader } from '../sstable/table-reader.js';
import { MemTable } from '../memtable/memtable.js';
import { resolveOptions, tableBuilderOptions, type ResolvedOptions } from '../options.js';
import { writeTable } from '../compaction/flush.js';
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

/**
 * The table format versions whose every block the salvage carries over (data
 * blocks; the filter and index are rebuilt). A damaged table of another version
 * may hold blocks it would drop (a later version's range tombstones, say), and
 * dropping a tombstone brings back what it deleted: repair refuses it rather than
 * rewrite it. A version is added here once `salvage-writer.ts` copies its blocks.
 */
export const SALVAGE_TABLE_FORMAT_VERSIONS: readonly number[] = [TABLE_FORMAT_VERSION, TABLE_FORMAT_VERSION_PREFIX_FILTER, TABLE_FORMAT_VERSION_RANGE_DEL_EXPIRY];

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
 * `INVALID_ARGUMENT`, `NOT_FOUND` (no database there), `LOCKED`, `NOT_SUPPORTED`
 * (a table or log of a newer format: nothing is changed) or `IO_ERROR`.
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
    const written = await writeSalvagedTables([salvage.source], {
      fs,
      dir,
      level: meta.level,
      tableOptions: tableBuilderOptions(run.options, meta.level),
      targetFileSizeBytes: Infinity,
      newFileNumber: run.newFileNumber,
      rangeTombstones: salvage.tombstones.fragments,
    });
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
  /** The table's range tombstones: from its range-del block, or found among the scanned blocks. */
  tombstones: FragmentedTombstones;
  close: () => Promise<void>;
}

/**
 * The entries of table `name` that can be read: those of its intact blocks,
 * found through its index, or, when its metadata is damaged, by scanning for
 * blocks by their checksums (`block-scan.ts`). Undefined when there are none.
 */
async function salvageSource(run: RepairRun, name: string, fileNumber: number, check: TableCheck): Promise<Salvage | undefined> {
  if (check.missing) return undefined;
  const version = check.properties?.formatVersion;
  if (version !== undefined && !SALVAGE_TABLE_FORMAT_VERSIONS.includes(version)) {
    throw new ShaleError('NOT_SUPPORTED', `${name} is damaged and of table format version ${version}, whose blocks this repair cannot all carry over; nothing was installed`);
  }
  const path = filePath(run.dir, name);
  if (!check.metadataIntact) {
    const scan = await scanTableBlocks(run.fs, path);
    // A scan finds the range-del block too (it is a block like the data blocks): its entries are range tombstones.
    const entries = scan.entries.filter(([key]) => key[key.length - INTERNAL_KEY_TRAILER_BYTES] !== EntryType.RANGE_DELETE);
    const scanned = scan.entries.filter((entry) => !entries.includes(entry)).map(rangeTombstoneOf);
    const tombstones = mergeFragments([FragmentedTombstones.of(scanned), scan.rangeTombstones ?? FragmentedTombstones.EMPTY], SEQUENCE_MAX);
    if (entries.length === 0 && tombstones.isEmpty) return undefined;
    return { source: new ArrayEntries(entries), entries: entries.length, tombstones, close: async () => undefined };
  }
  const tombstones = await tableRangeTombstones(run, name, fileNumber);
  if (check.entryCount === 0) return tombstones.isEmpty ? undefined : { source: new ArrayEntries([]), entries: 0, tombstones, close: async () => undefined };
  const file = await run.fs.openRead(path);
  return { source: IntactEntries.open(file, path, fileNumber)!, entries: check.entryCount, tombstones, close: () => file.close() };
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

/** Writes the logs' salvaged writes, range deletes included (as open's recovery does), as one L0 table. */
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
  // Range tombstones go into the new tables beside the entries they delete, never into a table of their own above them.
  const tombstoneLists = [memtable.rangeTombstones];
  try {
    for (const fileNumber of tables) {
      const name = tableFileName(fileNumber);
      const check = await checkedTable(run, name, fileNumber);
      report.damage.push(...check.damage);
      run.lost.add(name);
      const salvage = await salvageSource(run, name, fileNumber, check);
      if (salvage === undefined) report.tablesDropped.push(name);
      else salvages.push(salvage);
      if (salvage !== undefined) tombstoneLists.push(salvage.tombstones);
    }
    const logEntries = [...memtable.entries()].map(([key, value]) => [encodeInternalKey(key.key, key.seq, key.type), value] as const);
    const sources = [...salvages.map((salvage) => salvage.source), new ArrayEntries(logEntries)];
    // Every range tombstone goes into the merged tables, cut between them; the sequence goes on after the newest.
    const tombstones = mergeFragments(tombstoneLists, SEQUENCE_MAX).fragments;
    for (const tombstone of tombstonesOf(tombstones)) run.state.lastSequence = Math.max(run.state.lastSequence, tombstone.seq);
    const written = await writeSalvagedTables(sources, {
      fs,
      dir,
      level: 1,
      tableOptions: tableBuilderOptions(run.options, 1),
      targetFileSizeBytes: run.options.targetFileSizeBytes,
      newFileNumber: run.newFileNumber,
      rangeTombstones: tombstones,
    });
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

/** A range-del block entry found by a block scan as a tombstone: `start ‖ trailer` → `end`. */
function rangeTombstoneOf([key, value]: [Buffer, Buffer]): RangeTombstone {
  const userKeyLength = key.length - INTERNAL_KEY_TRAILER_BYTES;
  return { start: key.subarray(0, userKeyLength), end: value, seq: readTrailerSeq(key, userKeyLength) };
}

/** The range tombstones of an intact table (none when its range-del block turns out damaged: like a damaged data block, lost). */
async function tableRangeTombstones(run: RepairRun, name: string, fileNumber: number): Promise<FragmentedTombstones> {
  const path = filePath(run.dir, name);
  const file = await run.fs.openRead(path);
  try {
    return TableReader.open(file, path, fileNumber).rangeTombstones();
  } catch (err) {
    if (err instanceof CorruptionError) return FragmentedTombstones.EMPTY;
    throw err;
  } finally {
    await file.close();
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
