/**
 * The reference model for the database tests: a Map of user keys to values, and a
 * cursor that replays what a `ShaleIterator` should yield (range, direction,
 * limit, seek). It finds positions by sorting and linear scans with
 * `Buffer.compare`, so it shares no code with the engine's search paths.
 */
import type { Rng } from '../../src/testing/index.js';

/** Range options as `db.iterator()` takes them: every bound given applies. */
export interface ModelRange {
  gt?: Buffer;
  gte?: Buffer;
  lt?: Buffer;
  lte?: Buffer;
}

export type Pair = [Buffer, Buffer];

/** An entry with the time it expires (Infinity: never), for a cursor that judges expiry as it moves. */
export type TimedPair = [Buffer, Buffer, number];

/** The model's time: what expiring entries are judged by, shared by a model and its snapshot clones. */
export interface ModelTime {
  /** The database's (monotone) time, in ms. */
  readonly nowMs: number;
}

const NEVER_TIME: ModelTime = { nowMs: 0 };

/** A key as a test message shows it: quoted when printable ASCII, else hex; its length when long. */
export function showKey(key: Uint8Array): string {
  const bytes = Buffer.from(key.buffer, key.byteOffset, key.byteLength);
  const printable = bytes.every((byte) => byte >= 0x20 && byte < 0x7f && byte !== 0x22 && byte !== 0x5c);
  const text = printable ? `"${bytes.toString('latin1')}"` : `0x${bytes.toString('hex')}`;
  return text.length > 40 ? `${text.slice(0, 36)}…(${bytes.length} bytes)` : text;
}

/** A value as a test message shows it: its length and first bytes. */
export function showValue(value: Uint8Array | undefined): string {
  if (value === undefined) return 'undefined';
  const bytes = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  return `${bytes.length}B:${bytes.subarray(0, 6).toString('hex')}`;
}

export function showRange(range: ModelRange): string {
  return (['gt', 'gte', 'lt', 'lte'] as const)
    .filter((bound) => range[bound] !== undefined)
    .map((bound) => `${bound} ${showKey(range[bound]!)}`)
    .join(', ');
}

export function inRange(key: Buffer, range: ModelRange): boolean {
  if (range.gt !== undefined && Buffer.compare(key, range.gt) <= 0) return false;
  if (range.gte !== undefined && Buffer.compare(key, range.gte) < 0) return false;
  if (range.lt !== undefined && Buffer.compare(key, range.lt) >= 0) return false;
  if (range.lte !== undefined && Buffer.compare(key, range.lte) > 0) return false;
  return true;
}

/**
 * The database's expected content. Keys are held as hex strings; values are never
 * shared with the caller. An entry put with an expiry time is absent from the
 * moment `time.nowMs` reaches it, and (being the key's latest write) hides
 * whatever the key held before.
 */
export class Model {
  readonly #values = new Map<string, Buffer>();
  /** Expiry times of the keys whose latest write expires. */
  readonly #expiries = new Map<string, number>();
  readonly #time: ModelTime;
  #sorted: TimedPair[] | undefined;
  /** Writes applied: puts, deletes and range deletes, one each, as the engine numbers them. */
  sequence = 0;

  constructor(time: ModelTime = NEVER_TIME) {
    this.#time = time;
  }

  /** A put; with `expiresAtMs` one that is gone from that time on. */
  put(key: Buffer, value: Buffer, expiresAtMs?: number): void {
    const hex = key.toString('hex');
    this.#values.set(hex, Buffer.from(value));
    if (expiresAtMs === undefined) this.#expiries.delete(hex);
    else this.#expiries.set(hex, expiresAtMs);
    this.#sorted = undefined;
    this.sequence++;
  }

  delete(key: Buffer): void {
    const hex = key.toString('hex');
    this.#values.delete(hex);
    this.#expiries.delete(hex);
    this.#sorted = undefined;
    this.sequence++;
  }

