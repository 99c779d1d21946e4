/**
 * The model-based test (DESIGN.md, "Testing, from small to large", item 2): seeded
 * random operations against shale and an in-memory sorted map (every read
 * through both `get` and `getSync`), compared after
 * every step where that is cheap and in full at checkpoints, across flushes,
 * reopens, snapshots and iterators that live while the database changes under
 * them, and with a read-only follower on the same directory whose view must
 * survive the writer's flushes, compactions and reopens until it refreshes. A 4 KiB memtable and B-tree nodes of 4 make flushes and node splits
 * constant; some runs use 64-byte blocks with a restart every 2 keys.
 *
 * Time is the test's (the `clock` option): some puts expire (`ttl`, or an
 * `expiresAt` that may be past already), and a step moves the clock forward or
 * back. The model judges expiry by the database's time: the largest the clock
 * has shown the open database (the test's clock never goes back across a
 * reopen, since an open starts its time from the clock: docs/internals.md, "TTL").
 *
 * Each run prints its seed. `SEED=<n>` replays a run (`SEEDS=1` for just that
 * one); `SEEDS=<n>` sets how many short runs a CI run makes, the last of them on
 * node:fs with the worker-thread compactor (`ON_DISK=0|1` forces all runs one
 * way); `STEPS` and `LONG_STEPS` size the short runs and the long one; `TRACE=1`
 * prints every operation. A failure names the seed, the step and the operation,
 * and how to replay it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DB, ShaleError, type IteratorOptions, type Options, type ShaleIterator, type Snapshot } from '../../src/index.js';
import { CrashableFS, Rng } from '../../src/testing/index.js';
import { prefixSuccessor } from '../../src/iterator/key-range.js';
import { tempDir, testSeed } from '../helpers.js';
import { Model, ModelCursor, firstDifference, keySpace, randomValue, showKey, showRange, showValue, type ModelRange, type ModelTime, type Pair } from './model.js';

const DIR = '/db';
const SEEDS = Number(process.env['SEEDS'] ?? 4);
const STEPS = Number(process.env['STEPS'] ?? 500);
const LONG_STEPS = Number(process.env['LONG_STEPS'] ?? 800);
const ON_DISK = process.env['ON_DISK'];
/** `TRACE=1` prints every operation as it completes. */
const TRACE = process.env['TRACE'] === '1';
/** Every this many steps: a full comparison and `checkInvariants()`. */
const CHECKPOINT_STEPS = 100;
const SNAPSHOTS_LIVE_MAX = 4;
const ITERATORS_LIVE_MAX = 3;

/** Why a step failed: the seed, the step and the operation, so that it replays. */
class ModelMismatch extends Error {}

interface LiveSnapshot {
  snapshot: Snapshot;
  model: Model;
  takenAtStep: number;
}

interface LiveIterator {
  iterator: ShaleIterator<[Buffer, Buffer]>;
  cursor: ModelCursor;
  description: string;
}

interface RunStats {
  l0FilesMax: number;
  /** The deepest level that held a table at some point. */
  deepestLevel: number;
  flushes: number;
  compactRanges: number;
  reopens: number;
  refreshes: number;
}

/** A put's expiry: the argument passed (`ttl` or `expiresAt`) and the time the model expects it to expire. */
interface Expiry {
  argument: { ttl: number } | { expiresAt: number };
  expiresAtMs: number;
}
type WriteStep =
  | { kind: 'put'; key: Buffer; value: Buffer; expiry?: Expiry }
  | { kind: 'delete'; key: Buffer }
  | { kind: 'deleteRange'; start: Buffer; end: Buffer }
  | { kind: 'batch'; ops: BatchOp[] };
type BatchOp =
  | { type: 'put'; key: Buffer; value: Buffer; expiry?: Expiry }
  | { type: 'delete'; key: Buffer }
  | { type: 'deleteRange'; start: Buffer; end: Buffer };

/**
 * The test's clock and the database time it implies: the clock (`clockMs`) may
 * move back; the database's time is the largest clock reading it has seen, and
 * `nowMs` is what it would be at a read made now.
 */
class TestTime {
  clockMs = 1_700_000_000_000;
  #observedMs = 0;

  /** The `clock` option. */
  readonly clock = (): number => {
    this.#observedMs = Math.max(this.#observedMs, this.clockMs);
    return this.clockMs;
  };

  get nowMs(): number {
    return Math.max(this.#observedMs, this.clockMs);
  }

  /**
   * Before a reopen: the new database's time starts from the clock, so the clock
   * must not be behind (entries compacted away as expired would otherwise differ
   * from the model's), and what the old one observed no longer counts.
   */
  catchUp(): void {
    this.clockMs = this.nowMs;
    this.#observedMs = 0;
  }

  /**
   * Before another database looks (a read-only follower, a checkpoint's copy):
   * the clock must not be behind the writer's time, which goes on counting.
   */
  advanceToNow(): void {
    this.clockMs = this.nowMs;
  }
}

/**
 * A second open database's view of the test clock: each open database keeps its
 * own monotone time, so a read-only follower that read the clock before it moved
 * back stays ahead of a writer reopened since. Its model judges expiry by this.
 */
class FollowerTime implements ModelTime {
  readonly #time: TestTime;
  #observedMs = 0;

  constructor(time: TestTime) {
    this.#time = time;
  }

  /** The follower's `clock` option. */
  readonly clock = (): number => {
    this.#observedMs = Math.max(this.#observedMs, this.#time.clockMs);
    return this.#time.clockMs;
  };

