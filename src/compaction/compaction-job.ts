/**
 * The merge at the heart of a compaction (docs/internals.md, "Compaction"): read
 * the input tables in internal-key order, drop what no reader can see, and write
 * the rest to new tables of the output level. Runs the same in the worker thread
 * and inline; everything it needs arrives in a serialisable `CompactionJobSpec`.
 *
 * What is dropped: versions are grouped into snapshot stripes (the entries each
 * live snapshot, or the latest read, would see the same way); within a stripe only
 * the newest version of a key is visible, so the older ones go. A tombstone goes
 * too when every snapshot sees it (stripe 0) and no deeper level can hold an older
 * value of its key.
 *
 * What is rewritten: an expiring PUT past its expiry at `spec.nowMs` becomes a
 * DELETE at the same sequence number (it already reads as one, at every
 * snapshot), and is then dropped like any tombstone. The compaction filter, when
 * there is one, sees the newest live value of each key that no snapshot can see
 * and may remove it (a DELETE at the same sequence) or replace its value
 * (compaction-filter.ts).
 */
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { ioError } from '../errors.js';
import type { FileSystem, RandomAccessFile } from '../fs/file-system.js';
import { filePath, tableFileName } from '../filenames.js';
import { EntryType, INTERNAL_KEY_TRAILER_BYTES, SEQUENCE_MAX } from '../keys.js';
import { CompactionTombstones, clipFragments } from '../rangedel/compaction-tombstones.js';
import { mergeFragments } from '../rangedel/fragments.js';
import { rangeDelBlockSpec } from '../rangedel/table-tombstones.js';
import { EXPIRY_BYTES, encodeExpiringValue, isExpired, readExpiry } from '../util/expiring-value.js';
import { checkDecision, type CompactionFilterFunction } from './compaction-filter.js';
import { compareBytes, copyBytes } from '../sstable/byte-ranges.js';
import type { TableBuilderOptions } from '../sstable/table-builder.js';
import type { KeyRangeShare } from './picker.js';
import { ReadaheadFile } from './readahead-file.js';
import { RunMerger, SortedRun } from './sorted-runs.js';
import { TableOutput } from './table-output.js';
import { TableReader } from '../sstable/table-reader.js';
import type { FileMeta } from '../version/version-edit.js';

/** A user-key range: [smallest, largest], inclusive. */
export type KeySpan = readonly [Buffer, Buffer];

export interface CompactionJobSpec {
  dir: string;
  outputLevel: number;
  /**
   * Input tables as sorted runs: each run one L0 table, or a deeper level's tables
   * in key order (disjoint). Runs may come in any order: the merge orders entries.
   */
  inputs: number[][];
  /** Live snapshot sequence numbers, ascending. */
  snapshots: number[];
  /**
   * The database's time when the compaction was set up (taken on the main thread,
   * so the worker and the inline executor decide alike): expiring entries
   * expired by it are rewritten as DELETEs.
   */
  nowMs: number;
  /** For each level below the output, its tables' user-key spans in key order: where older values may live. */
  deeperSpans: KeySpan[][];
  /** User-key spans and sizes of the output level's next level: output files are cut to bound overlap with them. */
  grandparents: { span: KeySpan; sizeBytes: number }[];
  targetFileSizeBytes: number;
  grandparentOverlapBytesMax: number;
  tableOptions: TableBuilderOptions;
  verifyChecksums: boolean;
  /** Yield to the event loop every this many entries (inline runs share the main thread); 0 never. */
  yieldEveryEntries: number;
  /**
   * A subcompaction's share of the keys: merge only user keys in [start, end)
   * (either bound open when null). The shares of one compaction run side by side
   * and their outputs, in share order, are the compaction's.
   */
  share: KeyRangeShare;
}

/** The outputs carry their sizes; the caller counts bytes read from its own input list. */
export interface CompactionJobResult {
  outputs: FileMeta[];
  entriesRead: number;
  entriesWritten: number;
}

