/**
 * The transaction model test: seeded runs of concurrent transactions (reads,
 * scans, writes, commits and aborts interleaved across several actors, with plain
 * writes, flushes and compactions among them) at both isolation levels, checked
 * against a reference that replays committed transactions in commit order
 * (`transaction-model.ts`): every read matches the snapshot plus the
 * transaction's own writes, every commit is legal for its isolation level, every
 * conflict has a cause, and the database ends (and reopens) equal to the replay.
 *
 * Each run prints its seed; `SEED=<n>` replays it (on the in-memory file system
 * the interleaving is the seed's alone). `SEEDS` and `TXNS` size the runs.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DB, ShaleError, type IsolationLevel, type Transaction } from '../../src/index.js';
import { CrashableFS, Rng } from '../../src/testing/index.js';
import { testSeed } from '../helpers.js';
import { checkRun, mergeRange, type Issued, type ModelOp, type RangeOp, type ScanRange, type TxRecord } from './transaction-model.js';

const SEEDS = Number(process.env['SEEDS'] ?? 3);
const TXNS = Number(process.env['TXNS'] ?? 400);
const ACTORS = 8;
const KEY_COUNT = 24;

const keyName = (index: number): string => `k${String(index).padStart(2, '0')}`;

type Mode = IsolationLevel | 'mixed';

class Run {
  readonly #rng: Rng;
  readonly #db: DB;
  readonly #mode: Mode;
  readonly issued: Issued[] = [];
  #nextId = 0;
  #budget: number;
  #valueCount = 0;

  constructor(rng: Rng, db: DB, mode: Mode, transactions: number) {
    this.#rng = rng;
    this.#db = db;
    this.#mode = mode;
    this.#budget = transactions;
  }

  async actor(): Promise<void> {
    while (this.#budget > 0) {
      this.#budget--;
      const roll = this.#rng.float();
      if (roll < 0.12) await this.#plainWrite();
      else if (roll < 0.14) await this.#db.flush();
      else if (roll < 0.15) await this.#db.compactRange();
      else await this.#transaction();
      if (this.#rng.bool(0.1)) this.#db.checkInvariants();
    }
  }

  #key(): string {
    return keyName(this.#rng.int(KEY_COUNT));
  }

  #value(): string {
    return `v${this.#valueCount++}`;
  }

  async #pause(): Promise<void> {
    const kind = this.#rng.int(3);
    if (kind === 1) await Promise.resolve();
    else if (kind === 2) await new Promise((resolve) => setImmediate(resolve));
  }

  /** A plain write: puts and deletes of a few keys, sometimes a range delete among them (or alone, through `db.deleteRange`). */
  async #plainWrite(): Promise<void> {
    const keys = new Set<string>();
    const count = this.#rng.bool(0.7) ? 1 : this.#rng.range(2, 4);
    for (let i = 0; i < count; i++) keys.add(this.#key());
    let ops: ModelOp[] = [...keys].map((key) => [key, this.#rng.bool(0.8) ? this.#value() : undefined]);
    const roll = this.#rng.float();
    if (roll < 0.12) ops = [this.#deletedRange()];
    else if (roll < 0.25) ops.splice(this.#rng.int(ops.length + 1), 0, this.#deletedRange());
    this.issued.push({ kind: 'write', id: this.#nextId++, ops });
    const sync = this.#rng.bool(0.2);
    const only = ops.length === 1 ? ops[0]! : undefined;
    if (only !== undefined && !Array.isArray(only) && this.#rng.bool()) {
      await this.#db.deleteRange(only.start, only.end, { sync });
      return;
    }
    await this.#db.write(
      ops.map((op) =>
        !Array.isArray(op)
          ? { type: 'deleteRange' as const, start: op.start, end: op.end }
          : op[1] === undefined
            ? { type: 'delete' as const, key: op[0] }
            : { type: 'put' as const, key: op[0], value: op[1] },
      ),
      { sync },
    );
  }

  /** A range of up to a few keys, sometimes empty, sometimes reaching past the last key. */
  #deletedRange(): RangeOp {
    const a = this.#rng.int(KEY_COUNT);
    const b = Math.min(KEY_COUNT, a + this.#rng.range(0, 5));
    return { start: keyName(a), end: keyName(b) };
  }

  async #transaction(): Promise<void> {
    const isolation: IsolationLevel = this.#mode === 'mixed' ? this.#rng.pick(['snapshot', 'serializable'] as const) : this.#mode;
    const tx = this.#db.transaction({ isolation });
    const record: TxRecord = { kind: 'tx', id: this.#nextId++, isolation, snapshot: Number(tx.snapshotSequence), reads: [], writes: new Map(), outcome: 'pending' };
    const steps = this.#rng.range(1, 7);
    for (let step = 0; step < steps; step++) {
      await this.#pause();
      await this.#step(tx, record);
    }
    await this.#pause();
    if (this.#rng.bool(0.1)) {
      tx.abort();
      record.outcome = 'aborted';
      this.issued.push(record);
      return;
    }
    // Pushed as the commit enters the write queue: the replay's order is the queue's.
    this.issued.push(record);
    try {
      await tx.commit({ sync: this.#rng.bool(0.2) });
      record.outcome = 'committed';
    } catch (err) {
      if (!(err instanceof ShaleError) || err.code !== 'CONFLICT') throw err;
      record.outcome = 'conflict';
    }
  }

  async #step(tx: Transaction, record: TxRecord): Promise<void> {
    const roll = this.#rng.float();
    const own = new Map(record.writes);
    const ownRanges = [...(record.ranges ?? [])];
    if (roll < 0.25) {
      const key = this.#key();
      const value = this.#rng.bool() ? await tx.get(key) : tx.getSync(key);
      record.reads.push({ kind: 'get', key, value: value?.toString(), own, ownRanges });
    } else if (roll < 0.35) {
      const keys = [this.#key(), this.#key()];
      const values = await tx.getMany(keys);
      keys.forEach((key, i) => record.reads.push({ kind: 'get', key, value: values[i]?.toString(), own, ownRanges }));
    } else if (roll < 0.5) {
      const range = this.#scanRange();
      const iterator = tx.iterator({ ...range, limit: range.limit === Infinity ? -1 : range.limit });
      const entries = (await iterator.all()).map(([key, value]): [string, string] => [key.toString(), value.toString()]);
      record.reads.push({ kind: 'scan', range, entries, own, ownRanges });
    } else if (roll < 0.8) {
      const key = this.#key();
      const value = this.#value();
      tx.put(key, value);
      record.writes.set(key, value);
    } else if (roll < 0.9) {
      // A range delete drops the transaction's earlier writes in its range; later ones win over it.
      const range = this.#deletedRange();
      tx.deleteRange(range.start, range.end);
      for (const key of [...record.writes.keys()]) if (key >= range.start && key < range.end) record.writes.delete(key);
      record.ranges = mergeRange(record.ranges ?? [], range);
    } else {
      const key = this.#key();
      tx.delete(key);
      record.writes.set(key, undefined);
    }
  }

  #scanRange(): ScanRange {
    const range: ScanRange = { reverse: this.#rng.bool(), limit: this.#rng.bool(0.3) ? this.#rng.range(1, 4) : Infinity };
    const a = this.#rng.int(KEY_COUNT);
    const b = Math.min(KEY_COUNT, a + this.#rng.range(1, 8));
    if (this.#rng.bool(0.8)) range[this.#rng.bool() ? 'gte' : 'gt'] = keyName(a);
    if (this.#rng.bool(0.8)) range[this.#rng.bool() ? 'lt' : 'lte'] = keyName(b);
    return range;
  }
}

async function runModel(seed: number, mode: Mode): Promise<void> {
  const rng = new Rng(seed);
  const fs = new CrashableFS();
  const options = { fs, memtableSizeBytes: 4096, memtableNodeSizeMax: 4, l0CompactionTrigger: 2, levelBaseBytes: 8192, targetFileSizeBytes: 2048 };
  const db = await DB.open('/db', options);
  const run = new Run(rng, db, mode, TXNS);
  try {
    await Promise.all(Array.from({ length: ACTORS }, () => run.actor()));
    const checked = checkRun(run.issued);
    assert.equal(Number(db.latestSequence), checked.finalSeq, 'the replay gave out as many sequence numbers as the database');
    const expected = checked.state.entriesAt(checked.finalSeq);
    const actual = async (d: DB): Promise<[string, string][]> => (await d.iterator().all()).map(([k, v]) => [k.toString(), v.toString()]);
    assert.deepEqual(await actual(db), expected);
    db.checkInvariants();
    await db.close();
    const reopened = await DB.open('/db', options);
    assert.deepEqual(await actual(reopened), expected);
    await reopened.close();
    console.log(`# ${mode}: ${checked.committed} committed (${checked.readOnly} read-only), ${checked.conflicts} conflicts, ${checked.aborted} aborted, ${checked.writes} plain writes; ${checked.rangeDeleting} committed with range deletes`);
    assert.ok(checked.committed > 0 && checked.conflicts > 0, 'the run both committed and conflicted');
    assert.ok(checked.rangeDeleting > 0, 'some committed transactions deleted ranges');
  } finally {
    if (db.isOpen) await db.close();
  }
}

describe('transaction model', () => {
  for (let i = 0; i < SEEDS; i++) {
    for (const mode of ['snapshot', 'serializable', 'mixed'] as const) {
      it(`concurrent ${mode} transactions match the serial replay (run ${i})`, async () => {
        const seed = testSeed(`transaction model ${mode} ${i}`);
        try {
          await runModel(seed, mode);
        } catch (err) {
          throw new Error(`seed ${seed} (replay with SEED=${seed}): ${(err as Error).message}`, { cause: err });
        }
      });
    }
  }
});
