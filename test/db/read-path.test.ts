/**
 * The read path through the public DB: flush makes a table and retires its log;
 * gets and iterators merge the memtable, frozen memtables and tables; iterators
 * and snapshots read one consistent state whatever happens after they were made;
 * iterator lifetimes (for await, close, database close), limit and seek; snapshot
 * misuse. Everything runs on the in-memory `CrashableFS`.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { DB, type FileSystem, type Options, type RandomAccessFile, type WritableFile } from '../../src/index.js';
import { CrashableFS, FaultFS } from '../../src/testing/index.js';
import { Model, ModelCursor, firstDifference, type ModelRange, type Pair } from './model.js';
import { isCode } from '../helpers.js';

const DIR = '/db';

/** The names of the files in the database directory, sorted. */
function filesIn(fs: CrashableFS): string[] {
  return fs
    .listAll()
    .filter((file) => path.dirname(file) === DIR)
    .map((file) => path.basename(file))
    .sort();
}

function ofKind(fs: CrashableFS, extension: string): string[] {
  return filesIn(fs).filter((name) => name.endsWith(extension));
}

function show(entries: readonly Pair[]): string[] {
  return entries.map(([key, value]) => `${key.toString('latin1')}=${value.toString('latin1')}`);
}

function key(i: number): string {
  return `k${String(i).padStart(2, '0')}`;
}

/** Asserts that `entries` equals what the model shows for these iterator options. */
function assertMatches(entries: readonly Pair[], model: Model, range: ModelRange = {}, reverse = false, context = ''): void {
  const expected = new ModelCursor(model.entries(), range, reverse, Infinity).rest();
  const difference = firstDifference(entries, expected);
  assert.equal(difference, undefined, `${context}${difference}\n  got      ${show(entries).join(' ')}\n  expected ${show(expected).join(' ')}`);
}

/** Writes through the DB and the model alike. */
class Writer {
  readonly model = new Model();
  constructor(readonly db: DB) {}

  async put(k: string, v: string): Promise<void> {
    await this.db.put(k, v);
    this.model.put(Buffer.from(k), Buffer.from(v));
  }

  async delete(k: string): Promise<void> {
    await this.db.delete(k);
    this.model.delete(Buffer.from(k));
  }
}

/**
 * A file system that can hold the next `sync()` of a file whose name matches a
 * pattern: the engine's flush stops there until the test lets it go, so the test
 * can look at the database in the middle of a flush.
 */
class GatedFS implements FileSystem {
  readonly inner = new CrashableFS();
  #gate: { pattern: RegExp; reached: () => void; released: Promise<void> } | undefined;

  /** Arms the gate; `reached` resolves when a sync of a matching file waits at it, `release` lets it through. */
  holdNextSync(pattern: RegExp): { reached: Promise<void>; release: () => void } {
    let reached!: () => void;
    let release!: () => void;
    const reachedPromise = new Promise<void>((resolve) => (reached = resolve));
    const released = new Promise<void>((resolve) => (release = resolve));
    this.#gate = { pattern, reached, released };
    return { reached: reachedPromise, release };
  }

  async #wrap(file: WritableFile, filePath: string): Promise<WritableFile> {
    const sync = async (): Promise<void> => {
      const gate = this.#gate;
      if (gate !== undefined && gate.pattern.test(filePath)) {
        this.#gate = undefined;
        gate.reached();
        await gate.released;
      }
      await file.sync();
    };
    return {
      get size() {
        return file.size;
      },
      append: (data) => file.append(data),
      sync,
      truncate: (size) => file.truncate(size),
      close: () => file.close(),
    };
  }

  mkdir(dir: string): Promise<void> {
    return this.inner.mkdir(dir);
  }
  list(dir: string): Promise<string[]> {
    return this.inner.list(dir);
  }
  exists(filePath: string): Promise<boolean> {
    return this.inner.exists(filePath);
  }
  async create(filePath: string): Promise<WritableFile> {
    return this.#wrap(await this.inner.create(filePath), filePath);
  }
  async openAppend(filePath: string): Promise<WritableFile> {
    return this.#wrap(await this.inner.openAppend(filePath), filePath);
  }
  openRead(filePath: string): Promise<RandomAccessFile> {
    return this.inner.openRead(filePath);
  }
  openReadSync(filePath: string): RandomAccessFile {
    return this.inner.openReadSync(filePath);
  }
  readFile(filePath: string): Promise<Buffer> {
    return this.inner.readFile(filePath);
  }
  rename(from: string, to: string): Promise<void> {
    return this.inner.rename(from, to);
  }
  remove(filePath: string): Promise<void> {
    return this.inner.remove(filePath);
  }
  syncDir(dir: string): Promise<void> {
    return this.inner.syncDir(dir);
  }
  lock(lockPath: string): ReturnType<FileSystem['lock']> {
    return this.inner.lock(lockPath);
  }
}

