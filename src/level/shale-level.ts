/**
 * `ShaleLevel`: shale behind the abstract-level interface, so that everything
 * written for `level` (sublevels, encodings, hooks, streams, the ecosystem's
 * plugins) runs on a shale database in a directory. abstract-level does argument
 * checking, encodings, sublevels, deferred open, events and hooks; this class
 * maps its private API (`_open`, `_get`, `_batch`, `_iterator`, ...) onto `DB`.
 *
 * Every read takes its snapshot synchronously, when it is called: `get` and
 * `getMany` capture the sequence number before they first wait, iterators capture
 * it (and pin the memtables and tables) when created. Explicit snapshots are
 * shale snapshots.
 */
import { AbstractLevel, type AbstractDatabaseOptions, type AbstractSnapshot } from 'abstract-level';
import { DB, type DBStats, type IteratorOptions, type ReadOptions, type WriteOptions } from '../db/db.js';
import type { BatchOperation } from '../db/batch.js';
import type { ExpiryOptions } from '../db/expiry-argument.js';
import { ShaleError, invalidArgument } from '../errors.js';
import type { BytesLike } from '../keys.js';
import type { MetricsOptions } from '../db/metrics.js';
import { DEFAULTS, OPTION_NAMES, type Options } from '../options.js';
import { databaseNotOpenError, toLevelError } from './errors.js';
import { STORAGE_ENCODINGS, fromStorage, storedByteLength, type StorageData, type StorageFormat } from './formats.js';
import {
  ShaleLevelIterator,
  ShaleLevelKeyIterator,
  ShaleLevelValueIterator,
  shaleIteratorOptions,
  type PrivateIteratorOptions,
  type PrivateRangeOptions,
} from './iterators.js';
import { ShaleLevelSnapshot, type SnapshotOptions } from './shale-level-snapshot.js';
import { clearAsRangeDelete, runRangeClear } from './clear-range.js';
import { ShaleLevelTransaction, type LevelEncoding } from './shale-level-transaction.js';
import type { RunTransactionOptions, TransactionOptions } from '../db/transaction.js';

/** Keys deleted per batch by `clear()`: bounds the memory and the WAL record of each step. */
const CLEAR_BATCH_KEYS_MAX = 1024;

/**
 * The options of `new ShaleLevel(location, options)`: abstract-level's
 * (`keyEncoding`, `valueEncoding`, `createIfMissing`, `errorIfExists`, `passive`),
 * shale's (`memtableSizeBytes`, `keyBytesMax`, `fs`, ...; every name of `Options`),
 * and classic-level's names that have a shale meaning (`ClassicLevelOptions`).
 * shale's and classic-level's are validated exactly as `DB.open` validates
 * them: a bad one fails the open (`LEVEL_DATABASE_NOT_OPEN` with the
 * `INVALID_ARGUMENT` as its cause). They apply to every open, reopens too; `db.open(options)` takes abstract-level's only. Any other name is the
 * user's own, as abstract-level defines it: shown to postopen hooks, otherwise
 * ignored (abstract-level's shared suite requires that).
 */
export type ShaleLevelOptions<K, V> = AbstractDatabaseOptions<K, V> & Omit<ShaleTuning, 'compression'> & ClassicLevelOptions;

/** shale's options but those abstract-level owns (it passes them to `_open`). */
export type ShaleTuning = Omit<Options, 'createIfMissing' | 'errorIfExists'>;

/** classic-level's option names, taken as the shale options they mean (docs/options.md). */
export interface ClassicLevelOptions {
  /** classic-level's block cache size: shale's `blockCacheBytes`. */
  cacheSize?: number;
  /** classic-level's memtable size: shale's `memtableSizeBytes`. */
  writeBufferSize?: number;
  /** classic-level's block size: shale's `blockSizeBytes`. */
  blockSize?: number;
  /** `true` is shale's `'snappy'`, `false` its `'none'`; shale's strings work too. */
  compression?: boolean | Options['compression'];
}

