/**
 * A small seeded pseudo-random generator for tests: sfc32 (Chris Doty-Humphrey's
 * Small Fast Counting generator), its state filled by splitmix32 from one 32-bit
 * seed. The same seed gives the same stream on every run and every platform, so a
 * failing randomized test replays exactly from the seed it printed (`SEED=`).
 *
 * Not for cryptography: sfc32 is fast and passes PractRand, nothing more.
 */
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';

const TWO_POW_32 = 0x1_0000_0000;

/** One step of splitmix32: a well-mixed 32-bit word from a Weyl sequence. */
function splitmix32(state: { value: number }): number {
  state.value = (state.value + 0x9e3779b9) | 0;
  let z = state.value;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/**
 * A deterministic random stream from a 32-bit seed. Every method draws from the
 * same stream, so the order of calls is part of what a seed reproduces: a test that
 * wants one part of its randomness independent of another uses `fork()`.
 */
export class Rng {
  /** The seed this stream started from (normalized to an unsigned 32-bit integer). */
  readonly seed: number;
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  /** @param seed Any safe integer; it is reduced to its low 32 bits. */
  constructor(seed: number) {
    assert.ok(Number.isSafeInteger(seed), `Rng seed must be a safe integer, got ${seed}`);
    this.seed = seed >>> 0;
    const mixer = { value: this.seed };
    this.#a = splitmix32(mixer);
    this.#b = splitmix32(mixer);
    this.#c = splitmix32(mixer);
    this.#d = splitmix32(mixer);
    // The first outputs of a freshly seeded sfc32 are weakly mixed; the reference
    // implementation discards a few.
    for (let i = 0; i < 12; i++) this.next();
  }

  /** The next value, an unsigned 32-bit integer. */
  next(): number {
    const t = (((this.#a + this.#b) | 0) + this.#d) | 0;
    this.#d = (this.#d + 1) | 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) | 0;
    this.#c = (this.#c << 21) | (this.#c >>> 11);
    this.#c = (this.#c + t) | 0;
    return t >>> 0;
  }

  /** A float in [0, 1) with 32 bits of randomness. */
  float(): number {
    return this.next() / TWO_POW_32;
  }

  /** An integer in [0, maxExclusive), without modulo bias. `maxExclusive` is at least 1. */
  int(maxExclusive: number): number {
    assert.ok(Number.isSafeInteger(maxExclusive) && maxExclusive >= 1, `Rng.int needs a positive integer, got ${maxExclusive}`);
    if (maxExclusive <= TWO_POW_32) {
      // Reject the top sliver of the 32-bit range that does not divide evenly.
      const limit = TWO_POW_32 - (TWO_POW_32 % maxExclusive);
      for (;;) {
        const value = this.next();
        if (value < limit) return value % maxExclusive;
      }
    }
    // Past 2^32 a 53-bit float is fine-grained enough; the bias is below 2^-20.
    const high = this.next() >>> 11;
    const low = this.next() >>> 0;
    return Math.floor(((high * TWO_POW_32 + low) / 2 ** 53) * maxExclusive);
  }

  /** An integer in [min, maxInclusive]. */
  range(min: number, maxInclusive: number): number {
    assert.ok(maxInclusive >= min, `Rng.range: ${maxInclusive} < ${min}`);
    return min + this.int(maxInclusive - min + 1);
  }

  /** `true` with the given probability (default one half). */
  bool(probability = 0.5): boolean {
    return this.float() < probability;
  }

  /** `n` random bytes. */
  bytes(n: number): Buffer {
    assert.ok(Number.isSafeInteger(n) && n >= 0, `Rng.bytes needs a count >= 0, got ${n}`);
    const out = Buffer.allocUnsafe(n);
    let i = 0;
    for (; i + 4 <= n; i += 4) out.writeUInt32LE(this.next(), i);
    if (i < n) {
      let word = this.next();
      for (; i < n; i++, word >>>= 8) out[i] = word & 0xff;
    }
    return out;
  }

  /** One element of a non-empty array, uniformly. */
  pick<T>(items: readonly T[]): T {
    assert.ok(items.length > 0, 'Rng.pick of an empty array');
    return items[this.int(items.length)] as T;
  }

  /**
   * A new, independent stream seeded from this one. Forking draws one value, so it
   * advances this stream; the child's `seed` replays the child alone.
   */
  fork(): Rng {
    return new Rng(this.next());
  }
}

/**
 * The seed a randomized test should use: `process.env.SEED` (decimal or `0x` hex)
 * when set, else `defaultSeed` when given, else a fresh random one. Tests print the
 * seed they got so that a failure replays with `SEED=<seed>`. A malformed `SEED`
 * throws rather than silently running a different test.
 */
export function seedFromEnv(defaultSeed?: number): number {
  const text = process.env['SEED']?.trim();
  if (text !== undefined && text !== '') {
    const seed = /^0x[0-9a-f]+$/i.test(text) ? Number.parseInt(text.slice(2), 16) : /^\d+$/.test(text) ? Number(text) : NaN;
    if (!Number.isSafeInteger(seed)) throw new Error(`SEED must be a decimal or 0x-hex integer, got ${JSON.stringify(text)}`);
    return seed >>> 0;
  }
  if (defaultSeed !== undefined) return defaultSeed >>> 0;
  return randomInt(0, TWO_POW_32);
}
