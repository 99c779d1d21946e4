/**
 * Coverage-guided harness for the table decoders (docs/format.md, "SSTable"), for
 * Jazzer.js (libFuzzer for Node): `fuzz(data)` takes the fuzzer's bytes and feeds
 * them to one decoder, picked by the first byte. Only `CorruptionError` (or
 * NOT_SUPPORTED) may come out; anything else is a finding.
 *
 * Checksums would stop a blind mutator at the first CRC, so two of the modes
 * recompute them first (the footer's, the metadata blocks', the data blocks' the
 * index names) and let the mutations through to the decoders behind them. No
 * model exists here, so wrong data cannot be told from right: that property is
 * the seeded target's (fuzz/table-decoders.ts).
 *
 *     node dist/fuzz/jazzer-seed-corpus.js fuzz-corpus/table
 *     npx jazzer dist/fuzz/jazzer-table.js fuzz-corpus/table --sync -i dist/src/ -- -max_total_time=60
 *
 * (`-i dist/src/` instruments shale's code only; libFuzzer grows the corpus
 * directory and writes any crashing input to `crash-<sha1>` to replay.)
 *
 * The harness has no dependency on Jazzer.js itself, so it compiles, and its
 * smoke test (test/fuzz.test.ts) runs, without it.
 */
import CRC32 from 'crc-32';
import { SEQUENCE_MAX } from '../src/keys.js';
import { decodeBlockHandle, encodeBlockHandle, type BlockHandle } from '../src/sstable/block-handle.js';
import { Block } from '../src/sstable/block-reader.js';
import { blockChecksum, openBlock } from '../src/sstable/block-trailer.js';
import { BloomFilter } from '../src/sstable/bloom-filter.js';
import { bytewiseComparator, internalKeyComparator } from '../src/sstable/comparator.js';
import { decodeFooter } from '../src/sstable/footer.js';
import { BLOCK_TRAILER_BYTES, FOOTER_BYTES, TABLE_FORMAT_VERSION } from '../src/sstable/format.js';
import { decodeProperties } from '../src/sstable/properties.js';
import type { TableIterator } from '../src/sstable/table-iterator.js';
import { TableReader } from '../src/sstable/table-reader.js';
import { Rng } from '../src/testing/rng.js';
import { MemoryRandomAccessFile } from '../test/sstable/memory-file.js';
import { attempt } from './damage.js';
import { buildValidTable, walkBlock, type ValidTable } from './table-decoders.js';

const FILE_NAME = 'jazzer.sst';
const FOOTER_CHECKED_BYTES = 52;
/** Bounds on the work one input may cause, so that a slow input is a finding only when it is really slow. */
const WALK_STEPS_MAX = 100_000;
const KEYS_LOOKED_UP_MAX = 32;
const HANDLES_FIXED_MAX = 256;

/**
 * The decoder each first byte (mod the count) selects. Reordering changes what a
 * saved corpus means, so append new modes at the end.
 */
const MODES = ['table', 'tableFixed', 'blockInternal', 'blockBytewise', 'trailerFixed', 'footerFixed', 'properties', 'handle', 'bloom'] as const;
type HarnessMode = (typeof MODES)[number];

/** A larger table makes a slow input; the mutator grows what it needs. */
const SEED_TABLE_BYTES_MAX = 16 * 1024;

/**
 * Seed inputs for every mode: `tableCount` valid tables from `rng` (those under
 * 16 KiB) and the pieces of them each mode decodes, each behind its mode byte.
 */
export async function tableSeedInputs(rng: Rng, tableCount: number): Promise<{ name: string; input: Buffer }[]> {
  const inputs: { name: string; input: Buffer }[] = [];
  for (let i = 0; i < tableCount; i++) {
    const table = await buildValidTable(rng);
    if (table.bytes.length > SEED_TABLE_BYTES_MAX) continue;
    for (const [j, [mode, sample]] of seedSamples(table, rng).entries()) {
      inputs.push({ name: `${mode}-${i}-${j}`, input: Buffer.concat([Buffer.from([MODES.indexOf(mode)]), sample]) });
    }
  }
  return inputs;
}

