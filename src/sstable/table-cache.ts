/**
 * The table cache: open `TableReader`s by file number, at most `maxOpenFiles` of
 * them unpinned. A reader is pinned while an iterator (or an awaited get) uses it,
 * and a pinned reader is never closed, so the bound may be exceeded while many
 * iterators are open (docs/internals.md, "Read path").
 *
 * Replacement is CLOCK (second chance), as in the block cache: a use only marks
 * the table, and making room passes over marked tables once, clearing the mark.
 * (Keeping `Map` order as recency moved the table on every use: a delete and a
 * set per table per get.)
 *
 * A table is opened either through the threadpool (`acquire`) or on the calling
 * thread (`acquireSync`, for `db.getSync`, which may not wait). Both may race for
 * one table; the first reader to land in the cache wins and the other file is
 * closed.
 */
import { ioError } from '../errors.js';
import type { FileSystem, RandomAccessFile } from '../fs/file-system.js';
import { filePath, tableFileName } from '../filenames.js';
import type { BlockCache } from './block-cache.js';
import { TableReader } from './table-reader.js';

interface OpenTable {
  readonly reader: TableReader;
  readonly file: RandomAccessFile;
  pins: number;
  /** Used since replacement last passed over it. */
  referenced: boolean;
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
  /** Map order is the CLOCK's ring: replacement looks at the first entries first. */
  readonly #tables = new Map<number, OpenTable>();
  readonly #opening = new Map<number, Promise<OpenTable>>();

  constructor(options: TableCacheOptions) {
    this.#options = options;
  }

  get openCount(): number {
    return this.#tables.size;
  }

  /**
   * The reader of table `fileNumber` if it is open, marked as used, not pinned;
   * otherwise undefined. The reader stays open only while the caller runs
   * synchronously without calling into this cache again: for a lookup that
   * finishes before it returns.
   */
  peek(fileNumber: number): TableReader | undefined {
    const table = this.#tables.get(fileNumber);
    if (table === undefined) return undefined;
    table.referenced = true;
    return table.reader;
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
    return this.#pin(table);
  }

  /**
   * `acquire` without waiting: a table that is not open is opened on the calling
   * thread (open(2), fstat(2) and the reads of its footer, index, filter and
   * properties). Throws what `acquire` rejects with. Needs one `release`.
   */
  acquireSync(fileNumber: number): TableReader {
    const table = this.#tables.get(fileNumber) ?? this.#openSync(fileNumber);
    return this.#pin(table);
  }

  /** Unpins a reader taken with `acquire` or `acquireSync`. */
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

  #pin(table: OpenTable): TableReader {
    table.pins++;
    table.referenced = true;
    // Only now, with the new reader pinned, may others be closed to respect the bound.
    this.#closeExcess();
    return table.reader;
  }

  #path(fileNumber: number): string {
    return filePath(this.#options.dir, tableFileName(fileNumber));
  }

  async #open(fileNumber: number): Promise<OpenTable> {
    const path = this.#path(fileNumber);
    let file: RandomAccessFile;
    try {
      file = await this.#options.fs.openRead(path);
    } catch (err) {
      throw ioError(`opening table ${path}`, err);
    }
    // A getSync may have opened the table while this open waited for the threadpool.
    const raced = this.#tables.get(fileNumber);
    if (raced !== undefined) {
      await file.close().catch(() => undefined);
      return raced;
    }
    return this.#install(fileNumber, path, file);
  }

  #openSync(fileNumber: number): OpenTable {
    const path = this.#path(fileNumber);
    let file: RandomAccessFile;
    try {
      file = this.#options.fs.openReadSync(path);
    } catch (err) {
      throw ioError(`opening table ${path}`, err);
    }
    return this.#install(fileNumber, path, file);
  }

  /** Reads the table's metadata from `file` and adds it to the cache; closes `file` if that fails. */
  #install(fileNumber: number, path: string, file: RandomAccessFile): OpenTable {
    const { blockCache, verifyChecksums } = this.#options;
    try {
      const reader = TableReader.open(file, path, fileNumber, { verifyChecksums, blockCache });
      const table: OpenTable = { reader, file, pins: 0, referenced: true };
      this.#tables.set(fileNumber, table);
      return table;
    } catch (err) {
      void file.close().catch(() => undefined);
      throw err;
    }
  }

  /**
   * Closes unpinned tables while more than `maxOpenFiles` are open: from the front
   * of the ring, a marked table loses its mark and goes to the back, an unmarked
   * one is closed. Ends: each table is passed over at most twice, and pinned ones
   * are skipped (the bound may stay exceeded while they are pinned).
   */
  #closeExcess(): void {
    const max = this.#options.maxOpenFiles;
    if (this.#tables.size <= max) return;
    let budget = 2 * this.#tables.size;
    for (const [fileNumber, table] of this.#tables) {
      if (this.#tables.size <= max || budget-- <= 0) break;
      if (table.pins > 0) continue;
      this.#tables.delete(fileNumber);
      if (table.referenced) {
        table.referenced = false;
        this.#tables.set(fileNumber, table);
      } else {
        void table.file.close().catch(() => undefined);
      }
    }
  }
}
