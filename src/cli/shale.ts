#!/usr/bin/env node
/**
 * The `shale` command: `shale crashtest [--cycles N] [--seed S] [--dir D]
 * [--writers W] [--min-ms A] [--max-ms B]` runs the kill -9 crash test (see
 * crashtest.ts) and exits non-zero on any violation; `shale --help` lists the
 * commands, `shale --version` prints the package's version. An unknown command
 * or no command is a usage error: the usage on stderr, exit code 2.
 */
import * as fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { runCrashtestChild } from './crashtest-child.js';
import { crashtestCommand } from './crashtest.js';
import { BACKUP_COMMANDS, runBackupCommand } from './commands/backup.js';

const HELP = `usage: shale <command> [options]

commands:
  crashtest   kill -9 crash test: writers in child processes are SIGKILLed at random
              moments, and the database is checked against what they acknowledged
              shale crashtest [--cycles N] [--seed S] [--dir DIR] [--writers W]
                              [--min-ms MS] [--max-ms MS]
  checkpoint, backup, backups, purge-backups, restore, export, import:
              copies of a database (src/cli/commands/backup.ts)
${Object.values(BACKUP_COMMANDS).map((usage) => `              ${usage}`).join('\n')}

options:
  -h, --help     print this help
  -v, --version  print shale's version`;

/** The version in the package's package.json (this file is dist/src/cli/shale.js in it). */
function version(): string {
  const packageJson = fileURLToPath(new URL('../../../package.json', import.meta.url));
  return (JSON.parse(fs.readFileSync(packageJson, 'utf8')) as { version: string }).version;
}

async function child(argv: string[]): Promise<never> {
  const { values } = parseArgs({
    args: argv,
    options: {
      dir: { type: 'string' },
      'intent-log': { type: 'string' },
      'ack-log': { type: 'string' },
      seed: { type: 'string' },
      writers: { type: 'string' },
      'first-intent': { type: 'string' },
    },
  });
  return runCrashtestChild({
    dir: values.dir!,
    intentLog: values['intent-log']!,
    ackLog: values['ack-log']!,
    seed: Number(values.seed),
    writers: Number(values.writers),
    firstIntent: Number(values['first-intent']),
  });
}

const [command, ...rest] = process.argv.slice(2);
if (command === 'crashtest') {
  process.exitCode = await crashtestCommand(rest, fileURLToPath(import.meta.url));
} else if (command === 'crashtest-child') {
  await child(rest);
} else if (command !== undefined && Object.hasOwn(BACKUP_COMMANDS, command)) {
  process.exitCode = await runBackupCommand(command, rest, process);
} else if (command === '--help' || command === '-h' || command === 'help') {
  console.log(HELP);
} else if (command === '--version' || command === '-v') {
  console.log(version());
} else {
  console.error(command === undefined ? 'shale: no command given' : `shale: unknown command '${command}'`);
  console.error(HELP);
  process.exitCode = 2;
}
