/**
 * The operations of the kill -9 crash test, shared by the writer (child) and the
 * checker (parent): a seeded stream of puts, deletes and batches over a small key
 * space, with self-verifying values, and the model that replays them.
 *
 * Expiring puts run on real time, so the checker must know their fate without
 * knowing when the child read its clock. The rule: an expiring put's `expiresAt`
 * is either at least `EXPIRY_FAR_MS` after the child's clock when it is issued
 * (it cannot expire during a run: the checker treats it as a put) or at most
 * `EXPIRED_BY_MS`, in 1970 (expired when written, whatever the clock: the
 * checker treats it as a delete).
 */
import CRC32 from 'crc-32';

/** One operation as the intent log records it: a put (maybe expiring), a delete or a range delete, or a batch of them. */
export type CrashOp =
  | { type: 'put'; key: string; value: string; expiresAt?: number }
  | { type: 'delete'; key: string }
  /** Deletes every key in [start, end) (keys compare as their UTF-8 bytes; the key space is ASCII). */
  | { type: 'deleteRange'; start: string; end: string };

/** An expiring put's `expiresAt` at most this (ms since the epoch, in 1970) had passed when it was written. */
export const EXPIRED_BY_MS = 1_000_000;
/** An expiring put's `expiresAt` at least this far after its write cannot pass during a run (a year). */
export const EXPIRY_FAR_MS = 365 * 24 * 3600 * 1000;

/** Whether `op` reads as a delete of its key: a delete, or a put whose expiry had passed when it was written. */
export function readsAsDelete(op: CrashOp): boolean {
  return op.type === 'delete' || (op.type === 'put' && op.expiresAt !== undefined && op.expiresAt <= EXPIRED_BY_MS);
}

/** An intent: one db call (a put, a delete or a batch), numbered in issue order. */
export interface Intent {
  index: number;
  ops: CrashOp[];
  sync: boolean;
}

export const KEY_SPACE = 2000;

/** A value that names its key and intent and carries a checksum, so misplaced or damaged values are caught. */
export function makeValue(key: string, intent: number, padding: number): string {
  const body = `${key}|${intent}|${'x'.repeat(padding)}`;
  return `${body}|${(CRC32.str(body) >>> 0).toString(16)}`;
}

/** Whether `value` is one `makeValue` made for `key`. */
export function valueIsIntact(key: string, value: string): boolean {
  const cut = value.lastIndexOf('|');
  const body = value.slice(0, cut);
  return body.startsWith(`${key}|`) && (CRC32.str(body) >>> 0).toString(16) === value.slice(cut + 1);
}

/** Serialises an intent as one line of the intent log. */
export function encodeIntent(intent: Intent): string {
  return JSON.stringify(intent);
}

export function decodeIntent(line: string): Intent {
  return JSON.parse(line) as Intent;
}

/** Applies an intent to a model state. */
export function applyIntent(state: Map<string, string>, intent: Intent): void {
  for (const op of intent.ops) {
    if (op.type === 'deleteRange') {
      for (const key of [...state.keys()]) if (key >= op.start && key < op.end) state.delete(key);
    } else if (readsAsDelete(op)) state.delete(op.key);
    else if (op.type === 'put') state.set(op.key, op.value);
  }
}
