/**
 * Damaged files under a whole database (docs/durability.md: corruption is
 * reported with a typed error naming the file and the offset, never returned as
 * data). A multi-block table is made by `db.flush()` with 256-byte uncompressed
 * blocks, the database is closed, one bit of one structure is flipped, and the
 * database is reopened and read: a damaged data block fails the reads that need
 * it and no others; a damaged index, filter, properties block or footer fails
 * every read that touches the table; a damaged MANIFEST fails the open.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { CorruptionError, DB, ShaleError, type Options } from '../../src/index.js';
import type { BlockHandle } from '../../src/sstable/block-handle.js';
import { internalKeyComparator } from '../../src/sstable/comparator.js';
import { decodeFooter, type Footer } from '../../src/sstable/footer.js';
import { BLOCK_TRAILER_BYTES, FOOTER_BYTES } from '../../src/sstable/format.js';
import { TableReader } from '../../src/sstable/table-reader.js';
import { CrashableFS } from '../../src/testing/index.js';
import { readLogEvents } from '../../src/wal/log-reader.js';
import { dataBlockHandles } from '../sstable/table-fixture.js';

const DIR = '/db';
const KEY_COUNT = 200;
const OPTIONS: Options = { blockSizeBytes: 256, compression: 'none', autoCompaction: false };

function key(i: number): string {
  return `key${String(i).padStart(3, '0')}`;
}

function value(i: number): string {
  return `value-${i}-`.repeat(3);
}

/** What the test knows about the one table: where its blocks are and which keys each data block holds. */
interface TableLayout {
  fs: CrashableFS;
  /** The table's path, as errors name it. */
  file: string;
  sizeBytes: number;
  footer: Footer;
  dataBlocks: BlockHandle[];
  /** Index into `dataBlocks` of the block holding each key. */
  blockOfKey: Map<string, number>;
}

/** A closed database on a fresh CrashableFS holding key000..key199 in one flushed table. */
async function databaseWithOneTable(options: Options = OPTIONS): Promise<TableLayout> {
  const fs = new CrashableFS();
  const db = await DB.open(DIR, { fs, ...options });
  await db.write(Array.from({ length: KEY_COUNT }, (_, i) => ({ type: 'put' as const, key: key(i), value: value(i) })));
  await db.flush();
  await db.close();
  const tables = fs.listAll().filter((file) => file.endsWith('.sst'));
  assert.equal(tables.length, 1, `one table: ${fs.listAll().join(', ')}`);
  const file = tables[0]!;
  const handle = await fs.openRead(file);
  try {
    const reader = TableReader.open(handle, file, Number(path.basename(file, '.sst')));
    const dataBlocks = dataBlockHandles(reader);
    const blockOfKey = new Map<string, number>();
    dataBlocks.forEach((block, index) => {
      const iterator = reader.dataBlock(block).iterator(internalKeyComparator);
      for (iterator.seekToFirst(); iterator.valid(); iterator.next()) blockOfKey.set(iterator.key().subarray(0, -8).toString(), index);
    });
    const footer = decodeFooter(handle.read(handle.size - FOOTER_BYTES, FOOTER_BYTES), handle.size, file);
    assert.ok(dataBlocks.length >= 10, `a table of many blocks: ${dataBlocks.length}`);
    assert.equal(blockOfKey.size, KEY_COUNT);
    assert.ok(footer.filterHandle !== undefined, 'the table has a filter block');
    return { fs, file, sizeBytes: handle.size, footer, dataBlocks, blockOfKey };
  } finally {
    await handle.close();
  }
}

function isCorruption(file: string, offset: number) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof ShaleError, `expected a ShaleError, got ${String(err)}`);
    assert.equal(err.code, 'CORRUPTION', err.message);
    assert.ok(err instanceof CorruptionError, `expected a CorruptionError, got ${err.name}`);
    assert.equal(err.file, file, err.message);
    assert.equal(err.offset, offset, err.message);
    return true;
  };
}

