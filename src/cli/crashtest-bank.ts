/**
 * The bank workload of `shale crashtest --workload bank`: a child process runs
 * 64 concurrent transfers between 1,000 accounts with `db.runTransaction` until it
 * is killed with SIGKILL; each transfer moves money between two accounts and
 * writes a transfer record, all in one transaction. After each kill the parent
 * reopens the database and checks the oracle:
 *
 * - the balances sum to what the bank started with (transactions are atomic);
 * - every balance is its opening balance plus the transfers recorded in, less
 *   those recorded out (no half transfer, no transfer without its record);
 * - every transfer the child saw commit is recorded (acknowledged commits survive);
 * - no balance is negative, and every audit the child ran (a transaction reading
 *   every account at its snapshot) found the same sum.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { DB } from '../db/db.js';
import type { IsolationLevel, Transaction } from '../db/transaction.js';
import { Rng } from '../testing/rng.js';
import type { CrashtestOptions, CrashtestSummary } from './crashtest.js';

export const BANK_ACCOUNTS = 1000;
export const BANK_OPENING_BALANCE = 1000;
export const BANK_TRANSFERS_IN_FLIGHT = 64;
const OPENED_KEY = 'bank:opened';
const ACCOUNT_PREFIX = 'acct:';
const TRANSFER_PREFIX = 'xfer:';

export function accountKey(index: number): string {
  return `${ACCOUNT_PREFIX}${String(index).padStart(5, '0')}`;
}

export function transferKey(id: number): string {
  return `${TRANSFER_PREFIX}${String(id).padStart(10, '0')}`;
}

/** A transfer record's value: `from>to:amount`. */
export function transferValue(from: number, to: number, amount: number): string {
  return `${from}>${to}:${amount}`;
}

function parseTransfer(value: string): { from: number; to: number; amount: number } | undefined {
  const match = /^(\d+)>(\d+):(\d+)$/.exec(value);
  return match === null ? undefined : { from: Number(match[1]), to: Number(match[2]), amount: Number(match[3]) };
}

/** Opens the bank: every account at the opening balance, in one batch. Does nothing if it is open already. */
export async function openBank(db: DB): Promise<void> {
  if ((await db.get(OPENED_KEY)) !== undefined) return;
  const ops = Array.from({ length: BANK_ACCOUNTS }, (_, i) => ({ type: 'put' as const, key: accountKey(i), value: String(BANK_OPENING_BALANCE) }));
  await db.write([...ops, { type: 'put', key: OPENED_KEY, value: '1' }]);
}

/**
 * Moves `amount` from account `from` to `to` if `from` holds it, recording
 * transfer `id`; returns whether it moved. Run it inside `runTransaction`.
 */
export async function transfer(tx: Transaction, id: number, from: number, to: number, amount: number): Promise<boolean> {
  const [fromBalance, toBalance] = (await tx.getMany([accountKey(from), accountKey(to)])).map((value) => Number(value?.toString()));
  if (!(fromBalance! >= amount)) return false;
  tx.put(accountKey(from), String(fromBalance! - amount));
  tx.put(accountKey(to), String(toBalance! + amount));
  tx.put(transferKey(id), transferValue(from, to, amount));
  return true;
}

/** The sum of every balance as `reader` (a transaction, or the database) sees them. */
export async function balanceSum(reader: Pick<DB, 'values'> | Pick<Transaction, 'values'>): Promise<number> {
  let sum = 0;
  for await (const value of reader.values({ gte: ACCOUNT_PREFIX, lt: `${ACCOUNT_PREFIX}~` })) sum += Number(value.toString());
  return sum;
}

/** What the parent found wrong in a database after a kill; empty when the oracle holds. */
export async function checkBank(db: DB, acknowledged: Iterable<number>): Promise<string[]> {
  const problems: string[] = [];
  const expected = new Array<number>(BANK_ACCOUNTS).fill(BANK_OPENING_BALANCE);
  const recorded = new Set<number>();
  for await (const [key, value] of db.iterator({ gte: TRANSFER_PREFIX, lt: `${TRANSFER_PREFIX}~` })) {
    const parsed = parseTransfer(value.toString());
    if (parsed === undefined || parsed.from >= BANK_ACCOUNTS || parsed.to >= BANK_ACCOUNTS) {
      problems.push(`${key.toString()} holds a damaged transfer record`);
      continue;
    }
    recorded.add(Number(key.toString().slice(TRANSFER_PREFIX.length)));
    expected[parsed.from]! -= parsed.amount;
    expected[parsed.to]! += parsed.amount;
  }
  let sum = 0;
  for (let i = 0; i < BANK_ACCOUNTS; i++) {
    const text = (await db.get(accountKey(i)))?.toString();
    const balance = Number(text);
    if (text === undefined || !Number.isSafeInteger(balance)) {
      problems.push(`${accountKey(i)} is missing or damaged (${String(text)})`);
      continue;
    }
    sum += balance;
    if (balance < 0) problems.push(`${accountKey(i)} is negative: ${balance}`);
    if (balance !== expected[i]) problems.push(`${accountKey(i)} holds ${balance}, its recorded transfers give ${expected[i]}`);
  }
  if (sum !== BANK_ACCOUNTS * BANK_OPENING_BALANCE) problems.push(`the balances sum to ${sum}, not ${BANK_ACCOUNTS * BANK_OPENING_BALANCE}`);
  for (const id of acknowledged) if (!recorded.has(id)) problems.push(`acknowledged transfer ${id} is not recorded`);
  return problems;
}

export interface BankChildArguments {
  dir: string;
  ackLog: string;
  seed: number;
  firstId: number;
  isolation: IsolationLevel;
}

