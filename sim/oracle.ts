/**
 * The simulator's oracle: what the database must hold, given the writes issued
 * and the ones acknowledged, and the checks that compare it with what a database
 * returns (docs/durability.md, "The contract").
 *
 * `History` is the issued-write sequence of one epoch (from an open to the next
 * crash): its base state (what the epoch started from), the writes in issue order
 * (which is also sequence order: one writer takes the queue oldest first), and
 * which were acknowledged. The state after any prefix of it is derived, never
 * stored: a single materialized state is moved forward as reads need it.
 *
 * `checkRecovered` is the oracle after a crash: the database must equal the state
 * after some prefix of the writes that contains every acknowledged sync write,
 * and `latestSequence` must count exactly that prefix's operations. The prefix is
 * found incrementally from the last acknowledged sync write: a running count of
 * keys that differ is kept while the writes are applied one operation at a time.
 */
import type { DB, IteratorOptions, ReadOptions } from '../src/db/db.js';
import type { CrashableFS } from '../src/testing/crashable-fs.js';
import { decodeValue, opCovers, valueAfter, type SimOp, type SimWrite } from './workload.js';

/** Keys (latin1 strings) to values: the database's expected content. */
export type State = Map<string, Buffer>;

/** The contract was broken. The message says how; the simulator adds the seed and where. */
export class Violation extends Error {
  override get name(): string {
    return 'Violation';
  }
}

export function violation(message: string): never {
  throw new Violation(message);
}

const keyText = (key: Buffer): string => key.toString('latin1');

/** Applies one write to `state` in place, operation by operation. */
export function applyWrite(state: State, write: SimWrite): void {
  for (const op of write.ops) {
    if (op.type === 'put') state.set(keyText(op.key), op.value);
    else if (op.type === 'delete') state.delete(keyText(op.key));
    else for (const key of keysCovered(state, op)) state.delete(key);
  }
}

/** The keys of `state` that `op` covers (for a range delete, those in its range). */
function keysCovered(state: State, op: SimOp): string[] {
  if (op.type !== 'deleteRange') return [keyText(op.key)];
  return [...state.keys()].filter((key) => opCovers(op, Buffer.from(key, 'latin1')));
}

/** A short, stable description of a value: the write that stored it, or why it is bad. */
export function describeValue(value: Buffer | undefined): string {
  if (value === undefined) return 'absent';
  const decoded = decodeValue(value);
  return typeof decoded === 'string' ? `BAD(${decoded})` : `w${decoded.writeId}.${decoded.opIndex}`;
}

/** The first few keys where `actual` differs from `expected`, for messages. */
export function describeDiff(expected: State, actual: State, max = 6): string {
  const keys = [...new Set([...expected.keys(), ...actual.keys()])].sort();
  const diffs: string[] = [];
  let count = 0;
  for (const key of keys) {
    const want = expected.get(key);
    const got = actual.get(key);
    if (want === got || (want !== undefined && got !== undefined && want.equals(got))) continue;
    count++;
    if (diffs.length < max) diffs.push(`${key}: expected ${describeValue(want)}, got ${describeValue(got)}`);
  }
  return count === 0 ? 'no difference' : `${count} keys differ: ${diffs.join('; ')}${count > max ? '; …' : ''}`;
}

/** Where an epoch's writes stood at a crash. */
export interface CrashMark {
  /** Writes issued (`writes.length`). */
  issued: number;
  /** Writes whose promise had resolved. */
  acked: number;
  /** 1 + the index of the last acknowledged sync write: every write below it must survive. */
  syncPrefix: number;
}

export class History {
  readonly base: State;
  /** `latestSequence` when the epoch began. */
  readonly baseSeq: number;
  readonly writes: SimWrite[] = [];
  /** `cumOps[i]`: operations in writes [0, i). */
  readonly cumOps: number[] = [0];
  ackedCount = 0;
  syncPrefix = 0;
  /** Contract breaches seen in callbacks (acks out of order), reported by the caller. */
  readonly asyncViolations: string[] = [];
  #cur: State;
  #curPrefix = 0;

  constructor(base: State, baseSeq: number) {
    this.base = base;
    this.baseSeq = baseSeq;
    this.#cur = new Map(base);
  }

