/**
 * An array-backed `InternalIterator` test double: the entries are sorted once in
 * internal-key order and walked by index. It counts `close()` calls so tests can
 * check who closes what.
 */
import assert from 'node:assert/strict';
import { compareInternal, type InternalIterator } from '../../src/iterator/internal-iterator.js';
import { EntryType, encodeInternalKey } from '../../src/keys.js';

/** One internal entry. */
export interface Entry {
  readonly userKey: Buffer;
  readonly seq: number;
  readonly type: EntryType;
  readonly value: Buffer;
}

/** Orders entries in internal-key order. */
export function compareEntries(a: Entry, b: Entry): number {
  return compareInternal(a.userKey, a.seq, b.userKey, b.seq);
}

/** A PUT entry from strings. */
export function put(key: string, seq: number, value = `${key}@${seq}`): Entry {
  return { userKey: Buffer.from(key, 'latin1'), seq, type: EntryType.PUT, value: Buffer.from(value) };
}

/** A DELETE entry from a string key. */
export function del(key: string, seq: number): Entry {
  return { userKey: Buffer.from(key, 'latin1'), seq, type: EntryType.DELETE, value: Buffer.alloc(0) };
}

/** An `InternalIterator` over a fixed array of entries. */
export class VectorIterator implements InternalIterator {
  readonly entries: readonly Entry[];
  closeCount = 0;
  #index = -1;

  constructor(entries: readonly Entry[]) {
    this.entries = [...entries].sort(compareEntries);
  }

  valid(): boolean {
    return this.#index >= 0 && this.#index < this.entries.length;
  }

  seekToFirst(): void {
    this.#index = 0;
  }

  seekToLast(): void {
    this.#index = this.entries.length - 1;
  }

  seek(userKey: Buffer, seq: number): void {
    this.#index = this.#firstIndexWhere((entry) => compareInternal(entry.userKey, entry.seq, userKey, seq) >= 0);
  }

  seekForPrev(userKey: Buffer, seq: number): void {
    this.#index = this.#firstIndexWhere((entry) => compareInternal(entry.userKey, entry.seq, userKey, seq) > 0) - 1;
  }

  next(): void {
    assert(this.valid(), 'next() of an invalid vector iterator');
    this.#index++;
  }

  prev(): void {
    assert(this.valid(), 'prev() of an invalid vector iterator');
    this.#index--;
  }

  userKey(): Buffer {
    return this.#at().userKey;
  }

  internalKey(): Buffer {
    const entry = this.#at();
    return encodeInternalKey(entry.userKey, entry.seq, entry.type);
  }

  seq(): number {
    return this.#at().seq;
  }

  type(): EntryType {
    return this.#at().type;
  }

  value(): Buffer {
    return this.#at().value;
  }

  close(): void {
    this.closeCount++;
    this.#index = -1;
  }

  #at(): Entry {
    assert(this.valid(), 'read from an invalid vector iterator');
    return this.entries[this.#index]!;
  }

  /** Binary search: the first index whose entry satisfies `after` (monotone over the sorted array). */
  #firstIndexWhere(after: (entry: Entry) => boolean): number {
    let low = 0;
    let high = this.entries.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (after(this.entries[middle]!)) high = middle;
      else low = middle + 1;
    }
    return low;
  }
}
