/**
 * The names of every file in a database directory, in one place
 * (docs/format.md, "Directory layout").
 */
import * as path from 'node:path';

export type FileKind = 'log' | 'table' | 'manifest' | 'current' | 'lock' | 'temp';

const NUMBER_WIDTH = 6;

function padded(fileNumber: number): string {
  return String(fileNumber).padStart(NUMBER_WIDTH, '0');
}

export function logFileName(fileNumber: number): string {
  return `${padded(fileNumber)}.log`;
}

export function tableFileName(fileNumber: number): string {
  return `${padded(fileNumber)}.sst`;
}

export function manifestFileName(fileNumber: number): string {
  return `MANIFEST-${padded(fileNumber)}`;
}

export const CURRENT_FILE_NAME = 'CURRENT';
export const LOCK_FILE_NAME = 'LOCK';

/** A temporary file: written, synced, then renamed over its final name (or deleted on open). */
export function tempFileName(fileNumber: number): string {
  return `${padded(fileNumber)}.tmp`;
}

export function filePath(dir: string, name: string): string {
  return path.join(dir, name);
}

/**
 * Parses a directory entry's name; `undefined` for names shale does not own.
 *
 * A number above `Number.MAX_SAFE_INTEGER` makes the name foreign: shale never
 * hands out such a number (file numbers are u64 on disk but stay below 2^53), a
 * double cannot hold it exactly (1e20 + 1 === 1e20), and letting it feed the next
 * file number would either break the MANIFEST's encoding or make every later open
 * collide with a file it created itself.
 */
export function parseFileName(name: string): { kind: FileKind; fileNumber: number } | undefined {
  if (name === CURRENT_FILE_NAME) return { kind: 'current', fileNumber: 0 };
  if (name === LOCK_FILE_NAME) return { kind: 'lock', fileNumber: 0 };
  const manifest = /^MANIFEST-(\d+)$/.exec(name);
  if (manifest) return numberedFile('manifest', manifest[1]!);
  const numbered = /^(\d+)\.(log|sst|tmp)$/.exec(name);
  if (!numbered) return undefined;
  const kind = numbered[2] === 'log' ? 'log' : numbered[2] === 'sst' ? 'table' : 'temp';
  return numberedFile(kind, numbered[1]!);
}

function numberedFile(kind: FileKind, digits: string): { kind: FileKind; fileNumber: number } | undefined {
  const fileNumber = Number(digits);
  return Number.isSafeInteger(fileNumber) ? { kind, fileNumber } : undefined;
}
