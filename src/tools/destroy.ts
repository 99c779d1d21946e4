/**
 * `DB.destroy(location)`: removes a database: shale's own files only (docs/tools.md,
 * "Destroy"), as LevelDB's DestroyDB does. It takes the directory's lock first, so
 * it refuses (`LOCKED`) while any process has the database open, and it refuses
 * (`NOT_FOUND`) a directory that holds no shale database, so that a wrong path
 * cannot empty someone else's folder. Files it does not own stay, and so does the
 * directory then; an emptied directory is removed (with the `node:fs` file system).
 */
import * as fsp from 'node:fs/promises';
import { ShaleError, ioError } from '../errors.js';
import type { FileLock, FileSystem } from '../fs/file-system.js';
import { CURRENT_FILE_NAME, LOCK_FILE_NAME, filePath, parseFileName } from '../filenames.js';
import { CHUNK_HEADER_BYTES, MANIFEST_MAGIC, RecordKind, WAL_MAGIC } from '../wal/log-format.js';
import { FOOTER_BYTES, TABLE_MAGIC } from '../sstable/format.js';
import { LOST_DIR_NAME } from './repair.js';
import { toolOptions } from './tool-options.js';
import { listDatabase } from './database-directory.js';

/** Options of `DB.destroy`. */
export interface DestroyOptions {
  /** The file system holding the database. Default: `node:fs`. */
  fs?: FileSystem;
}

/** What `DB.destroy` removed and left. */
export interface DestroyReport {
  /** Files removed (names relative to the directory; `lost/…` for what repair set aside). */
  removed: string[];
  /** Entries left because they are not shale's. */
  kept: string[];
  /** Whether the directory itself was removed (it was empty). */
  directoryRemoved: boolean;
}

/**
 * `DB.destroy`: checks the arguments and removes the database in `location`
 * (see the module comment). Rejects with `INVALID_ARGUMENT`, `NOT_FOUND`,
 * `LOCKED` or `IO_ERROR`.
 */
export async function destroy(location: string, options: DestroyOptions = {}): Promise<DestroyReport> {
  const { fs, custom } = toolOptions(location, options, []);
  const names = await listDatabase(fs, location, false);
  if (!(await holdsShaleFile(fs, location, names))) {
    throw new ShaleError('NOT_FOUND', `${location} holds no shale database: nothing removed`);
  }
  let lock: FileLock;
  try {
    lock = await fs.lock(filePath(location, LOCK_FILE_NAME));
  } catch (err) {
    throw ioError(`locking ${location}`, err);
  }
  const report: DestroyReport = { removed: [], kept: [], directoryRemoved: false };
  try {
    await removeOwnFiles(fs, location, names, '', report);
    if (names.includes(LOST_DIR_NAME)) {
      const lost = filePath(location, LOST_DIR_NAME);
      const lostNames = await fs.list(lost).catch(() => []);
      await removeOwnFiles(fs, lost, lostNames, `${LOST_DIR_NAME}/`, report);
      if (!custom && (await fsp.rmdir(lost).then(() => true, () => false))) report.removed.push(`${LOST_DIR_NAME}/`);
    }
  } finally {
    // Releasing removes the LOCK file (node:fs).
    await lock.release();
  }
  report.kept = report.kept.filter((name) => name !== LOST_DIR_NAME || !report.removed.includes(`${LOST_DIR_NAME}/`));
  if (!custom && report.kept.length === 0) report.directoryRemoved = await fsp.rmdir(location).then(() => true, () => false);
  return report;
}

/**
 * Whether one of the files named as shale names them is shale's by its bytes: a
 * MANIFEST or log whose first record is a shale header, or a table ending with
 * shale's magic. LevelDB uses the same names (CURRENT, MANIFEST-, .log, LOCK).
 */
async function holdsShaleFile(fs: FileSystem, dir: string, names: string[]): Promise<boolean> {
  for (const name of names) {
    const kind = parseFileName(name)?.kind;
    if (kind !== 'manifest' && kind !== 'log' && kind !== 'table') continue;
    const handle = await fs.openRead(filePath(dir, name)).catch(() => undefined);
    if (handle === undefined) continue;
    try {
      if (kind === 'table') {
        if (handle.size >= FOOTER_BYTES && handle.read(handle.size - TABLE_MAGIC.length, TABLE_MAGIC.length).equals(TABLE_MAGIC)) return true;
      } else {
        const header = handle.read(CHUNK_HEADER_BYTES, 5);
        const magic = kind === 'manifest' ? MANIFEST_MAGIC : WAL_MAGIC;
        if (header.length === 5 && header[0] === RecordKind.FILE_HEADER && header.toString('latin1', 1) === magic) return true;
      }
    } finally {
      await handle.close();
    }
  }
  return false;
}

/** Removes the entries of `dir` shale names (all but LOCK, which the lock's release removes). */
async function removeOwnFiles(fs: FileSystem, dir: string, names: string[], prefix: string, report: DestroyReport): Promise<void> {
  // CURRENT first: a destroy cut short leaves no database that could open as a part of itself.
  for (const name of [...names].sort((a, b) => Number(b === CURRENT_FILE_NAME) - Number(a === CURRENT_FILE_NAME) || (a < b ? -1 : 1))) {
    const kind = parseFileName(name)?.kind;
    // Repair renames a file that would collide in lost/ to `name.<ms>`.
    const lostCopy = prefix !== '' && /^(\d+\.(log|sst)|MANIFEST-\d+)\.\d+$/.test(name);
    if (kind === 'lock' || (kind === undefined && !lostCopy)) {
      if (kind === undefined) report.kept.push(prefix + name);
      continue;
    }
    try {
      await fs.remove(filePath(dir, name));
      report.removed.push(prefix + name);
    } catch (err) {
      throw ioError(`removing ${filePath(dir, name)}`, err);
    }
  }
}
