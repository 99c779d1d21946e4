/**
 * `shale crashtest`, registered with its own argument parsing (`../crashtest.ts`)
 * passed through unchanged, and the hidden `crashtest-child` it runs.
 */
import type { Command } from 'commander';
import { runCrashtestChild } from '../crashtest-child.js';
import { crashtestCommand } from '../crashtest.js';

/** Registers crashtest; `cliPath` is the entry the children run. */
export function registerCrashtestCommands(program: Command, cliPath: string): void {
  program
    .command('crashtest')
    .description('kill -9 crash test: writers in child processes are SIGKILLed at random moments and the database is checked')
    .usage('[--cycles N] [--seed S] [--dir DIR] [--writers W] [--min-ms MS] [--max-ms MS]')
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .passThroughOptions()
    .argument('[options...]')
    .action(async (args: string[]) => {
      process.exitCode = await crashtestCommand(args, cliPath);
    });
  program
    .command('crashtest-child', { hidden: true })
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .passThroughOptions()
    .argument('[options...]')
    .action(async (args: string[]) => {
      await runCrashtestChild(parseChildArgs(args));
    });
}

/** The child's flags, written by `crashtest.ts` itself: `--name value` pairs. */
function parseChildArgs(args: string[]): Parameters<typeof runCrashtestChild>[0] {
  const values = new Map<string, string>();
  for (let i = 0; i + 1 < args.length; i += 2) values.set(args[i]!.replace(/^--/, ''), args[i + 1]!);
  return {
    dir: values.get('dir')!,
    intentLog: values.get('intent-log')!,
    ackLog: values.get('ack-log')!,
    seed: Number(values.get('seed')),
    writers: Number(values.get('writers')),
    firstIntent: Number(values.get('first-intent')),
  };
}