  /** Records a write as issued (call it in the same tick as the db call); returns its index. */
  issue(write: SimWrite): number {
    this.writes.push(write);
    this.cumOps.push(this.cumOps[this.cumOps.length - 1]! + write.ops.length);
    return this.writes.length - 1;
  }

  /** Records that write `index` resolved. Writes resolve in issue order; anything else is a breach. */
  ack(index: number): void {
    if (index !== this.ackedCount) {
      this.asyncViolations.push(`write ${index} acknowledged after ${this.ackedCount} writes: acknowledgements out of order`);
    }
    this.ackedCount = Math.max(this.ackedCount, index + 1);
    if (this.writes[index]!.sync) this.syncPrefix = Math.max(this.syncPrefix, index + 1);
  }

  /** Records that every acknowledged write is durable (after a clean close, which syncs the log). */
  markAckedDurable(): void {
    this.syncPrefix = Math.max(this.syncPrefix, this.ackedCount);
  }

  mark(): CrashMark {
    return { issued: this.writes.length, acked: this.ackedCount, syncPrefix: this.syncPrefix };
  }

  /** Operations in the first `prefix` writes. */
  opsIn(prefix: number): number {
    return this.cumOps[prefix]!;
  }

  /** The prefix whose operations number `seq - baseSeq`, or undefined if `seq` falls inside a write or past the end. */
  prefixForSeq(seq: number): number | undefined {
    const ops = seq - this.baseSeq;
    let low = 0;
    let high = this.cumOps.length - 1;
    while (low <= high) {
      const mid = (low + high) >> 1;
      const value = this.cumOps[mid]!;
      if (value === ops) return mid;
      if (value < ops) low = mid + 1;
      else high = mid - 1;
    }
    return undefined;
  }

  /** The state after the first `prefix` writes. Shared and moved by the next call: read it at once, do not change it. */
  stateAt(prefix: number): State {
    if (prefix < this.#curPrefix) {
      this.#cur = new Map(this.base);
      this.#curPrefix = 0;
    }
    while (this.#curPrefix < prefix) applyWrite(this.#cur, this.writes[this.#curPrefix++]!);
    return this.#cur;
  }

  /** The state a read at sequence `seq` must see (`seq` from `db.latestSequence` when the read was made). */
  stateAtSeq(seq: number): State {
    const prefix = this.prefixForSeq(seq);
    if (prefix === undefined) {
      violation(`latestSequence ${seq} is not the end of an issued write (base ${this.baseSeq}, ${this.writes.length} writes, ${this.opsIn(this.writes.length)} ops): a batch was applied in part`);
    }
    return this.stateAt(prefix);
  }
}

/** The entries of `state` in key order (memcmp), restricted to `options`' bounds, reversed and limited as asked. */
export function expectedEntries(state: State, options: IteratorOptions = {}): [Buffer, Buffer][] {
  const entries: [Buffer, Buffer][] = [];
  for (const [key, value] of state) {
    const bytes = Buffer.from(key, 'latin1');
    if (options.gt !== undefined && Buffer.compare(bytes, Buffer.from(options.gt)) <= 0) continue;
    if (options.gte !== undefined && Buffer.compare(bytes, Buffer.from(options.gte)) < 0) continue;
    if (options.lt !== undefined && Buffer.compare(bytes, Buffer.from(options.lt)) >= 0) continue;
    if (options.lte !== undefined && Buffer.compare(bytes, Buffer.from(options.lte)) > 0) continue;
    entries.push([bytes, value]);
  }
  entries.sort((a, b) => Buffer.compare(a[0], b[0]));
  if (options.reverse === true) entries.reverse();
  const limit = options.limit ?? Infinity;
  return limit >= 0 && limit < entries.length ? entries.slice(0, limit) : entries;
}

/** Checks a value read under `key`: intact and really stored under that key. */
export function checkValueIntegrity(key: Buffer, value: Buffer, where: string): void {
  const decoded = decodeValue(value);
  if (typeof decoded === 'string') violation(`${where}: ${keyText(key)} holds a damaged value (${decoded})`);
  if (!decoded.key.equals(key)) violation(`${where}: ${keyText(key)} holds the value of ${keyText(decoded.key)} (w${decoded.writeId})`);
}

/**
 * Compares a scan with the expected entries. `expected` must be computed when the
 * iterator was created (before any await), as it must see that moment's state.
 */
export async function checkScan(db: DB, options: IteratorOptions, expected: [Buffer, Buffer][], where: string): Promise<number> {
  const got = await db.iterator(options).all();
  const what = `${where}: scan ${JSON.stringify(describeOptions(options))}`;
  for (let i = 0; i < Math.max(got.length, expected.length); i++) {
    const have = got[i];
    const want = expected[i];
    if (have !== undefined) checkValueIntegrity(have[0], have[1], what);
    if (have === undefined || want === undefined || !have[0].equals(want[0]) || !have[1].equals(want[1])) {
      const show = (entry: [Buffer, Buffer] | undefined): string => (entry === undefined ? 'end' : `${keyText(entry[0])}=${describeValue(entry[1])}`);
      violation(`${what}: entry ${i} is ${show(have)}, expected ${show(want)} (${got.length} entries, expected ${expected.length})`);
    }
  }
  return got.length;
}

function describeOptions(options: IteratorOptions): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(options)) {
    if (name === 'snapshot') out[name] = true;
    else out[name] = Buffer.isBuffer(value) ? value.toString('latin1') : value;
  }
  return out;
}

