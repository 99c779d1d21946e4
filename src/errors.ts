/**
 * Errors shale reports to its callers.
 *
 * Every operating error (bad argument, closed database, lock held, I/O failure,
 * corruption) is a `ShaleError` with a stable `code`. Messages may change between
 * versions; codes may not. Broken invariants inside shale are `assert` failures
 * (`AssertionError`), never `ShaleError`s: they mean a bug, not a bad input.
 */

/** The stable codes of `ShaleError`. */
export type ShaleErrorCode =
  /** A key, value, option or batch operation of the wrong type or size. */
  | 'INVALID_ARGUMENT'
  /** The database is closed (or was never opened). */
  | 'NOT_OPEN'
  /** Another `DB` (in this process or another) holds the directory's LOCK. */
  | 'LOCKED'
  /** The directory holds no database and `createIfMissing` is false. */
  | 'NOT_FOUND'
  /** The directory holds a database and `errorIfExists` is true. */
  | 'EXISTS'
  /** A read, write or sync failed. After a failed write or sync the write path stays failed. */
  | 'IO_ERROR'
  /** Bytes on disk are not what shale wrote. See `CorruptionError` for the file and offset. */
  | 'CORRUPTION'
  /** The request is valid but this version of shale does not support it. */
  | 'NOT_SUPPORTED'
  /** A write, `flush` or `compactRange` on a database opened with `readOnly: true`. */
  | 'READ_ONLY'
  /** A transaction's commit found a write that committed after its snapshot on a key (or range) it wrote or, serializable, read. See `ConflictError`. */
  | 'CONFLICT';

/** An operating error with a stable `code` and, where one exists, the underlying `cause`. */
export class ShaleError extends Error {
  readonly code: ShaleErrorCode;

  constructor(code: ShaleErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
  }

  override get name(): string {
    return 'ShaleError';
  }
}

/**
 * Bytes read from `file` at `offset` failed a check (checksum, length, magic,
 * version or structure). Corrupt data is never returned as data.
 */
export class CorruptionError extends ShaleError {
  /** The path of the file holding the bad bytes. */
  readonly file: string;
  /** The byte offset in `file` where the bad record, block or field starts. */
  readonly offset: number;

  constructor(file: string, offset: number, detail: string, options?: { cause?: unknown }) {
    super('CORRUPTION', `corruption in ${file} at offset ${offset}: ${detail}`, options);
    this.file = file;
    this.offset = offset;
  }

  override get name(): string {
    return 'CorruptionError';
  }
}

/**
 * A transaction cannot commit: another write to `key` committed after its
 * snapshot (or, with `key` undefined, its snapshot is older than the commit
 * history reaches). Nothing of the transaction was applied; running it again on
 * a fresh snapshot may succeed (`db.runTransaction` does).
 */
export class ConflictError extends ShaleError {
  /** A key whose change conflicts (a copy), or undefined when the history was too short to check. */
  readonly key: Buffer | undefined;

  constructor(message: string, key: Buffer | undefined) {
    super('CONFLICT', message);
    this.key = key;
  }

  override get name(): string {
    return 'ConflictError';
  }
}

/** Wraps a failed file-system operation as `IO_ERROR`, keeping the original as `cause`. */
export function ioError(what: string, cause: unknown): ShaleError {
  if (cause instanceof ShaleError) return cause;
  const detail = cause instanceof Error ? cause.message : String(cause);
  return new ShaleError('IO_ERROR', `${what}: ${detail}`, { cause });
}

export function invalidArgument(message: string): ShaleError {
  return new ShaleError('INVALID_ARGUMENT', message);
}
