/**
 * Measuring a filter's false positives: probe it with random keys that were
 * never added, for the bloom filter's tests and the table's prefix filter.
 */
import type { SeededRandom } from '../helpers.js';

/**
 * How many of `probes` random `keyBytes`-byte keys not in `added` (a set of hex
 * strings) `mayContain` admits.
 */
export function countFalsePositives(rng: SeededRandom, probes: number, keyBytes: number, added: ReadonlySet<string>, mayContain: (key: Buffer) => boolean): number {
  let falsePositives = 0;
  let tried = 0;
  while (tried < probes) {
    const key = rng.bytes(keyBytes);
    if (added.has(key.toString('hex'))) continue;
    tried++;
    if (mayContain(key)) falsePositives++;
  }
  return falsePositives;
}
