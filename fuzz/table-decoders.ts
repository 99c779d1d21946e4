/**
 * Fuzz target: every decoder of table bytes (docs/format.md, "SSTable"): the
 * table reader end to end, and on their own the block decoder and iterator, the
 * block trailer (checksum, snappy), the footer, the properties block, the block
 * handle and the bloom filter.
 *
 * Each iteration builds a small valid table with random builder options and a
 * known model of its entries, then damages it in one of two ways:
 *
 * - raw damage (bit flips, zeroed ranges, truncation, inserted garbage) with the
 *   checksums left as they are. The reader may throw only `CorruptionError`, and
 *   whatever it does return must be exactly what the model says: the right entry
 *   of a `get`, a prefix of the table for a forward scan, a suffix for a backward
 *   one, the right entry after a seek ("never wrong data"). Exact up to a
 *   CRC-32 collision: about one damaged block in four billion.
 * - forged damage: a block or the footer is changed in place and its checksum
 *   recomputed, so that the bytes reach the decoders behind the checksum. Here
 *   wrong data cannot be told from right, so the only rule is that nothing but
 *   `CorruptionError` is thrown and every walk ends.
 *
 * Then pieces of the table (and random bytes) go straight into each decoder, and
 * finally the undamaged table is opened again and must read back exactly: a
 * decoder that failed must leave nothing behind that spoils the next one.
 *
 * Building a table is asynchronous (`TableBuilder.finish()`), so unlike the log
 * target this one returns a promise. `runTableDecoderFuzz(seed, iterations)` is
 * called briefly from the tests and at length by `npm run fuzz`.
 */
import assert from 'node:assert/strict';
import CRC32 from 'crc-32';
import { EntryType, INTERNAL_KEY_TRAILER_BYTES, SEQUENCE_MAX, compareInternalKeys, encodeInternalKey } from '../src/keys.js';
import { BlockBuilder } from '../src/sstable/block-builder.js';
import { BlockCache } from '../src/sstable/block-cache.js';
import { decodeBlockHandle, encodeBlockHandle, type BlockHandle } from '../src/sstable/block-handle.js';
import { Block } from '../src/sstable/block-reader.js';
import { blockChecksum, openBlock, sealBlock, type OpenedBlock } from '../src/sstable/block-trailer.js';
import { BloomFilter } from '../src/sstable/bloom-filter.js';
import { bytewiseComparator, internalKeyComparator, type KeyComparator } from '../src/sstable/comparator.js';
import { decodeFooter, type Footer } from '../src/sstable/footer.js';
import { BLOCK_TRAILER_BYTES, FOOTER_BYTES, TABLE_FORMAT_VERSION } from '../src/sstable/format.js';
import { decodeProperties } from '../src/sstable/properties.js';
import { TableBuilder, type TableBuilderOptions } from '../src/sstable/table-builder.js';
import { seekTarget, type TableIterator } from '../src/sstable/table-iterator.js';
import { TableReader } from '../src/sstable/table-reader.js';
import { Rng } from '../src/testing/rng.js';
import { attempt, damageBytes, isAllowedDecodeError, type Attempt } from './damage.js';
import { MemoryRandomAccessFile, MemoryWritableFile } from '../test/sstable/memory-file.js';

const FILE_NAME = 'fuzz.sst';
/** Bytes of the footer covered by its checksum. */
const FOOTER_CHECKED_BYTES = 52;
/** A bound on the entries any walk over a damaged table may visit: reaching it means the walk does not end. */
const WALK_STEPS_MAX = 200_000;

/** One entry of the model: what the table was built from. */
export interface ModelEntry {
  readonly userKey: Buffer;
  readonly seq: number;
  readonly type: EntryType;
  readonly value: Buffer;
  /** The encoded internal key. */
  readonly key: Buffer;
}

