/**
 * `shale crashtest`: the kill -9 test users run against shale, and CI runs too.
 * Each cycle starts a writer process on the database, kills it with SIGKILL at a
 * random moment, reopens the database and checks the oracle of
 * docs/durability.md for a process kill: open succeeds; every acknowledged write
 * (sync or not) is present; the database is exactly the result of some prefix of
 * the issued writes (in issue order), each batch whole or absent; values are
 * intact; `latestSequence` counts exactly that prefix's operations. Before
 * the reopen, `DB.verify` must find no damage but a torn WAL tail, and every
 * fifth cycle `DB.repair` runs first (it must keep all of that too).
 *
 * A read-only database stays open beside the writer through every cycle
 * (`read-only.ts`): while the writer runs, and after each kill before anything
 * else opens the database, it refreshes and its view must pass the same oracle
 * against the writes acknowledged before the refresh; after the kill it must
 * equal what the reopened writer recovers (on cycles without repair).
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { DB } from '../db/db.js';
import { ShaleError } from '../errors.js';
import { Rng } from '../testing/rng.js';
import { applyIntent, decodeIntent, valueIsIntact, type Intent } from './crashtest-workload.js';
import { checkCheckpoints, checkpointsDir, loggedCheckpoints, type LoggedCheckpoint } from './crashtest-checkpoints.js';
import { runBankCrashtest } from './crashtest-bank.js';
import type { IsolationLevel } from '../db/transaction.js';

export interface CrashtestOptions {
  cycles: number;
  seed: number;
  dir: string;
  writers: number;
  /** Milliseconds a writer runs before the kill: uniform in [min, max]. */
  killAfterMinMs: number;
  killAfterMaxMs: number;
  /** The CLI entry that runs `crashtest-child`. */
  cliPath: string;
  /** `writes` (the default): puts, deletes and batches; `bank`: transfers in transactions (crashtest-bank.ts). */
  workload?: 'writes' | 'bank';
  /** The bank workload's isolation level. Default `snapshot`. */
  isolation?: IsolationLevel;
  onProgress?: (line: string) => void;
}

export interface CrashtestSummary {
  cycles: number;
  intentsIssued: number;
  writesAcknowledged: number;
  /** Checkpoints the child started (each checked after the kill), and of them those found complete. */
  checkpointsStarted: number;
  checkpointsComplete: number;
  /** Views of the read-only reader checked, while writers ran and after kills. */
  readerViewsChecked: number;
  violations: string[];
}

interface CycleLogs {
  intents: Intent[];
  acked: Set<number>;
  checkpoints: LoggedCheckpoint[];
}

/** The cycle's logs as they are now. A write (or a kill) can cut the last line of either log: only whole lines count. */
function readLogs(intentLog: string, ackLog: string): CycleLogs {
  const wholeLines = (file: string): string[] => {
    const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
    return text.slice(0, text.lastIndexOf('\n') + 1).split('\n').filter((line) => line.length > 0);
  };
  // Acknowledgements first: every write acknowledged by then was logged as an intent before it was issued.
  const ackLines = wholeLines(ackLog);
  const intents = wholeLines(intentLog).map(decodeIntent);
  const acked = new Set(ackLines.filter((line) => /^\d+$/.test(line)).map(Number));
  return { intents, acked, checkpoints: loggedCheckpoints(ackLines) };
}

