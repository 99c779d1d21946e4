/**
 * Seeded randomness for the benchmark: a small PRNG, and a permutation of
 * `[0, size)` computed index by index, so a million random-order keys need no
 * array of a million anything. Every engine sees exactly the same sequence for
 * a given `--seed` and workload.
 */

/** Mulberry32: a 32-bit PRNG, plenty for key order and value bytes. Not for cryptography. */
export class Prng {
  #state: number;

  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** A uniform 32-bit unsigned integer. */
  nextUint32(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** A uniform integer in `[0, bound)`, for bounds up to 2^32. */
  nextBelow(bound: number): number {
    return Math.floor((this.nextUint32() / 0x1_0000_0000) * bound);
  }
}

/** The murmur3 finalizer: a cheap 32-bit mix used as the Feistel round function. */
function mix32(value: number): number {
  let h = value >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A stable 32-bit seed from a number and a label (so each workload gets its own order). */
export function deriveSeed(seed: number, label: string): number {
  let h = mix32(seed ^ 0x9e3779b9);
  for (let index = 0; index < label.length; index++) h = mix32(h ^ label.charCodeAt(index));
  return h;
}

const FEISTEL_ROUNDS = 4;
/** Half-widths above this would overflow the 32-bit XOR of the round function. */
const HALF_BITS_MAX = 26;

/**
 * A pseudo-random bijection of `[0, size)`: a 4-round Feistel network over the
 * smallest even power of two covering `size`, with cycle walking to stay inside
 * `[0, size)`. `at(i)` costs a few multiplications; no table is stored.
 */
export class Permutation {
  readonly size: number;
  readonly #halfBits: number;
  readonly #halfSize: number;
  readonly #mask: number;
  readonly #roundKeys: number[];

  constructor(size: number, seed: number) {
    if (!Number.isSafeInteger(size) || size < 1) throw new RangeError(`permutation size must be a positive integer, got ${size}`);
    let bits = Math.max(2, Math.ceil(Math.log2(size)));
    if (bits % 2 === 1) bits++;
    this.#halfBits = bits / 2;
    if (this.#halfBits > HALF_BITS_MAX) throw new RangeError(`permutation size ${size} is too large`);
    this.size = size;
    this.#halfSize = 2 ** this.#halfBits;
    this.#mask = this.#halfSize - 1;
    const prng = new Prng(seed);
    this.#roundKeys = Array.from({ length: FEISTEL_ROUNDS }, () => prng.nextUint32());
  }

  /** The image of `index` (which must be in `[0, size)`). */
  at(index: number): number {
    let value = this.#encrypt(index);
    // Invariant: the Feistel network permutes [0, halfSize²), so walking the cycle
    // from an index below `size` reaches a value below `size` again.
    while (value >= this.size) value = this.#encrypt(value);
    return value;
  }

  #encrypt(value: number): number {
    let left = Math.floor(value / this.#halfSize);
    let right = value % this.#halfSize;
    for (const roundKey of this.#roundKeys) {
      const next = (left ^ (mix32(right ^ roundKey) & this.#mask)) >>> 0;
      left = right;
      right = next;
    }
    return left * this.#halfSize + right;
  }
}