  get nowMs(): number {
    return Math.max(this.#observedMs, this.#time.clockMs);
  }
}

/**
 * The options of one run: the sizes the issue asks for, the rest drawn so that
 * every path gets crossed. With `compaction`, small levels and output tables make
 * compactions (inline: the file system is in memory) fill L1 and deeper levels;
 * without it, every flush stays in L0.
 */
function runOptions(rng: Rng, fs: CrashableFS | undefined, compaction: boolean): { options: Options; label: string } {
  const tinyBlocks = rng.bool();
  const compression = rng.pick(['snappy', 'none'] as const);
  const bloomBitsPerKey = rng.pick([0, 1, 10]);
  const blockCacheBytes = rng.pick([0, 16 * 1024, 32 * 1024 * 1024]);
  // A table cache smaller than the table count: tables are closed and reopened
  // (by awaited gets, iterators and getSync's synchronous opens) all the time.
  const maxOpenFiles = rng.pick([1000, 3]);
  const verifyChecksums = rng.bool(0.8);
  const l0CompactionTrigger = rng.pick([2, 4]);
  const levelBaseBytes = rng.pick([4 * 1024, 32 * 1024]);
  const levelSizeMultiplier = rng.pick([2, 10]);
  const targetFileSizeBytes = rng.pick([1024, 8 * 1024]);
  // One frozen memtable at most makes writes wait for flushes; tiny write groups split bursts.
  const immutableMemtableCountMax = rng.pick([1, 2]);
  const writeGroupBytesMax = rng.pick([512, 1024 * 1024]);
  // Concurrent compactions (disjoint tables and ranges) and which levels compress.
  const compactionThreads = rng.pick([1, 2, 3]);
  const compressionMinLevel = rng.pick([0, 2]);
  // Prefix filters, of lengths the keys (1 to 6 bytes, mostly) cross.
  const bloomPrefixBytes = rng.pick([0, 0, 1, 2, 3]);
  // compactRange's subcompactions: key ranges merged side by side.
  const subcompactions = rng.pick([1, 2, 3]);
  const options: Options = {
    ...(fs === undefined ? { compactionExecutor: 'worker' as const } : { fs }),
    memtableSizeBytes: 4096,
    immutableMemtableCountMax,
    writeGroupBytesMax,
    memtableNodeSizeMax: 4,
    compression,
    bloomBitsPerKey,
    bloomPrefixBytes,
    blockCacheBytes,
    maxOpenFiles,
    verifyChecksums,
    subcompactions,
    ...(tinyBlocks ? { blockSizeBytes: 64, blockRestartInterval: 2 } : {}),
    ...(compaction ? { l0CompactionTrigger, levelBaseBytes, levelSizeMultiplier, targetFileSizeBytes, compactionThreads, compressionMinLevel } : { autoCompaction: false }),
  };
  const label =
    `${fs === undefined ? 'node:fs, worker' : 'CrashableFS'}, ` +
    `${tinyBlocks ? 'blocks 64/restart 2' : 'default blocks'}, ${compression}, bloom ${bloomBitsPerKey}, prefix ${bloomPrefixBytes}, ` +
    `immutables ${immutableMemtableCountMax}, write groups ${writeGroupBytesMax}, ` +
    `cache ${blockCacheBytes}, maxOpenFiles ${maxOpenFiles}, verifyChecksums ${verifyChecksums}, subcompactions ${subcompactions}, ` +
    (compaction
      ? `compaction: L0 trigger ${l0CompactionTrigger}, L1 ${levelBaseBytes} ×${levelSizeMultiplier}, tables ${targetFileSizeBytes}, ` +
        `${compactionThreads} at once, compressed from L${compressionMinLevel}`
      : 'no compaction');
  return { options, label };
}

class ModelRun {
  readonly #seed: number;
  readonly #replay: string;
  readonly #rng: Rng;
  readonly #dir: string;
  readonly #options: Options;
  readonly #time = new TestTime();
  readonly #model = new Model(this.#time);
  readonly #written: Buffer[];
  readonly #missing: Buffer[];
  readonly #probes: Buffer[];
  readonly #snapshots: LiveSnapshot[] = [];
  readonly #iterators: LiveIterator[] = [];
  readonly stats: RunStats = { l0FilesMax: 0, deepestLevel: 0, flushes: 0, compactRanges: 0, reopens: 0, refreshes: 0 };
  /** A read-only database on the same directory, and the state its view holds. */
  #follower: { db: DB; model: Model; time: FollowerTime } | undefined;
  readonly label: string;
  /** Set by the first step (open); `undefined` only if that open failed. */
  #db!: DB;
  #step = 0;
  #op = 'open';
  /** Checkpoints taken so far (each gets a directory of its own). */
  #copies = 0;
  readonly #compaction: boolean;

  /**
   * @param onDisk Run on node:fs in a temporary directory, compacting in the worker
   *   thread (slower, and not deterministic in when compactions land; the model
   *   does not care when they do).
   */
  constructor(seed: number, replay: string, compaction: boolean, onDisk = false) {
    this.#seed = seed;
    this.#replay = replay;
    this.#compaction = compaction;
    this.#rng = new Rng(seed);
    this.#dir = onDisk ? tempDir('shale-model-') : DIR;
    const { options, label } = runOptions(this.#rng, onDisk ? undefined : new CrashableFS(), compaction);
    this.#options = { ...options, clock: this.#time.clock };
    this.label = label;
    const { written, missing } = keySpace(this.#rng, this.#rng.range(20, 120));
    this.#written = written;
    this.#missing = missing;
    this.#probes = [...written, ...missing];
  }

  async run(steps: number): Promise<RunStats> {
    // A promise the engine never settles ends the test with nothing but "still
    // pending": say where the run stood.
    const reportHang = (): void => console.log(`# hung: no promise left to settle at ${this.#where()}`);
    process.once('beforeExit', reportHang);
    try {
      return await this.#runSteps(steps);
    } catch (err) {
      // Let go of the directory and the worker without waiting on an engine that may be wedged.
      void (this.#db as DB | undefined)?.close().catch(() => undefined);
      void this.#follower?.db.close().catch(() => undefined);
      throw err;
    } finally {
      process.off('beforeExit', reportHang);
    }
  }

  async #runSteps(steps: number): Promise<RunStats> {
    await this.#guard(async () => {
      this.#db = await DB.open(this.#dir, this.#options);
    });
    for (this.#step = 1; this.#step <= steps; this.#step++) {
      await this.#guard(() => this.#randomStep());
      if (TRACE) console.log(`# step ${this.#step}: ${this.#op}`);
      this.#noteLevels();
      if (this.#step % CHECKPOINT_STEPS === 0) {
        this.#op = 'checkpoint';
        await this.#guard(() => this.#checkpoint());
      }
    }
    this.#op = 'final reopen and checkpoint';
    await this.#guard(async () => {
      await this.#reopen();
      await this.#checkpoint();
      await this.#follow();
      await this.#follower?.db.close();
      await this.#db.close();
    });
    return this.stats;
  }