describe('flush', () => {
  it('a flush writes one L0 table and removes the log it covered; a new log takes the writes', async () => {
    const fs = new CrashableFS();
    const db = await DB.open(DIR, { fs });
    for (let i = 0; i < 50; i++) await db.put(key(i), `value-${i}`);
    const logsBefore = ofKind(fs, '.log');
    assert.equal(logsBefore.length, 1);
    assert.deepEqual(ofKind(fs, '.sst'), []);
    assert.deepEqual(db.levelFileCounts()[0] ?? 0, 0);

    await db.flush();
    const tables = ofKind(fs, '.sst');
    assert.equal(tables.length, 1);
    assert.equal(db.levelFileCounts()[0], 1);
    const logsAfter = ofKind(fs, '.log');
    assert.equal(logsAfter.length, 1);
    assert.ok(!logsAfter.includes(logsBefore[0]!), `the flushed log ${logsBefore[0]} is still there: ${filesIn(fs).join(', ')}`);
    assert.ok(logsAfter[0]! > logsBefore[0]!, 'the new log has a larger number');
    assert.ok(filesIn(fs).includes('CURRENT'));
    db.checkInvariants();

    // The new log takes later writes; the table holds the earlier ones.
    const newLog = path.join(DIR, logsAfter[0]!);
    const sizeBefore = fs.fileInfo(newLog)!.size;
    await db.put('after', 'flush');
    assert.ok(fs.fileInfo(newLog)!.size > sizeBefore, 'the write went to the new log');
    assert.equal(ofKind(fs, '.sst').length, 1, 'and not to a table');
    for (let i = 0; i < 50; i++) assert.equal((await db.get(key(i)))?.toString(), `value-${i}`);
    await db.close();
  });

  it('flush() on an empty memtable resolves and writes no table; twice in a row writes one', async () => {
    const fs = new CrashableFS();
    const db = await DB.open(DIR, { fs });
    await db.flush();
    assert.deepEqual(ofKind(fs, '.sst'), []);
    assert.equal(db.levelFileCounts().reduce((a, b) => a + b, 0), 0);
    await db.put('k', 'v');
    await db.flush();
    await db.flush();
    assert.equal(ofKind(fs, '.sst').length, 1);
    assert.equal(db.levelFileCounts()[0], 1);
    assert.equal((await db.get('k'))?.toString(), 'v');
    await db.close();
  });

  it('a flush() that freezes a memtable just as the background flush loop ends still completes', async () => {
    // The loop used to be restarted only if it was not running; a memtable frozen
    // after the loop's last check but before its promise settled was never
    // flushed, and flush() waited forever. Each count of reads between the
    // automatic rotation and flush() shifts the interleaving by a few microtasks.
    for (let reads = 0; reads <= 20; reads++) {
      const fs = new CrashableFS();
      const db = await DB.open(DIR, { fs, memtableSizeBytes: 4096, autoCompaction: false });
      let i = 0;
      // Write until a rotation has started a background flush (a second log appears).
      while (ofKind(fs, '.log').length < 2) await db.put(key(i++), 'x'.repeat(100));
      for (let r = 0; r < reads; r++) await db.get(key(0));
      await db.flush();
      assert.equal(ofKind(fs, '.log').length, 1, `${reads} reads: every frozen memtable was flushed`);
      assert.equal((await db.get(key(i - 1)))?.toString(), 'x'.repeat(100));
      await db.close();
    }
  });

  it('reads see the frozen memtable while its table is written and until the table is installed', async () => {
    const fs = new GatedFS();
    const db = await DB.open(DIR, { fs });
    const writer = new Writer(db);
    for (let i = 0; i < 20; i++) await writer.put(key(i), `v${i}`);
    await writer.delete(key(3));

    // Hold the flush first while it syncs the table, then while it syncs the MANIFEST edit naming it.
    for (const [stage, pattern] of [
      ['writing the table', /\.sst$/],
      ['installing the table', /MANIFEST-\d+$/],
    ] as const) {
      const installed = db.levelFileCounts()[0] ?? 0;
      const gate = fs.holdNextSync(pattern);
      const flushing = db.flush();
      await gate.reached;
      assert.equal(ofKind(fs.inner, '.sst').length, installed + 1, `${stage}: the table file exists`);
      assert.equal(db.levelFileCounts()[0] ?? 0, installed, `${stage}: the table is not installed yet`);
      for (let i = 0; i < 20; i++) {
        const expected = writer.model.get(Buffer.from(key(i)))?.toString();
        assert.equal((await db.get(key(i)))?.toString(), expected, `${stage}: get ${key(i)}`);
      }
      assertMatches(await db.iterator().all(), writer.model);
      assertMatches(await db.iterator({ reverse: true, gt: key(5) }).all(), writer.model, { gt: Buffer.from(key(5)) }, true);
      // Writes go on into the new memtable meanwhile.
      await writer.put(key(1), `during ${stage}`);
      await writer.delete(key(2));
      assert.equal((await db.get(key(1)))?.toString(), `during ${stage}`);
      assert.equal(await db.get(key(2)), undefined);
      gate.release();
      await flushing;
      assertMatches(await db.iterator().all(), writer.model);
      db.checkInvariants();
    }
    assert.equal(db.levelFileCounts()[0], 2);
    await db.close();
  });
});

describe('gets', () => {
  it('a get finds the newest value in the memtable, in tables after flushes, and after reopen', async () => {
    const fs = new CrashableFS();
    let db = await DB.open(DIR, { fs });
    await db.put('a', 'a1');
    await db.put('b', 'b1');
    await db.put('c', 'c1');
    assert.equal((await db.get('a'))?.toString(), 'a1');
    await db.flush();
    assert.equal((await db.get('a'))?.toString(), 'a1', 'from the table');
    await db.put('a', 'a2');
    await db.delete('b');
    assert.equal((await db.get('a'))?.toString(), 'a2', 'the memtable hides the table');
    assert.equal(await db.get('b'), undefined, 'a tombstone in the memtable hides the table');
    await db.flush();
    assert.equal((await db.get('a'))?.toString(), 'a2', 'the newer table hides the older');
    assert.equal(await db.get('b'), undefined, 'a tombstone in a newer table hides the older table');
    assert.equal((await db.get('c'))?.toString(), 'c1', 'an older table answers when the newer has nothing');
    assert.equal(await db.get('d'), undefined);
    await db.put('b', 'b3');
    await db.flush();
    assert.equal((await db.get('b'))?.toString(), 'b3', 'a put after a tombstone, both in tables');
    await db.put('c', 'c4');
    assert.equal(db.levelFileCounts()[0], 3);

    await db.close();
    db = await DB.open(DIR, { fs });
    assert.deepEqual(await db.getMany(['a', 'b', 'c', 'd']).then((values) => values.map((v) => v?.toString())), ['a2', 'b3', 'c4', undefined]);
    assert.equal(db.latestSequence, 7n);
    db.checkInvariants();
    await db.close();
  });
});

