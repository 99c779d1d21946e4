/**
 * The iterators `db.iterator()`, `db.keys()` and `db.values()` return: async on
 * the outside, synchronous inside. Each reads one snapshot for its whole life
 * (the sequence number and the memtables are captured, and the version pinned,
 * when it is created) and fetches entries in growing batches, so most `next()`
 * calls are served from memory.
 */
import { ShaleError } from '../errors.js';
import { toBuffer, type BytesLike } from '../keys.js';
import { ENTRIES_BETWEEN_TURNS, LoopTurns } from '../util/event-loop.js';
import type { CopyParts } from './db-iterator.js';

/**
 * What a public iterator draws its entries from: a `DBIterator`, or a
 * transaction's iterator merging its own writes over one.
 */
export interface UserIterator {
  /** Moves to the first key in iteration order. */
  seekToStart(): void;
  /** Moves to the first key at or after `target` (at or before, in reverse). */
  seek(target: Buffer): void;
  /**
   * Appends up to `maxEntries` entries to `out`, as `DBIterator.nextBatch`, and
   * in `expiring` the index in `out` and expiry time of each that expires.
   * Returns the count appended.
   */
  nextBatch(maxEntries: number, maxBytes: number, out: [Buffer, Buffer][], copy: CopyParts, expiring?: Map<number, number>): number;
  /** The database's time now, which entries held across calls are judged by again. */
  readClock(): number;
  /** Releases what the iterator holds. Idempotent. */
  close(): void;
}

/** Entries fetched by the first refill; each refill doubles it up to `BATCH_ENTRIES_MAX`. */
const BATCH_ENTRIES_MIN = 16;
const BATCH_ENTRIES_MAX = 1024;
/** A refill stops once it holds this many key and value bytes. */
const BATCH_BYTES_MAX = 1024 * 1024;

/** What builds the iterator's source on first use and releases what it pinned. */
export interface IteratorSource {
  build(): Promise<UserIterator>;
  /** Releases the pinned version and tables, and forgets the iterator. Called once. */
  release(): void;
}

export class ShaleIterator<T> implements AsyncIterable<T> {
  readonly #source: IteratorSource;
  readonly #map: (entry: [Buffer, Buffer]) => T;
  readonly #limit: number;
  readonly #copy: CopyParts;
  #inner: UserIterator | undefined;
  #building: Promise<UserIterator> | undefined;
  #buffer: [Buffer, Buffer][] = [];
  #bufferIndex = 0;
  /** Buffer index → expiry time of the buffered entries that expire: one expired by a take's time is skipped. */
  readonly #expiring = new Map<number, number>();
  #batchEntries = BATCH_ENTRIES_MIN;
  #count = 0;
  #pendingSeek: Buffer | undefined;
  #closed = false;
  #busy = false;
  readonly #loopTurns = new LoopTurns(ENTRIES_BETWEEN_TURNS);

  /** @internal Created by `DB`. */
  constructor(source: IteratorSource, map: (entry: [Buffer, Buffer]) => T, limit: number, copy: CopyParts) {
    this.#source = source;
    this.#map = map;
    this.#limit = limit;
    this.#copy = copy;
  }

  /** The number of entries returned so far. */
  get count(): number {
    return this.#count;
  }

  /** The next entry, or `undefined` at the end. */
  async next(): Promise<T | undefined> {
    const [entry] = await this.#take(1);
    return entry;
  }

  /** Up to `size` entries; fewer (or none) at the end. */
  async nextv(size: number): Promise<T[]> {
    if (!Number.isInteger(size) || size < 0) throw new ShaleError('INVALID_ARGUMENT', 'nextv size must be a non-negative integer');
    return this.#take(size, true);
  }

  /**
   * @internal For `db.export()`: up to `size` entries (fewer or none at the
   * end), each with the time it expires (undefined: never), so that a copy of
   * the data can keep it.
   */
  async nextvWithExpiry(size: number): Promise<[T, number | undefined][]> {
    const expiries: (number | undefined)[] = [];
    const entries = await this.#take(size, false, expiries);
    return entries.map((entry, index) => [entry, expiries[index]]);
  }

  /** Every remaining entry; then closes the iterator. */
  async all(): Promise<T[]> {
    try {
      const out: T[] = [];
      for (;;) {
        const batch = await this.#take(BATCH_ENTRIES_MAX);
        if (batch.length === 0) return out;
        out.push(...batch);
      }
    } finally {
      await this.close();
    }
  }

