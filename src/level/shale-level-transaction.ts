/**
 * `ShaleLevel`'s `transaction` additional method: a shale `Transaction` with the
 * database's abstract-level encodings applied, keys and values encoded on the
 * way in and values (and iterated keys) decoded on the way out. Errors map as
 * every other adapter error does (`errors.ts`); a conflict stays the
 * `ShaleError` with code `CONFLICT`.
 */
import type { Transaction } from '../db/transaction.js';
import type { BytesLike } from '../keys.js';
import type { WriteOptions } from '../db/batch.js';
import { toLevelError } from './errors.js';
import { fromStorage, type StorageFormat } from './formats.js';

/** The part of an abstract-level encoding (a transcoder) the transaction uses. */
export interface LevelEncoding<T> {
  readonly format: StorageFormat;
  encode(data: T): unknown;
  decode(data: unknown): T;
}

/** Range options of a transaction's iterators, in the database's key encoding. */
export interface LevelTransactionRange<K> {
  gt?: K;
  gte?: K;
  lt?: K;
  lte?: K;
  reverse?: boolean;
  limit?: number;
}

/**
 * A transaction of a `ShaleLevel`: shale's `Transaction` (see there for
 * isolation, conflicts and lifetimes) speaking the database's key and value
 * encodings. Iterators return arrays (`all()`); `put`, `del` and `deleteRange`
 * buffer writes until `commit()`.
 */
export class ShaleLevelTransaction<K, V> {
  readonly #tx: Transaction;
  readonly #keys: LevelEncoding<K>;
  readonly #values: LevelEncoding<V>;

  /** @internal Created by `ShaleLevel.transaction()`. */
  constructor(tx: Transaction, keyEncoding: LevelEncoding<K>, valueEncoding: LevelEncoding<V>) {
    this.#tx = tx;
    this.#keys = keyEncoding;
    this.#values = valueEncoding;
  }

  /** The shale transaction underneath. */
  get transaction(): Transaction {
    return this.#tx;
  }

  /** `'snapshot'` or `'serializable'`. */
  get isolation(): Transaction['isolation'] {
    return this.#tx.isolation;
  }

  async get(key: K): Promise<V | undefined> {
    try {
      return this.#decodeValue(await this.#tx.get(this.#encodeKey(key)));
    } catch (err) {
      throw toLevelError(err, { kind: 'operation' });
    }
  }

  async getMany(keys: readonly K[]): Promise<(V | undefined)[]> {
    try {
      return (await this.#tx.getMany(keys.map((key) => this.#encodeKey(key)))).map((value) => this.#decodeValue(value));
    } catch (err) {
      throw toLevelError(err, { kind: 'operation' });
    }
  }

  getSync(key: K): V | undefined {
    try {
      return this.#decodeValue(this.#tx.getSync(this.#encodeKey(key)));
    } catch (err) {
      throw toLevelError(err, { kind: 'operation' });
    }
  }

  put(key: K, value: V): this {
    try {
      this.#tx.put(this.#encodeKey(key), this.#values.encode(value) as BytesLike);
    } catch (err) {
      throw toLevelError(err, { kind: 'operation' });
    }
    return this;
  }

  del(key: K): this {
    try {
      this.#tx.delete(this.#encodeKey(key));
    } catch (err) {
      throw toLevelError(err, { kind: 'operation' });
    }
    return this;
  }

  /** Buffers a delete of every key in [start, end), in the key encoding: see `Transaction.deleteRange`. */
  deleteRange(start: K, end: K): this {
    try {
      this.#tx.deleteRange(this.#encodeKey(start), this.#encodeKey(end));
    } catch (err) {
      throw toLevelError(err, { kind: 'operation' });
    }
    return this;
  }

  /** Every `[key, value]` of the range, read as the transaction sees it (its writes over its snapshot). */
  async entries(range?: LevelTransactionRange<K>): Promise<[K, V][]> {
    try {
      const entries = await this.#tx.iterator(this.#range(range)).all();
      return entries.map(([key, value]) => [this.#decodeKey(key), this.#decodeValue(value)!]);
    } catch (err) {
      throw toLevelError(err, { kind: 'operation' });
    }
  }

  /** Every key of the range, as `entries` reads them. */
  async keys(range?: LevelTransactionRange<K>): Promise<K[]> {
    try {
      return (await this.#tx.keys(this.#range(range)).all()).map((key) => this.#decodeKey(key));
    } catch (err) {
      throw toLevelError(err, { kind: 'operation' });
    }
  }

  /** Every value of the range, as `entries` reads them. */
  async values(range?: LevelTransactionRange<K>): Promise<V[]> {
    try {
      return (await this.#tx.values(this.#range(range)).all()).map((value) => this.#decodeValue(value)!);
    } catch (err) {
      throw toLevelError(err, { kind: 'operation' });
    }
  }

  /** See `Transaction.commit`: rejects with the `CONFLICT` `ShaleError` on a conflict. */
  async commit(options?: WriteOptions): Promise<void> {
    try {
      await this.#tx.commit(options);
    } catch (err) {
      throw toLevelError(err, { kind: 'operation' });
    }
  }

  abort(): void {
    try {
      this.#tx.abort();
    } catch (err) {
      throw toLevelError(err, { kind: 'operation' });
    }
  }

  #encodeKey(key: K): BytesLike {
    return this.#keys.encode(key) as BytesLike;
  }

  #decodeKey(key: Buffer): K {
    return this.#keys.decode(fromStorage(key, this.#keys.format));
  }

  #decodeValue(value: Buffer | undefined): V | undefined {
    return value === undefined ? undefined : this.#values.decode(fromStorage(value, this.#values.format));
  }

  #range(range: LevelTransactionRange<K> | undefined): Record<string, unknown> {
    if (range === undefined) return {};
    const out: Record<string, unknown> = {};
    for (const name of ['gt', 'gte', 'lt', 'lte'] as const) {
      const bound = range[name];
      if (bound !== undefined) out[name] = this.#encodeKey(bound);
    }
    if (range.reverse !== undefined) out['reverse'] = range.reverse;
    if (range.limit !== undefined) out['limit'] = range.limit;
    return out;
  }
}