describe('reads that never wait', () => {
  it('with 64 awaited gets in flight on cached data, the event loop still turns every few hundred gets', async () => {
    const db = await DB.open(DIR, { fs: new CrashableFS() });
    await db.put('k', 'v');
    let completed = 0;
    let completedAtTurn = -1;
    setImmediate(() => (completedAtTurn = completed));
    const worker = async (): Promise<void> => {
      for (let i = 0; i < 200; i++) {
        assert.equal((await db.get('k'))?.toString(), 'v');
        completed++;
      }
    };
    await Promise.all(Array.from({ length: 64 }, worker));
    // Every get waits for a turn once one is due (every 256): the loop turns after
    // about 256 + 64 of them, not once all 64 workers happen to wait at once.
    assert.ok(completedAtTurn >= 0 && completedAtTurn < 1000, `the loop first turned after ${completedAtTurn} of ${completed} gets`);
    await db.close();
  });
});

describe('getSync', () => {
  it('getSync and getManySync answer as get and getMany do: memtable, frozen memtable, tables, snapshots', async () => {
    const fs = new CrashableFS();
    const writer = await layeredDatabase(fs);
    const { db, model } = writer;
    const probes = ['', 'k', key(31), 'zz', ...Array.from({ length: 31 }, (_, i) => key(i))];
    const snapshot = db.snapshot();
    const atSnapshot = model.clone();
    await writer.put(key(1), 'after-snapshot');
    await writer.delete(key(2));
    for (const probe of probes) {
      const expected = model.get(Buffer.from(probe))?.toString();
      assert.equal(db.getSync(probe)?.toString(), expected, `getSync ${probe}`);
      assert.equal((await db.get(probe))?.toString(), expected, `get ${probe}`);
      assert.equal(db.getSync(probe, { snapshot })?.toString(), atSnapshot.get(Buffer.from(probe))?.toString(), `getSync ${probe} at the snapshot`);
    }
    assert.deepEqual(db.getManySync(probes).map((v) => v?.toString()), (await db.getMany(probes)).map((v) => v?.toString()));
    assert.deepEqual(
      db.getManySync(probes, { snapshot }).map((v) => v?.toString()),
      probes.map((probe) => atSnapshot.get(Buffer.from(probe))?.toString()),
    );
    assert.deepEqual(db.getManySync([]), []);
    snapshot.release();
    await db.close();
  });

  it('getSync reads a frozen memtable while its table is being written', async () => {
    const fs = new GatedFS();
    const db = await DB.open(DIR, { fs, autoCompaction: false });
    await db.put('a', 'frozen');
    const gate = fs.holdNextSync(/\.sst$/);
    const flushed = db.flush();
    await gate.reached;
    await db.put('b', 'active');
    assert.equal(db.getSync('a')?.toString(), 'frozen');
    assert.equal(db.getSync('b')?.toString(), 'active');
    gate.release();
    await flushed;
    assert.equal(db.getSync('a')?.toString(), 'frozen', 'from the table');
    await db.close();
  });

  it('getSync opens a table that is not open yet within the call, through openReadSync', async () => {
    const fs = new CrashableFS();
    let db = await DB.open(DIR, { fs, autoCompaction: false });
    await db.put('a', 'in-a-table');
    await db.flush();
    await db.close();
    db = await DB.open(DIR, { fs, autoCompaction: false });
    assert.equal(db.stats().openTableCount, 0, 'no table is open after open');
    const opensBefore = fs.opCounts.openRead;
    assert.equal(db.getSync('a')?.toString(), 'in-a-table');
    assert.equal(fs.opCounts.openRead, opensBefore + 1, 'one open, made during the call');
    assert.equal(db.stats().openTableCount, 1);
    assert.equal(db.getSync('a')?.toString(), 'in-a-table');
    assert.equal(fs.opCounts.openRead, opensBefore + 1, 'the open table is reused');
    await db.close();
  });

  it('an awaited get and a getSync racing to open one table end with one open reader', async () => {
    const fs = new CrashableFS();
    let db = await DB.open(DIR, { fs, autoCompaction: false });
    await db.put('a', 'v');
    await db.flush();
    await db.close();
    db = await DB.open(DIR, { fs, autoCompaction: false });
    const closesBefore = fs.opCounts.close;
    // The get starts opening through the seam's async openRead and waits; the getSync opens it meanwhile.
    const awaited = db.get('a');
    assert.equal(db.getSync('a')?.toString(), 'v');
    assert.equal((await awaited)?.toString(), 'v');
    assert.equal(db.stats().openTableCount, 1);
    assert.equal(fs.opCounts.close, closesBefore + 1, 'the reader that lost the race was closed');
    assert.equal((await db.get('a'))?.toString(), 'v');
    await db.close();
  });

  it('getSync keeps at most maxOpenFiles tables open', async () => {
    const fs = new CrashableFS();
    const db = await DB.open(DIR, { fs, autoCompaction: false, maxOpenFiles: 2 });
    for (let t = 0; t < 5; t++) {
      await db.put(key(t), `v${t}`);
      await db.flush();
    }
    for (let round = 0; round < 3; round++) {
      for (let t = 0; t < 5; t++) assert.equal(db.getSync(key(t))?.toString(), `v${t}`);
      assert.ok(db.stats().openTableCount <= 2, `${db.stats().openTableCount} tables open`);
    }
    await db.close();
  });

  it('the Buffer getSync returns is the caller\'s own', async () => {
    const db = await DB.open(DIR, { fs: new CrashableFS() });
    await db.put('m', 'memtable');
    await db.put('t', 'table');
    await db.flush();
    await db.put('m', 'memtable');
    for (const k of ['m', 't']) {
      const first = db.getSync(k)!;
      const expected = first.toString();
      first.fill(0x21);
      assert.equal(db.getSync(k)?.toString(), expected, k);
      const [many] = db.getManySync([k]);
      many!.fill(0x21);
      assert.equal(db.getSync(k)?.toString(), expected, k);
    }
    await db.close();
  });

  it('getSync throws what get rejects with: bad arguments, released snapshots, a closed database', async () => {
    const db = await DB.open(DIR, { fs: new CrashableFS() });
    await db.put('k', 'v');
    for (const bad of [undefined, null, 42, {}, [1]] as unknown[]) {
      assert.throws(() => db.getSync(bad as string), isCode('INVALID_ARGUMENT'), `key ${String(bad)}`);
      await assert.rejects(db.get(bad as string), isCode('INVALID_ARGUMENT'));
    }
    assert.throws(() => db.getSync('k', 'options' as never), isCode('INVALID_ARGUMENT'));
    assert.throws(() => db.getManySync('k' as never), isCode('INVALID_ARGUMENT'));
    assert.throws(() => db.getManySync(['k', 7 as never]), isCode('INVALID_ARGUMENT'));
    const snapshot = db.snapshot();
    snapshot.release();
    assert.throws(() => db.getSync('k', { snapshot }), isCode('INVALID_ARGUMENT'));
    assert.throws(() => db.getManySync(['k'], { snapshot }), isCode('INVALID_ARGUMENT'));
    const closing = db.close();
    assert.throws(() => db.getSync('k'), isCode('NOT_OPEN'));
    assert.throws(() => db.getManySync(['k']), isCode('NOT_OPEN'));
    await closing;
    assert.throws(() => db.getSync('k'), isCode('NOT_OPEN'));
  });

  it('a failed synchronous table open is IO_ERROR naming the table, and the next getSync tries again', async () => {
    const inner = new CrashableFS();
    let db = await DB.open(DIR, { fs: inner, autoCompaction: false });
    await db.put('a', 'v');
    await db.flush();
    await db.close();
    const fs = new FaultFS(inner);
    db = await DB.open(DIR, { fs, autoCompaction: false });
    fs.addRule({ op: 'openRead', path: /\.sst$/, nth: 1, error: 'EIO' });
    assert.throws(
      () => db.getSync('a'),
      (err: unknown) => isCode('IO_ERROR')(err) && /\.sst/.test((err as Error).message),
    );
    assert.equal(db.getSync('a')?.toString(), 'v');
    await db.close();
  });
});

