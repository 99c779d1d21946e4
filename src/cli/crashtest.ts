/**
 * `shale crashtest`: the kill -9 test users run against shale, and CI runs too.
 * Each cycle starts a writer process on the database, kills it with SIGKILL at a
 * random moment, reopens the database and checks the oracle of
 * docs/durability.md for a process kill: open succeeds; every acknowledged write
 * (sync or not) is present; the database is exactly the result of some prefix of
 * the issued writes (in issue order), each batch whole or absent; values are
 * intact; `latestSequence` counts exactly that prefix's operations.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DB } from '../db/db.js';
import { Rng } from '../testing/rng.js';
import { applyIntent, decodeIntent, valueIsIntact, type Intent } from './crashtest-workload.js';

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
  onProgress?: (line: string) => void;
}

export interface CrashtestSummary {
  cycles: number;
  intentsIssued: number;
  writesAcknowledged: number;
  violations: string[];
}

interface CycleLogs {
  intents: Intent[];
  acked: Set<number>;
}

async function runChild(options: CrashtestOptions, cycle: number, firstIntent: number, delayMs: number): Promise<CycleLogs> {
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
    await sleep(delayMs);
  } finally {
    child.kill('SIGKILL');
    await exited;
  }
  // A kill can cut the last line of either log: only whole lines count.
  const wholeLines = (file: string): string[] => {
    const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
    return text.slice(0, text.lastIndexOf('\n') + 1).split('\n').filter((line) => line.length > 0);
  };
  const intents = wholeLines(intentLog).map(decodeIntent);
  const acked = new Set(wholeLines(ackLog).filter((line) => line !== 'open').map(Number));
  fs.rmSync(logDir, { recursive: true, force: true });
  return { intents, acked };
}

async function readState(db: DB, violations: string[], cycle: number): Promise<Map<string, string>> {
  const state = new Map<string, string>();
  for await (const [key, value] of db.iterator()) state.set(key.toString(), value.toString());
  const reverse: string[] = [];
  for await (const key of db.keys({ reverse: true })) reverse.push(key.toString());
  const forward = [...state.keys()];
  if (reverse.reverse().join('\n') !== forward.join('\n')) violations.push(`cycle ${cycle}: reverse scan differs from forward scan`);
  for (const [key, value] of state) {
    if (!valueIsIntact(key, value)) violations.push(`cycle ${cycle}: ${key} holds a damaged or misplaced value`);
  }
  for (const key of forward.filter((_, i) => i % 50 === 0)) {
    if ((await db.get(key))?.toString() !== state.get(key)) violations.push(`cycle ${cycle}: get(${key}) differs from the scan`);
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

export async function runCrashtest(options: CrashtestOptions): Promise<CrashtestSummary> {
  const rng = new Rng(options.seed);
  const summary: CrashtestSummary = { cycles: 0, intentsIssued: 0, writesAcknowledged: 0, violations: [] };
  let model = new Map<string, string>();
  let baseSequence = 0n;
  let nextIntent = 0;
  if (fs.existsSync(options.dir)) throw new Error(`${options.dir} exists: crashtest needs a fresh directory`);
  for (let cycle = 0; cycle < options.cycles; cycle++) {
    const delayMs = rng.range(options.killAfterMinMs, options.killAfterMaxMs);
    const { intents, acked } = await runChild(options, cycle, nextIntent, delayMs);
    const violations: string[] = [];
    const db = await DB.open(options.dir).catch((err: unknown) => {
      throw new Error(`cycle ${cycle}: open after the kill failed: ${String(err)}`, { cause: err });
    });
    try {
      const recovered = await readState(db, violations, cycle);
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
  return summary;
}
