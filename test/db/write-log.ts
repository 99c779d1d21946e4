/**
 * A record of writes and the sequence each one ended at, so that a test can
 * rebuild the database's content at any sequence (a checkpoint's, a backup's)
 * and compare a full scan with it.
 */
import type { DB } from '../../src/index.js';
import type { SeededRandom } from '../helpers.js';

/** Writes and the sequence each one ended at, so that the state at any sequence can be rebuilt. */
export class WriteLog {
  readonly entries: { seq: bigint; key: string; value: string | undefined }[] = [];

  async put(db: DB, key: string, value: string): Promise<void> {
    await db.put(key, value);
    this.entries.push({ seq: db.latestSequence, key, value });
  }

  async delete(db: DB, key: string): Promise<void> {
    await db.delete(key);
    this.entries.push({ seq: db.latestSequence, key, value: undefined });
  }

  /** The content after every write with sequence ≤ `seq`, as sorted [key, value] pairs. */
  stateAt(seq: bigint): [string, string][] {
    const state = new Map<string, string>();
    for (const entry of this.entries) {
      if (entry.seq > seq) break;
      if (entry.value === undefined) state.delete(entry.key);
      else state.set(entry.key, entry.value);
    }
    return [...state].sort((a, b) => Buffer.compare(Buffer.from(a[0]), Buffer.from(b[0])));
  }
}

export async function scan(db: DB): Promise<[string, string][]> {
  return (await db.iterator().all()).map(([key, value]) => [key.toString(), value.toString()]);
}

/** Random writes over `keyCount` keys, one at a time. */
export async function randomWrites(db: DB, log: WriteLog, random: SeededRandom, count: number, keyCount = 300): Promise<void> {
  for (let i = 0; i < count; i++) {
    const key = `key${String(random.int(0, keyCount - 1)).padStart(4, '0')}`;
    if (random.next() < 0.2) await log.delete(db, key);
    else await log.put(db, key, `${key}:${i}:${'v'.repeat(random.int(0, 80))}`);
  }
}

