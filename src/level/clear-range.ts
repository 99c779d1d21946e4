/**
 * `ShaleLevel.clear()` as one range delete (docs/internals.md, "Range deletes"):
 * atomic, and O(1) writes whatever the number of keys. abstract-level's bounds
 * become a half-open range: `gte` (else the successor of `gt`, `gt ‖ 0x00`)
 * starts it; `lt` ends it, or `lte` with a point delete of `lte` itself in the
 * same batch, or nothing (every key from the start on: `db.deleteRange(start)`).
 * A `limit`, or a `snapshot` (clear what that snapshot sees, not what exists
 * now), keeps the key-by-key path.
 */
import type { BatchOperation, WriteOptions } from '../db/batch.js';
import type { DB } from '../db/db.js';
import type { PrivateRangeOptions } from './iterators.js';

/** The range delete (as batch operations) for `clear(options)`, or undefined when the key-by-key path must run. */
export function clearAsRangeDelete(options: PrivateRangeOptions & { snapshot?: unknown }): { start: Buffer; end: Buffer | undefined; inclusiveEnd: boolean } | 'empty' | undefined {
  if (options.limit !== -1 && options.limit !== Infinity) return undefined;
  if (options.snapshot !== undefined && options.snapshot !== null) return undefined;
  const bytes = (data: unknown): Buffer => (typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data as Uint8Array));
  const start = options.gte !== undefined ? bytes(options.gte) : options.gt !== undefined ? Buffer.concat([bytes(options.gt), Buffer.from([0])]) : Buffer.alloc(0);
  const inclusiveEnd = options.lte !== undefined;
  const end = options.lte !== undefined ? bytes(options.lte) : options.lt !== undefined ? bytes(options.lt) : undefined;
  if (end !== undefined && (inclusiveEnd ? start.compare(end) > 0 : start.compare(end) >= 0)) return 'empty';
  return { start, end, inclusiveEnd };
}

/** Runs the range delete `clearAsRangeDelete` made. */
export function runRangeClear(db: DB, range: { start: Buffer; end: Buffer | undefined; inclusiveEnd: boolean }, options: WriteOptions | undefined): Promise<void> {
  if (range.end === undefined) return db.deleteRange(range.start, undefined, options);
  if (!range.inclusiveEnd) return db.deleteRange(range.start, range.end, options);
  const batch: BatchOperation[] = [
    { type: 'deleteRange', start: range.start, end: range.end },
    { type: 'delete', key: range.end },
  ];
  return db.write(batch, options);
}
