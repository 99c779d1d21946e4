/**
 * Read-only opens: a point-in-time view of a database, read without changing a
 * byte of it, beside a writer in another process or with none
 * (docs/internals.md, "Read-only opens").
 *
 * A view is the MANIFEST's tables, each opened (and pinned in the table cache)
 * while loading, plus the logs the MANIFEST does not cover, replayed into a
 * memtable in memory. On Linux and macOS an open file outlives its unlink, so
 * the view stays readable while the writer compacts and deletes what it holds.
 *
 * The writer deletes files only after a MANIFEST edit (or a new MANIFEST) makes
 * them obsolete. So a load is valid when CURRENT still names the MANIFEST it read
 * and that MANIFEST has not grown since before it was read: then no file the
 * view needed can have been deleted before the load opened it. A load that finds
 * the MANIFEST changed, or fails on a file that vanished, or on damage a racing
 * append can fake, is retried from CURRENT, `READ_ONLY_LOAD_ATTEMPTS` times at
 * most; the last failure is the caller's.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { CorruptionError, ShaleError, ioError } from '../errors.js';
import type { FileSystem } from '../fs/file-system.js';
import { CURRENT_FILE_NAME, filePath, manifestFileName, parseFileName, tableFileName } from '../filenames.js';
import { MemTable } from '../memtable/memtable.js';
import type { ResolvedOptions, WalRecoveryMode } from '../options.js';
import type { TableCache } from '../sstable/table-cache.js';
import { readCurrent, replayManifest, type ManifestState } from '../version/manifest.js';
import type { VersionSet } from '../version/version-set.js';
import { replayLogs, type RecoveryReport } from '../wal/recovery.js';
import type { MemtableSet } from './memtable-set.js';
import type { SnapshotList } from './snapshot.js';

/** Loads tried before a read-only open or `refresh()` gives up and reports the last failure. */
export const READ_ONLY_LOAD_ATTEMPTS = 10;

/** The pause before the n-th retry is n times this: room for the writer to finish what it was switching. */
const RETRY_PAUSE_MS = 5;

/** A consistent state of the database, ready to be swapped in. */
interface LoadedView {
  state: ManifestState;
  memtable: MemTable;
  lastSequence: number;
  report: RecoveryReport;
}

/** A load that saw the writer change the MANIFEST under it: always retried. */
class ViewChanged extends Error {}

/** What a read-only database's view lives in: the parts a `DB` shares with its reads. */
export interface ReadOnlyParts {
  options: ResolvedOptions;
  location: string;
  versions: VersionSet;
  memtables: MemtableSet;
  tableCache: TableCache;
  snapshots: SnapshotList;
}

/**
 * The follower side of a read-only database: loads views and swaps them in.
 * Loads run one at a time, in call order, so a `refresh()` called after a write
 * was acknowledged always starts reading after it.
 */
export class ReadOnlyFollower {
  readonly #parts: ReadOnlyParts;
  #lastSequence = 0;
  #report: RecoveryReport | undefined;
  #retryCount = 0;
  #queue: Promise<void> = Promise.resolve();

  constructor(parts: ReadOnlyParts) {
    this.#parts = parts;
  }

  /** The last sequence number of the current view: the read point of reads without a snapshot. */
  get lastSequence(): number {
    return this.#lastSequence;
  }

  /** What replaying the writer's logs found at the last load. */
  get report(): RecoveryReport {
    return this.#report ?? emptyReport();
  }