  /** Runs one step, turning any failure into one naming the seed, the step and the operation. */
  async #guard(body: () => Promise<void>): Promise<void> {
    try {
      await body();
    } catch (err) {
      if (err instanceof ModelMismatch) throw err;
      const detail = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
      throw new ModelMismatch(`${this.#where()}: unexpected error ${detail}`, { cause: err });
    }
  }

  #where(): string {
    return `seed ${this.#seed}, step ${this.#step}, op ${this.#op} [${this.label}] (replay: ${this.#replay})`;
  }

  #fail(what: string): never {
    throw new ModelMismatch(`${this.#where()}: ${what}`);
  }

  #expectValue(actual: Buffer | undefined, expected: Buffer | undefined, what: string): void {
    const same = actual === undefined || expected === undefined ? actual === expected : actual.equals(expected);
    if (!same) this.#fail(`${what}: got ${showValue(actual)}, expected ${showValue(expected)}`);
  }

  #expectEntries(actual: readonly Pair[], expected: readonly Pair[], what: string): void {
    const difference = firstDifference(actual, expected);
    if (difference !== undefined) this.#fail(`${what}: ${difference}`);
  }

  async #expectRejects(promise: Promise<unknown>, code: string, what: string): Promise<void> {
    try {
      await promise;
    } catch (err) {
      if (err instanceof ShaleError && err.code === code) return;
      this.#fail(`${what}: rejected with ${String(err)}, expected ShaleError ${code}`);
    }
    this.#fail(`${what}: resolved, expected ShaleError ${code}`);
  }

  #expectThrows(body: () => unknown, code: string, what: string): void {
    try {
      body();
    } catch (err) {
      if (err instanceof ShaleError && err.code === code) return;
      this.#fail(`${what}: threw ${String(err)}, expected ShaleError ${code}`);
    }
    this.#fail(`${what}: returned, expected ShaleError ${code}`);
  }

  #noteLevels(): void {
    const counts = this.#db.levelFileCounts();
    this.stats.l0FilesMax = Math.max(this.stats.l0FilesMax, counts[0] ?? 0);
    counts.forEach((count, level) => {
      if (count > 0) this.stats.deepestLevel = Math.max(this.stats.deepestLevel, level);
    });
  }

  async #randomStep(): Promise<void> {
    const rng = this.#rng;
    const roll = rng.int(1000);
    if (roll < 250) return this.#write(this.#randomWrite());
    if (roll < 300) return this.#burst();
    if (roll < 420) return this.#get();
    if (roll < 470) return this.#getMany();
    if (roll < 500) return this.#takeSnapshot();
    if (roll < 540) return this.#readSnapshot();
    if (roll < 640) return this.#iterate();
    if (roll < 680) return this.#openIterator();
    if (roll < 780) return this.#stepIterator();
    if (roll < 820) return this.#keysOrValues();
    if (roll < 850) return this.#flush();
    if (roll < 862) return this.#reopen();
    if (roll < 872 && this.#compaction) return this.#compactRange();
    if (roll >= 872 && roll < 877) return this.#copyCheckpoint();
    if (roll >= 880 && roll < 920) return this.#moveClock();
    if (roll >= 920 && roll < 940) return this.#follow();
    if (roll >= 940 && roll < 980) return this.#transaction();
    return this.#write(this.#randomWrite());
  }

  // ---- writes ----------------------------------------------------------------

  #randomKey(): Buffer {
    return this.#rng.pick(this.#written);
  }

  #randomProbe(): Buffer {
    return this.#rng.pick(this.#probes);
  }

  /** A range delete over two probes in order (sometimes equal: it deletes nothing), mostly narrow. */
  #randomRange(): { start: Buffer; end: Buffer } {
    let start = this.#randomProbe();
    let end = this.#randomProbe();
    if (Buffer.compare(start, end) > 0) [start, end] = [end, start];
    return { start, end };
  }

  #randomWrite(): WriteStep {
    const rng = this.#rng;
    if (rng.bool(0.06)) return { kind: 'deleteRange', ...this.#randomRange() };
    const roll = rng.int(10);
    if (roll < 6) return { kind: 'put', key: this.#randomKey(), value: randomValue(rng), ...this.#randomExpiry() };
    // Deletes mostly hit written keys; some remove what was never there.
    if (roll < 8) return { kind: 'delete', key: rng.bool(0.9) ? this.#randomKey() : rng.pick(this.#missing) };
    // A batch; sometimes over a handful of keys, so a key repeats and the last op must win.
    const pool = rng.bool(0.4) ? Array.from({ length: rng.range(1, 3) }, () => this.#randomKey()) : this.#written;
    const ops: BatchOp[] = Array.from({ length: rng.range(0, 20) }, (): BatchOp => {
      if (rng.bool(0.05)) return { type: 'deleteRange', ...this.#randomRange() };
      return rng.bool(0.7) ? { type: 'put', key: rng.pick(pool), value: randomValue(rng), ...this.#randomExpiry() } : { type: 'delete', key: rng.pick(pool) };
    });
    return { kind: 'batch', ops };
  }

  /** Usually nothing; sometimes a ttl, or an expiresAt (now and then one already past). */
  #randomExpiry(): { expiry?: Expiry } {
    const rng = this.#rng;
    const roll = rng.int(10);
    const nowMs = this.#time.nowMs;
    if (roll < 7) return {};
    if (roll < 9) {
      const ttl = rng.range(1, 150);
      return { expiry: { argument: { ttl }, expiresAtMs: nowMs + ttl } };
    }
    const expiresAt = Math.max(0, nowMs + rng.range(-50, 150));
    return { expiry: { argument: { expiresAt }, expiresAtMs: expiresAt } };
  }

  /** Moves the test's clock: mostly forward, sometimes back (the database's time stays where it was). */
  async #moveClock(): Promise<void> {
    const rng = this.#rng;
    const forward = rng.bool(0.8);
    const by = forward ? rng.range(0, 60) : -rng.range(1, 500);
    this.#time.clockMs += by;
    this.#op = `move the clock by ${by} ms (database time ${this.#time.nowMs})`;
    await this.#checkKeys(Array.from({ length: 4 }, () => this.#randomProbe()), 'read after the clock moved');
  }

  #describeWrite(write: WriteStep): string {
    const expiry = (e: Expiry | undefined): string => (e === undefined ? '' : ` ${JSON.stringify(e.argument)}→${e.expiresAtMs}`);
    if (write.kind === 'put') return `put ${showKey(write.key)} = ${showValue(write.value)}${expiry(write.expiry)}`;
    if (write.kind === 'delete') return `delete ${showKey(write.key)}`;
    if (write.kind === 'deleteRange') return `deleteRange ${showKey(write.start)}..${showKey(write.end)}`;
    const ops = write.ops.map((op) =>
      op.type === 'put'
        ? `put ${showKey(op.key)}=${showValue(op.value)}${expiry(op.expiry)}`
        : op.type === 'delete'
          ? `del ${showKey(op.key)}`
          : `delRange ${showKey(op.start)}..${showKey(op.end)}`,
    );
    return `batch of ${write.ops.length} [${ops.join(', ')}]`;
  }

  /** Issues `write` (not awaited), passing keys as Buffer, Uint8Array or string. */
  #issue(write: WriteStep): Promise<void> {
    const sync = { sync: this.#rng.bool(0.3) };
    if (write.kind === 'put') return this.#db.put(this.#keyArgument(write.key), write.value, { ...sync, ...write.expiry?.argument });
    if (write.kind === 'delete') return this.#db.delete(this.#keyArgument(write.key), sync);
    if (write.kind === 'deleteRange') return this.#db.deleteRange(this.#keyArgument(write.start), this.#keyArgument(write.end), sync);
    return this.#db.write(
      write.ops.map((op) =>
        op.type === 'deleteRange'
          ? { ...op, start: this.#keyArgument(op.start) }
          : op.type === 'put'
            ? { type: op.type, key: this.#keyArgument(op.key), value: op.value, ...op.expiry?.argument }
            : { type: op.type, key: this.#keyArgument(op.key) },
      ),
      sync,
    );
  }

  /** The key as the caller passes it: usually the Buffer, sometimes a plain Uint8Array or (ASCII keys) a string. */
  #keyArgument(key: Buffer): Buffer | Uint8Array | string {
    const roll = this.#rng.int(10);
    if (roll === 0) return new Uint8Array(key);
    if (roll === 1 && key.every((byte) => byte < 0x80)) return key.toString('latin1');
    return key;
  }

  #applyToModel(write: WriteStep): void {
    if (write.kind === 'put') this.#model.put(write.key, write.value, write.expiry?.expiresAtMs);
    else if (write.kind === 'delete') this.#model.delete(write.key);
    else if (write.kind === 'deleteRange') this.#model.deleteRange(write.start, write.end);
    else {
      for (const op of write.ops) {
        if (op.type === 'put') this.#model.put(op.key, op.value, op.expiry?.expiresAtMs);
        else if (op.type === 'delete') this.#model.delete(op.key);
        else this.#model.deleteRange(op.start, op.end);
      }
    }
  }

  /** The keys a write touched, to read back: a range delete's bounds and a few written keys it may have covered. */
  #keysOf(write: WriteStep): Buffer[] {
    const ranged = (start: Buffer, end: Buffer): Buffer[] => [start, end, ...this.#written.filter((key) => key.compare(start) >= 0 && key.compare(end) < 0).slice(0, 4)];
    if (write.kind === 'batch') return write.ops.flatMap((op) => (op.type === 'deleteRange' ? ranged(op.start, op.end) : [op.key]));
    return write.kind === 'deleteRange' ? ranged(write.start, write.end) : [write.key];
  }

  async #write(write: WriteStep): Promise<void> {
    this.#op = this.#describeWrite(write);
    await this.#issue(write);
    this.#applyToModel(write);
    await this.#checkKeys(this.#keysOf(write), 'read back after the write');
  }

  /** Several writes in flight at once (and sometimes a flush among them): they form groups and may rotate the memtable. */
  async #burst(): Promise<void> {
    const rng = this.#rng;
    const writes = Array.from({ length: rng.range(2, 12) }, () => this.#randomWrite());
    const flushAt = rng.bool(0.3) ? rng.int(writes.length) : -1;
    this.#op = `burst of ${writes.length}${flushAt >= 0 ? ` with a flush after #${flushAt}` : ''}: ${writes.map((w) => this.#describeWrite(w)).join('; ')}`;
    const pending: Promise<void>[] = [];
    writes.forEach((write, i) => {
      pending.push(this.#issue(write));
      if (i === flushAt) pending.push(this.#db.flush().then(() => void this.stats.flushes++));
    });
    await Promise.all(pending);
    for (const write of writes) this.#applyToModel(write);
    await this.#checkKeys(writes.flatMap((write) => this.#keysOf(write)), 'read back after the burst');
  }

  /**
   * A transaction (snapshot or serializable): gets and a bounded scan checked
   * against the model with its own writes merged in, puts and deletes, then a
   * commit (applied to the model in key order, as the transaction sends it) or
   * an abort. Sometimes a plain write to a key it wrote lands after its
   * snapshot: the commit must then fail with CONFLICT and change nothing.
   */
  async #transaction(): Promise<void> {
    const rng = this.#rng;
    const isolation = rng.bool() ? 'snapshot' : 'serializable';
    const tx = this.#db.transaction({ isolation });
    const own = new Map<string, Buffer | undefined>();
    const view = (key: Buffer): Buffer | undefined => (own.has(key.toString('hex')) ? own.get(key.toString('hex')) : this.#model.get(key));
    this.#op = `${isolation} transaction at ${tx.snapshotSequence}:`;
    const steps = rng.range(1, 8);
    for (let step = 0; step < steps; step++) {
      const roll = rng.int(10);
      const key = rng.bool(0.9) ? this.#randomKey() : this.#randomProbe();
      if (roll < 3) {
        this.#op += ` get ${showKey(key)}`;
        const getSync = rng.bool();
        this.#expectValue(getSync ? tx.getSync(this.#keyArgument(key)) : await tx.get(this.#keyArgument(key)), view(key), `transaction ${getSync ? 'getSync' : 'get'} ${showKey(key)}`);
      } else if (roll < 4) {
        const [low, high] = [this.#randomProbe(), this.#randomProbe()].sort(Buffer.compare) as [Buffer, Buffer];
        const reverse = rng.bool();
        this.#op += ` scan [${showKey(low)}, ${showKey(high)})${reverse ? ' reverse' : ''}`;
        const merged = new Map(this.#model.entries().map(([k, v]): [string, Buffer] => [k.toString('hex'), v]));
        for (const [hex, value] of own) value === undefined ? merged.delete(hex) : merged.set(hex, value);
        const expected = [...merged]
          .map(([hex, value]): Pair => [Buffer.from(hex, 'hex'), value])
          .filter(([k]) => Buffer.compare(k, low) >= 0 && Buffer.compare(k, high) < 0)
          .sort((a, b) => Buffer.compare(a[0], b[0]));
        if (reverse) expected.reverse();
        this.#expectEntries(await tx.iterator({ gte: low, lt: high, reverse }).all(), expected, 'transaction scan');
      } else if (roll < 8) {
        const value = randomValue(rng);
        this.#op += ` put ${showKey(key)}=${showValue(value)}`;
        tx.put(this.#keyArgument(key), value);
        own.set(key.toString('hex'), value);
      } else {
        this.#op += ` delete ${showKey(key)}`;
        tx.delete(this.#keyArgument(key));
        own.set(key.toString('hex'), undefined);
      }
    }
    if (rng.bool(0.15)) {
      this.#op += ' abort';
      tx.abort();
      return;
    }
    const written = [...own.keys()].sort().map((hex) => Buffer.from(hex, 'hex'));
    if (written.length > 0 && rng.bool(0.2)) {
      const clash = rng.pick(written);
      const value = randomValue(rng);
      this.#op += ` (a plain put ${showKey(clash)} lands first) commit`;
      await this.#db.put(clash, value);
      this.#model.put(clash, value);
      await this.#expectRejects(tx.commit({ sync: rng.bool(0.3) }), 'CONFLICT', 'a commit over a later write to its key');
    } else {
      this.#op += ' commit';
      await tx.commit({ sync: rng.bool(0.3) });
      for (const key of written) {
        const value = own.get(key.toString('hex'));
        if (value === undefined) this.#model.delete(key);
        else this.#model.put(key, value);
      }
    }
    await this.#checkKeys(written, 'read back after the transaction');
  }

  /** Compares `keys` one by one (get and getSync), and all together through getMany; then latestSequence. */
  async #checkKeys(keys: Buffer[], what: string): Promise<void> {
    for (const key of keys) {
      this.#expectValue(await this.#db.get(key), this.#model.get(key), `${what}: get ${showKey(key)}`);
      this.#expectValue(this.#db.getSync(key), this.#model.get(key), `${what}: getSync ${showKey(key)}`);
    }
    if (keys.length > 1) {
      const values = await this.#db.getMany(keys);
      keys.forEach((key, i) => this.#expectValue(values[i], this.#model.get(key), `${what}: getMany[${i}] ${showKey(key)}`));
    }
    if (this.#db.latestSequence !== BigInt(this.#model.sequence)) {
      this.#fail(`latestSequence ${this.#db.latestSequence}, expected ${this.#model.sequence}`);
    }
  }

  // ---- reads -----------------------------------------------------------------

  async #get(): Promise<void> {
    const key = this.#rng.bool(0.75) ? this.#randomKey() : this.#rng.pick(this.#missing);
    this.#op = `get ${showKey(key)}`;
    const argument = this.#keyArgument(key);
    // getSync answers the same, in the same state: no write can land between the two.
    const synchronous = this.#db.getSync(argument);
    this.#expectValue(await this.#db.get(argument), this.#model.get(key), 'get');
    this.#expectValue(synchronous, this.#model.get(key), 'getSync');
  }

  async #getMany(): Promise<void> {
    const keys = Array.from({ length: this.#rng.range(0, 12) }, () => this.#randomProbe());
    this.#op = `getMany [${keys.map(showKey).join(', ')}]`;
    const argumentsOf = keys.map((key) => this.#keyArgument(key));
    const synchronous = this.#db.getManySync(argumentsOf);
    const values = await this.#db.getMany(argumentsOf);
    if (values.length !== keys.length) this.#fail(`getMany returned ${values.length} values for ${keys.length} keys`);
    if (synchronous.length !== keys.length) this.#fail(`getManySync returned ${synchronous.length} values for ${keys.length} keys`);
    keys.forEach((key, i) => this.#expectValue(values[i], this.#model.get(key), `getMany[${i}] ${showKey(key)}`));
    keys.forEach((key, i) => this.#expectValue(synchronous[i], this.#model.get(key), `getManySync[${i}] ${showKey(key)}`));
  }

  /** Random iterator options: bounds from written and never-written keys, sometimes two on one side. */
  #randomIteratorOptions(): { options: IteratorOptions; range: ModelRange; reverse: boolean; limit: number; text: string } {
    const rng = this.#rng;
    const range: ModelRange = {};
    if (rng.bool(0.5)) range[rng.pick(['gt', 'gte'] as const)] = this.#randomProbe();
    if (rng.bool(0.5)) range[rng.pick(['lt', 'lte'] as const)] = this.#randomProbe();
    if (rng.bool(0.1)) range[rng.pick(['gt', 'gte', 'lt', 'lte'] as const)] = this.#randomProbe();
    if (rng.bool(0.15)) {
      // The range of one key prefix, as prefix filters serve it.
      const probe = this.#randomProbe();
      const prefix = probe.subarray(0, rng.range(1, Math.max(1, Math.min(3, probe.length))));
      const successor = prefixSuccessor(prefix);
      delete range.gt;
      delete range.lte;
      range.gte = prefix;
      if (successor === undefined) delete range.lt;
      else range.lt = successor;
    }
    const reverse = rng.bool(0.4);
    const limit = rng.pick([Infinity, Infinity, -1, 0, 1, 2, 5, 17, 100]);
    const copy = rng.bool(0.7);
    const options: IteratorOptions = {
      ...range,
      ...(reverse || rng.bool() ? { reverse } : {}),
      ...(limit !== Infinity || rng.bool() ? { limit } : {}),
      ...(copy ? {} : { copy }),
    };
    const text = `{${showRange(range)}${reverse ? ', reverse' : ''}${limit !== Infinity ? `, limit ${limit}` : ''}${copy ? '' : ', copy: false'}}`;
    return { options, range, reverse, limit, text };
  }

  /** A whole iteration: all(), for await (maybe breaking), or next/nextv with seeks. */
  async #iterate(model = this.#model, snapshot?: Snapshot): Promise<void> {
    const rng = this.#rng;
    const { options, range, reverse, limit, text } = this.#randomIteratorOptions();
    const withSnapshot = snapshot === undefined ? options : { ...options, snapshot };
    const cursor = new ModelCursor(model.timedEntries(), range, reverse, limit, this.#time);
    const iterator = this.#db.iterator(withSnapshot);
    const mode = rng.int(3);
    const base = `${snapshot === undefined ? '' : `snapshot ${snapshot.sequence} `}iterator ${text}`;
    if (mode === 0) {
      this.#op = `${base} all()`;
      this.#expectEntries(await iterator.all(), cursor.rest(), 'all()');
    } else if (mode === 1) {
      const breakAfter = rng.bool(0.5) ? rng.int(20) : Infinity;
      this.#op = `${base} for await${breakAfter !== Infinity ? `, break after ${breakAfter + 1}` : ''}`;
      const seen: Pair[] = [];
      let broke = false;
      for await (const entry of iterator) {
        seen.push(entry);
        if (seen.length > breakAfter) {
          broke = true;
          break;
        }
      }
      this.#expectEntries(seen, broke ? cursor.take(seen.length) : cursor.rest(), 'for await');
      await this.#expectRejects(iterator.next(), 'NOT_OPEN', 'next() after for await ended');
    } else {
      this.#op = `${base} by steps:`;
      await this.#walk({ iterator, cursor, description: base }, rng.range(1, 12));
      await iterator.close();
    }
  }

  /** `count` random moves on a live iterator: next, nextv or seek. */
  async #walk(live: LiveIterator, count: number): Promise<void> {
    const rng = this.#rng;
    for (let move = 0; move < count; move++) {
      const roll = rng.int(10);
      if (roll < 4) {
        this.#op += ' next';
        const entry = await live.iterator.next();
        this.#expectEntries(entry === undefined ? [] : [entry], live.cursor.take(1), 'next()');
      } else if (roll < 8) {
        const size = rng.range(0, 40);
        this.#op += ` nextv(${size})`;
        this.#expectEntries(await live.iterator.nextv(size), live.cursor.take(size), `nextv(${size})`);
      } else {
        const target = this.#randomProbe();
        this.#op += ` seek(${showKey(target)})`;
        live.iterator.seek(this.#keyArgument(target));
        live.cursor.seek(target);
      }
    }
  }

  async #keysOrValues(): Promise<void> {
    const { options, range, reverse, limit, text } = this.#randomIteratorOptions();
    const expected = new ModelCursor(this.#model.entries(), range, reverse, limit).rest();
    if (this.#rng.bool()) {
      this.#op = `keys ${text}`;
      const keys = await this.#db.keys(options).all();
      this.#expectEntries(keys.map((key): Pair => [key, Buffer.alloc(0)]), expected.map(([key]): Pair => [key, Buffer.alloc(0)]), 'keys()');
    } else {
      this.#op = `values ${text}`;
      const values = await this.#db.values(options).all();
      const actual = values.map((value, i): Pair => [expected[i]?.[0] ?? Buffer.from('?'), value]);
      this.#expectEntries(actual, expected, 'values()');
    }
  }

  // ---- snapshots and long-lived iterators ---------------------------------------

  async #takeSnapshot(): Promise<void> {
    if (this.#snapshots.length >= SNAPSHOTS_LIVE_MAX) return this.#readSnapshot();
    const snapshot = this.#db.snapshot();
    this.#op = `take snapshot ${snapshot.sequence}`;
    if (snapshot.sequence !== BigInt(this.#model.sequence)) this.#fail(`snapshot at ${snapshot.sequence}, expected ${this.#model.sequence}`);
    this.#snapshots.push({ snapshot, model: this.#model.clone(), takenAtStep: this.#step });
  }

  /** Reads through a live snapshot (get, getMany, an iteration) and sometimes releases it. */
  async #readSnapshot(): Promise<void> {
    if (this.#snapshots.length === 0) return this.#takeSnapshot();
    const rng = this.#rng;
    const index = rng.int(this.#snapshots.length);
    const { snapshot, model, takenAtStep } = this.#snapshots[index]!;
    const keys = Array.from({ length: rng.range(1, 8) }, () => this.#randomProbe());
    this.#op = `read snapshot ${snapshot.sequence} (taken at step ${takenAtStep}): get/getMany [${keys.map(showKey).join(', ')}]`;
    for (const key of keys) {
      this.#expectValue(await this.#db.get(key, { snapshot }), model.get(key), `get ${showKey(key)} at the snapshot`);
      this.#expectValue(this.#db.getSync(key, { snapshot }), model.get(key), `getSync ${showKey(key)} at the snapshot`);
    }
    const values = await this.#db.getMany(keys, { snapshot });
    keys.forEach((key, i) => this.#expectValue(values[i], model.get(key), `getMany[${i}] ${showKey(key)} at the snapshot`));
    const synchronous = this.#db.getManySync(keys, { snapshot });
    keys.forEach((key, i) => this.#expectValue(synchronous[i], model.get(key), `getManySync[${i}] ${showKey(key)} at the snapshot`));
    await this.#iterate(model, snapshot);
    if (rng.bool(0.3)) {
      this.#op = `full scan at snapshot ${snapshot.sequence} (taken at step ${takenAtStep})`;
      this.#expectEntries(await this.#db.iterator({ snapshot }).all(), model.entries(), 'full scan at the snapshot');
    }
    if (rng.bool(0.4)) {
      this.#op = `release snapshot ${snapshot.sequence} (taken at step ${takenAtStep})`;
      snapshot.release();
      this.#snapshots.splice(index, 1);
      await this.#expectRejects(this.#db.get(this.#randomKey(), { snapshot }), 'INVALID_ARGUMENT', 'get through a released snapshot');
      this.#expectThrows(() => this.#db.getSync(this.#written[0]!, { snapshot }), 'INVALID_ARGUMENT', 'getSync through a released snapshot');
    }
  }

  /** An iterator kept across later steps (writes, flushes): it must keep showing the state of its creation. */
  async #openIterator(): Promise<void> {
    if (this.#iterators.length >= ITERATORS_LIVE_MAX) return this.#stepIterator();
    const { options, range, reverse, limit, text } = this.#randomIteratorOptions();
    const description = `long-lived iterator ${text} from step ${this.#step}`;
    this.#op = `open ${description}`;
    const live = { iterator: this.#db.iterator(options), cursor: new ModelCursor(this.#model.timedEntries(), range, reverse, limit, this.#time), description };
    this.#iterators.push(live);
    // Sometimes build it now, sometimes only after later writes.
    if (this.#rng.bool()) await this.#walk(live, 1);
  }

  async #stepIterator(): Promise<void> {
    if (this.#iterators.length === 0) return this.#openIterator();
    const rng = this.#rng;
    const index = rng.int(this.#iterators.length);
    const live = this.#iterators[index]!;
    this.#op = `${live.description}:`;
    await this.#walk(live, rng.range(1, 4));
    if (rng.bool(0.15)) {
      this.#op += ' close';
      await live.iterator.close();
      this.#iterators.splice(index, 1);
      await this.#expectRejects(live.iterator.next(), 'NOT_OPEN', 'next() after close()');
    }
  }

  // ---- the read-only follower ------------------------------------------------

  /**
   * Opens the follower, or checks that its view still holds the state it loaded
   * (whatever the writer flushed, compacted or deleted since) and refreshes it to
   * the model's state; sometimes reopens it instead.
   */
  async #follow(): Promise<void> {
    // The follower keeps its own monotone time (FollowerTime). Behind the writer's it would read as live what the
    // writer's compactions already dropped as expired; ahead of it, it agrees with its own model. So the clock
    // catches up with the writer's time before every look.
    this.#time.advanceToNow();
    const follower = this.#follower;
    if (follower === undefined || this.#rng.bool(0.1)) {
      this.#op = follower === undefined ? 'open a read-only follower' : 'reopen the read-only follower';
      await follower?.db.close();
      const time = new FollowerTime(this.#time);
      this.#follower = { db: await DB.open(this.#dir, { ...this.#options, readOnly: true, clock: time.clock }), model: this.#model.clone(time), time };
    } else {
      this.#op = `refresh the read-only follower (its view from sequence ${follower.db.latestSequence})`;
      this.#expectEntries(await follower.db.iterator().all(), follower.model.entries(), 'the follower\'s view before refresh()');
      await this.#expectRejects(follower.db.put(this.#randomKey(), Buffer.from('x')), 'READ_ONLY', 'a put on the follower');
      await follower.db.refresh();
      follower.model = this.#model.clone(follower.time);
      this.stats.refreshes++;
    }
    const { db, model } = this.#follower!;
    db.checkInvariants();
    if (db.latestSequence !== BigInt(model.sequence)) this.#fail(`the follower's latestSequence ${db.latestSequence}, expected ${model.sequence}`);
    this.#expectEntries(await db.iterator({ reverse: true }).all(), [...model.entries()].reverse(), "the follower's full reverse scan");
    const synchronous = db.getManySync(this.#probes);
    this.#probes.forEach((key, i) => this.#expectValue(synchronous[i], model.get(key), `the follower's getManySync: ${showKey(key)}`));
  }

  // ---- flush, reopen, checkpoints ----------------------------------------------

  async #flush(): Promise<void> {
    this.#op = 'flush';
    await this.#db.flush();
    this.stats.flushes++;
    // Nothing waits to be flushed: every write so far is in a table or in nothing at all.
    const tables = this.#db.levelFileCounts().reduce((sum, count) => sum + count, 0);
    if (this.#model.sequence > 0 && tables === 0) this.#fail('flush resolved but no table exists');
  }

  /** Compacts a random key range (or everything) down the levels, then reads back a few keys. */
  async #compactRange(): Promise<void> {
    const rng = this.#rng;
    let start = rng.bool(0.7) ? this.#randomProbe() : undefined;
    let end = rng.bool(0.7) ? this.#randomProbe() : undefined;
    if (start !== undefined && end !== undefined && Buffer.compare(start, end) > 0) [start, end] = [end, start];
    this.#op = `compactRange(${start === undefined ? 'open' : showKey(start)}, ${end === undefined ? 'open' : showKey(end)})`;
    await this.#db.compactRange(start, end);
    this.stats.compactRanges++;
    this.#db.checkInvariants();
    await this.#checkKeys(Array.from({ length: 5 }, () => this.#randomProbe()), 'read back after compactRange');
  }

  /**
   * db.checkpoint with nothing in flight: the copy opens with exactly the model's
   * content and sequence, and the source goes on unchanged.
   */
  async #copyCheckpoint(): Promise<void> {
    this.#copies++;
    const target = this.#dir === DIR ? `${DIR}-checkpoint-${this.#copies}` : `${tempDir('shale-model-checkpoint-')}/copy`;
    this.#op = `db.checkpoint(${target})`;
    const result = await this.#db.checkpoint(target);
    if (result.sequence !== BigInt(this.#model.sequence)) this.#fail(`checkpoint sequence ${result.sequence}, expected ${this.#model.sequence}`);
    // A new database's time starts from the clock (nothing about time is persisted): the clock must not be behind the writer's.
    this.#time.advanceToNow();
    const copy = await DB.open(target, { ...this.#options, createIfMissing: false });
    try {
      copy.checkInvariants();
      if (copy.latestSequence !== BigInt(this.#model.sequence)) this.#fail(`the checkpoint's latestSequence ${copy.latestSequence}, expected ${this.#model.sequence}`);
      this.#expectEntries(await copy.iterator().all(), this.#model.entries(), 'full scan of the checkpoint');
    } finally {
      await copy.close();
    }
  }

  /** close + open on the same file system. Live iterators end with NOT_OPEN; live snapshots belong to the old DB. */
  async #reopen(): Promise<void> {
    this.#op = `reopen (${this.#iterators.length} live iterators, ${this.#snapshots.length} live snapshots)`;
    const old = this.#db;
    await old.close();
    this.stats.reopens++;
    this.#time.catchUp();
    for (const live of this.#iterators.splice(0)) {
      await this.#expectRejects(live.iterator.next(), 'NOT_OPEN', `${live.description}: next() after the database closed`);
    }
    await this.#expectRejects(old.get(this.#randomKey()), 'NOT_OPEN', 'get on the closed database');
    this.#expectThrows(() => old.getSync(this.#written[0]!), 'NOT_OPEN', 'getSync on the closed database');
    this.#db = await DB.open(this.#dir, this.#options);
    for (const { snapshot } of this.#snapshots.splice(0)) {
      await this.#expectRejects(this.#db.get(this.#randomKey(), { snapshot }), 'INVALID_ARGUMENT', 'a snapshot of the closed database');
    }
    if (this.#db.latestSequence !== BigInt(this.#model.sequence)) {
      this.#fail(`latestSequence after reopen ${this.#db.latestSequence}, expected ${this.#model.sequence}`);
    }
  }

  /** The full comparison: forward and reverse scans, every key through getMany, the invariants. */
  async #checkpoint(): Promise<void> {
    const db = this.#db;
    db.checkInvariants();
    const expected = this.#model.entries();
    this.#expectEntries(await db.iterator().all(), expected, 'full forward scan');
    this.#expectEntries(await db.iterator({ reverse: true }).all(), [...expected].reverse(), 'full reverse scan');
    const values = await db.getMany(this.#probes);
    this.#probes.forEach((key, i) => this.#expectValue(values[i], this.#model.get(key), `getMany of every key: ${showKey(key)}`));
    const synchronous = db.getManySync(this.#probes);
    this.#probes.forEach((key, i) => this.#expectValue(synchronous[i], this.#model.get(key), `getManySync of every key: ${showKey(key)}`));
    if (db.latestSequence !== BigInt(this.#model.sequence)) this.#fail(`latestSequence ${db.latestSequence}, expected ${this.#model.sequence}`);
    for (const { snapshot, model, takenAtStep } of this.#snapshots) {
      this.#expectEntries(await db.iterator({ snapshot }).all(), model.entries(), `full scan at snapshot ${snapshot.sequence} (taken at step ${takenAtStep})`);
    }
  }
}

describe('model-based: shale against a sorted map', () => {
  it(`${SEEDS} seeded runs of ${STEPS} random operations, with compactions, match the model at every step`, async () => {
    const base = testSeed('model-based short runs');
    let deepest = 0;
    for (let i = 0; i < SEEDS; i++) {
      const seed = (base + i) >>> 0;
      // The last run goes through node:fs and the worker thread (ON_DISK=1 or 0 forces every run one way).
      const onDisk = ON_DISK === undefined ? i === SEEDS - 1 : ON_DISK === '1';
      const run = new ModelRun(seed, `SEED=${seed} SEEDS=1 ON_DISK=${onDisk ? 1 : 0} --test-name-pattern="with compactions"`, true, onDisk);
      // fsync and the worker make a step on disk slower: half as many.
      const steps = onDisk ? Math.ceil(STEPS / 2) : STEPS;
      const stats = await run.run(steps);
      deepest = Math.max(deepest, stats.deepestLevel);
      console.log(
        `# seed ${seed} [${run.label}]: ${steps} steps, ${stats.flushes} flushes, ${stats.compactRanges} compactRange, ` +
          `${stats.reopens} reopens, ${stats.refreshes} follower refreshes, L0 files max ${stats.l0FilesMax}, deepest level ${stats.deepestLevel}`,
      );
    }
    // Reads must have crossed L1 and deeper (level iterators, binary search by key), not only L0.
    assert.ok(deepest >= 2, `seeds ${base}..${base + SEEDS - 1}: tables never went deeper than L${deepest}`);
  });

  it(`a long run of ${LONG_STEPS} operations without compaction matches the model while L0 grows past 20 tables`, async () => {
    const seed = testSeed('model-based long run');
    const run = new ModelRun(seed, `SEED=${seed} --test-name-pattern="long run"`, false);
    const stats = await run.run(LONG_STEPS);
    console.log(`# long run seed ${seed} [${run.label}]: ${stats.flushes} flushes, ${stats.reopens} reopens, L0 files max ${stats.l0FilesMax}`);
    assert.ok(stats.l0FilesMax > 20, `seed ${seed}: L0 reached only ${stats.l0FilesMax} tables; the long run must read through many`);
  });
});
