#!/usr/bin/env node
/**
 * The `shale` command. `shale crashtest [--cycles N] [--seed S] [--dir D]
 * [--writers W] [--min-ms A] [--max-ms B]` runs the kill -9 crash test (see
 * crashtest.ts) and exits non-zero on any violation.
 */
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { runCrashtestChild } from './crashtest-child.js';
import { crashtestCommand } from './crashtest.js';

const USAGE = `usage: shale crashtest [--cycles N] [--seed S] [--dir DIR] [--writers W] [--min-ms MS] [--max-ms MS]`;

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
} else {
  console.error(USAGE);
  process.exitCode = 2;
}
