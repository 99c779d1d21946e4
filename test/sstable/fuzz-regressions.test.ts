/**
 * Regression tests for what the table decoder fuzz target (fuzz/table-decoders.ts)
 * caught. Each builds the smallest damage that showed the bug; the damage is
 * forged behind a recomputed checksum where the bug lies behind one.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CorruptionError } from '../../src/errors.js';
import { EntryType } from '../../src/keys.js';
import { blockChecksum } from '../../src/sstable/block-trailer.js';
import { decodeFooter } from '../../src/sstable/footer.js';
import { FOOTER_BYTES } from '../../src/sstable/format.js';
import { TABLE_FILE_NAME, buildTable, dataBlockHandles, entry, openTable, type TestEntry } from './table-fixture.js';

/** 40 entries in blocks of about 64 bytes, uncompressed, so that the index has many restart points. */
async function manyBlockTable(restartInterval = 2): Promise<{ bytes: Buffer; entries: TestEntry[] }> {
  const entries: TestEntry[] = [];
  for (let i = 0; i < 40; i++) entries.push(entry(`key-${String(i).padStart(3, '0')}`, 100 + i, EntryType.PUT, `value ${i}`));
  const { bytes } = await buildTable(entries, { blockSizeBytes: 64, restartInterval, compression: 'none', bloomBitsPerKey: 0 });
  return { bytes, entries };
}

/** Sets byte `at` of the file to `value` and recomputes the checksum of the data block holding it. */
function forgeDataByte(bytes: Buffer, at: number, value: number): Buffer {
  const bad = Buffer.from(bytes);
  const handle = dataBlockHandles(openTable(bytes)).find((h) => h.offset <= at && at < h.offset + h.size)!;
  bad[at] = value;
  const stored = bad.subarray(handle.offset, handle.offset + handle.size + 5);
  stored.writeUInt32LE(blockChecksum(stored, handle.size), handle.size + 1);
  return bad;
}

/** Sets byte `at` of the index block's contents to `value` and recomputes the block's checksum. */
function forgeIndexByte(bytes: Buffer, pick: (contents: Buffer) => number, value: number): Buffer {
  const bad = Buffer.from(bytes);
  const { indexHandle } = decodeFooter(bad.subarray(bad.length - FOOTER_BYTES), bad.length, TABLE_FILE_NAME);
  const stored = bad.subarray(indexHandle.offset, indexHandle.offset + indexHandle.size + 5);
  const contents = stored.subarray(0, indexHandle.size);
  contents[pick(contents)] = value;
  stored.writeUInt32LE(blockChecksum(stored, indexHandle.size), indexHandle.size + 1);
  return bad;
}

describe('table decoder fuzz regressions', () => {
  it('a seek that fails on a damaged index leaves the table iterator invalid, not at its old entry', async () => {
    const { bytes, entries } = await manyBlockTable();
    // The index has one restart per entry. Make the middle one claim a shared prefix, which a restart
    // entry cannot have: seekToFirst never reads it, but the binary search of a seek does.
    const bad = forgeIndexByte(
      bytes,
      (contents) => {
        const restartCount = contents.readUInt32LE(contents.length - 4);
        const restartsOffset = contents.length - 4 * (restartCount + 1);
        return contents.readUInt32LE(restartsOffset + 4 * (restartCount >> 1));
      },
      1,
    );
    const iterator = openTable(bad).iterator();
    iterator.seekToFirst();
    assert.ok(iterator.valid());
    assert.deepEqual(iterator.key(), entries[0]!.key);
    assert.throws(() => iterator.seek(entries[20]!.userKey, 1000), CorruptionError);
    assert.equal(iterator.valid(), false);
  });

  it('seekForPrev that lands on an entry with a damaged sequence number moves before it instead of throwing with the iterator still valid', async () => {
    // Restart interval 1 stores every key whole, so the damaged trailer is easy to find.
    const { bytes, entries } = await manyBlockTable(1);
    const keyStart = bytes.indexOf('key-020');
    // The last byte of the trailer u64le(seq << 8 | type): 0xff there puts seq past 2^53 - 1.
    const bad = forgeDataByte(bytes, keyStart + 'key-020'.length + 7, 0xff);
    const iterator = openTable(bad).iterator();
    // The first entry at or after the target is key-020's, whose sequence number is damaged.
    iterator.seekForPrev(Buffer.from('key-0195'), 5);
    assert.ok(iterator.valid());
    assert.deepEqual(iterator.key(), entries[19]!.key);
    // The damaged entry itself is still reported when it is read.
    iterator.next();
    assert.throws(() => iterator.seq(), CorruptionError);
  });
});