function seedSamples(table: ValidTable, rng: Rng): [HarnessMode, Buffer][] {
  const { bytes, footer } = table;
  const contents = (handle: BlockHandle): Buffer => openBlock(storedBlock(bytes, handle), FILE_NAME, handle.offset, true).contents;
  const dataHandle = rng.pick(table.dataHandles);
  const fileSize = Buffer.alloc(4);
  fileSize.writeUInt32LE(bytes.length);
  const samples: [HarnessMode, Buffer][] = [
    ['table', bytes],
    ['tableFixed', bytes],
    ['blockInternal', contents(dataHandle)],
    ['blockInternal', contents(footer.indexHandle)],
    ['blockBytewise', contents(dataHandle)],
    ['trailerFixed', storedBlock(bytes, dataHandle)],
    ['footerFixed', Buffer.concat([bytes.subarray(bytes.length - FOOTER_BYTES), fileSize])],
    ['properties', contents(footer.propertiesHandle)],
    ['handle', encodeBlockHandle(dataHandle)],
  ];
  if (footer.filterHandle !== undefined) samples.push(['bloom', contents(footer.filterHandle)]);
  return samples;
}

/** The Jazzer.js entry point. Throws on a finding. */
export function fuzz(data: Buffer): void {
  if (data.length === 0) return;
  const mode = MODES[data[0]! % MODES.length]!;
  const body = Buffer.from(data.subarray(1));
  // Lookups and seek targets are drawn from the input itself, so that an input replays exactly.
  const rng = new Rng(CRC32.buf(body) >>> 0);
  switch (mode) {
    case 'table':
      readTable(body, rng, true);
      break;
    case 'tableFixed':
      fixTableChecksums(body);
      readTable(body, rng, rng.bool());
      break;
    case 'blockInternal':
      walkBlock(body, internalKeyComparator, rng);
      break;
    case 'blockBytewise':
      walkBlock(body, bytewiseComparator, rng);
      break;
    case 'trailerFixed':
      decodeTrailer(body, rng);
      break;
    case 'footerFixed':
      decodeFooterOf(body);
      break;
    case 'properties':
      attempt(() => decodeProperties(body, TABLE_FORMAT_VERSION, FILE_NAME, 0));
      break;
    case 'handle':
      attempt(() => decodeBlockHandle(body, 0, body.length, FILE_NAME, 0));
      break;
    case 'bloom':
      decodeBloom(body, rng);
      break;
  }
}

function readTable(bytes: Buffer, rng: Rng, verifyChecksums: boolean): void {
  const opened = attempt(() => TableReader.open(new MemoryRandomAccessFile(bytes), FILE_NAME, 1, { verifyChecksums }));
  if (!opened.ok) return;
  const reader = opened.value;
  const keys = scan(reader.iterator(), 'forward');
  scan(reader.iterator(), 'backward');
  const iterator = reader.iterator();
  for (const key of keys) {
    const userKey = key.subarray(0, key.length - 8);
    const seq = rng.pick([0, SEQUENCE_MAX, rng.int(SEQUENCE_MAX)]);
    attempt(() => reader.get(userKey, seq));
    attempt(() => {
      if (rng.bool()) iterator.seek(userKey, seq);
      else iterator.seekForPrev(userKey, seq);
      for (let step = 0; step < 3 && iterator.valid(); step++) {
        readEntry(iterator);
        if (rng.bool()) iterator.next();
        else iterator.prev();
      }
    });
  }
  attempt(() => reader.layout());
}

/** Walks the whole table one way, reading every entry; returns up to `KEYS_LOOKED_UP_MAX` of the keys seen. */
function scan(iterator: TableIterator, direction: 'forward' | 'backward'): Buffer[] {
  const keys: Buffer[] = [];
  attempt(() => {
    let steps = 0;
    for (direction === 'forward' ? iterator.seekToFirst() : iterator.seekToLast(); iterator.valid(); steps++) {
      if (steps >= WALK_STEPS_MAX) throw new Error(`${direction} scan does not end`);
      const read = attempt(() => readEntry(iterator));
      if (read.ok && keys.length < KEYS_LOOKED_UP_MAX) keys.push(read.value);
      if (direction === 'forward') iterator.next();
      else iterator.prev();
    }
  });
  return keys;
}

