/**
 * Backups, after RocksDB's BackupEngine: incremental backups of a database into
 * a backup directory, each a manifest naming tables with their checksums, tables
 * shared between backups; listing, verifying, restoring and purging them
 * (docs/internals.md, "Checkpoints and backups"; the layout in backup-layout.ts).
 *
 * Crash safety. A table is copied to a temp name, synced, and renamed to its
 * shared name; a manifest is written to a temp name, synced, renamed, and the
 * directory synced. So a shared name or a manifest, once visible, is whole, and
 * a crash mid-backup leaves earlier backups as they were (plus temp files and
 * unnamed tables, which the next backup or purge removes). Purge removes
 * manifests first, durably, then only the tables no remaining manifest names;
 * a manifest it cannot read stops it before it removes any table.
 *
 * One operation at a time per backup directory: each takes the directory's
 * LOCK (another one fails with `LOCKED`); `listBackups` reads without it.
 */
import * as path from 'node:path';
import { CorruptionError, ShaleError, ioError } from '../errors.js';
import type { FileLock, FileSystem } from '../fs/file-system.js';
import { copyFile, digestFile, type FileDigest } from '../fs/copy-file.js';
import { filePath, tableFileName } from '../filenames.js';
import { makeDirectoryDurably } from '../db/open.js';
import { checkTargetAbsent, installManifest, type CheckpointParts } from '../db/checkpoint.js';
import { pinCurrentState } from '../db/checkpoint.js';
import { resolveOptions } from '../options.js';
import { decodeBackupManifest, encodeBackupManifest, type BackupFile, type BackupManifest } from './backup-manifest.js';
import { BACKUP_ID_MAX, BACKUP_LOCK_NAME, META_DIR, SHARED_DIR, TEMP_SUFFIX, metaPath, parseMetaName, sharedName, sharedPath } from './backup-layout.js';

/** What a backup directory says about one backup. */
export interface BackupInfo {
  id: number;
  /** The backup holds exactly the writes up to this sequence number. */
  sequence: bigint;
  /** When the backup was made. */
  createdAt: Date;
  /** Tables in the backup. */
  fileCount: number;
  /** Bytes of those tables (shared ones counted in every backup naming them). */
  sizeBytes: number;
}

/** Options of the backup functions. */
export interface BackupOptions {
  /** The file system holding the backup directory (and the restore target); default `node:fs`. */
  fs?: FileSystem;
}

function infoOf(manifest: BackupManifest): BackupInfo {
  return {
    id: manifest.id,
    sequence: BigInt(manifest.sequence),
    createdAt: new Date(manifest.createdMs),
    fileCount: manifest.files.length,
    sizeBytes: manifest.files.reduce((sum, file) => sum + file.sizeBytes, 0),
  };
}

function fileSystem(options: BackupOptions | undefined): FileSystem {
  return resolveOptions(options?.fs === undefined ? {} : { fs: options.fs }).fs;
}

function checkDir(backupDir: unknown, what = 'backupDir'): asserts backupDir is string {
  if (typeof backupDir !== 'string' || backupDir.length === 0) throw new ShaleError('INVALID_ARGUMENT', `${what} must be a non-empty string`);
}

function checkId(id: unknown): asserts id is number {
  if (typeof id !== 'number' || !Number.isInteger(id) || id < 1 || id > BACKUP_ID_MAX) {
    throw new ShaleError('INVALID_ARGUMENT', `a backup id is an integer from 1 to ${BACKUP_ID_MAX}, got ${String(id)}`);
  }
}

/** Runs `body` holding the backup directory's LOCK (creating the directory and its folders if `create`). */
async function locked<T>(fs: FileSystem, backupDir: string, create: boolean, body: () => Promise<T>): Promise<T> {
  try {
    if (create) {
      await makeDirectoryDurably(fs, path.join(backupDir, META_DIR));
      await makeDirectoryDurably(fs, path.join(backupDir, SHARED_DIR));
    } else if (!(await fs.exists(path.join(backupDir, META_DIR)))) {
      throw new ShaleError('NOT_FOUND', `${backupDir} is not a backup directory`);
    }
  } catch (err) {
    throw ioError(`preparing ${backupDir}`, err);
  }
  let lock: FileLock;
  try {
    lock = await fs.lock(path.join(backupDir, BACKUP_LOCK_NAME));
  } catch (err) {
    throw ioError(`locking ${backupDir}`, err);
  }
  try {
    return await body();
  } finally {
    await lock.release();
  }
}

/** The ids of the finished backups in `backupDir`, ascending. */
async function backupIds(fs: FileSystem, backupDir: string): Promise<number[]> {
  let names: string[];
  try {
    names = await fs.list(path.join(backupDir, META_DIR));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new ShaleError('NOT_FOUND', `${backupDir} is not a backup directory`);
    throw ioError(`listing ${backupDir}`, err);
  }
  return names
    .map(parseMetaName)
    .filter((id): id is number => id !== undefined)
    .sort((a, b) => a - b);
}