/** Reads every key of `keys` with `get` and with `getMany`, and compares with `state` (captured before the call). */
export async function checkPointReads(db: DB, keys: readonly Buffer[], state: State, where: string, readOptions?: ReadOptions): Promise<void> {
  const expected = keys.map((key) => state.get(keyText(key)));
  // Both calls read at the same moment: neither may be started after an await.
  const [single, many] = await Promise.all([Promise.all(keys.map((key) => db.get(key, readOptions))), db.getMany(keys, readOptions)]);
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    for (const [how, got] of [['get', single[i]], ['getMany', many[i]]] as const) {
      if (got !== undefined) checkValueIntegrity(key, got, `${where}: ${how}`);
      const want = expected[i];
      if (want === undefined ? got !== undefined : got === undefined || !got.equals(want)) {
        violation(`${where}: ${how}(${keyText(key)}) is ${describeValue(got)}, expected ${describeValue(want)}`);
      }
    }
  }
}

/**
 * Point reads without a snapshot while writes may be in flight. A read's point is
 * taken somewhere between its call and its return (a get may wait for a turn of
 * the event loop first), so it may see any state after a prefix in [low, high]:
 * `low` from `latestSequence` at the call, `high` at the return. Each `get` may
 * pick its own prefix; one `getMany` reads all its keys at a single one.
 * Returns what `getMany` read.
 */
export async function checkPointReadsLive(db: DB, keys: readonly Buffer[], history: History, where: string): Promise<(Buffer | undefined)[]> {
  const lowSeq = Number(db.latestSequence);
  const atLow = history.stateAtSeq(lowSeq);
  const low = history.prefixForSeq(lowSeq)!;
  const first = keys.map((key) => atLow.get(keyText(key)));
  const [single, many] = await Promise.all([Promise.all(keys.map((key) => db.get(key))), db.getMany(keys)]);
  const highSeq = Number(db.latestSequence);
  history.stateAtSeq(highSeq);
  const high = history.prefixForSeq(highSeq)!;
  const span = `${where}: reads between seq ${lowSeq} and ${highSeq}`;
  for (const [i, key] of keys.entries()) {
    for (const got of [single[i], many[i]]) if (got !== undefined) checkValueIntegrity(key, got, span);
    // Every value the key holds after some prefix in [low, high], oldest first.
    const values = [first[i]];
    for (let prefix = low; prefix < high; prefix++) {
      for (const op of history.writes[prefix]!.ops) if (opCovers(op, key)) values.push(valueAfter(op));
    }
    if (!values.some((value) => sameValue(value, single[i]))) {
      violation(`${span}: get(${keyText(key)}) is ${describeValue(single[i])}, expected one of ${values.map(describeValue).join(', ')}`);
    }
  }
  // getMany: one prefix must explain every key.
  const current = first.slice();
  const matches = (): boolean => current.every((value, i) => sameValue(value, many[i]));
  let found = matches();
  for (let prefix = low; prefix < high && !found; prefix++) {
    for (const op of history.writes[prefix]!.ops) {
      for (const [i, key] of keys.entries()) if (opCovers(op, key)) current[i] = valueAfter(op);
    }
    found = matches();
  }
  if (!found) {
    violation(`${span}: getMany(${keys.map(keyText).join(', ')}) is ${many.map(describeValue).join(', ')}: no single state after a prefix in [${low}, ${high}] holds that`);
  }
  return many;
}

