/**
 * The arguments every static tool of `DB` takes (`verify`, `repair`, `destroy`):
 * a location and an options object holding `fs` and the tool's own callbacks.
 */
import { invalidArgument } from '../errors.js';
import type { FileSystem } from '../fs/file-system.js';
import { NodeFileSystem } from '../fs/node-fs.js';

/** Checks `location` and `options` (only `fs` and the names in `callbacks`, each a function); returns the file system to use. */
export function toolOptions(location: unknown, options: unknown, callbacks: readonly string[]): { fs: FileSystem; custom: boolean } & Record<string, unknown> {
  if (typeof location !== 'string' || location.length === 0) throw invalidArgument('location must be a non-empty string');
  if (options === null || typeof options !== 'object') throw invalidArgument('options must be an object');
  const given = options as Record<string, unknown>;
  for (const [name, value] of Object.entries(given)) {
    if (value === undefined) continue;
    if (name === 'fs') {
      if (typeof value !== 'object' || value === null) throw invalidArgument('fs must be a FileSystem');
    } else if (callbacks.includes(name)) {
      if (typeof value !== 'function') throw invalidArgument(`${name} must be a function`);
    } else {
      throw invalidArgument(`unknown option ${JSON.stringify(name)}`);
    }
  }
  const custom = given['fs'] !== undefined;
  return { ...given, fs: custom ? (given['fs'] as FileSystem) : new NodeFileSystem(), custom };
}
