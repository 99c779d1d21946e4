/**
 * Transactions in the crash simulation: a live transaction lives across
 * simulation steps (so writes land between its snapshot and its commit), reads
 * and scans are checked against its snapshot's state with its own writes merged
 * in, and the outcome of its commit is predicted exactly and then checked: it
 * conflicts if and only if a write issued after its snapshot (writes are
 * sequenced in issue order) touched a key it wrote or, serializable, a key it
 * read or one in a range it scanned; a range delete touches every key in its
 * range (an empty one touches none). A transaction's own range deletes hide the
 * snapshot's keys in their ranges from its reads (not its later writes there),
 * go first in its commit batch, merged as it merges them, and conflict like
 * writes of every key in them. A committed transaction is an ordinary
 * write of the epoch's history (one operation per key, in key order), so the
 * crash oracle checks it like any batch: all of it or none of it.
 */
import type { IsolationLevel, Transaction } from '../src/db/transaction.js';
import { ShaleError } from '../src/errors.js';
import { checkValueIntegrity, describeValue, expectedEntries, violation, type History, type State } from './oracle.js';
import type { SimOp, SimWrite } from './workload.js';

const keyText = (key: Buffer): string => key.toString('latin1');

/** A scanned range: `[gte, lt)`, either end open. */
interface ScannedRange {
  gte: Buffer | undefined;
  lt: Buffer | undefined;
}

export class SimTransaction {
  readonly tx: Transaction;
  readonly isolation: IsolationLevel;
  readonly writeId: number;
  /** The sequence number and the issued-write prefix of its snapshot. */
  readonly snapshotSeq: number;
  readonly snapshotPrefix: number;
  /** The epoch's history it belongs to: a crash starts another, and the transaction dies with the database. */
  readonly history: History;
  readonly #snapshotState: State;
  /** Its writes by key (latin1): a value, or undefined for a delete. */
  readonly #own = new Map<string, Buffer | undefined>();
  /** Its range deletes, `[start, end)`, merged (sorted, disjoint, none touching) as the transaction merges them. */
  #ownRanges: { start: Buffer; end: Buffer }[] = [];
  readonly #readKeys = new Set<string>();
  readonly #ranges: ScannedRange[] = [];
  #opIndex = 0;

  constructor(tx: Transaction, isolation: IsolationLevel, history: History, writeId: number) {
    this.tx = tx;
    this.isolation = isolation;
    this.history = history;
    this.writeId = writeId;
    this.snapshotSeq = Number(tx.snapshotSequence);
    const prefix = history.prefixForSeq(this.snapshotSeq);
    if (prefix === undefined) violation(`transaction snapshot at sequence ${this.snapshotSeq} is inside a write`);
    this.snapshotPrefix = prefix;
    this.#snapshotState = new Map(history.stateAt(prefix));
  }

