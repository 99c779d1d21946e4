/**
 * Builds data and index blocks: sorted entries with prefix-compressed keys and
 * restart points (docs/format.md, "SSTable: block contents").
 *
 * Each entry is
 *
 *     shared varint32 ‖ unshared varint32 ‖ valueLength varint32 ‖ key[shared:] ‖ value
 *
 * where `shared` is the length of the prefix the key has in common with the
 * previous key. Every `restartInterval` entries the prefix compression restarts
 * (shared = 0) and the entry's offset goes into the restart array, so a reader can
 * binary-search the restart points and decode from any of them. The block ends
 * with the restart offsets (u32le each) and their count (u32le).
 */
import assert from '../util/assert.js';
import { varint32Length, writeVarint32 } from '../util/coding.js';
import { copyBytes } from './byte-ranges.js';

/** Bytes of one restart array slot and of the trailing count. */
export const RESTART_BYTES = 4;

const INITIAL_CAPACITY_BYTES = 1024;

/**
 * Accumulates entries into one block. The caller adds keys in strictly increasing
 * order (this class does not compare keys), calls `finish()`, copies the result,
 * then `reset()`s the builder for the next block.
 */
export class BlockBuilder {
  readonly #restartInterval: number;
  #buffer = Buffer.allocUnsafe(INITIAL_CAPACITY_BYTES);
  #length = 0;
  #restarts: number[] = [0];
  #counter = 0;
  #entryCount = 0;
  #lastKey = Buffer.allocUnsafe(64);
  #lastKeyLength = 0;
  #finished = false;

  /** @param restartInterval entries between restart points; at least 1. */
  constructor(restartInterval: number) {
    assert(Number.isSafeInteger(restartInterval) && restartInterval >= 1, 'restartInterval must be an integer ≥ 1');
    this.#restartInterval = restartInterval;
  }

  /** Entries added since the last reset. */
  get entryCount(): number {
    return this.#entryCount;
  }

  /** Whether no entry was added since the last reset. */
  get empty(): boolean {
    return this.#entryCount === 0;
  }

  /** The size `finish()` would return now: entries, restart array and count. */
  get estimatedSizeBytes(): number {
    return this.#length + (this.#restarts.length + 1) * RESTART_BYTES;
  }

  /** Appends an entry. `key` must sort after the previously added key. */
  add(key: Uint8Array, value: Uint8Array): void {
    this.addEntry(key, key.length, value, 0, value.length);
  }

  /**
   * Appends the entry whose key is `key[0, keyLength)` and whose value is
   * `valueSource[valueStart, valueStart + valueLength)`, copying both: a merge
   * passes keys and values where they lie, with no view made per entry.
   */
  addEntry(key: Uint8Array, keyLength: number, valueSource: Uint8Array, valueStart: number, valueLength: number): void {
    assert(!this.#finished, 'add() after finish() without reset()');
    let shared = 0;
    if (this.#counter < this.#restartInterval) {
      const sharedMax = Math.min(this.#lastKeyLength, keyLength);
      const last = this.#lastKey;
      while (shared < sharedMax && last[shared] === key[shared]) shared++;
    } else {
      this.#restarts.push(this.#length);
      this.#counter = 0;
    }
    const unshared = keyLength - shared;
    const entryBytes = varint32Length(shared) + varint32Length(unshared) + varint32Length(valueLength) + unshared + valueLength;
    this.#reserve(entryBytes);
    let offset = writeVarint32(this.#buffer, shared, this.#length);
    offset = writeVarint32(this.#buffer, unshared, offset);
    offset = writeVarint32(this.#buffer, valueLength, offset);
    copyBytes(key, shared, keyLength, this.#buffer, offset);
    offset += unshared;
    copyBytes(valueSource, valueStart, valueStart + valueLength, this.#buffer, offset);
    offset += valueLength;
    // Invariant: the size computed up front is the size written.
    assert.equal(offset, this.#length + entryBytes);
    this.#length = offset;
    this.#rememberLastKey(key, keyLength, shared);
    this.#counter++;
    this.#entryCount++;
  }

  /**
   * Appends the restart array and returns the block contents. The result is a
   * view of the builder's buffer, valid until `reset()` or the next `add()`.
   */
  finish(): Buffer {
    assert(!this.#finished, 'finish() called twice');
    this.#reserve((this.#restarts.length + 1) * RESTART_BYTES);
    let offset = this.#length;
    for (const restart of this.#restarts) offset = this.#buffer.writeUInt32LE(restart, offset);
    offset = this.#buffer.writeUInt32LE(this.#restarts.length, offset);
    this.#finished = true;
    return this.#buffer.subarray(0, offset);
  }

  /** Empties the builder for the next block, keeping its buffers. */
  reset(): void {
    this.#length = 0;
    this.#restarts = [0];
    this.#counter = 0;
    this.#entryCount = 0;
    this.#lastKeyLength = 0;
    this.#finished = false;
  }

  #reserve(bytes: number): void {
    const needed = this.#length + bytes;
    if (needed <= this.#buffer.length) return;
    const grown = Buffer.allocUnsafe(Math.max(needed, this.#buffer.length * 2));
    this.#buffer.copy(grown, 0, 0, this.#length);
    this.#buffer = grown;
  }

  #rememberLastKey(key: Uint8Array, keyLength: number, shared: number): void {
    if (keyLength > this.#lastKey.length) {
      const grown = Buffer.allocUnsafe(Math.max(keyLength, this.#lastKey.length * 2));
      this.#lastKey.copy(grown, 0, 0, shared);
      this.#lastKey = grown;
    }
    // The first `shared` bytes are already equal.
    copyBytes(key, shared, keyLength, this.#lastKey, shared);
    this.#lastKeyLength = keyLength;
  }
}
