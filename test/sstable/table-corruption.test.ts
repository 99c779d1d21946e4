/**
 * Damaged tables: every flipped bit and every truncation is a CorruptionError
 * naming the file and the offset of the damaged block (or of the footer), never a
 * wrong answer; undamaged blocks stay readable (docs/durability.md: corruption
 * is reported, never returned as data).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CorruptionError } from '../../src/errors.js';
import { EntryType, SEQUENCE_MAX } from '../../src/keys.js';
import type { BlockHandle } from '../../src/sstable/block-handle.js';
import { decodeFooter } from '../../src/sstable/footer.js';
import { FOOTER_BYTES } from '../../src/sstable/format.js';
import { blockChecksum } from '../../src/sstable/block-trailer.js';
import type { TableReader } from '../../src/sstable/table-reader.js';
import { SeededRandom, testSeed } from '../helpers.js';
import { TABLE_FILE_NAME, buildTable, dataBlockHandles, entry, expectedGet, openTable, type TestEntry } from './table-fixture.js';

function isCorruptionAt(offset: number): (error: unknown) => boolean {
  return (error) => {
    assert(error instanceof CorruptionError, `expected CorruptionError, got ${String(error)}`);
    assert.equal(error.file, TABLE_FILE_NAME);
    assert.equal(error.offset, offset);
    return true;
  };
}

function flipBit(bytes: Buffer, bit: number): Buffer {
  const bad = Buffer.from(bytes);
  bad[bit >> 3]! ^= 1 << (bit & 7);
  return bad;
}

/** A table of 40 keys in blocks of about 64 bytes, uncompressed or compressed. */
async function smallTable(compression: 'none' | 'snappy'): Promise<{ bytes: Buffer; entries: TestEntry[]; handles: BlockHandle[] }> {
  const entries: TestEntry[] = [];
  for (let i = 0; i < 40; i++) {
    const key = `key-${String(i).padStart(3, '0')}`;
    entries.push(entry(key, 100 + i, i % 7 === 3 ? EntryType.DELETE : EntryType.PUT, i % 7 === 3 ? '' : `value ${i} `.repeat(compression === 'snappy' ? 6 : 1)));
  }
  const { bytes } = await buildTable(entries, { blockSizeBytes: 64, restartInterval: 2, compression });
  return { bytes, entries, handles: dataBlockHandles(openTable(bytes)) };
}

/** Which data block holds `userKey`. */
function blockIndexOf(handlesByKey: Map<string, number>, userKey: Buffer): number {
  return handlesByKey.get(userKey.toString())!;
}

function mapKeysToBlocks(reader: TableReader, handles: BlockHandle[]): Map<string, number> {
  const map = new Map<string, number>();
  handles.forEach((handle, i) => {
    const iterator = reader.dataBlock(handle).iterator({ name: 'any', keyBytesMin: 0, compare: () => 0 });
    for (iterator.seekToFirst(); iterator.valid(); iterator.next()) map.set(iterator.key().subarray(0, -8).toString(), i);
  });
  return map;
}

describe('table corruption: data blocks', () => {
  for (const compression of ['none', 'snappy'] as const) {
    it(`a flipped bit in a data block fails reads of that block only (${compression})`, async () => {
      const { bytes, entries, handles } = await smallTable(compression);
      assert(handles.length >= 4);
      const keyToBlock = mapKeysToBlocks(openTable(bytes), handles);
      // Every third byte of every data block and each byte of its trailer; one bit each.
      for (const [damagedIndex, damaged] of handles.entries()) {
        const end = damaged.offset + damaged.size + 5;
        const positions = new Set<number>();
        for (let at = damaged.offset; at < end; at += 3) positions.add(at);
        for (let at = end - 5; at < end; at++) positions.add(at);
        for (const at of positions) {
          const reader = openTable(flipBit(bytes, at * 8 + (at % 8)));
          for (const e of entries) {
            const inDamaged = blockIndexOf(keyToBlock, e.userKey) === damagedIndex;
            if (inDamaged) {
              assert.throws(() => reader.get(e.userKey, SEQUENCE_MAX), isCorruptionAt(damaged.offset));
            } else {
              const want = expectedGet(entries, e.userKey, SEQUENCE_MAX)!;
              assert.deepEqual(reader.get(e.userKey, SEQUENCE_MAX), { type: want.type, value: want.value, seq: want.seq });
            }
          }
          const iterator = reader.iterator();
          let readCount = 0;
          assert.throws(() => {
            for (iterator.seekToFirst(); iterator.valid(); iterator.next()) {
              assert.deepEqual(iterator.key(), entries[readCount]!.key);
              readCount++;
            }
          }, isCorruptionAt(damaged.offset));
          assert.equal(iterator.valid(), false);
          // The scan read every entry before the damaged block, and stopped at its first entry.
          assert.equal(blockIndexOf(keyToBlock, entries[readCount]!.userKey), damagedIndex);
          if (readCount > 0) assert.equal(blockIndexOf(keyToBlock, entries[readCount - 1]!.userKey), damagedIndex - 1);
        }
      }
    });
  }

  it('without checksum verification, a damaged entry header is still a CorruptionError, not an out-of-bounds read', async () => {
    const { bytes, handles } = await smallTable('none');
    const target = handles[1]!;
    const bad = Buffer.from(bytes);
    bad[target.offset + 2] = 0x7f; // the first entry's value length
    const reader = openTable(bad, { verifyChecksums: false });
    const iterator = reader.iterator();
    iterator.seekToFirst();
    assert.throws(() => {
      while (iterator.valid()) iterator.next();
    }, isCorruptionAt(target.offset));
  });
});

