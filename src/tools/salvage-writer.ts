/**
 * Writes what `DB.repair` salvaged as new tables: the entries of the intact data
 * blocks of damaged tables (`IntactEntries`) and of the intact WAL records, merged
 * in internal-key order (docs/tools.md, "Repair"). Equal internal keys (the same
 * write found twice, as in the output of a repair that crashed) are written once.
 * Outputs are cut at `targetFileSizeBytes`, only between user keys, so that they
 * never overlap and may sit at one level below L0.
 *
 * The range tombstones salvaged with the entries (from intact range-del blocks
 * and the logs' RANGE_DELETE ops, fragmented together) go into the outputs' range-
 * del blocks, cut at the outputs' boundaries as a compaction cuts them: an output
 * cut before user key K keeps the pieces below K, the next one those from K on,
 * and each table's bounds are widened to its pieces (`rangeDelBlockSpec`), so the
 * outputs still do not overlap. Tombstones with no entry to go with are a table
 * of their own.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { CorruptionError, ioError } from '../errors.js';
import type { FileSystem, RandomAccessFile } from '../fs/file-system.js';
import { IndexHeap } from '../iterator/index-heap.js';
import { INTERNAL_KEY_TRAILER_BYTES, compareInternalKeys } from '../keys.js';
import type { BlockHandle } from '../sstable/block-handle.js';
import type { TableBuilderOptions } from '../sstable/table-builder.js';
import { TableReader } from '../sstable/table-reader.js';
import { TableOutput } from '../compaction/table-output.js';
import type { FileMeta } from '../version/version-edit.js';
import { blockEntries, dataBlockHandles } from './table-check.js';
import { clipFragments } from '../rangedel/compaction-tombstones.js';
import type { Fragment } from '../rangedel/fragments.js';
import { rangeDelBlockSpec } from '../rangedel/table-tombstones.js';
import type { TableFinishExtras } from '../sstable/table-builder.js';

/** A source of entries in internal-key order: `current` is the next one, undefined at the end. */
export interface EntrySource {
  readonly current: readonly [Buffer, Buffer] | undefined;
  next(): void;
}

/** The entries of a table's intact data blocks, read block by block; damaged blocks are skipped. */
export class IntactEntries implements EntrySource {
  /** The table's range tombstones: its range-del block, which `TableReader.open` read and checked (none without one). */
  readonly rangeTombstones: readonly Fragment[];
  readonly #reader: TableReader;
  readonly #handles: BlockHandle[];
  #blockIndex = 0;
  #entries: [Buffer, Buffer][] = [];
  #position = 0;
  #previous: Buffer | undefined;

  private constructor(reader: TableReader, handles: BlockHandle[]) {
    this.#reader = reader;
    this.#handles = handles;
    this.rangeTombstones = reader.rangeTombstones().fragments;
    this.#fill();
  }

  /** Reads `file`'s metadata; undefined when it is damaged (no block can be found). The caller closes `file` after use. */
  static open(file: RandomAccessFile, path: string, fileNumber: number): IntactEntries | undefined {
    try {
      const reader = TableReader.open(file, path, fileNumber);
      return new IntactEntries(reader, dataBlockHandles(reader));
    } catch (err) {
      if (err instanceof CorruptionError) return undefined;
      throw err;
    }
  }

  get current(): readonly [Buffer, Buffer] | undefined {
    return this.#entries[this.#position];
  }

  next(): void {
    this.#position++;
    if (this.#position >= this.#entries.length) this.#fill();
  }

  /** Loads the next intact block's entries (or none: the end). */
  #fill(): void {
    this.#entries = [];
    this.#position = 0;
    while (this.#entries.length === 0 && this.#blockIndex < this.#handles.length) {
      const handle = this.#handles[this.#blockIndex++]!;
      try {
        this.#entries = blockEntries(this.#reader, handle, this.#previous);
      } catch (err) {
        if (!(err instanceof CorruptionError)) throw err;
      }
    }
    this.#previous = this.#entries.at(-1)?.[0] ?? this.#previous;
  }
}

