/**
 * Opening a database: take the lock, read CURRENT and the MANIFEST, replay the
 * write-ahead logs the MANIFEST does not cover into a level-0 table, start a new
 * log and a new MANIFEST, and delete files nothing refers to
 * (docs/durability.md, "Open and recovery").
 */
import * as path from 'node:path';
import { CorruptionError, ShaleError, ioError } from '../errors.js';
import type { FileLock, FileSystem } from '../fs/file-system.js';
import { CURRENT_FILE_NAME, LOCK_FILE_NAME, filePath, logFileName, manifestFileName, parseFileName, tableFileName } from '../filenames.js';
import { ManifestWriter, emptyManifestState, readCurrent, replayManifest, type ManifestState } from '../version/manifest.js';
import { MemTable } from '../memtable/memtable.js';
import { tableBuilderOptions, type ResolvedOptions } from '../options.js';
import { writeTable } from '../compaction/flush.js';
import { rangeDelBlockSpec } from '../rangedel/table-tombstones.js';
import { WAL_MAGIC } from '../wal/log-format.js';
import { LogWriter } from '../wal/log-writer.js';
import { replayLogs, type RecoveryReport } from '../wal/recovery.js';

/** Everything a `DB` starts with. */
export interface OpenedDatabase {
  lock: FileLock;
  manifest: ManifestWriter;
  state: ManifestState;
  log: LogWriter;
  logNumber: number;
  lastSequence: number;
  report: RecoveryReport;
}

export async function openDatabase(dir: string, options: ResolvedOptions): Promise<OpenedDatabase> {
  const { fs } = options;
  await prepareDirectory(fs, dir, options);
  let lock: FileLock;
  try {
    lock = await fs.lock(filePath(dir, LOCK_FILE_NAME));
  } catch (err) {
    throw ioError(`locking ${dir}`, err);
  }
  try {
    return await recover(fs, dir, options, lock);
  } catch (err) {
    await lock.release().catch(() => undefined);
    throw err;
  }
}

async function prepareDirectory(fs: FileSystem, dir: string, options: ResolvedOptions): Promise<void> {
  try {
    if (options.createIfMissing) await makeDirectoryDurably(fs, dir);
    else if (!(await fs.exists(dir))) throw new ShaleError('NOT_FOUND', `database ${dir} does not exist (createIfMissing is false)`);
  } catch (err) {
    throw ioError(`preparing ${dir}`, err);
  }
}

/**
 * Creates `dir` and its missing ancestors, then syncs the parent of each level it
 * created: a new directory's entry is durable only once its parent is synced, and
 * a power loss that drops it drops every acknowledged write inside. Parents
 * deepest first, so that by the time an ancestor's entry is durable everything
 * below it is too. A directory that already existed is not ours to sync (its
 * parent may not even be readable).
 */
export async function makeDirectoryDurably(fs: FileSystem, dir: string): Promise<void> {
  const missing: string[] = [];
  for (let level = path.resolve(dir); !(await fs.exists(level)); level = path.dirname(level)) {
    missing.push(level);
    // The root always exists; this only guards a file system that says otherwise.
    if (path.dirname(level) === level) break;
  }
  await fs.mkdir(dir);
  for (const created of missing) await fs.syncDir(path.dirname(created));
}

/**
 * A `catch` handler that rethrows an OS error (one with an errno code such as
 * `EIO` or `EISDIR`) as `IO_ERROR` with the OS error as `cause`. Everything else
 * passes unchanged: a `ShaleError` is typed already, and an assertion failure is
 * a bug that must not be dressed up as a disk problem.
 */
function rethrowAsIoError(what: string): (err: unknown) => never {
  return (err: unknown) => {
    if (isOsError(err)) throw ioError(what, err);
    throw err;
  };
}

function isOsError(err: unknown): boolean {
  if (!(err instanceof Error) || err instanceof ShaleError) return false;
  const code = (err as NodeJS.ErrnoException).code;
  // Errno names are E followed by capitals (EIO, ENOSPC); node's own codes (ERR_ASSERTION) have underscores.
  return typeof code === 'string' && /^E[A-Z0-9]+$/.test(code);
}

async function listDirectory(fs: FileSystem, dir: string): Promise<string[]> {
  try {
    return await fs.list(dir);
  } catch (err) {
    throw ioError(`listing ${dir}`, err);
  }
}

async function readState(fs: FileSystem, dir: string, names: string[], options: ResolvedOptions): Promise<ManifestState | undefined> {
  if (names.includes(CURRENT_FILE_NAME)) {
    if (options.errorIfExists) throw new ShaleError('EXISTS', `database ${dir} already exists (errorIfExists is true)`);
    const manifestNumber = await readCurrent(fs, dir).catch(rethrowAsIoError(`reading ${filePath(dir, CURRENT_FILE_NAME)}`));
    const state = await replayManifest(fs, dir, manifestNumber).catch(rethrowAsIoError(`reading ${filePath(dir, manifestFileName(manifestNumber))}`));
    checkFilesPresent(state, names, filePath(dir, manifestFileName(manifestNumber)));
    return state;
  }
  // Creation writes CURRENT before any log or table, so data files without CURRENT mean it was lost.
  const dataFile = names.find((name) => ['log', 'table'].includes(parseFileName(name)?.kind ?? ''));
  if (dataFile !== undefined) {
    throw new CorruptionError(filePath(dir, CURRENT_FILE_NAME), 0, `CURRENT is missing but ${dataFile} exists`);
  }
  if (!options.createIfMissing) throw new ShaleError('NOT_FOUND', `database ${dir} does not exist (createIfMissing is false)`);
  return undefined;
}