/** A valid table, the entries it holds (in internal-key order) and where its blocks are. */
export interface ValidTable {
  readonly bytes: Buffer;
  readonly entries: readonly ModelEntry[];
  readonly options: TableBuilderOptions;
  readonly footer: Footer;
  readonly dataHandles: readonly BlockHandle[];
}

/** An entry a reader returned. */
interface ReadEntry {
  readonly key: Buffer;
  readonly type: EntryType;
  readonly seq: number;
  readonly value: Buffer;
}

// ---------------------------------------------------------------------------
// Building valid tables

function randomOptions(rng: Rng): TableBuilderOptions {
  // Small blocks more often than large ones, so that tables have many blocks.
  const blockSizeBytes = rng.bool(0.6) ? rng.range(64, 256) : rng.range(64, 4096);
  return {
    blockSizeBytes,
    restartInterval: rng.range(1, 16),
    bloomBitsPerKey: rng.bool() ? 0 : 10,
    compression: rng.bool() ? 'snappy' : 'none',
    // Format version 2 tables (a prefix filter) a third of the time.
    bloomPrefixBytes: rng.bool(0.33) ? rng.range(1, 6) : 0,
  };
}

function randomUserKeys(rng: Rng): Buffer[] {
  const count = rng.bool(0.1) ? rng.range(1, 300) : rng.range(1, 40);
  // Shared prefixes give the prefix compression something to do.
  const prefixes = Array.from({ length: rng.range(1, 4) }, () => rng.bytes(rng.range(0, 8)));
  const byHex = new Map<string, Buffer>();
  for (let attempt = 0; attempt < count * 4 && byHex.size < count; attempt++) {
    const key = Buffer.concat([rng.pick(prefixes), rng.bytes(rng.range(0, 12))]);
    byHex.set(key.toString('hex'), key);
  }
  return [...byHex.values()];
}

function randomValue(rng: Rng, compressible: boolean): Buffer {
  const length = rng.bool(0.05) ? rng.range(0, 6000) : rng.range(0, 80);
  if (!compressible) return rng.bytes(length);
  const word = rng.bytes(rng.range(1, 6));
  return Buffer.alloc(length, word);
}

/** Puts and deletes at random, distinct sequence numbers, 1 to 3 versions per user key. */
function randomEntries(rng: Rng): ModelEntry[] {
  const compressible = rng.bool();
  const seqLimit = rng.pick([1000, 2 ** 32, SEQUENCE_MAX]);
  const usedSeqs = new Set<number>();
  const entries: ModelEntry[] = [];
  for (const userKey of randomUserKeys(rng)) {
    for (let version = rng.range(1, 3); version > 0; version--) {
      let seq = rng.bool(0.02) ? SEQUENCE_MAX : rng.int(seqLimit);
      while (usedSeqs.has(seq)) seq = rng.int(seqLimit);
      usedSeqs.add(seq);
      const type = rng.bool(0.25) ? EntryType.DELETE : EntryType.PUT;
      const value = type === EntryType.PUT ? randomValue(rng, compressible) : Buffer.alloc(0);
      entries.push({ userKey, seq, type, value, key: encodeInternalKey(userKey, seq, type) });
    }
  }
  return entries.sort((a, b) => compareInternalKeys(a.key, b.key));
}

/** Builds a small valid table with random builder options and entries (puts and deletes at random sequence numbers). */
export async function buildValidTable(rng: Rng): Promise<ValidTable> {
  const options = randomOptions(rng);
  const entries = randomEntries(rng);
  const file = new MemoryWritableFile();
  const builder = new TableBuilder(file, options);
  for (const entry of entries) {
    builder.add(entry.key, entry.value);
    if (builder.flushAdvised) await builder.flush();
  }
  await builder.finish();
  const bytes = file.contents();
  const footer = decodeFooter(bytes.subarray(bytes.length - FOOTER_BYTES), bytes.length, FILE_NAME);
  const index = new Block(readStored(bytes, footer.indexHandle).contents, FILE_NAME, footer.indexHandle.offset);
  const dataHandles = blockValues(index).map((value) => decodeBlockHandle(value, 0, value.length, FILE_NAME, index.offset));
  return { bytes, entries, options, footer, dataHandles };
}

