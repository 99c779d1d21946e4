/**
 * abstract-level's iterators (`db.iterator()`, `db.keys()`, `db.values()`) on top of
 * shale's `ShaleIterator`. abstract-level keeps the count, the limit, the busy and
 * closed states and the decoding; these classes forward `_next`, `_nextv`, `_all`,
 * `_seek` and `_close` to the shale iterator, which reads one snapshot (taken when
 * it is created, synchronously) and already fetches in batches, then hand back the
 * storage format abstract-level asked for.
 */
import { AbstractIterator, AbstractKeyIterator, AbstractValueIterator } from 'abstract-level';
import type { DB, IteratorOptions } from '../db/db.js';
import type { ShaleIterator } from '../iterator/public-iterator.js';
import type { Snapshot } from '../db/snapshot.js';
import { LevelAbortError, toLevelError } from './errors.js';
import { fromStorage, type StorageData, type StorageFormat } from './formats.js';
import type { ShaleLevel } from './shale-level.js';

/** The range, order and limit of an iterator or of `clear()`, as abstract-level passes them: bounds already encoded. */
export interface PrivateRangeOptions {
  readonly reverse: boolean;
  /** -1 for no limit. */
  readonly limit: number;
  readonly gt?: StorageData;
  readonly gte?: StorageData;
  readonly lt?: StorageData;
  readonly lte?: StorageData;
  readonly snapshot?: unknown;
}

/** The options abstract-level passes to `_iterator()`, `_keys()` and `_values()`. */
export interface PrivateIteratorOptions extends PrivateRangeOptions {
  readonly keys?: boolean;
  readonly values?: boolean;
  readonly keyEncoding: StorageFormat;
  readonly valueEncoding: StorageFormat;
  readonly signal?: AbortSignal | null;
}

/** What `_seek()` receives besides the (encoded) target. */
export interface PrivateSeekOptions {
  readonly keyEncoding: StorageFormat;
}

type AnyShaleLevel = ShaleLevel<any, any>;

/**
 * Shale's iterator options for abstract-level's. abstract-level gives `gte` precedence
 * over `gt` and `lte` over `lt`; shale applies every bound given (the tighter one
 * wins), so the overridden bound is dropped here.
 */
export function shaleIteratorOptions(options: PrivateRangeOptions, snapshot: Snapshot | undefined): IteratorOptions {
  const shale: IteratorOptions = { reverse: options.reverse, limit: options.limit };
  if (options.gte !== undefined) shale.gte = options.gte;
  else if (options.gt !== undefined) shale.gt = options.gt;
  if (options.lte !== undefined) shale.lte = options.lte;
  else if (options.lt !== undefined) shale.lt = options.lt;
  if (snapshot !== undefined) shale.snapshot = snapshot;
  return shale;
}

/** What the three iterator classes forward to: the shale iterator's reads, converted and error-mapped. */
interface Reads {
  next(): Promise<unknown>;
  nextv(size: number): Promise<unknown[]>;
  all(): Promise<unknown[]>;
  seek(target: StorageData): void;
  close(): Promise<void>;
}

/**
 * The shared half of the three iterator classes: runs each read on the shale
 * iterator, maps its errors, converts what it yields, and honours `signal` by
 * rejecting an in-progress read with `LEVEL_ABORTED` the moment it is aborted.
 */
class Cursor<T> implements Reads {
  readonly #inner: ShaleIterator<T>;
  readonly #convert: (item: T) => unknown;
  readonly #signal: AbortSignal | undefined;
  /** The shale call in progress, if any: closing waits for it, even after an abort gave up on it. */
  #pending: Promise<unknown> | undefined;

  constructor(inner: ShaleIterator<T>, convert: (item: T) => unknown, signal: AbortSignal | null | undefined) {
    this.#inner = inner;
    this.#convert = convert;
    this.#signal = signal ?? undefined;
  }

  next(): Promise<unknown> {
    return this.#call(async () => {
      const item = await this.#inner.next();
      return item === undefined ? undefined : this.#convert(item);
    });
  }

  nextv(size: number): Promise<unknown[]> {
    return this.#call(async () => (await this.#inner.nextv(size)).map(this.#convert));
  }

  /** Every remaining item. The shale iterator closes itself at the end; abstract-level then closes this one. */
  all(): Promise<unknown[]> {
    return this.#call(async () => (await this.#inner.all()).map(this.#convert));
  }

  seek(target: StorageData): void {
    try {
      this.#inner.seek(target);
    } catch (err) {
      throw toLevelError(err, { kind: 'iterator' });
    }
  }

  async close(): Promise<void> {
    await this.#pending?.catch(() => undefined);
    await this.#inner.close();
  }

  #call<R>(read: () => Promise<R>): Promise<R> {
    const work = read().catch((err: unknown) => {
      throw toLevelError(err, { kind: 'iterator' });
    });
    this.#pending = work;
    const signal = this.#signal;
    if (signal === undefined) return work;
    // abstract-level refuses calls once the signal is aborted; this covers an abort during one.
    return new Promise<R>((resolve, reject) => {
      const onAbort = (): void => reject(new LevelAbortError(signal.reason));
      signal.addEventListener('abort', onAbort, { once: true });
      void work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
  }
}