async function readManifest(fs: FileSystem, backupDir: string, id: number): Promise<BackupManifest> {
  const file = metaPath(backupDir, id);
  let bytes: Buffer;
  try {
    bytes = await fs.readFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new ShaleError('NOT_FOUND', `backup ${id} does not exist in ${backupDir}`);
    throw ioError(`reading ${file}`, err);
  }
  const manifest = decodeBackupManifest(bytes, file);
  if (manifest.id !== id) throw new CorruptionError(file, 9, `the manifest of backup ${id} says it is backup ${manifest.id}`);
  return manifest;
}

/**
 * Adds a backup of the database `parts` describes to `backupDir` (created if
 * missing): flushes, pins the version, copies the tables no earlier backup
 * holds, and writes the backup's manifest last. Resolves with the new backup.
 */
export async function createBackup(parts: CheckpointParts, backupDir: string): Promise<BackupInfo> {
  const { fs } = parts.options;
  return locked(fs, backupDir, true, async () => {
    await removeTemps(fs, backupDir);
    const ids = await backupIds(fs, backupDir);
    const id = (ids[ids.length - 1] ?? 0) + 1;
    if (id > BACKUP_ID_MAX) throw new ShaleError('NOT_SUPPORTED', `${backupDir} has used every backup id`);
    await parts.flush();
    const pinned = pinCurrentState(parts.versions);
    try {
      const files: BackupFile[] = [];
      for (const meta of pinned.files) files.push(await backupTable(fs, filePath(parts.location, tableFileName(meta.fileNumber)), meta.fileNumber, backupDir));
      await syncDir(fs, path.join(backupDir, SHARED_DIR));
      const manifest: BackupManifest = { id, sequence: pinned.state.lastSequence, createdMs: Date.now(), files, state: pinned.state };
      await writeDurably(fs, metaPath(backupDir, id), encodeBackupManifest(manifest));
      return infoOf(manifest);
    } finally {
      pinned.release();
    }
  });
}

/** Copies one table into `shared/` unless a copy with its size and checksum is there; returns its record. */
async function backupTable(fs: FileSystem, source: string, fileNumber: number, backupDir: string): Promise<BackupFile> {
  const digest = await digestFile(fs, source).catch((err: unknown) => {
    throw ioError(`reading ${source}`, err);
  });
  const file: BackupFile = { fileNumber, sizeBytes: digest.sizeBytes, crc32: digest.crc32 };
  const target = sharedPath(backupDir, file);
  if (await fs.exists(target)) return file;
  const temp = target + TEMP_SUFFIX;
  await copyFile(fs, source, temp, (copied) => checkDigest(copied, file, source)).catch((err: unknown) => {
    throw ioError(`copying ${source} to ${temp}`, err);
  });
  await fs.rename(temp, target).catch((err: unknown) => {
    throw ioError(`renaming ${temp}`, err);
  });
  return file;
}

/** A file whose bytes changed between two reads (or on the way) is not what the backup records. */
function checkDigest(digest: FileDigest, expected: BackupFile, file: string): void {
  if (digest.sizeBytes !== expected.sizeBytes || digest.crc32 !== expected.crc32) {
    throw new CorruptionError(file, 0, `size ${digest.sizeBytes} and CRC-32 ${digest.crc32.toString(16)}, expected ${expected.sizeBytes} and ${expected.crc32.toString(16)}`);
  }
}