/** The index of the snapshot stripe `seq` falls in: the first snapshot ≥ seq, or past the last. */
function stripeOf(snapshots: readonly number[], seq: number): number {
  let low = 0;
  let high = snapshots.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (snapshots[middle]! < seq) low = middle + 1;
    else high = middle;
  }
  return low;
}

/** Answers "could a deeper level hold `key`?" for ascending keys, in amortised O(levels). */
class DeeperLevels {
  readonly #spans: KeySpan[][];
  readonly #positions: number[];

  constructor(spans: KeySpan[][]) {
    this.#spans = spans;
    this.#positions = spans.map(() => 0);
  }

  /** Whether a deeper level may hold the user key `key[0, keyLength)`. */
  mayHold(key: Buffer, keyLength: number): boolean {
    for (let level = 0; level < this.#spans.length; level++) {
      const spans = this.#spans[level]!;
      let position = this.#positions[level]!;
      while (position < spans.length && compareBytes(spans[position]![1], 0, spans[position]![1].length, key, 0, keyLength) < 0) position++;
      this.#positions[level] = position;
      if (position < spans.length && compareBytes(spans[position]![0], 0, spans[position]![0].length, key, 0, keyLength) <= 0) return true;
    }
    return false;
  }
}

/**
 * Runs a compaction: merges the inputs into new tables at `spec.outputLevel`,
 * synced with their directory. On failure, removes its outputs and throws
 * (a `CorruptionError` if an input is corrupt).
 */
export async function runCompactionJob(
  spec: CompactionJobSpec,
  fs: FileSystem,
  allocateFileNumber: () => Promise<number>,
  filter?: CompactionFilterFunction,
): Promise<CompactionJobResult> {
  const opened: RandomAccessFile[] = [];
  const outputs: TableOutput[] = [];
  const finished: FileMeta[] = [];
  try {
    const runs: SortedRun[] = [];
    const openedTables: TableReader[] = [];
    for (const run of spec.inputs) {
      const tables: TableReader[] = [];
      for (const fileNumber of run) {
        const path = filePath(spec.dir, tableFileName(fileNumber));
        const opening = await fs.openRead(path).catch((err: unknown) => {
          throw ioError(`opening compaction input ${path}`, err);
        });
        const file = new ReadaheadFile(opening);
        opened.push(file);
        tables.push(TableReader.open(file, path, fileNumber, { verifyChecksums: spec.verifyChecksums }));
      }
      runs.push(new SortedRun(tables));
      openedTables.push(...tables);
    }
    const merger = new RunMerger(runs);
    const tombstoneLists = openedTables.map((table) => table.rangeTombstones());
    const fragments = clipFragments(mergeFragments(tombstoneLists, SEQUENCE_MAX).fragments, spec.share.start, spec.share.end);
    const tombstones = new CompactionTombstones(fragments, (seq) => stripeOf(spec.snapshots, seq), spec.deeperSpans);
    const counts = await mergeInto(spec, merger, tombstones, fs, allocateFileNumber, outputs, finished, filter);
    merger.close();
    if (finished.length > 0) await fs.syncDir(spec.dir);
    return { outputs: finished, ...counts };
  } catch (err) {
    for (const output of outputs) await output.discard();
    for (const meta of finished) await fs.remove(filePath(spec.dir, tableFileName(meta.fileNumber))).catch(() => undefined);
    throw err;
  } finally {
    for (const file of opened) await file.close().catch(() => undefined);
  }
}

