/**
 * The block cache: CLOCK order, the byte bound, per-file eviction, counters, and
 * its use by table readers.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SEQUENCE_MAX } from '../../src/keys.js';
import { BlockBuilder } from '../../src/sstable/block-builder.js';
import { BlockCache, type BlockSlots } from '../../src/sstable/block-cache.js';
import { Block } from '../../src/sstable/block-reader.js';
import { TableReader } from '../../src/sstable/table-reader.js';
import { MemoryRandomAccessFile } from './memory-file.js';
import { SeededRandom, testSeed } from '../helpers.js';
import { buildTable, randomEntries } from './table-fixture.js';

/** A block whose data is exactly `bytes` long (charged bytes + 128 in the cache): zero padding before an empty block's restart array. */
function blockOf(bytes: number): Block {
  const empty = new BlockBuilder(1).finish();
  return new Block(Buffer.concat([Buffer.alloc(bytes - empty.length), empty]), 'f', 0);
}

describe('block cache', () => {
  it('returns what was inserted and counts hits and misses', () => {
    const cache = new BlockCache(10_000);
    const block = blockOf(100);
    assert.equal(cache.get(1, 0), undefined);
    cache.insert(1, 0, block);
    assert.equal(cache.get(1, 0), block);
    assert.equal(cache.get(1, 100), undefined);
    assert.equal(cache.get(2, 0), undefined);
    assert.deepEqual(cache.stats, { hitCount: 1, missCount: 3, entryCount: 1, usageBytes: 228, capacityBytes: 10_000 });
  });

  it('evicts the blocks its hand finds not hit since it last passed (second chance) to stay within its capacity', () => {
    const cache = new BlockCache(3 * 228);
    for (const offset of [0, 1, 2]) cache.insert(7, offset, blockOf(100));
    assert(cache.get(7, 0) !== undefined); // 0 is marked: eviction passes over it, to 1
    cache.insert(7, 3, blockOf(100));
    assert.equal(cache.get(7, 1), undefined);
    for (const offset of [0, 2, 3]) assert(cache.get(7, offset) !== undefined, `offset ${offset}`);
    assert.equal(cache.stats.usageBytes, 3 * 228);
    // Order 2, 3, 0, all marked: eviction clears every mark once, then takes 2; only a new hit saves 3 next time.
    cache.insert(7, 4, blockOf(100));
    assert.equal(cache.get(7, 2), undefined);
    assert(cache.get(7, 0) !== undefined);
    cache.insert(7, 5, blockOf(100));
    assert.equal(cache.get(7, 3), undefined);
    for (const offset of [0, 4, 5]) assert(cache.get(7, offset) !== undefined, `offset ${offset}`);
  });

  it('keeps its byte count exact and its bound under random inserts, hits and file evictions', () => {
    const rng = new SeededRandom(testSeed('block cache random'));
    const cache = new BlockCache(20 * 228);
    const present = new Map<string, number>(); // key → charged bytes, as far as the test can know
    for (let step = 0; step < 5000; step++) {
      const fileNumber = rng.int(0, 3);
      const offset = rng.int(0, 29);
      const roll = rng.next();
      if (roll < 0.5) {
        const bytes = rng.int(50, 349);
        cache.insert(fileNumber, offset, blockOf(bytes));
        present.set(`${fileNumber}:${offset}`, bytes + 128);
      } else if (roll < 0.98) {
        const hit = cache.get(fileNumber, offset) !== undefined;
        if (!hit) present.delete(`${fileNumber}:${offset}`);
      } else {
        cache.evictFile(fileNumber);
        for (const key of [...present.keys()]) if (key.startsWith(`${fileNumber}:`)) present.delete(key);
        for (let i = 0; i < 30; i++) assert.equal(cache.get(fileNumber, i), undefined);
      }
      const { usageBytes, entryCount, capacityBytes } = cache.stats;
      assert.ok(usageBytes <= capacityBytes, `step ${step}: ${usageBytes} bytes over ${capacityBytes}`);
      // Every block the cache still holds was charged what the test inserted last under its key.
      if (step % 100 === 0) {
        let charged = 0;
        let held = 0;
        for (const [key, bytes] of present) {
          const [file, at] = key.split(':').map(Number) as [number, number];
          if (cache.get(file, at) !== undefined) {
            charged += bytes;
            held++;
          } else {
            present.delete(key);
          }
        }
        assert.equal(held, cache.stats.entryCount, `step ${step}: entries`);
        assert.equal(charged, cache.stats.usageBytes, `step ${step}: bytes`);
      }
      assert.ok(entryCount <= 20);
    }
  });

  it('replacing a block charges it once', () => {
    const cache = new BlockCache(10_000);
    cache.insert(1, 0, blockOf(100));
    cache.insert(1, 0, blockOf(200));
    assert.equal(cache.stats.usageBytes, 328);
    assert.equal(cache.stats.entryCount, 1);
  });

  it('does not keep a block larger than its whole capacity', () => {
    const cache = new BlockCache(1000);
    cache.insert(1, 0, blockOf(100));
    cache.insert(1, 1, blockOf(2000));
    assert.equal(cache.get(1, 1), undefined);
    assert(cache.get(1, 0) !== undefined);
  });

  it('evictFile drops every block of one file and no other', () => {
    const cache = new BlockCache(100_000);
    for (const file of [1, 2, 3]) for (const offset of [0, 4096, 8192]) cache.insert(file, offset, blockOf(64));
    cache.evictFile(2);
    assert.equal(cache.stats.entryCount, 6);
    for (const offset of [0, 4096, 8192]) {
      assert.equal(cache.get(2, offset), undefined);
      assert(cache.get(1, offset) !== undefined);
      assert(cache.get(3, offset) !== undefined);
    }
  });

  it('keys huge file numbers and offsets apart', () => {
    const cache = new BlockCache(100_000);
    const a = blockOf(64);
    const b = blockOf(64);
    cache.insert(2 ** 30, 2 ** 40, a);
    cache.insert(2 ** 30 + 1, 2 ** 40, b);
    assert.equal(cache.get(2 ** 30, 2 ** 40), a);
    assert.equal(cache.get(2 ** 30 + 1, 2 ** 40), b);
  });

  it('serves a table reader’s repeated reads without touching the file', async () => {
    const rng = new SeededRandom(testSeed('block cache with a reader'));
    const entries = randomEntries(rng, 300, 'random');
    const { bytes } = await buildTable(entries, { blockSizeBytes: 256 });
    const cache = new BlockCache();
    const file = new MemoryRandomAccessFile(bytes);
    const reader = TableReader.open(file, '000001.sst', 1, { blockCache: cache });
    // A scan loads every block (gets alone would skip blocks holding only older versions).
    const iterator = reader.iterator();
    for (iterator.seekToFirst(); iterator.valid(); iterator.next());
    for (const e of entries) reader.get(e.userKey, SEQUENCE_MAX);
    const readsAfterFirstPass = file.readCount;
    const missesAfterFirstPass = cache.stats.missCount;
    for (const e of entries) assert.equal(reader.get(e.userKey, SEQUENCE_MAX)?.seq !== undefined, true);
    assert.equal(file.readCount, readsAfterFirstPass);
    assert.equal(cache.stats.missCount, missesAfterFirstPass);
    assert(cache.stats.hitCount >= entries.length);
    // A second scan reuses the cached blocks too.
    for (iterator.seekToLast(); iterator.valid(); iterator.prev());
    assert.equal(file.readCount, readsAfterFirstPass);
    cache.evictFile(1);
    assert.equal(cache.stats.entryCount, 0);
  });

  it('fills a reader\'s slot on insert and on a hit by offset, and empties it when the block is evicted', () => {
    const cache = new BlockCache(2 * 228);
    const slots: BlockSlots = [];
    const block = blockOf(100);
    assert.equal(cache.lookup(1, 0, slots, 0), undefined);
    cache.insert(1, 0, block, slots, 0);
    assert.equal(slots[0]?.block, block);
    assert.equal(cache.lookup(1, 0, slots, 0), block);
    // Another reader of the same file (reopened) takes the entry over; the first one's slot empties.
    const reopened: BlockSlots = [];
    assert.equal(cache.lookup(1, 0, reopened, 0), block);
    assert.equal(reopened[0]?.block, block);
    assert.equal(slots[0], undefined);
    // Newer blocks push it out (after its second chance): the slot empties as the block leaves.
    let inserted = 0;
    while (inserted < 4 && reopened[0] !== undefined) cache.insert(1, 100 * ++inserted, blockOf(100));
    assert.ok(inserted >= 2, 'a marked block gets a second chance');
    assert.equal(reopened[0], undefined, `still held after ${inserted} inserts`);
    assert.equal(cache.get(1, 0), undefined);
    assert.equal(cache.lookup(1, 0, reopened, 0), undefined);
    assert.deepEqual(cache.stats, { hitCount: 2, missCount: 3, entryCount: 2, usageBytes: 456, capacityBytes: 456 });
    // evictFile and clear empty slots too.
    const more: BlockSlots = [];
    cache.insert(2, 0, blockOf(100), more, 3);
    cache.evictFile(2);
    assert.equal(more[3], undefined);
    cache.insert(2, 0, blockOf(100), more, 3);
    cache.clear();
    assert.equal(more[3], undefined);
  });

  it('a table reader opened again over the same file reads its blocks from the cache, not the file', async () => {
    const rng = new SeededRandom(testSeed('block cache reopened reader'));
    const entries = randomEntries(rng, 200, 'random');
    const { bytes } = await buildTable(entries, { blockSizeBytes: 256 });
    const cache = new BlockCache();
    const first = TableReader.open(new MemoryRandomAccessFile(bytes), '000001.sst', 1, { blockCache: cache });
    for (const e of entries) first.get(e.userKey, SEQUENCE_MAX);
    const file = new MemoryRandomAccessFile(bytes);
    const second = TableReader.open(file, '000001.sst', 1, { blockCache: cache });
    const readsAfterOpen = file.readCount;
    for (const e of entries) assert.ok(second.get(e.userKey, SEQUENCE_MAX) !== undefined);
    assert.equal(file.readCount, readsAfterOpen);
    // Once the cache forgets the blocks, the reader reads them again and answers the same.
    cache.clear();
    for (const e of entries) assert.deepEqual(second.get(e.userKey, SEQUENCE_MAX), first.get(e.userKey, SEQUENCE_MAX));
    assert.ok(file.readCount > readsAfterOpen);
  });

  it('is not filled by a reader that skips checksum verification', async () => {
    const { bytes } = await buildTable(randomEntries(new SeededRandom(3), 50, 'random'), { blockSizeBytes: 256 });
    const cache = new BlockCache();
    const reader = TableReader.open(new MemoryRandomAccessFile(bytes), '000001.sst', 1, { blockCache: cache, verifyChecksums: false });
    const iterator = reader.iterator();
    for (iterator.seekToFirst(); iterator.valid(); iterator.next());
    assert.equal(cache.stats.entryCount, 0);
  });
});
