/**
 * The reference for transaction tests: it replays, in commit order, what a run
 * issued (transactions' commits and plain writes, in the order they entered the
 * write queue, which is the order they were sequenced in) and checks each
 * transaction against it:
 *
 * - every read (gets and scans, committed or not) saw the transaction's own
 *   writes over the database as of its snapshot;
 * - a committed transaction under `snapshot`: no other write to a key it wrote
 *   was sequenced between its snapshot and its commit (first committer wins);
 * - a committed transaction under `serializable`: its reads are also what it
 *   would have read in the serial order, just before its commit;
 * - a transaction refused with `CONFLICT` had a reason: a key it wrote (or, for
 *   serializable, read, or one in a range it scanned) was written between its
 *   snapshot and the point it was refused at.
 *
 * A range delete (plain, or a transaction's) writes every key in [start, end):
 * it takes one sequence number, hides older versions of the keys it covers, and
 * counts as a write to each of them (and to nothing else: an empty one touches
 * no key). A transaction's own range deletes hide the snapshot's keys from its
 * reads, except keys it wrote after them, and commit before its key writes.
 */
import type { IsolationLevel } from '../../src/index.js';

export type Value = string | undefined;

/** A range delete of [start, end). */
export interface RangeOp {
  start: string;
  end: string;
}

/** One op of a batch: a put (`[key, value]`), a delete (`[key, undefined]`), or a range delete. */
export type ModelOp = [string, Value] | RangeOp;

const isRange = (op: ModelOp): op is RangeOp => !Array.isArray(op);

/** Whether [a.start, a.end) and [b.start, b.end) share a key. */
const rangesMeet = (a: RangeOp, b: RangeOp): boolean => (a.start > b.start ? a.start : b.start) < (a.end < b.end ? a.end : b.end);

/** Whether `key` is in one of `ranges`. */
export const inRanges = (key: string, ranges: readonly RangeOp[] | undefined): boolean => (ranges ?? []).some((range) => key >= range.start && key < range.end);

export const NOT_OWN = Symbol('not own');

/**
 * A transaction's ranges after it deletes `range`, as it buffers them: merged
 * with every range it overlaps or touches (so the commit holds as many range
 * deletes as the transaction sends). An empty range changes nothing.
 */
export function mergeRange(ranges: readonly RangeOp[], range: RangeOp): RangeOp[] {
  if (range.start >= range.end) return [...ranges];
  let { start, end } = range;
  const kept: RangeOp[] = [];
  for (const other of ranges) {
    if (other.end < start || other.start > end) {
      kept.push(other);
    } else {
      if (other.start < start) start = other.start;
      if (other.end > end) end = other.end;
    }
  }
  kept.push({ start, end });
  return kept.sort((a, b) => (a.start < b.start ? -1 : 1));
}

/** What a transaction sees of `key` with its own writes and range deletes, or `NOT_OWN` when it reads the database. */
export function ownValue(key: string, own: Map<string, Value>, ownRanges: readonly RangeOp[] | undefined): Value | typeof NOT_OWN {
  if (own.has(key)) return own.get(key);
  return inRanges(key, ownRanges) ? undefined : NOT_OWN;
}

export interface ScanRange {
  gt?: string;
  gte?: string;
  lt?: string;
  lte?: string;
  reverse: boolean;
  limit: number;
}

/** One read of a transaction, with its own writes as they were when it read. */
export type TxRead =
  | { kind: 'get'; key: string; value: Value; own: Map<string, Value>; ownRanges?: RangeOp[] }
  | { kind: 'scan'; range: ScanRange; entries: [string, string][]; own: Map<string, Value>; ownRanges?: RangeOp[] };

export interface TxRecord {
  kind: 'tx';
  id: number;
  isolation: IsolationLevel;
  snapshot: number;
  reads: TxRead[];
  writes: Map<string, Value>;
  /** Its range deletes, merged (disjoint, in order): committed before its key writes, as the transaction sends them. */
  ranges?: RangeOp[];
  /** Set when the commit settles; `aborted` if it never committed. */
  outcome: 'pending' | 'committed' | 'conflict' | 'aborted';
}

export interface WriteRecord {
  kind: 'write';
  id: number;
  ops: ModelOp[];
}

export type Issued = TxRecord | WriteRecord;

/** Every version of every key, by sequence number. */
export class VersionedState {
  readonly #versions = new Map<string, { seq: number; value: Value }[]>();
  readonly #ranges: (RangeOp & { seq: number })[] = [];
  seq: number;

  constructor(seq = 0) {
    this.seq = seq;
  }

