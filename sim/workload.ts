/**
 * What the simulator writes: a key space, self-verifying values and random
 * writes (puts, deletes, batches, sync or not), all drawn from one `Rng`.
 *
 * A value carries its key, the id of the write that stored it, its index in that
 * write and a checksum, so a read that returns a corrupted value, another key's
 * value or an older version of the right key is caught on the value alone,
 * before it is compared with the model:
 *
 *   0xA5 | keyLength u8 | key | writeId u32le | opIndex u16le | padLength u16le | pad | fnv1a32 u32le
 *
 * Some seeds (`WorkloadShape.chunkShapedBytes`) make keys and values carry real
 * log framing, so that recovery is checked against user bytes that look like
 * chunks: a crash-torn record must still be a torn tail, not corruption.
 *
 * Expiring puts (given an expiry stream): a put whose `expiresAt` lies far past
 * anything the simulated clock reaches (the oracle treats it as a put), or one
 * whose `expiresAt` passed before the simulated epoch (the oracle treats it as a
 * delete: `SimOp` records it as one, with the put it is issued as).
 */
import type { BatchOperation } from '../src/db/batch.js';
import { EntryType } from '../src/keys.js';
import type { Rng } from '../src/testing/rng.js';
import { RecordKind } from '../src/wal/log-format.js';
import { frameRecord } from '../src/wal/log-writer.js';
import { encodeWriteGroup, opEncodedBytes } from '../src/wal/write-group.js';

const VALUE_MAGIC = 0xa5;

/**
 * One operation of a write, as the oracle reads it. A put may carry an `expiresAt`
 * that never passes during a run; a delete may be issued as `expiredPut`, a put
 * whose expiry passed before it was written, which reads exactly as a delete. A
 * range delete's `key` is its start; it deletes [key, end).
 */
export type SimOp =
  | { type: 'put'; key: Buffer; value: Buffer; expiresAt?: number }
  | { type: 'delete'; key: Buffer; expiredPut?: { value: Buffer; expiresAt: number } }
  | { type: 'deleteRange'; key: Buffer; end: Buffer };

/** The simulated clock starts here (ms since the epoch) and moves one millisecond a write. */
export const SIM_EPOCH_MS = 1_700_000_000_000;
/** Expiring puts that must not expire during a run expire from here on: far past any simulated time. */
export const SIM_EXPIRY_FAR_MS = 4_000_000_000_000;

/** Whether `op` writes `key`: a put or delete of it, or a range delete over it. */
export function opCovers(op: SimOp, key: Buffer): boolean {
  if (op.type !== 'deleteRange') return op.key.equals(key);
  return Buffer.compare(op.key, key) <= 0 && Buffer.compare(key, op.end) < 0;
}

/** What `key` holds after `op` if `op` covers it: the put's value, or absent (an expired put is a delete). */
export function valueAfter(op: SimOp): Buffer | undefined {
  return op.type === 'put' ? op.value : undefined;
}

/** The `db.write` operation `op` is issued as. */
export function batchOpOf(op: SimOp): BatchOperation {
  if (op.type === 'put') return op.expiresAt === undefined ? { type: 'put', key: op.key, value: op.value } : { type: 'put', key: op.key, value: op.value, expiresAt: op.expiresAt };
  if (op.type === 'delete') {
    if (op.expiredPut !== undefined) return { type: 'put', key: op.key, value: op.expiredPut.value, expiresAt: op.expiredPut.expiresAt };
    return { type: 'delete', key: op.key };
  }
  return { type: 'deleteRange', start: op.key, end: op.end };
}

/** One call of `db.put`, `db.delete` or `db.write`: its operations get consecutive sequence numbers. */
export interface SimWrite {
  /** Unique over the whole seed (it survives crashes inside the values). */
  writeId: number;
  /** `transaction`: a transaction's commit (its writes, one per key, in key order). */
  kind: 'put' | 'delete' | 'deleteRange' | 'batch' | 'transaction';
  sync: boolean;
  ops: SimOp[];
}

