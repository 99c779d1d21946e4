/**
 * Exhaustive crash points (sim/crash-points.ts): for each operation that changes
 * the database's files — creating a database, switching the WAL with the
 * memtable, a flush, a compaction, a MANIFEST rotation, a repair — crash right after every
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
import { SIM_EPOCH_MS, WorkloadGen, batchOpOf, encodeValue, keyOf, type SimOp, type SimWrite, type WorkloadShape } from '../../sim/workload.js';
import { CrashableFS } from '../../src/testing/crashable-fs.js';
import { checkCheckpointTarget } from '../../sim/checkpoint-oracle.js';
import { Violation, type CrashMark } from '../../sim/oracle.js';
import { listBackups, purgeOldBackups, restoreBackup, verifyBackup } from '../../src/backup/backup-engine.js';

const VARIANTS = Number(process.env['CRASH_POINT_VARIANTS'] ?? 1);
const SHAPE: WorkloadShape = { keyCount: 64, hotKeyCount: 16, syncProbability: 0.5, deleteProbability: 0.2, batchProbability: 0.25, padBytesMax: 120, rangeDeleteProbability: 0.25 };
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

/**
 * A deterministic stream of writes, the same for every run of a case; some puts
 * expire (far in the future, or before they are written: sim/workload.ts).
 */
