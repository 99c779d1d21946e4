/**
 * CRC-32 (IEEE 802.3, the zlib/gzip polynomial) of bytes, as every checksum of
 * docs/format.md uses it: WAL and MANIFEST chunks, table blocks, footers.
 *
 * `node:zlib`'s `crc32` (Node ≥ 20.15 and ≥ 22.2, and Bun) runs in native code,
 * about 2.7× faster than the `crc-32` package on 4 KiB blocks; where the runtime
 * lacks it, the package computes the same value. `test/util/crc32.test.ts` checks
 * that both agree.
 */
import CRC32 from 'crc-32';
import * as zlib from 'node:zlib';

type Crc32 = (data: Uint8Array, previous?: number) => number;

const native = (zlib as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;

/** The `crc-32` package's CRC-32, unsigned. */
export const packageCrc32: Crc32 = (data, previous = 0) => CRC32.buf(data, previous | 0) >>> 0;

/** The native CRC-32, or undefined where the runtime has none. */
export const nativeCrc32: Crc32 | undefined =
  native === undefined
    ? undefined
    : // Node 20's zlib.crc32 returns 0 for an empty view (`buffer.subarray(n, n)`) whatever the value it continues.
      (data, previous = 0) => (data.length === 0 ? previous >>> 0 : native(data, previous >>> 0));

/**
 * The CRC-32 of `data`, unsigned. `previous` continues a checksum: the CRC of
 * `a ‖ b` is `crc32(b, crc32(a))`.
 */
export const crc32: Crc32 = nativeCrc32 ?? packageCrc32;

/** Which implementation `crc32` is, for stats and the runtime report. */
export const crc32Implementation: 'node:zlib' | 'crc-32' = nativeCrc32 === undefined ? 'crc-32' : 'node:zlib';