  /** What the transaction must see: its snapshot with its own writes over it. */
  #view(): State {
    const view = new Map(this.#snapshotState);
    for (const key of view.keys()) if (this.#inOwnRange(Buffer.from(key, 'latin1'))) view.delete(key);
    for (const [key, value] of this.#own) {
      if (value === undefined) view.delete(key);
      else view.set(key, value);
    }
    return view;
  }

  /** The index of its next operation, for the value it puts. */
  nextOpIndex(): number {
    return this.#opIndex++;
  }

  put(key: Buffer, value: Buffer): void {
    this.tx.put(key, value);
    this.#own.set(keyText(key), value);
  }

  delete(key: Buffer): void {
    this.tx.delete(key);
    this.#own.set(keyText(key), undefined);
  }

  /** Deletes [start, end): its earlier writes there are dropped, the range merged with those it overlaps or touches. */
  deleteRange(start: Buffer, end: Buffer): void {
    this.tx.deleteRange(start, end);
    if (Buffer.compare(start, end) >= 0) return;
    for (const text of [...this.#own.keys()]) {
      const key = Buffer.from(text, 'latin1');
      if (Buffer.compare(key, start) >= 0 && Buffer.compare(key, end) < 0) this.#own.delete(text);
    }
    let merged = { start, end };
    const kept: { start: Buffer; end: Buffer }[] = [];
    for (const range of this.#ownRanges) {
      if (Buffer.compare(range.end, merged.start) < 0 || Buffer.compare(range.start, merged.end) > 0) {
        kept.push(range);
      } else {
        merged = {
          start: Buffer.compare(range.start, merged.start) < 0 ? range.start : merged.start,
          end: Buffer.compare(range.end, merged.end) > 0 ? range.end : merged.end,
        };
      }
    }
    kept.push(merged);
    this.#ownRanges = kept.sort((a, b) => Buffer.compare(a.start, b.start));
  }

  #inOwnRange(key: Buffer): boolean {
    return this.#ownRanges.some((range) => Buffer.compare(key, range.start) >= 0 && Buffer.compare(key, range.end) < 0);
  }

  async get(key: Buffer, where: string): Promise<void> {
    const text = keyText(key);
    const want = this.#view().get(text);
    // A key it wrote, or one in a range it deleted, is answered from its own writes: not a read of the database.
    if (!this.#own.has(text) && !this.#inOwnRange(key)) this.#readKeys.add(text);
    const got = await this.tx.get(key);
    if (got !== undefined) checkValueIntegrity(key, got, `${where}: transaction get`);
    if (want === undefined ? got !== undefined : got === undefined || !got.equals(want)) {
      violation(`${where}: transaction get(${text}) is ${describeValue(got)}, its snapshot and own writes hold ${describeValue(want)}`);
    }
  }

  async scan(gte: Buffer | undefined, lt: Buffer | undefined, reverse: boolean, where: string): Promise<number> {
    const options = { ...(gte === undefined ? {} : { gte }), ...(lt === undefined ? {} : { lt }), reverse };
    const expected = expectedEntries(this.#view(), options);
    this.#ranges.push({ gte, lt });
    const got = await this.tx.iterator(options).all();
    for (let i = 0; i < Math.max(got.length, expected.length); i++) {
      const have = got[i];
      const want = expected[i];
      if (have !== undefined) checkValueIntegrity(have[0], have[1], `${where}: transaction scan`);
      if (have === undefined || want === undefined || !have[0].equals(want[0]) || !have[1].equals(want[1])) {
        const show = (entry: [Buffer, Buffer] | undefined): string => (entry === undefined ? 'end' : `${keyText(entry[0])}=${describeValue(entry[1])}`);
        violation(`${where}: transaction scan entry ${i} is ${show(have)}, expected ${show(want)}`);
      }
    }
    return got.length;
  }

  /** Its commit batch: its merged range deletes, then one operation per key, in key order, as the transaction sends it. */
  write(sync: boolean): SimWrite {
    const ranges = this.#ownRanges.map((range): SimOp => ({ type: 'deleteRange', key: range.start, end: range.end }));
    const keyOps: SimOp[] = [...this.#own]
      .map(([text, value]): SimOp => (value === undefined ? { type: 'delete', key: Buffer.from(text, 'latin1') } : { type: 'put', key: Buffer.from(text, 'latin1'), value }))
      .sort((a, b) => Buffer.compare(a.key, b.key));
    return { writeId: this.writeId, kind: 'transaction', sync, ops: [...ranges, ...keyOps] };
  }

  /**
   * Whether a commit issued now must conflict: a write issued since the snapshot
   * (all of them are sequenced before the commit) touched what it checks.
   */
  mustConflict(): string | undefined {
    const serializable = this.isolation === 'serializable';
    const writes = this.history.writes;
    for (let i = this.snapshotPrefix; i < writes.length; i++) {
      for (const op of writes[i]!.ops) {
        if (op.type === 'deleteRange') {
          const found = this.#rangeConflict(op.key, op.end);
          if (found !== undefined) return `w${writes[i]!.writeId} deleted [${keyText(op.key)}, ${keyText(op.end)}), ${found}`;
          continue;
        }
        const text = keyText(op.key);
        if (this.#inOwnRange(op.key)) return `w${writes[i]!.writeId} wrote ${text}, in a range it deletes`;
        if (this.#own.has(text)) return `w${writes[i]!.writeId} wrote ${text}, which it writes`;
        if (!serializable) continue;
        if (this.#readKeys.has(text)) return `w${writes[i]!.writeId} wrote ${text}, which it read`;
        for (const range of this.#ranges) {
          if ((range.gte === undefined || Buffer.compare(op.key, range.gte) >= 0) && (range.lt === undefined || Buffer.compare(op.key, range.lt) < 0)) {
            return `w${writes[i]!.writeId} wrote ${text}, in a range it scanned`;
          }
        }
      }
    }
    return undefined;
  }

  /** What a range delete of [start, end) issued since the snapshot touched that it checks (the history records it as that range). */
  #rangeConflict(start: Buffer, end: Buffer): string | undefined {
    const inside = (text: string): boolean => {
      const key = Buffer.from(text, 'latin1');
      return Buffer.compare(key, start) >= 0 && Buffer.compare(key, end) < 0;
    };
    for (const text of this.#own.keys()) if (inside(text)) return `holding ${text}, which it writes`;
    for (const range of this.#ownRanges) {
      const low = Buffer.compare(start, range.start) >= 0 ? start : range.start;
      if (Buffer.compare(low, end) < 0 && Buffer.compare(low, range.end) < 0) return 'overlapping a range it deletes';
    }
    if (this.isolation !== 'serializable') return undefined;
    for (const text of this.#readKeys) if (inside(text)) return `holding ${text}, which it read`;
    for (const range of this.#ranges) {
      // [gte, lt) and [start, end) share a key when the larger start is below the smaller end.
      const low = range.gte === undefined || Buffer.compare(start, range.gte) >= 0 ? start : range.gte;
      if (Buffer.compare(low, end) < 0 && (range.lt === undefined || Buffer.compare(low, range.lt) < 0)) return 'overlapping a range it scanned';
    }
    return undefined;
  }
}

/** Whether `err` is the conflict a commit may end in. */
export function isConflict(err: unknown): boolean {
  return err instanceof ShaleError && err.code === 'CONFLICT';
}
