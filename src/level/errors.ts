/**
 * The one place where shale's errors become abstract-level's. Everything the
 * adapter throws or rejects with passes through `toLevelError` (or is made by one
 * of the constructors below), so the table from `ShaleErrorCode` to
 * `LEVEL_*` codes lives here and nowhere else:
 *
 * | shale code         | while              | abstract-level code                           |
 * |--------------------|--------------------|-----------------------------------------------|
 * | `LOCKED`           | opening            | `LEVEL_LOCKED`                                |
 * | `NOT_FOUND`        | opening            | shale's code, with LevelDB's wording (below)  |
 * | `EXISTS`           | opening            | shale's code, with LevelDB's wording (below)  |
 * | `CORRUPTION`       | anything           | `LEVEL_CORRUPTION`                            |
 * | `IO_ERROR`         | anything           | `LEVEL_IO_ERROR`                              |
 * | `NOT_OPEN`         | an iterator call   | `LEVEL_ITERATOR_NOT_OPEN`                     |
 * | `NOT_OPEN`         | anything else      | `LEVEL_DATABASE_NOT_OPEN`                     |
 * | `INVALID_ARGUMENT` | a key too large    | `LEVEL_INVALID_KEY`                           |
 * | `INVALID_ARGUMENT` | a value too large  | `LEVEL_INVALID_VALUE`                         |
 * | `INVALID_ARGUMENT` | anything else      | the `ShaleError` unchanged                    |
 * | `NOT_SUPPORTED`    | anything           | `LEVEL_NOT_SUPPORTED`                         |
 * | `CONFLICT`         | a transaction      | the `ShaleError` (a `ConflictError`) unchanged |
 *
 * Every mapped error keeps the `ShaleError` as its `cause`. A failed open is
 * wrapped once more by abstract-level itself, as `LEVEL_DATABASE_NOT_OPEN` whose
 * `cause` is the error mapped here. Missing keys are never errors: they read as
 * `undefined`.
 */
import { ShaleError } from '../errors.js';

/** An error with an abstract-level code (`LEVEL_*`), shaped like abstract-level's own `ModuleError`. */
export class LevelError extends Error {
  readonly code: string;

  constructor(message: string, options: { code: string; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = options.code;
  }
}

/** `LEVEL_ABORTED`, named `AbortError` as the web platform and abstract-level's tests expect. */
export class LevelAbortError extends LevelError {
  constructor(cause?: unknown) {
    super('Operation has been aborted', { code: 'LEVEL_ABORTED', cause });
  }

  override get name(): string {
    return 'AbortError';
  }
}

/** What was being done when an error arose: it decides between codes that the shale code alone cannot. */
export type ErrorContext =
  | { readonly kind: 'open'; readonly location: string }
  | { readonly kind: 'iterator' }
  /** `invalid` names the argument at fault when shale rejected one (only asked for `INVALID_ARGUMENT`). */
  | { readonly kind: 'operation'; readonly invalid?: () => 'key' | 'value' | undefined };

const BY_CODE: Partial<Record<ShaleError['code'], string>> = {
  CORRUPTION: 'LEVEL_CORRUPTION',
  IO_ERROR: 'LEVEL_IO_ERROR',
  LOCKED: 'LEVEL_LOCKED',
  NOT_SUPPORTED: 'LEVEL_NOT_SUPPORTED',
};

/** Maps `err` to what abstract-level's callers expect. Anything that is not a `ShaleError` passes through. */
export function toLevelError(err: unknown, context: ErrorContext): unknown {
  if (!(err instanceof ShaleError)) return err;
  switch (err.code) {
    case 'NOT_FOUND':
    case 'EXISTS':
      return context.kind === 'open' ? openStateError(err, context.location) : err;
    case 'NOT_OPEN':
      return new LevelError(err.message, {
        code: context.kind === 'iterator' ? 'LEVEL_ITERATOR_NOT_OPEN' : 'LEVEL_DATABASE_NOT_OPEN',
        cause: err,
      });
    case 'INVALID_ARGUMENT': {
      const invalid = context.kind === 'operation' ? context.invalid?.() : undefined;
      if (invalid === 'key') return new LevelError(err.message, { code: 'LEVEL_INVALID_KEY', cause: err });
      if (invalid === 'value') return new LevelError(err.message, { code: 'LEVEL_INVALID_VALUE', cause: err });
      return err;
    }
    default: {
      const code = BY_CODE[err.code];
      return code === undefined ? err : new LevelError(err.message, { code, cause: err });
    }
  }
}

/**
 * `NOT_FOUND` and `EXISTS` at open. abstract-level has no codes for them (LevelDB
 * reports both as plain errors) and its shared tests recognise them by LevelDB's
 * wording ("does not exist", "exists"), which shale's messages do not use. So the
 * adapter words the message itself, keeps shale's stable code, and keeps the
 * `ShaleError` as `cause`.
 */
function openStateError(err: ShaleError, location: string): LevelError {
  const message =
    err.code === 'NOT_FOUND'
      ? `Database at ${location} does not exist (createIfMissing is false)`
      : `Database at ${location} already exists (errorIfExists is true)`;
  return new LevelError(message, { code: err.code, cause: err });
}

/** `LEVEL_SNAPSHOT_NOT_OPEN`: a read asked for a snapshot that was closed. */
export function snapshotNotOpenError(): LevelError {
  return new LevelError('Snapshot is not open: cannot use snapshot after close()', { code: 'LEVEL_SNAPSHOT_NOT_OPEN' });
}

/** `LEVEL_DATABASE_NOT_OPEN` for a call that reached the adapter while no shale database is open. */
export function databaseNotOpenError(): LevelError {
  return new LevelError('Database is not open', { code: 'LEVEL_DATABASE_NOT_OPEN' });
}
