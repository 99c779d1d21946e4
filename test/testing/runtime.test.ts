/**
 * The runtime check (src/fs/runtime.ts), and what each runtime really does with
 * shale's durability calls: under strace (where it is installed), a real open,
 * sync write and flush must fdatasync the log, sync the table and the MANIFEST,
 * and fsync the directory, on Node, Bun and Deno alike.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { checkDurableRuntime, runtimeName, type RuntimeFs } from '../../src/fs/runtime.js';
import { compareRangesNative } from '../../src/util/bytes.js';
import { scriptFile, tempDir } from '../helpers.js';

declare const Bun: unknown;
declare const Deno: unknown;

const isNotSupported = (pattern: RegExp) => (err: unknown) => {
  assert.equal((err as { code?: string }).code, 'NOT_SUPPORTED');
  assert.match((err as Error).message, pattern);
  return true;
};

/** The argv that runs a script on this runtime: Deno needs `run -A` when it is started directly. */
function scriptArgv(script: string): string[] {
  return typeof Deno !== 'undefined' ? [process.execPath, 'run', '-A', script] : [process.execPath, script];
}

/**
 * A stand-in for `handle` with some methods replaced (undefined: missing). A plain
 * object, not a Proxy: Deno's FileHandle methods read private fields of `this`.
 */
function handleWith(handle: fsp.FileHandle, overrides: Record<string, unknown>): fsp.FileHandle {
  const methods: Record<string, unknown> = {};
  for (const name of ['datasync', 'sync', 'write', 'read', 'close'] as const) methods[name] = handle[name].bind(handle);
  return { ...methods, ...overrides } as unknown as fsp.FileHandle;
}

describe('runtime check', () => {
  it(`names the runtime: ${runtimeName()}`, () => {
    const expected = typeof Bun !== 'undefined' ? /^Bun \d/ : typeof Deno !== 'undefined' ? /^Deno \d/ : /^Node v\d/;
    assert.match(runtimeName(), expected);
  });

  it('passes on this runtime for a real directory', async () => {
    await checkDurableRuntime(tempDir());
  });

  it('a FileHandle without datasync is NOT_SUPPORTED at open, naming the runtime and the call', async () => {
    const crippled: RuntimeFs = {
      fs,
      fsp: {
        link: fsp.link,
        open: (async (...args: Parameters<typeof fsp.open>) => handleWith(await fsp.open(...args), { datasync: undefined })) as typeof fsp.open,
      },
    };
    const pattern = new RegExp(`^${runtimeName().replace(/\./g, '\\.')}: FileHandle\\.datasync\\(\\) is not a function; shale does not open`);
    await assert.rejects(checkDurableRuntime(tempDir(), crippled), isNotSupported(pattern));
  });

  it('a directory that cannot be fsynced is NOT_SUPPORTED', async () => {
    const failing: RuntimeFs = {
      fs,
      fsp: {
        link: fsp.link,
        open: (async (...args: Parameters<typeof fsp.open>) =>
          handleWith(await fsp.open(...args), {
            sync: () => Promise.reject(Object.assign(new Error('EINVAL: invalid argument, fsync'), { code: 'EINVAL' })),
          })) as typeof fsp.open,
      },
    };
    await assert.rejects(checkDurableRuntime(tempDir(), failing), isNotSupported(/: fsync of a directory fails \(EINVAL: invalid argument, fsync\)/));
  });

  it('ranged Buffer compares give memcmp order on this runtime (Deno falls back to subarrays)', () => {
    const short = Buffer.from([1, 2]);
    const long = Buffer.from([0, 1, 2, 3, 4]);
    assert.equal(compareRangesNative(short, 0, 2, long, 1, 3), 0);
    assert.ok(compareRangesNative(short, 0, 2, long, 1, 5) < 0);
    assert.ok(compareRangesNative(long, 1, 5, short, 0, 2) > 0);
    assert.ok(compareRangesNative(long, 0, 5, short, 0, 1) < 0);
  });
});

const straceFound = spawnSync('strace', ['-V']).status === 0;

describe('durability calls reach the kernel', { skip: straceFound ? false : 'strace is not installed' }, () => {
  it('open, a sync put and a flush fdatasync the log, sync the table and MANIFEST, and fsync the directory', () => {
    const dir = path.join(tempDir(), 'db');
    const indexUrl = new URL('../../src/index.js', import.meta.url).href;
    const script = scriptFile(
      `import { DB } from ${JSON.stringify(indexUrl)};
const db = await DB.open(${JSON.stringify(dir)}, { compactionExecutor: 'inline' });
await db.put('k', 'v');
await db.flush();
await db.close();
console.log('done');`,
    );
    const trace = path.join(tempDir(), 'strace.txt');
    const output = execFileSync('strace', ['-f', '-qq', '-e', 'trace=openat,fcntl,dup,dup2,dup3,fsync,fdatasync', '-o', trace, ...scriptArgv(script)], {
      encoding: 'utf8',
    });
    assert.equal(output.trim(), 'done');
    const synced = syncedPaths(fs.readFileSync(trace, 'utf8'));
    const names = [...synced].filter((p) => p === dir || path.dirname(p) === dir).map((p) => (p === dir ? '<dir>' : path.basename(p)));
    assert.ok(names.some((n) => /^\d{6}\.log$/.test(n)), `a log is synced: ${names.join(' ')}`);
    assert.ok(names.some((n) => /^\d{6}\.sst$/.test(n)), `a table is synced: ${names.join(' ')}`);
    assert.ok(names.some((n) => /^MANIFEST-\d{6}$/.test(n)), `the MANIFEST is synced: ${names.join(' ')}`);
    assert.ok(names.includes('<dir>'), `the directory is synced: ${names.join(' ')}`);
  });
});

/**
 * The paths that got an fsync or fdatasync, from an `strace -f` log: descriptors
 * are followed through openat and dups (Deno syncs a dup of the file's
 * descriptor). Lines are `tid call(args) = result`; a call cut by another
 * thread's is `tid call(args <unfinished ...>` then `tid <... call resumed>) = result`.
 * The threads of one process share its descriptors, so they are keyed by number.
 */
function syncedPaths(log: string): Set<string> {
  const open = new Map<string, string>();
  const synced = new Set<string>();
  const unfinished = new Map<string, string>();
  for (const line of log.split('\n')) {
    const cut = /^(\d+)\s+(\w+\(.*) <unfinished \.\.\.>$/.exec(line);
    if (cut) {
      unfinished.set(cut[1]!, cut[2]!);
      continue;
    }
    let whole = line;
    const resumed = /^(\d+)\s+<\.\.\. \w+ resumed>(.*)$/.exec(line);
    if (resumed) whole = `${resumed[1]} ${unfinished.get(resumed[1]!) ?? ''}${resumed[2]}`;
    const match = /^\d+\s+(\w+)\((.*)\)\s+=\s+(-?\d+)/.exec(whole);
    if (!match) continue;
    const [, call, args, result] = match as unknown as [string, string, string, string];
    if (call === 'openat') {
      const file = /^[^,]+, "([^"]*)"/.exec(args)?.[1];
      if (file !== undefined && Number(result) >= 0) open.set(result, path.resolve(file));
    } else if ((call === 'fcntl' && /F_DUPFD/.test(args)) || call.startsWith('dup')) {
      const from = open.get(args.split(',')[0]!.trim());
      if (from !== undefined && Number(result) >= 0) open.set(result, from);
    } else if ((call === 'fsync' || call === 'fdatasync') && result === '0') {
      const file = open.get(args.trim());
      if (file !== undefined) synced.add(file);
    }
  }
  return synced;
}