async function mergeInto(
  spec: CompactionJobSpec,
  merger: RunMerger,
  tombstones: CompactionTombstones,
  fs: FileSystem,
  allocateFileNumber: () => Promise<number>,
  outputs: TableOutput[],
  finished: FileMeta[],
  filter: CompactionFilterFunction | undefined,
): Promise<{ entriesRead: number; entriesWritten: number }> {
  const deeper = new DeeperLevels(spec.deeperSpans);
  const rewrite = new EntryRewriter(spec, filter);
  let grandparentIndex = 0;
  let overlappedBytes = 0;
  // The user key being merged, copied into a buffer of its own: the input's key bytes change as it moves.
  let currentKey = Buffer.allocUnsafe(64);
  let currentKeyLength = -1;
  let previousStripe = -1;
  let entriesRead = 0;
  let entriesWritten = 0;
  const { start, end } = spec.share;
  for (merger.seek(start); merger.valid(); merger.next()) {
    const entry = merger.current;
    const key = entry.rawKey();
    const keyLength = entry.rawKeyLength;
    const userKeyLength = keyLength - INTERNAL_KEY_TRAILER_BYTES;
    const seq = entry.seq();
    const type = entry.type();
    const newKey = currentKeyLength < 0 || compareBytes(currentKey, 0, currentKeyLength, key, 0, userKeyLength) !== 0;
    if (newKey) {
      if (end !== null && compareBytes(key, 0, userKeyLength, end, 0, end.length) >= 0) break;
      if (userKeyLength > currentKey.length) currentKey = Buffer.allocUnsafe(Math.max(userKeyLength, 2 * currentKey.length));
      copyBytes(key, 0, userKeyLength, currentKey, 0);
      currentKeyLength = userKeyLength;
      previousStripe = -1;
      // Outputs are cut only between user keys: all versions of a key stay in one table.
      while (grandparentIndex < spec.grandparents.length) {
        const largest = spec.grandparents[grandparentIndex]!.span[1];
        if (compareBytes(largest, 0, largest.length, key, 0, userKeyLength) >= 0) break;
        if (outputs.length > 0) overlappedBytes += spec.grandparents[grandparentIndex]!.sizeBytes;
        grandparentIndex++;
      }
      const current = outputs[0];
      if (current && (current.builder.approximateSizeBytes >= spec.targetFileSizeBytes || overlappedBytes > spec.grandparentOverlapBytesMax)) {
        // The table keeps the tombstones up to this key: the next one begins here.
        const rangeDel = rangeDelBlockSpec(tombstones.takeUntil(Buffer.from(key.subarray(0, userKeyLength))));
        finished.push(await outputs.shift()!.finish(spec.outputLevel, rangeDel === undefined ? {} : { rangeDelBlock: rangeDel }));
        overlappedBytes = 0;
      }
    }
    entriesRead++;
    const stripe = stripeOf(spec.snapshots, seq);
    const hidden = stripe === previousStripe;
    // A range tombstone in the entry's stripe deletes it (and the older versions of the stripe with it).
    const rangeDeleted = !hidden && !tombstones.isEmpty && tombstones.deletes(key, userKeyLength, seq);
    // Decided before the tombstone rule: an expired or filtered-out entry is a tombstone from here on.
    const written = hidden || rangeDeleted ? undefined : rewrite.decide(entry, key, keyLength, type, previousStripe === -1 && stripe === spec.snapshots.length);
    const obsoleteTombstone = written !== undefined && written.type === EntryType.DELETE && stripe === 0 && !deeper.mayHold(key, userKeyLength);
    previousStripe = stripe;
    if (written !== undefined && !obsoleteTombstone) {
      if (outputs.length === 0) outputs.push(await TableOutput.create(fs, spec.dir, await allocateFileNumber(), spec.tableOptions));
      const builder = outputs[0]!.builder;
      // Only this loop moves the merger: past the awaits above, `key` and the value bytes are still this entry's.
      if (written.type === type && written.value === undefined) builder.addEntry(key, keyLength, entry.blockData(), entry.valueStart, entry.valueLength);
      else rewrite.add(builder, key, keyLength, written);
      entriesWritten++;
      if (builder.flushAdvised) await builder.flush();
    }
    if (spec.yieldEveryEntries > 0 && entriesRead % spec.yieldEveryEntries === 0) await yieldToEventLoop();
  }
  // The last table keeps the tombstones left, up to the share's end; they make a table of their own if no entry needs one.
  const rangeDel = rangeDelBlockSpec(tombstones.takeUntil(end));
  if (outputs.length === 0 && rangeDel !== undefined) outputs.push(await TableOutput.create(fs, spec.dir, await allocateFileNumber(), spec.tableOptions));
  if (outputs.length > 0) finished.push(await outputs.shift()!.finish(spec.outputLevel, rangeDel === undefined ? {} : { rangeDelBlock: rangeDel }));
  return { entriesRead, entriesWritten };
}