/** Runs a writer for `delayMs`, calling `whileRunning` again and again meanwhile (with a reader of the logs), then kills it. */
async function runChild(
  options: CrashtestOptions,
  cycle: number,
  firstIntent: number,
  delayMs: number,
  whileRunning: (logs: () => CycleLogs) => Promise<void>,
): Promise<CycleLogs> {
  const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'shale-crashtest-logs-'));
  const intentLog = path.join(logDir, 'intents');
  const ackLog = path.join(logDir, 'acks');
  fs.writeFileSync(ackLog, '');
  const childArgs = [options.cliPath, 'crashtest-child', '--dir', options.dir, '--intent-log', intentLog, '--ack-log', ackLog];
  childArgs.push('--seed', String((options.seed + cycle * 7919) >>> 0), '--writers', String(options.writers), '--first-intent', String(firstIntent));
  const child = spawn(process.execPath, childArgs, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  try {
    while (!fs.readFileSync(ackLog, 'latin1').startsWith('open\n')) {
      if (child.exitCode !== null) throw new Error(`cycle ${cycle}: the writer exited with ${child.exitCode} before opening: ${stderr}`);
      await sleep(5);
    }
    const killAt = Date.now() + delayMs;
    while (Date.now() < killAt) {
      await whileRunning(() => readLogs(intentLog, ackLog));
      await sleep(Math.min(Math.max(0, killAt - Date.now()), 25));
    }
  } finally {
    child.kill('SIGKILL');
    await exited;
  }
  const logs = readLogs(intentLog, ackLog);
  fs.rmSync(logDir, { recursive: true, force: true });
  return logs;
}

/**
 * Refreshes the reader and checks its view: a prefix of the cycle's writes after
 * `model` (the state the cycle started from, at `baseSequence`) holding every
 * write acknowledged before the refresh, with `latestSequence` exactly that
 * prefix's. Returns the view.
 */
async function checkReaderView(
  reader: DB,
  logs: () => CycleLogs,
  model: Map<string, string>,
  baseSequence: bigint,
  violations: string[],
  where: string,
): Promise<Map<string, string>> {
  const { acked } = logs();
  await reader.refresh();
  const view = await readState(reader, violations, where);
  // Intents read after the refresh: every write the view holds was logged before it was issued.
  const { intents } = logs();
  const prefixes = matchingPrefixes(model, intents, acked, view);
  const sequences = prefixes.map((length) => baseSequence + BigInt(opCount(intents, length)));
  if (prefixes.length === 0) {
    violations.push(`${where}: the read-only view is no prefix of the ${intents.length} writes issued holding the ${acked.size} acknowledged before refresh()`);
  } else if (!sequences.includes(reader.latestSequence)) {
    violations.push(`${where}: the read-only view's latestSequence ${reader.latestSequence}, expected one of ${sequences.join(', ')}`);
  }
  return view;
}

async function readState(db: DB, violations: string[], where: string): Promise<Map<string, string>> {
  const state = new Map<string, string>();
  for await (const [key, value] of db.iterator()) state.set(key.toString(), value.toString());
  const reverse: string[] = [];
  for await (const key of db.keys({ reverse: true })) reverse.push(key.toString());
  const forward = [...state.keys()];
  if (reverse.reverse().join('\n') !== forward.join('\n')) violations.push(`${where}: reverse scan differs from forward scan`);
  for (const [key, value] of state) {
    if (!valueIsIntact(key, value)) violations.push(`${where}: ${key} holds a damaged or misplaced value`);
  }
  for (const key of forward.filter((_, i) => i % 50 === 0)) {
    if ((await db.get(key))?.toString() !== state.get(key)) violations.push(`${where}: get(${key}) differs from the scan`);
  }
  return state;
}

function sameState(a: Map<string, string>, b: Map<string, string>): boolean {
  if (a.size !== b.size) return false;
  for (const [key, value] of a) if (b.get(key) !== value) return false;
  return true;
}

/**
 * The lengths of the prefixes of `intents` whose result equals `recovered`, from
 * the last acknowledged intent on (every acknowledged intent must be inside).
 * Several can match: an intent that changes nothing (a delete of a missing key)
 * leaves the state as it was; `latestSequence` tells them apart.
 */
export function matchingPrefixes(model: Map<string, string>, intents: Intent[], acked: Set<number>, recovered: Map<string, string>): number[] {
  let lastAcked = -1;
  intents.forEach((intent, position) => acked.has(intent.index) && (lastAcked = position));
  const state = new Map(model);
  for (let position = 0; position <= lastAcked; position++) applyIntent(state, intents[position]!);
  const matches: number[] = [];
  for (let length = lastAcked + 1; length <= intents.length; length++) {
    if (sameState(state, recovered)) matches.push(length);
    if (length < intents.length) applyIntent(state, intents[length]!);
  }
  return matches;
}