/** Writes `content` to `file` by temp file, sync, rename and directory sync. */
async function writeDurably(fs: FileSystem, file: string, content: Buffer): Promise<void> {
  const temp = file + TEMP_SUFFIX;
  try {
    const handle = await fs.create(temp);
    try {
      const written = await handle.append(content);
      if (written !== content.length) throw new ShaleError('IO_ERROR', `short write to ${temp}`);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(temp, file);
    await fs.syncDir(path.dirname(file));
  } catch (err) {
    throw ioError(`writing ${file}`, err);
  }
}

async function syncDir(fs: FileSystem, dir: string): Promise<void> {
  await fs.syncDir(dir).catch((err: unknown) => {
    throw ioError(`syncing ${dir}`, err);
  });
}

/** Removes what a crashed backup left: temp files in `meta/` and `shared/`. Needs no sync: a temp file that comes back is removed again. */
async function removeTemps(fs: FileSystem, backupDir: string): Promise<void> {
  for (const folder of [META_DIR, SHARED_DIR]) {
    const dir = path.join(backupDir, folder);
    for (const name of await fs.list(dir)) {
      if (name.endsWith(TEMP_SUFFIX)) await fs.remove(path.join(dir, name)).catch(() => undefined);
    }
  }
}

/** The backups in `backupDir`, oldest first. A damaged manifest is a `CorruptionError`. */
export async function listBackups(backupDir: string, options?: BackupOptions): Promise<BackupInfo[]> {
  checkDir(backupDir);
  const fs = fileSystem(options);
  const infos: BackupInfo[] = [];
  for (const id of await backupIds(fs, backupDir)) infos.push(infoOf(await readManifest(fs, backupDir, id)));
  return infos;
}

/**
 * Reads every table backup `id` names and checks its size and CRC-32. Resolves
 * with the backup; rejects with a `CorruptionError` naming the first bad or
 * missing file, or `NOT_FOUND` for an unknown id.
 */
export async function verifyBackup(backupDir: string, id: number, options?: BackupOptions): Promise<BackupInfo> {
  checkDir(backupDir);
  checkId(id);
  const fs = fileSystem(options);
  return locked(fs, backupDir, false, async () => {
    const manifest = await readManifest(fs, backupDir, id);
    for (const file of manifest.files) {
      const shared = sharedPath(backupDir, file);
      let digest: FileDigest;
      try {
        digest = await digestFile(fs, shared);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new CorruptionError(shared, 0, `backup ${id} names ${sharedName(file)}, which is missing`);
        throw ioError(`reading ${shared}`, err);
      }
      checkDigest(digest, file, shared);
    }
    return infoOf(manifest);
  });
}

/**
 * Restores backup `id` into `targetDir`, which must not exist: copies its
 * tables, checking each one's size and CRC-32 as it goes (a mismatch is a
 * `CorruptionError` naming the backup's file), then writes the MANIFEST and
 * CURRENT last, so an interrupted restore leaves no directory that opens as a
 * database. The result opens with `DB.open` and holds exactly the backup.
 */
export async function restoreBackup(backupDir: string, id: number, targetDir: string, options?: BackupOptions): Promise<BackupInfo> {
  checkDir(backupDir);
  checkId(id);
  checkDir(targetDir, 'targetDir');
  const fs = fileSystem(options);
  return locked(fs, backupDir, false, async () => {
    const manifest = await readManifest(fs, backupDir, id);
    await checkTargetAbsent(fs, targetDir);
    await makeDirectoryDurably(fs, targetDir).catch((err: unknown) => {
      throw ioError(`creating ${targetDir}`, err);
    });
    for (const file of manifest.files) {
      const shared = sharedPath(backupDir, file);
      await copyFile(fs, shared, filePath(targetDir, tableFileName(file.fileNumber)), (copied) => checkDigest(copied, file, shared)).catch((err: unknown) => {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new CorruptionError(shared, 0, `backup ${id} names ${sharedName(file)}, which is missing`);
        throw ioError(`restoring ${shared}`, err);
      });
    }
    await installManifest(fs, targetDir, manifest.state);
    return infoOf(manifest);
  });
}

/**
 * Keeps the newest `keep` backups and removes the others, then every shared
 * table no remaining backup names. Resolves with the ids removed. A remaining
 * manifest that cannot be read stops it before any table is removed.
 */
export async function purgeOldBackups(backupDir: string, keep: number, options?: BackupOptions): Promise<number[]> {
  checkDir(backupDir);
  if (typeof keep !== 'number' || !Number.isSafeInteger(keep) || keep < 0) throw new ShaleError('INVALID_ARGUMENT', `keep must be a whole number, got ${String(keep)}`);
  const fs = fileSystem(options);
  return locked(fs, backupDir, false, async () => {
    const ids = await backupIds(fs, backupDir);
    const removed = ids.slice(0, Math.max(0, ids.length - keep));
    await removeBackups(fs, backupDir, removed, ids.slice(removed.length));
    return removed;
  });
}

/**
 * Removes backup `id`, then every shared table no remaining backup names.
 * Rejects with `NOT_FOUND` for an unknown id; a remaining manifest that cannot
 * be read stops it before any table is removed (the backup itself is gone).
 */
export async function deleteBackup(backupDir: string, id: number, options?: BackupOptions): Promise<void> {
  checkDir(backupDir);
  checkId(id);
  const fs = fileSystem(options);
  await locked(fs, backupDir, false, async () => {
    const ids = await backupIds(fs, backupDir);
    if (!ids.includes(id)) throw new ShaleError('NOT_FOUND', `backup ${id} does not exist in ${backupDir}`);
    await removeBackups(fs, backupDir, [id], ids.filter((other) => other !== id));
  });
}

/**
 * Removes the manifests of `removed`, durably, then the shared tables and temp
 * files no manifest of `remaining` names. The caller holds the LOCK.
 */
async function removeBackups(fs: FileSystem, backupDir: string, removed: readonly number[], remaining: readonly number[]): Promise<void> {
  for (const id of removed) {
    await fs.remove(metaPath(backupDir, id)).catch((err: unknown) => {
      throw ioError(`removing backup ${id}`, err);
    });
  }
  // The manifests' removal is durable before any table goes: a crash never leaves a manifest naming a removed table.
  await syncDir(fs, path.join(backupDir, META_DIR));
  const named = new Set<string>();
  for (const id of remaining) for (const file of (await readManifest(fs, backupDir, id)).files) named.add(sharedName(file));
  const sharedDir = path.join(backupDir, SHARED_DIR);
  for (const name of await fs.list(sharedDir)) {
    if (named.has(name)) continue;
    await fs.remove(path.join(sharedDir, name)).catch((err: unknown) => {
      throw ioError(`removing ${name}`, err);
    });
  }
  await removeTemps(fs, backupDir);
}
