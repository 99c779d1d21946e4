/**
 * The compaction filter (docs/internals.md, "The compaction filter"): it keeps,
 * removes (as a DELETE at the same sequence, so older versions never resurface)
 * or rewrites the newest value of each key during compaction; it is never shown
 * an entry a live snapshot can see; a plain function needs the inline executor,
 * a module runs in the worker; an error it throws is a background error.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { DB, ShaleError, type Options } from '../../src/index.js';
import type { CompactionFilterFunction } from '../../src/compaction/compaction-filter.js';
import { CrashableFS } from '../../src/testing/index.js';
import { scriptFile, tempDir } from '../helpers.js';

const SMALL: Options = { memtableSizeBytes: 4096, blockSizeBytes: 256, autoCompaction: false };

async function openInline(filter: CompactionFilterFunction, options: Options = {}, fs = new CrashableFS()): Promise<DB> {
  return DB.open('/db', { fs, compactionExecutor: 'inline', compactionFilter: filter, ...SMALL, ...options });
}

async function contents(db: DB, options: Parameters<DB['iterator']>[0] = {}): Promise<string[]> {
  const out: string[] = [];
  for await (const [key, value] of db.iterator(options)) out.push(`${key.toString()}=${value.toString()}`);
  return out;
}

describe('compaction filter', () => {
  it('removes and rewrites values during compaction; the rest stays as it was', async () => {
    const seen: string[] = [];
    const db = await openInline((key, value) => {
      seen.push(key.toString());
      if (key.toString().startsWith('drop')) return 'remove';
      if (key.toString().startsWith('up')) return { value: Buffer.from(value.toString().toUpperCase()) };
      return key.toString() === 'explicit' ? 'keep' : undefined;
    });
    try {
      await db.write([
        { type: 'put', key: 'drop1', value: 'a' },
        { type: 'put', key: 'drop2', value: 'b' },
        { type: 'put', key: 'up1', value: 'small' },
        { type: 'put', key: 'keep1', value: 'same' },
        { type: 'put', key: 'explicit', value: 'same' },
      ]);
      assert.deepEqual(await contents(db), ['drop1=a', 'drop2=b', 'explicit=same', 'keep1=same', 'up1=small'], 'nothing changes before compaction');
      await db.compactRange();
      assert.deepEqual(await contents(db), ['explicit=same', 'keep1=same', 'up1=SMALL']);
      assert.equal(await db.get('drop1'), undefined);
      assert.deepEqual(seen.sort(), ['drop1', 'drop2', 'explicit', 'keep1', 'up1']);
    } finally {
      await db.close();
    }
  });

  it('a removed value is a DELETE at its sequence: an older version in a deeper level never resurfaces', async () => {
    let active = false;
    const db = await openInline(() => (active ? 'remove' : 'keep'));
    try {
      await db.put('k', 'old');
      await db.compactRange();
      await db.put('k', 'new');
      await db.put('other', 'x');
      await db.flush();
      // Only the L0 table and its range are compacted; the old value stays below (compactRange rewrites the bottom only with a filter, and then it removes both: so compact the top alone).
      active = true;
      await db.compactRange();
      assert.equal(await db.get('k'), undefined, 'the old value must not come back');
      assert.deepEqual(await contents(db), []);
    } finally {
      await db.close();
    }
  });

  it('never sees an entry a live snapshot can see; sees it once the snapshot is released', async () => {
    const seen: string[] = [];
    const db = await openInline((key) => {
      seen.push(key.toString());
      return 'remove';
    });
    try {
      await db.put('before', '1');
      const snapshot = db.snapshot();
      await db.put('after', '2');
      await db.compactRange();
      assert.deepEqual(seen, ['after'], 'the entry the snapshot sees is not shown to the filter');
      assert.deepEqual(await contents(db, { snapshot }), ['before=1']);
      assert.deepEqual(await contents(db), ['before=1']);
      snapshot.release();
      await db.compactRange();
      assert.deepEqual(seen, ['after', 'before']);
      assert.deepEqual(await contents(db), []);
    } finally {
      await db.close();
    }
  });

  it('sees only the newest version of a key, and only live values: no tombstone, no expired entry', async () => {
    let nowMs = 1000;
    const seen: string[] = [];
    const db = await openInline(
      (key, value, context) => {
        seen.push(`${key.toString()}=${value.toString()}@${context.expiresAtMs ?? '-'}`);
        return { value: Buffer.from(`${value.toString()}!`) };
      },
      { clock: () => nowMs },
    );
    try {
      await db.put('k', 'v1');
      await db.put('k', 'v2');
      await db.put('gone', 'x');
      await db.delete('gone');
      await db.put('expired', 'e', { ttl: 5 });
      await db.put('expiring', 'f', { ttl: 500 });
      nowMs += 10;
      await db.compactRange();
      assert.deepEqual(seen.sort(), ['expiring=f@1500', 'k=v2@-']);
      assert.deepEqual(await contents(db), ['expiring=f!', 'k=v2!']);
      nowMs += 500;
      assert.deepEqual(await contents(db), ['k=v2!'], 'a rewritten value keeps its expiry time');
    } finally {
      await db.close();
    }
  });

  it('an error thrown by the filter fails the compaction as a background error; nothing is lost', async () => {
    const db = await openInline(() => {
      throw new Error('filter exploded');
    });
    try {
      await db.put('k', 'v');
      const background = once(db, 'background-error');
      await assert.rejects(db.compactRange(), /filter exploded/);
      const [err] = (await background) as [ShaleError];
      assert.ok(err instanceof ShaleError);
      assert.equal((await db.get('k'))?.toString(), 'v');
    } finally {
      await db.close();
    }
  });

  it('a result that is none of keep, remove or { value } fails the compaction with INVALID_ARGUMENT', async () => {
    const db = await openInline(() => 'drop' as never);
    try {
      await db.put('k', 'v');
      await assert.rejects(db.compactRange(), { code: 'INVALID_ARGUMENT' });
      assert.equal((await db.get('k'))?.toString(), 'v');
    } finally {
      await db.close();
    }
  });

  it('a plain function with the worker executor, or a malformed filter, is INVALID_ARGUMENT at open', async () => {
    const dir = tempDir();
    await assert.rejects(DB.open(dir, { compactionFilter: () => 'keep' }), { code: 'INVALID_ARGUMENT' });
    await assert.rejects(DB.open(dir, { compactionFilter: { module: 'relative/path.js' } }), { code: 'INVALID_ARGUMENT' });
    await assert.rejects(DB.open(dir, { compactionFilter: { module: '/x.mjs', extra: 1 } as never }), { code: 'INVALID_ARGUMENT' });
    await assert.rejects(DB.open(dir, { compactionFilter: 5 as never }), { code: 'INVALID_ARGUMENT' });
    await assert.rejects(DB.open(dir, { compactionFilter: { module: `${dir}/missing.mjs` } }), { code: 'INVALID_ARGUMENT' });
    const noFunction = scriptFile('export const filter = 5;\n', 'not-a-function.mjs');
    await assert.rejects(DB.open(dir, { compactionFilter: { module: noFunction, export: 'filter' } }), { code: 'INVALID_ARGUMENT' });
  });

  it('a filter module runs in the compaction worker', async () => {
    const module = scriptFile(
      [
        'export function dropOdd(key, value, context) {',
        "  if (context.level < 1) throw new Error('bad level');",
        "  const n = Number(key.toString().slice(1));",
        "  return n % 2 === 1 ? 'remove' : { value: Buffer.from(`w${value.toString()}`) };",
        '}',
      ].join('\n'),
      'drop-odd.mjs',
    );
    const db = await DB.open(tempDir(), { ...SMALL, compactionFilter: { module, export: 'dropOdd' } });
    try {
      for (let i = 0; i < 6; i++) await db.put(`k${i}`, `v${i}`);
      await db.compactRange();
      assert.deepEqual(await contents(db), ['k0=wv0', 'k2=wv2', 'k4=wv4']);
    } finally {
      await db.close();
    }
  });
});
