#!/usr/bin/env node
/**
 * The `shale` command (docs/tools.md, "The shale command"): `shale <command>
 * [options]`, parsed by commander, with each group of commands registered from
 * `commands/` (`commands/index.ts` lists them). Exit codes: 0 success, 1 a finding
 * (damage, a violation, a missing key), 2 bad usage (an unknown command or
 * option, a missing argument, a bad value: the reason on stderr). A `ShaleError`
 * is printed as a message, never a stack.
 */
import * as fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { ExitCode } from './cli-context.js';
import { COMMANDS } from './commands/index.js';

/** The version in the package's package.json (this file is dist/src/cli/shale.js in it). */
function version(): string {
  const packageJson = fileURLToPath(new URL('../../../package.json', import.meta.url));
  return (JSON.parse(fs.readFileSync(packageJson, 'utf8')) as { version: string }).version;
}

const program = new Command('shale')
  .description('shale: a durable, embeddable LSM-tree key-value store')
  .usage('<command> [options]')
  .version(version(), '-v, --version', "print shale's version")
  .helpOption('-h, --help', 'print this help (or a command\'s: shale <command> --help)')
  .enablePositionalOptions()
  .showHelpAfterError('(shale --help lists the commands; shale <command> --help tells one)')
  // shale's own style, as before commander: "usage: …" and "shale: <reason>".
  .configureHelp({ styleTitle: (title) => (title === 'Usage:' ? 'usage:' : title) })
  .configureOutput({ outputError: (message, write) => write(message.replace(/^error: /, 'shale: ')) })
  .exitOverride();
const cliPath = fileURLToPath(import.meta.url);
for (const register of COMMANDS) register(program, cliPath);
// Commands inherit exitOverride only when set before they are added: set it on each.
for (const command of program.commands) command.exitOverride();

try {
  await program.parseAsync(process.argv.slice(2), { from: 'user' });
} catch (err) {
  if (!(err instanceof CommanderError)) throw err;
  // Commander has printed the help or the reason; help and version asked for are a success.
  const asked = err.code === 'commander.helpDisplayed' || err.code === 'commander.version';
  process.exitCode = asked ? ExitCode.OK : ExitCode.USAGE;
}
