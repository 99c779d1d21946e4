/**
 * The names in a backup directory, in one place (docs/format.md, "Backup
 * directory"):
 *
 *   LOCK                                  held while a backup, restore, verify or purge runs
 *   meta/<id, 10 digits>                  one backup manifest per backup (backup-manifest.ts)
 *   meta/<id>.tmp                         a manifest being written (a crash may leave one)
 *   shared/<number>-<size>-<crc32>.sst    a table, shared by every backup that names it
 *   shared/<...>.sst.tmp                  a table being copied (a crash may leave one)
 *
 * A table's shared name holds its size and CRC-32: two tables with one number
 * but other bytes (from two databases, or after a restore) never share a name.
 */
import * as path from 'node:path';
import type { BackupFile } from './backup-manifest.js';

/** The backup directory's lock file. */
export const BACKUP_LOCK_NAME = 'LOCK';
/** The folder of backup manifests. */
export const META_DIR = 'meta';
/** The folder of tables shared between backups. */
export const SHARED_DIR = 'shared';
/** What a file being written carries until it is renamed into place. */
export const TEMP_SUFFIX = '.tmp';

/** The largest backup id (the manifest stores a u32). */
export const BACKUP_ID_MAX = 0xffff_ffff;

/** The path of backup `id`'s manifest. */
export function metaPath(backupDir: string, id: number): string {
  return path.join(backupDir, META_DIR, String(id).padStart(10, '0'));
}

/** The backup id a name in `meta/` stands for, or undefined for a name that is not a finished manifest. */
export function parseMetaName(name: string): number | undefined {
  return /^\d{10}$/.test(name) ? Number(name) : undefined;
}

/** The name in `shared/` of a table with this number, size and CRC-32. */
export function sharedName(file: BackupFile): string {
  return `${String(file.fileNumber).padStart(6, '0')}-${file.sizeBytes}-${file.crc32.toString(16).padStart(8, '0')}.sst`;
}

/** The path of a table in `shared/`. */
export function sharedPath(backupDir: string, file: BackupFile): string {
  return path.join(backupDir, SHARED_DIR, sharedName(file));
}
