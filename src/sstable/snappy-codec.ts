/**
 * Loading snappy (docs/internals.md, "Snappy"). Block compression uses the
 * `snappy` package (7.x), whose native parts are the `@napi-rs/snappy-*`
 * packages, one per platform, plus a wasm32-wasi build for runtimes without
 * N-API. When none of them loads, shale still opens: tables are then written
 * uncompressed (readable by every build), and reading a snappy-compressed block
 * is a `NOT_SUPPORTED` error naming the file, the offset and why snappy is missing.
 *
 * `SHALE_SNAPPY=off` in the environment makes shale act as if no build loaded
 * (to test that mode, or to write tables any build can read).
 */
import { createRequire } from 'node:module';
import { ShaleError } from '../errors.js';

/** The two calls shale makes; both are the raw (not framed) snappy format. */
export interface SnappyCodec {
  compressSync(input: Uint8Array): Buffer;
  uncompressSync(input: Uint8Array): Buffer;
}

/** What loading snappy gave: a codec, or why there is none. */
export type SnappyLoad =
  | { readonly available: true; readonly codec: SnappyCodec }
  | { readonly available: false; readonly reason: string };

interface SnappyModule {
  compressSync(input: Uint8Array): Buffer;
  uncompressSync(input: Uint8Array, options: { asBuffer: true }): Buffer | string;
}

function loadSnappy(): SnappyLoad {
  if (process.env['SHALE_SNAPPY'] === 'off') return { available: false, reason: 'SHALE_SNAPPY=off is set' };
  let loaded: SnappyModule;
  try {
    // `snappy` is CommonJS that picks its native build at load time and throws when none fits.
    loaded = createRequire(import.meta.url)('snappy') as SnappyModule;
  } catch (err) {
    return { available: false, reason: `no build of the snappy package loads here (${(err as Error).message.split('\n')[0]})` };
  }
  return {
    available: true,
    codec: {
      compressSync: (input) => loaded.compressSync(input),
      uncompressSync: (input) => {
        const output = loaded.uncompressSync(input, { asBuffer: true });
        if (typeof output === 'string') throw new TypeError('snappy returned a string for asBuffer: true');
        return output;
      },
    },
  };
}

/** Loaded once per thread (the compaction worker loads its own). */
export const snappy: SnappyLoad = loadSnappy();

/** The `NOT_SUPPORTED` error for a snappy block met while no snappy build is loaded. */
export function snappyMissingError(fileName: string, offset: number, reason: string): ShaleError {
  return new ShaleError(
    'NOT_SUPPORTED',
    `${fileName} at offset ${offset}: the block is snappy-compressed, and ${reason}; ` +
      `install a snappy build for this platform (the snappy package) to read it`,
  );
}
