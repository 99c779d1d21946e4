/**
 * The table cache: open `TableReader`s by file number, at most `maxOpenFiles` of
 * them unpinned (least recently used closed first). A reader is pinned while a
 * get or an iterator uses it, and a pinned reader is never closed, so the bound
 * may be exceeded while many iterators are open (docs/internals.md, "Read path").
 */
import { ioError } from '../errors.js';
import type { FileSystem, RandomAccessFile } from '../fs/file-system.js';
import { filePath, tableFileName } from '../filenames.js';
import type { BlockCache } from './block-cache.js';
import { TableReader } from './table-reader.js';

interface OpenTable {
  reader: TableReader;
  file: RandomAccessFile;
  pins: number;
}

export interface TableCacheOptions {
  fs: FileSystem;
  dir: string;
  maxOpenFiles: number;
  blockCache: BlockCache;
  verifyChecksums: boolean;
}

export class TableCache {
  readonly #options: TableCacheOptions;
  /** Map order is recency: the first entry is the least recently used. */
  readonly #tables = new Map<number, OpenTable>();
  readonly #opening = new Map<number, Promise<OpenTable>>();

  constructor(options: TableCacheOptions) {
    this.#options = options;
  }

  get openCount(): number {
    return this.#tables.size;
  }

  /** Opens (or finds) table `fileNumber` and pins it. Every acquire needs one `release`. */
  async acquire(fileNumber: number): Promise<TableReader> {
    let table = this.#tables.get(fileNumber);
    // A table opened unpinned may be closed by another acquire before this one
    // resumes: pin only a table that is still in the cache.
    while (table === undefined) {
      let opening = this.#opening.get(fileNumber);
      if (opening === undefined) {
        opening = this.#open(fileNumber).finally(() => this.#opening.delete(fileNumber));
        this.#opening.set(fileNumber, opening);
      }
      const opened = await opening;
      table = this.#tables.get(fileNumber) === opened ? opened : undefined;
    }
    table.pins++;
    this.#touch(fileNumber, table);
    // Only now, with the new reader pinned, may others be closed to respect the bound.
    this.#closeExcess();
    return table.reader;
  }

  /** Unpins a reader taken with `acquire`. */
  release(fileNumber: number): void {
    const table = this.#tables.get(fileNumber);
    if (table === undefined) return;
    table.pins--;
    this.#closeExcess();
  }

  /** Closes table `fileNumber` (after it was deleted) and drops its cached blocks. */
  evict(fileNumber: number): void {
    const table = this.#tables.get(fileNumber);
    if (table !== undefined && table.pins === 0) {
      this.#tables.delete(fileNumber);
      void table.file.close().catch(() => undefined);
    }
    this.#options.blockCache.evictFile(fileNumber);
  }

  /** Closes every table. */
  async close(): Promise<void> {
    await Promise.allSettled([...this.#opening.values()]);
    const tables = [...this.#tables.values()];
    this.#tables.clear();
    await Promise.allSettled(tables.map((table) => table.file.close()));
  }

  async #open(fileNumber: number): Promise<OpenTable> {
    const { fs, dir, blockCache, verifyChecksums } = this.#options;
    const path = filePath(dir, tableFileName(fileNumber));
    let file: RandomAccessFile;
    try {
      file = await fs.openRead(path);
    } catch (err) {
      throw ioError(`opening table ${path}`, err);
    }
    try {
      const reader = TableReader.open(file, path, fileNumber, { verifyChecksums, blockCache });
      const table = { reader, file, pins: 0 };
      this.#tables.set(fileNumber, table);
      return table;
    } catch (err) {
      await file.close().catch(() => undefined);
      throw err;
    }
  }

  #touch(fileNumber: number, table: OpenTable): void {
    this.#tables.delete(fileNumber);
    this.#tables.set(fileNumber, table);
  }

  #closeExcess(): void {
    if (this.#tables.size <= this.#options.maxOpenFiles) return;
    for (const [fileNumber, table] of this.#tables) {
      if (this.#tables.size <= this.#options.maxOpenFiles) break;
      if (table.pins > 0) continue;
      this.#tables.delete(fileNumber);
      void table.file.close().catch(() => undefined);
    }
  }
}
