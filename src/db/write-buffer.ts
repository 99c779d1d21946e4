/**
 * A transaction's buffered writes: the latest put or delete of each key, in key
 * order, until commit turns them into one batch (docs/internals.md, "Transactions").
 */
import { EntryType, compareKeys } from '../keys.js';
import { sortedMap } from '../util/sorted-map.js';
import type { WriteOp } from '../wal/write-group.js';

/** One buffered write: a PUT with its value, or a DELETE (empty value). */
export interface BufferedWrite {
  readonly type: typeof EntryType.PUT | typeof EntryType.DELETE;
  readonly value: Buffer;
}

/** Bytes charged per buffered key beyond its key and value, toward `transactionBytesMax`. */
export const BUFFERED_ENTRY_OVERHEAD_BYTES = 32;

/** The frozen content of a write buffer at one moment, for an iterator. */
export type WriteBufferView = ReturnType<WriteBuffer['view']>;

export class WriteBuffer {
  #entries = sortedMap<Buffer, BufferedWrite>(compareKeys);
  #bytes = 0;

  /** Keys buffered. */
  get size(): number {
    return this.#entries.size;
  }

  /** Bytes charged: keys, values and a fixed overhead per key. */
  get bytes(): number {
    return this.#bytes;
  }

  /** The buffered write of `key`, if any. */
  get(key: Buffer): BufferedWrite | undefined {
    return this.#entries.get(key);
  }

  /** What buffering `write` under `key` would add to `bytes` (negative when it shrinks). */
  growthOf(key: Buffer, write: BufferedWrite): number {
    const old = this.#entries.get(key);
    if (old === undefined) return key.length + write.value.length + BUFFERED_ENTRY_OVERHEAD_BYTES;
    return write.value.length - old.value.length;
  }

  /** Buffers `write` under `key` (owned buffers: the caller never changes them), replacing what was there. */
  set(key: Buffer, write: BufferedWrite): void {
    this.#bytes += this.growthOf(key, write);
    this.#entries.set(key, write);
  }

  /** Every buffered key, in order. */
  keys(): IterableIterator<Buffer> {
    return this.#entries.keys();
  }

  /** The batch to commit: one op per key, in key order. */
  ops(): WriteOp[] {
    const ops: WriteOp[] = [];
    this.#entries.forEach((write, key) => {
      ops.push({ type: write.type, key, value: write.value });
    });
    return ops;
  }

  /** A copy of the buffer as it is now, that later writes do not change (copy-on-write: O(1)). */
  view(): { entries(low?: Buffer): IterableIterator<[Buffer, BufferedWrite]>; entriesReversed(high?: Buffer): IterableIterator<[Buffer, BufferedWrite]>; readonly size: number } {
    return this.#entries.clone();
  }
}
