/**
 * Which JavaScript runtime this is, and whether it gives shale what its
 * durability contract needs (docs/durability.md; README, "Runtimes"). shale runs
 * on Node, Bun and Deno through their `node:` modules; where one of them lacks a
 * call the contract rests on, opening fails with `NOT_SUPPORTED` naming the
 * runtime and the call, rather than running with weaker durability than promised.
 *
 * What is checked, once per directory opened:
 * - `FileHandle` has `datasync` (fdatasync: log and table syncs), `sync` (fsync),
 *   `write`, `read` and `close`;
 * - a directory can be opened and fsynced (file creation, rename and removal are
 *   made durable that way);
 * - `fs` has the synchronous calls of the append and read paths (`writeSync`,
 *   `readSync`, `fstatSync`) and `link` (the LOCK file).
 *
 * Tests (test/testing/runtime.test.ts) also trace the system calls of a real
 * open, write and flush on each runtime, to see that these calls reach the kernel.
 */
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import { ShaleError } from '../errors.js';

declare const Bun: { version: string } | undefined;
declare const Deno: { version: { deno: string } } | undefined;

/** The runtime's name and version, as an error message names it: `Node v20.20.2`, `Bun 1.4.5`, `Deno 2.9.6`. */
export function runtimeName(): string {
  if (typeof Bun !== 'undefined') return `Bun ${Bun.version}`;
  if (typeof Deno !== 'undefined') return `Deno ${Deno.version.deno}`;
  return `Node ${process.version}`;
}

/** What `checkDurableRuntime` uses; a test passes a crippled one. */
export interface RuntimeFs {
  readonly fs: Pick<typeof fs, 'writeSync' | 'readSync' | 'fstatSync'>;
  readonly fsp: Pick<typeof fsp, 'open' | 'link'>;
}

const NODE_RUNTIME_FS: RuntimeFs = { fs, fsp };
const FILE_HANDLE_METHODS = ['datasync', 'sync', 'write', 'read', 'close'] as const;
const FS_FUNCTIONS = ['writeSync', 'readSync', 'fstatSync'] as const;

/** Directories already checked in this process: the check costs an open and an fsync. */
const checkedDirs = new Set<string>();

/**
 * Resolves when this runtime has every call durability needs on `dir` (an
 * existing directory); otherwise rejects with `NOT_SUPPORTED` naming the runtime
 * and what is missing. Meant to run at open, before anything is written.
 */
export async function checkDurableRuntime(dir: string, runtime: RuntimeFs = NODE_RUNTIME_FS): Promise<void> {
  if (runtime === NODE_RUNTIME_FS && checkedDirs.has(dir)) return;
  for (const name of FS_FUNCTIONS) {
    if (typeof runtime.fs[name] !== 'function') throw missing(`fs.${name}()`, 'is not a function');
  }
  if (typeof runtime.fsp.link !== 'function') throw missing('fs.promises.link()', 'is not a function (the LOCK file needs it)');
  let handle: fsp.FileHandle;
  try {
    handle = await runtime.fsp.open(dir, 'r');
  } catch (cause) {
    throw missing('opening a directory', `fails (${(cause as Error).message}), so directory changes cannot be synced`, cause);
  }
  try {
    for (const name of FILE_HANDLE_METHODS) {
      if (typeof handle[name] !== 'function') throw missing(`FileHandle.${name}()`, 'is not a function');
    }
    try {
      await handle.sync();
    } catch (cause) {
      throw missing('fsync of a directory', `fails (${(cause as Error).message})`, cause);
    }
  } finally {
    await handle.close?.().catch(() => undefined);
  }
  if (runtime === NODE_RUNTIME_FS) checkedDirs.add(dir);
}

function missing(what: string, detail: string, cause?: unknown): ShaleError {
  return new ShaleError(
    'NOT_SUPPORTED',
    `${runtimeName()}: ${what} ${detail}; shale does not open a database without it, since its writes would not be durable`,
    cause === undefined ? undefined : { cause },
  );
}
