import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DB } from '../../src/index.js';
import { seededRandom, tempDir, testSeed } from '../helpers.js';

const childScript = fileURLToPath(new URL('./kill-child.js', import.meta.url));
const KILLS = Number(process.env['KILLS'] ?? 20);

/** Runs the child until it has opened the database, then `delayMs` more, then SIGKILLs it. */
async function runAndKill(dir: string, ackFile: string, cycle: number, delayMs: number): Promise<void> {
  const child = spawn(process.execPath, [childScript, dir, ackFile, String(cycle), '8'], { stdio: ['ignore', 'inherit', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const started = Date.now();
  // Wait for the child to report that its open completed, so the kill lands among writes.
  while (!fs.existsSync(ackFile) || !fs.readFileSync(ackFile, 'latin1').includes('open\n')) {
    if (child.exitCode !== null) throw new Error(`child exited with ${child.exitCode} before opening: ${stderr}`);
    if (Date.now() - started > 20_000) throw new Error('child did not open within 20 s');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  await new Promise((resolve) => setTimeout(resolve, delayMs));
  child.kill('SIGKILL');
  await exited;
}

/** After open, the directory holds exactly the live tables, one log, one MANIFEST, CURRENT and LOCK. */
function assertNoOrphans(dir: string, db: DB, cycle: number): void {
  const names = fs.readdirSync(dir).sort();
  const tables = names.filter((name) => name.endsWith('.sst')).map((name) => Number.parseInt(name, 10));
  assert.deepEqual(tables, db.liveTableNumbers(), `cycle ${cycle}: orphan or missing tables in ${names.join(' ')}`);
  assert.equal(names.filter((name) => name.endsWith('.log')).length, 1, `cycle ${cycle}: ${names.join(' ')}`);
  assert.equal(names.filter((name) => name.startsWith('MANIFEST-')).length, 1, `cycle ${cycle}: ${names.join(' ')}`);
  const others = names.filter((name) => !/\.(sst|log)$/.test(name) && !name.startsWith('MANIFEST-'));
  assert.deepEqual(others, ['CURRENT', 'LOCK'], `cycle ${cycle}: unexpected files`);
}

describe('kill -9', () => {
  it(`never loses a write acknowledged with sync: true and leaves no orphan files, across ${KILLS} kills during writes, flushes and compactions`, async () => {
    const random = seededRandom(testSeed('kill -9'));
    const dir = tempDir();
    let acknowledged = 0;
    let flushes = 0;
    let compactions = 0;
    for (let cycle = 0; cycle < KILLS; cycle++) {
      const ackFile = path.join(tempDir('shale-acks-'), 'acks');
      await runAndKill(dir, ackFile, cycle, 20 + Math.floor(random() * 300));
      const lines = fs.readFileSync(ackFile, 'latin1').split('\n');
      flushes += lines.filter((line) => line === '#flush').length;
      compactions += lines.filter((line) => line === '#compaction').length;
      const acks = lines.filter((line) => line.length > 0 && line !== 'open' && !line.startsWith('#'));
      // No background compaction in the checking open: the orphan check lists the directory.
      const db = await DB.open(dir, { autoCompaction: false });
      try {
        for (const key of acks) {
          assert.equal((await db.get(key))?.toString(), `value of ${key}`, `cycle ${cycle}: acknowledged ${key} lost`);
          const n = Number(key.split('-').at(-1));
          if (n % 5 === 4) assert.equal((await db.get(`${key}-pair`))?.toString(), `value of ${key}`, `half a batch`);
        }
        db.checkInvariants();
        assertNoOrphans(dir, db, cycle);
      } finally {
        await db.close();
      }
      acknowledged += acks.length;
    }
    console.log(`# kill -9: ${KILLS} kills, ${acknowledged} acknowledged writes all recovered; the children completed ${flushes} flushes and ${compactions} compactions`);
    assert.ok(acknowledged > KILLS, 'the children acknowledged writes before being killed');
  });
});
