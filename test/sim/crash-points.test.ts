/**
 * Exhaustive crash points (sim/crash-points.ts): for each operation that changes
 * the database's files — creating a database, switching the WAL with the
 * memtable, a flush, a compaction, a MANIFEST rotation — crash right after every
 * one of its mutating file operations, in every crash mode, reopen, and check the
 * oracle: the open succeeds, the database is a prefix of the writes holding every
 * acknowledged sync write, and open leaves no temp or orphan files.
 * `CRASH_POINT_VARIANTS=n` takes n random crash states per point and mode (default 1).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DB } from '../../src/db/db.js';
import { ShaleError } from '../../src/errors.js';
import type { Options } from '../../src/options.js';
import { Rng } from '../../src/testing/rng.js';
import { CrashPointFS } from '../../sim/crash-point-fs.js';
import { exploreCrashPoints, type CrashPointCase, type CrashPointContext } from '../../sim/crash-points.js';
import { DIR } from '../../sim/simulate.js';
import { WorkloadGen, encodeValue, keyOf, type SimOp, type SimWrite, type WorkloadShape } from '../../sim/workload.js';
import { CrashableFS } from '../../src/testing/crashable-fs.js';

const VARIANTS = Number(process.env['CRASH_POINT_VARIANTS'] ?? 1);
const SHAPE: WorkloadShape = { keyCount: 64, hotKeyCount: 16, syncProbability: 0.5, deleteProbability: 0.2, batchProbability: 0.25, padBytesMax: 120 };
const KEYS = Array.from({ length: SHAPE.keyCount }, (_, i) => keyOf(i));

const TINY: Options = {
  memtableSizeBytes: 4 * 1024,
  blockSizeBytes: 256,
  targetFileSizeBytes: 8 * 1024,
  levelBaseBytes: 32 * 1024,
  manifestSizeBytesMax: 4 * 1024,
  compactionExecutor: 'inline',
  l0CompactionTrigger: 4,
  l0SlowdownTrigger: 8,
  l0StopTrigger: 8,
  // Two compactions at once: crashes land between concurrent installs too.
  compactionThreads: 2,
  // compactRange in two key ranges side by side: crashes land between their outputs too.
  subcompactions: 2,
};
/** A memtable large enough that only explicit flushes write tables. */
const MANUAL: Options = { ...TINY, memtableSizeBytes: 256 * 1024, autoCompaction: false };

/** A deterministic stream of writes, the same for every run of a case. */
function writes(shape = SHAPE): { next(sync?: boolean): ReturnType<WorkloadGen['nextWrite']> } {
  const gen = new WorkloadGen(new Rng(0x5eed), shape);
  let writeId = 1;
  return {
    next(sync) {
      const write = gen.nextWrite(writeId++);
      return sync === undefined ? write : { ...write, sync };
    },
  };
}

async function open(ctx: CrashPointContext, options: Options): Promise<DB> {
  return DB.open(DIR, { ...options, fs: ctx.fs });
}

/** `count` writes one at a time, then `inFlight` more left pending (returned). */
async function writeSome(ctx: CrashPointContext, db: DB, stream: ReturnType<typeof writes>, count: number, inFlight = 0): Promise<Promise<void>[]> {
  for (let i = 0; i < count; i++) await ctx.write(db, stream.next());
  return Array.from({ length: inFlight }, (_, i) => ctx.write(db, stream.next(i === inFlight - 1 ? false : undefined)));
}

/** How many single writes of the stream a fresh database takes before the one that switches the WAL. */
async function writesBeforeRotation(): Promise<number> {
  const fs = new CrashPointFS(new CrashableFS());
  const db = await DB.open(DIR, { ...TINY, fs });
  let logs = 0;
  fs.onMutation = (_count, op, path) => {
    if (op === 'create' && path.endsWith('.log')) logs++;
  };
  const stream = writes();
  let count = 0;
  while (logs === 0) {
    await db.write(stream.next().ops.map((op) => (op.type === 'put' ? { type: 'put' as const, key: op.key, value: op.value } : { type: 'delete' as const, key: op.key })));
    count++;
  }
  await db.close();
  return count - 1;
}

function manifestSize(fs: CrashPointFS): number {
  const manifest = fs.inner.listAll().find((file) => file.startsWith(`${DIR}/MANIFEST-`));
  return fs.inner.fileInfo(manifest!)!.size;
}