/** An `EntrySource` over entries already in order (the WAL's, from a memtable). */
export class ArrayEntries implements EntrySource {
  readonly #entries: readonly (readonly [Buffer, Buffer])[];
  #position = 0;

  constructor(entries: readonly (readonly [Buffer, Buffer])[]) {
    this.#entries = entries;
  }

  get current(): readonly [Buffer, Buffer] | undefined {
    return this.#entries[this.#position];
  }

  next(): void {
    this.#position++;
  }
}

/** Where the salvaged tables go and how they are built. */
export interface SalvageTarget {
  fs: FileSystem;
  dir: string;
  level: number;
  tableOptions: TableBuilderOptions;
  /** Cut outputs at this size (at a user key boundary); Infinity for one table. */
  targetFileSizeBytes: number;
  newFileNumber: () => number;
}

/** Entries merged between turns of the event loop. */
const ENTRIES_BETWEEN_TURNS = 4096;

/**
 * Merges `sources` into new tables at `target.level`, each synced (the caller
 * syncs the directory), with `tombstones` (fragmented: key order, not
 * overlapping) cut between them (see the module comment); returns their metadata
 * (none when every source is empty and there are no tombstones). On failure the
 * unfinished table is removed.
 */
export async function writeSalvagedTables(sources: readonly EntrySource[], target: SalvageTarget, tombstones: readonly Fragment[] = []): Promise<FileMeta[]> {
  const heap = new IndexHeap((a, b) => compareInternalKeys(sources[a]!.current![0], sources[b]!.current![0]));
  heap.reset(
    sources.flatMap((source, index) => (source.current === undefined ? [] : [index])),
    (a, b) => compareInternalKeys(sources[a]!.current![0], sources[b]!.current![0]),
  );
  const written: FileMeta[] = [];
  let output: TableOutput | undefined;
  let last: Buffer | undefined;
  let count = 0;
  // Where the share of the tombstones of the table being written begins (null: from the first).
  let from: Buffer | null = null;
  const share = (to: Buffer | null): TableFinishExtras => {
    const spec = rangeDelBlockSpec(clipFragments(tombstones, from, to));
    from = to;
    return spec === undefined ? {} : { rangeDelBlock: spec };
  };
  try {
    while (heap.size > 0) {
      const source = sources[heap.top()]!;
      const [key, value] = source.current!;
      if (last === undefined || compareInternalKeys(last, key) !== 0) {
        if (output !== undefined && output.builder.approximateSizeBytes >= target.targetFileSizeBytes && !sameUserKey(last!, key)) {
          written.push(await output.finish(target.level, share(Buffer.from(key.subarray(0, key.length - INTERNAL_KEY_TRAILER_BYTES)))));
          output = undefined;
        }
        output ??= await TableOutput.create(target.fs, target.dir, target.newFileNumber(), target.tableOptions);
        output.builder.add(key, value);
        if (output.builder.flushAdvised) await output.builder.flush();
        last = key;
      }
      source.next();
      if (source.current === undefined) heap.pop();
      else heap.topChanged();
      if (++count % ENTRIES_BETWEEN_TURNS === 0) await nextTurn();
    }
    if (output === undefined && tombstones.length > 0) output = await TableOutput.create(target.fs, target.dir, target.newFileNumber(), target.tableOptions);
    if (output !== undefined) written.push(await output.finish(target.level, share(null)));
  } catch (err) {
    await output?.discard();
    throw ioError('writing salvaged entries', err);
  }
  return written;
}

function sameUserKey(a: Buffer, b: Buffer): boolean {
  const length = a.length - INTERNAL_KEY_TRAILER_BYTES;
  return length === b.length - INTERNAL_KEY_TRAILER_BYTES && a.compare(b, 0, length, 0, length) === 0;
}
