/**
 * The writer process of `shale crashtest`: several concurrent writers issue puts,
 * deletes, range deletes and batches, sync and not, until the process is killed. Each intent is
 * appended to the intent log (synchronously) before its call, and each
 * acknowledgement after it resolves, so a SIGKILL cannot lose what was logged.
 * Beside them, manual compactions run now and then, split into subcompactions,
 * and checkpoints are taken (crashtest-checkpoints.ts).
 */
import * as fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { DB } from '../db/db.js';
import { Rng } from '../testing/rng.js';
import { checkpointLoop } from './crashtest-checkpoints.js';
import { EXPIRED_BY_MS, EXPIRY_FAR_MS, KEY_SPACE, encodeIntent, makeValue, type CrashOp, type Intent } from './crashtest-workload.js';

export interface ChildArguments {
  dir: string;
  intentLog: string;
  ackLog: string;
  seed: number;
  writers: number;
  /** Intent numbers continue across cycles. */
  firstIntent: number;
}

function keyName(n: number): string {
  return `key${String(n).padStart(5, '0')}`;
}

/** A range delete over a few keys, now and then over a good share of the key space. */
function randomRangeDelete(rng: Rng): CrashOp {
  const first = rng.int(KEY_SPACE);
  const last = Math.min(KEY_SPACE, first + (rng.bool(0.1) ? rng.range(0, KEY_SPACE / 2) : rng.range(0, 20)));
  return { type: 'deleteRange', start: keyName(first), end: keyName(last) };
}

function randomOps(rng: Rng, intent: number, expiries: Rng): CrashOp[] {
  // From the expiries' stream: the other draws stay the seed's.
  if (expiries.bool(0.02)) return [randomRangeDelete(expiries)];
  const count = rng.bool(0.2) ? rng.range(2, 20) : 1;
  const ops: CrashOp[] = [];
  for (let i = 0; i < count; i++) {
    const key = keyName(rng.int(KEY_SPACE));
    if (rng.bool(0.15)) {
      ops.push({ type: 'delete', key });
      continue;
    }
    const op: CrashOp = { type: 'put', key, value: makeValue(key, intent, rng.int(300)) };
    // Expiring puts, by the rule of crashtest-workload.ts: one that cannot expire during the run, or one expired already.
    const roll = expiries.int(10);
    if (roll === 0) op.expiresAt = Date.now() + EXPIRY_FAR_MS + expiries.int(1000);
    else if (roll === 1) op.expiresAt = expiries.int(EXPIRED_BY_MS + 1);
    ops.push(op);
  }
  return ops;
}

export async function runCrashtestChild(args: ChildArguments): Promise<never> {
  const intentFd = fs.openSync(args.intentLog, 'a');
  const ackFd = fs.openSync(args.ackLog, 'a');
  // Small sizes, so flushes and compactions happen within a cycle.
  // Manual compactions in two key ranges side by side, beside two automatic ones: a kill lands in either.
  const db = await DB.open(args.dir, {
    memtableSizeBytes: 64 * 1024,
    targetFileSizeBytes: 64 * 1024,
    levelBaseBytes: 256 * 1024,
    compactionThreads: 2,
    subcompactions: 2,
  });
  fs.writeSync(ackFd, 'open\n');
  const rng = new Rng(args.seed);
  // Which puts expire: a stream of its own, so the rest of the writes stay the seed's.
  const expiries = new Rng(args.seed ^ 0x7717_e0f1);
  let next = args.firstIntent;
  const writer = async (): Promise<never> => {
    for (;;) {
      const index = next++;
      const intent: Intent = { index, ops: randomOps(rng, index, expiries), sync: rng.bool(0.5) };
      fs.writeSync(intentFd, `${encodeIntent(intent)}\n`);
      const [op] = intent.ops;
      const options = { sync: intent.sync };
      if (intent.ops.length > 1) await db.write(intent.ops, options);
      else if (op!.type === 'put') await db.put(op!.key, op!.value, op!.expiresAt === undefined ? options : { ...options, expiresAt: op!.expiresAt });
      else if (op!.type === 'delete') await db.delete(op!.key, options);
      else await db.deleteRange(op!.start, op!.end, options);
      fs.writeSync(ackFd, `${intent.index}\n`);
    }
  };
  // compactRange now and then, of everything or of a random range: a stream of its own, so the writes stay the seed's.
  const compactions = new Rng(args.seed ^ 0x5eed_c0de);
  const compactor = async (): Promise<never> => {
    for (;;) {
      await sleep(compactions.range(100, 800));
      if (compactions.bool(0.3)) {
        await db.compactRange();
      } else {
        const a = compactions.int(KEY_SPACE);
        const b = compactions.int(KEY_SPACE);
        await db.compactRange(keyName(Math.min(a, b)), keyName(Math.max(a, b)));
      }
    }
  };
  // Checkpoints now and then, beside the writes: a stream of its own too.
  const checkpoints = checkpointLoop(db, args.dir, args.firstIntent, new Rng(args.seed ^ 0xc4ec_4b07), ackFd);
  return Promise.all([...Array.from({ length: args.writers }, writer), compactor(), checkpoints]) as Promise<never>;
}