/** Layers: three tables and a memtable, with overwrites, deletes and resurrections across them. */
async function layeredDatabase(fs: CrashableFS, options: Options = {}): Promise<Writer> {
  const writer = new Writer(await DB.open(DIR, { fs, autoCompaction: false, ...options }));
  for (let i = 0; i < 20; i++) await writer.put(key(i), `t1-${i}`);
  await writer.db.flush();
  for (let i = 5; i < 10; i++) await writer.put(key(i), `t2-${i}`);
  for (let i = 10; i < 13; i++) await writer.delete(key(i));
  await writer.put(key(25), 't2-25');
  await writer.db.flush();
  await writer.put(key(10), 't3-10');
  await writer.delete(key(5));
  await writer.delete(key(25));
  await writer.put('', 't3-empty');
  await writer.db.flush();
  await writer.put(key(6), 'mem-6');
  await writer.delete(key(0));
  await writer.put(key(30), 'mem-30');
  await writer.put(key(11), 'mem-11');
  await writer.delete('');
  await writer.put('k', 'mem-k');
  assert.equal(writer.db.levelFileCounts()[0], 3);
  return writer;
}

describe('iterators over the memtable and several tables', () => {
  const ranges: { name: string; range: ModelRange }[] = [
    { name: 'everything', range: {} },
    { name: 'gte k05, lt k12', range: { gte: Buffer.from('k05'), lt: Buffer.from('k12') } },
    { name: 'gt k05, lte k12', range: { gt: Buffer.from('k05'), lte: Buffer.from('k12') } },
    { name: 'gt k, lt k01 (only k00, deleted)', range: { gt: Buffer.from('k'), lt: Buffer.from('k01') } },
    { name: 'gte "" (the empty key, deleted)', range: { gte: Buffer.alloc(0) } },
    { name: 'lt k25 (deleted), gt k99 (nothing)', range: { gt: Buffer.from('k99'), lt: Buffer.from('k25') } },
  ];
  for (const blocks of ['default blocks', 'blocks of 64 bytes'] as const) {
    const options: Options = blocks === 'default blocks' ? {} : { blockSizeBytes: 64, blockRestartInterval: 2 };
    it(`forward and reverse, bounded and not, they show the newest live value of each key (${blocks})`, async () => {
      const fs = new CrashableFS();
      const { db, model } = await layeredDatabase(fs, options);
      assert.equal(model.get(Buffer.from(key(6)))?.toString(), 'mem-6');
      for (const { name, range } of ranges) {
        for (const reverse of [false, true]) {
          const entries = await db.iterator({ ...range, reverse }).all();
          assertMatches(entries, model, range, reverse, `${name}, reverse ${reverse}: `);
        }
      }
      const forward = show(await db.iterator().all());
      assert.deepEqual(forward.slice(0, 4), ['k=mem-k', 'k01=t1-1', 'k02=t1-2', 'k03=t1-3']);
      assert.ok(forward.includes('k06=mem-6') && forward.includes('k10=t3-10') && forward.includes('k11=mem-11'));
      assert.ok(!forward.some((entry) => /^(k05|k12|k25|k00|)=/.test(entry)), forward.join(' '));
      assert.deepEqual(await db.keys({ reverse: true, limit: 2 }).all().then((keys) => keys.map(String)), ['k30', 'k19']);
      assert.deepEqual(await db.values({ gte: 'k09', lte: 'k11' }).all().then((values) => values.map(String)), ['t2-9', 't3-10', 'mem-11']);
      await db.close();

      // After reopen the memtable is a fourth L0 table; after compactRange every
      // table is below L0. The view stays the same throughout.
      const reopened = await DB.open(DIR, { fs, autoCompaction: false, ...options });
      assert.equal(reopened.levelFileCounts()[0], 4);
      for (const stage of ['four L0 tables', 'compacted below L0'] as const) {
        if (stage === 'compacted below L0') {
          await reopened.compactRange();
          assert.equal(reopened.levelFileCounts()[0], 0);
          assert.ok(reopened.levelFileCounts().slice(1).some((count) => count > 0));
          reopened.checkInvariants();
        }
        for (const { name, range } of ranges) {
          for (const reverse of [false, true]) {
            const entries = await reopened.iterator({ ...range, reverse }).all();
            assertMatches(entries, model, range, reverse, `${stage}, ${name}, reverse ${reverse}: `);
          }
        }
        for (const [k, v] of [...model.entries(), [Buffer.from(key(5)), undefined] as const, [Buffer.from(''), undefined] as const]) {
          assert.equal((await reopened.get(k))?.toString(), v?.toString(), `${stage}: get ${k.toString()}`);
        }
      }
      await reopened.close();
    });
  }

  it('the keys and values an iterator returns are the caller\'s own', async () => {
    const fs = new CrashableFS();
    const { db, model } = await layeredDatabase(fs);
    for (const [k, v] of await db.iterator().all()) {
      k.fill(0x21);
      v.fill(0x21);
    }
    assertMatches(await db.iterator().all(), model);
    for (const k of await db.keys().all()) k.fill(0x21);
    for (const v of await db.values().all()) v.fill(0x21);
    assertMatches(await db.iterator().all(), model, {}, false, 'after modifying what keys() and values() returned: ');
    await db.close();
  });

  it('with copy: false they are views that show the same entries and stay unchanged through writes, flushes and compaction', async () => {
    const fs = new CrashableFS();
    const { db, model } = await layeredDatabase(fs, { blockSizeBytes: 64, blockRestartInterval: 2 });
    const big = Buffer.alloc(5000, 'b');
    await db.put('kbig', big);
    model.put(Buffer.from('kbig'), big);
    await db.flush();
    const taken: { context: string; entries: Pair[]; expected: string[] }[] = [];
    for (const { name, range } of ranges) {
      for (const reverse of [false, true]) {
        const context = `${name}, reverse ${reverse}: `;
        const entries = await db.iterator({ ...range, reverse, copy: false }).all();
        assertMatches(entries, model, range, reverse, context);
        taken.push({ context, entries, expected: show(entries) });
      }
    }
    const keys = await db.keys({ copy: false }).all();
    const values = await db.values({ copy: false, reverse: true }).all();
    assert.deepEqual(keys.map(String), model.entries().map(([k]) => k.toString()));
    assert.deepEqual(values.map(String), model.entries().map(([, v]) => v.toString()).reverse());
    // Two views of one value are the same bytes of one cached block; two copies never share memory.
    const sameMemory = (a: Buffer, b: Buffer): boolean => a.buffer === b.buffer && a.byteOffset === b.byteOffset;
    const views = await Promise.all([0, 1].map(() => db.values({ gte: 'kbig', lte: 'kbig', copy: false }).all()));
    const copies = await Promise.all([0, 1].map(() => db.values({ gte: 'kbig', lte: 'kbig' }).all()));
    assert.equal(views[0]![0]?.toString(), big.toString());
    assert.equal(copies[0]![0]?.toString(), big.toString());
    assert.ok(sameMemory(views[0]![0]!, views[1]![0]!), 'with copy: false, views of the cached block');
    assert.ok(!sameMemory(copies[0]![0]!, copies[1]![0]!), 'the default: copies of their own');
    for (let i = 0; i < 40; i++) await db.put(key(i), `late-${i}`);
    await db.flush();
    await db.compactRange();
    for (const { context, entries, expected } of taken) assert.deepEqual(show(entries), expected, `${context}views changed`);
    await assert.rejects(async () => db.iterator({ copy: 'no' as unknown as boolean }), isCode('INVALID_ARGUMENT'));
    await db.close();
  });
});