const rotationAfter = await writesBeforeRotation();

const cases: { testCase: CrashPointCase; hallmark: RegExp }[] = [
  {
    hallmark: /^rename .*CURRENT$/m,
    testCase: {
      name: 'creating a database',
      options: TINY,
      setup: async () => undefined,
      operation: (ctx) => open(ctx, TINY),
    },
  },
  {
    hallmark: /^create .*\d+\.log$/m,
    testCase: {
      name: 'WAL rotation',
      options: TINY,
      setup: async (ctx) => {
        const db = await open(ctx, TINY);
        await writeSome(ctx, db, writes(), rotationAfter - 2);
        return db;
      },
      operation: async (ctx, db) => {
        // The stream continues where setup stopped: the same writes as the trial run.
        const stream = writes();
        for (let i = 0; i < rotationAfter - 2; i++) stream.next();
        await ctx.write(db!, stream.next(false));
        // The last write the old memtable takes, alone in its group; then the rotating
        // write with three more behind it, in flight together (one group).
        await ctx.write(db!, stream.next(false));
        await Promise.all([ctx.write(db!, stream.next(true)), ...Array.from({ length: 3 }, () => ctx.write(db!, stream.next()))]);
        return db;
      },
    },
  },
  {
    hallmark: /^create .*\.sst$/m,
    testCase: {
      name: 'flush',
      options: MANUAL,
      setup: async (ctx) => {
        const db = await open(ctx, MANUAL);
        await writeSome(ctx, db, writes(), 40);
        return db;
      },
      operation: async (ctx, db) => {
        const stream = writes();
        for (let i = 0; i < 40; i++) stream.next();
        // Unsynced writes still in flight when the flush is queued behind them.
        const pending = [ctx.write(db!, stream.next(false)), ctx.write(db!, stream.next(false))];
        await db!.flush();
        await Promise.all(pending);
        return db;
      },
    },
  },
  {
    // Two outputs, then the inputs deleted.
    hallmark: /^create .*\.sst$[^]*^create .*\.sst$[^]*^remove .*\.sst$/m,
    testCase: {
      name: 'compaction',
      options: MANUAL,
      setup: async (ctx) => {
        const db = await open(ctx, MANUAL);
        // Larger values: the merged level is over twice the 8 KiB target, so the compaction cuts several outputs.
        const stream = writes({ ...SHAPE, padBytesMax: 400 });
        for (let round = 0; round < 4; round++) {
          await writeSome(ctx, db, stream, 60);
          await db.flush();
        }
        await db.compactRange();
        for (let round = 0; round < 3; round++) {
          await writeSome(ctx, db, stream, 40);
          await db.flush();
        }
        // Unsynced writes in the memtable and its log, untouched by the compaction.
        await writeSome(ctx, db, stream, 0, 3);
        await ctx.write(db, stream.next(false));
        return db;
      },
      operation: async (_ctx, db) => {
        await db!.compactRange(keyOf(0), keyOf(SHAPE.keyCount));
        return db;
      },
    },
  },
  {
    hallmark: /^create .*MANIFEST-\d+$[^]*^rename .*CURRENT$/m,
    testCase: {
      name: 'MANIFEST rotation',
      options: { ...MANUAL, manifestSizeBytesMax: 1024 },
      setup: async (ctx) => {
        const db = await open(ctx, { ...MANUAL, manifestSizeBytesMax: 1024 });
        const stream = writes();
        while (manifestSize(ctx.fs) <= 1024) {
          await writeSome(ctx, db, stream, 3);
          await db.flush();
        }
        return db;
      },
      operation: async (ctx, db) => {
        const stream = writes();
        for (let i = 0; i < 2000; i++) stream.next();
        const pending = [ctx.write(db!, stream.next(true)), ctx.write(db!, stream.next(false))];
        await db!.flush();
        await Promise.all(pending);
        return db;
      },
    },
  },
];

// Not one of the brief's operations, but the state keep-blocks and garbage-blocks
// are made for: many unsynced records over several 4 KiB pages, where a damaged
// page can be followed by intact ones (which recovery must drop, not apply).
cases.push({
  hallmark: /^append .*\.log$/m,
  testCase: {
    name: 'a long unsynced WAL tail',
    options: MANUAL,
    setup: async (ctx) => {
      const db = await open(ctx, MANUAL);
      await writeSome(ctx, db, writes(), 20);
      return db;
    },
    operation: async (ctx, db) => {
      const stream = writes();
      for (let i = 0; i < 20; i++) stream.next();
      for (let i = 0; i < 60; i++) await ctx.write(db!, stream.next(i === 30));
      return db;
    },
  },
});

