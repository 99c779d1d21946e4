/**
 * `shale dump-wal`, `dump-sst` and `dump-manifest`: every record of one file, as
 * text or JSON, read past damage as far as the format allows; exit 1 when the
 * file is damaged.
 */
import { Option, type Command } from 'commander';
import { NodeFileSystem } from '../../fs/node-fs.js';
import { BYTES_ENCODINGS, type BytesEncoding } from '../../tools/dump-format.js';
import { dumpManifest, dumpWal, formatLogDump } from '../../tools/dump-log.js';
import { dumpTable, formatTableDump } from '../../tools/dump-table.js';
import { ExitCode, action, printJson } from '../cli-context.js';

interface DumpFlags {
  json?: boolean;
  encoding: BytesEncoding;
}

/** The dump commands: name, what they read, and how. */
const DUMPS = [
  { name: 'dump-wal', what: 'a write-ahead log (NNNNNN.log)', run: async (file: string, encoding: BytesEncoding) => toOutput(await dumpWal(new NodeFileSystem(), file, encoding), formatLogDump) },
  { name: 'dump-manifest', what: 'a MANIFEST', run: async (file: string, encoding: BytesEncoding) => toOutput(await dumpManifest(new NodeFileSystem(), file, encoding), formatLogDump) },
  { name: 'dump-sst', what: 'a table (NNNNNN.sst)', run: async (file: string, encoding: BytesEncoding) => toOutput(await dumpTable(new NodeFileSystem(), file, encoding), formatTableDump) },
] as const;

function toOutput<T extends object>(dump: T, format: (dump: T) => string[]): { dump: T; lines: string[]; damaged: boolean } {
  const damaged = ('badCount' in dump && (dump.badCount as number) > 0) || ('damage' in dump && (dump.damage as unknown[]).length > 0);
  return { dump, lines: format(dump), damaged };
}

/** Registers the dump commands. */
export function registerDumpCommands(program: Command): void {
  for (const dump of DUMPS) {
    program
      .command(dump.name)
      .description(`print every record of ${dump.what}, up to and past damage (exit 1 when damaged)`)
      .argument('<file>')
      .option('--json', 'print the records as JSON')
      .addOption(new Option('--encoding <encoding>', 'how keys and values are shown').choices(BYTES_ENCODINGS).default('readable'))
      .action(
        action(dump.name, async (file: string, flags: DumpFlags) => {
          const output = await dump.run(file, flags.encoding);
          if (flags.json === true) printJson(output.dump);
          else process.stdout.write(`${output.lines.join('\n')}\n`);
          return output.damaged ? ExitCode.FINDING : ExitCode.OK;
        }),
      );
  }
}
