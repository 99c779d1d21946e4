/**
 * The `shale` commands checkpoint, backup, backups, purge-backups, restore,
 * export and import (src/cli/commands/backup.ts): each through its function and
 * through the command-line parser, with what it prints and its exit code.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DB } from '../../../src/index.js';
import {
  backupCommand,
  checkpointCommand,
  exportCommand,
  importCommand,
  listBackupsCommand,
  purgeBackupsCommand,
  registerBackupCommands,
  restoreCommand,
  runBackupCommand,
  type CommandLike,
} from '../../../src/cli/commands/backup.js';
import { tempDir } from '../../helpers.js';

const cliPath = fileURLToPath(new URL('../../../src/cli/shale.js', import.meta.url));

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

  it('the command line: exit 0 on success, 1 with the error code on failure, 2 with the usage for bad arguments', async () => {
    const dir = await makeDatabase(10);
    const root = tempDir();
    let c = capture();
    assert.equal(await runBackupCommand('backup', [dir, path.join(root, 'b')], c.io), 0);
    assert.equal(await runBackupCommand('restore', [path.join(root, 'b'), path.join(root, 'r'), '--id', '1'], c.io), 0);
    assert.deepEqual(await contents(path.join(root, 'r')), await contents(dir));

    c = capture();
    assert.equal(await runBackupCommand('restore', [path.join(root, 'b'), path.join(root, 'r')], c.io), 1);
    assert.match(c.err(), /^shale restore: EXISTS: /);
    for (const argv of [[dir], [dir, 'x', 'y'], [dir, 'x', '--keep', '2'], [path.join(root, 'b'), path.join(root, 'r2'), '--id', '0'], [path.join(root, 'b'), 'x', '--bogus']]) {
      c = capture();
      const name = argv.includes('--id') ? 'restore' : argv.includes('--bogus') ? 'restore' : 'checkpoint';
      assert.equal(await runBackupCommand(name, argv, c.io), 2, `${name} ${argv.join(' ')}`);
      assert.match(c.err(), /\nusage: shale /);
    }
    c = capture();
    assert.equal(await runBackupCommand('purge-backups', [path.join(root, 'b')], c.io), 2);
    assert.match(c.err(), /--keep is required/);
    c = capture();
    assert.equal(await runBackupCommand('export', [dir, '--format', 'csv'], c.io), 2);
  });

  it('the shale binary runs them, and registerBackupCommands adds every one to a commander-style program', async () => {
    const dir = await makeDatabase(5);
    const target = path.join(tempDir(), 'checkpoint');
    const result = spawnSync(process.execPath, [cliPath, 'checkpoint', dir, target], { encoding: 'utf8' });
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /^checkpoint /);
    assert.equal(fs.existsSync(path.join(target, 'CURRENT')), true);

    const registered: string[] = [];
    const program: CommandLike = {
      command: (nameAndArgs) => (registered.push(nameAndArgs), program),
      description: () => program,
      allowUnknownOption: () => program,
      helpOption: () => program,
      action: () => program,
    };
    registerBackupCommands(program, capture().io);
    assert.deepEqual(registered, ['checkpoint', 'backup', 'backups', 'purge-backups', 'restore', 'export', 'import'].map((name) => `${name} [args...]`));
  });
});