function readStored(bytes: Buffer, handle: BlockHandle): OpenedBlock {
  return openBlock(bytes.subarray(handle.offset, handle.offset + handle.size + BLOCK_TRAILER_BYTES), FILE_NAME, handle.offset, true);
}

function blockValues(block: Block): Buffer[] {
  const values: Buffer[] = [];
  const iterator = block.iterator(bytewiseComparator);
  for (iterator.seekToFirst(); iterator.valid(); iterator.next()) values.push(iterator.value());
  return values;
}

// ---------------------------------------------------------------------------
// Damage

/** Numbers that sit on the edges of length and count checks. */
const INTERESTING_U32 = [0, 1, 2, 3, 4, 5, 7, 8, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0xffff, 0x7fff_ffff, 0x8000_0000, 0xffff_fffe, 0xffff_ffff];

/** Damages `bytes[start, end)` in place, without changing the length. */
function damageInPlace(bytes: Buffer, rng: Rng, start: number, end: number): void {
  if (end <= start) return;
  const edits = rng.range(1, 3);
  for (let i = 0; i < edits; i++) {
    const at = rng.range(start, end - 1);
    switch (rng.int(5)) {
      case 0:
        bytes[at]! ^= 1 << rng.int(8);
        break;
      case 1:
        bytes.fill(0, at, Math.min(end, at + rng.range(1, 64)));
        break;
      case 2:
        rng.bytes(Math.min(end - at, rng.range(1, 16))).copy(bytes, at);
        break;
      case 3:
        bytes[at] = rng.pick([0, 1, 0x7f, 0x80, 0xff]);
        break;
      default: {
        const word = Buffer.alloc(4);
        word.writeUInt32LE(rng.pick(INTERESTING_U32));
        word.copy(bytes, at, 0, Math.min(4, end - at));
      }
    }
  }
}

/**
 * Forged damage: one block (contents and maybe its compression type) or the
 * footer is changed in place and its checksum recomputed, so that the damage gets
 * past the checksum to the decoder behind it.
 */
function damageForged(table: ValidTable, rng: Rng): Buffer {
  const out = Buffer.from(table.bytes);
  const { footer } = table;
  const targets: BlockHandle[] = [...table.dataHandles, footer.indexHandle, footer.propertiesHandle];
  if (footer.filterHandle !== undefined) targets.push(footer.filterHandle);
  const forgeCount = rng.range(1, 2);
  for (let i = 0; i < forgeCount; i++) {
    if (rng.bool(0.15)) {
      const footerOffset = out.length - FOOTER_BYTES;
      damageInPlace(out, rng, footerOffset, footerOffset + FOOTER_CHECKED_BYTES);
      out.writeUInt32LE(CRC32.buf(out.subarray(footerOffset, footerOffset + FOOTER_CHECKED_BYTES)) >>> 0, footerOffset + FOOTER_CHECKED_BYTES);
      continue;
    }
    // Half the time the index block, whose handles every read trusts.
    const handle = rng.bool() ? footer.indexHandle : rng.pick(targets);
    const contentsEnd = handle.offset + handle.size;
    if (handle === footer.propertiesHandle && rng.bool()) {
      // One fixed field (a u64 count or seq, or a u32 builder option), set to an edge value.
      const at = handle.offset + rng.pick([0, 8, 16, 24, 32, 40, 48, 52, 56, 60, 64, 68]);
      out.writeUInt32LE(rng.pick(INTERESTING_U32), Math.min(at, contentsEnd - 4));
    } else {
      damageInPlace(out, rng, handle.offset, rng.bool(0.1) ? contentsEnd + 1 : contentsEnd);
    }
    const stored = out.subarray(handle.offset, contentsEnd + BLOCK_TRAILER_BYTES);
    stored.writeUInt32LE(blockChecksum(stored, handle.size), handle.size + 1);
  }
  return out;
}