/**
 * The child: opens the bank, writes `open` to the acknowledgement log, then runs
 * transfers (64 in flight) and an auditor until killed. A committed transfer
 * appends its id to the log; an audit appends `audit <sum>`.
 */
export async function runBankChild(args: BankChildArguments): Promise<never> {
  const ackFd = fs.openSync(args.ackLog, 'a');
  const db = await DB.open(args.dir, { memtableSizeBytes: 64 * 1024, targetFileSizeBytes: 64 * 1024, levelBaseBytes: 256 * 1024 });
  await openBank(db);
  fs.writeSync(ackFd, 'open\n');
  const rng = new Rng(args.seed);
  let next = args.firstId;
  const transferrer = async (): Promise<never> => {
    for (;;) {
      const id = next++;
      const from = rng.int(BANK_ACCOUNTS);
      const to = (from + 1 + rng.int(BANK_ACCOUNTS - 1)) % BANK_ACCOUNTS;
      const amount = rng.range(1, 200);
      const moved = await db.runTransaction((tx) => transfer(tx, id, from, to, amount), { isolation: args.isolation, retries: 1000, sync: rng.bool(0.5) });
      if (moved) fs.writeSync(ackFd, `${id}\n`);
    }
  };
  const auditor = async (): Promise<never> => {
    for (;;) {
      await sleep(rng.range(5, 50));
      const tx = db.transaction();
      const sum = await balanceSum(tx);
      tx.abort();
      fs.writeSync(ackFd, `audit ${sum}\n`);
    }
  };
  return Promise.all([...Array.from({ length: BANK_TRANSFERS_IN_FLIGHT }, transferrer), auditor()]) as Promise<never>;
}

/** Transfer ids each cycle may use: more than a child attempts before its kill. */
const CYCLE_IDS = 100_000_000;

const CHILD_ENTRY = fileURLToPath(new URL('./crashtest-bank-child.js', import.meta.url));

async function runBankCycle(options: CrashtestOptions, cycle: number, firstId: number, delayMs: number, isolation: IsolationLevel): Promise<{ acked: number[]; audits: number[] }> {
  const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'shale-crashtest-bank-'));
  const ackLog = path.join(logDir, 'acks');
  fs.writeFileSync(ackLog, '');
  const seed = String((options.seed + cycle * 7919) >>> 0);
  const child = spawn(process.execPath, [CHILD_ENTRY, options.dir, ackLog, seed, String(firstId), isolation], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  try {
    while (!fs.readFileSync(ackLog, 'latin1').startsWith('open\n')) {
      if (child.exitCode !== null) throw new Error(`cycle ${cycle}: the bank exited with ${child.exitCode} before opening: ${stderr}`);
      await sleep(5);
    }
    await sleep(delayMs);
    if (child.exitCode !== null) throw new Error(`cycle ${cycle}: the bank exited with ${child.exitCode} before the kill: ${stderr}`);
  } finally {
    child.kill('SIGKILL');
    await exited;
  }
  const text = fs.readFileSync(ackLog, 'utf8');
  fs.rmSync(logDir, { recursive: true, force: true });
  // A kill can cut the last line: only whole lines count.
  const lines = text.slice(0, text.lastIndexOf('\n') + 1).split('\n').filter((line) => line.length > 0 && line !== 'open');
  const audits = lines.filter((line) => line.startsWith('audit ')).map((line) => Number(line.slice(6)));
  const acked = lines.filter((line) => !line.startsWith('audit ')).map(Number);
  return { acked, audits };
}

/**
 * The kill -9 cycles of the bank workload; `writers` is unused (64 transfers are
 * always in flight). Transfer ids continue across cycles, so records never collide.
 */
export async function runBankCrashtest(options: CrashtestOptions, isolation: IsolationLevel = 'snapshot'): Promise<CrashtestSummary> {
  const rng = new Rng(options.seed);
  // The bank workload runs without a read-only reader beside it (runCrashtest has one).
  const summary: CrashtestSummary = { cycles: 0, intentsIssued: 0, writesAcknowledged: 0, checkpointsStarted: 0, checkpointsComplete: 0, readerViewsChecked: 0, violations: [] };
  if (fs.existsSync(options.dir)) throw new Error(`${options.dir} exists: crashtest needs a fresh directory`);
  let firstId = 0;
  for (let cycle = 0; cycle < options.cycles; cycle++) {
    const delayMs = rng.range(options.killAfterMinMs, options.killAfterMaxMs);
    const { acked, audits } = await runBankCycle(options, cycle, firstId, delayMs, isolation);
    const violations: string[] = [];
    for (const sum of audits) {
      if (sum !== BANK_ACCOUNTS * BANK_OPENING_BALANCE) violations.push(`cycle ${cycle}: an audit in the child saw the balances sum to ${sum}`);
    }
    const db = await DB.open(options.dir).catch((err: unknown) => {
      throw new Error(`cycle ${cycle}: open after the kill failed: ${String(err)}`, { cause: err });
    });
    try {
      for (const problem of await checkBank(db, acked)) violations.push(`cycle ${cycle}: ${problem}`);
    } finally {
      await db.close();
    }
    // Each cycle's transfer ids start far past any the last cycle could have reached.
    firstId += CYCLE_IDS;
    summary.cycles++;
    summary.writesAcknowledged += acked.length;
    summary.intentsIssued += acked.length;
    summary.violations.push(...violations);
    options.onProgress?.(`cycle ${cycle + 1}/${options.cycles}: killed after ${delayMs} ms, ${acked.length} transfers committed, ${audits.length} audits, ${summary.violations.length} violations`);
  }
  return summary;
}