/** The names of the options in `ShaleTuning`, taken out of the constructor's options. */
const SHALE_TUNING_NAMES: ReadonlySet<string> = new Set(OPTION_NAMES.filter((name) => name !== 'createIfMissing' && name !== 'errorIfExists'));

/** classic-level's names that are spelled differently in shale. */
const CLASSIC_LEVEL_NAMES: Readonly<Record<string, keyof ShaleTuning>> = {
  cacheSize: 'blockCacheBytes',
  writeBufferSize: 'memtableSizeBytes',
  blockSize: 'blockSizeBytes',
};

/** The events a `ShaleLevel` passes on from its `DB` (see `DBEvents`). */
const DB_EVENTS = ['flush', 'compaction', 'stall', 'background-error'] as const;

/**
 * What this database does, for abstract-level, its test suite and its users.
 * Each `true` is implemented here and exercised by abstract-level's shared suite;
 * abstract-level adds `deferredOpen` and the events itself.
 */
const MANIFEST = {
  /** Keys and values arrive as Buffers, Uint8Arrays or strings, all native to shale; abstract-level transcodes the rest. */
  encodings: STORAGE_ENCODINGS,
  /** `get`, `getMany`, `has`, `hasMany` and iterators read the sequence number current when they are called. */
  implicitSnapshots: true,
  /** `db.snapshot()` is a shale snapshot; every read, and `clear()`, take `{ snapshot }`. */
  explicitSnapshots: true,
  /** A directory on disk, with shale's durability contract. */
  permanence: true,
  /** Iterators seek with shale's `seek()`. */
  seek: true,
  createIfMissing: true,
  errorIfExists: true,
  /** `has` and `hasMany`, as lookups whose values are dropped. */
  has: true,
  /** `getSync` is shale's `getSync`: answered on the calling thread (it may open a table or read a block synchronously). */
  getSync: true,
  /** An abort rejects an iterator read in progress with `LEVEL_ABORTED` at once (the shale read is abandoned, not stopped). */
  signals: { iterators: true },
  /** `DB`'s own methods, passed through (sublevels do not have them, as abstract-level decides). */
  additionalMethods: { compactRange: true, getProperty: true, stats: true, flush: true, refresh: true, metrics: true, transaction: true, runTransaction: true },
  /** `DB`'s events, re-emitted with the same arguments. */
  events: Object.fromEntries(DB_EVENTS.map((name) => [name, true])),
};

/** What the private read methods receive. */
interface PrivateReadOptions {
  readonly keyEncoding: StorageFormat;
  readonly valueEncoding: StorageFormat;
  readonly snapshot?: unknown;
}

/**
 * What `_put`, `_del` and `_batch` receive. `sync` is shale's and passed through:
 * unlike classic-level's (default false), it defaults to true, a write resolving
 * once it is on disk. `ttl` and `expiresAt` (shale's `ExpiryOptions`) make a put,
 * or every put of a batch that has none of its own, expire.
 */
interface PrivateWriteOptions {
  readonly sync?: unknown;
  readonly ttl?: unknown;
  readonly expiresAt?: unknown;
}

/** One operation of `_batch`: encoded, prefixed, with encoding names; a put may carry its own `ttl` or `expiresAt`. */
interface PrivateBatchOperation {
  readonly type: 'put' | 'del';
  readonly key: StorageData;
  readonly value?: StorageData;
  readonly ttl?: unknown;
  readonly expiresAt?: unknown;
}

/**
 * An abstract-level database stored by shale in the directory `location`.
 * Construct it and use it: it opens itself (operations wait for the open).
 * Close it with `close()`; that closes its iterators, snapshots and sublevels.
 */
export class ShaleLevel<KDefault = string, VDefault = string> extends AbstractLevel<StorageData, KDefault, VDefault> {
  readonly #location: string;
  readonly #shaleOptions: ShaleTuning;
  /** A classic-level name given with its shale twin: the open fails with it, as DB.open fails on a bad option. */
  readonly #optionsError: Error | undefined;
  #db: DB | undefined;

