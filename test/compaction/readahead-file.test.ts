import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ReadaheadFile } from '../../src/compaction/readahead-file.js';
import { SeededRandom, testSeed } from '../helpers.js';
import { MemoryRandomAccessFile } from '../sstable/memory-file.js';

describe('ReadaheadFile', () => {
  it('answers every read exactly as the file does, short reads at the end included', () => {
    const seed = testSeed('readahead reads');
    const random = new SeededRandom(seed);
    const bytes = random.bytes(200_000);
    const direct = new MemoryRandomAccessFile(bytes);
    const ahead = new ReadaheadFile(new MemoryRandomAccessFile(bytes), 16_384);
    let position = 0;
    for (let i = 0; i < 2_000; i++) {
      // Mostly sequential, sometimes a jump (an index or footer read), sometimes past the end.
      if (random.next() < 0.1) position = random.int(0, bytes.length + 100);
      const length = random.int(0, random.next() < 0.05 ? 40_000 : 5_000);
      assert.deepEqual(ahead.read(position, length), direct.read(position, length), `seed ${seed}, read ${i} at ${position} of ${length}`);
      position += length;
      if (position > bytes.length) position = 0;
    }
  });

  it('a sequential scan of 4 KiB blocks reads the file once per window', () => {
    const file = new MemoryRandomAccessFile(Buffer.alloc(1_000_000, 7));
    const ahead = new ReadaheadFile(file, 256 * 1024);
    for (let position = 0; position < file.size; position += 4096) ahead.read(position, Math.min(4096, file.size - position));
    assert.equal(file.readCount, Math.ceil(1_000_000 / (256 * 1024)));
  });
});
