/**
 * `shale get`, `put`, `del` and `scan`: reads and writes of single keys and key
 * ranges, keys and values given and printed as utf8, hex or base64. A missing
 * key is a finding (exit 1), as with LevelDB's `ldb get`.
 */
import { Option, type Command } from 'commander';
import { DB } from '../../db/db.js';
import type { IteratorOptions } from '../../db/read-path.js';
import { ExitCode, action, decodeArgument, encodeOutput, encodingOptions, printJson, wholeNumber, type CliEncoding } from '../cli-context.js';

interface EncodingFlags {
  keyEncoding: CliEncoding;
  valueEncoding: CliEncoding;
}

/** Opens an existing database (`create`: or a new one), runs `work`, closes it. */
async function withDatabase<T>(dir: string, create: boolean, work: (db: DB) => Promise<T>): Promise<T> {
  const db = await DB.open(dir, { createIfMissing: create });
  try {
    return await work(db);
  } finally {
    await db.close();
  }
}

function withEncodings(command: Command): Command {
  for (const option of encodingOptions()) command.addOption(option);
  return command;
}

/** Registers get, put, del and scan. */
export function registerDataCommands(program: Command): void {
  withEncodings(program.command('get').description('print the value of a key (exit 1 when it is absent)').argument('<dir>').argument('<key>')).action(
    action('get', async (dir: string, key: string, flags: EncodingFlags) => {
      const found = await withDatabase(dir, false, (db) => db.get(decodeArgument(key, flags.keyEncoding, 'key')));
      if (found === undefined) {
        process.stderr.write(`shale get: key ${JSON.stringify(key)} not found\n`);
        return ExitCode.FINDING;
      }
      process.stdout.write(`${encodeOutput(found, flags.valueEncoding)}\n`);
      return ExitCode.OK;
    }),
  );
  withEncodings(program.command('put').description('store a value under a key').argument('<dir>').argument('<key>').argument('<value>'))
    .option('--create', 'create the database if it does not exist')
    .action(
      action('put', async (dir: string, key: string, value: string, flags: EncodingFlags & { create?: boolean }) => {
        const keyBytes = decodeArgument(key, flags.keyEncoding, 'key');
        const valueBytes = decodeArgument(value, flags.valueEncoding, 'value');
        await withDatabase(dir, flags.create === true, (db) => db.put(keyBytes, valueBytes));
        return ExitCode.OK;
      }),
    );
  withEncodings(program.command('del').description('delete a key (a no-op when it is absent)').argument('<dir>').argument('<key>')).action(
    action('del', async (dir: string, key: string, flags: EncodingFlags) => {
      const keyBytes = decodeArgument(key, flags.keyEncoding, 'key');
      await withDatabase(dir, false, (db) => db.delete(keyBytes));
      return ExitCode.OK;
    }),
  );
  registerScan(program);
}

interface ScanFlags extends EncodingFlags {
  gt?: string;
  gte?: string;
  lt?: string;
  lte?: string;
  limit?: number;
  reverse?: boolean;
  keysOnly?: boolean;
  json?: boolean;
}

function registerScan(program: Command): void {
  withEncodings(program.command('scan').description('print the entries of a key range, one "key<TAB>value" line each').argument('<dir>'))
    .option('--gt <key>', 'keys after this one')
    .option('--gte <key>', 'keys from this one')
    .option('--lt <key>', 'keys before this one')
    .option('--lte <key>', 'keys up to this one')
    .addOption(new Option('--limit <n>', 'at most this many entries').argParser(wholeNumber(0)))
    .option('--reverse', 'from the last key to the first')
    .option('--keys-only', 'print keys only')
    .option('--json', 'print a JSON array of {key, value}')
    .action(
      action('scan', async (dir: string, flags: ScanFlags) => {
        const range: IteratorOptions = { reverse: flags.reverse === true };
        for (const bound of ['gt', 'gte', 'lt', 'lte'] as const) {
          const text = flags[bound];
          if (text !== undefined) range[bound] = decodeArgument(text, flags.keyEncoding, `--${bound}`);
        }
        if (flags.limit !== undefined) range.limit = flags.limit;
        const rows = await withDatabase(dir, false, async (db) => {
          const found: { key: string; value?: string }[] = [];
          for await (const [key, value] of db.iterator(range)) {
            const row: { key: string; value?: string } = { key: encodeOutput(key, flags.keyEncoding) };
            if (flags.keysOnly !== true) row.value = encodeOutput(value, flags.valueEncoding);
            if (flags.json === true) found.push(row);
            else process.stdout.write(row.value === undefined ? `${row.key}\n` : `${row.key}\t${row.value}\n`);
          }
          return found;
        });
        if (flags.json === true) printJson(rows);
        return ExitCode.OK;
      }),
    );
}