// ---------------------------------------------------------------------------
// Calling decoders


function readEntry(iterator: TableIterator): ReadEntry {
  const key = iterator.key();
  const userKey = iterator.userKey();
  assert.ok(userKey.equals(key.subarray(0, key.length - INTERNAL_KEY_TRAILER_BYTES)), 'userKey() is not the front of key()');
  return { key, type: iterator.type(), seq: iterator.seq(), value: Buffer.from(iterator.value()) };
}

function describeEntry(entry: ReadEntry | undefined): string {
  if (entry === undefined) return 'nothing';
  const userKey = entry.key.subarray(0, entry.key.length - INTERNAL_KEY_TRAILER_BYTES);
  return `${userKey.toString('hex')}#${entry.seq},${entry.type} (${entry.value.length}-byte value)`;
}

/** The model entries in internal-key order, and by internal key for "was this ever written?". */
class Model {
  readonly #valueByKey = new Map<string, Buffer>();

  constructor(readonly entries: readonly ModelEntry[]) {
    for (const entry of entries) this.#valueByKey.set(entry.key.toString('latin1'), entry.value);
  }

  /** Whether `entry` (its key, seq, type and value) is one the table was built from. */
  holds(entry: ReadEntry): boolean {
    const value = this.#valueByKey.get(entry.key.toString('latin1'));
    const userKey = entry.key.subarray(0, entry.key.length - INTERNAL_KEY_TRAILER_BYTES);
    return value !== undefined && encodeInternalKey(userKey, entry.seq, entry.type).equals(entry.key) && value.equals(entry.value);
  }

  /** The newest entry of `userKey` with seq ≤ `snapshotSeq`. */
  get(userKey: Buffer, snapshotSeq: number): ModelEntry | undefined {
    return this.entries.find((entry) => entry.userKey.equals(userKey) && entry.seq <= snapshotSeq);
  }

  /** The index of the first entry at or after `target` (an internal key). */
  lowerBound(target: Buffer): number {
    let low = 0;
    let high = this.entries.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (compareInternalKeys(this.entries[mid]!.key, target) < 0) low = mid + 1;
      else high = mid;
    }
    return low;
  }

  /** A user key and snapshot to look up: mostly keys of the model, at and next to their sequence numbers. */
  randomLookup(rng: Rng): { userKey: Buffer; seq: number } {
    if (this.entries.length === 0 || rng.bool(0.1)) return { userKey: rng.bytes(rng.range(0, 12)), seq: rng.int(SEQUENCE_MAX) };
    const entry = rng.pick(this.entries);
    const seq = rng.pick([entry.seq, Math.max(0, entry.seq - 1), Math.min(SEQUENCE_MAX, entry.seq + 1), SEQUENCE_MAX, 0, rng.int(SEQUENCE_MAX)]);
    return { userKey: entry.userKey, seq };
  }
}

// ---------------------------------------------------------------------------
// The table reader, end to end

/**
 * How strictly a read is judged. `valid`: an undamaged table, no error at all and
 * every result exact. `exact`: damage behind intact checksums, `CorruptionError`
 * allowed but every result returned exact. `typesOnly`: damage the checksums
 * cannot see, only the kind of error is checked.
 */
type ReadMode = 'valid' | 'exact' | 'typesOnly';

/** Reads an open table every way and judges what comes back by `mode`. */
class ReadCheck {
  constructor(
    readonly reader: TableReader,
    readonly model: Model,
    readonly rng: Rng,
    readonly mode: ReadMode,
  ) {}

  /** Runs `read`: in `valid` mode it must not throw; otherwise it may throw only `CorruptionError`. */
  attempt<T>(read: () => T): Attempt<T> {
    return this.mode === 'valid' ? { ok: true, value: read() } : attempt(read);
  }

