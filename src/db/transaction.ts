/**
 * Transactions (docs/internals.md, "Transactions"): reads at a snapshot taken
 * when the transaction opens, merged with the transaction's own buffered writes;
 * `commit()` sends the writes through the write queue as one batch, which the
 * write pipeline admits only if no write to a key the transaction wrote (and,
 * `serializable`, a key or range it read) was sequenced after the snapshot. The
 * check runs against the in-memory commit history (`commit-history.ts`) at the
 * moment the batch is sequenced, so it sees every write ordered before it.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { ConflictError, ShaleError, invalidArgument } from '../errors.js';
import { EntryType, compareKeys, type BytesLike } from '../keys.js';
import { sortedMap, type SortedMap } from '../util/sorted-map.js';
import type { ShaleIterator } from '../iterator/public-iterator.js';
import { TransactionIterator, type CoveredRange } from '../iterator/transaction-iterator.js';
import type { ResolvedOptions } from '../options.js';
import { checkOptionNames, deleteRangeOp, keyArgument, putOp, syncOption, type WriteOptions } from './batch.js';
import type { CommitHistory, Conflict, ReadRange } from './commit-history.js';
import type { IteratorOptions, IteratorYields, ReadPath } from './read-path.js';
import type { Snapshot } from './snapshot.js';
import { WriteBuffer } from './write-buffer.js';
import type { Counters } from './stats.js';
import type { WritePipeline } from './write-pipeline.js';

/**
 * - `snapshot` (the default): snapshot isolation. A commit fails if another write
 *   to a key the transaction wrote committed after its snapshot (first committer wins).
 * - `serializable`: also fails if a key the transaction read, or a key in a range
 *   it iterated, changed after its snapshot. Committed transactions are then
 *   equivalent to running one at a time in commit order: no write skew.
 */
export type IsolationLevel = 'snapshot' | 'serializable';

/** Options of `db.transaction()`. */
export interface TransactionOptions {
  /** Default `'snapshot'`. */
  isolation?: IsolationLevel;
}

/** Options of `db.runTransaction()`. */
export interface RunTransactionOptions extends TransactionOptions, WriteOptions {
  /** Runs again after a `CONFLICT` up to this many times, then rejects with it. Default 10. */
  retries?: number;
}

/** Iterator options of a transaction: a transaction reads at its own snapshot only. */
export type TransactionIteratorOptions = Omit<IteratorOptions, 'snapshot'>;

/** What a transaction works with: the database's parts, and the snapshot taken for it. */
export interface TransactionParts {
  options: ResolvedOptions;
  reads: ReadPath;
  writes: WritePipeline;
  history: CommitHistory;
  /** Where commits and conflicts are counted. */
  counters: Pick<Counters, 'transactionCommitCount' | 'transactionConflictCount'>;
  /** Taken for the transaction, released when it ends. */
  snapshot: Snapshot;
  /** Throws `NOT_OPEN` once the database is closing. */
  checkOpen(): void;
}

/** Where a transaction is in its life. */
export type TransactionState = 'open' | 'committing' | 'committed' | 'aborted' | 'failed';

const ISOLATION_LEVELS: readonly IsolationLevel[] = ['snapshot', 'serializable'];
const TRANSACTION_OPTION_NAMES = ['isolation'];
const RUN_OPTION_NAMES = ['isolation', 'retries', 'sync'];
/** Default and largest `retries` of `runTransaction`. */
export const RETRIES_DEFAULT = 10;
const RETRIES_MAX = 1000;
/** Backoff before the nth retry: uniformly random in [0, min(BASE × 2^n, MAX)] milliseconds. */
const BACKOFF_BASE_MS = 1;
const BACKOFF_MAX_MS = 100;
/** Bytes charged per key read (serializable), beyond the key, toward `transactionBytesMax`. */
const READ_KEY_OVERHEAD_BYTES = 32;

/**
 * Transactions nobody ended: when one is collected, its snapshot (which keeps old
 * versions from compaction) and its place in the commit history are released,
 * with a warning. The held value must not refer to the transaction itself.
 */
