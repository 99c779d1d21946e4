/**
 * sorted-btree's B+ tree, resolved once for every user: the memtable, and the
 * structures beside it that need ordered keys (a transaction's write buffer and
 * read set, the commit history).
 */
import BTreeModule from 'sorted-btree';
import type * as BTreeTypes from 'sorted-btree';
import assert from './assert.js';

/** A sorted-btree map. */
export type SortedMap<K, V> = BTreeTypes.default<K, V>;

type BTreeClass = typeof BTreeModule.default;

/**
 * sorted-btree is CommonJS with `exports.default` and `__esModule`. Node's interop
 * makes the default import the whole exports object (the class is its `.default`);
 * Bun honours `__esModule` and makes it the class itself. Accept either, and fail
 * loudly here rather than at the first `DB.open`.
 */
function resolveBTreeClass(imported: unknown): BTreeClass {
  if (typeof imported === 'function') return imported as BTreeClass;
  const nested = (imported as { default?: unknown } | undefined)?.default;
  assert(typeof nested === 'function', 'sorted-btree: neither the default import nor its .default is the BTree class');
  return nested as BTreeClass;
}

/** sorted-btree's BTree class. */
export const BTree = resolveBTreeClass(BTreeModule);

/** An empty map ordered by `compare`. */
export function sortedMap<K, V>(compare: (a: K, b: K) => number): SortedMap<K, V> {
  return new BTree<K, V>(undefined, compare);
}