function writes(shape = SHAPE): { next(sync?: boolean): ReturnType<WorkloadGen['nextWrite']> } {
  const gen = new WorkloadGen(new Rng(0x5eed), shape, new Rng(0x7717));
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
    await db.write(stream.next().ops.map(batchOpOf));
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

// The expiry paths: a table whose data expired after it reached the last level is
// rewritten in place (compactRange's rewrite, the picker's last-level case), and
// an L0 table of expired data is picked by its expiry alone. The clock stands at 0
// while setup writes, so the stream's expired puts (expiresAt before SIM_EPOCH_MS)
// are live then and reach the tables; it moves to SIM_EPOCH_MS before the
// operation, and every crash state reopens at that time, where the oracle's
// reading of them (deletes) holds.
const caseTime = { ms: 0 };
const EXPIRY: Options = { ...MANUAL, levelCountMax: 2, clock: () => caseTime.ms };
cases.push({
  // The rewritten table's outputs, then the input removed.
  hallmark: /^create .*\.sst$[^]*^remove .*\.sst$/m,
  testCase: {
    name: 'rewriting an expired last-level table in place',
    options: EXPIRY,
    setup: async (ctx) => {
      caseTime.ms = 0;
      const db = await open(ctx, EXPIRY);
      await writeSome(ctx, db, writes(), 80);
      await db.compactRange();
      caseTime.ms = SIM_EPOCH_MS;
      return db;
    },
    operation: async (_ctx, db) => {
      // Nothing above the last level: only the rewrite in place can run.
      assert.deepEqual(db!.levelFileCounts().slice(0, 1), [0]);
      await db!.compactRange();
      return db;
    },
  },
});
const AUTO_EXPIRY: Options = { ...EXPIRY, levelCountMax: 3, autoCompaction: true, l0CompactionTrigger: 100, l0SlowdownTrigger: 100, l0StopTrigger: 100 };
cases.push({
  hallmark: /^create .*\.sst$[^]*^remove .*\.sst$/m,
  testCase: {
    name: 'an L0 table picked for its expired data alone',
    options: AUTO_EXPIRY,
    setup: async (ctx) => {
      caseTime.ms = 0;
      const db = await open(ctx, AUTO_EXPIRY);
      await writeSome(ctx, db, writes(), 60);
      return db;
    },
    operation: async (ctx, db) => {
      caseTime.ms = SIM_EPOCH_MS;
      // The flush schedules compactions: no level scores 1, so only the expired L0 table's earliest expiry picks it.
      const compacted = new Promise<void>((resolve) => db!.once('compaction', () => resolve()));
      await db!.flush();
      await compacted;
      return db;
    },
  },
});

// A checkpoint (src/db/checkpoint.ts) with writes in flight: the source stays
// intact, and the target either does not open as a database or is complete.
const CHECKPOINT_TARGET = '/backups/checkpoint';
let checkpointCalled: CrashMark | undefined;
const checkpointOutcomes = { absent: 0, complete: 0 };
cases.push({
  hallmark: /^mkdir \/backups\/checkpoint$[^]*^link .*\.sst -> \/backups\/checkpoint\/\d+\.sst$[^]*^rename .*\/backups\/checkpoint\/CURRENT$/m,
  testCase: {
    name: 'checkpoint',
    options: MANUAL,
    setup: async (ctx) => {
      const db = await open(ctx, MANUAL);
      const stream = writes();
      for (let round = 0; round < 3; round++) {
        await writeSome(ctx, db, stream, 30);
        await db.flush();
      }
      await writeSome(ctx, db, stream, 10);
      return db;
    },
    operation: async (ctx, db) => {
      const stream = writes();
      for (let i = 0; i < 100; i++) stream.next();
      const pending = [ctx.write(db!, stream.next(false))];
      checkpointCalled = ctx.history.mark();
      const checkpoint = db!.checkpoint(CHECKPOINT_TARGET);
      // Writes go on while it runs, synced and not.
      pending.push(ctx.write(db!, stream.next(true)), ctx.write(db!, stream.next(false)));
      await checkpoint;
      await Promise.all(pending);
      return db;
    },
    checkOther: async (clone, history, mark, where) => {
      const outcome = await checkCheckpointTarget(clone, CHECKPOINT_TARGET, history, checkpointCalled!, mark.issued, KEYS, MANUAL, where);
      checkpointOutcomes[outcome]++;
    },
  },
});

// A backup with writes in flight (src/backup/): the earlier backup stays whole and
// restorable, and the new one is either not listed or whole and restorable.
const BACKUP_DIR = '/backups/engine';
const backupCalls: CrashMark[] = [];
const backupOutcomes = { listed: 0, absent: 0 };

/** In a crash state: every listed backup verifies, and restores to a prefix holding what was acknowledged before its call. */
async function checkBackups(clone: CrashableFS, history: CrashPointContext['history'], mark: CrashMark, where: string): Promise<number[]> {
  const infos = await listBackups(BACKUP_DIR, { fs: clone });
  for (const info of infos) {
    await verifyBackup(BACKUP_DIR, info.id, { fs: clone });
    const target = `/restored-${info.id}`;
    await restoreBackup(BACKUP_DIR, info.id, target, { fs: clone });
    const atCall = backupCalls[info.id - 1]!;
    await checkCheckpointTarget(clone, target, history, atCall, mark.issued, KEYS, MANUAL, `${where}: backup ${info.id}`);
  }
  return infos.map((info) => info.id);
}

cases.push({
  hallmark: /^rename .*\/backups\/engine\/shared\/.*\.sst\.tmp -> [^]*^rename .*\/backups\/engine\/meta\/0000000002\.tmp -> /m,
  testCase: {
    name: 'backup',
    options: MANUAL,
    setup: async (ctx) => {
      const db = await open(ctx, MANUAL);
      const stream = writes();
      await writeSome(ctx, db, stream, 40);
      await db.flush();
      backupCalls.push(ctx.history.mark());
      await db.backup(BACKUP_DIR);
      await writeSome(ctx, db, stream, 40);
      return db;
    },
    operation: async (ctx, db) => {
      const stream = writes();
      for (let i = 0; i < 80; i++) stream.next();
      const pending = [ctx.write(db!, stream.next(false))];
      backupCalls.push(ctx.history.mark());
      const backup = db!.backup(BACKUP_DIR);
      pending.push(ctx.write(db!, stream.next(true)), ctx.write(db!, stream.next(false)));
      await backup;
      await Promise.all(pending);
      return db;
    },
    checkOther: async (clone, history, mark, where) => {
      const ids = await checkBackups(clone, history, mark, where);
      if (!ids.includes(1)) throw new Violation(`${where}: the earlier backup is gone (${ids.join(', ')})`);
      backupOutcomes[ids.includes(2) ? 'listed' : 'absent']++;
    },
  },
});

// Purging old backups: a crash never leaves a listed backup naming a removed table.
const PURGE_DIR = '/backups/purge';
cases.push({
  hallmark: /^remove .*\/backups\/purge\/meta\/0000000001$[^]*^remove .*\/backups\/purge\/shared\/.*\.sst$/m,
  testCase: {
    name: 'purging old backups',
    options: MANUAL,
    setup: async (ctx) => {
      const db = await open(ctx, MANUAL);
      const stream = writes();
      for (let round = 0; round < 3; round++) {
        await writeSome(ctx, db, stream, 30);
        await db.compactRange();
        await db.backup(PURGE_DIR);
      }
      return db;
    },
    operation: async (_ctx, db) => {
      await purgeOldBackups(PURGE_DIR, 1, { fs: _ctx.fs });
      return db;
    },
    checkOther: async (clone, _history, _mark, where) => {
      const infos = await listBackups(PURGE_DIR, { fs: clone });
      if (!infos.some((info) => info.id === 3)) throw new Violation(`${where}: the newest backup is gone`);
      for (const info of infos) {
        try {
          await verifyBackup(PURGE_DIR, info.id, { fs: clone });
        } catch (err) {
          throw new Violation(`${where}: backup ${info.id} is listed but does not verify: ${String(err)}`);
        }
      }
    },
  },
});

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

// DB.repair of a closed database (src/tools/repair.ts): its tables kept, its log's
// writes in a new L0 table, a new MANIFEST and CURRENT. A crash anywhere in it
// leaves the old database or the repaired one, and either holds every write.
cases.push({
  hallmark: /^create .*\.sst$[^]*^create .*MANIFEST-\d+$[^]*^rename .*CURRENT$/m,
  testCase: {
    name: 'repair',
    options: MANUAL,
    setup: async (ctx) => {
      const db = await open(ctx, MANUAL);
      const stream = writes();
      await writeSome(ctx, db, stream, 30);
      await db.flush();
      await writeSome(ctx, db, stream, 20);
      await db.close();
      return undefined;
    },
    operation: async (ctx) => {
      await DB.repair(DIR, { fs: ctx.fs });
      return undefined;
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
  assert.ok(write.ops.every((op) => op.type !== 'deleteRange'), 'a transaction puts and deletes keys: draw its writes without range deletes');
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
      const stream = writes({ ...SHAPE, batchProbability: 1, rangeDeleteProbability: 0 });
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
      if (testCase.name === 'backup') {
        console.log(`# new backup: listed in ${backupOutcomes.listed} crash states, absent in ${backupOutcomes.absent}`);
        assert.ok(backupOutcomes.listed > 0 && backupOutcomes.absent > 0, 'the crash states cover both outcomes');
      }
      if (testCase.name === 'checkpoint') {
        console.log(`# checkpoint targets: ${checkpointOutcomes.absent} not a database, ${checkpointOutcomes.complete} complete`);
        assert.ok(checkpointOutcomes.absent > 0 && checkpointOutcomes.complete > 0, 'the crash states cover both outcomes');
      }
    });
  }
});