describe('prefix filters', () => {
  /** Eight L0 tables that all span a0..z9; table i alone holds the keys `m<i>:<j>`. */
  async function prefixedTables(fs: CrashableFS, bloomPrefixBytes: number): Promise<DB> {
    const db = await DB.open(DIR, { fs, autoCompaction: false, bloomPrefixBytes, blockCacheBytes: 1024 * 1024 });
    for (let table = 0; table < 8; table++) {
      await db.put('a0', `a0-${table}`);
      for (let j = 0; j < 20; j++) await db.put(`m${table}:${String(j).padStart(2, '0')}`, `v${table}-${j}`);
      await db.put('z9', `z9-${table}`);
      await db.flush();
    }
    assert.equal(db.levelFileCounts()[0], 8);
    return db;
  }

  async function blockLookups<T>(db: DB, read: () => Promise<T>): Promise<{ result: T; lookups: number }> {
    const before = db.stats().blockCache;
    const result = await read();
    const after = db.stats().blockCache;
    return { result, lookups: after.hitCount + after.missCount - before.hitCount - before.missCount };
  }

  const expectedM3 = Array.from({ length: 20 }, (_, j) => `m3:${String(j).padStart(2, '0')}=v3-${j}`);

  it('an iterator inside one prefix reads only the tables whose filter holds it, and sees the same entries', async () => {
    const filtered = await prefixedTables(new CrashableFS(), 2);
    const plain = await prefixedTables(new CrashableFS(), 0);
    for (const reverse of [false, true]) {
      const range = { gte: 'm3', lt: 'm4', reverse };
      const withFilter = await blockLookups(filtered, () => filtered.iterator(range).all());
      const without = await blockLookups(plain, () => plain.iterator(range).all());
      const expected = reverse ? [...expectedM3].reverse() : expectedM3;
      assert.deepEqual(show(withFilter.result), expected);
      assert.deepEqual(show(without.result), expected);
      assert.ok(without.lookups >= 8, `without a prefix filter every table is read: ${without.lookups} block lookups`);
      assert.ok(withFilter.lookups <= 2, `with one, only table 3: ${withFilter.lookups} block lookups`);
    }
    // Bounds that span prefixes, or are shorter than one, read every table and still answer right.
    const wide = await blockLookups(filtered, () => filtered.iterator({ gte: 'm3', lt: 'm5' }).all());
    assert.equal(wide.result.length, 40);
    assert.ok(wide.lookups >= 8, `${wide.lookups}`);
    assert.equal((await filtered.iterator({ gte: 'm', lt: 'n' }).all()).length, 160);
    // A prefix no table holds: no table is read.
    const none = await blockLookups(filtered, () => filtered.iterator({ gte: 'm9', lt: 'm:' }).all());
    assert.deepEqual(none.result, []);
    assert.ok(none.lookups <= 1, `${none.lookups}`);
    await plain.close();
    await filtered.close();
  });

  it("each table answers for its own prefix length: reopened with another one, reads stay right and old tables still skip", async () => {
    const fs = new CrashableFS();
    await (await prefixedTables(fs, 2)).close();
    for (const bloomPrefixBytes of [0, 3]) {
      const db = await DB.open(DIR, { fs, autoCompaction: false, bloomPrefixBytes, blockCacheBytes: 1024 * 1024 });
      await db.put('m3:99', 'new');
      await db.flush();
      const { result, lookups } = await blockLookups(db, () => db.iterator({ gte: 'm3', lt: 'm4' }).all());
      assert.deepEqual(show(result), [...expectedM3, 'm3:99=new']);
      // The first eight tables have a 2-byte prefix filter: seven of them skip. The rest were written since.
      const tables = db.levelFileCounts()[0]!;
      assert.ok(lookups <= tables - 7, `seven tables skip: ${lookups} block lookups over ${tables} tables`);
      assert.deepEqual(show(await db.iterator({ gte: 'm3:', lt: 'm3;' }).all()), [...expectedM3, 'm3:99=new']);
      await db.delete('m3:99');
      await db.close();
    }
  });
});

