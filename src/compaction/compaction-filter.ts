/**
 * The compaction filter (docs/internals.md, "The compaction filter"): a user
 * function that sees each key's newest value as compaction rewrites it, and may
 * keep it, remove it or give it a new value (RocksDB's CompactionFilter).
 *
 * The contract: it is called only for the newest version of a key within the
 * compaction, only for live values (a PUT, or an expiring PUT not yet expired),
 * and only when no live snapshot can see that version (its sequence number is
 * above every live snapshot's). Removing writes a DELETE at the same sequence
 * number, so older versions of the key in deeper levels never resurface. It must
 * be synchronous; an error it throws (or a result that is none of the three)
 * fails the compaction as a background error.
 */
import { pathToFileURL } from 'node:url';
import * as path from 'node:path';
import { ShaleError, invalidArgument } from '../errors.js';

/** What a compaction filter decides for one entry: `undefined` is the same as `'keep'`. */
export type CompactionFilterDecision = 'keep' | 'remove' | { value: Uint8Array } | undefined;

/** What the filter learns about the entry besides its key and value. */
export interface CompactionFilterContext {
  /** The level the compaction writes to. */
  readonly level: number;
  /** When the entry expires (ms since the epoch) for an expiring one; undefined for a plain PUT. A new value keeps it. */
  readonly expiresAtMs: number | undefined;
}

/**
 * The filter itself. `key` and `value` are views valid only during the call:
 * copy what you keep. A new value of an expiring entry keeps its expiry time.
 */
export type CompactionFilterFunction = (key: Buffer, value: Buffer, context: CompactionFilterContext) => CompactionFilterDecision;

/** A filter the worker thread loads: the module's `export` (default `'default'`) must be a `CompactionFilterFunction`. */
export interface CompactionFilterModule {
  /** An absolute path or a `file:` URL. */
  readonly module: string;
  readonly export?: string;
}

/** The `compactionFilter` option: a function (with the inline executor only) or a module the worker loads. */
export type CompactionFilter = CompactionFilterFunction | CompactionFilterModule;

/** Checks the shape of the `compactionFilter` option: `INVALID_ARGUMENT` when wrong. */
export function checkCompactionFilterOption(filter: unknown, executor: 'worker' | 'inline'): void {
  if (filter === undefined) return;
  if (typeof filter === 'function') {
    if (executor !== 'inline') {
      throw invalidArgument("a compactionFilter function needs compactionExecutor 'inline'; with the worker, give { module, export }");
    }
    return;
  }
  if (typeof filter !== 'object' || filter === null) throw invalidArgument('option compactionFilter must be a function or { module, export? }');
  const { module, export: name, ...rest } = filter as { module?: unknown; export?: unknown };
  const extra = Object.keys(rest);
  if (extra.length > 0) throw invalidArgument(`unknown compactionFilter field ${extra[0]}; expected module, export`);
  if (typeof module !== 'string' || !(module.startsWith('file:') || path.isAbsolute(module))) {
    throw invalidArgument('compactionFilter.module must be an absolute path or a file: URL');
  }
  if (name !== undefined && (typeof name !== 'string' || name.length === 0)) throw invalidArgument('compactionFilter.export must be a non-empty string');
}

const loaded = new Map<string, Promise<CompactionFilterFunction>>();

/**
 * The filter function a module names, imported once per thread. `INVALID_ARGUMENT`
 * when the module cannot be imported or its export is not a function.
 */
export function loadCompactionFilter(filter: CompactionFilterModule): Promise<CompactionFilterFunction> {
  const url = filter.module.startsWith('file:') ? filter.module : pathToFileURL(filter.module).href;
  const name = filter.export ?? 'default';
  const cacheKey = `${url}#${name}`;
  let loading = loaded.get(cacheKey);
  if (loading === undefined) {
    loading = import(url).then(
      (namespace: Record<string, unknown>) => {
        const exported = namespace[name];
        if (typeof exported !== 'function') throw invalidArgument(`compactionFilter: ${url} has no function export ${name}`);
        return exported as CompactionFilterFunction;
      },
      (err: unknown) => {
        throw new ShaleError('INVALID_ARGUMENT', `compactionFilter: cannot import ${url}`, { cause: err });
      },
    );
    // A failed import is not cached: the next open tries again.
    loading.catch(() => loaded.delete(cacheKey));
    loaded.set(cacheKey, loading);
  }
  return loading;
}

/** The function behind the option: the plain function, or the module's export (loaded on this thread). */
export async function resolveCompactionFilter(filter: CompactionFilter | undefined): Promise<CompactionFilterFunction | undefined> {
  if (filter === undefined) return undefined;
  return typeof filter === 'function' ? filter : loadCompactionFilter(filter);
}

/** Checks a filter's answer: `'keep'`, `'remove'` or a new value (as a Buffer); anything else fails the compaction. */
export function checkDecision(decision: unknown): 'keep' | 'remove' | Buffer {
  if (decision === undefined || decision === 'keep') return 'keep';
  if (decision === 'remove') return 'remove';
  if (typeof decision === 'object' && decision !== null) {
    const value = (decision as { value?: unknown }).value;
    if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  }
  throw new ShaleError('INVALID_ARGUMENT', `the compaction filter returned ${describe(decision)}; expected 'keep', 'remove' or { value: Uint8Array }`);
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  return value === null ? 'null' : typeof value;
}
