/**
 * Writing a memtable to a level-0 table (docs/internals.md, "Flush"). The work
 * runs on the main thread in bounded slices: it yields to the event loop every
 * `FLUSH_SLICE_ENTRIES` entries, so a flush never blocks it for long.
 */
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { ioError } from '../errors.js';
import type { FileSystem, WritableFile } from '../fs/file-system.js';
import { filePath, tableFileName } from '../filenames.js';
import { encodeInternalKey } from '../keys.js';
import type { MemKey } from '../memtable/memtable.js';
import { TableBuilder, type TableBuilderOptions } from '../sstable/table-builder.js';
import type { FileMeta } from './version-edit.js';

/** Entries encoded between yields to the event loop (about a millisecond of work). */
export const FLUSH_SLICE_ENTRIES = 1000;

/**
 * Writes `entries` (in internal-key order) to table `fileNumber` at `level`, syncs
 * it and its directory entry, and returns its metadata; `undefined` if there were
 * no entries. A partial file is removed on failure.
 */
export async function writeTable(
  fs: FileSystem,
  dir: string,
  fileNumber: number,
  level: number,
  entries: Iterable<[MemKey, Buffer]>,
  tableOptions: TableBuilderOptions,
): Promise<FileMeta | undefined> {
  const iterator = entries[Symbol.iterator]();
  let entry = iterator.next();
  if (entry.done) return undefined;
  const path = filePath(dir, tableFileName(fileNumber));
  let file: WritableFile;
  try {
    file = await fs.create(path);
  } catch (err) {
    throw ioError(`creating table ${path}`, err);
  }
  const builder = new TableBuilder(file, tableOptions);
  // Past finish() the builder is done; a failing sync or close must not abandon it.
  let finished = false;
  try {
    for (let count = 1; !entry.done; count++) {
      const [key, value] = entry.value;
      builder.add(encodeInternalKey(key.key, key.seq, key.type), value);
      if (count % FLUSH_SLICE_ENTRIES === 0) {
        if (builder.flushAdvised) await builder.flush();
        await yieldToEventLoop();
      }
      entry = iterator.next();
    }
    const meta = await builder.finish();
    finished = true;
    await file.sync();
    await file.close();
    await fs.syncDir(dir);
    return {
      level,
      fileNumber,
      sizeBytes: meta.fileSizeBytes,
      smallest: meta.smallestKey,
      largest: meta.largestKey,
      smallestSeq: meta.smallestSeq,
      largestSeq: meta.largestSeq,
    };
  } catch (err) {
    if (!finished) builder.abandon();
    await file.close().catch(() => undefined);
    await fs.remove(path).catch(() => undefined);
    throw ioError(`writing table ${path}`, err);
  }
}