describe('iterator consistency', () => {
  /** 200 keys over two tables and the memtable. */
  async function twoHundredKeys(fs: CrashableFS): Promise<Writer> {
    const writer = new Writer(await DB.open(DIR, { fs, memtableSizeBytes: 64 * 1024, blockSizeBytes: 256 }));
    for (let i = 0; i < 200; i += 2) await writer.put(`key${String(i).padStart(3, '0')}`, `old-${i}`);
    await writer.db.flush();
    for (let i = 1; i < 200; i += 4) await writer.put(`key${String(i).padStart(3, '0')}`, `old-${i}`);
    await writer.db.flush();
    for (let i = 3; i < 200; i += 4) await writer.put(`key${String(i).padStart(3, '0')}`, `old-${i}`);
    return writer;
  }

  /** Overwrites, deletes and inserts everywhere, with flushes in between and memtable rotations. */
  async function churn(writer: Writer): Promise<void> {
    for (let i = 0; i < 200; i++) {
      const k = `key${String(i).padStart(3, '0')}`;
      if (i % 3 === 0) await writer.delete(k);
      else await writer.put(k, `new-${i}-${'x'.repeat(i % 50)}`);
      await writer.put(`${k}-between`, 'inserted');
      if (i % 60 === 59) await writer.db.flush();
    }
    await writer.db.flush();
    await writer.put('key000', 'newest');
  }

  for (const reverse of [false, true]) {
    it(`an iterator keeps reading the state of its creation while writes and flushes go on (reverse ${reverse})`, async () => {
      const fs = new CrashableFS();
      const writer = await twoHundredKeys(fs);
      const { db } = writer;
      const before = writer.model.clone();
      const started = db.iterator({ reverse });
      const notStarted = db.iterator({ reverse });
      const bounded = db.iterator({ reverse, gte: 'key050', lt: 'key150' });
      const head = await started.nextv(3);
      const boundedHead = await bounded.nextv(40);
      const tablesBefore = ofKind(fs, '.sst');

      // The churn flushes several times, so compactions run too (inline, between writes).
      await churn(writer);
      assert.ok(ofKind(fs, '.sst').some((table) => !tablesBefore.includes(table)), 'the churn made tables');
      assert.notEqual(firstDifference(writer.model.entries(), before.entries()), undefined, 'the churn changed the state');

      assertMatches([...head, ...(await started.all())], before, {}, reverse);
      assertMatches(await notStarted.all(), before, {}, reverse);
      const range = { gte: Buffer.from('key050'), lt: Buffer.from('key150') };
      assertMatches([...boundedHead, ...(await bounded.all())], before, range, reverse);
      // A new iterator sees the new state.
      assertMatches(await db.iterator({ reverse }).all(), writer.model, {}, reverse);
      db.checkInvariants();
      await db.close();
    });
  }

  it('a snapshot keeps its state across writes and flushes, for get, getMany and iterators', async () => {
    const fs = new CrashableFS();
    const writer = await twoHundredKeys(fs);
    const { db } = writer;
    const before = writer.model.clone();
    const snapshot = db.snapshot();
    assert.equal(snapshot.sequence, db.latestSequence);
    await churn(writer);
    const probes = ['key000', 'key003', 'key004', 'key005-between', 'key199', 'nope'];
    const atSnapshot = await db.getMany(probes, { snapshot });
    const now = await db.getMany(probes);
    probes.forEach((probe, i) => {
      assert.equal(atSnapshot[i]?.toString(), before.get(Buffer.from(probe))?.toString(), `getMany at the snapshot: ${probe}`);
      assert.equal(now[i]?.toString(), writer.model.get(Buffer.from(probe))?.toString(), `getMany now: ${probe}`);
    });
    assert.equal((await db.get('key000', { snapshot }))?.toString(), 'old-0');
    assert.equal((await db.get('key000'))?.toString(), 'newest');
    assertMatches(await db.iterator({ snapshot }).all(), before);
    assertMatches(await db.iterator({ snapshot, reverse: true, lte: 'key100' }).all(), before, { lte: Buffer.from('key100') }, true);
    snapshot.release();
    await db.close();
  });
});

