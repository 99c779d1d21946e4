#!/usr/bin/env node
/**
 * The `shale` command: `shale crashtest [--cycles N] [--seed S] [--dir D]
 * [--writers W] [--min-ms A] [--max-ms B]` runs the kill -9 crash test (see
 * crashtest.ts) and exits non-zero on any violation; `shale --help` lists the
 * commands, `shale --version` prints the package's version. An unknown command
 * or no command is a usage error: the usage on stderr, exit code 2.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { runCrashtestChild } from './crashtest-child.js';
import { runCrashtest } from './crashtest.js';

const HELP = `usage: shale <command> [options]

commands:
  crashtest   kill -9 crash test: writers in child processes are SIGKILLed at random
              moments, and the database is checked against what they acknowledged
              shale crashtest [--cycles N] [--seed S] [--dir DIR] [--writers W]
                              [--min-ms MS] [--max-ms MS]

options:
  -h, --help     print this help
  -v, --version  print shale's version`;

/** The version in the package's package.json (this file is dist/src/cli/shale.js in it). */
function version(): string {
  const packageJson = fileURLToPath(new URL('../../../package.json', import.meta.url));
  return (JSON.parse(fs.readFileSync(packageJson, 'utf8')) as { version: string }).version;
}

async function crashtest(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      cycles: { type: 'string', default: '50' },
      seed: { type: 'string' },
      dir: { type: 'string' },
      writers: { type: 'string', default: '4' },
      'min-ms': { type: 'string', default: '50' },
      'max-ms': { type: 'string', default: '2000' },
    },
  });
  const seed = values.seed !== undefined ? Number(values.seed) >>> 0 : (Math.random() * 2 ** 32) >>> 0;
  const dir = values.dir ?? path.join(os.tmpdir(), `shale-crashtest-${process.pid}-${seed}`);
  const progress = process.stderr.isTTY
    ? (line: string) => process.stderr.write(`\r\x1b[K${line}`)
    : (line: string) => process.stderr.write(`${line}\n`);
  process.stderr.write(`crashtest: seed ${seed} (replay with --seed ${seed}), directory ${dir}\n`);
  const summary = await runCrashtest({
    cycles: Number(values.cycles),
    seed,
    dir,
    writers: Number(values.writers),
    killAfterMinMs: Number(values['min-ms']),
    killAfterMaxMs: Number(values['max-ms']),
    cliPath: fileURLToPath(import.meta.url),
    onProgress: progress,
  });
  if (process.stderr.isTTY) process.stderr.write('\n');
  for (const violation of summary.violations) console.log(`VIOLATION ${violation}`);
  // Keep the directory for a post-mortem only when something was wrong.
  if (summary.violations.length === 0 && values.dir === undefined) fs.rmSync(dir, { recursive: true, force: true });
  console.log(
    `crashtest: seed ${seed}, ${summary.cycles} cycles, ${summary.intentsIssued} writes issued, ` +
      `${summary.writesAcknowledged} acknowledged, ${summary.violations.length} violations`,
  );
  return summary.violations.length === 0 ? 0 : 1;
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
  process.exitCode = await crashtest(rest);
} else if (command === 'crashtest-child') {
  await child(rest);
} else if (command === '--help' || command === '-h' || command === 'help') {
  console.log(HELP);
} else if (command === '--version' || command === '-v') {
  console.log(version());
} else {
  console.error(command === undefined ? 'shale: no command given' : `shale: unknown command '${command}'`);
  console.error(HELP);
  process.exitCode = 2;
}
