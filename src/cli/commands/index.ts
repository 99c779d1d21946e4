/**
 * Every command of `shale`, one registration a line: a new group of commands
 * (say `checkpoint`, `backup`, `restore`, `export`, `import`) is a file of its
 * own in this folder exporting `register…(program, cliPath)`, and one line here.
 */
import type { Command } from 'commander';
import { registerBackupCommands } from './backup.js';
import { registerCheckCommands } from './check.js';
import { registerCrashtestCommands } from './crashtest.js';
import { registerDataCommands } from './data.js';
import { registerDumpCommands } from './dump.js';
import { registerMaintenanceCommands } from './maintenance.js';

/** Adds a group of commands to `program`; `cliPath` is the `shale` entry script (for commands that start children). */
export type CommandRegistration = (program: Command, cliPath: string) => void;

/** The command groups, in the order `shale --help` lists them. */
export const COMMANDS: readonly CommandRegistration[] = [
  registerDataCommands,
  registerMaintenanceCommands,
  registerCheckCommands,
  registerDumpCommands,
  registerBackupCommands,
  registerCrashtestCommands,
];