  /** Outside `typesOnly` mode, `got` must be `want`; an entry never written is reported as such. */
  expect(got: ReadEntry | undefined, want: ModelEntry | undefined, what: string): void {
    if (this.mode === 'typesOnly') return;
    if (got !== undefined && !this.model.holds(got)) assert.fail(`${what}: returned ${describeEntry(got)}, an entry that was never written`);
    const same = got === undefined ? want === undefined : want !== undefined && got.key.equals(want.key) && got.value.equals(want.value);
    if (!same) assert.fail(`${what}: returned ${describeEntry(got)}, expected ${describeEntry(want)}`);
  }

  /** A moving call of `iterator`; after a `CorruptionError` the iterator must be invalid. */
  move(iterator: TableIterator, call: () => void, what: string): boolean {
    const moved = this.attempt(call);
    if (!moved.ok) assert.equal(iterator.valid(), false, `${what}: the iterator stays valid after a CorruptionError`);
    return moved.ok;
  }

  /** `get` of every user key of the model at a few snapshots, and of a random key. */
  gets(): void {
    const { reader, model, rng } = this;
    const userKeys = [...new Set(model.entries.map((entry) => entry.userKey)), rng.bytes(rng.range(0, 20))];
    for (const userKey of userKeys) {
      if (this.mode !== 'typesOnly' && model.get(userKey, SEQUENCE_MAX) !== undefined) {
        assert.ok(reader.mayContain(userKey), `the bloom filter says ${userKey.toString('hex')}, which was written, is absent`);
        const prefix = userKey.subarray(0, reader.bloomPrefixBytes);
        if (reader.bloomPrefixBytes > 0 && prefix.length === reader.bloomPrefixBytes) {
          assert.ok(reader.mayContainPrefix(prefix), `the prefix filter says ${prefix.toString('hex')}, a prefix of a written key, is absent`);
        }
      }
      for (const seq of [SEQUENCE_MAX, rng.int(SEQUENCE_MAX), model.randomLookup(rng).seq]) {
        const result = this.attempt(() => reader.get(userKey, seq));
        if (!result.ok) continue;
        const found = result.value;
        const got = found === undefined ? undefined : { key: encodeInternalKey(userKey, found.seq, found.type), ...found };
        this.expect(got, model.get(userKey, seq), `get(${userKey.toString('hex')}, ${seq})`);
      }
    }
  }

  /** A walk over the whole table; what it reads must be a prefix (forward) or suffix (backward) of the model. */
  scan(direction: 'forward' | 'backward'): void {
    const iterator = this.reader.iterator();
    const count = this.model.entries.length;
    const forward = direction === 'forward';
    if (!this.move(iterator, () => (forward ? iterator.seekToFirst() : iterator.seekToLast()), `${direction} scan`)) return;
    let steps = 0;
    for (; iterator.valid(); steps++) {
      assert.ok(steps < WALK_STEPS_MAX, `${direction} scan does not end`);
      const got = this.attempt(() => readEntry(iterator));
      if (!got.ok && this.mode !== 'typesOnly') return;
      if (got.ok) this.expect(got.value, this.model.entries[forward ? steps : count - 1 - steps], `${direction} scan entry ${steps}`);
      if (!this.move(iterator, () => (forward ? iterator.next() : iterator.prev()), `${direction} scan`)) return;
    }
    if (this.mode !== 'typesOnly') assert.equal(steps, count, `${direction} scan ended after ${steps} of ${count} entries`);
  }

