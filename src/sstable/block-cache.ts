/**
 * An LRU cache of decoded data blocks shared by every open table (the "block
 * cache" of docs/internals.md; docs/format.md, "SSTable: reading").
 *
 * Entries are uncompressed, checksum-verified, decoded `Block`s keyed by (file
 * number, block offset) and charged their size in bytes. Replacement is CLOCK
 * (second chance), an approximation of LRU that makes a hit cost one `Map.get`
 * and a flag. Entries sit in the slots of a ring; a hit marks its entry; to make
 * room, a hand sweeps the ring, clearing marks and evicting the first unmarked
 * entry it meets. (True LRU moved every hit to the back of a `Map`: 12% of
 * seekrandom's time. Taking the oldest entry of a `Map` instead of a hand costs a
 * walk over the holes deletions leave at its front: 12% of readrandom's time at a
 * 30% hit rate.)
 * Blocks are immutable, so a block evicted while an iterator still reads it
 * stays valid for that iterator; the cache only forgets it.
 *
 * A table reader's point lookups find their blocks without hashing: the reader
 * keeps an array of the cache entries of its blocks by block index (`BlockSlots`),
 * and the cache empties a block's slot when it evicts the block. The `Map` by
 * (file number, offset) stays the cache's own record, for iterators (which know
 * offsets, not indexes) and for a reader that reopens a table whose blocks are
 * still cached. (Hashing a packed key that is not a small integer took 8% of a
 * cached point lookup.)
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

/** What a `BlockSlots` array holds: a cached block and its CLOCK mark. */
export interface CachedBlock {
  readonly block: Block;
  /** Hit since eviction last passed over it. */
  referenced: boolean;
}

/**
 * A table reader's references to its cached blocks, by data block index. Only the
 * cache writes it: `lookup` and `insert` fill a slot, eviction empties it.
 */
export type BlockSlots = (CachedBlock | undefined)[];

interface CacheEntry extends CachedBlock {
  readonly key: number | string;
  /** Its index in the ring. */
  readonly slot: number;
  readonly fileNumber: number;
  readonly chargeBytes: number;
  /** The reader's slot array that refers to this entry, and the index in it; undefined when none does. */
  owner: BlockSlots | undefined;
  ownerIndex: number;
}

/** Hit and miss counts and current usage, for stats and tests. */
export interface BlockCacheStats {
  readonly hitCount: number;
  readonly missCount: number;
  readonly entryCount: number;
  readonly usageBytes: number;
  readonly capacityBytes: number;
}

/** A byte-bounded CLOCK cache of decoded blocks. One per database, shared by its tables. */
export class BlockCache {
  readonly capacityBytes: number;
  #entries = new Map<number | string, CacheEntry>();
  /** Every entry at its slot; `undefined` marks a free slot (listed in `#freeSlots`). */
  #ring: (CacheEntry | undefined)[] = [];
  #freeSlots: number[] = [];
  #hand = 0;
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
    return this.#find(fileNumber, offset)?.block;
  }

  /**
   * The block of file `fileNumber` at `offset`, which is block `index` of the reader
   * owning `slots`: from its slot when it has one, else from the cache (then the
   * slot is filled). Marks the block used; counts a hit or a miss.
   */
  lookup(fileNumber: number, offset: number, slots: BlockSlots, index: number): Block | undefined {
    const held = slots[index];
    if (held !== undefined) {
      this.#hitCount++;
      held.referenced = true;
      return held.block;
    }
    const entry = this.#find(fileNumber, offset);
    if (entry === undefined) return undefined;
    this.#adopt(entry, slots, index);
    return entry.block;
  }

  /** The entry of (file, offset), marked as used; counts a hit or a miss. */
  #find(fileNumber: number, offset: number) {
    const entry = this.#entries.get(cacheKey(fileNumber, offset));
    if (entry === undefined) {
      this.#missCount++;
      return undefined;
    }
    this.#hitCount++;
    entry.referenced = true;
    return entry;
  }

  /**
   * Adds (or replaces) a block, then evicts until the cache fits its capacity:
   * the blocks the hand finds unmarked (not hit since it last passed them). A
   * block larger than the whole capacity is not kept.
   */
  insert(fileNumber: number, offset: number, block: Block, slots?: BlockSlots, index = 0): void {
    const key = cacheKey(fileNumber, offset);
    const chargeBytes = block.data.length + ENTRY_OVERHEAD_BYTES;
    this.#remove(key);
    if (chargeBytes > this.capacityBytes) return;
    const slot = this.#freeSlots.pop() ?? this.#ring.length;
    const entry: CacheEntry = { key, slot, fileNumber, block, chargeBytes, referenced: false, owner: undefined, ownerIndex: 0 };
    if (slots !== undefined) this.#adopt(entry, slots, index);
    this.#ring[slot] = entry;
    this.#entries.set(key, entry);
    this.#usageBytes += chargeBytes;
    // The new block is passed over too, never evicted by its own insertion. Ends:
    // passing an entry clears its mark, and one block alone fits the capacity.
    while (this.#usageBytes > this.capacityBytes) {
      if (this.#hand >= this.#ring.length) this.#hand = 0;
      const candidate = this.#ring[this.#hand++];
      if (candidate === undefined || candidate === entry) continue;
      if (candidate.referenced) candidate.referenced = false;
      else this.#remove(candidate.key);
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
    for (const entry of this.#entries.values()) this.#disown(entry);
    this.#entries.clear();
    this.#ring = [];
    this.#freeSlots = [];
    this.#hand = 0;
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

  /** Makes `slots[index]` refer to `entry`, taking it from the reader that held it before (the same table, reopened). */
  #adopt(entry: CacheEntry, slots: BlockSlots, index: number): void {
    this.#disown(entry);
    entry.owner = slots;
    entry.ownerIndex = index;
    slots[index] = entry;
  }

  /** Empties the slot that refers to `entry`, if one still does. */
  #disown(entry: CacheEntry): void {
    const owner = entry.owner;
    if (owner !== undefined && owner[entry.ownerIndex] === entry) owner[entry.ownerIndex] = undefined;
    entry.owner = undefined;
  }

  #remove(key: number | string): void {
    const entry = this.#entries.get(key);
    if (entry === undefined) return;
    this.#entries.delete(key);
    this.#disown(entry);
    this.#ring[entry.slot] = undefined;
    this.#freeSlots.push(entry.slot);
    this.#usageBytes -= entry.chargeBytes;
  }
}

function cacheKey(fileNumber: number, offset: number): number | string {
  if (fileNumber <= FILE_NUMBER_PACKED_MAX && offset < OFFSET_SPACE) return fileNumber * OFFSET_SPACE + offset;
  return `${fileNumber}:${offset}`;
}