  /** Loads the writer's latest state and makes it the view of every later read. */
  refresh(): Promise<void> {
    const run = this.#queue.then(() => this.#refresh());
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /** Loads started again since open because the writer changed the database under them (or a file read failed as a race can make it fail). */
  get retryCount(): number {
    return this.#retryCount;
  }

  /** Resolves once no refresh is running (for close). */
  async idle(): Promise<void> {
    await this.#queue;
  }

  async #refresh(): Promise<void> {
    const { options, location, versions, memtables, tableCache, snapshots } = this.#parts;
    const held = new Set<number>();
    for (const file of versions.current.files()) held.add(file.fileNumber);
    const view = await loadView(options, location, tableCache, held, () => this.#retryCount++);
    // The swap is synchronous: a read sees the old view or the new one, never a mix.
    view.memtable.freeze();
    versions.adopt(view.state);
    memtables.replaceAll(view.memtable, view.state.logNumber);
    snapshots.invalidateAll();
    this.#lastSequence = view.lastSequence;
    this.#report = view.report;
  }
}

/** Releases the pins a view holds on tables it no longer names (the version set's `deleteTables` for a read-only database). */
export function releaseTables(tableCache: TableCache, fileNumbers: readonly number[]): void {
  for (const fileNumber of fileNumbers) {
    tableCache.release(fileNumber);
    tableCache.evict(fileNumber);
  }
}

/**
 * Loads a view, retrying as the module comment says. Tables in `held` are
 * pinned already; every other table of the view is pinned by this load (and
 * unpinned again if the load fails).
 */
async function loadView(options: ResolvedOptions, dir: string, tableCache: TableCache, held: ReadonlySet<number>, onRetry: () => void): Promise<LoadedView> {
  for (let attempt = 1; ; attempt++) {
    const acquired: number[] = [];
    try {
      return await loadOnce(options, dir, tableCache, held, acquired);
    } catch (err) {
      for (const fileNumber of acquired) tableCache.release(fileNumber);
      if (!mayRetry(err)) throw err;
      if (attempt >= READ_ONLY_LOAD_ATTEMPTS) {
        if (err instanceof ViewChanged) {
          throw new ShaleError('IO_ERROR', `the database in ${dir} changed during each of ${READ_ONLY_LOAD_ATTEMPTS} attempts to read it`, { cause: err });
        }
        throw err instanceof ShaleError ? err : ioError(`reading ${dir}`, err);
      }
      onRetry();
      await sleep(attempt * RETRY_PAUSE_MS);
    }
  }
}

/**
 * What a racing writer can cause: a file it deleted (ENOENT, alone or as the
 * cause of an `IO_ERROR`), damage a concurrent append or rotation can fake, a
 * changed MANIFEST. Anything else (EIO, EACCES, NOT_FOUND) fails at once.
 */
function mayRetry(err: unknown): boolean {
  if (err instanceof ViewChanged) return true;
  if (err instanceof ShaleError && err.code === 'CORRUPTION') return true;
  const cause = err instanceof ShaleError ? err.cause : err;
  return (cause as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}

async function loadOnce(options: ResolvedOptions, dir: string, tableCache: TableCache, held: ReadonlySet<number>, acquired: number[]): Promise<LoadedView> {
  const { fs } = options;
  await checkDatabaseExists(fs, dir);
  const manifestNumber = await readCurrent(fs, dir);
  const manifestBytes = await fileSize(fs, filePath(dir, manifestFileName(manifestNumber))).catch((err: unknown) => {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    // As replayManifest says it: the damaged file is CURRENT, whose content is wrong.
    throw new CorruptionError(filePath(dir, CURRENT_FILE_NAME), 0, `CURRENT names ${manifestFileName(manifestNumber)}, which does not exist`, { cause: err });
  });
  const state = await replayManifest(fs, dir, manifestNumber);
  const names = await fs.list(dir);
  const present = new Set(names);
  for (const fileNumber of state.files.keys()) {
    if (held.has(fileNumber)) continue;
    if (!present.has(tableFileName(fileNumber))) {
      throw new CorruptionError(filePath(dir, manifestFileName(manifestNumber)), 0, `the MANIFEST names table ${tableFileName(fileNumber)}, which is missing`);
    }
    await tableCache.acquire(fileNumber);
    acquired.push(fileNumber);
  }
  const logNumbers = names
    .map((name) => parseFileName(name))
    .filter((parsed) => parsed?.kind === 'log' && parsed.fileNumber >= state.logNumber)
    .map((parsed) => parsed!.fileNumber)
    .sort((a, b) => a - b);
  const memtable = new MemTable(options.memtableNodeSizeMax);
  const replay = await replayLogs(fs, dir, logNumbers, followerRecoveryMode(options.walRecovery), (group) => {
    let seq = group.firstSeq;
    for (const op of group.ops) memtable.add(seq++, op.type, op.key, op.value);
  });
  // Valid only if the writer logged no edit since the MANIFEST's size was taken.
  if ((await readCurrent(fs, dir)) !== manifestNumber) throw new ViewChanged('CURRENT moved to another MANIFEST');
  if ((await fileSize(fs, filePath(dir, manifestFileName(manifestNumber)))) !== manifestBytes) throw new ViewChanged('the MANIFEST grew');
  return { state, memtable, lastSequence: Math.max(state.lastSequence, replay.lastSequence), report: replay.report };
}

/**
 * The newest log's tail is where a live writer is appending: a partial record
 * there is its work in progress, never corruption, whatever `walRecovery` says.
 * `point-in-time` keeps its meaning; `absolute` reads as `tolerate-tail`.
 */
export function followerRecoveryMode(mode: WalRecoveryMode): WalRecoveryMode {
  return mode === 'point-in-time' ? 'point-in-time' : 'tolerate-tail';
}

/** A read-only open creates nothing: no directory or no CURRENT is `NOT_FOUND` (CURRENT missing beside data files is corruption, as for a writer). */
async function checkDatabaseExists(fs: FileSystem, dir: string): Promise<void> {
  let names: string[];
  try {
    names = await fs.list(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new ShaleError('NOT_FOUND', `database ${dir} does not exist (a read-only open creates none)`);
    throw ioError(`listing ${dir}`, err);
  }
  if (names.includes(CURRENT_FILE_NAME)) return;
  const dataFile = names.find((name) => ['log', 'table'].includes(parseFileName(name)?.kind ?? ''));
  if (dataFile !== undefined) throw new CorruptionError(filePath(dir, CURRENT_FILE_NAME), 0, `CURRENT is missing but ${dataFile} exists`);
  throw new ShaleError('NOT_FOUND', `database ${dir} does not exist (a read-only open creates none)`);
}

async function fileSize(fs: FileSystem, path: string): Promise<number> {
  const handle = await fs.openRead(path);
  try {
    return handle.size;
  } finally {
    await handle.close();
  }
}

function emptyReport(): RecoveryReport {
  return { logsReplayed: [], recordsReplayed: 0, writesReplayed: 0, droppedBytes: 0, droppedRecords: 0, logsDropped: [] };
}
