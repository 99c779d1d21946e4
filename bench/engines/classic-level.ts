/**
 * classic-level (LevelDB 1.x through N-API) behind the benchmark's engine
 * interface: async `put`/`get`/`del`/`batch`, `iterator()` with `nextv` and
 * `seek`, `compactRange`, and LevelDB's own compaction figures from
 * `getProperty('leveldb.stats')`.
 */
import type { ClassicLevel, Iterator as LevelIterator } from 'classic-level';
import type { CompactOutcome, Engine, EngineInfo, EngineStats, RangeReader, ReadChunk } from './engine.js';

export const CLASSIC_LEVEL_INFO: EngineInfo = {
  name: 'classic-level',
  packageName: 'classic-level',
  api: {
    write: 'await db.put(key, value)',
    syncWrite: 'await db.put(key, value, { sync: true })',
    batch: "await db.batch([{ type: 'put', key, value } ×100])",
    delete: 'await db.del(key)',
    read: 'await db.get(key)',
    readSync: 'db.getSync(key)',
    scan: 'db.iterator({ reverse }) + await it.nextv(1000)',
    seek: 'one db.iterator(); per op it.seek(key) + await it.nextv(10)',
    compact: "db.compactRange('\\x00', '\\xff'×17): LevelDB compacts the memtable, then every level",
  },
  durability: {
    write:
      "LevelDB's default sync:false: the log record is written with write(2), no fsync: survives a process kill, not a power loss",
    syncWrite:
      'sync:true: LevelDB fdatasyncs the log before the write returns; writers queued behind it share that sync (group commit): survives a power loss',
  },
  settings: 'classic-level defaults: 4 MiB write buffer, 8 MiB block cache, 4 KiB blocks, snappy, bloom 10 bits/key',
};

type Db = ClassicLevel<Buffer, Buffer>;

const COMPACT_START = Buffer.from([0x00]);
/** Above every benchmark key (16 printable bytes). */
const COMPACT_END = Buffer.alloc(17, 0xff);
const MIB = 1024 * 1024;

function sumBytes(entries: readonly (readonly [Uint8Array, Uint8Array])[]): number {
  let bytes = 0;
  for (const [key, value] of entries) bytes += key.length + value.length;
  return bytes;
}

class ClassicLevelReader implements RangeReader {
  readonly #iterator: LevelIterator<Db, Buffer, Buffer>;

  constructor(db: Db, reverse: boolean) {
    this.#iterator = db.iterator({ reverse });
  }

  async read(count: number): Promise<ReadChunk> {
    const entries = await this.#iterator.nextv(count);
    return { entries: entries.length, bytes: sumBytes(entries) };
  }

  async seekRead(target: Buffer, count: number): Promise<ReadChunk> {
    this.#iterator.seek(target);
    return this.read(count);
  }

  close(): Promise<void> {
    return this.#iterator.close();
  }
}

/**
 * Sums the Write(MB) column of LevelDB's compaction table: table bytes written by
 * memtable flushes (counted at level 0) and compactions, in whole MiB. The log is
 * not in it.
 */
export function leveldbTableWritesBytes(statsText: string): number | undefined {
  let writtenMib = 0;
  let rows = 0;
  for (const line of statsText.split('\n')) {
    const match = /^\s*\d+\s+\d+\s+\d+\s+\d+\s+\d+\s+(\d+)\s*$/.exec(line);
    if (match === null) continue;
    writtenMib += Number(match[1]);
    rows++;
  }
  return rows === 0 ? undefined : writtenMib * MIB;
}

class ClassicLevelEngine implements Engine {
  readonly info = CLASSIC_LEVEL_INFO;
  readonly #db: Db;

  constructor(db: Db) {
    this.#db = db;
  }

  put(key: Buffer, value: Buffer): Promise<void> {
    return this.#db.put(key, value);
  }

  putDurable(key: Buffer, value: Buffer): Promise<void> {
    return this.#db.put(key, value, { sync: true });
  }

  delete(key: Buffer): Promise<void> {
    return this.#db.del(key);
  }

  /** classic-level's `clear()`: LevelDB deletes the keys one by one, in batches. */
  clear(): Promise<void> {
    return this.#db.clear();
  }

  writeBatch(entries: readonly (readonly [Buffer, Buffer])[]): Promise<void> {
    return this.#db.batch(entries.map(([key, value]) => ({ type: 'put' as const, key, value })));
  }

  get(key: Buffer): Promise<Buffer | undefined> {
    return this.#db.get(key);
  }

  getSync(key: Buffer): Buffer | undefined {
    return this.#db.getSync(key);
  }

  reader(reverse: boolean): RangeReader {
    return new ClassicLevelReader(this.#db, reverse);
  }

  async compact(): Promise<CompactOutcome> {
    await this.#db.compactRange(COMPACT_START, COMPACT_END);
    return { method: 'db.compactRange()', compacted: true };
  }

  async stats(userBytesWritten: number): Promise<EngineStats | undefined> {
    const raw = this.#db.getProperty('leveldb.stats');
    const tableBytes = leveldbTableWritesBytes(raw);
    return {
      writeAmplification: undefined,
      tableWriteAmplification: tableBytes === undefined || userBytesWritten === 0 ? undefined : tableBytes / userBytesWritten,
      source: 'leveldb.stats Write(MB) summed over levels (flush + compaction, whole MiB; LevelDB does not count its log) / user bytes',
      raw,
    };
  }

  onStall(): boolean {
    return false;
  }

  close(): Promise<void> {
    return this.#db.close();
  }
}

export async function openClassicLevel(dir: string): Promise<Engine> {
  const { ClassicLevel } = await import('classic-level');
  const db: Db = new ClassicLevel<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  await db.open();
  return new ClassicLevelEngine(db);
}
