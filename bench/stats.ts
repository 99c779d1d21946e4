/**
 * A bounded latency histogram (log-linear buckets, HdrHistogram-style) and the
 * percentiles read from it. A million samples cost one counter increment each;
 * the memory is a few thousand counters whatever the run's length.
 *
 * Buckets: values below 64 ns have a bucket each; above, every power of two is
 * split into 64 equal sub-buckets, so a reported percentile is within 1/64
 * (about 1.6%) of the true value.
 */

const SUB_BUCKET_BITS = 6;
const SUB_BUCKET_COUNT = 1 << SUB_BUCKET_BITS;
/** 2^44 ns is about 4.9 hours: far above any single operation. */
const VALUE_BITS_MAX = 44;
const BUCKET_COUNT = SUB_BUCKET_COUNT + (VALUE_BITS_MAX - SUB_BUCKET_BITS) * SUB_BUCKET_COUNT;
const TWO_POW_32 = 0x1_0000_0000;

/** The index of the highest set bit of a positive integer below 2^53. */
function highestBit(value: number): number {
  if (value >= TWO_POW_32) return 32 + (31 - Math.clz32(Math.floor(value / TWO_POW_32)));
  return 31 - Math.clz32(value);
}

function bucketIndex(valueNs: number): number {
  if (valueNs < SUB_BUCKET_COUNT) return valueNs;
  const bit = Math.min(highestBit(valueNs), VALUE_BITS_MAX - 1);
  const shift = bit - SUB_BUCKET_BITS;
  const sub = Math.min(SUB_BUCKET_COUNT - 1, Math.floor(valueNs / 2 ** shift) - SUB_BUCKET_COUNT);
  return SUB_BUCKET_COUNT + shift * SUB_BUCKET_COUNT + sub;
}

/** The largest value that falls in bucket `index` (percentiles report this upper edge). */
function bucketUpperNs(index: number): number {
  if (index < SUB_BUCKET_COUNT) return index;
  const shift = Math.floor((index - SUB_BUCKET_COUNT) / SUB_BUCKET_COUNT);
  const sub = (index - SUB_BUCKET_COUNT) % SUB_BUCKET_COUNT;
  return (SUB_BUCKET_COUNT + sub + 1) * 2 ** shift - 1;
}

/** Percentiles and extremes of one histogram, in microseconds. */
export interface LatencySummary {
  count: number;
  minUs: number;
  meanUs: number;
  p50Us: number;
  p90Us: number;
  p99Us: number;
  p999Us: number;
  maxUs: number;
  /** Non-empty buckets as [upper edge in ns, count], for re-analysis from the JSON. */
  buckets: [number, number][];
}

/** Latencies in nanoseconds. `record` is the hot path: no allocation. */
export class LatencyHistogram {
  readonly #counts = new Float64Array(BUCKET_COUNT);
  #count = 0;
  #sumNs = 0;
  #minNs = Infinity;
  #maxNs = 0;

  get count(): number {
    return this.#count;
  }

  /** Records one latency; negative values are clamped to 0. */
  record(valueNs: number): void {
    const value = valueNs > 0 ? Math.round(valueNs) : 0;
    this.#counts[bucketIndex(value)]!++;
    this.#count++;
    this.#sumNs += value;
    if (value < this.#minNs) this.#minNs = value;
    if (value > this.#maxNs) this.#maxNs = value;
  }

  /** The upper edge of the bucket holding the `fraction` quantile (exact max for 1). */
  quantileNs(fraction: number): number {
    if (this.#count === 0) return 0;
    if (fraction >= 1) return this.#maxNs;
    const rank = Math.max(1, Math.ceil(fraction * this.#count));
    let seen = 0;
    for (let index = 0; index < BUCKET_COUNT; index++) {
      seen += this.#counts[index]!;
      if (seen >= rank) return Math.min(bucketUpperNs(index), this.#maxNs);
    }
    return this.#maxNs;
  }

  summary(): LatencySummary {
    const us = (ns: number): number => ns / 1000;
    const buckets: [number, number][] = [];
    for (let index = 0; index < BUCKET_COUNT; index++) {
      const count = this.#counts[index]!;
      if (count > 0) buckets.push([bucketUpperNs(index), count]);
    }
    return {
      count: this.#count,
      minUs: this.#count === 0 ? 0 : us(this.#minNs),
      meanUs: this.#count === 0 ? 0 : us(this.#sumNs / this.#count),
      p50Us: us(this.quantileNs(0.5)),
      p90Us: us(this.quantileNs(0.9)),
      p99Us: us(this.quantileNs(0.99)),
      p999Us: us(this.quantileNs(0.999)),
      maxUs: us(this.#maxNs),
      buckets,
    };
  }
}
