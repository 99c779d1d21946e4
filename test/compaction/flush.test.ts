/**
 * The two halves of a flush: the main thread's flat copy of a frozen memtable and
 * the table built from it, inline and in the worker.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as nodeFs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { InlineExecutor } from '../../src/compaction/executor.js';
import { decodeFlushEntries, encodeFlushEntries, writeTable } from '../../src/compaction/flush.js';
import { WorkerExecutor } from '../../src/compaction/worker-executor.js';
import { ShaleError } from '../../src/errors.js';
import { tableFileName } from '../../src/filenames.js';
import { NodeFileSystem } from '../../src/fs/node-fs.js';
import { EntryType, encodeInternalKey } from '../../src/keys.js';
import { MemTable } from '../../src/memtable/memtable.js';
import { Rng } from '../../src/testing/index.js';
import { tempDir, testSeed } from '../helpers.js';

function randomMemtable(rng: Rng, count: number): MemTable {
  const memtable = new MemTable(8);
  for (let seq = 1; seq <= count; seq++) {
    // Few distinct keys, so that many keys have several versions; some deletes.
    const key = Buffer.from(`key-${rng.int(count / 4)}`);
    if (rng.int(5) === 0) memtable.add(seq, EntryType.DELETE, key, Buffer.alloc(0));
    else memtable.add(seq, EntryType.PUT, key, rng.bytes(rng.int(300)));
  }
  memtable.freeze();
  return memtable;
}

describe('flush', () => {
  it('encodes a frozen memtable as its internal keys and values, in order', async () => {
    const rng = new Rng(testSeed('flush encoding'));
    const memtable = randomMemtable(rng, 3000);
    const expected = [...memtable.entries()].map(([key, value]) => [encodeInternalKey(key.key, key.seq, key.type), value]);
    // A slice of 7 entries yields to the event loop hundreds of times mid-copy.
    const decoded = [...decodeFlushEntries(await encodeFlushEntries(memtable, 7))];
    assert.equal(decoded.length, 3000);
    assert.deepEqual(decoded, expected);
  });

  it('an empty memtable encodes to nothing and flushes to no table', async () => {
    const memtable = new MemTable();
    memtable.freeze();
    const entries = await encodeFlushEntries(memtable);
    assert.equal(entries.length, 0);
    const dir = tempDir('shale-flush-');
    assert.equal(await new InlineExecutor(new NodeFileSystem()).flush({ dir, fileNumber: 5, tableOptions: {}, entries, yieldEveryEntries: 0 }), undefined);
    assert.deepEqual(nodeFs.readdirSync(dir), []);
  });

  it('the worker, the inline executor and recovery\'s writeTable build byte-identical tables', async () => {
    const rng = new Rng(testSeed('flush executors'));
    const memtable = randomMemtable(rng, 5000);
    const fs = new NodeFileSystem();
    const tableOptions = { blockSizeBytes: 1024 };
    const dirs = [tempDir('shale-flush-'), tempDir('shale-flush-'), tempDir('shale-flush-')] as const;
    const worker = new WorkerExecutor();
    try {
      const metas = [
        await worker.flush({ dir: dirs[0], fileNumber: 7, tableOptions, entries: await encodeFlushEntries(memtable), yieldEveryEntries: 0 }),
        await new InlineExecutor(fs).flush({ dir: dirs[1], fileNumber: 7, tableOptions, entries: await encodeFlushEntries(memtable), yieldEveryEntries: 0 }),
        await writeTable(fs, dirs[2], 7, 0, memtable.entries(), tableOptions),
      ];
      const bytes = dirs.map((dir) => nodeFs.readFileSync(path.join(dir, tableFileName(7))));
      assert.ok(bytes[0]!.length > 10_000);
      assert.deepEqual(bytes[1], bytes[0]);
      assert.deepEqual(bytes[2], bytes[0]);
      for (const meta of metas) {
        assert.ok(meta);
        assert.equal(meta.level, 0);
        assert.equal(meta.sizeBytes, bytes[0]!.length);
        assert.ok(Buffer.isBuffer(meta.smallest) && Buffer.isBuffer(meta.largest), 'keys come back as Buffers');
        // Not slices of an 8 KiB pool: structured clone would carry (and the main thread keep) the whole pool.
        assert.equal(meta.smallest.buffer.byteLength, meta.smallest.length, 'smallest key has a buffer of its own');
        assert.equal(meta.largest.buffer.byteLength, meta.largest.length, 'largest key has a buffer of its own');
        assert.deepEqual(meta, metas[0]);
      }
    } finally {
      await worker.close();
    }
  });

  it("a flush the worker cannot create fails with IO_ERROR whose cause is the OS error, with its code, syscall and path", async () => {
    const memtable = randomMemtable(new Rng(1), 100);
    const dir = tempDir('shale-flush-');
    // A directory where the table should go: opening it for writing fails for real, in the worker.
    const table = path.join(dir, tableFileName(9));
    nodeFs.mkdirSync(table);
    const worker = new WorkerExecutor();
    try {
      await assert.rejects(
        worker.flush({ dir, fileNumber: 9, tableOptions: {}, entries: await encodeFlushEntries(memtable), yieldEveryEntries: 0 }),
        (err: unknown) => {
          assert.ok(err instanceof ShaleError, `a ShaleError, not ${String(err)}`);
          assert.equal(err.code, 'IO_ERROR');
          const cause = err.cause as NodeJS.ErrnoException;
          assert.ok(cause instanceof Error, `cause is an Error: ${String(cause)}`);
          assert.equal(cause.code, 'EEXIST');
          assert.equal(cause.syscall, 'open');
          assert.equal(cause.path, table);
          assert.equal(typeof cause.errno, 'number');
          assert.ok(err.message.includes(table), err.message);
          return true;
        },
      );
    } finally {
      await worker.close();
    }
  });

  it('a flush the worker runs out of space for fails with IO_ERROR whose cause is ENOSPC (tiny tmpfs)', async (t) => {
    const mountPoint = tempDir('shale-enospc-');
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', mountPoint], { stdio: 'pipe' });
    } catch (err) {
      const reason = `cannot mount a tmpfs here (${String((err as Error).message).split('\n')[0]})`;
      console.log(`# skipped: ${reason}`);
      t.skip(reason);
      return;
    }
    const worker = new WorkerExecutor();
    try {
      // Incompressible values, far more than 64 KiB of them.
      const memtable = randomMemtable(new Rng(2), 3000);
      await assert.rejects(
        worker.flush({ dir: mountPoint, fileNumber: 9, tableOptions: {}, entries: await encodeFlushEntries(memtable), yieldEveryEntries: 0 }),
        (err: unknown) => {
          assert.ok(err instanceof ShaleError, `a ShaleError, not ${String(err)}`);
          assert.equal(err.code, 'IO_ERROR');
          const cause = err.cause as NodeJS.ErrnoException;
          assert.ok(cause instanceof Error, `cause is an Error: ${String(cause)}`);
          assert.equal(cause.code, 'ENOSPC');
          assert.equal(typeof cause.errno, 'number');
          // A write through a file handle: Node names no file, the table output adds it.
          assert.equal(cause.path, path.join(mountPoint, tableFileName(9)));
          return true;
        },
      );
    } finally {
      await worker.close();
      execFileSync('umount', [mountPoint]);
    }
  });

  it('a flush the worker cannot write fails with IO_ERROR and leaves no file', async () => {
    const memtable = randomMemtable(new Rng(1), 100);
    const dir = path.join(tempDir('shale-flush-'), 'missing');
    const worker = new WorkerExecutor();
    try {
      await assert.rejects(
        worker.flush({ dir, fileNumber: 9, tableOptions: {}, entries: await encodeFlushEntries(memtable), yieldEveryEntries: 0 }),
        (err: Error & { code?: string }) => err.code === 'IO_ERROR' && err.message.includes(tableFileName(9)),
      );
    } finally {
      await worker.close();
    }
  });
});
