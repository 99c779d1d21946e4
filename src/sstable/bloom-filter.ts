/**
 * The table's bloom filter over user keys (docs/format.md, "SSTable: filter
 * block").
 *
 * One filter covers the whole table (a "full filter"): a bit array of
 * `max(64, n × bitsPerKey)` bits rounded up to whole bytes, followed by one byte
 * holding `k`, the number of probes. A key sets (and a lookup tests) the bits
 * `h, h + δ, h + 2δ, …` modulo the bit count, where `h` is the key's 32-bit hash
 * and `δ` is `h` rotated right by 17 bits (double hashing: Kirsch and
 * Mitzenmacher, as LevelDB's bloom.cc does). Bit `i` is bit `i % 8` of byte
 * `i >> 3`. The hash is LevelDB's Murmur-like `Hash` with seed 0xbc9f1d34.
 *
 * Filters hold user keys, not internal keys, so that a lookup at any snapshot can
 * use them.
 */
import assert from 'node:assert/strict';
import { CorruptionError } from '../errors.js';

const HASH_SEED = 0xbc9f1d34;
const HASH_MULTIPLIER = 0xc6a4a793;
/** Filters below this many bits have a false-positive rate far above target for small tables. */
const FILTER_BITS_MIN = 64;
/** k above this is reserved (LevelDB uses it to mark other filter encodings) and treated as corrupt. */
const PROBES_MAX = 30;

/** The default bits per key: about 1% false positives. */
export const BLOOM_BITS_PER_KEY_DEFAULT = 10;

/**
 * LevelDB's 32-bit `Hash` of `data[start, end)` (util/hash.cc, bytes taken as
 * unsigned): Murmur-like and fast on short keys. Stable forever: filters on disk
 * depend on it.
 */
export function murmurHash32(data: Uint8Array, start: number, end: number, seed: number): number {
  const length = end - start;
  let h = (seed ^ Math.imul(length, HASH_MULTIPLIER)) >>> 0;
  let i = start;
  for (; i + 4 <= end; i += 4) {
    const word = data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24);
    h = Math.imul((h + word) | 0, HASH_MULTIPLIER);
    h ^= h >>> 16;
  }
  // The 1 to 3 trailing bytes, added as one little-endian word (LevelDB's fall-through switch).
  const rest = end - i;
  if (rest > 0) {
    if (rest === 3) h = (h + (data[i + 2]! << 16)) | 0;
    if (rest >= 2) h = (h + (data[i + 1]! << 8)) | 0;
    h = (h + data[i]!) | 0;
    h = Math.imul(h, HASH_MULTIPLIER);
    h ^= h >>> 24;
  }
  return h >>> 0;
}

/** The hash the filter uses: `murmurHash32` with LevelDB's bloom seed 0xbc9f1d34. */
export function bloomHash(data: Uint8Array, start: number, end: number): number {
  return murmurHash32(data, start, end, HASH_SEED);
}

/** The number of probes for `bitsPerKey`: round(bitsPerKey × ln 2), kept within [1, 30]. */
export function bloomProbeCount(bitsPerKey: number): number {
  return Math.min(PROBES_MAX, Math.max(1, Math.round(bitsPerKey * Math.LN2)));
}

/** Builds the filter contents for the keys whose `bloomHash`es are `hashes[0, count)`. */
export function buildBloomFilter(hashes: Uint32Array, count: number, bitsPerKey: number): Buffer {
  assert(Number.isSafeInteger(bitsPerKey) && bitsPerKey >= 1, 'bitsPerKey must be an integer ≥ 1');
  const bytes = Math.ceil(Math.max(FILTER_BITS_MIN, count * bitsPerKey) / 8);
  const bits = bytes * 8;
  const probes = bloomProbeCount(bitsPerKey);
  const filter = Buffer.alloc(bytes + 1);
  for (let i = 0; i < count; i++) {
    let h = hashes[i]!;
    const delta = ((h >>> 17) | (h << 15)) >>> 0;
    for (let j = 0; j < probes; j++) {
      const bit = h % bits;
      filter[bit >>> 3]! |= 1 << (bit & 7);
      h = (h + delta) >>> 0;
    }
  }
  filter[bytes] = probes;
  return filter;
}

/** A decoded filter block, ready for lookups. */
export class BloomFilter {
  readonly #filter: Buffer;
  readonly #bits: number;
  /** The number of probes per key. */
  readonly probeCount: number;

  /**
   * Checks `contents` (at least one byte of bits, then k in [1, 30]); anything else
   * is a `CorruptionError` in `fileName` at `offset` (the filter block's offset).
   */
  constructor(contents: Buffer, fileName: string, offset: number) {
    if (contents.length < 2) throw new CorruptionError(fileName, offset, 'filter block too short');
    const probes = contents[contents.length - 1]!;
    if (probes < 1 || probes > PROBES_MAX) throw new CorruptionError(fileName, offset, `filter probe count ${probes} out of range`);
    this.#filter = contents;
    this.#bits = (contents.length - 1) * 8;
    this.probeCount = probes;
  }

  /** The size of the bit array in bits. */
  get bitCount(): number {
    return this.#bits;
  }

  /** False when `userKey[start, end)` is certainly not in the table; true when it may be. */
  mayContain(userKey: Uint8Array, start = 0, end = userKey.length): boolean {
    let h = bloomHash(userKey, start, end);
    const delta = ((h >>> 17) | (h << 15)) >>> 0;
    const bits = this.#bits;
    const filter = this.#filter;
    for (let j = 0; j < this.probeCount; j++) {
      const bit = h % bits;
      if ((filter[bit >>> 3]! & (1 << (bit & 7))) === 0) return false;
      h = (h + delta) >>> 0;
    }
    return true;
  }
}
