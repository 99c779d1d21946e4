/**
 * Turns the caller's arguments into validated, copied write operations. Every
 * check happens before anything is queued, so a bad argument writes nothing.
 */
import { invalidArgument } from '../errors.js';
import { EntryType, toBuffer } from '../keys.js';
import type { ResolvedOptions } from '../options.js';
import type { WriteOp } from '../wal/write-group.js';
import { encodeExpiringValue } from '../util/expiring-value.js';
import { expiryArgument, type ExpiryOptions } from './expiry-argument.js';

/** One operation of `db.write([...])`. A put may expire: see `ExpiryOptions`. */
export type BatchOperation =
  | ({ type: 'put'; key: Uint8Array | string; value: Uint8Array | string } & ExpiryOptions)
  | { type: 'delete'; key: Uint8Array | string }
  /** Deletes every key in [start, end) written before it (`db.deleteRange`). */
  | { type: 'deleteRange'; start: Uint8Array | string; end: Uint8Array | string };

export interface WriteOptions {
  /**
   * Wait for the write to be durable (fdatasync) before resolving. Default true.
   * With `false` the write has reached the OS when the promise resolves: it
   * survives a process kill, not a power loss.
   */
  sync?: boolean;
}

/** Options of `put`: when to resolve, and when the entry expires (see `ExpiryOptions`). */
export interface PutOptions extends WriteOptions, ExpiryOptions {}

type Limits = Pick<ResolvedOptions, 'keyBytesMax' | 'valueBytesMax'>;

/** Copies a key into a Buffer shale owns, checking its type and size. */
export function keyArgument(input: unknown, limits: Limits, what = 'key'): Buffer {
  const key = ownedCopy(input, what);
  if (key.length > limits.keyBytesMax) {
    throw invalidArgument(`${what} is ${key.length} bytes; keyBytesMax is ${limits.keyBytesMax}`);
  }
  return key;
}

function valueArgument(input: unknown, limits: Limits, what = 'value'): Buffer {
  const value = ownedCopy(input, what);
  if (value.length > limits.valueBytesMax) {
    throw invalidArgument(`${what} is ${value.length} bytes; valueBytesMax is ${limits.valueBytesMax}`);
  }
  return value;
}

/** A Buffer that the caller cannot change afterwards: strings encode fresh, bytes are copied. */
function ownedCopy(input: unknown, what: string): Buffer {
  if (typeof input === 'string') return toBuffer(input, what);
  return Buffer.from(toBuffer(input, what));
}

/** Lookups need no copy: the key is only compared, never kept. */
export function lookupKeyArgument(input: unknown, limits: Limits): Buffer {
  const key = toBuffer(input, 'key');
  if (key.length > limits.keyBytesMax) {
    throw invalidArgument(`key is ${key.length} bytes; keyBytesMax is ${limits.keyBytesMax}`);
  }
  return key;
}

/** A PUT, or with `expiresAtMs` a PUT_EXPIRING whose value carries its expiry time. */
export function putOp(key: unknown, value: unknown, limits: Limits, expiresAtMs?: number): WriteOp {
  return valueOp(keyArgument(key, limits), valueArgument(value, limits), expiresAtMs);
}

function valueOp(key: Buffer, value: Buffer, expiresAtMs: number | undefined): WriteOp {
  if (expiresAtMs === undefined) return { type: EntryType.PUT, key, value };
  return { type: EntryType.PUT_EXPIRING, key, value: encodeExpiringValue(expiresAtMs, value) };
}

export function deleteOp(key: unknown, limits: Limits): WriteOp {
  return { type: EntryType.DELETE, key: keyArgument(key, limits), value: EMPTY };
}

const EMPTY: Buffer = Buffer.alloc(0);

/**
 * A range delete of [start, end): both bounds copied, `start > end` rejected
 * (`start == end` is a valid write that deletes nothing).
 */
export function deleteRangeOp(start: unknown, end: unknown, limits: Limits, what = ''): WriteOp {
  const startKey = keyArgument(start, limits, `${what}start`);
  const endKey = keyArgument(end, limits, `${what}end`);
  if (startKey.compare(endKey) > 0) throw invalidArgument(`${what}start is past ${what}end: a range delete needs start <= end`);
  return { type: EntryType.RANGE_DELETE, key: startKey, value: endKey };
}

/** Validates and copies every operation of a batch; `now` is the database's time, for a put's `ttl`. */
export function batchOps(operations: unknown, limits: Limits, now: () => number = Date.now): WriteOp[] {
  if (!Array.isArray(operations)) throw invalidArgument('write() takes an array of operations');
  return operations.map((operation: unknown, index) => {
    if (typeof operation !== 'object' || operation === null) {
      throw invalidArgument(`operation ${index} must be an object`);
    }
    const { type, key, value, ttl, expiresAt } = operation as { type?: unknown; key?: unknown; value?: unknown; ttl?: unknown; expiresAt?: unknown };
    if (type === 'deleteRange') {
      const { start, end } = operation as { start?: unknown; end?: unknown };
      return deleteRangeOp(start, end, limits, `operation ${index} `);
    }
    if (type === 'put') {
      const expiresAtMs = expiryArgument(ttl, expiresAt, now, `operation ${index}`);
      return valueOp(keyArgument(key, limits, `operation ${index} key`), valueArgument(value, limits, `operation ${index} value`), expiresAtMs);
    }
    if (type === 'delete' || type === 'del') {
      return { type: EntryType.DELETE, key: keyArgument(key, limits, `operation ${index} key`), value: EMPTY };
    }
    throw invalidArgument(`operation ${index} has unknown type ${JSON.stringify(type)}; expected 'put', 'delete' or 'deleteRange'`);
  });
}

/**
 * Rejects an option name a call does not take, as `DB.open` does: a misspelt
 * `{ snyc: false }` or `{ revrse: true }` must fail, never be quietly ignored.
 */
export function checkOptionNames(options: object, names: readonly string[], what: string): void {
  // for-in, not Object.keys: no array per call on the read path (a get with a snapshot).
  for (const name in options) {
    if (Object.hasOwn(options, name) && !names.includes(name)) throw invalidArgument(`unknown ${what} option ${name}; expected one of ${names.join(', ')}`);
  }
}

const WRITE_OPTION_NAMES = ['sync'];

const PUT_OPTION_NAMES = ['sync', 'ttl', 'expiresAt'];

/** Reads `put`'s `{ sync, ttl, expiresAt }`: sync defaults to true, no expiry to undefined. */
export function putOptions(options: unknown, now: () => number): { sync: boolean; expiresAtMs: number | undefined } {
  if (options === undefined) return { sync: true, expiresAtMs: undefined };
  if (typeof options !== 'object' || options === null) throw invalidArgument('write options must be an object');
  checkOptionNames(options, PUT_OPTION_NAMES, 'write');
  const { sync, ttl, expiresAt } = options as { sync?: unknown; ttl?: unknown; expiresAt?: unknown };
  if (sync !== undefined && typeof sync !== 'boolean') throw invalidArgument('option sync must be a boolean');
  return { sync: sync ?? true, expiresAtMs: expiryArgument(ttl, expiresAt, now, 'put') };
}

/** Reads `{ sync }`, defaulting to true. */
export function syncOption(options: unknown): boolean {
  if (options === undefined) return true;
  if (typeof options !== 'object' || options === null) throw invalidArgument('write options must be an object');
  checkOptionNames(options, WRITE_OPTION_NAMES, 'write');
  const { sync } = options as { sync?: unknown };
  if (sync === undefined) return true;
  if (typeof sync !== 'boolean') throw invalidArgument('option sync must be a boolean');
  return sync;
}
