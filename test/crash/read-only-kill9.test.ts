/**
 * A read-only database attached to a writer process that is killed with
 * SIGKILL again and again (`kill-child.ts`, the kill -9 test's writer: eight
 * writers, a 16 KiB memtable, so flushes, compactions and log deletions never
 * stop). The reader stays open across the kills and the writer's reopenings,
 * and after every `refresh()` checks that its view holds every write
 * acknowledged before the call and is prefix-consistent: each child writer's
 * keys form a prefix of what it wrote (it awaits each write before the next),
 * and a batch's two keys are there together or not at all.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DB } from '../../src/index.js';
import { seededRandom, tempDir, testSeed } from '../helpers.js';

const childScript = fileURLToPath(new URL('./kill-child.js', import.meta.url));
const KILLS = Number(process.env['READER_KILLS'] ?? 6);

function acknowledged(ackFile: string): string[] {
  if (!fs.existsSync(ackFile)) return [];
  return fs
    .readFileSync(ackFile, 'latin1')
    .split('\n')
    .filter((line) => line.length > 0 && line !== 'open' && !line.startsWith('#'));
}

async function startChild(dir: string, ackFile: string, cycle: number): Promise<{ child: ChildProcess; exited: Promise<void> }> {
  const child = spawn(process.execPath, [childScript, dir, ackFile, String(cycle), '8'], { stdio: ['ignore', 'inherit', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const started = Date.now();
  while (!fs.existsSync(ackFile) || !fs.readFileSync(ackFile, 'latin1').includes('open\n')) {
    if (child.exitCode !== null) throw new Error(`child exited with ${child.exitCode} before opening: ${stderr}`);
    if (Date.now() - started > 20_000) throw new Error('child did not open within 20 s');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return { child, exited };
}

/** Checks the reader's view against the writes acknowledged before its last refresh (`required`); returns the keys it holds. */
async function checkView(reader: DB, required: readonly string[], where: string): Promise<number> {
  const present = new Map<string, string>();
  for await (const [key, value] of reader.iterator()) present.set(key.toString(), value.toString());
  for (const key of required) assert.equal(present.get(key), `value of ${key}`, `${where}: acknowledged ${key} missing from the view`);
  /** The write numbers each child writer (cycle and id) has in the view. */
  const byWriter = new Map<string, Set<number>>();
  for (const [key, value] of present) {
    const match = /^(c\d+-w\d+)-(\d+)(-pair)?$/.exec(key);
    assert.ok(match, `${where}: unexpected key ${key}`);
    const written = match[3] === undefined ? key : key.slice(0, -'-pair'.length);
    assert.equal(value, `value of ${written}`, `${where}: ${key}`);
    const n = Number(match[2]);
    // A batch's two keys come together (n % 5 === 4 writes a batch).
    if (n % 5 === 4) assert.equal(present.has(written) && present.has(`${written}-pair`), true, `${where}: half of batch ${written}`);
    else assert.equal(match[3], undefined, `${where}: ${key} is no batch`);
    let numbers = byWriter.get(match[1]!);
    if (numbers === undefined) byWriter.set(match[1]!, (numbers = new Set()));
    numbers.add(n);
  }
  for (const [writer, numbers] of byWriter) {
    for (let n = 0; n < numbers.size; n++) assert.ok(numbers.has(n), `${where}: ${writer} has ${numbers.size} writes in the view but not its write ${n}: no prefix`);
  }
  return present.size;
}

describe('kill -9 with a read-only reader attached', () => {
  it(`a reader that refreshes beside a writer killed ${KILLS} times always sees a prefix-consistent state holding every write acknowledged before its refresh`, async () => {
    const random = seededRandom(testSeed('read-only beside kill -9'));
    const dir = tempDir();
    const ackFiles: string[] = [];
    let reader: DB | undefined;
    let refreshes = 0;
    let keys = 0;
    let retries = 0;
    try {
      for (let cycle = 0; cycle < KILLS; cycle++) {
        const ackFile = path.join(tempDir('shale-acks-'), 'acks');
        ackFiles.push(ackFile);
        const { child, exited } = await startChild(dir, ackFile, cycle);
        const before = ackFiles.slice(0, -1).flatMap(acknowledged);
        if (reader === undefined) {
          reader = await DB.open(dir, { readOnly: true });
        } else {
          // The writer's open replayed and deleted the logs and tables the old view reads: it still reads them.
          await checkView(reader, before, `cycle ${cycle}, the view from before the writer reopened`);
        }
        for (let round = random() * 6; round >= 0; round--) {
          await new Promise((resolve) => setTimeout(resolve, Math.floor(random() * 80)));
          const required = ackFiles.flatMap(acknowledged);
          await reader.refresh();
          refreshes++;
          keys = await checkView(reader, required, `cycle ${cycle}, while the writer runs`);
        }
        child.kill('SIGKILL');
        await exited;
        const required = ackFiles.flatMap(acknowledged);
        await reader.refresh();
        refreshes++;
        keys = await checkView(reader, required, `cycle ${cycle}, after the kill`);
        reader.checkInvariants();
      }
      retries = Number(/^shale_read_only_load_retries_total (\d+)$/m.exec(reader!.metrics())?.[1]);
    } finally {
      await reader?.close();
    }
    console.log(`# ${refreshes} refreshes checked, ${keys} keys in the last view, ${retries} loads started again`);
    assert.ok(keys > 0);
  });
});
