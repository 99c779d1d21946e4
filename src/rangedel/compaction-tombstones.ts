/**
 * Range tombstones in a compaction (docs/internals.md, "Range deletes"): which
 * merged entries they delete for every reader, which of them the outputs keep,
 * and how they are split between the output tables.
 *
 * Snapshot stripes decide, as they do for point entries: a version at sequence
 * s under a tombstone at T > s is invisible to every reader when no live
 * snapshot lies in [s, T), that is when s and T fall in the same stripe; it is
 * dropped. Of the tombstones covering a fragment, only the newest of each stripe
 * matters (an older one in the same stripe deletes nothing the newer does not,
 * for any reader); and one in stripe 0 (seen by every reader) goes too when no
 * deeper level holds a key of its range, since every version it covered is then
 * dropped here. The rest are cut at the output tables' boundaries, each table
 * keeping the part of its own key range.
 */
import { compareBytes } from '../sstable/byte-ranges.js';
import type { Fragment } from './fragments.js';

/** A user-key range [smallest, largest], inclusive: a deeper table's span. */
export type InclusiveSpan = readonly [Buffer, Buffer];

export class CompactionTombstones {
  /** Fragments with each stripe's newest sequence: what deletes entries. */
  readonly #covering: readonly Fragment[];
  /** The fragments the outputs keep. */
  readonly #kept: readonly Fragment[];
  readonly #stripeOf: (seq: number) => number;
  /** The first covering fragment that may hold the next key asked about (keys are asked in ascending order). */
  #cursor = 0;
  /** Where the next output's share of the kept fragments begins (null: from the first). */
  #from: Buffer | null = null;
  #keptCursor = 0;

  /**
   * @param fragments The inputs' tombstones fragmented together and clipped to the compaction's share.
   * @param stripeOf The snapshot stripe of a sequence number (0: seen by every reader).
   * @param deeperSpans For each level below the output, its tables' spans in key order.
   */
  constructor(fragments: readonly Fragment[], stripeOf: (seq: number) => number, deeperSpans: readonly (readonly InclusiveSpan[])[]) {
    this.#stripeOf = stripeOf;
    const covering: Fragment[] = [];
    const kept: Fragment[] = [];
    for (const fragment of fragments) {
      const seqs: number[] = [];
      let lastStripe = -1;
      for (const seq of fragment.seqs) {
        const stripe = stripeOf(seq);
        if (stripe !== lastStripe) seqs.push(seq);
        lastStripe = stripe;
      }
      covering.push({ ...fragment, seqs });
      const bottom = stripeOf(seqs[seqs.length - 1]!) === 0 && !overlapsDeeper(fragment, deeperSpans);
      const keptSeqs = bottom ? seqs.slice(0, -1) : seqs;
      if (keptSeqs.length > 0) kept.push({ ...fragment, seqs: keptSeqs });
    }
    this.#covering = covering;
    this.#kept = kept;
  }

  get isEmpty(): boolean {
    return this.#covering.length === 0;
  }

  /**
   * Whether a tombstone deletes the version at `seq` of the user key
   * `key[0, keyLength)` for every reader. Keys must come in ascending order.
   */
  deletes(key: Buffer, keyLength: number, seq: number): boolean {
    const fragments = this.#covering;
    while (this.#cursor < fragments.length && compareBytes(fragments[this.#cursor]!.end, 0, fragments[this.#cursor]!.end.length, key, 0, keyLength) <= 0) this.#cursor++;
    const fragment = fragments[this.#cursor];
    if (fragment === undefined || compareBytes(fragment.start, 0, fragment.start.length, key, 0, keyLength) > 0) return false;
    // The oldest tombstone newer than the version: if any covering one shares its stripe, this one does.
    let older = 0;
    for (const tombstone of fragment.seqs) {
      if (tombstone <= seq) break;
      older = tombstone;
    }
    return older > 0 && this.#stripeOf(older) === this.#stripeOf(seq);
  }

  /**
   * The kept fragments from the end of the previous call up to `to` (exclusive;
   * null: all that are left), cut at both ends: the next output's share.
   */
  takeUntil(to: Buffer | null): Fragment[] {
    const out: Fragment[] = [];
    const from = this.#from;
    const fragments = this.#kept;
    while (this.#keptCursor < fragments.length) {
      const fragment = fragments[this.#keptCursor]!;
      if (to !== null && fragment.start.compare(to) >= 0) break;
      const start = from !== null && fragment.start.compare(from) < 0 ? from : fragment.start;
      const cutEnd = to !== null && fragment.end.compare(to) > 0;
      const end = cutEnd ? to : fragment.end;
      if (start.compare(end) < 0) out.push({ start, end, seqs: fragment.seqs });
      // A fragment cut at `to` goes on into the next output.
      if (cutEnd) break;
      this.#keptCursor++;
    }
    this.#from = to;
    return out;
  }
}

/** Whether a deeper level's table may hold a key of `fragment` ([start, end)). */
function overlapsDeeper(fragment: Fragment, deeperSpans: readonly (readonly InclusiveSpan[])[]): boolean {
  for (const spans of deeperSpans) {
    // The first span whose largest key is ≥ start; it overlaps when its smallest is < end.
    let low = 0;
    let high = spans.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (spans[middle]![1].compare(fragment.start) < 0) low = middle + 1;
      else high = middle;
    }
    const span = spans[low];
    if (span !== undefined && span[0].compare(fragment.end) < 0) return true;
  }
  return false;
}

/** `fragments` cut to the share [start, end) (either bound open when null). */
export function clipFragments(fragments: readonly Fragment[], start: Buffer | null, end: Buffer | null): Fragment[] {
  const out: Fragment[] = [];
  for (const fragment of fragments) {
    const from = start !== null && fragment.start.compare(start) < 0 ? start : fragment.start;
    const to = end !== null && fragment.end.compare(end) > 0 ? end : fragment.end;
    if (from.compare(to) < 0) out.push({ start: from, end: to, seqs: fragment.seqs });
  }
  return out;
}
