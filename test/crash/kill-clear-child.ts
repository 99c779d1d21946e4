/**
 * Child process of the kill-mid-clear test: through `ShaleLevel`, fills a
 * generation of keys in many small batches, acknowledges it, clears its range
 * with `clear({ gte, lt })`, acknowledges that, and starts the next generation,
 * until killed. Acknowledgements are synchronous appends, which a SIGKILL cannot lose.
 *
 * argv: <dir> <ack file> <cycle>
 */
import * as fs from 'node:fs';
import { ShaleLevel } from '../../src/level/index.js';

export const GENERATION_KEYS = 2000;
const BATCH_KEYS = 50;

const [dir, ackFile, cycle] = process.argv.slice(2) as [string, string, string];
const ackFd = fs.openSync(ackFile, 'a');
// A small memtable: fills and clears cross flushes and compactions.
const db = new ShaleLevel(dir, { memtableSizeBytes: 16 * 1024 });
await db.open();
fs.writeSync(ackFd, 'open\n');

for (let generation = 0; ; generation++) {
  const prefix = `c${cycle}-g${String(generation).padStart(4, '0')}-`;
  for (let i = 0; i < GENERATION_KEYS; i += BATCH_KEYS) {
    const batch = Array.from({ length: BATCH_KEYS }, (_, j) => ({ type: 'put' as const, key: `${prefix}${String(i + j).padStart(5, '0')}`, value: `v${i + j}` }));
    // Unsynced: the fill is many small writes, made durable together by the put below.
    await db.batch(batch, { sync: false } as object);
  }
  // A synced write after the fill: recovery is prefix-consistent, so the whole fill is durable with it.
  await db.put(`${prefix}done`, 'filled');
  fs.writeSync(ackFd, `filled ${prefix}\n`);
  await db.clear({ gte: prefix, lt: `${prefix}~` });
  fs.writeSync(ackFd, `cleared ${prefix}\n`);
}
