/**
 * The `shale` commands checkpoint, backup, backups, purge-backups, restore,
 * export and import (src/cli/commands/backup.ts): each through its function and
 * through the shale binary, with what it prints and its exit code.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DB } from '../../../src/index.js';
import { backupCommand, checkpointCommand, exportCommand, importCommand, listBackupsCommand, purgeBackupsCommand, restoreCommand } from '../../../src/cli/commands/backup.js';
import { tempDir } from '../../helpers.js';

const cliPath = fileURLToPath(new URL('../../../src/cli/shale.js', import.meta.url));

function shale(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [cliPath, ...args], { encoding: 'utf8', timeout: 60_000 });
  assert.doesNotMatch(result.stderr, /^\s+at /m, `no stack trace: ${result.stderr}`);
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Streams that collect what a command writes. */
function capture(stdin: Readable = Readable.from([])): { io: { stdin: Readable; stdout: PassThrough; stderr: PassThrough }; out(): string; err(): string } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const chunks: Buffer[] = [];
  const errors: Buffer[] = [];
  stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
  stderr.on('data', (chunk: Buffer) => errors.push(chunk));
  return { io: { stdin, stdout, stderr }, out: () => Buffer.concat(chunks).toString(), err: () => Buffer.concat(errors).toString() };
}

async function makeDatabase(count = 200): Promise<string> {
  const dir = path.join(tempDir(), 'db');
  const db = await DB.open(dir);
  for (let i = 0; i < count; i++) await db.put(`key${String(i).padStart(4, '0')}`, `value ${i}`);
  await db.close();
  return dir;
}

async function contents(dir: string): Promise<string[]> {
  const db = await DB.open(dir, { createIfMissing: false });
  try {
    return (await db.iterator().all()).map(([key, value]) => `${key.toString()}=${value.toString()}`);
  } finally {
    await db.close();
  }
}

describe('shale checkpoint, backup, backups, purge-backups, restore, export, import', () => {
  it('each command does its job and says what it did', async () => {
    const dir = await makeDatabase();
    const expected = await contents(dir);
    const root = tempDir();

    let c = capture();
    await checkpointCommand({ db: dir, target: path.join(root, 'checkpoint') }, c.io);
    assert.match(c.out(), /^checkpoint .*checkpoint: sequence 200, 1 tables \(1 linked\), \d+ bytes\n$/);
    assert.deepEqual(await contents(path.join(root, 'checkpoint')), expected);

    const backups = path.join(root, 'backups');
    c = capture();
    await backupCommand({ db: dir, backupDir: backups }, c.io);
    await backupCommand({ db: dir, backupDir: backups }, c.io);
    assert.match(c.out(), /^backup 1: sequence 200, 1 tables, \d+ bytes\nbackup 2: sequence 200/);
    c = capture();
    await listBackupsCommand({ backupDir: backups, verify: true }, c.io);
    assert.match(c.out(), /^1\t\S+\tsequence 200\t1 tables\t\d+ bytes verified\n2\t/);
    c = capture();
    await restoreCommand({ backupDir: backups, target: path.join(root, 'restored') }, c.io);
    assert.match(c.out(), /^restored backup 2 \(sequence 200\)/);
    assert.deepEqual(await contents(path.join(root, 'restored')), expected);
    c = capture();
    await purgeBackupsCommand({ backupDir: backups, keep: 1 }, c.io);
    assert.equal(c.out(), 'removed backups 1\n');

    const file = path.join(root, 'export.jsonl');
    await exportCommand({ db: dir, out: file, format: 'jsonl', encoding: 'utf8' }, capture().io);
    assert.equal(fs.readFileSync(file, 'utf8').split('\n')[1], '{"key":"key0000","value":"value 0"}');
    c = capture();
    await importCommand({ db: path.join(root, 'from-file'), in: file }, c.io);
    assert.equal(c.out(), `imported 200 entries (jsonl) into ${path.join(root, 'from-file')}\n`);
    assert.deepEqual(await contents(path.join(root, 'from-file')), expected);

    // export to stdout, import from stdin: the binary bytes as they are.
    const stdout = new PassThrough();
    const chunks: Buffer[] = [];
    stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    await exportCommand({ db: dir }, { stdin: Readable.from([]), stdout });
    c = capture(Readable.from([Buffer.concat(chunks)]));
    await importCommand({ db: path.join(root, 'from-stdin') }, c.io);
    assert.equal(c.out(), `imported 200 entries (binary) into ${path.join(root, 'from-stdin')}\n`);
    assert.deepEqual(await contents(path.join(root, 'from-stdin')), expected);
  });

  it('the shale binary: exit 0 on success, 1 with the reason on failure, 2 for a bad command line; stdin and stdout carry exports', async () => {
    const dir = await makeDatabase(10);
    const root = tempDir();
    const backups = path.join(root, 'b');
    let run = shale('backup', dir, backups);
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /^backup 1: sequence 10, 1 tables, \d+ bytes\n$/);
    run = shale('backups', backups, '--verify');
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /^1\t\S+\tsequence 10\t1 tables\t\d+ bytes verified\n$/);
    run = shale('restore', backups, path.join(root, 'r'), '--id', '1');
    assert.equal(run.status, 0, run.stderr);
    assert.deepEqual(await contents(path.join(root, 'r')), await contents(dir));
    run = shale('checkpoint', dir, path.join(root, 'c'));
    assert.equal(run.status, 0, run.stderr);
    assert.deepEqual(await contents(path.join(root, 'c')), await contents(dir));

    // The binary export through a pipe, byte for byte.
    const exported = spawnSync(process.execPath, [cliPath, 'export', dir]);
    assert.equal(exported.status, 0, exported.stderr.toString());
    const imported = spawnSync(process.execPath, [cliPath, 'import', path.join(root, 'i')], { input: exported.stdout });
    assert.equal(imported.status, 0, imported.stderr.toString());
    assert.equal(imported.stdout.toString(), `imported 10 entries (binary) into ${path.join(root, 'i')}\n`);
    assert.deepEqual(await contents(path.join(root, 'i')), await contents(dir));

    assert.equal(shale('backup', dir, backups).status, 0);
    run = shale('delete-backup', backups, '1');
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stdout, 'removed backup 1\n');
    assert.match(shale('backups', backups).stdout, /^2\t/);
    assert.equal(shale('delete-backup', backups, '1').status, 1);
    assert.equal(shale('delete-backup', backups, 'x').status, 2);
    run = shale('restore', backups, path.join(root, 'r'));
    assert.equal(run.status, 1);
    assert.match(run.stderr, /^shale restore: .*already exists/);
    run = shale('backups', tempDir());
    assert.equal(run.status, 1);
    for (const args of [
      ['checkpoint', dir],
      ['purge-backups', backups],
      ['purge-backups', backups, '--keep', '-1'],
      ['restore', backups, path.join(root, 'r2'), '--id', '0'],
      ['export', dir, '--format', 'csv'],
      ['backups', backups, '--bogus'],
    ]) {
      run = shale(...args);
      assert.equal(run.status, 2, `${args.join(' ')}: ${run.stderr}`);
      assert.match(run.stderr, /^shale: /, args.join(' '));
    }
    assert.match(shale('--help').stdout, /checkpoint[^]*backup[^]*backups[^]*purge-backups[^]*delete-backup[^]*restore[^]*export[^]*import/);
  });
});