/** The number of operations (sequence numbers) in the first `length` intents. */
function opCount(intents: Intent[], length: number): number {
  return intents.slice(0, length).reduce((sum, intent) => sum + intent.ops.length, 0);
}

/** Every this many cycles the killed database is repaired (`DB.repair`) before it is reopened and checked. */
export const CRASHTEST_REPAIR_EVERY = 5;

/**
 * A kill leaves nothing but a torn WAL tail: `DB.verify` must find no other
 * damage. Every `CRASHTEST_REPAIR_EVERY` cycles the database is also repaired
 * before the oracle checks it: repair of a killed database must lose nothing
 * recovery would keep.
 */
async function verifyAndRepair(dir: string, cycle: number, violations: string[]): Promise<void> {
  const report = await DB.verify(dir);
  for (const damage of report.damage.filter((found) => found.tolerated !== true)) {
    violations.push(`cycle ${cycle}: verify after the kill: ${damage.file} at ${damage.offset}: ${damage.reason}`);
  }
  if (cycle % CRASHTEST_REPAIR_EVERY === CRASHTEST_REPAIR_EVERY - 1) await DB.repair(dir);
}

export async function runCrashtest(options: CrashtestOptions): Promise<CrashtestSummary> {
  const rng = new Rng(options.seed);
  const summary: CrashtestSummary = {
    cycles: 0,
    intentsIssued: 0,
    writesAcknowledged: 0,
    checkpointsStarted: 0,
    checkpointsComplete: 0,
    readerViewsChecked: 0,
    violations: [],
  };
  let model = new Map<string, string>();
  let baseSequence = 0n;
  let nextIntent = 0;
  if (fs.existsSync(options.dir)) throw new Error(`${options.dir} exists: crashtest needs a fresh directory`);
  // Opened once the first writer has created the database; open until the end, across kills, repairs and reopens.
  let reader: DB | undefined;
  try {
    for (let cycle = 0; cycle < options.cycles; cycle++) {
      const delayMs = rng.range(options.killAfterMinMs, options.killAfterMaxMs);
      const violations: string[] = [];
      const whileRunning = async (logs: () => CycleLogs): Promise<void> => {
        reader ??= await DB.open(options.dir, { readOnly: true });
        await checkReaderView(reader, logs, model, baseSequence, violations, `cycle ${cycle}, reader while the writer runs`);
        summary.readerViewsChecked++;
      };
      const { intents, acked, checkpoints } = await runChild(options, cycle, nextIntent, delayMs, whileRunning);
      const afterKill = reader === undefined ? undefined : await checkReaderView(reader, () => ({ intents, acked, checkpoints }), model, baseSequence, violations, `cycle ${cycle}, reader after the kill`);
      if (afterKill !== undefined) summary.readerViewsChecked++;
      summary.checkpointsStarted += checkpoints.length;
      summary.checkpointsComplete += await checkCheckpoints(
        checkpoints,
        intents,
        {
          readState: (db, found, where) => readState(db, found, where),
          prefixSequences: (cut, ackedBefore, state) =>
            matchingPrefixes(model, cut, ackedBefore, state).map((length) => baseSequence + BigInt(opCount(cut, length))),
        },
        violations,
        cycle,
      );
      await verifyAndRepair(options.dir, cycle, violations);
      const db = await DB.open(options.dir).catch((err: unknown) => {
        throw new Error(`cycle ${cycle}: open after the kill failed: ${String(err)}`, { cause: err });
      });
      try {
        const recovered = await readState(db, violations, `cycle ${cycle}`);
        const repaired = cycle % CRASHTEST_REPAIR_EVERY === CRASHTEST_REPAIR_EVERY - 1;
        if (afterKill !== undefined && !repaired && (!sameState(afterKill, recovered) || reader!.latestSequence !== db.latestSequence)) {
          violations.push(`cycle ${cycle}: the reader's view after the kill (sequence ${reader!.latestSequence}) is not what the writer recovered (sequence ${db.latestSequence})`);
        }
        const prefixes = matchingPrefixes(model, intents, acked, recovered);
        const sequences = prefixes.map((length) => baseSequence + BigInt(opCount(intents, length)));
        if (prefixes.length === 0) {
          violations.push(`cycle ${cycle}: the database is no prefix of the ${intents.length} writes issued (${acked.size} acknowledged)`);
        } else if (!sequences.includes(db.latestSequence)) {
          violations.push(`cycle ${cycle}: latestSequence ${db.latestSequence}, expected one of ${sequences.join(', ')}`);
        }
        model = recovered;
        baseSequence = db.latestSequence;
      } finally {
        await db.close();
      }
      nextIntent += intents.length + 1000;
      summary.cycles++;
      summary.intentsIssued += intents.length;
      summary.writesAcknowledged += acked.size;
      summary.violations.push(...violations);
      options.onProgress?.(
        `cycle ${cycle + 1}/${options.cycles}: killed after ${delayMs} ms, ${acked.size} of ${intents.length} writes acknowledged, ${summary.violations.length} violations`,
      );
    }
  } finally {
    await reader?.close();
  }
  return summary;
}