/** FNV-1a, 32 bits: enough to tell a damaged value from an intact one. */
export function fnv1a32(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let hash = 0x811c9dc5;
  for (let i = start; i < end; i++) {
    hash ^= bytes[i]!;
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** The smallest intact chunk (8 bytes: a header and a one-byte payload), made by the real writer. */
const CHUNK_IN_KEY = frameRecord(Buffer.from([RecordKind.VERSION_EDIT]), 0);

/** A whole framed write group that claims 2^40 synced bytes, made by the real writer. */
const CHUNK_IN_VALUE = ((): Buffer => {
  const op = { type: EntryType.PUT, key: Buffer.from('fake'), value: Buffer.from('chunk') };
  return frameRecord(encodeWriteGroup(2 ** 40, 1, [[op]], 1, opEncodedBytes(op)), 0);
})();

const keyCache: Buffer[] = [];
const chunkShapedKeyCache: Buffer[] = [];

/**
 * The key with index `index`: mostly `k0042`, some with a suffix, so keys differ
 * in length and share prefixes; with `chunkShaped`, followed by an intact chunk.
 * Keys order as their indexes either way. The Buffer is shared: never change it.
 */
export function keyOf(index: number, chunkShaped = false): Buffer {
  const cache = chunkShaped ? chunkShapedKeyCache : keyCache;
  let key = cache[index];
  if (key === undefined) {
    const base = `k${String(index).padStart(4, '0')}`;
    const suffixLength = index % 5 === 0 ? index % 11 : 0;
    key = Buffer.from(base + (suffixLength > 0 ? `-${'abcdefghij'.slice(0, suffixLength)}` : ''), 'latin1');
    if (chunkShaped) key = Buffer.concat([key, CHUNK_IN_KEY]);
    cache[index] = key;
  }
  return key;
}

/**
 * A value that proves where it came from (see the module comment). With
 * `chunkShaped`, a pad long enough starts with a framed write group.
 */
export function encodeValue(key: Buffer, writeId: number, opIndex: number, padLength: number, chunkShaped = false): Buffer {
  const value = Buffer.alloc(1 + 1 + key.length + 4 + 2 + 2 + padLength + 4);
  let offset = value.writeUInt8(VALUE_MAGIC, 0);
  offset = value.writeUInt8(key.length, offset);
  offset += key.copy(value, offset);
  offset = value.writeUInt32LE(writeId >>> 0, offset);
  offset = value.writeUInt16LE(opIndex, offset);
  offset = value.writeUInt16LE(padLength, offset);
  for (let i = 0; i < padLength; i++) value[offset + i] = (writeId * 31 + i * 7 + opIndex) & 0xff;
  if (chunkShaped && padLength >= CHUNK_IN_VALUE.length) CHUNK_IN_VALUE.copy(value, offset);
  offset += padLength;
  value.writeUInt32LE(fnv1a32(value, 0, offset), offset);
  return value;
}

/** What a value says about itself. */
export interface DecodedValue {
  key: Buffer;
  writeId: number;
  opIndex: number;
}

/** Decodes and checks a value; returns why it is bad instead when it is. */
export function decodeValue(value: Buffer): DecodedValue | string {
  if (value.length < 14) return `value too short (${value.length} bytes)`;
  if (value[0] !== VALUE_MAGIC) return `bad value magic 0x${value[0]!.toString(16)}`;
  const keyLength = value[1]!;
  const padOffset = 2 + keyLength + 8;
  if (value.length < padOffset + 4) return `value too short for its key (${value.length} bytes)`;
  const padLength = value.readUInt16LE(padOffset - 2);
  if (value.length !== padOffset + padLength + 4) return `value length ${value.length} does not match its pad length ${padLength}`;
  const checksum = value.readUInt32LE(value.length - 4);
  if (checksum !== fnv1a32(value, 0, value.length - 4)) return 'value checksum mismatch';
  return {
    key: value.subarray(2, 2 + keyLength),
    writeId: value.readUInt32LE(2 + keyLength),
    opIndex: value.readUInt16LE(2 + keyLength + 4),
  };
}

/** The shape of one seed's writes, drawn once per seed. */
export interface WorkloadShape {
  keyCount: number;
  /** Keys [0, hotKeyCount) are written far more often (overwrites, deletes of live keys). */
  hotKeyCount: number;
  syncProbability: number;
  deleteProbability: number;
  batchProbability: number;
  /** Of the writes that delete, the share that are range deletes (over a few neighbouring keys, sometimes many). */
  rangeDeleteProbability?: number;
  /** Most values pad to at most this; one in 16 is large (several blocks). */
  padBytesMax: number;
  /** Keys and values embed intact log chunks (see the module comment). */
  chunkShapedBytes?: boolean;
}

export function drawShape(rng: Rng): WorkloadShape {
  const keyCount = rng.pick([24, 64, 160, 400]);
  return {
    keyCount,
    hotKeyCount: Math.max(4, keyCount >> rng.range(2, 4)),
    syncProbability: rng.pick([0, 0.05, 0.3, 0.7]),
    deleteProbability: rng.pick([0.05, 0.2, 0.4]),
    batchProbability: rng.pick([0.1, 0.3]),
    padBytesMax: rng.pick([8, 48, 160]),
    rangeDeleteProbability: rng.pick([0, 0.1, 0.3]),
  };
}

/** Draws writes. `writeId`s come from the caller, which numbers writes over the whole seed. */
export class WorkloadGen {
  readonly shape: WorkloadShape;
  readonly #rng: Rng;
  readonly #expiries: Rng | undefined;

  /** `expiries`: the stream that makes some puts expiring (see the module comment); none without it. */
  constructor(rng: Rng, shape: WorkloadShape, expiries?: Rng) {
    this.#rng = rng;
    this.shape = shape;
    this.#expiries = expiries;
  }

  randomKey(): Buffer {
    const { keyCount, hotKeyCount } = this.shape;
    return keyOf(this.#rng.bool(0.5) ? this.#rng.int(hotKeyCount) : this.#rng.int(keyCount), this.shape.chunkShapedBytes === true);
  }

  #padLength(): number {
    if (this.#rng.int(16) === 0) return this.#rng.range(200, 1200);
    return this.#rng.range(0, this.shape.padBytesMax);
  }

  #op(writeId: number, opIndex: number): SimOp {
    const key = this.randomKey();
    if (this.#rng.bool(this.shape.deleteProbability)) {
      if (this.#rng.bool(this.shape.rangeDeleteProbability ?? 0)) return this.#rangeDelete();
      return { type: 'delete', key };
    }
    const value = encodeValue(key, writeId, opIndex, this.#padLength(), this.shape.chunkShapedBytes === true);
    const expiries = this.#expiries;
    if (expiries === undefined) return { type: 'put', key, value };
    // From a stream of its own, so the rest of the workload stays the seed's.
    const roll = expiries.int(10);
    if (roll === 0) return { type: 'put', key, value, expiresAt: SIM_EXPIRY_FAR_MS + expiries.int(1000) };
    if (roll === 1) return { type: 'delete', key, expiredPut: { value, expiresAt: expiries.int(SIM_EPOCH_MS) } };
    return { type: 'put', key, value };
  }

  /** A range delete from a random key over up to a few dozen keys (keys order as their indexes). */
  #rangeDelete(): SimOp {
    const { keyCount } = this.shape;
    const first = this.#rng.int(keyCount);
    const last = Math.min(keyCount, first + (this.#rng.bool(0.2) ? this.#rng.range(0, keyCount) : this.#rng.range(0, 8)));
    const chunkShaped = this.shape.chunkShapedBytes === true;
    return { type: 'deleteRange', key: keyOf(first, chunkShaped), end: last >= keyCount ? Buffer.from('l') : keyOf(last, chunkShaped) };
  }

  nextWrite(writeId: number): SimWrite {
    const sync = this.#rng.bool(this.shape.syncProbability);
    if (this.#rng.bool(this.shape.batchProbability)) {
      // Batches may touch one key twice: the later operation wins.
      const count = this.#rng.range(2, 8);
      const ops = Array.from({ length: count }, (_, i) => this.#op(writeId, i));
      return { writeId, kind: 'batch', sync, ops };
    }
    const op = this.#op(writeId, 0);
    return { writeId, kind: op.type, sync, ops: [op] };
  }
}
