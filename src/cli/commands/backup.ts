/**
 * The `shale` commands for copies of a database: `checkpoint`, `backup`,
 * `backups` (list, optionally verify), `purge-backups`, `restore`, `export` and
 * `import`. Each is a function taking parsed options and the streams to use, so
 * tests call them directly; `runBackupCommand` parses a command line for them
 * with `node:util`'s parser, and `registerBackupCommands` adds them to a
 * commander-style program.
 */
import * as fs from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { DB } from '../../db/db.js';
import { ShaleError } from '../../errors.js';
import { listBackups, purgeOldBackups, restoreBackup, verifyBackup } from '../../backup/backup-engine.js';
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

/** The commands `runBackupCommand` knows, with their usage. */
export const BACKUP_COMMANDS: Readonly<Record<string, string>> = {
  checkpoint: 'shale checkpoint <db> <target>',
  backup: 'shale backup <db> <backup-dir>',
  backups: 'shale backups <backup-dir> [--verify]',
  'purge-backups': 'shale purge-backups <backup-dir> --keep N',
  restore: 'shale restore <backup-dir> <target> [--id N]',
  export: 'shale export <db> [--out FILE] [--format binary|jsonl] [--encoding base64|utf8]',
  import: 'shale import <db> [--in FILE]',
};

/**
 * Runs backup command `name` with `argv` (after the name). Returns the exit
 * code: 0 on success, 1 when the operation failed (the error on stderr), 2 for
 * a bad command line (the usage on stderr).
 */
export async function runBackupCommand(name: string, argv: string[], io: CommandIO & { stderr: Writable }): Promise<number> {
  let run: () => Promise<void>;
  try {
    run = parseBackupCommand(name, argv, io);
  } catch (err) {
    if (!(err instanceof ShaleError && err.code === 'INVALID_ARGUMENT')) throw err;
    io.stderr.write(`shale ${name}: ${err.message}\nusage: ${BACKUP_COMMANDS[name] ?? 'shale --help'}\n`);
    return 2;
  }
  try {
    await run();
    return 0;
  } catch (err) {
    if (!(err instanceof ShaleError)) throw err;
    io.stderr.write(`shale ${name}: ${err.code}: ${err.message}\n`);
    return 1;
  }
}

function parseBackupCommand(name: string, argv: string[], io: CommandIO): () => Promise<void> {
  const usage = BACKUP_COMMANDS[name];
  if (usage === undefined) throw new ShaleError('INVALID_ARGUMENT', `unknown command ${name}`);
  let parsed: { values: Record<string, string | boolean | undefined>; positionals: string[] };
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: true,
      options: {
        verify: { type: 'boolean' },
        keep: { type: 'string' },
        id: { type: 'string' },
        out: { type: 'string' },
        in: { type: 'string' },
        format: { type: 'string' },
        encoding: { type: 'string' },
      },
    });
  } catch (err) {
    throw new ShaleError('INVALID_ARGUMENT', (err as Error).message, { cause: err });
  }
  const { values, positionals } = parsed;
  const wanted = (usage.match(/<[^>]+>/g) ?? []).length;
  if (positionals.length !== wanted) throw new ShaleError('INVALID_ARGUMENT', `expected ${wanted} arguments, got ${positionals.length}`);
  const allowed = new Set((usage.match(/--[a-z]+/g) ?? []).map((flag) => flag.slice(2)));
  for (const [flag, value] of Object.entries(values)) if (value !== undefined && !allowed.has(flag)) throw new ShaleError('INVALID_ARGUMENT', `--${flag} does not apply to ${name}`);
  const [first, second] = positionals as [string, string];
  const text = (flag: string): string | undefined => values[flag] as string | undefined;
  switch (name) {
    case 'checkpoint':
      return () => checkpointCommand({ db: first, target: second }, io);
    case 'backup':
      return () => backupCommand({ db: first, backupDir: second }, io);
    case 'backups':
      return () => listBackupsCommand({ backupDir: first, verify: values['verify'] === true }, io);
    case 'purge-backups': {
      if (text('keep') === undefined) throw new ShaleError('INVALID_ARGUMENT', '--keep is required');
      const keep = wholeNumber(text('keep')!, 'keep', 0);
      return () => purgeBackupsCommand({ backupDir: first, keep }, io);
    }
    case 'restore': {
      const id = text('id') === undefined ? undefined : wholeNumber(text('id')!, 'id', 1);
      return () => restoreCommand({ backupDir: first, target: second, ...(id === undefined ? {} : { id }) }, io);
    }
    case 'export': {
      const format = text('format');
      const encoding = text('encoding');
      if (format !== undefined && format !== 'binary' && format !== 'jsonl') throw new ShaleError('INVALID_ARGUMENT', `--format must be binary or jsonl, got ${format}`);
      if (encoding !== undefined && encoding !== 'base64' && encoding !== 'utf8') throw new ShaleError('INVALID_ARGUMENT', `--encoding must be base64 or utf8, got ${encoding}`);
      const out = text('out');
      return () => exportCommand({ db: first, ...(out === undefined ? {} : { out }), ...(format === undefined ? {} : { format }), ...(encoding === undefined ? {} : { encoding }) }, io);
    }
    default: {
      const input = text('in');
      return () => importCommand({ db: first, ...(input === undefined ? {} : { in: input }) }, io);
    }
  }
}

function wholeNumber(text: string, flag: string, min: number): number {
  const value = /^[0-9]+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value) || value < min) throw new ShaleError('INVALID_ARGUMENT', `--${flag} must be a whole number of at least ${min}, got ${JSON.stringify(text)}`);
  return value;
}

/** The part of commander's `Command` that `registerBackupCommands` uses. */
export interface CommandLike {
  command(nameAndArgs: string): CommandLike;
  description(text: string): CommandLike;
  allowUnknownOption(allow?: boolean): CommandLike;
  helpOption(flags: string | false): CommandLike;
  action(handler: (...args: unknown[]) => void | Promise<void>): CommandLike;
}

/**
 * Adds the commands to a commander program. Each passes its raw arguments to
 * `runBackupCommand`, which parses and checks them, so the two entry points
 * agree; the exit code goes to `process.exitCode`.
 */
export function registerBackupCommands(program: CommandLike, io: CommandIO & { stderr: Writable }): void {
  for (const [name, usage] of Object.entries(BACKUP_COMMANDS)) {
    program
      .command(`${name} [args...]`)
      .description(usage)
      .allowUnknownOption(true)
      .helpOption(false)
      .action(async (args: unknown) => {
        process.exitCode = await runBackupCommand(name, Array.isArray(args) ? (args as string[]) : [], io);
      });
  }
}