describe('a damaged data block', () => {
  // The first, a middle and the last block; at the block's first byte, its middle, and in its trailer.
  for (const which of ['first', 'middle', 'last'] as const) {
    for (const where of ['start', 'middle', 'trailer'] as const) {
      it(`a flipped bit in the ${which} data block (${where}): its keys are CORRUPTION at the block's offset, every other key reads right`, async () => {
        const layout = await databaseWithOneTable();
        const { fs, file, dataBlocks, blockOfKey } = layout;
        const damagedIndex = which === 'first' ? 0 : which === 'last' ? dataBlocks.length - 1 : dataBlocks.length >> 1;
        const damaged = dataBlocks[damagedIndex]!;
        const at =
          where === 'start' ? damaged.offset : where === 'middle' ? damaged.offset + (damaged.size >> 1) : damaged.offset + damaged.size + BLOCK_TRAILER_BYTES - 2;
        fs.flipBit(file, at, 3);

        const db = await DB.open(DIR, { fs, ...OPTIONS });
        const inDamaged: string[] = [];
        for (let i = 0; i < KEY_COUNT; i++) {
          if (blockOfKey.get(key(i)) === damagedIndex) {
            inDamaged.push(key(i));
            await assert.rejects(db.get(key(i)), isCorruption(file, damaged.offset), `get ${key(i)}`);
          } else {
            assert.equal((await db.get(key(i)))?.toString(), value(i), `get ${key(i)} outside the damaged block`);
          }
        }
        assert.ok(inDamaged.length > 0);
        // The bad block is not cached as good: asking again fails again.
        await assert.rejects(db.get(inDamaged[0]!), isCorruption(file, damaged.offset));
        await assert.rejects(db.getMany([key(damagedIndex === 0 ? KEY_COUNT - 1 : 0), inDamaged[0]!]), isCorruption(file, damaged.offset));

        // Iterators that cross the block fail, in both directions; one that stays clear of it reads right.
        await assert.rejects(db.iterator().all(), isCorruption(file, damaged.offset));
        await assert.rejects(db.iterator({ reverse: true }).all(), isCorruption(file, damaged.offset));
        await assert.rejects(db.keys({ gte: inDamaged[0]!, lte: inDamaged[0]! }).all(), isCorruption(file, damaged.offset));
        // A range that ends inside a neighbouring block, short of its last key, never needs
        // the damaged block: the iterator stops without reading one entry past the range.
        const neighbour = damagedIndex === 0 ? 1 : damagedIndex - 1;
        const neighbourKeys = [...blockOfKey].filter(([, index]) => index === neighbour).map(([k]) => k);
        assert.ok(neighbourKeys.length >= 2);
        const clear = damagedIndex === 0 ? { gt: neighbourKeys[0]! } : { lt: neighbourKeys.at(-1)! };
        const expected = Array.from({ length: KEY_COUNT }, (_, i) => i)
          .filter((i) => (damagedIndex === 0 ? key(i) > clear.gt! : key(i) < clear.lt!))
          .map((i) => `${key(i)}=${value(i)}`);
        assert.ok(expected.length > 0);
        for (const reverse of [false, true]) {
          const read = await db.iterator({ ...clear, reverse }).all();
          assert.deepEqual(read.map(([k, v]) => `${k}=${v}`), reverse ? [...expected].reverse() : expected, `reverse ${reverse}`);
        }
        await db.close();
      });
    }
  }
});

describe('damaged table metadata', () => {
  const cases: { name: string; damage: (layout: TableLayout) => { at: number; offset: number } }[] = [
    {
      name: 'the index block',
      damage: ({ footer }) => ({ at: footer.indexHandle.offset + (footer.indexHandle.size >> 1), offset: footer.indexHandle.offset }),
    },
    {
      name: 'the filter block',
      damage: ({ footer }) => ({ at: footer.filterHandle!.offset + (footer.filterHandle!.size >> 1), offset: footer.filterHandle!.offset }),
    },
    {
      name: 'the properties block',
      damage: ({ footer }) => ({ at: footer.propertiesHandle.offset + (footer.propertiesHandle.size >> 1), offset: footer.propertiesHandle.offset }),
    },
    { name: "the footer's index handle", damage: ({ sizeBytes }) => ({ at: sizeBytes - FOOTER_BYTES + 1, offset: sizeBytes - FOOTER_BYTES }) },
    { name: "the footer's format version", damage: ({ sizeBytes }) => ({ at: sizeBytes - FOOTER_BYTES + 48, offset: sizeBytes - FOOTER_BYTES }) },
    { name: "the footer's checksum", damage: ({ sizeBytes }) => ({ at: sizeBytes - FOOTER_BYTES + 53, offset: sizeBytes - FOOTER_BYTES }) },
    { name: "the footer's magic", damage: ({ sizeBytes }) => ({ at: sizeBytes - 1, offset: sizeBytes - FOOTER_BYTES }) },
    {
      // Format version 2 only: without a prefix filter, byte 69 is the smallest key's length.
      name: "the properties block's bloomPrefixBytes field (byte 69)",
      damage: ({ footer }) => ({ at: footer.propertiesHandle.offset + 69, offset: footer.propertiesHandle.offset }),
    },
  ];
  // Every case with a table of format version 1 and of version 2 (a prefix filter: every key starts with "key").
  for (const bloomPrefixBytes of [0, 3]) {
    for (const { name, damage } of cases) {
      const options: Options = { ...OPTIONS, bloomPrefixBytes };
      it(`a flipped bit in ${name}, table ${bloomPrefixBytes === 0 ? 'without' : 'with'} a prefix filter: every read that touches the table is CORRUPTION naming it, never a value or undefined`, async () => {
        const layout = await databaseWithOneTable(options);
        const { fs, file } = layout;
        assert.equal(layout.footer.formatVersion, bloomPrefixBytes === 0 ? 1 : 2);
        const { at, offset } = damage(layout);
        fs.flipBit(file, at, 5);
        const db = await DB.open(DIR, { fs, ...options });
        for (let i = 0; i < KEY_COUNT; i += 7) await assert.rejects(db.get(key(i)), isCorruption(file, offset), `get ${key(i)}`);
        // A key that was never written but falls in the table's range needs the table too.
        await assert.rejects(db.get('key050a'), isCorruption(file, offset));
        await assert.rejects(db.getMany([key(1), key(2)]), isCorruption(file, offset));
        await assert.rejects(db.iterator().all(), isCorruption(file, offset));
        await assert.rejects(db.iterator({ reverse: true, limit: 1 }).all(), isCorruption(file, offset));
        await assert.rejects(db.keys({ gte: key(100), lt: key(110) }).all(), isCorruption(file, offset));
        // A range inside the one prefix every key has: the filter must not be trusted to skip the table.
        await assert.rejects(db.keys({ gte: 'key', lt: 'kez' }).all(), isCorruption(file, offset));
        // The rest of the database still works: keys outside the table's range, and new writes.
        assert.equal(await db.get('zzz'), undefined);
        await db.put('zzz', 'fresh');
        assert.equal((await db.get('zzz'))?.toString(), 'fresh');
        await db.close();
      });
    }
  }
});

