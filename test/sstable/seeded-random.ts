/**
 * A tiny seeded PRNG for the table tests (mulberry32). Every randomized test
 * prints its seed; `SEED=<n>` replays it.
 */

/** The seed for this run: `SEED` from the environment, or a fresh random one. */
export function testSeed(testName: string): number {
  const fromEnv = process.env['SEED'];
  const seed = fromEnv !== undefined && fromEnv !== '' ? Number(fromEnv) >>> 0 : Math.floor(Math.random() * 0x1_0000_0000);
  console.log(`${testName}: SEED=${seed}`);
  return seed;
}

/** A deterministic generator of numbers in [0, 1), integers and bytes. */
export class SeededRandom {
  #state: number;

  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** A float in [0, 1) (mulberry32). */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 0x1_0000_0000;
  }

  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  /** `length` random bytes. */
  bytes(length: number): Buffer {
    const out = Buffer.allocUnsafe(length);
    for (let i = 0; i < length; i++) out[i] = Math.floor(this.next() * 256);
    return out;
  }
}
