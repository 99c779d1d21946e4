/**
 * A table being written by a flush or a compaction: created, filled, then
 * finished (synced and closed) into the metadata a version edit records, or
 * discarded. A table that fails at any step is removed, never left half written.
 */
import { ioError } from '../errors.js';
import type { FileSystem, WritableFile } from '../fs/file-system.js';
import { filePath, tableFileName } from '../filenames.js';
import { TableBuilder, type TableBuilderOptions, type TableFinishExtras } from '../sstable/table-builder.js';
import type { FileMeta } from '../version/version-edit.js';

export class TableOutput {
  readonly fileNumber: number;
  readonly path: string;
  readonly builder: TableBuilder;
  readonly #fs: FileSystem;
  readonly #file: WritableFile;

  private constructor(fs: FileSystem, path: string, fileNumber: number, file: WritableFile, builder: TableBuilder) {
    this.#fs = fs;
    this.path = path;
    this.fileNumber = fileNumber;
    this.#file = file;
    this.builder = builder;
  }

  /** Creates table `fileNumber` in `dir`. */
  static async create(fs: FileSystem, dir: string, fileNumber: number, options: TableBuilderOptions): Promise<TableOutput> {
    const path = filePath(dir, tableFileName(fileNumber));
    let file: WritableFile;
    try {
      file = await fs.create(path);
    } catch (err) {
      throw ioError(`creating table ${path}`, err);
    }
    const named = namingPath(file, path);
    return new TableOutput(fs, path, fileNumber, named, new TableBuilder(named, options));
  }

  /** Finishes, syncs and closes the table as a table of `level`; on failure removes it. The caller syncs the directory. */
  async finish(level: number, extras: TableFinishExtras = {}): Promise<FileMeta> {
    // Past builder.finish() the builder is done: a failing sync or close must not abandon it.
    let finished = false;
    try {
      const meta = await this.builder.finish(extras);
      finished = true;
      await this.#file.sync();
      await this.#file.close();
      return {
        level,
        fileNumber: this.fileNumber,
        sizeBytes: meta.fileSizeBytes,
        smallest: meta.smallestKey,
        largest: meta.largestKey,
        smallestSeq: meta.smallestSeq,
        largestSeq: meta.largestSeq,
        ...(meta.expiringEntryCount > 0 ? { expiryMinMs: meta.expiryMinMs } : {}),
        // Marks a table with range tombstones; the main thread sets the estimate against its version.
        ...(extras.rangeDelBlock === undefined ? {} : { rangeDeletedBytes: 0 }),
      };
    } catch (err) {
      await this.#discard(!finished);
      throw ioError(`writing table ${this.path}`, err);
    }
  }

  /** Abandons an unfinished table and removes its file. */
  async discard(): Promise<void> {
    await this.#discard(true);
  }

  async #discard(abandon: boolean): Promise<void> {
    if (abandon) this.builder.abandon();
    await this.#file.close().catch(() => undefined);
    await this.#fs.remove(this.path).catch(() => undefined);
  }
}

/**
 * `file`, with every OS error from it given `path` when it has none. Writes and
 * syncs go through a file handle, so Node's error names no file (`ENOSPC: no
 * space left on device, write`), and the table builder that meets it knows no
 * path either; the `IO_ERROR` a caller gets must still say which file failed.
 */
function namingPath(file: WritableFile, path: string): WritableFile {
  const name = (err: unknown): never => {
    if (err instanceof Error && (err as NodeJS.ErrnoException).path === undefined) (err as NodeJS.ErrnoException).path = path;
    throw err;
  };
  return {
    get size() {
      return file.size;
    },
    append: (data) => file.append(data).catch(name),
    sync: () => file.sync().catch(name),
    truncate: (size) => file.truncate(size).catch(name),
    close: () => file.close().catch(name),
  };
}
