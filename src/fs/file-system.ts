/**
 * The file-system seam: every byte shale reads or writes passes through this
 * interface. Production uses `NodeFileSystem`; tests use the crash-simulating and
 * fault-injecting implementations exported from `shale/testing`.
 *
 * Durability model (what the crash-simulating implementation enforces):
 * - Bytes appended to a file are durable only after `WritableFile.sync()`.
 * - A file's existence (its directory entry), a rename and a removal are durable
 *   only after `syncDir()` of the directory holding them.
 * - `close()` does not sync.
 *
 * Paths are absolute or relative to the process; shale joins them with
 * `node:path`. All methods may throw the underlying error (with an errno `code`
 * such as `ENOENT`, `EEXIST`, `EIO`, `ENOSPC`); the engine wraps it.
 */

/** A file opened for appending: the WAL, the MANIFEST, a table being built. */
export interface WritableFile {
  /** The file's current length in bytes (everything appended, synced or not). */
  readonly size: number;
  /**
   * Appends `data` at the end of the file and resolves with the number of bytes
   * written once the write has been handed to the OS. Callers await each append
   * before starting the next: appends to one file are not queued. A count
   * below `data.length` is a short write: the caller must treat it as a failure.
   */
  append(data: Uint8Array): Promise<number>;
  /** Makes everything appended so far durable (fdatasync). */
  sync(): Promise<void>;
  /** Cuts the file to `size` bytes. Durable after the next `sync()`. */
  truncate(size: number): Promise<void>;
  /** Releases the handle. Does not sync. */
  close(): Promise<void>;
}

/** A file opened for reading at any offset: a table, a log being recovered. */
export interface RandomAccessFile {
  /** The file's length in bytes when it was opened. */
  readonly size: number;
  /**
   * Reads up to `length` bytes at `position`. Fewer bytes come back only at the
   * end of the file. Synchronous on purpose: a block read from the page cache
   * costs a few microseconds, far less than a threadpool round trip.
   */
  read(position: number, length: number): Buffer;
  /** Releases the handle. */
  close(): Promise<void>;
}

/** A held lock on a database directory. */
export interface FileLock {
  /** Releases the lock. Calling it twice is harmless. */
  release(): Promise<void>;
}

export interface FileSystem {
  /** Creates `dir` and any missing parents. No error if it exists. */
  mkdir(dir: string): Promise<void>;
  /** The names (not paths) of the entries of `dir`, in no particular order. */
  list(dir: string): Promise<string[]>;
  /** Whether `path` names an existing file or directory. */
  exists(path: string): Promise<boolean>;
  /** Creates a new, empty file for appending. Fails with `EEXIST` if it exists. */
  create(path: string): Promise<WritableFile>;
  /** Opens an existing file for appending at its end. */
  openAppend(path: string): Promise<WritableFile>;
  /** Opens an existing file for reading. */
  openRead(path: string): Promise<RandomAccessFile>;
  /**
   * Opens an existing file for reading, synchronously: the same file and errors
   * as `openRead`, without a threadpool round trip. `db.getSync` uses it when a
   * read needs a table that is not open yet; it blocks the calling thread for
   * the open(2) and fstat(2) (microseconds on a local disk, unbounded on a
   * stalled network file system). Fault rules and counts treat it as `openRead`.
   */
  openReadSync(path: string): RandomAccessFile;
  /** Reads a whole (small) file. */
  readFile(path: string): Promise<Buffer>;
  /** Atomically replaces `to` with `from`. Durable after `syncDir` of the directory. */
  rename(from: string, to: string): Promise<void>;
  /** Removes a file. Durable after `syncDir` of the directory. */
  remove(path: string): Promise<void>;
  /** Makes the directory's entries (creations, renames, removals) durable. */
  syncDir(dir: string): Promise<void>;
  /**
   * Optional: makes `newPath` a second name (a hard link) of the existing file
   * `existing`. Fails with `EEXIST` if `newPath` exists and with `EXDEV` (or
   * `EPERM`, `ENOTSUP`) where the two are on different file systems or links
   * are not supported. The new entry is durable after `syncDir` of its
   * directory. `db.checkpoint` links tables where it can and copies them where
   * this is missing or fails.
   */
  link?(existing: string, newPath: string): Promise<void>;
  /**
   * Takes the exclusive lock that `path` (the database's LOCK file) stands for,
   * against this process and every other. Throws `ShaleError` code `LOCKED` if
   * it is held. A lock left by a process that died does not block.
   */
  lock(path: string): Promise<FileLock>;
}
