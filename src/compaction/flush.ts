/**
 * Writing a memtable to a level-0 table (docs/internals.md, "Flush").
 *
 * A flush has two halves. On the main thread, `encodeFlushEntries` copies the
 * frozen memtable's entries, in order, into one flat buffer, in slices that yield
 * to the event loop; that is all the main thread pays. `runFlushJob` then builds,
 * compresses, writes and syncs the table from that buffer, in the compaction
 * worker (or inline, through the file-system seam, for tests and custom file
 * systems). Recovery, before the database is open, uses `writeTable` directly.
 */
import assert from 'node:assert/strict';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { ioError } from '../errors.js';
import type { FileSystem } from '../fs/file-system.js';
import { INTERNAL_KEY_TRAILER_BYTES, encodeInternalKey, writeTrailer } from '../keys.js';
import { ENTRY_OVERHEAD_BYTES, type MemKey, type MemTable } from '../memtable/memtable.js';
import type { TableBuilderOptions } from '../sstable/table-builder.js';
import { TableOutput } from './table-output.js';
import { revivedRangeDelBlockSpec, type RangeDelBlockSpec } from '../rangedel/table-tombstones.js';
import type { FileMeta } from '../version/version-edit.js';

/** Entries handled between yields to the event loop on the main thread (well under a millisecond of work). */
export const FLUSH_SLICE_ENTRIES = 1000;

/** What a flush job needs; `entries` is the output of `encodeFlushEntries`, transferable to the worker. */
export interface FlushJobSpec {
  dir: string;
  fileNumber: number;
  tableOptions: TableBuilderOptions;
  entries: Uint8Array;
  /** The memtable's range tombstones for the table's range-del block; absent when it has none. */
  rangeDel?: RangeDelBlockSpec;
  /** Yield to the event loop every this many entries (inline runs share the main thread); 0 never. */
  yieldEveryEntries: number;
}

/**
 * Copies `memtable`'s entries, in internal-key order, into one buffer that owns
 * its memory (so it can be transferred to a worker):
 *
 *   per entry: internalKeyLength u32le | internal key | valueLength u32le | value
 *
 * The memtable must be frozen. Yields to the event loop every `yieldEveryEntries`.
 */
export async function encodeFlushEntries(memtable: MemTable, yieldEveryEntries = FLUSH_SLICE_ENTRIES): Promise<Uint8Array> {
  // The memtable charges each entry its key, its value and ENTRY_OVERHEAD_BYTES,
  // more than the 16 bytes of lengths and trailer it takes here: one pass suffices.
  assert(ENTRY_OVERHEAD_BYTES >= 8 + INTERNAL_KEY_TRAILER_BYTES);
  const out = Buffer.allocUnsafeSlow(memtable.approximateBytes);
  let position = 0;
  let count = 0;
  for (const [memKey, value] of memtable.entries()) {
    out.writeUInt32LE(memKey.key.length + INTERNAL_KEY_TRAILER_BYTES, position);
    position += 4;
    out.set(memKey.key, position);
    position += memKey.key.length;
    writeTrailer(out, position, memKey.seq, memKey.type);
    position += INTERNAL_KEY_TRAILER_BYTES;
    out.writeUInt32LE(value.length, position);
    position += 4;
    out.set(value, position);
    position += value.length;
    if (++count % yieldEveryEntries === 0) await yieldToEventLoop();
  }
  return out.subarray(0, position);
}

/** The entries of `encodeFlushEntries`' buffer, as [internal key, value] views into it. */
export function* decodeFlushEntries(bytes: Uint8Array): Generator<[Buffer, Buffer]> {
  const buffer = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let position = 0;
  while (position < buffer.length) {
    const keyLength = buffer.readUInt32LE(position);
    position += 4;
    const key = buffer.subarray(position, position + keyLength);
    position += keyLength;
    const valueLength = buffer.readUInt32LE(position);
    position += 4;
    const value = buffer.subarray(position, position + valueLength);
    position += valueLength;
    yield [key, value];
  }
}

/** Runs a flush job: table `spec.fileNumber` at L0 from the encoded entries, synced with its directory entry. */
export function runFlushJob(spec: FlushJobSpec, fs: FileSystem): Promise<FileMeta | undefined> {
  const rangeDel = revivedRangeDelBlockSpec(spec.rangeDel);
  return buildTable(fs, spec.dir, spec.fileNumber, 0, decodeFlushEntries(spec.entries), spec.tableOptions, spec.yieldEveryEntries, rangeDel);
}

/**
 * Writes memtable entries (in internal-key order) to table `fileNumber` at
 * `level` on the calling thread, yielding every `FLUSH_SLICE_ENTRIES`. For
 * recovery, which runs before the database (and its worker) is up.
 */
export function writeTable(
  fs: FileSystem,
  dir: string,
  fileNumber: number,
  level: number,
  entries: Iterable<[MemKey, Buffer]>,
  tableOptions: TableBuilderOptions,
  rangeDel?: RangeDelBlockSpec,
): Promise<FileMeta | undefined> {
  function* internalEntries(): Generator<[Buffer, Buffer]> {
    for (const [key, value] of entries) yield [encodeInternalKey(key.key, key.seq, key.type), value];
  }
  return buildTable(fs, dir, fileNumber, level, internalEntries(), tableOptions, FLUSH_SLICE_ENTRIES, rangeDel);
}

/**
 * Writes [internal key, value] entries (and range tombstones) to table
 * `fileNumber` at `level`, syncs it and its directory entry, and returns its
 * metadata; `undefined` if there were neither. A partial file is removed on failure.
 */
async function buildTable(
  fs: FileSystem,
  dir: string,
  fileNumber: number,
  level: number,
  entries: Iterator<[Buffer, Buffer]>,
  tableOptions: TableBuilderOptions,
  yieldEveryEntries: number,
  rangeDel: RangeDelBlockSpec | undefined,
): Promise<FileMeta | undefined> {
  let entry = entries.next();
  if (entry.done && rangeDel === undefined) return undefined;
  const output = await TableOutput.create(fs, dir, fileNumber, tableOptions);
  try {
    for (let count = 1; !entry.done; count++) {
      output.builder.add(entry.value[0], entry.value[1]);
      if (output.builder.flushAdvised) await output.builder.flush();
      if (yieldEveryEntries > 0 && count % yieldEveryEntries === 0) await yieldToEventLoop();
      entry = entries.next();
    }
  } catch (err) {
    await output.discard();
    throw ioError(`writing table ${output.path}`, err);
  }
  const meta = await output.finish(level, rangeDel === undefined ? {} : { rangeDelBlock: rangeDel });
  try {
    await fs.syncDir(dir);
  } catch (err) {
    await fs.remove(output.path).catch(() => undefined);
    throw ioError(`syncing directory ${dir}`, err);
  }
  return meta;
}