  /** Random seeks (`seek` and `seekForPrev`), each followed by a few steps either way. */
  seeks(): void {
    const { model, rng } = this;
    const iterator = this.reader.iterator();
    for (let round = rng.range(1, 8); round > 0; round--) {
      const { userKey, seq } = model.randomLookup(rng);
      const backward = rng.bool(0.3);
      const what = `seek${backward ? 'ForPrev' : ''}(${userKey.toString('hex')}, ${seq})`;
      if (!this.move(iterator, () => (backward ? iterator.seekForPrev(userKey, seq) : iterator.seek(userKey, seq)), what)) continue;
      const lower = model.lowerBound(seekTarget(userKey, seq));
      const atLower = model.entries[lower];
      const exactHit = atLower !== undefined && atLower.userKey.equals(userKey) && atLower.seq === seq;
      let position = backward && !exactHit ? lower - 1 : lower;
      const forward = rng.bool();
      for (let step = rng.range(0, 4); ; step--) {
        const got = iterator.valid() ? this.attempt(() => readEntry(iterator)) : { ok: true as const, value: undefined };
        if (got.ok) this.expect(got.value, model.entries[position], `${what} then ${Math.abs(position - lower)} steps`);
        if (step === 0 || !iterator.valid() || !got.ok) break;
        if (!this.move(iterator, () => (forward ? iterator.next() : iterator.prev()), what)) break;
        position += forward ? 1 : -1;
      }
    }
  }

  all(): void {
    this.gets();
    this.scan('forward');
    this.scan('backward');
    this.seeks();
    if (this.mode === 'valid' || this.rng.bool(0.2)) this.attempt(() => this.reader.layout());
  }
}

/** Opens `bytes` and reads everything every way, judged by `mode`. Returns whether it opened. */
function openAndRead(bytes: Buffer, model: Model, rng: Rng, mode: ReadMode, verifyChecksums: boolean): boolean {
  const blockCache = rng.bool(0.3) ? new BlockCache(rng.range(0, 64 * 1024)) : undefined;
  const file = new MemoryRandomAccessFile(bytes);
  const options = blockCache === undefined ? { verifyChecksums } : { verifyChecksums, blockCache };
  const open = (): TableReader => TableReader.open(file, FILE_NAME, rng.range(1, 1000), options);
  const opened: Attempt<TableReader> = mode === 'valid' ? { ok: true, value: open() } : attempt(open);
  if (!opened.ok) return false;
  new ReadCheck(opened.value, model, rng, mode).all();
  return true;
}

// ---------------------------------------------------------------------------
// Each decoder on its own

/** Damage that may change the length: the raw kind, anywhere in the piece. */
function damagePiece(piece: Buffer, rng: Rng): Buffer {
  if (piece.length === 0 || rng.bool(0.1)) return rng.bytes(rng.range(0, 64));
  if (rng.bool(0.6)) {
    const out = Buffer.from(piece);
    damageInPlace(out, rng, 0, out.length);
    return out;
  }
  return damageBytes(piece, rng, 0);
}

/**
 * Decodes `contents` as a block and walks it every way (forward, backward, seeks
 * with a few steps), with an ordering that may or may not be the one it was built
 * with; index-block values are decoded as handles too. Only `CorruptionError` may
 * come out, and every walk must end.
 */
export function walkBlock(contents: Buffer, comparator: KeyComparator, rng: Rng): void {
  const decoded = attempt(() => new Block(contents, FILE_NAME, 0));
  if (!decoded.ok) return;
  const block = decoded.value;
  const iterator = block.iterator(comparator);
  const stepsMax = contents.length + 1;
  attempt(() => {
    let steps = 0;
    for (iterator.seekToFirst(); iterator.valid(); iterator.next()) {
      assert.ok(++steps <= stepsMax, 'block forward walk does not end');
      iterator.key();
      iterator.value();
      if (comparator === internalKeyComparator) attempt(() => decodeBlockHandle(block.data, iterator.valueStart, iterator.valueStart + iterator.valueLength, FILE_NAME, 0));
    }
  });
  attempt(() => {
    let steps = 0;
    for (iterator.seekToLast(); iterator.valid(); iterator.prev()) assert.ok(++steps <= stepsMax, 'block backward walk does not end');
  });
  for (let i = 0; i < 4; i++) {
    const target = comparator === internalKeyComparator ? seekTarget(rng.bytes(rng.range(0, 10)), rng.int(SEQUENCE_MAX)) : rng.bytes(rng.range(0, 20));
    attempt(() => {
      iterator.seek(target);
      for (let step = rng.range(0, 3); step > 0 && iterator.valid(); step--) {
        if (rng.bool()) iterator.next();
        else iterator.prev();
      }
    });
  }
}