/** The usage of `shale crashtest`, printed by `--help` and after a bad command line. */
export const CRASHTEST_USAGE = `usage: shale crashtest [--cycles N] [--seed S] [--dir DIR] [--writers W] [--min-ms MS] [--max-ms MS]
  --cycles N     kill -9 cycles to run, at least 1 (default 50)
  --seed S       seed of the run, 0 to 2^32 - 1 (default: random, printed)
  --dir DIR      a directory that does not exist yet (default: a new one under the temp directory)
  --writers W    concurrent writers in the child, at least 1 (default 4)
  --min-ms MS    shortest time before a kill, in ms, at least 0 (default 50)
  --max-ms MS    longest time before a kill, in ms, at least --min-ms (default 2000)
  --workload W   writes (puts, deletes, batches) or bank (64 concurrent transfers in transactions) (default writes)
  --isolation I  the bank's isolation level: snapshot or serializable (default snapshot)
  --help         print this and exit`;

/** What `parseCrashtestArgs` makes of a command line: a run, or a request for the usage. */
export type CrashtestCommand = { help: true } | { help: false; options: CrashtestOptions; dirGiven: boolean };

/**
 * Parses and checks the arguments of `shale crashtest` (after the command name).
 * A command line that cannot mean a real test (a number that is not a whole
 * number in range, `--min-ms` above `--max-ms`, an unknown flag, a positional
 * argument, an existing `--dir`) is an `INVALID_ARGUMENT` `ShaleError`: a test
 * tool must not pass by running nothing. `cliPath` is the entry the child runs.
 */
