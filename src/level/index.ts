/**
 * `shale/level`: shale as an abstract-level database. The public surface of the
 * adapter only.
 */
export { ShaleLevel } from './shale-level.js';
export type { ClassicLevelOptions, ShaleLevelOptions, ShaleTuning } from './shale-level.js';
export { ShaleLevelIterator, ShaleLevelKeyIterator, ShaleLevelValueIterator } from './iterators.js';
export { ShaleLevelSnapshot } from './shale-level-snapshot.js';
export { LevelError } from './errors.js';
export { ShaleLevelTransaction } from './shale-level-transaction.js';
export type { LevelTransactionRange } from './shale-level-transaction.js';
