/**
 * lmdb (lmdb-js: LMDB's copy-on-write B+tree over a memory map) behind the
 * benchmark's engine interface. Its idiomatic API is asynchronous for writes
 * (`put` joins the transaction of the current event turn, committed on lmdb-js's
 * write thread) and synchronous for reads (`get`, `getRange`): a read is a
 * lookup in the memory map, cheaper than a trip through the event loop.
 * Keys and values are stored raw (`keyEncoding`/`encoding: 'binary'`).
 */
import type { RootDatabase } from 'lmdb';
import type { CompactOutcome, Engine, OpenMode, EngineInfo, EngineStats, RangeReader, ReadChunk } from './engine.js';

export const LMDB_INFO: EngineInfo = {
  name: 'lmdb',
  packageName: 'lmdb',
  api: {
    write: 'await db.put(key, value)',
    syncWrite: 'await db.put(key, value); await db.flushed',
    batch: 'await db.batch(() => { db.put(key, value) ×100 })',
    delete: 'await db.remove(key)',
    read: 'db.get(key): synchronous, lmdb-js’s idiomatic read (no await)',
    readSync: 'db.get(key): the same synchronous read',
    scan: 'db.getRange({ reverse }): a synchronous iterable, read in chunks of 1000',
    seek: 'per op db.getRange({ start: key, limit: 10 })',
    compact: 'none: a B+tree has nothing to compact',
    transaction:
      'await db.transaction(() => db.put(key, update(db.get(key)))): a write transaction on lmdb-js’s single writer; never conflicts (writers are serialised)',
  },
  durability: {
    write:
      'lmdb-js has no per-write sync flag: durability is set per database. For non-sync workloads it is opened with noSync: true, ' +
      'so a commit writes its pages to the OS and never fdatasyncs: like the others\' non-sync writes, this survives a process ' +
      'crash, not a power loss (LMDB: a system crash may lose or corrupt the latest transactions)',
    syncWrite:
      'opened with lmdb-js defaults (overlappingSync: the commit releases the write lock before its sync, so the next ' +
      'transaction overlaps it); the commit, then await db.flushed (resolves once the transaction is synced and its meta page written): survives a power loss',
  },
  settings: 'lmdb-js defaults (overlappingSync), plus noSync for the non-sync workloads; no compression, map grown on demand; binary keys and values',
};

type Db = RootDatabase<Buffer, Buffer>;

class LmdbReader implements RangeReader {
  readonly #db: Db;
  readonly #entries: Iterator<{ key: Buffer; value: Buffer }>;

  constructor(db: Db, reverse: boolean) {
    this.#db = db;
    this.#entries = db.getRange({ reverse })[Symbol.iterator]();
  }

  read(count: number): ReadChunk {
    let entries = 0;
    let bytes = 0;
    while (entries < count) {
      const step = this.#entries.next();
      if (step.done === true) break;
      entries++;
      bytes += step.value.key.length + step.value.value.length;
    }
    return { entries, bytes };
  }

  seekRead(target: Buffer, count: number): ReadChunk {
    let entries = 0;
    let bytes = 0;
    for (const { key, value } of this.#db.getRange({ start: target, limit: count })) {
      entries++;
      bytes += key.length + value.length;
    }
    return { entries, bytes };
  }

  async close(): Promise<void> {
    this.#entries.return?.();
  }
}

class LmdbEngine implements Engine {
  readonly info = LMDB_INFO;
  readonly #db: Db;
  /** Where durable writes wait: for the put's commit, then for `flushed` (to back the durability note with a figure). */
  #durableWrites = 0;
  #putWaitNs = 0n;
  #flushedWaitNs = 0n;

  constructor(db: Db) {
    this.#db = db;
  }

  put(key: Buffer, value: Buffer): Promise<boolean> {
    return this.#db.put(key, value);
  }

  async putDurable(key: Buffer, value: Buffer): Promise<void> {
    const started = process.hrtime.bigint();
    await this.#db.put(key, value);
    const committed = process.hrtime.bigint();
    await this.#db.flushed;
    this.#durableWrites++;
    this.#putWaitNs += committed - started;
    this.#flushedWaitNs += process.hrtime.bigint() - committed;
  }

  delete(key: Buffer): Promise<boolean> {
    return this.#db.remove(key);
  }

  /** lmdb's `clearAsync()`: empties the database in one transaction. */
  clear(): Promise<void> {
    return this.#db.clearAsync();
  }

  writeBatch(entries: readonly (readonly [Buffer, Buffer])[]): Promise<boolean> {
    return this.#db.batch(() => {
      for (const [key, value] of entries) void this.#db.put(key, value);
    });
  }

  get(key: Buffer): Buffer | undefined {
    return this.#db.get(key);
  }

  getSync(key: Buffer): Buffer | undefined {
    return this.#db.get(key);
  }

  reader(reverse: boolean): RangeReader {
    return new LmdbReader(this.#db, reverse);
  }

  async readModifyWrite(key: Buffer, update: (value: Buffer | undefined) => Buffer): Promise<number> {
    await this.#db.transaction(() => this.#db.put(key, update(this.#db.get(key))));
    return 0;
  }

  async compact(): Promise<CompactOutcome> {
    return { method: 'n/a: a B+tree is not compacted', compacted: false };
  }

  async stats(): Promise<EngineStats | undefined> {
    if (this.#durableWrites === 0) return undefined;
    const meanUs = (ns: bigint): number => Number(ns / BigInt(this.#durableWrites)) / 1000;
    return {
      writeAmplification: undefined,
      tableWriteAmplification: undefined,
      source: 'none (lmdb-js reports no write figures)',
      raw: { durableWrites: this.#durableWrites, putWaitMeanUs: meanUs(this.#putWaitNs), flushedExtraWaitMeanUs: meanUs(this.#flushedWaitNs) },
    };
  }

  onStall(): boolean {
    return false;
  }

  close(): Promise<void> {
    return this.#db.close();
  }
}

export async function openLmdb(dir: string, mode: OpenMode): Promise<Engine> {
  const { open } = await import('lmdb');
  const db = open<Buffer, Buffer>({ path: dir, keyEncoding: 'binary', encoding: 'binary', noSync: !mode.durableWrites });
  return new LmdbEngine(db);
}
