/**
 * A sorted map (sorted-btree's B+ tree) for the structures beside the memtable
 * that need ordered keys: a transaction's write buffer and read set, the commit
 * history. Resolved as `memtable.ts` resolves it: Node and Bun import the
 * CommonJS module differently.
 */
import BTreeModule from 'sorted-btree';
import type * as BTreeTypes from 'sorted-btree';
import assert from './assert.js';

/** A sorted-btree map. */
export type SortedMap<K, V> = BTreeTypes.default<K, V>;

type SortedMapClass = new <K, V>(entries: undefined, compare: (a: K, b: K) => number) => SortedMap<K, V>;

function resolveClass(imported: unknown): SortedMapClass {
  if (typeof imported === 'function') return imported as SortedMapClass;
  const nested = (imported as { default?: unknown } | undefined)?.default;
  assert(typeof nested === 'function', 'sorted-btree: neither the default import nor its .default is the BTree class');
  return nested as SortedMapClass;
}
const SortedMapImpl = resolveClass(BTreeModule);

/** An empty map ordered by `compare`. */
export function sortedMap<K, V>(compare: (a: K, b: K) => number): SortedMap<K, V> {
  return new SortedMapImpl<K, V>(undefined, compare);
}