function readEntry(iterator: TableIterator): Buffer {
  iterator.userKey();
  iterator.seq();
  iterator.type();
  iterator.value();
  return iterator.key();
}

/** Recomputes, in place, the footer checksum and the checksums of every block the footer and index name. */
function fixTableChecksums(bytes: Buffer): void {
  if (bytes.length < FOOTER_BYTES) return;
  const footerOffset = bytes.length - FOOTER_BYTES;
  bytes.writeUInt32LE(CRC32.buf(bytes.subarray(footerOffset, footerOffset + FOOTER_CHECKED_BYTES)) >>> 0, footerOffset + FOOTER_CHECKED_BYTES);
  const footer = attempt(() => decodeFooter(bytes.subarray(footerOffset), bytes.length, FILE_NAME));
  if (!footer.ok) return;
  const { indexHandle, filterHandle, propertiesHandle } = footer.value;
  for (const handle of [indexHandle, filterHandle, propertiesHandle]) if (handle !== undefined) fixBlockChecksum(bytes, handle);
  const index = attempt(() => new Block(openBlock(storedBlock(bytes, indexHandle), FILE_NAME, indexHandle.offset, true).contents, FILE_NAME, indexHandle.offset));
  if (!index.ok) return;
  const iterator = index.value.iterator(bytewiseComparator);
  attempt(() => {
    let fixed = 0;
    for (iterator.seekToFirst(); iterator.valid() && fixed < HANDLES_FIXED_MAX; iterator.next(), fixed++) {
      const value = iterator.value();
      const handle = attempt(() => decodeBlockHandle(value, 0, value.length, FILE_NAME, indexHandle.offset));
      if (handle.ok) fixBlockChecksum(bytes, handle.value);
    }
  });
}

function storedBlock(bytes: Buffer, handle: BlockHandle): Buffer {
  return bytes.subarray(handle.offset, handle.offset + handle.size + BLOCK_TRAILER_BYTES);
}

function fixBlockChecksum(bytes: Buffer, handle: BlockHandle): void {
  if (handle.offset + handle.size + BLOCK_TRAILER_BYTES > bytes.length) return;
  const stored = storedBlock(bytes, handle);
  stored.writeUInt32LE(blockChecksum(stored, handle.size), handle.size + 1);
}

/** A stored block (contents, type, CRC) with its CRC recomputed, opened, and walked if it opens. */
function decodeTrailer(stored: Buffer, rng: Rng): void {
  if (stored.length >= BLOCK_TRAILER_BYTES) {
    const contentsEnd = stored.length - BLOCK_TRAILER_BYTES;
    stored.writeUInt32LE(blockChecksum(stored, contentsEnd), contentsEnd + 1);
  }
  const opened = attempt(() => openBlock(stored, FILE_NAME, 0, true));
  if (opened.ok) walkBlock(opened.value.contents, internalKeyComparator, rng);
}

/** A footer with its CRC recomputed, decoded for a file of the size its first bytes say (or its own). */
function decodeFooterOf(bytes: Buffer): void {
  if (bytes.length >= FOOTER_BYTES) {
    bytes.writeUInt32LE(CRC32.buf(bytes.subarray(0, FOOTER_CHECKED_BYTES)) >>> 0, FOOTER_CHECKED_BYTES);
  }
  const footer = bytes.subarray(0, FOOTER_BYTES);
  const fileSize = bytes.length >= FOOTER_BYTES + 4 ? bytes.readUInt32LE(FOOTER_BYTES) : bytes.length;
  attempt(() => decodeFooter(footer, fileSize, FILE_NAME));
}

function decodeBloom(contents: Buffer, rng: Rng): void {
  const filter = attempt(() => new BloomFilter(contents, FILE_NAME, 0));
  if (!filter.ok) return;
  for (let i = 0; i < 8; i++) filter.value.mayContain(rng.bytes(rng.range(0, 16)));
}
