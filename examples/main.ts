/**
 * The main job on an embedded default: opens a database in ./data under the
 * project, writes, reads back, scans, closes, reopens and prints what it found.
 * Run it with `npm start`; run it again to see the data survive.
 */
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DB } from '../src/index.js';

const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const location = process.argv[2] ?? path.join(projectRoot, 'data');
const count = 10_000;

async function main(): Promise<void> {
  let db = await DB.open(location);
  const before = db.latestSequence;
  console.log(`opened ${location}: ${db.recoveryReport.writesReplayed} writes recovered, latest sequence ${before}`);

  const run = Number(before / BigInt(count + 2)) + 1;
  const started = performance.now();
  // 64 writers in flight: group commit lets them share fsyncs.
  const inFlight = 64;
  for (let i = 0; i < count; i += inFlight) {
    const writes: Promise<void>[] = [];
    for (let j = i; j < Math.min(count, i + inFlight); j++) {
      writes.push(db.put(`user:${String(j).padStart(6, '0')}`, JSON.stringify({ id: j, run })));
    }
    await Promise.all(writes);
  }
  await db.write([
    { type: 'put', key: 'meta:last-run', value: String(run) },
    { type: 'delete', key: 'user:000000' },
  ]);
  const writeMs = performance.now() - started;
  console.log(`wrote ${count} sync puts (64 in flight) and a batch in ${writeMs.toFixed(0)} ms`);

  let found = 0;
  for (let i = 1; i < count; i++) {
    if ((await db.get(`user:${String(i).padStart(6, '0')}`)) !== undefined) found++;
  }
  console.log(`read back ${found} of ${count - 1} keys; user:000000 deleted: ${(await db.get('user:000000')) === undefined}`);

  let scanned = 0;
  let first: string | undefined;
  let last: string | undefined;
  for await (const [key] of db.iterator({ gte: 'user:', lt: 'user;' })) {
    first ??= key.toString();
    last = key.toString();
    scanned++;
  }
  console.log(`scanned ${scanned} users from ${first} to ${last}`);
  const newest = await db.keys({ gte: 'user:', lt: 'user;', reverse: true, limit: 3 }).all();
  console.log(`last three: ${newest.map(String).join(', ')}`);
  await db.close();

  db = await DB.open(location);
  const sample = await db.get('user:004242');
  console.log(`reopened: latest sequence ${db.latestSequence}, meta:last-run = ${(await db.get('meta:last-run'))?.toString()}`);
  console.log(`user:004242 = ${sample?.toString()}`);
  await db.close();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
