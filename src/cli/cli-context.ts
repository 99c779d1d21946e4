/**
 * What every command of `shale` shares: turning an action's outcome into the
 * exit code (0 success, 1 a finding, 2 bad usage; docs/tools.md, "The shale
 * command"), printing a `ShaleError` as a message rather than a stack, and
 * reading keys and values given as utf8, hex or base64.
 */
import { Option, InvalidArgumentError } from 'commander';
import { ShaleError } from '../errors.js';

/** Exit codes of `shale`. */
export const ExitCode = { OK: 0, FINDING: 1, USAGE: 2 } as const;

/** How keys and values are given on the command line and printed. */
export type CliEncoding = 'utf8' | 'hex' | 'base64';
const CLI_ENCODINGS: readonly CliEncoding[] = ['utf8', 'hex', 'base64'];

/** `--key-encoding` and `--value-encoding`, with their choices and default. */
export function encodingOptions(): Option[] {
  return [
    new Option('--key-encoding <encoding>', 'how keys are given and printed').choices(CLI_ENCODINGS).default('utf8'),
    new Option('--value-encoding <encoding>', 'how values are given and printed').choices(CLI_ENCODINGS).default('utf8'),
  ];
}

/** Decodes `text` given as `encoding`; text that is not valid hex or base64 is a usage error. */
export function decodeArgument(text: string, encoding: CliEncoding, what: string): Buffer {
  if (encoding === 'hex' && !/^([0-9a-f]{2})*$/i.test(text)) throw usageError(`${what} ${JSON.stringify(text)} is not hex`);
  if (encoding === 'base64' && !/^[A-Za-z0-9+/_-]*={0,2}$/.test(text)) throw usageError(`${what} ${JSON.stringify(text)} is not base64`);
  return Buffer.from(text, encoding);
}

/** `bytes` as `encoding`. */
export function encodeOutput(bytes: Uint8Array, encoding: CliEncoding): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString(encoding);
}

/** A bad command line found by an action: exit code 2 and the message. */
export function usageError(message: string): ShaleError {
  return new ShaleError('INVALID_ARGUMENT', message);
}

/** A commander argument parser for a whole number ≥ `min`. */
export function wholeNumber(min: number): (text: string) => number {
  return (text) => {
    const value = /^[0-9]+$/.test(text) ? Number(text) : NaN;
    if (!Number.isSafeInteger(value) || value < min) throw new InvalidArgumentError(`expected a whole number of at least ${min}`);
    return value;
  };
}

/**
 * Wraps a command's action: its resolved exit code becomes the process's; a
 * `ShaleError` is printed as `shale <command>: <message>` (exit 2 for
 * `INVALID_ARGUMENT`, 1 otherwise); anything else is a bug and keeps its stack.
 */
export function action<Args extends unknown[]>(name: string, run: (...args: Args) => Promise<number>): (...args: Args) => Promise<void> {
  return async (...args) => {
    try {
      process.exitCode = await run(...args);
    } catch (err) {
      if (!(err instanceof ShaleError)) throw err;
      process.stderr.write(`shale ${name}: ${err.message}\n`);
      process.exitCode = err.code === 'INVALID_ARGUMENT' ? ExitCode.USAGE : ExitCode.FINDING;
    }
  };
}

/** Writes `value` as JSON (one document) to stdout. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}
