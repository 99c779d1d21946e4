/**
 * The listing of a database directory as the tools read it: its entries, and the
 * numbers of its files of one kind (`src/filenames.ts`).
 */
import { ShaleError, ioError } from '../errors.js';
import type { FileSystem } from '../fs/file-system.js';
import { parseFileName, type FileKind } from '../filenames.js';

/**
 * The entries of `dir`. `NOT_FOUND` when it does not exist or, with
 * `requireDatabase`, holds no file named as shale names CURRENT, a MANIFEST, a
 * log or a table.
 */
export async function listDatabase(fs: FileSystem, dir: string, requireDatabase = true): Promise<string[]> {
  let names: string[];
  try {
    names = await fs.list(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new ShaleError('NOT_FOUND', `database ${dir} does not exist`, { cause: err });
    throw ioError(`listing ${dir}`, err);
  }
  const kinds = new Set(names.map((name) => parseFileName(name)?.kind));
  if (requireDatabase && !(['current', 'manifest', 'log', 'table'] as const).some((kind) => kinds.has(kind))) {
    throw new ShaleError('NOT_FOUND', `${dir} holds no shale database (no CURRENT, MANIFEST, log or table)`);
  }
  return names;
}

/** The numbers of the files of `kind` among `names`, ascending. */
export function fileNumbers(names: readonly string[], kind: FileKind): number[] {
  return names
    .map(parseFileName)
    .filter((parsed) => parsed?.kind === kind)
    .map((parsed) => parsed!.fileNumber)
    .sort((a, b) => a - b);
}
