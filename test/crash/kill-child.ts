/**
 * Child process of the kill -9 test: writes until killed, recording each
 * acknowledged write with a synchronous append to an ack file (which a SIGKILL
 * cannot lose, since the write syscall has returned).
 *
 * argv: <dir> <ack file> <cycle> <writers>
 */
import * as fs from 'node:fs';
import { DB } from '../../src/index.js';

const [dir, ackFile, cycle, writers] = process.argv.slice(2) as [string, string, string, string];
const ackFd = fs.openSync(ackFile, 'a');
// A small memtable, so that flushes (table writes, MANIFEST edits, log deletions) happen all the time.
const db = await DB.open(dir, { memtableSizeBytes: 16 * 1024 });
db.on('flush', () => fs.writeSync(ackFd, '#flush\n'));
db.on('compaction', () => fs.writeSync(ackFd, '#compaction\n'));
fs.writeSync(ackFd, 'open\n');

async function writer(id: number): Promise<never> {
  for (let n = 0; ; n++) {
    const key = `c${cycle}-w${id}-${n}`;
    if (n % 5 === 4) {
      await db.write([
        { type: 'put', key, value: `value of ${key}` },
        { type: 'put', key: `${key}-pair`, value: `value of ${key}` },
      ]);
    } else {
      await db.put(key, `value of ${key}`);
    }
    fs.writeSync(ackFd, `${key}\n`);
  }
}

await Promise.all(Array.from({ length: Number(writers) }, (_, id) => writer(id)));