describe('iterator lifetimes', () => {
  async function tenKeys(): Promise<DB> {
    const db = await DB.open(DIR, { fs: new CrashableFS() });
    for (let i = 0; i < 10; i++) await db.put(key(i), `v${i}`);
    await db.flush();
    return db;
  }

  it('for await closes the iterator when the loop ends, breaks or throws', async () => {
    const db = await tenKeys();
    const whole = db.iterator();
    const seen: string[] = [];
    for await (const [k] of whole) seen.push(k.toString());
    assert.equal(seen.length, 10);
    await assert.rejects(whole.next(), isCode('NOT_OPEN'));

    const broken = db.keys();
    for await (const k of broken) if (k.toString() === key(2)) break;
    await assert.rejects(broken.next(), isCode('NOT_OPEN'));
    assert.throws(() => broken.seek(key(0)), isCode('NOT_OPEN'));

    const thrown = db.values();
    await assert.rejects(
      (async () => {
        for await (const _value of thrown) throw new Error('out of the loop');
      })(),
      /out of the loop/,
    );
    await assert.rejects(thrown.nextv(1), isCode('NOT_OPEN'));
    await db.close();
  });

  it('close() of an iterator is idempotent and next() afterwards is NOT_OPEN', async () => {
    const db = await tenKeys();
    const iterator = db.iterator();
    assert.equal((await iterator.next())?.[0].toString(), key(0));
    await iterator.close();
    await iterator.close();
    await assert.rejects(iterator.next(), isCode('NOT_OPEN'));
    await assert.rejects(iterator.all(), isCode('NOT_OPEN'));
    await db.close();
  });

  it('closing the database closes its open iterators, started or not', async () => {
    const db = await tenKeys();
    const started = db.iterator();
    assert.equal((await started.next())?.[0].toString(), key(0));
    const notStarted = db.keys({ reverse: true });
    const exhausted = db.values();
    assert.equal((await exhausted.all()).length, 10);
    await db.close();
    await assert.rejects(started.next(), isCode('NOT_OPEN'));
    await assert.rejects(notStarted.nextv(5), isCode('NOT_OPEN'));
    assert.throws(() => started.seek(key(1)), isCode('NOT_OPEN'));
    await started.close();
    assert.throws(() => db.iterator(), isCode('NOT_OPEN'));
    assert.throws(() => db.snapshot(), isCode('NOT_OPEN'));
  });
});

describe('limit', () => {
  it('limit caps the entries across next, nextv and seek; 0 yields none; -1 and Infinity mean no limit', async () => {
    const db = await DB.open(DIR, { fs: new CrashableFS() });
    for (let i = 0; i < 10; i++) await db.put(key(i), `v${i}`);
    await db.flush();
    await db.put(key(10), 'v10');
    const keysOf = (entries: Buffer[]): string[] => entries.map((k) => k.toString());
    assert.deepEqual(await db.keys({ limit: 0 }).all(), []);
    assert.deepEqual(keysOf(await db.keys({ limit: 3 }).all()), [key(0), key(1), key(2)]);
    assert.deepEqual(keysOf(await db.keys({ limit: 3, reverse: true }).all()), [key(10), key(9), key(8)]);
    assert.deepEqual(keysOf(await db.keys({ limit: 2, gt: key(4) }).all()), [key(5), key(6)]);
    assert.equal((await db.keys({ limit: -1 }).all()).length, 11);
    assert.equal((await db.keys({ limit: Infinity }).all()).length, 11);
    assert.equal((await db.keys({ limit: 100 }).all()).length, 11);

    const paged = db.keys({ limit: 5 });
    assert.deepEqual(keysOf(await paged.nextv(2)), [key(0), key(1)]);
    assert.deepEqual(keysOf(await paged.nextv(2)), [key(2), key(3)]);
    assert.deepEqual(keysOf(await paged.nextv(2)), [key(4)]);
    assert.deepEqual(await paged.nextv(2), []);
    assert.equal(await paged.next(), undefined);
    assert.equal(paged.count, 5);
    await paged.close();

    const seeking = db.keys({ limit: 3 });
    assert.equal((await seeking.next())?.toString(), key(0));
    seeking.seek(key(7));
    assert.deepEqual(keysOf(await seeking.nextv(10)), [key(7), key(8)], 'the limit counts entries from before the seek');
    await seeking.close();

    for (const bad of [1.5, Number.NaN, '3' as never]) assert.throws(() => db.iterator({ limit: bad }), isCode('INVALID_ARGUMENT'));
    await db.close();
  });
});

describe('seek', () => {
  async function keysInLayers(): Promise<DB> {
    const db = await DB.open(DIR, { fs: new CrashableFS(), blockSizeBytes: 64, blockRestartInterval: 2 });
    for (let i = 0; i < 20; i += 2) await db.put(key(i), `v${i}`);
    await db.flush();
    for (let i = 1; i < 20; i += 2) await db.put(key(i), `v${i}`);
    return db;
  }

  async function keysFrom(iterator: { nextv(size: number): Promise<[Buffer, Buffer][]> }, size: number): Promise<string[]> {
    return (await iterator.nextv(size)).map(([k]) => k.toString());
  }

  it('seek before the first next starts there; forward lands on the first key ≥ target, reverse on the last ≤', async () => {
    const db = await keysInLayers();
    const forward = db.iterator();
    forward.seek(key(5));
    assert.deepEqual(await keysFrom(forward, 2), [key(5), key(6)]);
    const reverse = db.iterator({ reverse: true });
    reverse.seek(key(5));
    assert.deepEqual(await keysFrom(reverse, 2), [key(5), key(4)]);
    const between = db.iterator();
    between.seek('k05a');
    assert.deepEqual(await keysFrom(between, 1), [key(6)]);
    const betweenReverse = db.iterator({ reverse: true });
    betweenReverse.seek('k05a');
    assert.deepEqual(await keysFrom(betweenReverse, 1), [key(5)]);
    const pastEnd = db.iterator();
    pastEnd.seek('z');
    assert.deepEqual(await keysFrom(pastEnd, 1), []);
    const beforeStartReverse = db.iterator({ reverse: true });
    beforeStartReverse.seek('a');
    assert.deepEqual(await keysFrom(beforeStartReverse, 1), []);
    for (const iterator of [forward, reverse, between, betweenReverse, pastEnd, beforeStartReverse]) await iterator.close();
    await db.close();
  });

  it('seek mid-way moves forward or back, drops what was fetched, and works again after the end', async () => {
    const db = await keysInLayers();
    const iterator = db.iterator();
    assert.deepEqual(await keysFrom(iterator, 3), [key(0), key(1), key(2)]);
    iterator.seek(key(15));
    assert.deepEqual(await keysFrom(iterator, 2), [key(15), key(16)]);
    iterator.seek(key(3));
    assert.deepEqual(await keysFrom(iterator, 1), [key(3)]);
    assert.equal((await iterator.all()).length, 16, 'k04..k19');
    const again = db.iterator({ reverse: true });
    assert.equal((await again.nextv(100)).length, 20);
    assert.deepEqual(await keysFrom(again, 1), []);
    again.seek(key(1));
    assert.deepEqual(await keysFrom(again, 5), [key(1), key(0)]);
    await again.close();
    await db.close();
  });

  it('a seek target outside the range ends the iteration; one inside resumes it', async () => {
    const db = await keysInLayers();
    for (const reverse of [false, true]) {
      const iterator = db.iterator({ gte: key(5), lt: key(10), reverse });
      assert.deepEqual(await keysFrom(iterator, 1), [reverse ? key(9) : key(5)]);
      iterator.seek(key(12));
      assert.deepEqual(await keysFrom(iterator, 5), [], `reverse ${reverse}: above the range`);
      iterator.seek(key(1));
      assert.deepEqual(await keysFrom(iterator, 5), [], `reverse ${reverse}: below the range`);
      iterator.seek(key(10));
      assert.deepEqual(await keysFrom(iterator, 5), [], `reverse ${reverse}: the exclusive bound itself`);
      iterator.seek(key(7));
      assert.deepEqual(await keysFrom(iterator, 2), reverse ? [key(7), key(6)] : [key(7), key(8)], `reverse ${reverse}: back inside`);
      await iterator.close();
    }
    await db.close();
  });
});

