/**
 * The `shale` commands for copies of a database: `checkpoint`, `backup`,
 * `backups` (list, optionally verify), `purge-backups`, `restore`, `export` and
 * `import` (docs/tools.md). Each is a function taking parsed options and the
 * streams to use, so tests call them directly; `registerBackupCommands` adds
 * them to the `shale` program.
 */
import * as fs from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Option, type Command } from 'commander';
import { DB } from '../../db/db.js';
import { ShaleError } from '../../errors.js';
import { ExitCode, action, wholeNumber } from '../cli-context.js';
import { deleteBackup, listBackups, purgeOldBackups, restoreBackup, verifyBackup } from '../../backup/backup-engine.js';
import type { ExportEncoding, ExportFormat } from '../../db/export-format.js';

/** Where a command reads and writes. */
export interface CommandIO {
  stdin: Readable;
  stdout: Writable;
}

function say(io: CommandIO, line: string): void {
  io.stdout.write(`${line}\n`);
}

/** Opens an existing database (never creates one). */
function openExisting(dir: string): Promise<DB> {
  return DB.open(dir, { createIfMissing: false });
}

/** `shale checkpoint <db> <target>`: a consistent copy of the database in the new directory `target`. */
export async function checkpointCommand(options: { db: string; target: string }, io: CommandIO): Promise<void> {
  const db = await openExisting(options.db);
  try {
    const result = await db.checkpoint(options.target);
    say(io, `checkpoint ${options.target}: sequence ${result.sequence}, ${result.tableCount} tables (${result.linkedCount} linked), ${result.sizeBytes} bytes`);
  } finally {
    await db.close();
  }
}

/** `shale backup <db> <backup-dir>`: adds an incremental backup. */
export async function backupCommand(options: { db: string; backupDir: string }, io: CommandIO): Promise<void> {
  const db = await openExisting(options.db);
  try {
    const info = await db.backup(options.backupDir);
    say(io, `backup ${info.id}: sequence ${info.sequence}, ${info.fileCount} tables, ${info.sizeBytes} bytes`);
  } finally {
    await db.close();
  }
}

/** `shale backups <backup-dir> [--verify]`: one line per backup; with `verify`, each is verified first. */
export async function listBackupsCommand(options: { backupDir: string; verify?: boolean }, io: CommandIO): Promise<void> {
  for (const info of await listBackups(options.backupDir)) {
    if (options.verify === true) await verifyBackup(options.backupDir, info.id);
    const verified = options.verify === true ? ' verified' : '';
    say(io, `${info.id}\t${info.createdAt.toISOString()}\tsequence ${info.sequence}\t${info.fileCount} tables\t${info.sizeBytes} bytes${verified}`);
  }
}

/** `shale purge-backups <backup-dir> --keep N`: keeps the newest N backups. */
export async function purgeBackupsCommand(options: { backupDir: string; keep: number }, io: CommandIO): Promise<void> {
  const removed = await purgeOldBackups(options.backupDir, options.keep);
  say(io, removed.length === 0 ? 'no backup removed' : `removed backups ${removed.join(', ')}`);
}

/** `shale delete-backup <backup-dir> <id>`: removes one backup and the tables no other names. */
export async function deleteBackupCommand(options: { backupDir: string; id: number }, io: CommandIO): Promise<void> {
  await deleteBackup(options.backupDir, options.id);
  say(io, `removed backup ${options.id}`);
}

/** `shale restore <backup-dir> <target> [--id N]`: restores backup N (default: the newest) into the new directory `target`. */
export async function restoreCommand(options: { backupDir: string; target: string; id?: number }, io: CommandIO): Promise<void> {
  let id = options.id;
  if (id === undefined) {
    const infos = await listBackups(options.backupDir);
    if (infos.length === 0) throw new ShaleError('NOT_FOUND', `${options.backupDir} holds no backup`);
    id = infos[infos.length - 1]!.id;
  }
  const info = await restoreBackup(options.backupDir, id, options.target);
  say(io, `restored backup ${info.id} (sequence ${info.sequence}) into ${options.target}`);
}

/** `shale export <db> [--out FILE] [--format binary|jsonl] [--encoding base64|utf8]`: the export stream to FILE or stdout. */
export async function exportCommand(options: { db: string; out?: string; format?: ExportFormat; encoding?: ExportEncoding }, io: CommandIO): Promise<void> {
  const db = await openExisting(options.db);
  try {
    const stream = db.export({ ...(options.format === undefined ? {} : { format: options.format }), ...(options.encoding === undefined ? {} : { encoding: options.encoding }) });
    if (options.out === undefined) await pipeline(stream, io.stdout, { end: false });
    else await pipeline(stream, fs.createWriteStream(options.out, { flags: 'wx' }));
  } finally {
    await db.close();
  }
}

