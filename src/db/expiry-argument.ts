/**
 * The `ttl` and `expiresAt` arguments of an expiring write (docs/internals.md,
 * "TTL"): checked and turned into the one expiry time the entry stores.
 */
import { invalidArgument } from '../errors.js';
import { EXPIRES_AT_MS_MAX } from '../util/expiring-value.js';

/** The expiry options of `put` and of a batch's put operation. */
export interface ExpiryOptions {
  /**
   * Milliseconds from now (by the database's `clock`) after which the entry is
   * gone: a finite number > 0. The expiry time is `now + ttl`, rounded up to a
   * whole millisecond.
   */
  ttl?: number;
  /**
   * The time (milliseconds since the epoch, by the database's `clock`) from which
   * the entry is gone: a safe integer ≥ 0. A time already past is accepted: the
   * write happens (and hides older values of the key) and reads find nothing.
   */
  expiresAt?: number;
}

/**
 * The expiry time `ttl` or `expiresAt` asks for, undefined when neither is given.
 * `INVALID_ARGUMENT` (naming `what`) for a `ttl` that is not a finite number > 0,
 * an `expiresAt` that is not a safe integer ≥ 0, or both at once.
 */
export function expiryArgument(ttl: unknown, expiresAt: unknown, now: () => number, what: string): number | undefined {
  if (ttl !== undefined && expiresAt !== undefined) throw invalidArgument(`${what}: give ttl or expiresAt, not both`);
  if (expiresAt !== undefined) {
    if (typeof expiresAt !== 'number' || !Number.isSafeInteger(expiresAt) || expiresAt < 0) {
      throw invalidArgument(`${what}: expiresAt must be an integer ≥ 0 (milliseconds since the epoch), got ${String(expiresAt)}`);
    }
    return expiresAt;
  }
  if (ttl === undefined) return undefined;
  if (typeof ttl !== 'number' || !Number.isFinite(ttl) || ttl <= 0) {
    throw invalidArgument(`${what}: ttl must be a finite number of milliseconds > 0, got ${String(ttl)}`);
  }
  const expiresAtMs = Math.ceil(now() + ttl);
  if (expiresAtMs > EXPIRES_AT_MS_MAX) throw invalidArgument(`${what}: ttl ${ttl} puts the expiry past ${EXPIRES_AT_MS_MAX}`);
  return expiresAtMs;
}
