/**
 * `clear()` is atomic under kill -9: a child fills generations of keys and clears
 * each with `ShaleLevel.clear({ gte, lt })`; it is killed at random moments, often
 * in the middle of a clear. After each kill every generation whose fill was
 * acknowledged holds all of its keys or none, and none once its clear was
 * acknowledged. (The key-by-key clear this replaced could leave half a range.)
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DB } from '../../src/index.js';
import { seededRandom, tempDir, testSeed } from '../helpers.js';

const childScript = fileURLToPath(new URL('./kill-clear-child.js', import.meta.url));
const KILLS = Number(process.env['KILLS'] ?? 8);
/** Keys per generation, as the child writes them, plus its `done` marker. */
const GENERATION_ENTRIES = 2000 + 1;

/** Runs the child until it has acknowledged `fills` fills, so its next step is a clear, then `delayMs` more, then SIGKILLs it. */
async function runAndKill(dir: string, ackFile: string, cycle: number, fills: number, delayMs: number): Promise<void> {
  const child = spawn(process.execPath, [childScript, dir, ackFile, String(cycle)], { stdio: ['ignore', 'inherit', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const started = Date.now();
  const filledCount = (): number => (fs.existsSync(ackFile) ? fs.readFileSync(ackFile, 'latin1').split('filled ').length - 1 : 0);
  while (filledCount() < fills) {
    if (child.exitCode !== null) throw new Error(`child exited with ${child.exitCode}: ${stderr}`);
    if (Date.now() - started > 30_000) throw new Error(`child acknowledged ${filledCount()} fills within 30 s`);
    await new Promise((resolve) => setImmediate(resolve));
  }
  await new Promise((resolve) => setTimeout(resolve, delayMs));
  child.kill('SIGKILL');
  await exited;
}

describe('kill -9 during clear()', () => {
  it(`a range is cleared whole or not at all, across ${KILLS} kills`, async () => {
    const random = seededRandom(testSeed('kill mid-clear'));
    const dir = tempDir();
    let clearsCaught = 0;
    let clearsDone = 0;
    for (let cycle = 0; cycle < KILLS; cycle++) {
      const ackFile = path.join(tempDir('shale-acks-'), 'acks');
      // Right after a fill's acknowledgement the child is clearing: most kills land in or around the clear.
      await runAndKill(dir, ackFile, cycle, 1 + Math.floor(random() * 3), Math.floor(random() * 4));
      const lines = fs.readFileSync(ackFile, 'latin1').split('\n');
      const filled = lines.filter((line) => line.startsWith('filled ')).map((line) => line.slice(7));
      const cleared = new Set(lines.filter((line) => line.startsWith('cleared ')).map((line) => line.slice(8)));
      const db = await DB.open(dir, { autoCompaction: false });
      try {
        for (const prefix of filled) {
          const count = (await db.keys({ gte: prefix, lt: `${prefix}~` }).all()).length;
          if (cleared.has(prefix)) {
            assert.equal(count, 0, `cycle ${cycle}: ${prefix} was acknowledged cleared but holds ${count} keys`);
            clearsDone++;
          } else {
            assert.ok(count === 0 || count === GENERATION_ENTRIES, `cycle ${cycle}: ${prefix} holds ${count} of ${GENERATION_ENTRIES} keys: a clear was cut in half`);
            clearsCaught++;
          }
        }
        db.checkInvariants();
      } finally {
        await db.close();
      }
    }
    console.log(`# kill mid-clear: ${KILLS} kills, ${clearsDone} clears acknowledged, ${clearsCaught} fills caught before or during their clear`);
    assert.ok(clearsDone > 0, 'the children acknowledged clears before being killed');
    assert.ok(clearsCaught > 0, 'some kills landed before a clear was acknowledged');
  });
});