/**
 * A transaction commit with `ops` deduplicated (the last op of a key wins) and
 * sorted, as the transaction sends them, recorded in the history like a write;
 * resolves when acknowledged. `interloper`, if given, is a plain write issued
 * after the transaction's snapshot to a key it writes: the commit must then fail
 * with CONFLICT and stay out of the history.
 */
function commitTransaction(ctx: CrashPointContext, db: DB, write: SimWrite, interloper?: SimWrite): Promise<void> {
  const byKey = new Map<string, SimOp>();
  for (const op of write.ops) byKey.set(op.key.toString('latin1'), op);
  const ops = [...byKey.values()].sort((a, b) => Buffer.compare(a.key, b.key));
  const tx = db.transaction({ isolation: write.writeId % 2 === 0 ? 'serializable' : 'snapshot' });
  for (const op of ops) {
    if (op.type === 'put') tx.put(op.key, op.value);
    else tx.delete(op.key);
  }
  if (interloper !== undefined) {
    const clash = { ...interloper, ops: [...interloper.ops, ops[0]!.type === 'put' ? { type: 'delete' as const, key: ops[0]!.key } : { ...ops[0]! }] };
    void ctx.write(db, clash);
    return tx.commit({ sync: write.sync }).then(
      () => assert.fail('a transaction committed over a write to its key after its snapshot'),
      (err: unknown) => assert.ok(err instanceof ShaleError && err.code === 'CONFLICT', String(err)),
    );
  }
  const index = ctx.history.issue({ ...write, kind: 'transaction', ops });
  return tx.commit({ sync: write.sync }).then(() => ctx.history.ack(index));
}

// Transaction commits in one write group with plain writes, one refused for a
// conflict: every committed transaction is a batch, all of it or none of it.
cases.push({
  hallmark: /^append .*\.log$/m,
  testCase: {
    name: 'transaction commits',
    options: MANUAL,
    setup: async (ctx) => {
      const db = await open(ctx, MANUAL);
      await writeSome(ctx, db, writes(), 20);
      return db;
    },
    operation: async (ctx, db) => {
      const stream = writes({ ...SHAPE, batchProbability: 1 });
      for (let i = 0; i < 20; i++) stream.next();
      await commitTransaction(ctx, db!, stream.next(true));
      // In flight together, on disjoint keys: only the one with an interloper conflicts.
      const taken = new Set<string>();
      const disjoint = (write: SimWrite): SimWrite => {
        const ops = write.ops.filter((op) => !taken.has(op.key.toString('latin1')));
        for (const op of write.ops) taken.add(op.key.toString('latin1'));
        const own = keyOf(SHAPE.keyCount + write.writeId);
        return { ...write, ops: ops.length > 0 ? ops : [{ type: 'put', key: own, value: encodeValue(own, write.writeId, 0, 8) }] };
      };
      const group = [stream.next(false), stream.next(false), stream.next(false), stream.next(false), stream.next(true)].map(disjoint);
      await Promise.all([
        commitTransaction(ctx, db!, group[0]!),
        ctx.write(db!, group[1]!),
        commitTransaction(ctx, db!, group[2]!, group[3]!),
        commitTransaction(ctx, db!, group[4]!),
      ]);
      await commitTransaction(ctx, db!, stream.next(false));
      return db;
    },
  },
});

describe('exhaustive crash points: every mutating file operation, every crash mode', () => {
  for (const { testCase, hallmark } of cases) {
    it(`${testCase.name}: every crash state reopens to a prefix holding every acknowledged sync write, with no orphan files`, async () => {
      const started = process.hrtime.bigint();
      const report = await exploreCrashPoints(testCase, KEYS, 0xc0ffee, VARIANTS);
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      console.log(`# ${testCase.name}: ${report.points} crash points, ${report.reopens} crash states reopened, ${ms.toFixed(0)} ms`);
      const log = report.log.map((record) => `${record.op} ${record.path}`).join('\n');
      assert.match(log, hallmark, `${testCase.name} did not do what it is named after`);
      assert.deepEqual(report.violations.slice(0, 5), [], `${report.violations.length} of ${report.reopens} crash states broke the oracle`);
    });
  }
});
