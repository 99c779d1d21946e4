/**
 * Constants of the table file format (docs/format.md, "SSTable"): the block
 * trailer, the compression types, the footer size, the magic number and the
 * format version. Every other module of `src/sstable/` takes its numbers from here.
 *
 * A table file is:
 *
 *     data block 0 … data block n-1 | filter block (optional) | properties block | index block | footer
 *
 * and every block is `contents ‖ compression type u8 ‖ crc32 u32le`.
 */

/** Bytes after a block's contents: the compression type (1) and the CRC-32 (4). */
export const BLOCK_TRAILER_BYTES = 5;

/**
 * How a block's contents are stored. On disk in every block trailer: these
 * values must never be renumbered.
 */
export const CompressionType = {
  NONE: 0,
  SNAPPY: 1,
} as const;
export type CompressionType = (typeof CompressionType)[keyof typeof CompressionType];

/** The compression a `TableBuilder` is asked for, by name. */
export type CompressionName = 'snappy' | 'none';

/** Size of the fixed footer at the end of every table. */
export const FOOTER_BYTES = 64;

/**
 * The last 8 bytes of every table: ASCII "SHALESST" (53 48 41 4c 45 53 53 54),
 * which read as a u64le is 0x545353454c414853.
 */
export const TABLE_MAGIC = Buffer.from('SHALESST', 'latin1');

/**
 * The table format version of a table without a prefix filter (docs/format.md,
 * "SSTable: footer"). A table is written at the lowest version that has what it
 * uses, so a database that never sets `bloomPrefixBytes` stays readable by
 * releases that know only version 1.
 */
export const TABLE_FORMAT_VERSION = 1;
/** Version 2: version 1 with `bloomPrefixBytes` in the properties block and key prefixes in the filter. */
export const TABLE_FORMAT_VERSION_PREFIX_FILTER = 2;
/**
 * Version 3: version 2 (the prefix length may be 0) plus a range-del block handle and
 * counts, and the expiring entries' count and earliest expiry, in the properties block.
 * A table is version 3 only when it holds range tombstones or expiring entries.
 */
export const TABLE_FORMAT_VERSION_RANGE_DEL_EXPIRY = 3;
/** The versions this code reads. */
export const TABLE_FORMAT_VERSIONS_READ: readonly number[] = [
  TABLE_FORMAT_VERSION,
  TABLE_FORMAT_VERSION_PREFIX_FILTER,
  TABLE_FORMAT_VERSION_RANGE_DEL_EXPIRY,
];

/** Restart interval of the index block: 1, so that a binary search lands on the exact entry. */
export const INDEX_RESTART_INTERVAL = 1;
