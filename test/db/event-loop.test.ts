import assert from 'node:assert/strict';
import { it } from 'node:test';
import { DB } from '../../src/index.js';
import { CrashableFS } from '../../src/testing/index.js';
import { ENTRIES_BETWEEN_TURNS, READS_BETWEEN_TURNS } from '../../src/util/event-loop.js';

it('a loop of awaited gets that never wait for I/O still lets the event loop turn', async () => {
  const db = await DB.open('/db', { fs: new CrashableFS() });
  await db.put('k', 'v');
  let timerRan = false;
  setImmediate(() => (timerRan = true));
  let readsBeforeTimer = -1;
  for (let i = 0; i < 4 * READS_BETWEEN_TURNS; i++) {
    assert.equal((await db.get('k'))?.toString(), 'v');
    if (timerRan && readsBeforeTimer < 0) readsBeforeTimer = i;
  }
  assert.ok(readsBeforeTimer >= 0 && readsBeforeTimer <= READS_BETWEEN_TURNS, `the immediate ran after ${readsBeforeTimer} reads`);
  await db.close();
});

it('a for-await scan served from its batches still lets the event loop turn', async () => {
  const db = await DB.open('/db', { fs: new CrashableFS() });
  const count = 3 * ENTRIES_BETWEEN_TURNS;
  await db.write(Array.from({ length: count }, (_, i) => ({ type: 'put' as const, key: `k${String(i).padStart(6, '0')}`, value: 'v' })));
  let timerRan = false;
  setImmediate(() => (timerRan = true));
  let seen = 0;
  let seenBeforeTimer = -1;
  for await (const key of db.keys()) {
    void key;
    seen++;
    if (timerRan && seenBeforeTimer < 0) seenBeforeTimer = seen;
  }
  assert.equal(seen, count);
  assert.ok(seenBeforeTimer > 0 && seenBeforeTimer <= 2 * ENTRIES_BETWEEN_TURNS, `the immediate ran after ${seenBeforeTimer} entries`);
  await db.close();
});