/** A block of 0 to 3 entries straight from a `BlockBuilder`: the empty and one-restart edge cases. */
function tinyBlock(rng: Rng): Buffer {
  const builder = new BlockBuilder(rng.range(1, 3));
  const userKeys = Array.from({ length: rng.range(0, 3) }, () => rng.bytes(rng.range(0, 4))).sort(Buffer.compare);
  userKeys.forEach((userKey, i) => builder.add(encodeInternalKey(Buffer.concat([userKey, Buffer.from([i])]), i, EntryType.PUT), rng.bytes(rng.range(0, 3))));
  return Buffer.from(builder.finish());
}

function fuzzBlocks(table: ValidTable, rng: Rng): void {
  const handle = rng.bool(0.3) ? table.footer.indexHandle : rng.pick(table.dataHandles);
  const contents = rng.bool(0.15) ? tinyBlock(rng) : readStored(table.bytes, handle).contents;
  const damaged = rng.bool(0.2) ? Buffer.from(contents) : damagePiece(contents, rng);
  // Aim at the restart array, too: its count and slots sit in the last bytes.
  if (damaged.length >= 8 && rng.bool(0.3)) damaged.writeUInt32LE(rng.pick(INTERESTING_U32), damaged.length - 4 * rng.range(1, Math.min(4, damaged.length >> 2)));
  walkBlock(damaged, rng.bool(0.8) ? internalKeyComparator : bytewiseComparator, rng);
}

function fuzzTrailer(table: ValidTable, rng: Rng): void {
  const handle = rng.pick([...table.dataHandles, table.footer.indexHandle, table.footer.propertiesHandle]);
  const stored = Buffer.from(table.bytes.subarray(handle.offset, handle.offset + handle.size + BLOCK_TRAILER_BYTES));
  let damaged = damagePiece(stored, rng);
  if (rng.bool(0.3)) {
    // Behind a good checksum: snappy and the block decoder see the damage.
    damaged = damaged.length > BLOCK_TRAILER_BYTES ? damaged : sealBlock(damaged, 'none');
    damaged[damaged.length - BLOCK_TRAILER_BYTES] = rng.bool(0.8) ? 1 : damaged[damaged.length - BLOCK_TRAILER_BYTES]!;
    damaged.writeUInt32LE(blockChecksum(damaged, damaged.length - BLOCK_TRAILER_BYTES), damaged.length - 4);
  }
  const opened = attempt(() => openBlock(damaged, FILE_NAME, handle.offset, rng.bool()));
  if (opened.ok) walkBlock(opened.value.contents, internalKeyComparator, rng);
}

function fuzzFooter(table: ValidTable, rng: Rng): void {
  const damaged = damagePiece(table.bytes.subarray(table.bytes.length - FOOTER_BYTES), rng);
  if (damaged.length === FOOTER_BYTES && rng.bool(0.7)) {
    // Recompute the checksum so that the handle and version checks are reached.
    damaged.writeUInt32LE(CRC32.buf(damaged.subarray(0, FOOTER_CHECKED_BYTES)) >>> 0, FOOTER_CHECKED_BYTES);
  }
  const fileSize = rng.pick([table.bytes.length, damaged.length, rng.int(2 * table.bytes.length + 1), rng.int(SEQUENCE_MAX)]);
  attempt(() => decodeFooter(damaged, fileSize, FILE_NAME));
}

function fuzzProperties(table: ValidTable, rng: Rng): void {
  const contents = readStored(table.bytes, table.footer.propertiesHandle).contents;
  const version = rng.bool(0.9) ? TABLE_FORMAT_VERSION : rng.next();
  attempt(() => decodeProperties(damagePiece(contents, rng), version, FILE_NAME, table.footer.propertiesHandle.offset));
}

