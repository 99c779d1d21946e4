/**
 * Exhaustive crash points: run one operation on a counting file system, take the
 * power-loss state right after each of its mutating file operations, in every
 * crash mode, then reopen each state and check the oracle. Where the simulator
 * samples crash moments, this visits every one of a single operation.
 *
 * The clones are taken while the operation runs (the hook cannot wait) and
 * checked after it completes; states are small, so holding them is cheap.
 */
import { DB } from '../src/db/db.js';
import type { Options } from '../src/options.js';
import { CrashableFS, type CrashMode } from '../src/testing/crashable-fs.js';
import { Rng } from '../src/testing/rng.js';
import { CrashPointFS, type MutationRecord } from './crash-point-fs.js';
import { History, Violation, checkFiles, checkRecovered, type CrashMark } from './oracle.js';
import { CRASH_MODES, DIR } from './simulate.js';
import { batchOpOf, type SimWrite } from './workload.js';

/** What an operation under test works with. */
export interface CrashPointContext {
  fs: CrashPointFS;
  history: History;
  /** Issues `write` on `db`, recording it in the history; resolves when it is acknowledged. */
  write(db: DB, write: SimWrite): Promise<void>;
}

export interface CrashPointCase {
  name: string;
  /** Options for every open, the recovery opens included (the oracle's opens add `autoCompaction: false`). */
  options: Options;
  /** Builds the state before the operation. Nothing here is a crash point. */
  setup(ctx: CrashPointContext): Promise<DB | undefined>;
  /** The operation: every mutating file operation until it resolves is a crash point. Returns the database to close, if any. */
  operation(ctx: CrashPointContext, db: DB | undefined): Promise<DB | undefined>;
  /**
   * Optional: checks, in each crash state, another directory the operation
   * writes (a checkpoint's target), after the database itself was checked.
   * `mark` is the history's mark at the crash.
   */
  checkOther?(clone: CrashableFS, history: History, mark: CrashMark, where: string): Promise<void>;
}

export interface CrashPointReport {
  /** Mutating file operations the operation made: the crash points. */
  points: number;
  /** Crash states reopened and checked (points × modes × variants). */
  reopens: number;
  /** The operation's file operations, for checking that it did what the case says. */
  log: MutationRecord[];
  violations: string[];
}

interface CrashState {
  point: number;
  at: string;
  mode: CrashMode;
  clone: CrashableFS;
  mark: CrashMark;
}

/** The history-recording write used by cases; acknowledgements are recorded in order. */
function makeContext(fs: CrashPointFS): CrashPointContext {
  const history = new History(new Map(), 0);
  return {
    fs,
    history,
    write(db, write) {
      const index = history.issue(write);
      const options = { sync: write.sync };
      const ops = write.ops.map(batchOpOf);
      return db.write(ops, options).then(() => history.ack(index));
    },
  };
}

/**
 * Runs `testCase`, taking `variants` crash states per crash mode after each
 * mutating file operation of its `operation`, and checks every one.
 */
export async function exploreCrashPoints(testCase: CrashPointCase, keys: readonly Buffer[], seed: number, variants = 1): Promise<CrashPointReport> {
  const fs = new CrashPointFS(new CrashableFS());
  const ctx = makeContext(fs);
  const rng = new Rng(seed);
  const db = await testCase.setup(ctx);
  const states: CrashState[] = [];
  const first = fs.mutations;
  fs.recordLog = true;
  fs.onMutation = (count, op, path) => {
    const mark = ctx.history.mark();
    for (const mode of CRASH_MODES) {
      for (let v = 0; v < variants; v++) {
        states.push({ point: count - first, at: `${op} ${path}`, mode, clone: fs.inner.crashClone(mode, rng), mark });
      }
    }
  };
  const opened = await testCase.operation(ctx, db);
  fs.onMutation = undefined;
  const log = fs.log.slice();
  await opened?.close();
  const violations: string[] = [];
  for (const state of states) {
    const where = `${testCase.name}: crash after op ${state.point} (${state.at}), ${state.mode}`;
    try {
      await checkCrashState(state, ctx.history, testCase.options, keys, where);
      await testCase.checkOther?.(state.clone, ctx.history, state.mark, where);
    } catch (err) {
      violations.push(err instanceof Violation ? err.message : `${where}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    }
  }
  return { points: log.length, reopens: states.length, log, violations };
}

async function checkCrashState(state: CrashState, history: History, options: Options, keys: readonly Buffer[], where: string): Promise<void> {
  await checkReadOnlyOpen(state, history, options, keys, `${where}, read-only open`);
  let db: DB;
  try {
    db = await DB.open(DIR, { ...options, autoCompaction: false, fs: state.clone });
  } catch (err) {
    throw new Violation(`${where}: open failed: ${String(err)}`);
  }
  try {
    checkFiles(state.clone, DIR, db, where);
    await checkRecovered(db, history, state.mark, keys, where);
    // The recovered database takes writes and flushes them (no file number it hands out is taken).
    await db.put('after-recovery', 'x');
    await db.flush();
    if ((await db.get('after-recovery'))?.toString() !== 'x') throw new Violation(`${where}: a write after recovery is not readable`);
  } finally {
    await db.close();
  }
}

/**
 * A read-only open of the crash state, before recovery touches it: it changes no
 * file and passes the same oracle. (A crash before CURRENT existed holds no
 * database: `NOT_FOUND`, with nothing acknowledged.)
 */
async function checkReadOnlyOpen(state: CrashState, history: History, options: Options, keys: readonly Buffer[], where: string): Promise<void> {
  const changed: string[] = [];
  const fs = new CrashPointFS(state.clone, (count, op, path) => void changed.push(`${op} ${path}`));
  let db: DB;
  try {
    db = await DB.open(DIR, { ...options, readOnly: true, fs });
  } catch (err) {
    if ((err as { code?: string }).code === 'NOT_FOUND' && state.mark.syncPrefix === 0) return;
    throw new Violation(`${where}: failed: ${String(err)}`);
  }
  try {
    await checkRecovered(db, history, state.mark, keys, where);
  } finally {
    await db.close();
  }
  if (changed.length > 0) throw new Violation(`${where}: changed files: ${changed.join(', ')}`);
}
