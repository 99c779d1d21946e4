/**
 * An LRU cache of decoded data blocks shared by every open table (the "block
 * cache" of docs/internals.md; docs/format.md, "SSTable: reading").
 *
 * Entries are uncompressed, checksum-verified, decoded `Block`s keyed by (file
 * number, block offset) and charged their size in bytes. Replacement is CLOCK
 * (second chance), an approximation of LRU that makes a hit cost one `Map.get`
 * and a flag: a `Map` keeps entries in insertion order, a hit marks its entry
 * referenced, and eviction takes the oldest entry unless it is marked, in which
 * case the mark is cleared and the entry moves to the back. (Moving every hit to
 * the back, true LRU, cost 12% of seekrandom's time in `Map.delete` and `set`.)
 * Blocks are immutable, so a block evicted while an iterator still reads it
 * stays valid for that iterator; the cache only forgets it.
 */
import assert from 'node:assert/strict';
import type { Block } from './block-reader.js';

/** The default capacity: 32 MiB. */
export const BLOCK_CACHE_CAPACITY_BYTES_DEFAULT = 32 * 1024 * 1024;

/** Bytes charged per entry on top of the block's data: the Block object and the Map slot. */
const ENTRY_OVERHEAD_BYTES = 128;

/**
 * File numbers and offsets packed into one number key while they fit 53 bits (any
 * real database); beyond that the key falls back to a string.
 */
const OFFSET_SPACE = 0x1_0000_0000;
const FILE_NUMBER_PACKED_MAX = Math.floor(Number.MAX_SAFE_INTEGER / OFFSET_SPACE);

interface CacheEntry {
  readonly fileNumber: number;
  readonly block: Block;
  readonly chargeBytes: number;
  /** Hit since eviction last passed over it. */
  referenced: boolean;
}

/** Hit and miss counts and current usage, for stats and tests. */
export interface BlockCacheStats {
  readonly hitCount: number;
  readonly missCount: number;
  readonly entryCount: number;
  readonly usageBytes: number;
  readonly capacityBytes: number;
}

/** A byte-bounded LRU cache of decoded blocks. One per database, shared by its tables. */
export class BlockCache {
  readonly capacityBytes: number;
  #entries = new Map<number | string, CacheEntry>();
  #usageBytes = 0;
  #hitCount = 0;
  #missCount = 0;

  /** @param capacityBytes the most bytes of blocks (plus a small per-entry overhead) held at once. */
  constructor(capacityBytes: number = BLOCK_CACHE_CAPACITY_BYTES_DEFAULT) {
    assert(Number.isSafeInteger(capacityBytes) && capacityBytes >= 0, 'capacityBytes must be a non-negative integer');
    this.capacityBytes = capacityBytes;
  }

  /** The block of file `fileNumber` at `offset`, marked as used; counts a hit or a miss. */
  get(fileNumber: number, offset: number): Block | undefined {
    const entry = this.#entries.get(cacheKey(fileNumber, offset));
    if (entry === undefined) {
      this.#missCount++;
      return undefined;
    }
    this.#hitCount++;
    entry.referenced = true;
    return entry.block;
  }

  /**
   * Adds (or replaces) a block, then evicts until the cache fits its capacity:
   * the oldest blocks not hit since eviction last passed them. A block larger than
   * the whole capacity is not kept.
   */
  insert(fileNumber: number, offset: number, block: Block): void {
    const key = cacheKey(fileNumber, offset);
    const chargeBytes = block.data.length + ENTRY_OVERHEAD_BYTES;
    this.#remove(key);
    if (chargeBytes > this.capacityBytes) return;
    this.#entries.set(key, { fileNumber, block, chargeBytes, referenced: false });
    this.#usageBytes += chargeBytes;
    // The new block is passed over too, never evicted by its own insertion. Ends:
    // passing an entry clears its mark, and one block alone fits the capacity.
    while (this.#usageBytes > this.capacityBytes) {
      const [oldestKey, oldest] = this.#entries.entries().next().value!;
      if (oldest.referenced || oldestKey === key) {
        oldest.referenced = false;
        this.#entries.delete(oldestKey);
        this.#entries.set(oldestKey, oldest);
      } else {
        this.#remove(oldestKey);
      }
    }
    // Invariant: the cache never holds more than its capacity.
    assert(this.#usageBytes <= this.capacityBytes, 'block cache over capacity');
  }

  /** Drops every block of `fileNumber`: call it when the table is deleted. */
  evictFile(fileNumber: number): void {
    for (const [key, entry] of this.#entries) {
      if (entry.fileNumber === fileNumber) this.#remove(key);
    }
  }

  /** Drops every block. */
  clear(): void {
    this.#entries.clear();
    this.#usageBytes = 0;
  }

  /** Current counters. */
  get stats(): BlockCacheStats {
    return {
      hitCount: this.#hitCount,
      missCount: this.#missCount,
      entryCount: this.#entries.size,
      usageBytes: this.#usageBytes,
      capacityBytes: this.capacityBytes,
    };
  }

  #remove(key: number | string): void {
    const entry = this.#entries.get(key);
    if (entry === undefined) return;
    this.#entries.delete(key);
    this.#usageBytes -= entry.chargeBytes;
  }
}

function cacheKey(fileNumber: number, offset: number): number | string {
  if (fileNumber <= FILE_NUMBER_PACKED_MAX && offset < OFFSET_SPACE) return fileNumber * OFFSET_SPACE + offset;
  return `${fileNumber}:${offset}`;
}