/** Every entry of the database, by a full forward scan, each value checked for integrity. */
export async function readAll(db: DB, where: string): Promise<State> {
  const state: State = new Map();
  let previous: Buffer | undefined;
  for (const [key, value] of await db.iterator().all()) {
    checkValueIntegrity(key, value, where);
    if (previous !== undefined && Buffer.compare(previous, key) >= 0) violation(`${where}: scan not in key order at ${keyText(key)}`);
    previous = key;
    state.set(keyText(key), value);
  }
  return state;
}

function sameValue(a: Buffer | undefined, b: Buffer | undefined): boolean {
  return a === b || (a !== undefined && b !== undefined && a.equals(b));
}

/**
 * The prefixes in [from, to] after which the history's state equals `actual`.
 * Incremental: one pass over the writes from `from`, keeping the number of keys
 * that differ. Also returns the closest prefix, for messages.
 */
export function matchingPrefixes(history: History, actual: State, from: number, to: number): { matches: number[]; closest: number; closestDiff: number } {
  const state = new Map(history.stateAt(from));
  let mismatches = 0;
  for (const key of new Set([...state.keys(), ...actual.keys()])) if (!sameValue(state.get(key), actual.get(key))) mismatches++;
  const matches: number[] = [];
  let closest = from;
  let closestDiff = mismatches;
  if (mismatches === 0) matches.push(from);
  for (let prefix = from; prefix < to; prefix++) {
    for (const op of history.writes[prefix]!.ops) {
      for (const key of keysCovered(state, op)) {
        const before = sameValue(state.get(key), actual.get(key));
        if (op.type === 'put') state.set(key, op.value);
        else state.delete(key);
        const after = sameValue(state.get(key), actual.get(key));
        mismatches += (after ? 0 : 1) - (before ? 0 : 1);
      }
    }
    if (mismatches === 0) matches.push(prefix + 1);
    if (mismatches < closestDiff) {
      closest = prefix + 1;
      closestDiff = mismatches;
    }
  }
  return { matches, closest, closestDiff };
}

/**
 * The keys worth a point read after recovery: every key present, every key the
 * epoch wrote or deleted (a resurrected or lost version shows there), and every
 * sixteenth key of `keys` besides. Reading the whole key space every time would
 * cost more than the rest of a seed.
 */
function pointReadKeys(history: History, actual: State, keys: readonly Buffer[]): Buffer[] {
  const chosen = new Map<string, Buffer>();
  for (const key of actual.keys()) chosen.set(key, Buffer.from(key, 'latin1'));
  for (const key of history.base.keys()) chosen.set(key, Buffer.from(key, 'latin1'));
  for (const write of history.writes) for (const op of write.ops) chosen.set(keyText(op.key), op.key);
  for (let i = 0; i < keys.length; i += 16) chosen.set(keyText(keys[i]!), keys[i]!);
  return [...chosen.values()];
}

/** What a recovered database was found to hold. */
export interface Recovered {
  /** The prefix of the epoch's writes it equals. */
  prefix: number;
  state: State;
  /** `latestSequence` after open. */
  seq: number;
}

/**
 * The crash oracle, clauses (2) and (3): the database equals the state after some
 * prefix of `history`'s writes, no shorter than `mark.syncPrefix` and no longer
 * than `mark.issued`; `latestSequence` counts exactly that prefix's operations;
 * forward scan, reverse scan, `get` and `getMany` of every key of `keys` agree.
 */