/**
 * Opens the shale iterator behind an entry iterator. With `keys: false` or
 * `values: false` it reads only the half that is wanted, and yields `undefined`
 * for the other, as abstract-level specifies.
 */
function entryReads(db: DB, options: PrivateIteratorOptions, shaleOptions: IteratorOptions): Reads {
  const { keyEncoding, valueEncoding, signal } = options;
  const wantKeys = options.keys !== false;
  const wantValues = options.values !== false;
  if (wantKeys && wantValues) {
    const convert = (entry: [Buffer, Buffer]): unknown => [fromStorage(entry[0], keyEncoding), fromStorage(entry[1], valueEncoding)];
    return new Cursor(db.iterator(shaleOptions), convert, signal);
  }
  if (wantValues) {
    const convert = (value: Buffer): unknown => [undefined, fromStorage(value, valueEncoding)];
    return new Cursor(db.values(shaleOptions), convert, signal);
  }
  const convert = (key: Buffer): unknown => [wantKeys ? fromStorage(key, keyEncoding) : undefined, undefined];
  return new Cursor(db.keys(shaleOptions), convert, signal);
}

/** The iterator of `db.iterator()`: entries `[key, value]`. */
export class ShaleLevelIterator<K, V> extends AbstractIterator<AnyShaleLevel, K, V> {
  readonly #cursor: Reads;

  /**
   * @internal Created by `ShaleLevel._iterator()`. The shale iterator (and with it the
   * snapshot) is made before abstract-level registers this one with the database,
   * so a failure leaves nothing registered.
   */
  constructor(level: AnyShaleLevel, options: PrivateIteratorOptions, db: DB, shaleOptions: IteratorOptions) {
    const cursor = entryReads(db, options, shaleOptions);
    super(level, options as never);
    this.#cursor = cursor;
  }

  async _next(): Promise<unknown> {
    return this.#cursor.next();
  }

  async _nextv(size: number): Promise<unknown[]> {
    return this.#cursor.nextv(size);
  }

  async _all(): Promise<unknown[]> {
    return this.#cursor.all();
  }

  _seek(target: StorageData, _options: PrivateSeekOptions): void {
    this.#cursor.seek(target);
  }

  async _close(): Promise<void> {
    await this.#cursor.close();
  }
}

/** The iterator of `db.keys()`. */
export class ShaleLevelKeyIterator<K> extends AbstractKeyIterator<AnyShaleLevel, K> {
  readonly #cursor: Reads;

  /** @internal Created by `ShaleLevel._keys()`. */
  constructor(level: AnyShaleLevel, options: PrivateIteratorOptions, db: DB, shaleOptions: IteratorOptions) {
    const { keyEncoding } = options;
    const cursor = new Cursor(db.keys(shaleOptions), (key: Buffer) => fromStorage(key, keyEncoding), options.signal);
    super(level, options as never);
    this.#cursor = cursor;
  }

  async _next(): Promise<unknown> {
    return this.#cursor.next();
  }

  async _nextv(size: number): Promise<unknown[]> {
    return this.#cursor.nextv(size);
  }

  async _all(): Promise<unknown[]> {
    return this.#cursor.all();
  }

  _seek(target: StorageData, _options: PrivateSeekOptions): void {
    this.#cursor.seek(target);
  }

  async _close(): Promise<void> {
    await this.#cursor.close();
  }
}

/** The iterator of `db.values()`. */
export class ShaleLevelValueIterator<K, V> extends AbstractValueIterator<AnyShaleLevel, K, V> {
  readonly #cursor: Reads;

  /** @internal Created by `ShaleLevel._values()`. */
  constructor(level: AnyShaleLevel, options: PrivateIteratorOptions, db: DB, shaleOptions: IteratorOptions) {
    const { valueEncoding } = options;
    const cursor = new Cursor(db.values(shaleOptions), (value: Buffer) => fromStorage(value, valueEncoding), options.signal);
    super(level, options as never);
    this.#cursor = cursor;
  }

  async _next(): Promise<unknown> {
    return this.#cursor.next();
  }

  async _nextv(size: number): Promise<unknown[]> {
    return this.#cursor.nextv(size);
  }

  async _all(): Promise<unknown[]> {
    return this.#cursor.all();
  }

  _seek(target: StorageData, _options: PrivateSeekOptions): void {
    this.#cursor.seek(target);
  }

  async _close(): Promise<void> {
    await this.#cursor.close();
  }
}
