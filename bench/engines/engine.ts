/**
 * The one small interface every engine sits behind, and what each adapter must
 * say about itself: which of its APIs the workloads call and what a resolved
 * write promises. Each adapter uses its engine's idiomatic fast API; the report
 * prints these descriptions beside the figures.
 */
import type { EngineName } from '../config.js';

/** What an adapter tells the report about itself. */
export interface EngineInfo {
  name: EngineName;
  /** The npm package measured (its version is read from its package.json). */
  packageName: string;
  api: {
    write: string;
    syncWrite: string;
    batch: string;
    delete: string;
    read: string;
    /** The synchronous point read of readrandom-sync. */
    readSync: string;
    scan: string;
    seek: string;
    compact: string;
    /** The read-modify-write transaction of txnrandom; absent when the engine has no transactions. */
    transaction?: string;
  };
  /** What a resolved write guarantees, per write mode. */
  durability: {
    write: string;
    syncWrite: string;
  };
  /** Notable defaults in effect (caches, compression, buffer sizes). */
  settings: string;
}

/** Entries and key+value bytes returned by one read of a range. */
export interface ReadChunk {
  entries: number;
  bytes: number;
}

/** A forward or reverse reader over one snapshot of the database. */
export interface RangeReader {
  /** Reads up to `count` entries from the current position; 0 entries at the end. */
  read(count: number): Promise<ReadChunk> | ReadChunk;
  /** Positions at the first key at or after `target`, then reads up to `count` entries. */
  seekRead(target: Buffer, count: number): Promise<ReadChunk> | ReadChunk;
  close(): Promise<void>;
}

/** How the read workloads' database was settled before reading. */
export interface CompactOutcome {
  /** What was called, e.g. `compactRange()`, or why nothing was. */
  method: string;
  /** True when the engine compacted everything into its final shape. */
  compacted: boolean;
}

/** Figures an engine reports about itself, when it can. */
export interface EngineStats {
  /** Bytes the engine wrote (log + flush + compaction, as it counts them) per user byte. */
  writeAmplification: number | undefined;
  /** Table bytes only (flush + compaction) per user byte. */
  tableWriteAmplification: number | undefined;
  /** How the figure was obtained. */
  source: string;
  /** The engine's own stats object or text, for the JSON. */
  raw: unknown;
}

/**
 * One open database. Writes without "Durable" use the engine's non-sync mode
 * (see `EngineInfo.durability`). `get` may answer synchronously (lmdb does): the
 * workloads only await a Promise.
 */
export interface Engine {
  readonly info: EngineInfo;
  put(key: Buffer, value: Buffer): Promise<unknown>;
  putDurable(key: Buffer, value: Buffer): Promise<unknown>;
  delete(key: Buffer): Promise<unknown>;
  /** Deletes every key (abstract-level's `clear()` and its like), non-sync. */
  clear(): Promise<unknown>;
  /** Puts every entry atomically, non-sync. */
  writeBatch(entries: readonly (readonly [Buffer, Buffer])[]): Promise<unknown>;
  get(key: Buffer): Buffer | Uint8Array | undefined | Promise<Buffer | Uint8Array | undefined>;
  /** The engine's synchronous point read (readrandom-sync). */
  getSync(key: Buffer): Buffer | Uint8Array | undefined;
  reader(reverse: boolean): RangeReader;
  /**
   * Reads `key` and writes `update(value)` under it in one transaction (non-sync),
   * retried until it commits; resolves to the number of conflicts it met.
   * Absent when the engine has no transactions (`info.api.transaction` too).
   */
  readModifyWrite?(key: Buffer, update: (value: Buffer | Uint8Array | undefined) => Buffer): Promise<number>;
  /** Compacts the whole key range where the engine can; otherwise does the closest thing or nothing. */
  compact(): Promise<CompactOutcome>;
  /** The engine's own write amplification figure, or undefined when it has none. */
  stats(userBytesWritten: number): Promise<EngineStats | undefined>;
  /** Subscribes to write-stall events; false when the engine emits none. */
  onStall(listener: (detail: unknown) => void): boolean;
  close(): Promise<void>;
}

/** How a workload's process opens its engine. */
export interface OpenMode {
  /**
   * True when the workload's writes are durable ones (fillsync). An engine whose
   * durability is a per-database setting rather than a per-write flag (lmdb)
   * opens in its durable mode then, and in its "survives a process crash, not a
   * power loss" mode otherwise, the promise the others' non-sync writes make.
   */
  durableWrites: boolean;
}

/** Opens `name`'s adapter on `dir` (created if missing). Loads only that engine's module. */
export async function openEngine(name: EngineName, dir: string, mode: OpenMode): Promise<Engine> {
  switch (name) {
    case 'shale':
      return (await import('./shale.js')).openShale(dir);
    case 'classic-level':
      return (await import('./classic-level.js')).openClassicLevel(dir);
    case 'lmdb':
      return (await import('./lmdb.js')).openLmdb(dir, mode);
  }
}

/** The adapter descriptions without opening anything (for the report header). */
export async function engineInfo(name: EngineName): Promise<EngineInfo> {
  switch (name) {
    case 'shale':
      return (await import('./shale.js')).SHALE_INFO;
    case 'classic-level':
      return (await import('./classic-level.js')).CLASSIC_LEVEL_INFO;
    case 'lmdb':
      return (await import('./lmdb.js')).LMDB_INFO;
  }
}