export function parseCrashtestArgs(argv: string[], cliPath: string): CrashtestCommand {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        cycles: { type: 'string', default: '50' },
        seed: { type: 'string' },
        dir: { type: 'string' },
        writers: { type: 'string', default: '4' },
        'min-ms': { type: 'string', default: '50' },
        'max-ms': { type: 'string', default: '2000' },
        workload: { type: 'string', default: 'writes' },
        isolation: { type: 'string', default: 'snapshot' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (err) {
    // node:util's own errors (unknown option, missing value, positional) become ours.
    throw new ShaleError('INVALID_ARGUMENT', (err as Error).message, { cause: err });
  }
  if (values['help'] === true) return { help: true };
  const cycles = integerArg(values, 'cycles', 1, Number.MAX_SAFE_INTEGER);
  const seed = values['seed'] === undefined ? (Math.random() * 2 ** 32) >>> 0 : integerArg(values, 'seed', 0, 2 ** 32 - 1);
  const writers = integerArg(values, 'writers', 1, Number.MAX_SAFE_INTEGER);
  const killAfterMinMs = integerArg(values, 'min-ms', 0, Number.MAX_SAFE_INTEGER);
  const killAfterMaxMs = integerArg(values, 'max-ms', 0, Number.MAX_SAFE_INTEGER);
  if (killAfterMinMs > killAfterMaxMs) {
    throw new ShaleError('INVALID_ARGUMENT', `--min-ms (${killAfterMinMs}) must not exceed --max-ms (${killAfterMaxMs})`);
  }
  const workload = values['workload'];
  if (workload !== 'writes' && workload !== 'bank') throw new ShaleError('INVALID_ARGUMENT', `--workload must be writes or bank, got ${JSON.stringify(workload)}`);
  const isolation = values['isolation'];
  if (isolation !== 'snapshot' && isolation !== 'serializable') throw new ShaleError('INVALID_ARGUMENT', `--isolation must be snapshot or serializable, got ${JSON.stringify(isolation)}`);
  const given = values['dir'];
  const dir = typeof given === 'string' ? given : path.join(os.tmpdir(), `shale-crashtest-${process.pid}-${seed}`);
  if (fs.existsSync(dir)) throw new ShaleError('INVALID_ARGUMENT', `--dir ${dir} exists: crashtest needs a fresh directory`);
  return { help: false, dirGiven: typeof given === 'string', options: { cycles, seed, dir, writers, killAfterMinMs, killAfterMaxMs, cliPath, workload, isolation } };
}

/**
 * A whole number in [min, max], decimal or `0x` hex; `Number()` alone takes `abc`
 * as NaN (a loop of NaN cycles runs none), and `1e3`, `1.5` and `` as numbers.
 */
function integerArg(values: Record<string, string | boolean | undefined>, name: string, min: number, max: number): number {
  const text = values[name];
  const value = typeof text === 'string' && /^([0-9]+|0x[0-9a-f]+)$/i.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `at least ${min}` : `from ${min} to ${max}`;
    throw new ShaleError('INVALID_ARGUMENT', `--${name} must be a whole number ${range}, got ${JSON.stringify(text)}`);
  }
  return value;
}

/**
 * Runs `shale crashtest` with `argv` and returns the exit code: 0 when every
 * cycle passed (or for `--help`), 1 on a violation, 2 for a bad command line
 * (its reason and the usage on stderr, no stack).
 */
export async function crashtestCommand(argv: string[], cliPath: string): Promise<number> {
  let command: CrashtestCommand;
  try {
    command = parseCrashtestArgs(argv, cliPath);
  } catch (err) {
    if (!(err instanceof ShaleError && err.code === 'INVALID_ARGUMENT')) throw err;
    process.stderr.write(`shale crashtest: ${err.message}\n${CRASHTEST_USAGE}\n`);
    return 2;
  }
  if (command.help) {
    process.stdout.write(`${CRASHTEST_USAGE}\n`);
    return 0;
  }
  const { options, dirGiven } = command;
  const progress = process.stderr.isTTY
    ? (line: string) => process.stderr.write(`\r\x1b[K${line}`)
    : (line: string) => process.stderr.write(`${line}\n`);
  process.stderr.write(`crashtest: seed ${options.seed} (replay with --seed ${options.seed}), directory ${options.dir}\n`);
  const run = options.workload === 'bank' ? (o: CrashtestOptions) => runBankCrashtest(o, options.isolation) : runCrashtest;
  const summary = await run({ ...options, onProgress: progress });
  if (process.stderr.isTTY) process.stderr.write('\n');
  for (const violation of summary.violations) console.log(`VIOLATION ${violation}`);
  // Keep the directory for a post-mortem only when something was wrong.
  if (summary.violations.length === 0 && !dirGiven) fs.rmSync(options.dir, { recursive: true, force: true });
  if (summary.violations.length === 0) fs.rmSync(checkpointsDir(options.dir), { recursive: true, force: true });
  console.log(
    `crashtest: seed ${options.seed}, ${summary.cycles} cycles, ${summary.intentsIssued} writes issued, ` +
      `${summary.writesAcknowledged} acknowledged, ${summary.checkpointsStarted} checkpoints checked (${summary.checkpointsComplete} complete), ${summary.readerViewsChecked} read-only views checked, ${summary.violations.length} violations`,
  );
  return summary.violations.length === 0 ? 0 : 1;
}
