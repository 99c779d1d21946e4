/**
 * Checkpoints: a consistent, openable copy of the database in a new directory, as
 * of one sequence number, made while writes go on (docs/internals.md,
 * "Checkpoints and backups").
 *
 * The consistent point. The memtable is flushed first (LevelDB style, rather than
 * RocksDB's copy of the live WAL): afterwards the current version's tables hold
 * every write up to the MANIFEST's last sequence and none after it, because
 * memtables are flushed oldest first and each holds a contiguous run of
 * sequences. That version is pinned at once, in the same synchronous stretch
 * that reads the last sequence, so compaction cannot delete its tables while
 * they are linked or copied.
 *
 * Crash safety. The target must not exist. Tables are hard-linked (copied and
 * synced where linking fails or the file system has no links), then a MANIFEST
 * holding a snapshot of the pinned version is written and synced, the directory
 * synced, and CURRENT installed last (write temp, sync, rename, sync dir). Until
 * CURRENT exists the directory does not open as a database: with tables and no
 * CURRENT open reports corruption, and an empty directory is not a database when
 * opened with `createIfMissing: false`. The target holds no log: its writes are
 * all in tables.
 */
import type { FileSystem } from '../fs/file-system.js';
import { ShaleError, ioError } from '../errors.js';
import { filePath, tableFileName } from '../filenames.js';
import { copyFile } from '../fs/copy-file.js';
import type { ResolvedOptions } from '../options.js';
import { ManifestWriter, type ManifestState } from '../version/manifest.js';
import type { FileMeta } from '../version/version-edit.js';
import type { VersionSet } from '../version/version-set.js';
import { makeDirectoryDurably } from './open.js';

/** What a checkpoint works with. */
export interface CheckpointParts {
  options: ResolvedOptions;
  location: string;
  versions: VersionSet;
  /** Flushes every write made so far into tables (the DB's `flush()`). */
  flush(): Promise<void>;
}

/** What `db.checkpoint` resolves with. */
export interface CheckpointResult {
  /** The checkpoint holds exactly the writes with sequence numbers up to this one. */
  sequence: bigint;
  /** Tables in the checkpoint. */
  tableCount: number;
  /** Tables hard-linked (the rest were copied). */
  linkedCount: number;
  /** Bytes of the tables, linked or copied. */
  sizeBytes: number;
}

/** A version pinned with the MANIFEST state that describes it, taken in one synchronous stretch. */
export interface PinnedState {
  files: FileMeta[];
  /** The state a new MANIFEST for a copy of these files records. */
  state: ManifestState;
  release(): void;
}

/**
 * Pins the current version and the MANIFEST state matching it. The state's file
 * numbers past `nextFileNumber` are free in a copy: its new MANIFEST takes the
 * first, the temp file for CURRENT the second.
 */
export function pinCurrentState(versions: VersionSet): PinnedState {
  const { version, release } = versions.pin();
  const source = versions.state;
  const files = [...version.files()];
  const state: ManifestState = {
    // No log below this number matters; the copy holds no log at all.
    logNumber: source.nextFileNumber,
    nextFileNumber: source.nextFileNumber + 2,
    lastSequence: source.lastSequence,
    files: new Map(files.map((file) => [file.fileNumber, file])),
    compactPointers: new Map(source.compactPointers),
  };
  return { files, state, release };
}

/** Makes `targetDir` a checkpoint of the database; see the module comment. */
export async function makeCheckpoint(parts: CheckpointParts, targetDir: string): Promise<CheckpointResult> {
  const { fs } = parts.options;
  await checkTargetAbsent(fs, targetDir);
  await parts.flush();
  const pinned = pinCurrentState(parts.versions);
  try {
    await makeDirectoryDurably(fs, targetDir).catch((err: unknown) => {
      throw ioError(`creating ${targetDir}`, err);
    });
    let linkedCount = 0;
    let sizeBytes = 0;
    for (const file of pinned.files) {
      const name = tableFileName(file.fileNumber);
      if (await linkOrCopy(fs, filePath(parts.location, name), filePath(targetDir, name))) linkedCount++;
      sizeBytes += file.sizeBytes;
    }
    await installManifest(fs, targetDir, pinned.state);
    return { sequence: BigInt(pinned.state.lastSequence), tableCount: pinned.files.length, linkedCount, sizeBytes };
  } finally {
    pinned.release();
  }
}

/** Refuses a target that exists: a checkpoint never writes into a directory it did not make. */
export async function checkTargetAbsent(fs: FileSystem, targetDir: string): Promise<void> {
  let exists: boolean;
  try {
    exists = await fs.exists(targetDir);
  } catch (err) {
    throw ioError(`checking ${targetDir}`, err);
  }
  if (exists) throw new ShaleError('EXISTS', `${targetDir} already exists: the target of a checkpoint or restore must not exist`);
}

/** Hard-links `from` to `to`; copies (and syncs) it where linking is impossible. Returns whether it linked. */
async function linkOrCopy(fs: FileSystem, from: string, to: string): Promise<boolean> {
  if (fs.link !== undefined) {
    try {
      await fs.link(from, to);
      return true;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EXDEV' && code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EMLINK' && code !== 'ENOSYS') {
        throw ioError(`linking ${from} to ${to}`, err);
      }
    }
  }
  await copyFile(fs, from, to).catch((err: unknown) => {
    throw ioError(`copying ${from} to ${to}`, err);
  });
  return false;
}

/**
 * Writes a MANIFEST holding `state` into `dir` and installs CURRENT naming it,
 * last: from then on `dir` opens as the database `state` describes. Every table
 * `state` names must already be in `dir`, synced.
 */
export async function installManifest(fs: FileSystem, dir: string, state: ManifestState): Promise<void> {
  const manifestNumber = state.nextFileNumber - 2;
  const writer = await ManifestWriter.create(fs, dir, manifestNumber, manifestNumber + 1, state);
  await writer.close().catch(() => undefined);
}
