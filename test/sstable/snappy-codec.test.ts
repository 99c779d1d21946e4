/**
 * snappy loading and the uncompressed mode (docs/internals.md, "Snappy"): a
 * process where no snappy build loads (`SHALE_SNAPPY=off` stands in for one)
 * still opens and writes, storing every block uncompressed; its tables read in
 * any process; and a snappy table it meets is a `NOT_SUPPORTED` error naming the
 * file, never data and never a corruption report.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { DB } from '../../src/index.js';
import { snappy } from '../../src/sstable/snappy-codec.js';
import { scriptFile, tempDir } from '../helpers.js';

const indexUrl = new URL('../../src/index.js', import.meta.url).href;
/** Compressible values: snappy keeps the compressed form of every block of them. */
const VALUE = 'abcdefgh'.repeat(64);
const KEY_COUNT = 200;

/** Runs `body` (a module with `DB` and `dir` in scope) in a child process with `env` added; returns its stdout. */
function runChild(dir: string, body: string, env: Record<string, string>): string {
  const script = scriptFile(`import { DB } from ${JSON.stringify(indexUrl)};\nconst dir = ${JSON.stringify(dir)};\n${body}\n`);
  return execFileSync(process.execPath, [script], { encoding: 'utf8', env: { ...process.env, ...env } }).trim();
}

const WRITE = `
const db = await DB.open(dir, { compactionExecutor: 'inline', compressionMinLevel: 0 });
for (let i = 0; i < ${KEY_COUNT}; i++) await db.put('k' + String(i).padStart(4, '0'), ${JSON.stringify(VALUE)}, { sync: false });
await db.flush();
await db.close();
console.log('written');`;

const READ = `
const db = await DB.open(dir);
try {
  const value = await db.get('k0007');
  console.log(value !== undefined && String(value) === ${JSON.stringify(VALUE)} ? 'read' : 'wrong value');
} catch (err) {
  console.log(err.code + ' ' + err.message);
} finally {
  await db.close();
}`;

/** The bytes of the database's tables: compressed ones are far smaller than the values written. */
function tableBytes(dir: string): number {
  return fs
    .readdirSync(dir)
    .filter((name) => name.endsWith('.sst'))
    .reduce((sum, name) => sum + fs.statSync(path.join(dir, name)).size, 0);
}

describe('snappy', () => {
  it(`loads on this runtime (${typeof Bun !== 'undefined' ? 'Bun' : typeof Deno !== 'undefined' ? 'Deno' : `Node ${process.version}`})`, () => {
    // Every runtime CI runs loads a native build; where one does not, the tests below say what happens.
    assert.ok(snappy.available, snappy.available ? '' : snappy.reason);
  });

  it('without a snappy build, a database opens, writes uncompressed tables, and any build reads them', () => {
    const dir = path.join(tempDir(), 'db');
    assert.equal(runChild(dir, WRITE, { SHALE_SNAPPY: 'off' }), 'written');
    assert.ok(tableBytes(dir) > KEY_COUNT * VALUE.length, 'the table holds the values uncompressed');
    assert.equal(runChild(dir, READ, { SHALE_SNAPPY: 'off' }), 'read');
    assert.equal(runChild(dir, READ, {}), 'read');
  });

  it('without a snappy build, a snappy table is NOT_SUPPORTED naming the file and the reason', () => {
    const dir = path.join(tempDir(), 'db');
    assert.equal(runChild(dir, WRITE, {}), 'written');
    assert.ok(tableBytes(dir) < (KEY_COUNT * VALUE.length) / 4, 'the table is snappy-compressed');
    const output = runChild(dir, READ, { SHALE_SNAPPY: 'off' });
    assert.match(output, /^NOT_SUPPORTED \S*\d{6}\.sst at offset \d+: the block is snappy-compressed, and SHALE_SNAPPY=off is set/);
  });

  it('with snappy, a table of compressible values is stored compressed', async () => {
    const dir = path.join(tempDir(), 'db');
    const db = await DB.open(dir, { compactionExecutor: 'inline', compressionMinLevel: 0 });
    for (let i = 0; i < KEY_COUNT; i++) await db.put(`k${String(i).padStart(4, '0')}`, VALUE, { sync: false });
    await db.flush();
    await db.close();
    assert.ok(tableBytes(dir) < (KEY_COUNT * VALUE.length) / 4);
  });
});

declare const Bun: unknown;
declare const Deno: unknown;
