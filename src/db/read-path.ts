/**
 * Reads: point lookups through the memtables and the levels, and the merged
 * iterator over memtables and tables, at a snapshot (docs/internals.md, "Read path").
 *
 * A get looks in L0 newest first (every table whose key range holds the key),
 * then in each deeper level in the one table whose range can hold it (binary
 * search), skipping tables whose bloom filter says no. The first entry visible at
 * the snapshot decides: a PUT's value, or a DELETE's absence. An expiring PUT
 * past its expiry (by the database's time when the read is made) decides like a
 * DELETE (docs/internals.md, "TTL").
 */
import { performance } from 'node:perf_hooks';
import assert from '../util/assert.js';
import { ShaleError } from '../errors.js';
import type { InternalIterator } from '../iterator/internal-iterator.js';
import { DBIterator } from '../iterator/db-iterator.js';
import { aboveUpper, belowLower, rangeBounds, sharedPrefix, type KeyRange } from '../iterator/key-range.js';
import { LevelIterator } from '../iterator/level-iterator.js';
import { MergingIterator } from '../iterator/merging-iterator.js';
import { ShaleIterator, type UserIterator } from '../iterator/public-iterator.js';
import { EntryType, INTERNAL_KEY_TRAILER_BYTES, type BytesLike } from '../keys.js';
import type { MemLookup, MemTable } from '../memtable/memtable.js';
import { MemTableIterator } from '../memtable/memtable-iterator.js';
import type { ResolvedOptions } from '../options.js';
import { compareBytes } from '../sstable/byte-ranges.js';
import type { TableCache } from '../sstable/table-cache.js';
import type { TableReader } from '../sstable/table-reader.js';
import { LoopTurns, READS_BETWEEN_TURNS } from '../util/event-loop.js';
import { userKeyOf, type Version } from '../version/version.js';
import type { FileMeta } from '../version/version-edit.js';
import type { VersionSet } from '../version/version-set.js';
import { checkOptionNames, keyArgument, lookupKeyArgument } from './batch.js';
import type { Latencies } from './latency-histogram.js';
import { mergeFragments } from '../rangedel/fragments.js';
import { isExclusiveEndKey } from '../rangedel/table-tombstones.js';
import { expiringValueBody, isExpired, readExpiry } from '../util/expiring-value.js';
import type { MemtableSet } from './memtable-set.js';
import { Snapshot, type SnapshotList } from './snapshot.js';

/** Options of `get`, `getMany` and the iterators. */
export interface ReadOptions {
  /** Read as of this snapshot instead of the latest write. */
  snapshot?: Snapshot;
}

/** Options of `db.iterator()`, `db.keys()` and `db.values()`. Bounds are keys (bytes or strings). */
export interface IteratorOptions extends ReadOptions {
  gt?: BytesLike;
  gte?: BytesLike;
  lt?: BytesLike;
  lte?: BytesLike;
  /** Iterate from the largest key down. Default false. */
  reverse?: boolean;
  /** Stop after this many entries; -1 or Infinity for no limit. Default no limit. */
  limit?: number;
  /**
   * Default true: every key and value returned is the caller's own copy. With
   * false, they are views of the engine's memory (a cached block, a memtable
   * entry), which saves a copy per entry on scans: they never change, but they
   * must not be modified (that would change the database's own data), and one
   * kept keeps its whole block (up to a block's size) in memory: copy what you keep.
   */
  copy?: boolean;
}

/** Builds what a public iterator reads from, over the DB iterator at its snapshot, with its checked bounds. */
export type IteratorWrap = (inner: DBIterator, range: KeyRange, reverse: boolean) => UserIterator;

/** What an iterator yields, so it copies only that: `db.keys()` never copies a value. */
export type IteratorYields = 'entries' | 'keys' | 'values';

/** What reads work with. */
export interface ReadPathParts {
  options: ResolvedOptions;
  memtables: MemtableSet;
  versions: VersionSet;
  tableCache: TableCache;
  snapshots: SnapshotList;
  /** Where get durations are recorded (one per call of get, getSync, getMany, getManySync). */
  latencies: Latencies;
  /** The sequence number of the last applied write: the default read point. */
  lastSequence(): number;
  /** The database's time (monotone): what expiring entries are judged by. */
  now(): number;
  /** Throws `NOT_OPEN` once the database is closing. */
  checkOpen(): void;
}

/**
 * Gets and iterators. A read's point (its sequence number) is taken when the call
 * is made; a key or bound the read still needs after it first waits is copied, so
 * the caller may reuse its buffers as soon as the call returns.
 */