  /**
   * Moves to the first key at or after `target` (at or before, in reverse). A
   * target outside the iterator's range ends it. Entries already fetched are dropped.
   */
  seek(target: BytesLike): void {
    this.#checkUsable();
    // A copy: the target is read again when the iterator is built or refilled, after the call.
    const key = Buffer.from(toBuffer(target, 'seek target'));
    this.#buffer = [];
    this.#bufferIndex = 0;
    this.#expiring.clear();
    this.#batchEntries = BATCH_ENTRIES_MIN;
    if (this.#inner === undefined) this.#pendingSeek = key;
    else this.#inner.seek(key);
  }

  /** Releases the snapshot's version and tables. Idempotent; `for await` calls it. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#buffer = [];
    this.#bufferIndex = 0;
    if (this.#building !== undefined) await this.#building.catch(() => undefined);
    this.#inner?.close();
    this.#source.release();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<T, void, undefined> {
    try {
      for (;;) {
        const batch = await this.#take(BATCH_ENTRIES_MAX);
        if (batch.length === 0) return;
        yield* batch;
      }
    } finally {
      await this.close();
    }
  }

  /** Marks the iterator closed because its database closed. */
  markDatabaseClosed(): void {
    void this.close();
  }

  #checkClosed(): void {
    if (this.#closed) throw new ShaleError('NOT_OPEN', 'the iterator is closed');
  }

  #checkUsable(): void {
    this.#checkClosed();
    if (this.#busy) throw new ShaleError('INVALID_ARGUMENT', 'the iterator is busy: wait for the previous call');
  }

  /**
   * Up to `size` entries; `exact`: fetch only what is taken (nextv), else in
   * growing batches. `expiries`, when given, receives each entry's expiry time.
   */
  async #take(size: number, exact = false, expiries?: (number | undefined)[]): Promise<T[]> {
    this.#checkUsable();
    this.#busy = true;
    try {
      if (this.#loopTurns.due()) {
        await LoopTurns.next();
        // The database (or the caller) may have closed the iterator during the turn:
        // that is NOT_OPEN, never an empty batch that would look like the end of the data.
        this.#checkClosed();
      }
      const inner = this.#inner ?? (await this.#build());
      // Entries fetched by an earlier call were live then: judge them again at this call's time.
      const nowMs = this.#expiring.size > 0 ? inner.readClock() : 0;
      const out: T[] = [];
      while (out.length < size && this.#count < this.#limit) {
        if (this.#bufferIndex === this.#buffer.length && !this.#refill(inner, exact ? size - out.length : 0)) break;
        const index = this.#bufferIndex++;
        const expiresAtMs = this.#expiring.size > 0 ? this.#expiring.get(index) : undefined;
        if (expiresAtMs !== undefined && expiresAtMs <= nowMs) continue;
        out.push(this.#map(this.#buffer[index]!));
        expiries?.push(expiresAtMs);

        this.#count++;
      }
      this.#loopTurns.add(out.length);
      return out;
    } finally {
      this.#busy = false;
    }
  }

  async #build(): Promise<UserIterator> {
    this.#building ??= this.#source.build();
    const inner = await this.#building;
    this.#checkClosed();
    this.#inner = inner;
    if (this.#pendingSeek !== undefined) inner.seek(this.#pendingSeek);
    else inner.seekToStart();
    return inner;
  }

  /**
   * Fetches the next batch: `needed` entries when given (a `nextv(n)` fetches
   * what it returns and no more, since the caller chose its batch: after a seek,
   * `nextv(10)` would otherwise decode and copy 16), else a growing batch (for
   * `next()`, `all()` and `for await`).
   */
  #refill(inner: UserIterator, needed: number): boolean {
    this.#buffer = [];
    this.#bufferIndex = 0;
    this.#expiring.clear();
    const batch = needed > 0 ? Math.min(needed, BATCH_ENTRIES_MAX) : this.#batchEntries;
    const wanted = Math.min(batch, this.#limit - this.#count);
    inner.nextBatch(wanted, BATCH_BYTES_MAX, this.#buffer, this.#copy, this.#expiring);
    this.#batchEntries = Math.min(this.#batchEntries * 2, BATCH_ENTRIES_MAX);
    return this.#buffer.length > 0;
  }
}
