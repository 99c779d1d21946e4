/**
 * I/O errors (docs/durability.md, clause 7), exhaustively over a fixed workload
 * (sim/fault-workload.ts): fail the n-th call of an operation, for every n, once
 * and persistently — EIO on fsync (files and the directory), ENOSPC on append and
 * on create, short writes. Each run must: report the failure as IO_ERROR, refuse
 * every later write, keep serving reads; and after a power loss right then
 * (drop-unsynced), reopen to a prefix of the writes holding every write
 * acknowledged with sync, with no orphan files, and take writes again.
 * `IO_ERRORS_STRIDE=k` tries every k-th n only (default 1: every n).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DB } from '../../src/db/db.js';
import { ShaleError } from '../../src/errors.js';
import { CrashableFS } from '../../src/testing/crashable-fs.js';
import { FaultFS, type FaultOp, type FaultRule } from '../../src/testing/fault-fs.js';
import { Rng } from '../../src/testing/rng.js';
import { CrashPointFS } from '../../sim/crash-point-fs.js';
import { FAULT_WORKLOAD_KEYS, FAULT_WORKLOAD_OPTIONS, runFaultWorkload } from '../../sim/fault-workload.js';
import { Violation, checkFiles, checkRecovered, violation } from '../../sim/oracle.js';
import { DIR } from '../../sim/simulate.js';

const STRIDE = Number(process.env['IO_ERRORS_STRIDE'] ?? 1);

/** The calls of each operation the fault-free workload makes (the n to try), and the files it touches. */
const recorder = new CrashPointFS(new CrashableFS());
recorder.recordLog = true;
const clean = new FaultFS(recorder);
const baseline = await runFaultWorkload(clean);
assert.equal(baseline.reported, undefined, 'the fault-free workload reports no error');
await baseline.db!.close();
const callCounts = { ...clean.calls };
const created = (pattern: RegExp): number => recorder.log.filter((record) => record.op === 'create' && pattern.test(record.path)).length;
const coverage = { logs: created(/\.log$/), tables: created(/\.sst$/), manifests: created(/MANIFEST-/), tableRemovals: recorder.log.filter((r) => r.op === 'remove' && r.path.endsWith('.sst')).length };

const kinds: { name: string; op: FaultOp; error: FaultRule['error'] }[] = [
  { name: 'EIO on fsync of a file', op: 'sync', error: 'EIO' },
  { name: 'EIO on fsync of the directory', op: 'syncDir', error: 'EIO' },
  { name: 'ENOSPC on append', op: 'append', error: 'ENOSPC' },
  { name: 'ENOSPC on create', op: 'create', error: 'ENOSPC' },
  { name: 'a short write', op: 'append', error: 'short-write' },
];

/** One run with the n-th call of `rule.op` failing. Returns what happened, for the tallies. */
async function runCase(rule: FaultRule): Promise<'reported' | 'not-reached'> {
  const crashable = new CrashableFS();
  const fs = new FaultFS(crashable, new Rng(rule.nth!));
  fs.addRule(rule);
  const result = await runFaultWorkload(fs);
  // Power loss right after the failure (or the workload's end): what must be there is what was acknowledged with sync.
  const crashed = crashable.crashClone('drop-unsynced', new Rng(rule.nth!));
  const mark = result.history.mark();
  // Close syncs the log if the write path is healthy: the fault may land there, and close must report it.
  await result.db?.close().catch((err: unknown) => {
    if (!(err instanceof ShaleError && err.code === 'IO_ERROR')) violation(`close failed with ${String(err)}, expected IO_ERROR`);
    result.reported ??= err;
  });
  if (fs.injected === 0) return 'not-reached';
  if (result.reported === undefined) violation(`the failed ${rule.op} was never reported (${result.history.writes.length} writes, all acknowledged)`);
  const db = await DB.open(DIR, { ...FAULT_WORKLOAD_OPTIONS, autoCompaction: false, fs: crashed }).catch((err: unknown) => violation(`reopen after the failure failed: ${String(err)}`));
  try {
    checkFiles(crashed, DIR, db, 'reopen after the failure');
    await checkRecovered(db, result.history, mark, FAULT_WORKLOAD_KEYS, 'reopen after the failure');
    await db.put('after', 'reopen');
    if ((await db.get('after'))?.toString() !== 'reopen') violation('the reopened database does not take writes');
  } finally {
    await db.close();
  }
  return 'reported';
}

describe('I/O errors: fail the n-th call for every n, once and persistently', () => {
  it('the fixed workload makes the calls the cases fail', () => {
    console.log(`# io-errors: the workload makes ${callCounts.sync} syncs, ${callCounts.syncDir} directory syncs, ${callCounts.append} appends, ${callCounts.create} creates`);
    console.log(`# io-errors: it creates ${coverage.logs} logs, ${coverage.tables} tables and ${coverage.manifests} MANIFESTs, and compaction removes ${coverage.tableRemovals} tables`);
    for (const op of ['sync', 'syncDir', 'append', 'create'] as const) assert.ok(callCounts[op] > 5, `${op}: ${callCounts[op]}`);
    // WAL rotation, flushes, a reopen, MANIFEST rotation and compaction are all on the path.
    assert.ok(coverage.logs >= 3 && coverage.tables >= 4 && coverage.manifests >= 3 && coverage.tableRemovals >= 2, JSON.stringify(coverage));
  });

  for (const kind of kinds) {
    for (const persistent of [false, true]) {
      const count = callCounts[kind.op];
      it(`${kind.name}, ${persistent ? 'persistent' : 'once'}: reported as IO_ERROR, later writes refused, reads work, and a reopen after power loss keeps every acknowledged sync write`, async () => {
        const started = process.hrtime.bigint();
        const failures: string[] = [];
        let reported = 0;
        let runs = 0;
        for (let nth = 1; nth <= count; nth += STRIDE) {
          runs++;
          try {
            if ((await runCase({ op: kind.op, nth, persistent, error: kind.error })) === 'reported') reported++;
          } catch (err) {
            failures.push(`${kind.name} #${nth}${persistent ? ' (persistent)' : ''}: ${err instanceof Violation ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
          }
        }
        const ms = Number(process.hrtime.bigint() - started) / 1e6;
        console.log(`# io-errors: ${kind.name}, ${persistent ? 'persistent' : 'once'}: ${runs} runs (n = 1..${count}), ${reported} reported, ${ms.toFixed(0)} ms`);
        assert.deepEqual(failures.slice(0, 5), [], `${failures.length} of ${runs} runs broke the contract`);
        assert.equal(reported, runs, 'every injected fault was reached');
      });
    }
  }
});