const ABANDONED = new FinalizationRegistry<() => void>((release) => release());

/** Reads `{ isolation }`, defaulting to `'snapshot'`. */
export function isolationOption(options: unknown, names: readonly string[] = TRANSACTION_OPTION_NAMES): IsolationLevel {
  if (options === undefined) return 'snapshot';
  if (typeof options !== 'object' || options === null) throw invalidArgument('transaction options must be an object');
  checkOptionNames(options, names, 'transaction');
  const { isolation } = options as { isolation?: unknown };
  if (isolation === undefined) return 'snapshot';
  if (!ISOLATION_LEVELS.includes(isolation as IsolationLevel)) throw invalidArgument(`option isolation must be one of ${ISOLATION_LEVELS.join(', ')}`);
  return isolation as IsolationLevel;
}

/**
 * A transaction: reads see the database as of its snapshot plus its own writes;
 * `commit()` applies its writes atomically, or rejects with `CONFLICT` and applies
 * nothing. Create one with `db.transaction()`; end it with `commit()` or
 * `abort()`: until then it holds its snapshot, which keeps old versions on disk
 * (one dropped without either is released when garbage collected, with a warning).
 * Keys and values passed in are copied; the Buffers returned are the caller's own.
 */
export class Transaction {
  /** The isolation level this transaction commits under. */
  readonly isolation: IsolationLevel;
  readonly #parts: TransactionParts;
  readonly #snapshotSeq: number;
  readonly #writes = new WriteBuffer();
  /** Keys read from the database (serializable only). */
  readonly #readKeys: SortedMap<Buffer, true> | undefined;
  /** Each iterator's covered range (serializable only), updated as it moves. */
  readonly #readRanges: ReadRange[] = [];
  #readBytes = 0;
  #state: TransactionState = 'open';

