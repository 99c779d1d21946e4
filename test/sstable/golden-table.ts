/**
 * The small fixed table the golden tests pin: eight entries over four data
 * blocks, one of them snappy-compressed, with two tombstones.
 */
import { EntryType } from '../../src/keys.js';
import type { TableBuilderOptions } from '../../src/sstable/table-builder.js';
import { entry, type TestEntry } from './table-fixture.js';

export const GOLDEN_ENTRIES: readonly TestEntry[] = [
  entry('apple', 5, EntryType.PUT, 'red'),
  entry('apple', 3, EntryType.DELETE),
  entry('apricot', 7, EntryType.PUT, 'orange'),
  entry('banana', 4, EntryType.PUT, 'yellow'.repeat(12)),
  entry('blueberry', 8, EntryType.PUT, 'blue'),
  entry('cherry', 2, EntryType.PUT, 'dark red'),
  entry('date', 1, EntryType.PUT, 'brown'),
  entry('elderberry', 6, EntryType.DELETE),
];

export const GOLDEN_OPTIONS: TableBuilderOptions = { blockSizeBytes: 64, restartInterval: 2, bloomBitsPerKey: 10, compression: 'snappy' };