  /**
   * @param location The database directory (created on open unless `createIfMissing: false`).
   * @param options Encodings and open options for abstract-level, tuning for shale.
   */
  constructor(location: string, options?: ShaleLevelOptions<KDefault, VDefault>) {
    if (typeof location !== 'string' || location === '') {
      throw new TypeError("The first argument 'location' must be a non-empty string");
    }
    const { shale, level, conflict } = splitOptions(options);
    super(MANIFEST, level);
    this.#location = location;
    this.#shaleOptions = shale;
    this.#optionsError = conflict;
  }

  /** The database directory. */
  get location(): string {
    return this.#location;
  }

  /** @internal The open shale database; `LEVEL_DATABASE_NOT_OPEN` if there is none. */
  get #shale(): DB {
    if (this.#db === undefined) throw databaseNotOpenError();
    return this.#db;
  }

  async _open(options: { createIfMissing: boolean; errorIfExists: boolean }): Promise<void> {
    const shaleOptions: Options = {
      ...this.#shaleOptions,
      createIfMissing: options.createIfMissing,
      errorIfExists: options.errorIfExists,
    };
    let db: DB;
    try {
      if (this.#optionsError !== undefined) throw this.#optionsError;
      db = await DB.open(this.#location, shaleOptions);
    } catch (err) {
      throw toLevelError(err, { kind: 'open', location: this.#location });
    }
    for (const name of DB_EVENTS) db.on(name, (event: unknown) => this.emit(name, event));
    this.#db = db;
  }

  /**
   * `DB.compactRange`: flushes, then compacts every table overlapping [start, end]
   * (keys in this database's key encoding; either may be omitted). Waits for a
   * deferred open.
   */
  async compactRange(start?: unknown, end?: unknown): Promise<void> {
    await this.#whenOpen();
    const encode = (key: unknown): BytesLike | undefined => (key === undefined ? undefined : ((this.keyEncoding() as { encode(key: unknown): unknown }).encode(key) as BytesLike));
    try {
      await this.#shale.compactRange(encode(start), encode(end));
    } catch (err) {
      throw toLevelError(err, { kind: 'operation' });
    }
  }

  /** `DB.flush`: writes the memtable to a table. Waits for a deferred open. */
  async flush(): Promise<void> {
    await this.#whenOpen();
    try {
      await this.#shale.flush();
    } catch (err) {
      throw toLevelError(err, { kind: 'operation' });
    }
  }

  /**
   * `DB.transaction` with this database's key and value encodings (see
   * `ShaleLevelTransaction`). Synchronous, so the database must be open:
   * `LEVEL_DATABASE_NOT_OPEN` otherwise (`runTransaction` waits for a deferred open).
   */
  transaction(options?: TransactionOptions): ShaleLevelTransaction<KDefault, VDefault> {
    try {
      return new ShaleLevelTransaction(this.#shale.transaction(options), this.#encodings().keys, this.#encodings().values);
    } catch (err) {
      throw toLevelError(err, { kind: 'operation' });
    }
  }

  /** `DB.runTransaction` with this database's encodings; waits for a deferred open. */
  async runTransaction<T>(fn: (tx: ShaleLevelTransaction<KDefault, VDefault>) => T | Promise<T>, options?: RunTransactionOptions): Promise<T> {
    await this.#whenOpen();
    const { keys, values } = this.#encodings();
    try {
      return await this.#shale.runTransaction((tx) => fn(new ShaleLevelTransaction(tx, keys, values)), options);
    } catch (err) {
      throw toLevelError(err, { kind: 'operation' });
    }
  }

  #encodings(): { keys: LevelEncoding<KDefault>; values: LevelEncoding<VDefault> } {
    return {
      keys: this.keyEncoding() as unknown as LevelEncoding<KDefault>,
      values: this.valueEncoding() as unknown as LevelEncoding<VDefault>,
    };
  }

  /** `DB.getProperty` (`shale.levels`, `shale.stats`); `LEVEL_DATABASE_NOT_OPEN` unless open. */
  getProperty(name: string): string | undefined {
    if (typeof name !== 'string') throw new TypeError("The first argument 'name' must be a string");
    return this.#shale.getProperty(name);
  }

  /** `DB.stats`; `LEVEL_DATABASE_NOT_OPEN` unless open. */
  stats(): DBStats {
    return this.#shale.stats();
  }

  /** `DB.refresh`: a read-only database (`readOnly: true`) moves to the writer's latest state. Waits for a deferred open. */
  async refresh(): Promise<void> {
    await this.#whenOpen();
    try {
      await this.#shale.refresh();
    } catch (err) {
      throw toLevelError(err, { kind: 'operation' });
    }
  }

  /** `DB.metrics`: the Prometheus text format; `LEVEL_DATABASE_NOT_OPEN` unless open. */
  metrics(options?: MetricsOptions): string {
    return this.#shale.metrics(options);
  }

  /** Waits for an open in progress; `LEVEL_DATABASE_NOT_OPEN` if the database is not open after it. */
  async #whenOpen(): Promise<void> {
    if (this.status === 'opening') await this.open();
    if (this.#db === undefined) throw databaseNotOpenError();
  }

  /**
   * Closes the shale database: queued writes finish, the log is synced, the lock
   * released. abstract-level has closed this database's iterators and snapshots
   * first. If shale's close fails (its files are released all the same),
   * abstract-level reports the database open again, but calls get
   * `LEVEL_DATABASE_NOT_OPEN`; a second `close()` succeeds and `open()` reopens.
   */
  async _close(): Promise<void> {
    const db = this.#db;
    this.#db = undefined;
    try {
      await db?.close();
    } catch (err) {
      throw toLevelError(err, { kind: 'operation' });
    }
  }

  async _get(key: StorageData, options: PrivateReadOptions): Promise<unknown> {
    try {
      const value = await this.#shale.get(key, readOptions(options));
      return value === undefined ? undefined : fromStorage(value, options.valueEncoding);
    } catch (err) {
      throw toLevelError(err, { kind: 'operation', invalid: () => this.#oversizedKeys([key]) });
    }
  }

  async _getMany(keys: StorageData[], options: PrivateReadOptions): Promise<unknown[]> {
    try {
      const values = await this.#shale.getMany(keys, readOptions(options));
      return values.map((value) => (value === undefined ? undefined : fromStorage(value, options.valueEncoding)));
    } catch (err) {
      throw toLevelError(err, { kind: 'operation', invalid: () => this.#oversizedKeys(keys) });
    }
  }

  /** shale's `getSync`: the same answer as `_get`, on the calling thread; errors are thrown. */
  _getSync(key: StorageData, options: PrivateReadOptions): unknown {
    try {
      const value = this.#shale.getSync(key, readOptions(options));
      return value === undefined ? undefined : fromStorage(value, options.valueEncoding);
    } catch (err) {
      throw toLevelError(err, { kind: 'operation', invalid: () => this.#oversizedKeys([key]) });
    }
  }

  /** Implemented as a `get` whose value is dropped: shale has no key-only lookup yet. */
  async _has(key: StorageData, options: PrivateReadOptions): Promise<boolean> {
    try {
      return (await this.#shale.get(key, readOptions(options))) !== undefined;
    } catch (err) {
      throw toLevelError(err, { kind: 'operation', invalid: () => this.#oversizedKeys([key]) });
    }
  }

  async _hasMany(keys: StorageData[], options: PrivateReadOptions): Promise<boolean[]> {
    try {
      return (await this.#shale.getMany(keys, readOptions(options))).map((value) => value !== undefined);
    } catch (err) {
      throw toLevelError(err, { kind: 'operation', invalid: () => this.#oversizedKeys(keys) });
    }
  }

  async _put(key: StorageData, value: StorageData, options: PrivateWriteOptions): Promise<void> {
    try {
      await this.#shale.put(key, value, { ...writeOptions(options), ...expiryOf(options) });
    } catch (err) {
      throw toLevelError(err, { kind: 'operation', invalid: () => this.#oversized([{ type: 'put', key, value }]) });
    }
  }

  async _del(key: StorageData, options: PrivateWriteOptions): Promise<void> {
    try {
      await this.#shale.delete(key, writeOptions(options));
    } catch (err) {
      throw toLevelError(err, { kind: 'operation', invalid: () => this.#oversized([{ type: 'del', key }]) });
    }
  }

  /** Atomic, as shale's `write` is. The chained batch is abstract-level's default, which ends here too. */
  async _batch(operations: PrivateBatchOperation[], options: PrivateWriteOptions): Promise<void> {
    const batch: BatchOperation[] = operations.map((op) =>
      op.type === 'put' ? { type: 'put', key: op.key, value: op.value as StorageData, ...(expiryOf(op) ?? expiryOf(options)) } : { type: 'delete', key: op.key },
    );
    try {
      await this.#shale.write(batch, writeOptions(options));
    } catch (err) {
      throw toLevelError(err, { kind: 'operation', invalid: () => this.#oversized(operations) });
    }
  }

  /**
   * Deletes the keys of a range. Without a limit or a snapshot: one range delete,
   * atomic and O(1) in the number of keys (`clearAsRangeDelete`). Otherwise the
   * keys are read from one snapshot (the one given, or one taken now) and deleted
   * in batches of `CLEAR_BATCH_KEYS_MAX`: not atomic as a whole, as abstract-level
   * allows. Only the last batch waits for fdatasync: recovery is prefix-consistent,
   * so when it is durable every batch before it is too.
   */
  async _clear(options: PrivateRangeOptions): Promise<void> {
    const range = clearAsRangeDelete(options);
    if (range === 'empty') return;
    if (range !== undefined) {
      try {
        await runRangeClear(this.#shale, range, undefined);
        return;
      } catch (err) {
        // A bound's successor one byte past keyBytesMax: the key-by-key path takes the bound as it is.
        if (!(err instanceof ShaleError && err.code === 'INVALID_ARGUMENT')) throw toLevelError(err, { kind: 'operation' });
      }
    }
    await this.#clearKeyByKey(options);
  }

  async #clearKeyByKey(options: PrivateRangeOptions): Promise<void> {
    const db = this.#shale;
    let keys;
    try {
      keys = db.keys(shaleIteratorOptions(options, snapshotOf(options.snapshot)));
    } catch (err) {
      throw toLevelError(err, { kind: 'operation' });
    }
    try {
      let batch = await keys.nextv(CLEAR_BATCH_KEYS_MAX);
      while (batch.length > 0) {
        const next = await keys.nextv(CLEAR_BATCH_KEYS_MAX);
        const deletes: BatchOperation[] = batch.map((key) => ({ type: 'delete', key }));
        await db.write(deletes, { sync: next.length === 0 });
        batch = next;
      }
    } catch (err) {
      throw toLevelError(err, { kind: 'operation' });
    } finally {
      await keys.close();
    }
  }

  _iterator(options: PrivateIteratorOptions): ShaleLevelIterator<KDefault, VDefault> {
    const db = this.#shale;
    const shaleOptions = shaleIteratorOptions(options, snapshotOf(options.snapshot));
    try {
      return new ShaleLevelIterator(this, options, db, shaleOptions);
    } catch (err) {
      throw toLevelError(err, { kind: 'operation' });
    }
  }

  _keys(options: PrivateIteratorOptions): ShaleLevelKeyIterator<KDefault> {
    const db = this.#shale;
    const shaleOptions = shaleIteratorOptions(options, snapshotOf(options.snapshot));
    try {
      return new ShaleLevelKeyIterator(this, options, db, shaleOptions);
    } catch (err) {
      throw toLevelError(err, { kind: 'operation' });
    }
  }

  _values(options: PrivateIteratorOptions): ShaleLevelValueIterator<KDefault, VDefault> {
    const db = this.#shale;
    const shaleOptions = shaleIteratorOptions(options, snapshotOf(options.snapshot));
    try {
      return new ShaleLevelValueIterator(this, options, db, shaleOptions);
    } catch (err) {
      throw toLevelError(err, { kind: 'operation' });
    }
  }

  /** Takes a shale snapshot now, synchronously: writes issued after this call are not in it. */
  _snapshot(options: SnapshotOptions): AbstractSnapshot {
    let snapshot;
    try {
      snapshot = this.#shale.snapshot();
    } catch (err) {
      throw toLevelError(err, { kind: 'operation' });
    }
    return new ShaleLevelSnapshot(options, snapshot);
  }

  /**
   * Which argument of a rejected write is over shale's size limits: shale says
   * only `INVALID_ARGUMENT`, abstract-level wants `LEVEL_INVALID_KEY` or `LEVEL_INVALID_VALUE`.
   */
  #oversized(operations: readonly PrivateBatchOperation[]): 'key' | 'value' | undefined {
    const keyBytesMax = this.#shaleOptions.keyBytesMax ?? DEFAULTS.keyBytesMax;
    const valueBytesMax = this.#shaleOptions.valueBytesMax ?? DEFAULTS.valueBytesMax;
    for (const op of operations) {
      if (storedByteLength(op.key) > keyBytesMax) return 'key';
      if (op.value !== undefined && storedByteLength(op.value) > valueBytesMax) return 'value';
    }
    return undefined;
  }

  #oversizedKeys(keys: readonly StorageData[]): 'key' | undefined {
    return this.#oversized(keys.map((key) => ({ type: 'del', key }))) === 'key' ? 'key' : undefined;
  }
}

/**
 * Splits the constructor's options: shale's tuning stays with the adapter (and
 * applies to every open, reopens included); the rest (encodings, open options,
 * the user's own) goes to abstract-level, which shows it to postopen hooks.
 */
function splitOptions<K, V>(options: ShaleLevelOptions<K, V> | undefined): {
  shale: ShaleTuning;
  level: AbstractDatabaseOptions<K, V>;
  conflict: Error | undefined;
} {
  let conflict: Error | undefined;
  const shale: Record<string, unknown> = {};
  const level: Record<string, unknown> = {};
  const given = (options ?? {}) as Record<string, unknown>;
  for (const [name, value] of Object.entries(given)) {
    const shaleName = CLASSIC_LEVEL_NAMES[name];
    if (shaleName !== undefined) {
      if (shaleName in given) conflict ??= invalidArgument(`options ${name} (classic-level's name) and ${shaleName} (shale's) are one option: give one`);
      shale[shaleName] = value;
    } else if (name === 'compression' && typeof value === 'boolean') {
      shale[name] = value ? 'snappy' : 'none';
    } else if (SHALE_TUNING_NAMES.has(name)) {
      shale[name] = value;
    } else {
      level[name] = value;
    }
  }
  return { shale: shale as ShaleTuning, level: level as AbstractDatabaseOptions<K, V>, conflict };
}

/** The shale snapshot behind an abstract-level snapshot option, if any. */
function snapshotOf(snapshot: unknown): IteratorOptions['snapshot'] {
  if (snapshot === undefined || snapshot === null) return undefined;
  if (!(snapshot instanceof ShaleLevelSnapshot)) throw new TypeError('The snapshot option must come from db.snapshot() of a ShaleLevel');
  return snapshot.shaleSnapshot;
}

function readOptions(options: PrivateReadOptions): ReadOptions | undefined {
  const snapshot = snapshotOf(options.snapshot);
  return snapshot === undefined ? undefined : { snapshot };
}

function writeOptions(options: PrivateWriteOptions): WriteOptions | undefined {
  return typeof options.sync === 'boolean' ? { sync: options.sync } : undefined;
}

/** The `ttl` or `expiresAt` of a put's options or a batch operation, passed as given (shale checks them); undefined when neither is set. */
function expiryOf(source: { readonly ttl?: unknown; readonly expiresAt?: unknown }): ExpiryOptions | undefined {
  if (source.ttl === undefined && source.expiresAt === undefined) return undefined;
  return {
    ...(source.ttl === undefined ? {} : { ttl: source.ttl as number }),
    ...(source.expiresAt === undefined ? {} : { expiresAt: source.expiresAt as number }),
  };
}
