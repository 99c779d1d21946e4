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
 */
import type { IsolationLevel } from '../../src/index.js';

export type Value = string | undefined;

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
  | { kind: 'get'; key: string; value: Value; own: Map<string, Value> }
  | { kind: 'scan'; range: ScanRange; entries: [string, string][]; own: Map<string, Value> };

export interface TxRecord {
  kind: 'tx';
  id: number;
  isolation: IsolationLevel;
  snapshot: number;
  reads: TxRead[];
  writes: Map<string, Value>;
  /** Set when the commit settles; `aborted` if it never committed. */
  outcome: 'pending' | 'committed' | 'conflict' | 'aborted';
}

export interface WriteRecord {
  kind: 'write';
  id: number;
  ops: [string, Value][];
}

export type Issued = TxRecord | WriteRecord;

/** Every version of every key, by sequence number. */
export class VersionedState {
  readonly #versions = new Map<string, { seq: number; value: Value }[]>();
  seq: number;

  constructor(seq = 0) {
    this.seq = seq;
  }

  apply(ops: Iterable<[string, Value]>): void {
    for (const [key, value] of ops) {
      this.seq++;
      let list = this.#versions.get(key);
      if (list === undefined) this.#versions.set(key, (list = []));
      list.push({ seq: this.seq, value });
    }
  }

  valueAt(key: string, seq: number): Value {
    const list = this.#versions.get(key) ?? [];
    let value: Value;
    for (const version of list) {
      if (version.seq > seq) break;
      value = version.value;
    }
    return value;
  }

  /** Whether `key` was written with a sequence number in (after, upTo]. */
  writtenBetween(key: string, after: number, upTo: number): boolean {
    return (this.#versions.get(key) ?? []).some((version) => version.seq > after && version.seq <= upTo);
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

/** What a scan of `range` returns over `base`'s state at `seq` with `own` writes merged in. */
export function expectedScan(state: VersionedState, seq: number, own: Map<string, Value>, range: ScanRange): [string, string][] {
  const keys = new Set([...state.keys(), ...own.keys()]);
  const out: [string, string][] = [];
  for (const key of [...keys].sort()) {
    if (!inScanRange(key, range)) continue;
    const value = own.has(key) ? own.get(key) : state.valueAt(key, seq);
    if (value !== undefined) out.push([key, value]);
  }
  if (range.reverse) out.reverse();
  return out.slice(0, range.limit);
}

/**
 * The keys a scan covered: its whole range when it ran out (fewer entries than
 * its limit, or exactly as many as the range held), else up to the last key it
 * returned. `held` is how many entries the range held at the snapshot.
 */
function coveredBy(read: Extract<TxRead, { kind: 'scan' }>, held: number, key: string): boolean {
  if (!inScanRange(key, read.range)) return false;
  if (read.entries.length < read.range.limit || held <= read.entries.length) return true;
  const last = read.entries[read.entries.length - 1]![0];
  return read.range.reverse ? key >= last : key <= last;
}

/** Statistics of a checked run. */
export interface CheckedRun {
  committed: number;
  conflicts: number;
  aborted: number;
  readOnly: number;
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
  const run: CheckedRun = { committed: 0, conflicts: 0, aborted: 0, readOnly: 0, writes: 0, finalSeq: 0, state };
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
      const expected = read.own.has(read.key) ? read.own.get(read.key) : state.valueAt(read.key, tx.snapshot);
      if (expected !== read.value) fail(`get ${read.key} saw ${String(read.value)}, its snapshot and own writes hold ${String(expected)}`);
    } else {
      const expected = expectedScan(state, tx.snapshot, read.own, read.range);
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
  if (tx.outcome === 'conflict') {
    const justified =
      [...tx.writes.keys()].some(written) ||
      (tx.isolation === 'serializable' &&
        tx.reads.some((read) => {
          if (read.kind === 'get') return written(read.key);
          const held = expectedScan(state, tx.snapshot, read.own, { ...read.range, limit: Infinity }).length;
          return changedKeys.some((key) => coveredBy(read, held, key));
        }));
    if (!justified) fail('refused with CONFLICT, yet nothing it wrote or read was written after its snapshot');
    run.conflicts++;
    return;
  }
  // Committed.
  for (const key of tx.writes.keys()) if (written(key)) fail(`committed although ${key}, which it wrote, was written after its snapshot`);
  if (tx.isolation === 'serializable') {
    // The serial order: its reads are what it reads just before its own commit.
    for (const read of tx.reads) {
      if (read.kind === 'get') {
        const expected = read.own.has(read.key) ? read.own.get(read.key) : state.valueAt(read.key, state.seq);
        if (expected !== read.value) fail(`serializable get ${read.key} saw ${String(read.value)}, the serial order holds ${String(expected)}`);
      } else {
        const expected = expectedScan(state, state.seq, read.own, read.range);
        if (JSON.stringify(expected) !== JSON.stringify(read.entries)) {
          fail(`serializable scan ${JSON.stringify(read.range)} saw ${JSON.stringify(read.entries)}, the serial order gives ${JSON.stringify(expected)}`);
        }
      }
    }
  }
  if (tx.writes.size === 0) run.readOnly++;
  state.apply([...tx.writes].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  run.committed++;
}
