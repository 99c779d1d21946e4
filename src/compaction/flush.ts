/**
 * Writing a memtable to a level-0 table (docs/internals.md, "Flush"). The work
 * runs on the main thread in bounded slices: it yields to the event loop every
 * `FLUSH_SLICE_ENTRIES` entries, so a flush never blocks it for long.
 */
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { ioError } from '../errors.js';
import type { FileSystem } from '../fs/file-system.js';
import { encodeInternalKey } from '../keys.js';
import type { MemKey } from '../memtable/memtable.js';
import type { TableBuilderOptions } from '../sstable/table-builder.js';
import { TableOutput } from './table-output.js';
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
  const output = await TableOutput.create(fs, dir, fileNumber, tableOptions);
  try {
    for (let count = 1; !entry.done; count++) {
      const [key, value] = entry.value;
      output.builder.add(encodeInternalKey(key.key, key.seq, key.type), value);
      if (count % FLUSH_SLICE_ENTRIES === 0) {
        if (output.builder.flushAdvised) await output.builder.flush();
        await yieldToEventLoop();
      }
      entry = iterator.next();
    }
  } catch (err) {
    await output.discard();
    throw ioError(`writing table ${output.path}`, err);
  }
  const meta = await output.finish(level);
  try {
    await fs.syncDir(dir);
  } catch (err) {
    await fs.remove(output.path).catch(() => undefined);
    throw ioError(`syncing directory ${dir}`, err);
  }
  return meta;
}