describe('table corruption: metadata', () => {
  it('a flipped bit anywhere in the index, filter or properties block (or its trailer) fails open() at that block', async () => {
    const { bytes } = await smallTable('snappy');
    const footer = decodeFooter(bytes.subarray(bytes.length - FOOTER_BYTES), bytes.length, TABLE_FILE_NAME);
    const blocks = { index: footer.indexHandle, filter: footer.filterHandle!, properties: footer.propertiesHandle };
    for (const [name, handle] of Object.entries(blocks)) {
      for (let bit = handle.offset * 8; bit < (handle.offset + handle.size + 5) * 8; bit += 3) {
        assert.throws(() => openTable(flipBit(bytes, bit)), isCorruptionAt(handle.offset), `${name} bit ${bit}`);
      }
    }
  });

  it('a flipped bit anywhere in the footer fails open() at the footer offset', async () => {
    const { bytes } = await smallTable('none');
    const footerOffset = bytes.length - FOOTER_BYTES;
    for (let bit = footerOffset * 8; bit < bytes.length * 8; bit++) {
      assert.throws(() => openTable(flipBit(bytes, bit)), isCorruptionAt(footerOffset), `bit ${bit}`);
    }
  });

  it('every truncation fails open() at the footer offset of the truncated file', async () => {
    const { bytes } = await smallTable('none');
    for (let length = 0; length < bytes.length; length++) {
      assert.throws(() => openTable(bytes.subarray(0, length)), isCorruptionAt(Math.max(0, length - FOOTER_BYTES)), `length ${length}`);
    }
  });

  it('bytes appended after the footer fail open()', async () => {
    const { bytes } = await smallTable('none');
    const longer = Buffer.concat([bytes, Buffer.alloc(10)]);
    assert.throws(() => openTable(longer), isCorruptionAt(longer.length - FOOTER_BYTES));
  });

  it('random multi-byte damage anywhere never yields a wrong value', async () => {
    const rng = new SeededRandom(testSeed('random damage'));
    const { bytes, entries } = await smallTable('snappy');
    for (let round = 0; round < 300; round++) {
      const bad = Buffer.from(bytes);
      const start = rng.int(0, bytes.length - 1);
      const length = rng.int(1, 8);
      for (let i = start; i < Math.min(bytes.length, start + length); i++) bad[i] = rng.int(0, 255);
      if (bad.equals(bytes)) continue;
      let reader: TableReader;
      try {
        reader = openTable(bad);
      } catch (error) {
        assert(error instanceof CorruptionError);
        continue;
      }
      for (const e of entries) {
        let got;
        try {
          got = reader.get(e.userKey, SEQUENCE_MAX);
        } catch (error) {
          assert(error instanceof CorruptionError, String(error));
          continue;
        }
        const want = expectedGet(entries, e.userKey, SEQUENCE_MAX)!;
        assert.deepEqual(got, { type: want.type, value: want.value, seq: want.seq }, `round ${round}`);
      }
    }
  });
});

describe('table corruption: expiring entries', () => {
  it('an expiring entry whose value is too short to hold its expiry time is a CorruptionError, from get and from the iterator', async () => {
    // A PUT of a 3-byte value, whose type byte is then made PUT_EXPIRING (and the block's CRC made to match):
    // intact framing around an entry no writer makes.
    const { bytes } = await buildTable([entry('expiring-key', 7, EntryType.PUT, 'abc')], { compression: 'none', bloomBitsPerKey: 0 });
    const [handle] = dataBlockHandles(openTable(bytes));
    const bad = Buffer.from(bytes);
    const typeAt = bad.indexOf(Buffer.from('expiring-key'), handle!.offset) + 'expiring-key'.length;
    assert.equal(bad[typeAt], EntryType.PUT);
    bad[typeAt] = EntryType.PUT_EXPIRING;
    const contentsEnd = handle!.offset + handle!.size;
    bad.writeUInt32LE(blockChecksum(bad, contentsEnd, handle!.offset), contentsEnd + 1);
    const reader = openTable(bad);
    assert.throws(() => reader.get(Buffer.from('expiring-key'), SEQUENCE_MAX), isCorruptionAt(handle!.offset));
    const iterator = reader.iterator();
    iterator.seekToFirst();
    assert.throws(() => iterator.type(), isCorruptionAt(handle!.offset));
    iterator.close();
  });
});