function fuzzHandle(table: ValidTable, rng: Rng): void {
  const encoded = encodeBlockHandle(rng.bool(0.7) ? rng.pick(table.dataHandles) : { offset: rng.int(SEQUENCE_MAX), size: rng.int(SEQUENCE_MAX) });
  const damaged = damagePiece(encoded, rng);
  const start = rng.int(damaged.length + 1);
  const end = rng.range(start, damaged.length);
  attempt(() => decodeBlockHandle(damaged, start, end, FILE_NAME, 0));
}

function fuzzBloomFilter(table: ValidTable, rng: Rng): void {
  const handle = table.footer.filterHandle;
  const contents = handle === undefined ? rng.bytes(rng.range(0, 80)) : readStored(table.bytes, handle).contents;
  const built = attempt(() => new BloomFilter(damagePiece(contents, rng), FILE_NAME, handle?.offset ?? 0));
  if (!built.ok) return;
  for (let i = 0; i < 8; i++) {
    const key = table.entries.length > 0 && rng.bool() ? rng.pick(table.entries).userKey : rng.bytes(rng.range(0, 16));
    built.value.mayContain(key);
  }
}

// ---------------------------------------------------------------------------
// The target

/** What one iteration did, for the failure message. */
function describeIteration(table: ValidTable, kind: string): string {
  const { blockSizeBytes, restartInterval, bloomBitsPerKey, compression } = table.options;
  return (
    `${kind} damage of a ${table.bytes.length}-byte table of ${table.entries.length} entries in ${table.dataHandles.length} data blocks ` +
    `(block ${blockSizeBytes}, restart ${restartInterval}, bloom ${bloomBitsPerKey}, ${compression})`
  );
}

async function runIteration(rng: Rng): Promise<void> {
  const table = await buildValidTable(rng);
  const model = new Model(table.entries);
  const forged = rng.bool(0.35);
  try {
    if (forged) {
      openAndRead(damageForged(table, rng), model, rng, 'typesOnly', rng.bool(0.8));
    } else {
      // With checksums off, damaged data blocks reach the block decoder: only the error type is checked then.
      const verifyChecksums = rng.bool(0.85);
      const { footer } = table;
      const metaStart = Math.min(footer.indexHandle.offset, footer.propertiesHandle.offset, footer.filterHandle?.offset ?? Infinity);
      openAndRead(damageBytes(table.bytes, rng, metaStart), model, rng, verifyChecksums ? 'exact' : 'typesOnly', verifyChecksums);
    }
    fuzzBlocks(table, rng);
    fuzzTrailer(table, rng);
    fuzzFooter(table, rng);
    fuzzProperties(table, rng);
    fuzzHandle(table, rng);
    fuzzBloomFilter(table, rng);
    // The undamaged table still reads back exactly, through a fresh reader: nothing a failed decode did lingers.
    assert.ok(openAndRead(table.bytes, model, rng, 'valid', true));
  } catch (err) {
    throw Object.assign(err instanceof Error ? err : new Error(String(err)), { fuzzIteration: describeIteration(table, forged ? 'forged' : 'raw') });
  }
}

/**
 * Runs `iterations` damaged tables from `seed`. Rejects on the first violation
 * (an error other than `CorruptionError`, wrong data, a walk that never ends),
 * naming the seed and the iteration.
 */
export async function runTableDecoderFuzz(seed: number, iterations: number): Promise<void> {
  const rng = new Rng(seed);
  for (let iteration = 0; iteration < iterations; iteration++) {
    try {
      await runIteration(rng);
    } catch (err) {
      const detail = (err as { fuzzIteration?: string }).fuzzIteration ?? '';
      throw new Error(`table decoder fuzz failed at seed ${seed} iteration ${iteration} (${detail}): ${String(err)}`, { cause: err });
    }
  }
}
