/**
 * Fuzz target: the range-del block decoder (docs/format.md, "SSTable: range-del
 * block"), alone and inside a table.
 *
 * Each iteration fragments random tombstones, encodes the block and checks that
 * it decodes to exactly those fragments. Then:
 *
 * - the block's contents are damaged raw and decoded directly: only
 *   `CorruptionError` may come out, and whatever decodes must still be a valid
 *   fragment list (in key order, not overlapping, non-empty pieces, sequences
 *   strictly descending): no lookup may then misbehave;
 * - a table holding the block is damaged inside the block, checksums left as they
 *   are: opening it must fail with `CorruptionError` (the block is read, with its
 *   checksum, when the table opens), or, if the damage missed, read back the same
 *   tombstones; never different ones;
 * - random bytes go into the decoder.
 */
import assert from 'node:assert/strict';
import { EntryType, encodeInternalKey } from '../src/keys.js';
import { fragmentTombstones, type Fragment, type RangeTombstone } from '../src/rangedel/fragments.js';
import { rangeDelBlockSpec } from '../src/rangedel/table-tombstones.js';
import { decodeRangeDelBlock, encodeRangeDelBlock } from '../src/sstable/range-del-block.js';
import { TableBuilder } from '../src/sstable/table-builder.js';
import { TableReader } from '../src/sstable/table-reader.js';
import { Rng } from '../src/testing/rng.js';
import { attempt, damageBytes } from './damage.js';
import { MemoryRandomAccessFile, MemoryWritableFile } from '../test/sstable/memory-file.js';

const FILE_NAME = 'fuzz-range-del.sst';

function randomKey(rng: Rng): Buffer {
  return Buffer.from(Array.from({ length: rng.range(0, 4) }, () => rng.pick([0x00, 0x61, 0x62, 0x63, 0xff])));
}

function randomTombstones(rng: Rng): RangeTombstone[] {
  return Array.from({ length: rng.range(1, 12) }, () => {
    const a = randomKey(rng);
    const b = randomKey(rng);
    return a.compare(b) <= 0 ? { start: a, end: b, seq: rng.range(1, 1000) } : { start: b, end: a, seq: rng.range(1, 1000) };
  });
}

/** The checks any decoded fragment list must pass, damaged input or not. */
function checkWellFormed(fragments: readonly Fragment[]): void {
  for (let i = 0; i < fragments.length; i++) {
    const fragment = fragments[i]!;
    assert(fragment.start.compare(fragment.end) < 0, 'a decoded fragment is empty');
    assert(fragment.seqs.length > 0, 'a decoded fragment has no sequence');
    for (let j = 1; j < fragment.seqs.length; j++) assert(fragment.seqs[j - 1]! > fragment.seqs[j]!, 'decoded sequences not descending');
    if (i > 0) assert(fragments[i - 1]!.end.compare(fragment.start) <= 0, 'decoded fragments overlap');
  }
}

function sameFragments(actual: readonly Fragment[], expected: readonly Fragment[]): boolean {
  return (
    actual.length === expected.length &&
    actual.every((a, i) => a.start.equals(expected[i]!.start) && a.end.equals(expected[i]!.end) && a.seqs.join() === expected[i]!.seqs.join())
  );
}

async function tableWith(fragments: readonly Fragment[], rng: Rng): Promise<Buffer> {
  const file = new MemoryWritableFile();
  const builder = new TableBuilder(file, { blockSizeBytes: 64 });
  const count = rng.range(0, 5);
  for (let i = 0; i < count; i++) builder.add(encodeInternalKey(Buffer.from(`k${i}`), 2000 + i, EntryType.PUT), Buffer.from(`v${i}`));
  await builder.finish({ rangeDelBlock: rangeDelBlockSpec(fragments)! });
  return file.contents();
}

/** Runs `iterations` cases from `seed`; throws on the first violation, naming the seed. */
export async function runRangeDelDecoderFuzz(seed: number, iterations: number): Promise<void> {
  const rng = new Rng(seed);
  for (let iteration = 0; iteration < iterations; iteration++) {
    const where = `range-del fuzz seed ${seed}, iteration ${iteration}`;
    const fragments = fragmentTombstones(randomTombstones(rng));
    if (fragments.length === 0) continue;
    const { contents, count } = encodeRangeDelBlock(fragments);
    assert(sameFragments(decodeRangeDelBlock(contents, FILE_NAME, 0, count).fragments, fragments), `${where}: round trip`);

    const damaged = attempt(() => decodeRangeDelBlock(damageBytes(contents, rng), FILE_NAME, 0, count));
    if (damaged.ok) checkWellFormed(damaged.value.fragments);

    const table = await tableWith(fragments, rng);
    const reader = TableReader.open(new MemoryRandomAccessFile(table), FILE_NAME, 1);
    const handle = reader.properties.rangeDelBlock!;
    assert(sameFragments(reader.rangeTombstones().fragments, fragments), `${where}: a table's tombstones read back`);
    const damagedTable = Buffer.from(table);
    damagedTable[rng.range(handle.offset, handle.offset + handle.size - 1)]! ^= 1 << rng.int(8);
    const opened = attempt(() => TableReader.open(new MemoryRandomAccessFile(damagedTable), FILE_NAME, 1));
    assert(!opened.ok || sameFragments(opened.value.rangeTombstones().fragments, fragments), `${where}: a damaged table returned other tombstones`);
    assert(!opened.ok, `${where}: a flipped bit in the range-del block went unnoticed`);

    const random = attempt(() => decodeRangeDelBlock(rng.bytes(rng.range(0, 64)), FILE_NAME, 0, rng.range(0, 4)));
    if (random.ok) checkWellFormed(random.value.fragments);
  }
}