  /** Deletes every key in [start, end), expired or not: one write, as the engine numbers it. */
  deleteRange(start: Buffer, end: Buffer): void {
    for (const hex of [...this.#values.keys()]) {
      const key = Buffer.from(hex, 'hex');
      if (Buffer.compare(key, start) < 0 || Buffer.compare(key, end) >= 0) continue;
      this.#values.delete(hex);
      this.#expiries.delete(hex);
    }
    this.#sorted = undefined;
    this.sequence++;
  }

  get(key: Buffer): Buffer | undefined {
    const hex = key.toString('hex');
    const expiresAtMs = this.#expiries.get(hex);
    if (expiresAtMs !== undefined && expiresAtMs <= this.#time.nowMs) return undefined;
    return this.#values.get(hex);
  }

  /** Every live entry (not expired now) in key order (memcmp). */
  entries(): readonly Pair[] {
    const nowMs = this.#time.nowMs;
    return this.timedEntries()
      .filter((entry) => entry[2] > nowMs)
      .map(([key, value]): Pair => [key, value]);
  }

  /** Every entry written and not deleted, expired or not, with its expiry time (Infinity: never). Shared: do not change it. */
  timedEntries(): readonly TimedPair[] {
    this.#sorted ??= [...this.#values]
      .map(([hex, value]): TimedPair => [Buffer.from(hex, 'hex'), value, this.#expiries.get(hex) ?? Infinity])
      .sort((a, b) => Buffer.compare(a[0], b[0]));
    return this.#sorted;
  }

  /** The time this model judges expiry by. */
  get time(): ModelTime {
    return this.#time;
  }

  /** An independent copy: the state at this moment, for a snapshot (judged by the same, current, time), or for another database judged by `time`. */
  clone(time: ModelTime = this.#time): Model {
    const copy = new Model(time);
    for (const [hex, value] of this.#values) copy.#values.set(hex, value);
    for (const [hex, expiresAtMs] of this.#expiries) copy.#expiries.set(hex, expiresAtMs);
    copy.sequence = this.sequence;
    return copy;
  }
}

/**
 * What a `ShaleIterator` over `entries` with these options yields, step by step.
 * `seek` to a target outside the range ends the iteration; `limit` counts every
 * entry yielded, across seeks. Entries given with an expiry time (`TimedPair`)
 * are judged at each `take` by `time`: one expired by then is skipped, as the
 * engine's iterator judges expiry at each call.
 */
export class ModelCursor {
  readonly #view: (Pair | TimedPair)[];
  readonly #range: ModelRange;
  readonly #reverse: boolean;
  readonly #limit: number;
  readonly #time: ModelTime;
  #index = 0;
  #count = 0;

  constructor(entries: readonly (Pair | TimedPair)[], range: ModelRange, reverse: boolean, limit: number, time: ModelTime = NEVER_TIME) {
    const view = entries.filter(([key]) => inRange(key, range));
    this.#view = reverse ? view.reverse() : view;
    this.#range = range;
    this.#reverse = reverse;
    this.#limit = limit < 0 ? Infinity : limit;
    this.#time = time;
  }

  /** Up to `size` next entries. */
  take(size: number): Pair[] {
    const out: Pair[] = [];
    const nowMs = this.#time.nowMs;
    while (out.length < size && this.#count < this.#limit && this.#index < this.#view.length) {
      const entry = this.#view[this.#index++]!;
      if (entry.length === 3 && entry[2] <= nowMs) continue;
      out.push([entry[0], entry[1]]);
      this.#count++;
    }
    return out;
  }

  /** Everything left. */
  rest(): Pair[] {
    return this.take(Infinity);
  }

  seek(target: Buffer): void {
    if (!inRange(target, this.#range)) {
      this.#index = this.#view.length;
      return;
    }
    const index = this.#view.findIndex(([key]) => (this.#reverse ? Buffer.compare(key, target) <= 0 : Buffer.compare(key, target) >= 0));
    this.#index = index < 0 ? this.#view.length : index;
  }
}

/**
 * The first difference between two entry lists, described for a failure
 * message, or undefined when they are equal.
 */
export function firstDifference(actual: readonly Pair[], expected: readonly Pair[]): string | undefined {
  const common = Math.min(actual.length, expected.length);
  for (let i = 0; i < common; i++) {
    const [aKey, aValue] = actual[i]!;
    const [eKey, eValue] = expected[i]!;
    if (!aKey.equals(eKey)) return `entry ${i}: key ${showKey(aKey)}, expected ${showKey(eKey)}`;
    if (!aValue.equals(eValue)) return `entry ${i} (key ${showKey(aKey)}): value ${showValue(aValue)}, expected ${showValue(eValue)}`;
  }
  if (actual.length !== expected.length) {
    const extra = actual.length > expected.length ? `extra ${showKey(actual[common]![0])}` : `missing ${showKey(expected[common]![0])}`;
    return `${actual.length} entries, expected ${expected.length} (first ${extra} at ${common})`;
  }
  return undefined;
}

/**
 * A small key space with every shape that has tripped up LSM engines: the empty
 * key, keys that are prefixes of each other, 0x00 and 0xff bytes, a few long keys.
 * `written` are the keys the workload writes (the fixed shapes always among them);
 * `missing` are never written: probes for gets, bounds and seeks that fall
 * between and beyond the written keys.
 */
export function keySpace(rng: Rng, writtenCount: number): { written: Buffer[]; missing: Buffer[] } {
  const alphabet = [0x00, 0x01, 0x61, 0x62, 0x63, 0x7f, 0x80, 0xfe, 0xff];
  const latin1 = (texts: string[]): Buffer[] => texts.map((text) => Buffer.from(text, 'latin1'));
  const fixedWritten = latin1(['', 'a', 'aa', 'aaa', 'ab', 'b', 'ba', 'a\x00', '\x00', '\x00\x00', '\xff', '\xff\xff']);
  const fixedMissing = latin1(['a\x00\x00', 'aab', '\x00\x01', 'a\xff', '\xff\xff\xff', 'c']);
  const seen = new Set([...fixedWritten, ...fixedMissing].map((key) => key.toString('hex')));
  const random: Buffer[] = [];
  while (random.length < Math.max(0, writtenCount - fixedWritten.length) * 2 + 10) {
    const pool = [...fixedWritten, ...random];
    let key: Buffer;
    const roll = rng.int(10);
    if (roll < 4) {
      // Extend an existing key: prefixes of each other.
      key = Buffer.concat([rng.pick(pool), Buffer.from(Array.from({ length: rng.range(1, 3) }, () => rng.pick(alphabet)))]);
    } else if (roll < 9) {
      key = Buffer.from(Array.from({ length: rng.range(1, 8) }, () => rng.pick(alphabet)));
    } else {
      // A long key (longer than a 64-byte block), sharing a prefix with a short one.
      key = Buffer.concat([rng.pick(pool), rng.bytes(rng.range(20, 300))]);
    }
    const hex = key.toString('hex');
    if (seen.has(hex)) continue;
    seen.add(hex);
    random.push(key);
  }
  // Shuffle the random keys, then split them between written and missing.
  for (let i = random.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const swap = random[i]!;
    random[i] = random[j]!;
    random[j] = swap;
  }
  const split = Math.max(0, writtenCount - fixedWritten.length);
  return { written: [...fixedWritten, ...random.slice(0, split)], missing: [...fixedMissing, ...random.slice(split)] };
}

/** A value of a random size: often small, sometimes empty, sometimes a few KiB. */
export function randomValue(rng: Rng): Buffer {
  const roll = rng.int(100);
  if (roll < 10) return Buffer.alloc(0);
  if (roll < 70) return rng.bytes(rng.range(1, 32));
  if (roll < 92) return rng.bytes(rng.range(33, 400));
  return rng.bytes(rng.range(1024, 5000));
}