  /** @internal Created by `db.transaction()`, which took the snapshot. */
  constructor(parts: TransactionParts, isolation: IsolationLevel) {
    this.#parts = parts;
    this.isolation = isolation;
    // Only a serializable transaction checks what it read.
    this.#readKeys = isolation === 'serializable' ? sortedMap<Buffer, true>(compareKeys) : undefined;
    this.#snapshotSeq = Number(parts.snapshot.sequence);
    parts.history.begin(this.#snapshotSeq);
    ABANDONED.register(this, abandonedRelease(parts.snapshot, parts.history, this.#snapshotSeq), this);
  }

  /** The sequence number of the last write the transaction's snapshot sees. */
  get snapshotSequence(): bigint {
    return BigInt(this.#snapshotSeq);
  }

  /** `'open'` until `commit()` or `abort()`; then `'committing'`, `'committed'`, `'aborted'` or `'failed'`. */
  get state(): TransactionState {
    return this.#state;
  }

  /** The value of `key` as this transaction sees it (its own write, else the snapshot's), or undefined. */
  get(key: BytesLike): Promise<Buffer | undefined> {
    try {
      const owned = this.#readable(key);
      const buffered = this.#buffered(owned);
      if (buffered !== NOT_BUFFERED) return Promise.resolve(buffered);
      this.#noteRead(owned);
      return this.#parts.reads.get(owned, { snapshot: this.#parts.snapshot });
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** The values of `keys`, in order, as `get` sees them. */
  getMany(keys: readonly BytesLike[]): Promise<(Buffer | undefined)[]> {
    try {
      if (!Array.isArray(keys)) throw invalidArgument('getMany() takes an array of keys');
      return Promise.all(keys.map((key) => this.get(key)));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** `get` answered on the calling thread, as `db.getSync`; errors are thrown. */
  getSync(key: BytesLike): Buffer | undefined {
    const owned = this.#readable(key);
    const buffered = this.#buffered(owned);
    if (buffered !== NOT_BUFFERED) return buffered;
    this.#noteRead(owned);
    return this.#parts.reads.getSync(owned, { snapshot: this.#parts.snapshot });
  }

  /**
   * An iterator over the transaction's view: its snapshot with its own writes
   * merged in, as they were when the iterator was made (later writes of the
   * transaction do not show). It keeps that view after the transaction ends,
   * until closed.
   */
  iterator(options?: TransactionIteratorOptions): ShaleIterator<[Buffer, Buffer]> {
    return this.#iterator(options, 'entries', (entry) => entry);
  }

  /** Like `iterator()`, yielding keys only. */
  keys(options?: TransactionIteratorOptions): ShaleIterator<Buffer> {
    return this.#iterator(options, 'keys', (entry) => entry[0]);
  }

  /** Like `iterator()`, yielding values only. */
  values(options?: TransactionIteratorOptions): ShaleIterator<Buffer> {
    return this.#iterator(options, 'values', (entry) => entry[1]);
  }

  /** Buffers a put of `value` under `key`, applied at commit. Returns the transaction, for chaining. */
  put(key: BytesLike, value: BytesLike): this {
    this.#checkState();
    const op = putOp(key, value, this.#parts.options);
    this.#buffer(op.key, { type: EntryType.PUT, value: op.value });
    return this;
  }

  /** Buffers a delete of `key`, applied at commit. Returns the transaction, for chaining. */
  delete(key: BytesLike): this {
    this.#checkState();
    const owned = keyArgument(key, this.#parts.options);
    this.#buffer(owned, { type: EntryType.DELETE, value: EMPTY });
    return this;
  }

  /**
   * Buffers a delete of every key in [start, end) (`start <= end`; an empty
   * range does nothing), applied at commit as one range delete. The
   * transaction's own reads stop seeing the keys in the range at once, except
   * keys it puts (or deletes) afterwards; its writes to keys in the range before
   * this call are dropped. At commit it conflicts with any write, or range
   * delete, to a key in the range after its snapshot. Returns the transaction,
   * for chaining.
   */
  deleteRange(start: BytesLike, end: BytesLike): this {
    this.#checkState();
    if (end === undefined) throw invalidArgument("a transaction's deleteRange() needs an end: deleting every key from start on is not supported in a transaction");
    const op = deleteRangeOp(start, end, this.#parts.options);
    if (op.key.equals(op.value)) return this;
    this.#checkBytes(this.#writes.rangeGrowthOf(op.key, op.value).growth);
    this.#writes.deleteRange(op.key, op.value);
    return this;
  }

  /**
   * Applies the transaction's writes as one atomic batch through the write
   * queue, durable as `sync` says (default true), if nothing conflicts (see
   * `IsolationLevel`); else rejects with `CONFLICT` (a `ConflictError`) and
   * applies nothing. Either way the transaction ends and releases its snapshot.
   * A transaction that wrote nothing commits at once under `snapshot`; under
   * `serializable` its reads are still checked, in order with the writes queued
   * before the call.
   */
  commit(options?: WriteOptions): Promise<void> {
    try {
      this.#checkState();
      const sync = syncOption(options);
      this.#parts.checkOpen();
      const ops = this.#writes.ops();
      // A read-only snapshot transaction has nothing to check; a read-only
      // serializable one still queues, so its check is ordered with the writes
      // queued before it.
      if (ops.length === 0 && this.isolation === 'snapshot') {
        this.#end('committed');
        return Promise.resolve();
      }
      this.#state = 'committing';
      // The pipeline's own promise, so that the commit resolves in issue order with every other write.
      return this.#parts.writes.write(ops, sync, {
        admit: (history) => this.#conflict(history),
        settled: (error) => {
          if (error instanceof ShaleError && error.code === 'CONFLICT') this.#parts.counters.transactionConflictCount++;
          this.#end(error === undefined ? 'committed' : 'failed');
        },
      });
    } catch (err) {
      if (this.#state === 'open' && err instanceof ShaleError && err.code === 'NOT_OPEN') this.#end('failed');
      return Promise.reject(err);
    }
  }

  /**
   * Drops the transaction's writes and releases its snapshot. A no-op on a
   * transaction that has ended (committed, aborted, or failed to commit);
   * `NOT_OPEN` while its commit is in flight.
   */
  abort(): void {
    if (this.#state === 'aborted' || this.#state === 'committed' || this.#state === 'failed') return;
    this.#checkState();
    this.#end('aborted');
  }

  #iterator<T>(options: TransactionIteratorOptions | undefined, yields: IteratorYields, map: (entry: [Buffer, Buffer]) => T): ShaleIterator<T> {
    this.#checkState();
    this.#parts.checkOpen();
    if (options !== undefined && (typeof options !== 'object' || options === null)) throw invalidArgument('iterator options must be an object');
    if (options !== undefined && Object.hasOwn(options, 'snapshot')) throw invalidArgument('a transaction reads at its own snapshot: option snapshot is not allowed');
    const writes = this.#writes.view();
    const onCovered = this.isolation === 'serializable' ? this.#coveredRecorder() : undefined;
    return this.#parts.reads.iterator({ ...options, snapshot: this.#parts.snapshot }, yields, map, (base, range, reverse) => {
      return new TransactionIterator(base, writes, range, reverse, onCovered);
    });
  }

  /** A place in the read set for one iterator's covered range, and the function that updates it. */
  #coveredRecorder(): (covered: CoveredRange) => void {
    const index = this.#readRanges.length;
    // Nothing covered yet: an empty range (lower above upper) matches no key.
    this.#readRanges.push({ lower: { key: EMPTY, inclusive: false }, upper: { key: EMPTY, inclusive: false } });
    return (covered) => {
      if (this.#state === 'open') this.#readRanges[index] = covered;
    };
  }

  #readable(key: BytesLike): Buffer {
    this.#checkState();
    this.#parts.checkOpen();
    return keyArgument(key, this.#parts.options);
  }

  /** The buffered answer for `key`: a copy of its value, undefined for a delete (or a key in a range it deleted), or `NOT_BUFFERED`. */
  #buffered(key: Buffer): Buffer | undefined | typeof NOT_BUFFERED {
    const write = this.#writes.get(key);
    if (write === undefined) return this.#writes.deletes(key) ? undefined : NOT_BUFFERED;
    return write.type === EntryType.DELETE ? undefined : Buffer.from(write.value);
  }

  /** Records a key read from the snapshot (serializable only), within `transactionBytesMax`. */
  #noteRead(key: Buffer): void {
    if (this.#readKeys === undefined || this.#readKeys.has(key)) return;
    const bytes = key.length + READ_KEY_OVERHEAD_BYTES;
    this.#checkBytes(bytes);
    this.#readKeys.set(key, true);
    this.#readBytes += bytes;
  }

  #buffer(key: Buffer, write: { type: typeof EntryType.PUT | typeof EntryType.DELETE; value: Buffer }): void {
    this.#checkBytes(this.#writes.growthOf(key, write));
    this.#writes.set(key, write);
  }

  #checkBytes(growth: number): void {
    const total = this.#writes.bytes + this.#readBytes + growth;
    if (growth > 0 && total > this.#parts.options.transactionBytesMax) {
      throw invalidArgument(`the transaction would hold ${total} bytes; transactionBytesMax is ${this.#parts.options.transactionBytesMax}`);
    }
  }

  /** The conflict error for a commit sequenced now, or undefined. Runs in the write pipeline. */
  #conflict(history: CommitHistory): ShaleError | undefined {
    // A snapshot transaction has no read keys and no read ranges: only its writes (keys and deleted ranges) are checked.
    const deleted: ReadRange[] = this.#writes.ranges.map((range) => ({ lower: { key: range.start, inclusive: true }, upper: { key: range.end, inclusive: false } }));
    const conflict = history.check({
      snapshotSeq: this.#snapshotSeq,
      keys: this.#readKeys === undefined ? this.#writes.keys() : chain(this.#writes.keys(), this.#readKeys.keys()),
      ranges: this.#readKeys === undefined ? deleted : chain(deleted, this.#readRanges),
    });
    return conflict === undefined ? undefined : conflictError(conflict, this.#snapshotSeq);
  }

  #checkState(): void {
    if (this.#state !== 'open') throw new ShaleError('NOT_OPEN', `the transaction is ${this.#state === 'committing' ? 'committing' : 'over'} (${this.#state})`);
  }

  #end(state: TransactionState): void {
    this.#state = state;
    if (state === 'committed') this.#parts.counters.transactionCommitCount++;
    ABANDONED.unregister(this);
    this.#parts.snapshot.release();
    this.#parts.history.end(this.#snapshotSeq);
  }
}

const NOT_BUFFERED = Symbol('not buffered');
const EMPTY: Buffer = Buffer.alloc(0);

function* chain<T>(first: Iterable<T>, second: Iterable<T>): Generator<T> {
  yield* first;
  yield* second;
}

/** What releases an abandoned transaction: built apart from it, so the registry does not keep it alive. */
function abandonedRelease(snapshot: Snapshot, history: CommitHistory, snapshotSeq: number): () => void {
  return () => {
    snapshot.release();
    history.end(snapshotSeq);
    process.emitWarning('a shale transaction was garbage-collected without commit() or abort(); its snapshot was released', {
      code: 'SHALE_TRANSACTION_ABANDONED',
    });
  };
}

/** Shows a key in an error message: as text when it is printable ASCII, else as hex. */
export function describeKey(key: Buffer): string {
  const shown = key.length > 64 ? key.subarray(0, 64) : key;
  const printable = shown.every((byte) => byte >= 0x20 && byte < 0x7f);
  const text = printable ? JSON.stringify(shown.toString('latin1')) : `0x${shown.toString('hex')}`;
  return key.length > 64 ? `${text}… (${key.length} bytes)` : text;
}

function conflictError(conflict: Conflict, snapshotSeq: number): ConflictError {
  if (conflict.kind === 'history') {
    return new ConflictError(
      `transaction conflict: its snapshot (sequence ${snapshotSeq}) is older than the commit history reaches (sequence ${conflict.floor}; see transactionHistoryBytesMax)`,
      undefined,
    );
  }
  if (conflict.kind === 'range') {
    return new ConflictError(
      `transaction conflict on key ${describeKey(conflict.key)}: in [${describeKey(conflict.start)}, ${describeKey(conflict.end)}), range-deleted at sequence ${conflict.seq}, after the transaction's snapshot (sequence ${snapshotSeq})`,
      Buffer.from(conflict.key),
    );
  }
  return new ConflictError(
    `transaction conflict on key ${describeKey(conflict.key)}: written at sequence ${conflict.seq}, after the transaction's snapshot (sequence ${snapshotSeq})`,
    Buffer.from(conflict.key),
  );
}

/**
 * Runs `fn` in a new transaction and commits it; on `CONFLICT` runs it again on a
 * fresh snapshot, after a jittered exponential backoff, up to `retries` times.
 * Resolves with what `fn` resolved with. If `fn` throws, the transaction is
 * aborted and the error passed on; if `fn` ends the transaction itself, it is
 * not committed again.
 */
export async function runTransaction<T>(begin: (isolation: IsolationLevel) => Transaction, fn: (tx: Transaction) => T | Promise<T>, options: RunTransactionOptions | undefined): Promise<T> {
  const isolation = isolationOption(options, RUN_OPTION_NAMES);
  const sync = syncOption(options === undefined ? undefined : { sync: options.sync });
  const retries = options?.retries ?? RETRIES_DEFAULT;
  if (typeof fn !== 'function') throw invalidArgument('runTransaction() takes a function');
  if (!Number.isSafeInteger(retries) || retries < 0 || retries > RETRIES_MAX) throw invalidArgument(`option retries must be an integer from 0 to ${RETRIES_MAX}`);
  for (let attempt = 0; ; attempt++) {
    const tx = begin(isolation);
    let result: T;
    try {
      result = await fn(tx);
    } catch (err) {
      if (tx.state === 'open') tx.abort();
      throw err;
    }
    try {
      if (tx.state === 'open') await tx.commit({ sync });
      return result;
    } catch (err) {
      if (!(err instanceof ShaleError) || err.code !== 'CONFLICT' || attempt >= retries) throw err;
    }
    await sleep(Math.random() * Math.min(BACKOFF_BASE_MS * 2 ** attempt, BACKOFF_MAX_MS));
  }
}
