/**
 * Progress of a tool that reads a database's files (`DB.verify`, `DB.repair`):
 * bytes read of the bytes to read, and the file being read.
 */
import type { FileSystem } from '../fs/file-system.js';
import { filePath } from '../filenames.js';

/** How far `DB.verify` (or `DB.repair`) has read. */
export interface ToolProgress {
  /** The file being read. */
  file: string;
  /** Bytes read so far, of every file. */
  bytesDone: number;
  /** Bytes of every file to read. */
  bytesTotal: number;
}

/** Reports progress through a list of files, fed by the tool as it reads them. */
export interface ProgressTracker {
  start(name: string): void;
  within(bytes: number): void;
  finish(): void;
}

/** Reports progress over `names` (their sizes are read first, by opening each). */
export async function progressTracker(fs: FileSystem, dir: string, names: string[], onProgress: ((progress: ToolProgress) => void) | undefined): Promise<ProgressTracker> {
  const sizes = new Map<string, number>();
  if (onProgress !== undefined) {
    for (const name of names) {
      const handle = await fs.openRead(filePath(dir, name)).catch(() => undefined);
      sizes.set(name, handle?.size ?? 0);
      await handle?.close();
    }
  }
  const bytesTotal = [...sizes.values()].reduce((sum, size) => sum + size, 0);
  let done = 0;
  let current = '';
  const report = (within: number): void => onProgress?.({ file: current, bytesDone: done + within, bytesTotal });
  return {
    start: (name) => {
      current = name;
      report(0);
    },
    within: (bytes) => report(Math.min(bytes, sizes.get(current) ?? 0)),
    finish: () => {
      done += sizes.get(current) ?? 0;
      report(0);
    },
  };
}