/** `shale import <db> [--in FILE]`: a new database in `db` from an export read from FILE or stdin. */
export async function importCommand(options: { db: string; in?: string }, io: CommandIO): Promise<void> {
  const source = options.in === undefined ? io.stdin : fs.createReadStream(options.in);
  const result = await DB.import(options.db, source, { sourceName: options.in ?? 'stdin' });
  say(io, `imported ${result.count} entries (${result.format}) into ${options.db}`);
}

/** Registers checkpoint, backup, backups, purge-backups, restore, export and import. */
export function registerBackupCommands(program: Command): void {
  const io: CommandIO = { stdin: process.stdin, stdout: process.stdout };
  program
    .command('checkpoint')
    .description('make <target> (which must not exist) a consistent copy of the database that opens as one: tables hard-linked where possible')
    .argument('<dir>')
    .argument('<target>')
    .action(action('checkpoint', async (dir: string, target: string) => (await checkpointCommand({ db: dir, target }, io), ExitCode.OK)));
  program
    .command('backup')
    .description('add an incremental backup of the database to <backup-dir> (created if missing)')
    .argument('<dir>')
    .argument('<backup-dir>')
    .action(action('backup', async (dir: string, backupDir: string) => (await backupCommand({ db: dir, backupDir }, io), ExitCode.OK)));
  program
    .command('backups')
    .description('list the backups in <backup-dir>, oldest first')
    .argument('<backup-dir>')
    .option('--verify', 'read every file of every backup and check its size and CRC-32 first')
    .action(
      action('backups', async (backupDir: string, flags: { verify?: boolean }) => (await listBackupsCommand({ backupDir, verify: flags.verify === true }, io), ExitCode.OK)),
    );
  program
    .command('purge-backups')
    .description('keep the newest N backups in <backup-dir>, and the tables they name')
    .argument('<backup-dir>')
    .requiredOption('--keep <n>', 'how many backups to keep', wholeNumber(0))
    .action(action('purge-backups', async (backupDir: string, flags: { keep: number }) => (await purgeBackupsCommand({ backupDir, keep: flags.keep }, io), ExitCode.OK)));
  program
    .command('delete-backup')
    .description('remove backup <id> from <backup-dir>, and the tables no other backup names')
    .argument('<backup-dir>')
    .argument('<id>', 'the backup to remove', wholeNumber(1))
    .action(action('delete-backup', async (backupDir: string, id: number) => (await deleteBackupCommand({ backupDir, id }, io), ExitCode.OK)));
  program
    .command('restore')
    .description('restore a backup into <target> (which must not exist), checking every file')
    .argument('<backup-dir>')
    .argument('<target>')
    .option('--id <n>', 'the backup to restore (default: the newest)', wholeNumber(1))
    .action(
      action('restore', async (backupDir: string, target: string, flags: { id?: number }) => {
        await restoreCommand({ backupDir, target, ...(flags.id === undefined ? {} : { id: flags.id }) }, io);
        return ExitCode.OK;
      }),
    );
  program
    .command('export')
    .description('write every key and value, at one snapshot, as an export stream (docs/format.md, "Export stream")')
    .argument('<dir>')
    .option('--out <file>', 'write to <file>, which must not exist (default: stdout)')
    .addOption(new Option('--format <format>', 'binary or JSON lines').choices(['binary', 'jsonl']).default('binary'))
    .addOption(new Option('--encoding <encoding>', 'for jsonl: how keys and values are written').choices(['base64', 'utf8']))
    .action(
      action('export', async (dir: string, flags: { out?: string; format: ExportFormat; encoding?: ExportEncoding }) => {
        await exportCommand(
          { db: dir, format: flags.format, ...(flags.out === undefined ? {} : { out: flags.out }), ...(flags.encoding === undefined ? {} : { encoding: flags.encoding }) },
          io,
        );
        return ExitCode.OK;
      }),
    );
  program
    .command('import')
    .description('create the database in <dir> (which must not hold one) from an export stream')
    .argument('<dir>')
    .option('--in <file>', 'read from <file> (default: stdin)')
    .action(
      action('import', async (dir: string, flags: { in?: string }) => (await importCommand({ db: dir, ...(flags.in === undefined ? {} : { in: flags.in }) }, io), ExitCode.OK)),
    );
}
