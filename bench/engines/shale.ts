/**
 * shale behind the benchmark's engine interface: async `put`/`get`/`delete`/
 * `write`, `iterator()` with `nextv` and `seek`. Methods that are not built yet
 * (`compactRange`, `stats`, `on('stall')`) are used when present and reported
 * as absent otherwise, so the harness runs on every revision.
 */
import type { DB, Options } from '../../src/index.js';
import type { CompactOutcome, Engine, EngineInfo, EngineStats, RangeReader, ReadChunk } from './engine.js';

export const SHALE_INFO: EngineInfo = {
  name: 'shale',
  packageName: 'shale',
  api: {
    write: 'await db.put(key, value, { sync: false })',
    syncWrite: 'await db.put(key, value, { sync: true })',
    batch: "await db.write([{ type: 'put', key, value } ×100], { sync: false })",
    delete: 'await db.delete(key, { sync: false })',
    read: 'await db.get(key)',
    readSync: 'db.getSync(key)',
    scan: 'db.iterator({ reverse, copy: false }) + await it.nextv(1000) (views of cached blocks, not copies)',
    seek: 'one db.iterator({ copy: false }); per op it.seek(key) + await it.nextv(10)',
    compact: 'db.compactRange() when present, else db.flush() (memtable to L0 only)',
    transaction:
      "await db.runTransaction(async (tx) => tx.put(key, update(await tx.get(key))), { sync: false }): snapshot isolation, optimistic; a conflict retries with a jittered backoff",
  },
  durability: {
    write:
      'sync:false resolves once the WAL record is handed to the OS (write(2), no fsync): survives a process kill, not a power loss',
    syncWrite:
      'sync:true resolves after fdatasync of the WAL; writes queued together share one fdatasync (group commit): survives a power loss',
  },
  settings: 'defaults: 8 MiB memtable, block cache 1/64 of memory (32–512 MiB), 4 KiB blocks, snappy, bloom 10 bits/key',
};

/** The parts of shale's API that other engineers are adding; typed loosely on purpose. */
interface ShaleExtensions {
  compactRange?: (...args: unknown[]) => Promise<unknown>;
  stats?: () => unknown;
  on?: (event: string, listener: (detail: unknown) => void) => unknown;
}

function sumBytes(entries: readonly (readonly [Uint8Array, Uint8Array])[]): number {
  let bytes = 0;
  for (const [key, value] of entries) bytes += key.length + value.length;
  return bytes;
}

class ShaleReader implements RangeReader {
  readonly #iterator: ReturnType<DB['iterator']>;

  constructor(db: DB, reverse: boolean) {
    this.#iterator = db.iterator({ reverse, copy: false });
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
 * Reads write amplification from a `db.stats()` result: `writeAmplification`
 * (log + flush + compaction bytes per user byte) and, from `flushBytesWritten`,
 * `compactionBytesWritten` and `userBytesWritten`, the table-only figure.
 */
function statsFrom(raw: unknown, userBytesWritten: number): EngineStats {
  const fields = typeof raw === 'object' && raw !== null ? (raw as Record<string, unknown>) : {};
  const number = (name: string): number | undefined => (typeof fields[name] === 'number' ? (fields[name] as number) : undefined);
  const user = number('userBytesWritten') ?? userBytesWritten;
  const flush = number('flushBytesWritten');
  const compaction = number('compactionBytesWritten');
  return {
    writeAmplification: number('writeAmplification'),
    tableWriteAmplification: flush === undefined || compaction === undefined || user === 0 ? undefined : (flush + compaction) / user,
    source: 'db.stats(): writeAmplification; (flushBytesWritten + compactionBytesWritten) / userBytesWritten',
    raw,
  };
}

class ShaleEngine implements Engine {
  readonly info = SHALE_INFO;
  readonly #db: DB;
  readonly #extensions: ShaleExtensions;

  constructor(db: DB) {
    this.#db = db;
    this.#extensions = db as unknown as ShaleExtensions;
  }

  put(key: Buffer, value: Buffer): Promise<void> {
    return this.#db.put(key, value, { sync: false });
  }

  putDurable(key: Buffer, value: Buffer): Promise<void> {
    return this.#db.put(key, value, { sync: true });
  }

  delete(key: Buffer): Promise<void> {
    return this.#db.delete(key, { sync: false });
  }

  /** What `ShaleLevel.clear()` does: one range delete over every key. */
  clear(): Promise<void> {
    return this.#db.deleteRange(Buffer.alloc(0), undefined, { sync: false });
  }

  writeBatch(entries: readonly (readonly [Buffer, Buffer])[]): Promise<void> {
    return this.#db.write(
      entries.map(([key, value]) => ({ type: 'put' as const, key, value })),
      { sync: false },
    );
  }

  get(key: Buffer): Promise<Buffer | undefined> {
    return this.#db.get(key);
  }

  getSync(key: Buffer): Buffer | undefined {
    return this.#db.getSync(key);
  }

  reader(reverse: boolean): RangeReader {
    return new ShaleReader(this.#db, reverse);
  }

  async readModifyWrite(key: Buffer, update: (value: Buffer | undefined) => Buffer): Promise<number> {
    let runs = 0;
    await this.#db.runTransaction(
      async (tx) => {
        runs++;
        tx.put(key, update(await tx.get(key)));
      },
      { sync: false, retries: 1000 },
    );
    return runs - 1;
  }

  async compact(): Promise<CompactOutcome> {
    if (typeof this.#extensions.compactRange === 'function') {
      await this.#extensions.compactRange.call(this.#db);
      return { method: 'db.compactRange()', compacted: true };
    }
    await this.#db.flush();
    return { method: 'db.flush() only: compactRange() not available yet', compacted: false };
  }

  async stats(userBytesWritten: number): Promise<EngineStats | undefined> {
    if (typeof this.#extensions.stats !== 'function') return undefined;
    const raw: unknown = await this.#extensions.stats.call(this.#db);
    return statsFrom(raw, userBytesWritten);
  }

  onStall(listener: (detail: unknown) => void): boolean {
    if (typeof this.#extensions.on !== 'function') return false;
    this.#extensions.on.call(this.#db, 'stall', listener);
    return true;
  }

  close(): Promise<void> {
    return this.#db.close();
  }
}

export async function openShale(dir: string): Promise<Engine> {
  const { DB } = await import('../../src/index.js');
  return new ShaleEngine(await DB.open(dir, benchOptions()));
}

/**
 * Options for an A/B run of one setting: `SHALE_BENCH_OPTIONS='{"compressionMinLevel":0}'`.
 * Unset, shale runs at its defaults, as every recorded run does.
 */
function benchOptions(): Options | undefined {
  const text = process.env['SHALE_BENCH_OPTIONS'];
  return text === undefined || text === '' ? undefined : (JSON.parse(text) as Options);
}
