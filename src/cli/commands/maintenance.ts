/**
 * `shale stats` (the levels table, sizes and write figures) and `shale compact`
 * (a full or ranged manual compaction).
 */
import type { Command } from 'commander';
import { DB } from '../../db/db.js';
import { ExitCode, action, decodeArgument, encodingOptions, printJson, type CliEncoding } from '../cli-context.js';

/** Registers stats and compact. */
export function registerMaintenanceCommands(program: Command): void {
  program
    .command('stats')
    .description('print the levels (files, sizes, scores) and the write figures since this open')
    .argument('<dir>')
    .option('--json', 'print db.stats() as JSON')
    .action(
      action('stats', async (dir: string, flags: { json?: boolean }) => {
        const db = await DB.open(dir, { createIfMissing: false });
        try {
          if (flags.json === true) printJson(db.stats());
          else process.stdout.write(`${db.getProperty('shale.levels')!}\n`);
        } finally {
          await db.close();
        }
        return ExitCode.OK;
      }),
    );
  const compact = program
    .command('compact')
    .description('flush, then compact every table overlapping [--start, --end] down to the deepest level holding data there')
    .argument('<dir>')
    .option('--start <key>', 'the first key of the range (default: the first key)')
    .option('--end <key>', 'the last key of the range (default: the last key)');
  compact.addOption(encodingOptions()[0]!);
  compact.action(
    action('compact', async (dir: string, flags: { start?: string; end?: string; keyEncoding: CliEncoding }) => {
      const start = flags.start === undefined ? undefined : decodeArgument(flags.start, flags.keyEncoding, '--start');
      const end = flags.end === undefined ? undefined : decodeArgument(flags.end, flags.keyEncoding, '--end');
      const db = await DB.open(dir, { createIfMissing: false });
      try {
        await db.compactRange(start, end);
        process.stdout.write(`${db.getProperty('shale.levels')!}\n`);
      } finally {
        await db.close();
      }
      return ExitCode.OK;
    }),
  );
}
