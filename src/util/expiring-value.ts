/**
 * The value of a `PUT_EXPIRING` entry as it lies in the WAL, the memtable and the
 * tables (docs/format.md, "Expiring values"):
 *
 *   expiresAtMs u64le ‖ value
 *
 * `expiresAtMs` is milliseconds since the epoch by the database's clock. An entry
 * is expired from that instant on (`expiresAtMs <= now`), and from then on it
 * reads exactly like a DELETE at its sequence number (docs/internals.md, "TTL").
 */
import { readUint64, writeUint64 } from './coding.js';

/** Bytes of the expiry time in front of an expiring entry's value. */
export const EXPIRY_BYTES = 8;

/** The largest expiry time: within a JS safe integer, like every 64-bit field. */
export const EXPIRES_AT_MS_MAX = Number.MAX_SAFE_INTEGER;

/** Encodes `expiresAtMs ‖ value` into a new Buffer. `expiresAtMs` is a safe integer ≥ 0. */
export function encodeExpiringValue(expiresAtMs: number, value: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(EXPIRY_BYTES + value.length);
  writeUint64(out, expiresAtMs, 0);
  out.set(value, EXPIRY_BYTES);
  return out;
}

/**
 * The expiry time at the start of the stored value `stored[offset, …)`: -1 when it
 * is too short to hold one or the time exceeds 2^53 - 1 (the caller reports
 * corruption, or treats the entry as damaged).
 */
export function readExpiry(stored: Uint8Array, offset = 0, length = stored.length - offset): number {
  if (length < EXPIRY_BYTES) return -1;
  return readUint64(stored, offset);
}

/** Whether an entry expiring at `expiresAtMs` is expired at `nowMs`: from that very millisecond on. */
export function isExpired(expiresAtMs: number, nowMs: number): boolean {
  return expiresAtMs <= nowMs;
}

/** The user's value inside a stored expiring value: a view, no copy. */
export function expiringValueBody(stored: Buffer): Buffer {
  return stored.subarray(EXPIRY_BYTES);
}
