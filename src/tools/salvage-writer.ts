/**
 * Writes what `DB.repair` salvaged as new tables: the entries of the intact data
 * blocks of damaged tables (`IntactEntries`) and of the intact WAL records, merged
 * in internal-key order (docs/tools.md, "Repair"). Equal internal keys (the same
 * write found twice, as in the output of a repair that crashed) are written once.
 * Outputs are cut at `targetFileSizeBytes`, only between user keys, so that they
 * never overlap and may sit at one level below L0.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { CorruptionError, ioError } from '../errors.js';
import type { FileSystem, RandomAccessFile } from '../fs/file-system.js';
import { IndexHeap } from '../iterator/index-heap.js';
import { INTERNAL_KEY_TRAILER_BYTES, compareInternalKeys } from '../keys.js';
import type { BlockHandle } from '../sstable/block-handle.js';
import type { TableBuilderOptions, TableFinishExtras } from '../sstable/table-builder.js';
import { CompactionTombstones } from '../rangedel/compaction-tombstones.js';
import type { Fragment } from '../rangedel/fragments.js';
import { rangeDelBlockSpec } from '../rangedel/table-tombstones.js';
import { TableReader } from '../sstable/table-reader.js';
import { TableOutput } from '../compaction/table-output.js';
import type { FileMeta } from '../version/version-edit.js';
import { blockEntries, dataBlockHandles } from './table-check.js';

/** A source of entries in internal-key order: `current` is the next one, undefined at the end. */
export interface EntrySource {
  readonly current: readonly [Buffer, Buffer] | undefined;
  next(): void;
}

/** The entries of a table's intact data blocks, read block by block; damaged blocks are skipped. */
export class IntactEntries implements EntrySource {
  readonly #reader: TableReader;
  readonly #handles: BlockHandle[];
  #blockIndex = 0;
  #entries: [Buffer, Buffer][] = [];
  #position = 0;
  #previous: Buffer | undefined;

  private constructor(reader: TableReader, handles: BlockHandle[]) {
    this.#reader = reader;
    this.#handles = handles;
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
  /** Range tombstones (fragmented) to cut between the new tables, each keeping those of its key range. */
  rangeTombstones?: readonly Fragment[];
}

/** Entries merged between turns of the event loop. */
const ENTRIES_BETWEEN_TURNS = 4096;

/**
 * Merges `sources` into new tables at `target.level`, each synced (the caller
 * syncs the directory); returns their metadata (none when every source is empty).
 * On failure the unfinished table is removed.
 */
export async function writeSalvagedTables(sources: readonly EntrySource[], target: SalvageTarget): Promise<FileMeta[]> {
  const heap = new IndexHeap((a, b) => compareInternalKeys(sources[a]!.current![0], sources[b]!.current![0]));
  heap.reset(
    sources.flatMap((source, index) => (source.current === undefined ? [] : [index])),
    (a, b) => compareInternalKeys(sources[a]!.current![0], sources[b]!.current![0]),
  );
  const written: FileMeta[] = [];
  // No snapshot is live in a repair: every stripe is one, and the newest tombstone of each fragment is all that counts.
  const tombstones = new CompactionTombstones(target.rangeTombstones ?? [], () => 1, []);
  const extras = (to: Buffer | null): TableFinishExtras => {
    const rangeDel = rangeDelBlockSpec(tombstones.takeUntil(to));
    return rangeDel === undefined ? {} : { rangeDelBlock: rangeDel };
  };
  let output: TableOutput | undefined;
  let last: Buffer | undefined;
  let count = 0;
  try {
    while (heap.size > 0) {
      const source = sources[heap.top()]!;
      const [key, value] = source.current!;
      if (last === undefined || compareInternalKeys(last, key) !== 0) {
        if (output !== undefined && output.builder.approximateSizeBytes >= target.targetFileSizeBytes && !sameUserKey(last!, key)) {
          written.push(await output.finish(target.level, extras(Buffer.from(key.subarray(0, key.length - INTERNAL_KEY_TRAILER_BYTES)))));
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
    const rest = extras(null);
    if (output === undefined && rest.rangeDelBlock !== undefined) output = await TableOutput.create(target.fs, target.dir, target.newFileNumber(), target.tableOptions);
    if (output !== undefined) written.push(await output.finish(target.level, rest));
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