/**
 * Checks that the files the MANIFEST needs exist: every table it names, and the
 * log its log number names whenever any later log exists. A MANIFEST that lost
 * committed edits (cut short, say) would otherwise open as an older state whose
 * logs are gone: silent loss. A missing log with no later one is legitimate: a
 * crash between switching CURRENT and creating the new log.
 */
function checkFilesPresent(state: ManifestState, names: string[], manifest: string): void {
  const present = new Set(names);
  for (const fileNumber of state.files.keys()) {
    if (!present.has(tableFileName(fileNumber))) {
      throw new CorruptionError(manifest, 0, `the MANIFEST names table ${tableFileName(fileNumber)}, which is missing`);
    }
  }
  const laterLog = names.some((name) => {
    const parsed = parseFileName(name);
    return parsed?.kind === 'log' && parsed.fileNumber > state.logNumber;
  });
  if (laterLog && !present.has(logFileName(state.logNumber))) {
    throw new CorruptionError(manifest, 0, `the MANIFEST needs log ${logFileName(state.logNumber)}, which is missing while later logs exist`);
  }
}

async function recover(fs: FileSystem, dir: string, options: ResolvedOptions, lock: FileLock): Promise<OpenedDatabase> {
  const names = await listDirectory(fs, dir);
  const state = (await readState(fs, dir, names, options)) ?? emptyManifestState();
  let nextFileNumber = state.nextFileNumber;
  const logNumbers: number[] = [];
  for (const name of names) {
    const parsed = parseFileName(name);
    if (parsed === undefined) continue;
    nextFileNumber = Math.max(nextFileNumber, parsed.fileNumber + 1);
    if (parsed.kind === 'log' && parsed.fileNumber >= state.logNumber) logNumbers.push(parsed.fileNumber);
  }
  logNumbers.sort((a, b) => a - b);

  const memtable = new MemTable(options.memtableNodeSizeMax);
  const replay = await replayLogs(fs, dir, logNumbers, options.walRecovery, (group) => {
    let seq = group.firstSeq;
    // Keys and values are views into the log's bytes, which the memtable keeps alive.
    for (const op of group.ops) memtable.add(seq++, op.type, op.key, op.value);
  }).catch(rethrowAsIoError(`replaying the logs of ${dir}`));
  // The recovered writes become a level-0 table, synced with its directory entry, so
  // every replayed log (with whatever torn tail it had) is obsolete once the new
  // MANIFEST names the table.
  const tableNumber = nextFileNumber++;
  const rangeDel = rangeDelBlockSpec(memtable.rangeTombstones.fragments);
  const table = await writeTable(fs, dir, tableNumber, 0, memtable.entries(), tableBuilderOptions(options, 0), rangeDel);
  if (table !== undefined) state.files.set(table.fileNumber, table);

  const logNumber = nextFileNumber++;
  const manifestNumber = nextFileNumber++;
  const tempNumber = nextFileNumber++;
  state.logNumber = logNumber;
  state.nextFileNumber = nextFileNumber;
  state.lastSequence = Math.max(state.lastSequence, replay.lastSequence);
  // CURRENT is switched before the new log exists. A log created first could
  // outlive a crash before the switch: on a new database it would be a log
  // without CURRENT (refused as corruption), and on recovery it would be a newer
  // log than the one just replayed, turning that log's torn tail into corruption.
  const manifest = await ManifestWriter.create(fs, dir, manifestNumber, tempNumber, state);
  let log: LogWriter;
  try {
    log = await createLog(fs, dir, logNumber);
    await syncDirectory(fs, dir, log);
  } catch (err) {
    await manifest.close().catch(() => undefined);
    throw err;
  }
  try {
    await removeObsoleteFiles(fs, dir, state, manifestNumber);
  } catch (err) {
    // Nobody else holds these handles: left open they would wait for the garbage collector.
    await log.close().catch(() => undefined);
    await manifest.close().catch(() => undefined);
    throw err;
  }
  return { lock, manifest, state, log, logNumber, lastSequence: state.lastSequence, report: replay.report };
}

/** Creates log `fileNumber` with its header record, synced. The caller syncs the directory. */
export async function createLog(fs: FileSystem, dir: string, fileNumber: number): Promise<LogWriter> {
  const log = await LogWriter.create(fs, filePath(dir, logFileName(fileNumber)), WAL_MAGIC, fileNumber);
  try {
    await log.sync();
  } catch (err) {
    await log.close().catch(() => undefined);
    throw err;
  }
  return log;
}

/** Makes the new log's directory entry durable before any write relies on it. */
async function syncDirectory(fs: FileSystem, dir: string, log: LogWriter): Promise<void> {
  try {
    await fs.syncDir(dir);
  } catch (err) {
    await log.close().catch(() => undefined);
    throw ioError(`syncing directory ${dir}`, err);
  }
}

/**
 * Deletes what no longer belongs to the database: logs below the MANIFEST's log
 * number, old MANIFESTs, temp files, and tables no version names (partial outputs
 * of a crash). Removals need no directory sync: a file that comes back after a
 * crash is obsolete then too and is deleted at that open.
 */
async function removeObsoleteFiles(
  fs: FileSystem,
  dir: string,
  state: ManifestState,
  manifestNumber: number,
): Promise<void> {
  for (const name of await listDirectory(fs, dir)) {
    const parsed = parseFileName(name);
    if (parsed === undefined) continue;
    const obsolete =
      (parsed.kind === 'log' && parsed.fileNumber < state.logNumber) ||
      (parsed.kind === 'manifest' && parsed.fileNumber !== manifestNumber) ||
      parsed.kind === 'temp' ||
      (parsed.kind === 'table' && !state.files.has(parsed.fileNumber));
    if (!obsolete) continue;
    try {
      await fs.remove(filePath(dir, name));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw ioError(`removing ${name}`, err);
    }
  }
}