describe('snapshot misuse', () => {
  it('a released snapshot is INVALID_ARGUMENT for get, getMany and iterators', async () => {
    const db = await DB.open(DIR, { fs: new CrashableFS() });
    await db.put('k', 'v');
    const snapshot = db.snapshot();
    assert.equal((await db.get('k', { snapshot }))?.toString(), 'v');
    snapshot.release();
    assert.equal(snapshot.released, true);
    snapshot.release();
    await assert.rejects(db.get('k', { snapshot }), isCode('INVALID_ARGUMENT'));
    await assert.rejects(db.getMany(['k'], { snapshot }), isCode('INVALID_ARGUMENT'));
    assert.throws(() => db.iterator({ snapshot }), isCode('INVALID_ARGUMENT'));
    assert.throws(() => db.keys({ snapshot }), isCode('INVALID_ARGUMENT'));
    await db.close();
  });

  it('a snapshot of another database, or of this one before a reopen, is INVALID_ARGUMENT', async () => {
    const fs = new CrashableFS();
    const a = await DB.open('/a', { fs });
    const b = await DB.open('/b', { fs });
    await a.put('k', 'a');
    await b.put('k', 'b');
    const ofA = a.snapshot();
    await assert.rejects(b.get('k', { snapshot: ofA }), isCode('INVALID_ARGUMENT'));
    await assert.rejects(b.getMany(['k'], { snapshot: ofA }), isCode('INVALID_ARGUMENT'));
    assert.throws(() => b.iterator({ snapshot: ofA }), isCode('INVALID_ARGUMENT'));
    await assert.rejects(b.get('k', { snapshot: { sequence: 1n } as never }), isCode('INVALID_ARGUMENT'));
    assert.equal((await a.get('k', { snapshot: ofA }))?.toString(), 'a');

    await a.close();
    const reopened = await DB.open('/a', { fs });
    await assert.rejects(reopened.get('k', { snapshot: ofA }), isCode('INVALID_ARGUMENT'));
    await reopened.close();
    await b.close();
  });
});

describe('table lifetimes', () => {
  it('tables an open iterator reads are not deleted by compaction until the iterator closes', async () => {
    const fs = new CrashableFS();
    const writer = new Writer(await DB.open(DIR, { fs, autoCompaction: false }));
    const { db } = writer;
    // Three overlapping L0 tables: compacting them rewrites them (no trivial move).
    for (let t = 0; t < 3; t++) {
      for (let i = t; i < 30; i += 3) await writer.put(key(i), `t${t}-${i}`);
      await writer.put(key(29), `t${t}-29`);
      await db.flush();
    }
    const before = writer.model.clone();
    const pinnedTables = ofKind(fs, '.sst');
    assert.equal(pinnedTables.length, 3);
    const started = db.iterator();
    assert.equal((await started.next())?.[0].toString(), key(0));
    const notStarted = db.iterator({ reverse: true });

    await db.compactRange();
    assert.equal(db.levelFileCounts()[0], 0, 'the L0 tables were compacted');
    const afterFirst = ofKind(fs, '.sst');
    assert.ok(afterFirst.some((table) => !pinnedTables.includes(table)), 'compaction wrote new tables');
    for (const table of pinnedTables) assert.ok(afterFirst.includes(table), `${table} was deleted while an iterator reads it`);
    for (const table of pinnedTables) assert.ok(db.liveTableNumbers().includes(Number(table.slice(0, 6))), `${table} is live`);

    // More changes and another compaction; the iterators still read the old tables.
    for (let i = 0; i < 30; i += 2) await writer.delete(key(i));
    await writer.put(key(31), 'new');
    await db.compactRange();
    assertMatches([...[[Buffer.from(key(0)), Buffer.from('t0-0')] as Pair], ...(await started.all())], before);
    for (const table of pinnedTables) assert.ok(ofKind(fs, '.sst').includes(table), `${table} was deleted while an iterator reads it`);
    assertMatches(await notStarted.nextv(5), before, { gte: Buffer.from(key(25)) }, true);

    // Once the last reader is gone, the compacted-away tables go too.
    await notStarted.close();
    const remaining = ofKind(fs, '.sst');
    for (const table of pinnedTables) assert.ok(!remaining.includes(table), `${table} outlived its last reader`);
    assertMatches(await db.iterator().all(), writer.model);
    db.checkInvariants();
    await db.close();
  });

  it('an iterator over more tables than maxOpenFiles reads them all', async () => {
    const db = await DB.open(DIR, { fs: new CrashableFS(), maxOpenFiles: 2 });
    for (let t = 0; t < 3; t++) {
      await db.put(key(t), `v${t}`);
      await db.flush();
    }
    try {
      assert.deepEqual((await db.iterator().all()).map(([k]) => k.toString()), [key(0), key(1), key(2)]);
      assert.deepEqual((await db.getMany([key(0), key(1), key(2)])).map(String), ['v0', 'v1', 'v2']);
    } finally {
      await db.close();
    }
  });
});
