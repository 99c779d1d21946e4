/**
 * The range-del block (docs/format.md, "SSTable: range-del block"): golden
 * bytes, round trips, and every malformed block a `CorruptionError` naming the
 * file and the block's offset; damaged inside a table, the table does not open.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CorruptionError } from '../../src/errors.js';
import { EntryType, encodeInternalKey } from '../../src/keys.js';
import { fragmentTombstones } from '../../src/rangedel/fragments.js';
import { rangeDelBlockSpec } from '../../src/rangedel/table-tombstones.js';
import { BlockBuilder } from '../../src/sstable/block-builder.js';
import { decodeRangeDelBlock, encodeRangeDelBlock } from '../../src/sstable/range-del-block.js';
import { TableBuilder } from '../../src/sstable/table-builder.js';
import { TableReader } from '../../src/sstable/table-reader.js';
import { MemoryRandomAccessFile, MemoryWritableFile } from '../sstable/memory-file.js';

const b = (text: string): Buffer => Buffer.from(text, 'latin1');

function corruptionAt(file: string, offset: number) {
  return (err: unknown): boolean => err instanceof CorruptionError && err.file === file && err.offset === offset;
}

/** A block of raw (start, seq, end) entries, in the order given, as a forger would write it. */
function rawBlock(entries: [string, number, string, number?][]): Buffer {
  const builder = new BlockBuilder(1);
  for (const [start, seq, end, type] of entries) builder.add(encodeInternalKey(b(start), seq, (type ?? EntryType.RANGE_DELETE) as EntryType), b(end));
  return builder.finish();
}

describe('range-del block', () => {
  it('encodes one entry per fragment and sequence: golden bytes', () => {
    const fragments = fragmentTombstones([
      { start: b('a'), end: b('c'), seq: 5 },
      { start: b('b'), end: b('d'), seq: 7 },
    ]);
    // [a,b) {5}, [b,c) {7,5}, [c,d) {7}
    const { contents, count } = encodeRangeDelBlock(fragments);
    assert.equal(count, 4);
    assert.equal(
      contents.toString('hex'),
      // shared 0, unshared 9, value 1 | key a‖(5<<8|2) | value b; … then the restart array (4 restarts) and its count.
      '00' + '09' + '01' + '61' + '0205000000000000' + '62' +
        '00' + '09' + '01' + '62' + '0207000000000000' + '63' +
        '00' + '09' + '01' + '62' + '0205000000000000' + '63' +
        '00' + '09' + '01' + '63' + '0207000000000000' + '64' +
        '00000000' + '0d000000' + '1a000000' + '27000000' + '04000000',
    );
    assert.deepEqual(decodeRangeDelBlock(contents, 'x.sst', 0, count).fragments, fragments);
  });

  it('every malformed block is a CorruptionError naming the file and the block offset', () => {
    const cases: [string, Buffer, number][] = [
      ['a point entry type', rawBlock([['a', 5, 'b', EntryType.PUT]]), 1],
      ['an empty range', rawBlock([['b', 5, 'b']]), 1],
      ['a range ending before it starts', rawBlock([['c', 5, 'b']]), 1],
      ['overlapping fragments', rawBlock([['a', 5, 'c'], ['b', 4, 'd']]), 2],
      ['one start with two ends', rawBlock([['a', 5, 'c'], ['a', 4, 'd']]), 2],
      ['sequence 0', rawBlock([['a', 0, 'c']]), 1],
      ['a count the properties contradict', rawBlock([['a', 5, 'c']]), 2],
      ['bytes that are no block', b('\x01\x02\x03'), 1],
    ];
    for (const [what, contents, count] of cases) {
      assert.throws(() => decodeRangeDelBlock(contents, 'bad.sst', 321, count), corruptionAt('bad.sst', 321), what);
    }
  });

  it('a table holding only tombstones opens, answers lookups and reads back its fragments', async () => {
    const fragments = fragmentTombstones([{ start: b('m'), end: b('q'), seq: 9 }]);
    const file = new MemoryWritableFile();
    const builder = new TableBuilder(file, {});
    const meta = await builder.finish({ rangeDelBlock: rangeDelBlockSpec(fragments)! });
    assert.equal(meta.entryCount, 0);
    const reader = TableReader.open(new MemoryRandomAccessFile(file.contents()), 't.sst', 1);
    assert.deepEqual(reader.rangeTombstones().fragments, fragments);
    assert.deepEqual(reader.get(b('n'), 20), { type: EntryType.DELETE, seq: 9, value: Buffer.alloc(0) });
    assert.equal(reader.get(b('n'), 8), undefined, 'a reader below the tombstone sees nothing deleted');
    assert.equal(reader.get(b('q'), 20), undefined, 'the end is exclusive');
  });

  it('a flipped bit in a table’s range-del block fails the open with a CorruptionError at the block', async () => {
    const fragments = fragmentTombstones([{ start: b('a'), end: b('z'), seq: 3 }]);
    const file = new MemoryWritableFile();
    const builder = new TableBuilder(file, {});
    builder.add(encodeInternalKey(b('k'), 4, EntryType.PUT), b('v'));
    await builder.finish({ rangeDelBlock: rangeDelBlockSpec(fragments)! });
    const bytes = file.contents();
    const handle = TableReader.open(new MemoryRandomAccessFile(bytes), 't.sst', 1).properties.rangeDelBlock!;
    for (let at = handle.offset; at < handle.offset + handle.size; at++) {
      const damaged = Buffer.from(bytes);
      damaged[at]! ^= 0x10;
      assert.throws(() => TableReader.open(new MemoryRandomAccessFile(damaged), 't.sst', 1), corruptionAt('t.sst', handle.offset), `byte ${at}`);
    }
  });
});