  apply(ops: Iterable<ModelOp>): void {
    for (const op of ops) {
      this.seq++;
      if (isRange(op)) {
        this.#ranges.push({ start: op.start, end: op.end, seq: this.seq });
        continue;
      }
      const [key, value] = op;
      let list = this.#versions.get(key);
      if (list === undefined) this.#versions.set(key, (list = []));
      list.push({ seq: this.seq, value });
    }
  }

  valueAt(key: string, seq: number): Value {
    const list = this.#versions.get(key) ?? [];
    let value: Value;
    let valueSeq = 0;
    for (const version of list) {
      if (version.seq > seq) break;
      value = version.value;
      valueSeq = version.seq;
    }
    const deleted = this.#ranges.some((range) => range.seq > valueSeq && range.seq <= seq && key >= range.start && key < range.end);
    return deleted ? undefined : value;
  }

  /** Whether `key` was written, or range-deleted, with a sequence number in (after, upTo]. */
  writtenBetween(key: string, after: number, upTo: number): boolean {
    if ((this.#versions.get(key) ?? []).some((version) => version.seq > after && version.seq <= upTo)) return true;
    return this.rangesBetween(after, upTo).some((range) => key >= range.start && key < range.end);
  }

  /** The range deletes with a sequence number in (after, upTo]. */
  rangesBetween(after: number, upTo: number): RangeOp[] {
    return this.#ranges.filter((range) => range.seq > after && range.seq <= upTo);
  }

  /** Whether a key of [range.start, range.end) was written, or range-deleted, with a sequence number in (after, upTo]. */
  rangeTouchedBetween(range: RangeOp, after: number, upTo: number): boolean {
    if (this.keys().some((key) => key >= range.start && key < range.end && this.writtenBetween(key, after, upTo))) return true;
    return this.rangesBetween(after, upTo).some((other) => rangesMeet(range, other));
  }

  keys(): string[] {
    return [...this.#versions.keys()].sort();
  }

  /** The live entries at `seq`, sorted. */
  entriesAt(seq: number): [string, string][] {
    const out: [string, string][] = [];
    for (const key of this.keys()) {
      const value = this.valueAt(key, seq);
      if (value !== undefined) out.push([key, value]);
    }
    return out;
  }
}

export function inScanRange(key: string, range: ScanRange): boolean {
  if (range.gt !== undefined && !(key > range.gt)) return false;
  if (range.gte !== undefined && !(key >= range.gte)) return false;
  if (range.lt !== undefined && !(key < range.lt)) return false;
  if (range.lte !== undefined && !(key <= range.lte)) return false;
  return true;
}

/** What a scan of `range` returns over `base`'s state at `seq` with `own` writes (and range deletes) merged in. */
export function expectedScan(state: VersionedState, seq: number, own: Map<string, Value>, range: ScanRange, ownRanges?: readonly RangeOp[]): [string, string][] {
  const keys = new Set([...state.keys(), ...own.keys()]);
  const out: [string, string][] = [];
  for (const key of [...keys].sort()) {
    if (!inScanRange(key, range)) continue;
    const mine = ownValue(key, own, ownRanges);
    const value = mine !== NOT_OWN ? mine : state.valueAt(key, seq);
    if (value !== undefined) out.push([key, value]);
  }
  if (range.reverse) out.reverse();
  return out.slice(0, range.limit);
}

/**
 * The keys a scan covered: its whole range, or up to the last key it returned
 * when it stopped at its limit (`ranOut`: with nothing after that key, the
 * iterator found its end and covered the whole range).
 */
function coveredBy(read: Extract<TxRead, { kind: 'scan' }>, key: string, ranOut = false): boolean {
  if (!inScanRange(key, read.range)) return false;
  if (ranOut || read.entries.length < read.range.limit) return true;
  const last = read.entries[read.entries.length - 1]![0];
  return read.range.reverse ? key >= last : key <= last;
}

/** Whether a scan covered a key of `range`: the first key of `range` past the scan's lower bounds, if the scan covered it. */
function scanMeets(read: Extract<TxRead, { kind: 'scan' }>, range: RangeOp, ranOut: boolean): boolean {
  const { gt, gte, reverse, limit } = read.range;
  let first = range.start;
  if (gt !== undefined && first <= gt) first = `${gt}\0`;
  if (gte !== undefined && first < gte) first = gte;
  if (reverse && !ranOut && read.entries.length >= limit) {
    const last = read.entries[read.entries.length - 1]![0];
    if (first < last) first = last;
  }
  return first < range.end && coveredBy(read, first, ranOut);
}

/** Statistics of a checked run. */
export interface CheckedRun {
  committed: number;
  conflicts: number;
  aborted: number;
  readOnly: number;
  /** Committed transactions that deleted ranges. */
  rangeDeleting: number;
  writes: number;
  finalSeq: number;
  state: VersionedState;
}

/**
 * Replays `issued` in order from `initialSeq` and checks every transaction;
 * throws an Error naming the transaction and what is wrong.
 */
export function checkRun(issued: readonly Issued[], initialSeq = 0): CheckedRun {
  const state = new VersionedState(initialSeq);
  const run: CheckedRun = { committed: 0, conflicts: 0, aborted: 0, readOnly: 0, rangeDeleting: 0, writes: 0, finalSeq: 0, state };
  for (const item of issued) {
    if (item.kind === 'write') {
      state.apply(item.ops);
      run.writes++;
      continue;
    }
    checkTransaction(item, state, run);
  }
  run.finalSeq = state.seq;
  return run;
}

function checkTransaction(tx: TxRecord, state: VersionedState, run: CheckedRun): void {
  const fail = (what: string): never => {
    throw new Error(`transaction ${tx.id} (${tx.isolation}, snapshot ${tx.snapshot}, issued at sequence ${state.seq}): ${what}`);
  };
  if (tx.snapshot > state.seq) fail('its snapshot is ahead of every write issued before its commit');
  // Reads at the snapshot, with read-your-writes.
  for (const read of tx.reads) {
    if (read.kind === 'get') {
      const mine = ownValue(read.key, read.own, read.ownRanges);
      const expected = mine !== NOT_OWN ? mine : state.valueAt(read.key, tx.snapshot);
      if (expected !== read.value) fail(`get ${read.key} saw ${String(read.value)}, its snapshot and own writes hold ${String(expected)}`);
    } else {
      const expected = expectedScan(state, tx.snapshot, read.own, read.range, read.ownRanges);
      if (JSON.stringify(expected) !== JSON.stringify(read.entries)) {
        fail(`scan ${JSON.stringify(read.range)} saw ${JSON.stringify(read.entries)}, expected ${JSON.stringify(expected)}`);
      }
    }
  }
  if (tx.outcome === 'aborted') {
    run.aborted++;
    return;
  }
  if (tx.outcome === 'pending') fail('its commit never settled');
  const written = (key: string): boolean => state.writtenBetween(key, tx.snapshot, state.seq);
  const changedKeys = state.keys().filter(written);
  const changedRanges = state.rangesBetween(tx.snapshot, state.seq);
  const ownRanges = tx.ranges ?? [];
  const rangeTouched = (range: RangeOp): boolean => state.rangeTouchedBetween(range, tx.snapshot, state.seq);
  // A scan that stopped at its limit with nothing after its last entry went on to find its end.
  const ranOut = (read: Extract<TxRead, { kind: 'scan' }>): boolean =>
    read.entries.length >= read.range.limit && expectedScan(state, tx.snapshot, read.own, { ...read.range, limit: read.range.limit + 1 }, read.ownRanges).length <= read.range.limit;
  if (tx.outcome === 'conflict') {
    const justified =
      [...tx.writes.keys()].some(written) ||
      ownRanges.some(rangeTouched) ||
      (tx.isolation === 'serializable' &&
        tx.reads.some((read) =>
          read.kind === 'get'
            ? written(read.key)
            : changedKeys.some((key) => coveredBy(read, key, ranOut(read))) || changedRanges.some((range) => scanMeets(read, range, ranOut(read))),
        ));
    if (!justified) fail('refused with CONFLICT, yet nothing it wrote or read was written after its snapshot');
    run.conflicts++;
    return;
  }
  // Committed.
  for (const key of tx.writes.keys()) if (written(key)) fail(`committed although ${key}, which it wrote, was written after its snapshot`);
  for (const range of ownRanges) if (rangeTouched(range)) fail(`committed although a key of [${range.start}, ${range.end}), which it deleted, was written after its snapshot`);
  if (tx.isolation === 'serializable') {
    // The serial order: its reads are what it reads just before its own commit.
    for (const read of tx.reads) {
      if (read.kind === 'get') {
        const mine = ownValue(read.key, read.own, read.ownRanges);
        const expected = mine !== NOT_OWN ? mine : state.valueAt(read.key, state.seq);
        if (expected !== read.value) fail(`serializable get ${read.key} saw ${String(read.value)}, the serial order holds ${String(expected)}`);
      } else {
        const expected = expectedScan(state, state.seq, read.own, read.range, read.ownRanges);
        if (JSON.stringify(expected) !== JSON.stringify(read.entries)) {
          fail(`serializable scan ${JSON.stringify(read.range)} saw ${JSON.stringify(read.entries)}, the serial order gives ${JSON.stringify(expected)}`);
        }
      }
    }
  }
  if (tx.writes.size === 0 && ownRanges.length === 0) run.readOnly++;
  if (ownRanges.length > 0) run.rangeDeleting++;
  state.apply([...ownRanges, ...[...tx.writes].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))]);
  run.committed++;
}