export class ReadPath {
  readonly #parts: ReadPathParts;
  readonly #loopTurns = new LoopTurns(READS_BETWEEN_TURNS);
  readonly #iterators = new Set<ShaleIterator<unknown>>();

  constructor(parts: ReadPathParts) {
    this.#parts = parts;
  }

  get(key: BytesLike, options: ReadOptions | undefined): Promise<Buffer | undefined> {
    const startedMs = performance.now();
    const checked = lookupKeyArgument(key, this.#parts.options);
    // The read point is taken after the turn: a read point held across it is no snapshot.
    if (this.#loopTurns.due()) {
      const owned = Buffer.from(checked);
      return this.#loopTurns.wait().then(() => {
        this.#parts.checkOpen();
        return this.#get(owned, this.#readSeq(options), startedMs);
      });
    }
    return this.#get(checked, this.#readSeq(options), startedMs);
  }

  /**
   * `get` answered on the calling thread: never waits, never turns the event loop.
   * A table that is not open yet is opened synchronously; a block not in the block
   * cache is read with a synchronous `pread`.
   */
  getSync(key: BytesLike, options: ReadOptions | undefined): Buffer | undefined {
    const startedMs = performance.now();
    const checked = lookupKeyArgument(key, this.#parts.options);
    const value = this.#getSync(checked, this.#readSeq(options));
    this.#parts.latencies.get.observeSince(startedMs);
    return value;
  }

  /** `getMany` answered on the calling thread, every key at one read point. */
  getManySync(keys: readonly BytesLike[], options: ReadOptions | undefined): (Buffer | undefined)[] {
    if (!Array.isArray(keys)) throw new ShaleError('INVALID_ARGUMENT', 'getManySync() takes an array of keys');
    const startedMs = performance.now();
    const checked = keys.map((key) => lookupKeyArgument(key, this.#parts.options));
    const seq = this.#readSeq(options);
    // One read point, one time: every key is judged for expiry at the same moment.
    const nowMs = this.#parts.now();
    const values = checked.map((key) => this.#getSync(key, seq, nowMs));
    this.#parts.latencies.get.observeSince(startedMs);
    return values;
  }

  getMany(keys: readonly BytesLike[], options: ReadOptions | undefined): Promise<(Buffer | undefined)[]> {
    if (!Array.isArray(keys)) throw new ShaleError('INVALID_ARGUMENT', 'getMany() takes an array of keys');
    const startedMs = performance.now();
    const checked = keys.map((key) => lookupKeyArgument(key, this.#parts.options));
    if (this.#loopTurns.due()) {
      const owned = checked.map((key) => Buffer.from(key));
      return this.#loopTurns.wait().then(() => {
        this.#parts.checkOpen();
        return this.#getMany(owned, this.#readSeq(options), startedMs);
      });
    }
    return this.#getMany(checked, this.#readSeq(options), startedMs);
  }

  /**
   * An iterator over one consistent snapshot, captured now. `wrap`, if given,
   * builds what the iterator reads from the DB iterator (a transaction merges
   * its own writes over it).
   */
  iterator<T>(options: IteratorOptions | undefined, yields: IteratorYields, map: (entry: [Buffer, Buffer]) => T, wrap?: IteratorWrap): ShaleIterator<T> {
    const { memtables, versions, tableCache } = this.#parts;
    const { range, reverse, limit, copy } = iteratorArguments(options, this.#parts.options);
    // Everything the snapshot needs is captured now, synchronously: the sequence,
    // the memtables and the version. Tables are opened on first use.
    const seq = this.#readSeq(options, false); // iteratorArguments checked the names
    const frozen = memtables.all();
    const pin = versions.pin();
    let releaseTables = (): void => undefined;
    const iterator: ShaleIterator<T> = new ShaleIterator<T>(
      {
        build: async () => {
          const built = await buildDbIterator(frozen, pin.version, tableCache, seq, range, reverse, this.#parts.now);
          releaseTables = built.release;
          return wrap === undefined ? built.iterator : wrap(built.iterator, range, reverse);
        },
        release: () => {
          releaseTables();
          pin.release();
          this.#iterators.delete(iterator as ShaleIterator<unknown>);
        },
      },
      map,
      limit,
      { keys: copy && yields !== 'values', values: copy && yields !== 'keys' },
    );
    this.#iterators.add(iterator as ShaleIterator<unknown>);
    return iterator;
  }

  /** Closes every open iterator: their next calls reject with `NOT_OPEN`. */
  closeIterators(): void {
    for (const iterator of this.#iterators) iterator.markDatabaseClosed();
  }

  #readSeq(options: ReadOptions | undefined, checkNames = true): number {
    if (options === undefined) return this.#parts.lastSequence();
    if (typeof options !== 'object' || options === null) throw new ShaleError('INVALID_ARGUMENT', 'read options must be an object');
    if (checkNames) checkOptionNames(options, READ_OPTION_NAMES, 'read');
    if (options.snapshot === undefined) return this.#parts.lastSequence();
    if (!(options.snapshot instanceof Snapshot)) throw new ShaleError('INVALID_ARGUMENT', 'option snapshot must come from db.snapshot()');
    return options.snapshot.seqFor(this.#parts.snapshots);
  }

  #getMany(keys: Buffer[], seq: number, startedMs: number): Promise<(Buffer | undefined)[]> {
    // One read point, one time: every key is judged for expiry at the same moment.
    const nowMs = this.#parts.now();
    return Promise.all(keys.map((key) => this.#get(key, seq, NOT_TIMED, nowMs))).then((values) => {
      this.#parts.latencies.get.observeSince(startedMs);
      return values;
    });
  }

  /**
   * The value of `key` at `seq`; records the get's duration from `startedMs`
   * unless it is `NOT_TIMED`. `nowMs`: the time to judge expiring entries by;
   * when undefined, the clock is read only if an expiring entry must be judged
   * (the hot path of a plain get pays nothing), and before any wait (the time is
   * the call's).
   */
  #get(key: Buffer, seq: number, startedMs: number, nowMs?: number): Promise<Buffer | undefined> {
    const found = this.#parts.memtables.get(key, seq);
    if (found !== undefined) {
      if (startedMs !== NOT_TIMED) this.#parts.latencies.get.observeSince(startedMs);
      return Promise.resolve(valueOf(found, nowMs, this.#parts.now));
    }
    // Tables already open answer now, without a pin or an await; only a table
    // that must be opened sends the read to the threadpool.
    const inTables = lookupTables(this.#parts.versions.current, this.#parts.tableCache, key, seq, false);
    if (inTables !== TABLE_NOT_OPEN) {
      if (startedMs !== NOT_TIMED) this.#parts.latencies.get.observeSince(startedMs);
      return Promise.resolve(inTables === undefined ? undefined : valueOf(inTables, nowMs, this.#parts.now));
    }
    // The table read waits for I/O: the key must be the read's own by then, and the time is the call's.
    return this.#getFromTables(Buffer.from(key), seq, startedMs, nowMs ?? this.#parts.now());
  }

  #getSync(key: Buffer, seq: number, nowMs?: number): Buffer | undefined {
    const found = this.#parts.memtables.get(key, seq) ?? lookupTables(this.#parts.versions.current, this.#parts.tableCache, key, seq, true);
    // Invariant: allowed to open tables, the lookup always answers.
    assert(found !== TABLE_NOT_OPEN, 'a synchronous lookup met a table it did not open');
    return found === undefined ? undefined : valueOf(found, nowMs, this.#parts.now);
  }

  async #getFromTables(key: Buffer, seq: number, startedMs: number, nowMs: number): Promise<Buffer | undefined> {
    const pin = this.#parts.versions.pin();
    try {
      const found = await getFromVersion(pin.version, this.#parts.tableCache, key, seq);
      return found === undefined ? undefined : valueOf(found, nowMs, this.#parts.now);
    } finally {
      pin.release();
      if (startedMs !== NOT_TIMED) this.#parts.latencies.get.observeSince(startedMs);
    }
  }
}

/**
 * The caller's own copy of a found value: the one copy a get makes (tables and
 * memtables hand out views). A tombstone, or an expiring entry expired at
 * `nowMs` (when undefined, `now()`, read only for an expiring entry), is absence.
 */
export function valueOf(found: MemLookup, nowMs: number | undefined, now: () => number): Buffer | undefined {
  if (found.type === EntryType.DELETE) return undefined;
  if (found.type !== EntryType.PUT_EXPIRING) return Buffer.from(found.value);
  // Invariant: the memtable and the table readers hand out expiring values with their expiry time.
  assert(found.value.length >= 8, 'an expiring value without its expiry time');
  return isExpired(readExpiry(found.value), nowMs ?? now()) ? undefined : Buffer.from(expiringValueBody(found.value));
}

/** The start time of a lookup that is part of a getMany, whose duration is recorded once for the whole call. */
const NOT_TIMED = -1;

const READ_OPTION_NAMES = ['snapshot'];
const ITERATOR_OPTION_NAMES = ['gt', 'gte', 'lt', 'lte', 'reverse', 'limit', 'snapshot', 'copy'];

/** Validates iterator options; bounds are copied, since the iterator reads them long after the call. */
function iteratorArguments(options: IteratorOptions | undefined, limits: ResolvedOptions): { range: KeyRange; reverse: boolean; limit: number; copy: boolean } {
  if (options === undefined) return { range: {}, reverse: false, limit: Infinity, copy: true };
  if (typeof options !== 'object' || options === null) throw new ShaleError('INVALID_ARGUMENT', 'iterator options must be an object');
  checkOptionNames(options, ITERATOR_OPTION_NAMES, 'iterator');
  const range: KeyRange = {};
  for (const bound of ['gt', 'gte', 'lt', 'lte'] as const) {
    const value = options[bound];
    if (value !== undefined) range[bound] = keyArgument(value, limits);
  }
  const reverse = options.reverse ?? false;
  if (typeof reverse !== 'boolean') throw new ShaleError('INVALID_ARGUMENT', 'option reverse must be a boolean');
  const limit = options.limit ?? Infinity;
  if (typeof limit !== 'number' || Number.isNaN(limit) || (limit !== Infinity && !Number.isInteger(limit))) {
    throw new ShaleError('INVALID_ARGUMENT', 'option limit must be an integer');
  }
  const copy = options.copy ?? true;
  if (typeof copy !== 'boolean') throw new ShaleError('INVALID_ARGUMENT', 'option copy must be a boolean');
  return { range, reverse, limit: limit < 0 ? Infinity : limit, copy };
}

/** Compares the user key of internal key `internalKey` with `key`, in place (no subarray per comparison). */
function compareUserKey(internalKey: Buffer, key: Buffer): number {
  return compareBytes(internalKey, 0, internalKey.length - INTERNAL_KEY_TRAILER_BYTES, key, 0, key.length);
}

function holdsKey(file: FileMeta, key: Buffer): boolean {
  return compareUserKey(file.smallest, key) <= 0 && compareUserKey(file.largest, key) >= 0;
}

/** The one table of `files` (a level below L0: sorted, not overlapping) whose range can hold `key`, or undefined. */
function fileHolding(files: readonly FileMeta[], key: Buffer): FileMeta | undefined {
  // The first table whose largest user key is ≥ key (Version.findFile, without its allocations).
  let low = 0;
  let high = files.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    const byKey = compareUserKey(files[middle]!.largest, key);
    if (byKey < 0 || (byKey === 0 && isExclusiveEndKey(files[middle]!.largest))) low = middle + 1;
    else high = middle;
  }
  const file = files[low];
  return file === undefined || compareUserKey(file.smallest, key) > 0 ? undefined : file;
}

async function getFromTable(tableCache: TableCache, file: FileMeta, key: Buffer, seq: number): Promise<MemLookup | undefined> {
  const reader = await tableCache.acquire(file.fileNumber);
  try {
    return reader.get(key, seq);
  } finally {
    tableCache.release(file.fileNumber);
  }
}

/** What `lookupTables` answers when it needs a table that is not open and may not open one. */
const TABLE_NOT_OPEN = Symbol('table not open');

/** The newest entry for `key` at `seq` in table `file`, opening the table on this thread when `openCold` allows. */
function lookupTable(tableCache: TableCache, file: FileMeta, key: Buffer, seq: number, openCold: boolean): MemLookup | undefined | typeof TABLE_NOT_OPEN {
  const reader = tableCache.peek(file.fileNumber);
  // An open table is used unpinned: nothing can close it before this synchronous lookup returns.
  if (reader !== undefined) return reader.get(key, seq);
  if (!openCold) return TABLE_NOT_OPEN;
  const opened = tableCache.acquireSync(file.fileNumber);
  try {
    return opened.get(key, seq);
  } finally {
    tableCache.release(file.fileNumber);
  }
}

/**
 * The newest entry for `key` visible at `seq` in `version`'s tables, or undefined,
 * found synchronously, in the order of `getFromVersion`. Without `openCold` it
 * answers `TABLE_NOT_OPEN` at the first table it would have to open. The version
 * needs no pin: nothing can delete its tables before this returns.
 */
function lookupTables(version: Version, tableCache: TableCache, key: Buffer, seq: number, openCold: boolean): MemLookup | undefined | typeof TABLE_NOT_OPEN {
  const levels = version.levels;
  const level0 = levels[0];
  if (level0 !== undefined) {
    for (let i = 0; i < level0.length; i++) {
      const file = level0[i]!;
      if (!holdsKey(file, key) || file.smallestSeq > seq) continue;
      const found = lookupTable(tableCache, file, key, seq, openCold);
      if (found !== undefined) return found;
    }
  }
  for (let level = 1; level < levels.length; level++) {
    const file = fileHolding(levels[level]!, key);
    if (file === undefined) continue;
    const found = lookupTable(tableCache, file, key, seq, openCold);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** The newest entry for `key` visible at `seq` in `version`'s tables, or undefined. */
export async function getFromVersion(version: Version, tableCache: TableCache, key: Buffer, seq: number): Promise<MemLookup | undefined> {
  for (const file of version.levels[0] ?? []) {
    if (!holdsKey(file, key) || file.smallestSeq > seq) continue;
    const found = await getFromTable(tableCache, file, key, seq);
    if (found !== undefined) return found;
  }
  for (let level = 1; level < version.levels.length; level++) {
    const files = version.levels[level]!;
    const index = version.findFile(level, key);
    const file = files[index];
    if (file === undefined || userKeyOf(file.smallest).compare(key) > 0) continue;
    const found = await getFromTable(tableCache, file, key, seq);
    if (found !== undefined) return found;
  }
  return undefined;
}

/**
 * Builds the user-visible iterator over `memtables` (newest first) and
 * `version`'s tables at snapshot `seq`. Every table the iterator may read is
 * opened and pinned now; `release` unpins them.
 */
export async function buildDbIterator(
  memtables: readonly MemTable[],
  version: Version,
  tableCache: TableCache,
  seq: number,
  range: KeyRange,
  reverse: boolean,
  now: () => number,
): Promise<{ iterator: DBIterator; release: () => void }> {
  const acquired: number[] = [];
  const release = (): void => {
    for (const fileNumber of acquired.splice(0)) tableCache.release(fileNumber);
  };
  try {
    // Only the tables the range can reach: those whose key range overlaps it, less
    // those whose prefix filter rules out the one prefix every key of the range has.
    const { lower, upper } = rangeBounds(range);
    const prefixes = new Map<number, Buffer | undefined>();
    const readers = new Map<number, TableReader>();
    for (const file of version.files()) {
      if (aboveUpper(userKeyOf(file.smallest), upper) || belowLower(userKeyOf(file.largest), lower)) continue;
      const reader = await tableCache.acquire(file.fileNumber);
      const prefixBytes = reader.bloomPrefixBytes;
      if (prefixBytes > 0) {
        if (!prefixes.has(prefixBytes)) prefixes.set(prefixBytes, sharedPrefix(lower, upper, prefixBytes));
        const prefix = prefixes.get(prefixBytes);
        // A table's range tombstones may delete keys of other tables: it is skipped only without any.
        if (prefix !== undefined && !reader.mayContainPrefix(prefix) && reader.rangeTombstones().isEmpty) {
          tableCache.release(file.fileNumber);
          continue;
        }
      }
      readers.set(file.fileNumber, reader);
      acquired.push(file.fileNumber);
    }
    // A memtable empty now has nothing the snapshot sees: whatever it gets later is newer.
    const children: InternalIterator[] = memtables.filter((memtable) => memtable.entryCount > 0).map((memtable) => new MemTableIterator(memtable));
    for (const file of version.levels[0] ?? []) {
      const reader = readers.get(file.fileNumber);
      if (reader !== undefined) children.push(reader.iterator(true));
    }
    for (let level = 1; level < version.levels.length; level++) {
      const files = version.levels[level]!.filter((file) => readers.has(file.fileNumber));
      if (files.length === 0) continue;
      children.push(
        new LevelIterator(
          files,
          (file) => readers.get(file.fileNumber)!.iterator(true),
          (file) => userKeyOf(file.largest),
          (file) => isExclusiveEndKey(file.largest),
        ),
      );
    }
    // One source (a compacted database, say) needs no merge: each step would only pass through the heap.
    const inner = children.length === 1 ? children[0]! : new MergingIterator(children);
    const tombstoneLists = [...memtables.map((memtable) => memtable.rangeTombstones), ...[...readers.values()].map((reader) => reader.rangeTombstones())];
    // The newest sequence anywhere: a covering tombstone at it lets the iterator seek past its range.
    let newestSeq = 0;
    for (const memtable of memtables) newestSeq = Math.max(newestSeq, memtable.sequenceRange.largest);
    for (const file of version.files()) if (readers.has(file.fileNumber)) newestSeq = Math.max(newestSeq, file.largestSeq);
    return { iterator: new DBIterator(inner, seq, range, reverse, mergeFragments(tombstoneLists, seq), now, newestSeq), release };
  } catch (err) {
    release();
    throw err;
  }
}
