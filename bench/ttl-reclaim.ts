/**
 * The TTL benchmark (docs/benchmarks.md, "TTL: space comes back without reads"):
 * fill a database with `--num` keys (incompressible values) of which `--expiring`
 * (a fraction) expire together, `--ttl` ms after the fill starts (choose it longer
 * than the fill), then do nothing at all (no reads, no writes) and sample the
 * directory's size every `--sample` ms until it settles below what the live keys
 * need, or `--wait` ms pass. Shale's own run: the other engines have no TTL.
 *
 *   node dist/bench/ttl-reclaim.js [--num 200000] [--value 100] [--expiring 0.9] [--ttl 20000] [--wait 60000] [--dir path]
 *
 * It prints one line per sample (ms since the fill ended, bytes on disk, tables,
 * compactions so far) and a summary; it exits 1 if the size never fell below
 * half its peak, so it can run as a smoke check.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { DB } from '../src/index.js';
import { diskUsage } from './disk-usage.js';

interface TtlBenchConfig {
  num: number;
  valueBytes: number;
  expiringFraction: number;
  ttlMs: number;
  waitMs: number;
  sampleMs: number;
  dir: string | undefined;
}

function parseArguments(argv: readonly string[]): TtlBenchConfig {
  const config: TtlBenchConfig = { num: 200_000, valueBytes: 100, expiringFraction: 0.9, ttlMs: 20_000, waitMs: 60_000, sampleMs: 250, dir: undefined };
  for (let i = 0; i < argv.length; i += 2) {
    const name = argv[i];
    const text = argv[i + 1];
    if (text === undefined) throw new Error(`${name} needs a value`);
    const number = Number(text);
    if (name === '--dir') config.dir = text;
    else if (name === '--num') config.num = number;
    else if (name === '--value') config.valueBytes = number;
    else if (name === '--expiring') config.expiringFraction = number;
    else if (name === '--ttl') config.ttlMs = number;
    else if (name === '--wait') config.waitMs = number;
    else if (name === '--sample') config.sampleMs = number;
    else throw new Error(`unknown argument ${name}`);
    if (name !== '--dir' && !(Number.isFinite(number) && number >= 0)) throw new Error(`${name} must be a number ≥ 0`);
  }
  return config;
}

function keyOf(index: number): string {
  return `key${String(index).padStart(10, '0')}`;
}

async function main(): Promise<number> {
  const config = parseArguments(process.argv.slice(2));
  const dir = config.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'shale-ttl-bench-'));
  const db = await DB.open(dir);
  let compactions = 0;
  db.on('compaction', () => compactions++);
  // Incompressible values: snappy would make repeated bytes almost free, and the size fall less telling.
  const started = performance.now();
  const expiresAt = Date.now() + config.ttlMs;
  // Of every 100 consecutive keys the first expiringFraction × 100 expire: the same keys every run.
  const expiringPerHundred = Math.round(config.expiringFraction * 100);
  let live = 0;
  const inFlight: Promise<void>[] = [];
  for (let i = 0; i < config.num; i++) {
    const expires = i % 100 < expiringPerHundred;
    if (!expires) live++;
    const value = randomBytes(config.valueBytes);
    inFlight.push(db.put(keyOf(i), value, expires ? { sync: false, expiresAt } : { sync: false }));
    if (inFlight.length >= 64) await Promise.all(inFlight.splice(0));
  }
  await Promise.all(inFlight);
  await db.flush();
  const fillMs = performance.now() - started;
  const liveBytes = live * (keyOf(0).length + config.valueBytes);
  console.log(
    `# filled ${config.num} keys (${config.num - live} expiring ${config.ttlMs} ms after the fill started, ${live} not) in ${fillMs.toFixed(0)} ms; live data ${liveBytes} bytes`,
  );
  console.log('# ms after fill\tbytes on disk\ttables\tcompactions');
  const filled = performance.now();
  let peak = 0;
  let last = 0;
  for (;;) {
    const elapsed = performance.now() - filled;
    last = diskUsage(dir).apparentBytes;
    peak = Math.max(peak, last);
    const tables = db.levelFileCounts().reduce((sum, count) => sum + count, 0);
    console.log(`${elapsed.toFixed(0)}\t${last}\t${tables}\t${compactions}`);
    if ((Date.now() > expiresAt && last < 2 * liveBytes + 64 * 1024) || elapsed > config.waitMs) break;
    await sleep(config.sampleMs);
  }
  await db.close();
  if (config.dir === undefined) fs.rmSync(dir, { recursive: true, force: true });
  const fell = last < peak / 2;
  console.log(`# peak ${peak} bytes, end ${last} bytes (${((100 * last) / Math.max(1, peak)).toFixed(1)}% of peak), ${compactions} compactions, no reads`);
  return fell ? 0 : 1;
}

process.exitCode = await main();