/** What the merge writes for an entry it keeps: its own bytes, or a new type (DELETE) and value. */
interface WrittenEntry {
  type: EntryType;
  /** A replacement value (as stored: an expiring one with its expiry time); undefined keeps the entry's. */
  value: Buffer | undefined;
}

const EMPTY: Buffer = Buffer.alloc(0);
const KEEP_PUT: WrittenEntry = { type: EntryType.PUT, value: undefined };
const KEEP_DELETE: WrittenEntry = { type: EntryType.DELETE, value: undefined };
const KEEP_EXPIRING: WrittenEntry = { type: EntryType.PUT_EXPIRING, value: undefined };
const AS_DELETE: WrittenEntry = { type: EntryType.DELETE, value: EMPTY };

/** The entry the merge reads: its internal key is passed beside it. */
interface MergedEntry {
  blockData(): Uint8Array;
  readonly valueStart: number;
  readonly valueLength: number;
}

/** Decides what a visible entry becomes (expiry, then the compaction filter) and writes rewritten entries. */
class EntryRewriter {
  readonly #nowMs: number;
  readonly #level: number;
  readonly #filter: CompactionFilterFunction | undefined;
  /** A rewritten entry's internal key: the entry's, with its type byte changed. */
  #scratchKey = Buffer.allocUnsafe(64);

  constructor(spec: CompactionJobSpec, filter: CompactionFilterFunction | undefined) {
    this.#nowMs = spec.nowMs;
    this.#level = spec.outputLevel;
    this.#filter = filter;
  }

  /**
   * What to write for a visible entry of type `type`. `filterable`: it is the
   * newest version of its key in the compaction and no live snapshot can see it.
   */
  decide(entry: MergedEntry, key: Buffer, keyLength: number, type: number, filterable: boolean): WrittenEntry {
    if (type === EntryType.DELETE) return KEEP_DELETE;
    let expiresAtMs: number | undefined;
    if (type === EntryType.PUT_EXPIRING) {
      expiresAtMs = readExpiry(entry.blockData(), entry.valueStart, entry.valueLength);
      // Invariant: the table iterator checked the expiry time's length when it gave the type.
      if (expiresAtMs < 0) throw new Error('an expiring entry without a readable expiry time');
      if (isExpired(expiresAtMs, this.#nowMs)) return AS_DELETE;
    }
    const kept = type === EntryType.PUT ? KEEP_PUT : KEEP_EXPIRING;
    if (this.#filter === undefined || !filterable) return kept;
    const bytes = entry.blockData();
    const skip = expiresAtMs === undefined ? 0 : EXPIRY_BYTES;
    const userKey = Buffer.from(key.buffer, key.byteOffset, keyLength - INTERNAL_KEY_TRAILER_BYTES);
    const value = Buffer.from(bytes.buffer, bytes.byteOffset + entry.valueStart + skip, entry.valueLength - skip);
    const decision = checkDecision(this.#filter(userKey, value, { level: this.#level, expiresAtMs }));
    if (decision === 'keep') return kept;
    if (decision === 'remove') return AS_DELETE;
    return { type: kept.type, value: expiresAtMs === undefined ? decision : encodeExpiringValue(expiresAtMs, decision) };
  }

  /** Adds the entry at internal key `key[0, keyLength)` to `builder` as `written` says. */
  add(builder: { addEntry(key: Buffer, keyLength: number, value: Uint8Array, valueStart: number, valueLength: number): void }, key: Buffer, keyLength: number, written: WrittenEntry): void {
    if (keyLength > this.#scratchKey.length) this.#scratchKey = Buffer.allocUnsafe(Math.max(keyLength, 2 * this.#scratchKey.length));
    copyBytes(key, 0, keyLength, this.#scratchKey, 0);
    this.#scratchKey[keyLength - INTERNAL_KEY_TRAILER_BYTES] = written.type;
    const value = written.value ?? EMPTY;
    builder.addEntry(this.#scratchKey, keyLength, value, 0, value.length);
  }
}