describe('a damaged MANIFEST', () => {
  /** A closed database whose MANIFEST holds its snapshot edit and three flush edits. Returns the MANIFEST's path and records. */
  async function databaseWithEdits(): Promise<{ fs: CrashableFS; manifest: string; records: { offset: number; end: number }[] }> {
    const fs = new CrashableFS();
    const db = await DB.open(DIR, { fs, ...OPTIONS });
    for (let t = 0; t < 3; t++) {
      await db.put(key(t), value(t));
      await db.flush();
    }
    await db.close();
    const manifests = fs.listAll().filter((file) => path.basename(file).startsWith('MANIFEST-'));
    assert.equal(manifests.length, 1);
    const manifest = manifests[0]!;
    const records = [...readLogEvents(fs.readFileSync(manifest))].map((event) => {
      assert.equal(event.kind, 'record');
      return event.kind === 'record' ? { offset: event.offset, end: event.end } : { offset: -1, end: -1 };
    });
    assert.equal(records.length, 9, 'header, snapshot edit and commit, three flush edits and commits');
    return { fs, manifest, records };
  }

  it('a flipped bit in the middle of the MANIFEST: open rejects with CORRUPTION naming the MANIFEST and the damaged record', async () => {
    const { fs, manifest, records } = await databaseWithEdits();
    const middle = fs.fileInfo(manifest)!.size >> 1;
    const damaged = records.find((record) => record.offset <= middle && middle < record.end)!;
    assert.notEqual(damaged, records.at(-1), 'the middle is not in the last record');
    fs.flipBit(manifest, middle, 2);
    await assert.rejects(DB.open(DIR, { fs, ...OPTIONS }), isCorruption(manifest, damaged.offset));
    // Nothing was deleted or rewritten by the failed open: it fails the same way again.
    await assert.rejects(DB.open(DIR, { fs, ...OPTIONS }), isCorruption(manifest, damaged.offset));
  });

  it('a flipped bit in every record but the last: open rejects with CORRUPTION naming the MANIFEST', async () => {
    const { records } = await databaseWithEdits();
    for (const [index, record] of records.slice(0, -1).entries()) {
      const { fs, manifest } = await databaseWithEdits();
      fs.flipBit(manifest, record.end - 1, 0);
      await assert.rejects(DB.open(DIR, { fs, ...OPTIONS }), isCorruption(manifest, record.offset), `record ${index}`);
    }
  });

  it('a flipped bit in the last MANIFEST edit, whose flushed log is gone, is CORRUPTION: its commit record follows it', async () => {
    const { fs, manifest, records } = await databaseWithEdits();
    const lastEdit = records.at(-2)!;
    fs.flipBit(manifest, lastEdit.end - 2, 0);
    await assert.rejects(DB.open(DIR, { fs, ...OPTIONS }), isCorruption(manifest, lastEdit.offset));
  });

  it('a damaged last commit record loses nothing: the intact edit before it is applied', async () => {
    const { fs, manifest, records } = await databaseWithEdits();
    fs.flipBit(manifest, records.at(-1)!.end - 2, 0);
    const db = await DB.open(DIR, { fs, ...OPTIONS });
    for (let t = 0; t < 3; t++) assert.equal((await db.get(key(t)))?.toString(), value(t));
    await db.close();
  });
});