export async function checkRecovered(db: DB, history: History, mark: CrashMark, keys: readonly Buffer[], where: string): Promise<Recovered> {
  try {
    db.checkInvariants();
  } catch (err) {
    violation(`${where}: invariants broken after recovery: ${String(err)}`);
  }
  const actual = await readAll(db, `${where}: forward scan`);
  const seq = Number(db.latestSequence);
  const bySeq = history.prefixForSeq(seq);
  const { matches, closest, closestDiff } = matchingPrefixes(history, actual, mark.syncPrefix, mark.issued);
  const marks = `${mark.issued} writes issued, ${mark.acked} acknowledged, the first ${mark.syncPrefix} must survive`;
  if (bySeq === undefined) {
    violation(`${where}: latestSequence ${seq} (base ${history.baseSeq}) is not the end of any issued write (${marks}); state matches prefixes [${matches.join(', ')}]`);
  }
  if (bySeq < mark.syncPrefix) {
    const lost = history.writes[bySeq]!;
    violation(`${where}: latestSequence ${seq} says ${bySeq} writes survived, but write ${mark.syncPrefix - 1} was acknowledged with sync (${marks}); first missing write w${lost.writeId} ${lost.kind}; state: ${describeDiff(history.stateAt(mark.syncPrefix), actual)}`);
  }
  if (bySeq > mark.issued) violation(`${where}: latestSequence ${seq} counts more writes than were issued (${marks})`);
  if (!matches.includes(bySeq)) {
    const diff = describeDiff(history.stateAt(bySeq), actual);
    const found = matches.length > 0 ? `the state matches prefixes [${matches.join(', ')}] instead` : `no prefix in [${mark.syncPrefix}, ${mark.issued}] matches (closest ${closest}, ${closestDiff} keys off)`;
    violation(`${where}: the database is not the state after the ${bySeq} writes latestSequence ${seq} counts (${marks}); ${found}; vs prefix ${bySeq}: ${diff}`);
  }
  const reverse = await db.iterator({ reverse: true }).all();
  const forward = [...actual.keys()];
  if (reverse.length !== forward.length) violation(`${where}: reverse scan has ${reverse.length} entries, forward ${forward.length}`);
  for (let i = 0; i < reverse.length; i++) {
    const [key, value] = reverse[i]!;
    const want = forward[forward.length - 1 - i]!;
    if (keyText(key) !== want || !value.equals(actual.get(want)!)) {
      violation(`${where}: reverse scan entry ${i} is ${keyText(key)}=${describeValue(value)}, forward scan has ${want}=${describeValue(actual.get(want))}`);
    }
  }
  await checkPointReads(db, pointReadKeys(history, actual, keys), actual, `${where}: point reads`);
  return { prefix: bySeq, state: actual, seq };
}

/**
 * Clause (4): what open leaves in `dir`: CURRENT naming the one MANIFEST, one log,
 * exactly the live tables, and nothing else (no temp files, no orphans). Call it
 * before anything runs in the background (open with `autoCompaction: false`).
 */
export function checkFiles(fs: CrashableFS, dir: string, db: DB, where: string): void {
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  const names = fs.listAll().filter((file) => file.startsWith(prefix)).map((file) => file.slice(prefix.length));
  const manifests = names.filter((name) => /^MANIFEST-\d+$/.test(name));
  const logs = names.filter((name) => /^\d+\.log$/.test(name));
  const tables = names.filter((name) => /^\d+\.sst$/.test(name)).map((name) => Number(name.slice(0, -4)));
  const other = names.filter((name) => name !== 'CURRENT' && !manifests.includes(name) && !logs.includes(name) && !/^\d+\.sst$/.test(name));
  const listing = `[${[...names].sort().join(' ')}]`;
  if (!names.includes('CURRENT')) violation(`${where}: no CURRENT after open ${listing}`);
  if (manifests.length !== 1) violation(`${where}: ${manifests.length} MANIFESTs after open ${listing}`);
  const current = fs.readFileSync(`${prefix}CURRENT`).toString('latin1');
  if (current !== `${manifests[0]}\n`) violation(`${where}: CURRENT names ${JSON.stringify(current)}, the MANIFEST is ${manifests[0]}`);
  if (logs.length !== 1) violation(`${where}: ${logs.length} logs after open ${listing}`);
  if (other.length > 0) violation(`${where}: unexpected files after open: ${other.join(' ')} ${listing}`);
  const live = db.liveTableNumbers();
  const orphans = tables.filter((n) => !live.includes(n));
  const missing = live.filter((n) => !tables.includes(n));
  if (orphans.length > 0) violation(`${where}: orphan tables after open: ${orphans.join(' ')} (live ${live.join(' ')}) ${listing}`);
  if (missing.length > 0) violation(`${where}: live tables missing from the directory: ${missing.join(' ')} ${listing}`);
}
