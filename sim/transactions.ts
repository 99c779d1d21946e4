/**
 * Transactions in the crash simulation: a live transaction lives across
 * simulation steps (so writes land between its snapshot and its commit), reads
 * and scans are checked against its snapshot's state with its own writes merged
 * in, and the outcome of its commit is predicted exactly and then checked: it
 * conflicts if and only if a write issued after its snapshot (writes are
 * sequenced in issue order) touched a key it wrote or, serializable, a key it
 * read or one in a range it scanned. A committed transaction is an ordinary
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

  async get(key: Buffer, where: string): Promise<void> {
    const text = keyText(key);
    const want = this.#view().get(text);
    if (!this.#own.has(text)) this.#readKeys.add(text);
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

  /** Its commit batch: one operation per key, in key order, as the transaction sends it. */
  write(sync: boolean): SimWrite {
    const ops: SimOp[] = [...this.#own]
      .map(([text, value]): SimOp => (value === undefined ? { type: 'delete', key: Buffer.from(text, 'latin1') } : { type: 'put', key: Buffer.from(text, 'latin1'), value }))
      .sort((a, b) => Buffer.compare(a.key, b.key));
    return { writeId: this.writeId, kind: 'transaction', sync, ops };
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
        // A range delete ([key, end), once range deletes are in the workload) conflicts with what it covers.
        const end = (op as { end?: Buffer }).end;
        if ((op.type as string) === 'deleteRange' && end !== undefined) {
          const covered = this.#coveredBy(op.key, end);
          if (covered !== undefined) return `w${writes[i]!.writeId} deleted [${keyText(op.key)}, ${keyText(end)}), ${covered}`;
          continue;
        }
        const text = keyText(op.key);
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

  /** What of the transaction's checked keys and ranges the range delete [start, end) covers, if anything. */
  #coveredBy(start: Buffer, end: Buffer): string | undefined {
    const inside = (key: Buffer): boolean => Buffer.compare(start, key) <= 0 && Buffer.compare(key, end) < 0;
    for (const text of this.#own.keys()) if (inside(Buffer.from(text, 'latin1'))) return `holding ${text}, which it writes`;
    if (this.isolation !== 'serializable') return undefined;
    for (const text of this.#readKeys) if (inside(Buffer.from(text, 'latin1'))) return `holding ${text}, which it read`;
    for (const range of this.#ranges) {
      // [gte, lt) and [start, end) overlap when each starts below the other's end.
      const first = range.gte === undefined || Buffer.compare(range.gte, start) < 0 ? start : range.gte;
      if (Buffer.compare(first, end) < 0 && (range.lt === undefined || Buffer.compare(first, range.lt) < 0)) return 'overlapping a range it scanned';
    }
    return undefined;
  }
}

/** Whether `err` is the conflict a commit may end in. */
export function isConflict(err: unknown): boolean {
  return err instanceof ShaleError && err.code === 'CONFLICT';
}
