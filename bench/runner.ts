/**
 * The parent side of a run: for each workload, each engine in turn, decide which
 * database the pair starts from, run it in a child process (child.ts), and keep
 * the books on each engine's filled database.
 *
 * Each engine has at most one "filled" database: the one fillrandom left (or an
 * untimed fillrandom made for the first workload that needs one). Read workloads
 * reuse it, compacting it first if it changed since the last compaction;
 * overwrite leaves it uncompacted; deleterandom spends it. Every other database
 * is fresh and removed once measured.
 */
import { fork, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchConfig, EngineName, WorkloadName } from './config.js';
import { diskUsage, type DiskUsage } from './disk-usage.js';
import type { ChildMessage, RunJob, RunResult } from './protocol.js';
import type { ProgressLine } from './progress.js';
import { WORKLOADS } from './workloads.js';
import { engineInfo } from './engines/engine.js';

/** One (workload, engine) pair as the report sees it. */
export interface RunRecord {
  workload: WorkloadName;
  engine: EngineName;
  result: RunResult | undefined;
  error: string | undefined;
  /** Disk usage of the database directory after close. */
  disk: DiskUsage | undefined;
  prepare: RunJob['prepare'];
}

interface FilledDatabase {
  dir: string;
  compacted: boolean;
}

const childPath = fileURLToPath(new URL('./child.js', import.meta.url));
let runningChild: ChildProcess | undefined;

/** Stops the running child, if any (for Ctrl-C). */
export function killRunningChild(): void {
  runningChild?.kill('SIGKILL');
}

function runChild(job: RunJob, onProgress: (phase: string, done: number, total: number) => void): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = fork(childPath, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: process.execArgv });
    runningChild = child;
    let result: RunResult | undefined;
    let failure: string | undefined;
    child.on('message', (message: ChildMessage) => {
      if (message.type === 'progress') onProgress(message.phase, message.done, message.total);
      else if (message.type === 'result') result = message.result;
      else failure = message.message;
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      runningChild = undefined;
      if (result !== undefined) resolve(result);
      else reject(new Error(failure ?? `child exited with ${signal ?? `code ${code}`} and no result`));
    });
    child.send(job);
  });
}

function remove(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

/** Runs every selected workload on every selected engine, in that nesting order. */
export async function runAll(config: BenchConfig, rootDir: string, progress: ProgressLine): Promise<RunRecord[]> {
  const records: RunRecord[] = [];
  const filled = new Map<EngineName, FilledDatabase>();
  const pairCount = config.workloads.length * config.engines.length;
  for (const workload of config.workloads) {
    const spec = WORKLOADS[workload];
    for (const engine of config.engines) {
      const label = `[${records.length + 1}/${pairCount}] ${workload} ${engine}`;
      if (spec.transactions === true && (await engineInfo(engine)).api.transaction === undefined) {
        progress.log(`${label}: skipped: ${engine} has no transactions`);
        continue;
      }
      const current = filled.get(engine);
      const usesFilled = spec.needs !== 'empty';
      const dir = usesFilled ? (current?.dir ?? path.join(rootDir, `${engine}-filled`)) : path.join(rootDir, `${engine}-${workload}`);
      const prepare = {
        fill: usesFilled && current === undefined,
        compact: spec.needs === 'filled-compacted' && current?.compacted !== true,
      };
      if (!usesFilled) remove(dir);
      const record: RunRecord = { workload, engine, result: undefined, error: undefined, disk: undefined, prepare };
      try {
        record.result = await runChild({ engine, workload, dir, config, prepare }, (phase, done, total) =>
          progress.update(label, phase, done, total),
        );
        record.disk = diskUsage(dir);
      } catch (err) {
        record.error = err instanceof Error ? err.message : String(err);
        progress.log(`${label}: FAILED: ${record.error}`);
      }
      records.push(record);
      settle(filled, engine, dir, workload, record.error === undefined, prepare);
    }
  }
  progress.clear();
  return records;
}

/** Updates the engine's filled database after `workload` ran on `dir`, and removes what nobody needs. */
function settle(
  filled: Map<EngineName, FilledDatabase>,
  engine: EngineName,
  dir: string,
  workload: WorkloadName,
  succeeded: boolean,
  prepare: RunJob['prepare'],
): void {
  const spec = WORKLOADS[workload];
  const previous = filled.get(engine);
  if (!succeeded) {
    // A failed run leaves its database in an unknown state: nobody reuses it.
    remove(dir);
    if (previous?.dir === dir) filled.delete(engine);
    return;
  }
  switch (spec.leaves) {
    case 'filled':
      if (previous !== undefined && previous.dir !== dir) remove(previous.dir);
      filled.set(engine, { dir, compacted: false });
      return;
    case 'unchanged':
      filled.set(engine, { dir, compacted: (previous?.compacted ?? false) || prepare.compact });
      return;
    case 'uncompacted':
      filled.set(engine, { dir, compacted: false });
      return;
    case 'spent':
      remove(dir);
      filled.delete(engine);
      return;
    case 'scratch':
      remove(dir);
      return;
  }
}
