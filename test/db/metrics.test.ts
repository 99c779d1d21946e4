import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import { DB } from '../../src/index.js';
import { LATENCY_BUCKET_BOUNDS_SECONDS, LatencyHistogram } from '../../src/db/latency-histogram.js';
import { isCode, tempDir } from '../helpers.js';

/** What parse-prometheus-text-format (a devDependency, without types) returns. */
interface ParsedFamily {
  name: string;
  help: string;
  type: 'COUNTER' | 'GAUGE' | 'HISTOGRAM' | 'SUMMARY' | 'UNTYPED';
  metrics: { value?: string; labels?: Record<string, string>; buckets?: Record<string, string>; count?: string; sum?: string }[];
}
const parsePrometheusTextFormat = createRequire(import.meta.url)('parse-prometheus-text-format') as (text: string) => ParsedFamily[];

/**
 * The parser is lenient (it takes any line for a sample), so the text is first
 * checked line by line against the exposition format's grammar, then parsed.
 */
function parseStrictly(text: string): Map<string, ParsedFamily> {
  assert.ok(text.endsWith('\n'), 'the text ends with a newline');
  const name = '[a-zA-Z_:][a-zA-Z0-9_:]*';
  const labelValue = '"(?:[^"\\\\\\n]|\\\\[\\\\"n])*"';
  const labels = `\\{${'[a-zA-Z_][a-zA-Z0-9_]*'}=${labelValue}(?:,[a-zA-Z_][a-zA-Z0-9_]*=${labelValue})*\\}`;
  const value = '(?:[-+]?(?:\\d+\\.?\\d*(?:[eE][-+]?\\d+)?|\\.\\d+)|[-+]Inf|NaN)';
  const sample = new RegExp(`^${name}(?:${labels})? ${value}$`);
  const declared = new Set<string>();
  for (const line of text.slice(0, -1).split('\n')) {
    const help = /^# HELP (\S+) .+$/.exec(line);
    const type = /^# TYPE (\S+) (counter|gauge|histogram)$/.exec(line);
    if (type) declared.add(type[1]!);
    if (help || type) continue;
    assert.match(line, sample, `a well-formed sample line: ${line}`);
    const family = line.replace(/[{ ].*$/, '').replace(/_(bucket|sum|count)$/, '');
    assert.ok(declared.has(family) || declared.has(line.replace(/[{ ].*$/, '')), `${line} follows its family's TYPE line`);
  }
  const families = new Map<string, ParsedFamily>();
  for (const family of parsePrometheusTextFormat(text)) {
    assert.ok(!families.has(family.name), `${family.name} appears once`);
    families.set(family.name, family);
  }
  return families;
}

/** The one value of an unlabelled counter or gauge. */
function single(families: Map<string, ParsedFamily>, name: string): number {
  const family = families.get(name);
  assert.ok(family, `${name} is exported`);
  assert.equal(family.metrics.length, 1, name);
  return Number(family.metrics[0]!.value);
}

/** Checks a histogram's shape (in `text` and as parsed) and returns its count. */
function histogramCount(text: string, families: Map<string, ParsedFamily>, name: string): number {
  const family = families.get(name);
  assert.ok(family, `${name} is exported`);
  assert.equal(family.type, 'HISTOGRAM');
  const metric = family.metrics[0]!;
  const inText = [...text.matchAll(new RegExp(`^${name}_bucket\\{(?:.*,)?le="([^"]+)"\\} `, 'gm'))].map((match) => match[1]);
  const bounds = [...LATENCY_BUCKET_BOUNDS_SECONDS.map(String), '+Inf'];
  assert.deepEqual(inText, bounds, `${name}: every bucket, le ascending, +Inf last`);
  // Object keys that look like integers come first: order the parsed buckets by bound.
  const buckets = bounds.map((le) => [le, metric.buckets?.[le]] as const);
  let previous = 0;
  for (const [le, count] of buckets) {
    assert.ok(count !== undefined, `${name}: bucket le=${le} parsed`);
    assert.ok(Number(count) >= previous, `${name}: buckets are cumulative (le=${le})`);
    previous = Number(count);
  }
  assert.equal(Number(metric.count), previous, `${name}: the +Inf bucket is the count`);
  assert.ok(Number(metric.sum) >= 0, `${name}: sum`);
  return Number(metric.count);
}

describe('db.metrics()', () => {
  it('is Prometheus text that a parser reads, every family named shale_* with a unit, typed and explained, counting what was done', async () => {
    const db = await DB.open(tempDir(), { memtableSizeBytes: 4 * 1024, autoCompaction: false });
    let writes = 0;
    for (let i = 0; i < 200; i++) {
      await db.put(`key${i}`, `value${i}`, { sync: i % 10 === 0 });
      writes++;
    }
    await db.write([
      { type: 'put', key: 'a', value: '1' },
      { type: 'delete', key: 'key0' },
    ]);
    writes++;
    await db.delete('key1');
    writes++;
    await db.flush();
    await db.compactRange();
    let gets = 0;
    for (let i = 0; i < 50; i++, gets++) await db.get(`key${i}`);
    for (let i = 0; i < 20; i++, gets++) db.getSync(`key${i}`);
    await db.getMany(['a', 'b', 'c']);
    db.getManySync(['a', 'b']);
    gets += 2;
    const snapshot = db.snapshot();
    const text = db.metrics();
    const families = parseStrictly(text);
    const stats = db.stats();

    for (const family of families.values()) {
      assert.match(family.name, /^shale_[a-z0-9_]+$/);
      assert.ok(family.help.length > 0, `${family.name} has HELP`);
      assert.ok(['COUNTER', 'GAUGE', 'HISTOGRAM'].includes(family.type), `${family.name} is typed`);
      if (family.type === 'COUNTER') assert.match(family.name, /_total$/);
      if (family.type === 'HISTOGRAM') assert.match(family.name, /_seconds$/);
      if (/bytes/.test(family.name)) assert.match(family.name, /_bytes(_total)?$/);
    }
    assert.equal(single(families, 'shale_writes_total'), 203, 'every put and delete, each operation of the batch');
    assert.equal(single(families, 'shale_write_bytes_total'), stats.userBytesWritten);
    assert.ok(single(families, 'shale_wal_written_bytes_total') > stats.userBytesWritten);
    assert.equal(single(families, 'shale_flushes_total'), stats.flushCount);
    assert.ok(stats.flushCount >= 1);
    assert.equal(single(families, 'shale_compactions_total'), stats.compactionCount);
    assert.ok(stats.compactionCount >= 1);
    assert.equal(single(families, 'shale_compaction_written_bytes_total'), stats.compactionBytesWritten);
    assert.equal(single(families, 'shale_block_cache_hits_total'), stats.blockCache.hitCount);
    assert.equal(single(families, 'shale_block_cache_misses_total'), stats.blockCache.missCount);
    assert.equal(single(families, 'shale_snapshots'), 1);
    assert.equal(single(families, 'shale_open_tables'), stats.openTableCount);
    assert.equal(single(families, 'shale_last_sequence'), Number(db.latestSequence));
    assert.equal(single(families, 'shale_read_only'), 0);
    assert.equal(single(families, 'shale_memtable_size_bytes'), 0, 'compactRange flushed the memtable');
    const levelBytes = families.get('shale_level_size_bytes')!.metrics.map((metric) => [metric.labels?.['level'], Number(metric.value)]);
    assert.deepEqual(
      levelBytes,
      stats.levels.map((level) => [String(level.level), level.bytes]),
    );
    assert.ok(stats.levels.some((level) => level.bytes > 0));
    assert.equal(histogramCount(text, families, 'shale_write_duration_seconds'), writes);
    assert.equal(histogramCount(text, families, 'shale_wal_sync_duration_seconds'), 22, 'one fdatasync per sync write, each alone in its group: 20 puts, and the batch and the delete (sync by default)');
    assert.equal(histogramCount(text, families, 'shale_get_duration_seconds'), gets);
    snapshot.release();
    await db.close();
    assert.throws(() => db.metrics(), isCode('NOT_OPEN'));
  });

  it('adds the caller\'s labels to every sample, escaped; bad label names are INVALID_ARGUMENT', async () => {
    const db = await DB.open(tempDir());
    await db.put('k', 'v');
    const text = db.metrics({ labels: { db: 'users "main"\\n', shard: '2' } });
    const families = parseStrictly(text);
    for (const line of text.split('\n')) {
      if (line === '' || line.startsWith('#')) continue;
      assert.ok(line.includes('{db="users \\"main\\"\\\\n",shard="2"'), `labelled, escaped: ${line}`);
    }
    for (const family of families.values()) {
      // The parser keeps a histogram's labels only per bucket; the text check above covers them.
      if (family.type === 'HISTOGRAM') continue;
      for (const metric of family.metrics) {
        assert.equal(metric.labels?.['db'], 'users "main"\\n', `${family.name}: the value comes back as given`);
        assert.equal(metric.labels?.['shard'], '2');
      }
    }
    assert.throws(() => db.metrics({ labels: { 'bad-name': 'x' } }), isCode('INVALID_ARGUMENT'));
    assert.throws(() => db.metrics({ labels: { __reserved: 'x' } }), isCode('INVALID_ARGUMENT'));
    assert.throws(() => db.metrics({ labels: { le: 'x' } }), isCode('INVALID_ARGUMENT'));
    assert.throws(() => db.metrics({ labels: { db: 3 as unknown as string } }), isCode('INVALID_ARGUMENT'));
    assert.throws(() => db.metrics({ label: {} } as never), isCode('INVALID_ARGUMENT'));
    await db.close();
  });

  it('a read-only database reports its view and its gets, and no writes', async () => {
    const dir = tempDir();
    const writer = await DB.open(dir);
    await writer.put('k', 'v');
    const reader = await DB.open(dir, { readOnly: true });
    await reader.get('k');
    const text = reader.metrics();
    const families = parseStrictly(text);
    assert.equal(single(families, 'shale_read_only'), 1);
    assert.equal(single(families, 'shale_read_only_load_retries_total'), 0, 'nothing changed under the load');
    assert.equal(single(families, 'shale_last_sequence'), 1);
    assert.equal(single(families, 'shale_writes_total'), 0);
    assert.equal(histogramCount(text, families, 'shale_get_duration_seconds'), 1);
    assert.ok(single(families, 'shale_memtable_size_bytes') > 0, 'the replayed log is in memory');
    await reader.close();
    await writer.close();
  });
});

describe('LatencyHistogram', () => {
  it('puts a duration in the first bucket whose bound it does not exceed (bounds are inclusive), past the last only in +Inf', () => {
    const histogram = new LatencyHistogram();
    histogram.observeSeconds(0);
    histogram.observeSeconds(-1);
    histogram.observeSeconds(0.001);
    histogram.observeSeconds(0.0010001);
    histogram.observeSeconds(10);
    histogram.observeSeconds(11);
    const at = (bound: number): number => histogram.bucketCounts[LATENCY_BUCKET_BOUNDS_SECONDS.indexOf(bound)]!;
    assert.equal(at(0.000001), 2, 'zero, and a clock stepping back, count as zero');
    assert.equal(at(0.001), 1);
    assert.equal(at(0.0025), 1);
    assert.equal(at(10), 1);
    assert.equal(histogram.bucketCounts[LATENCY_BUCKET_BOUNDS_SECONDS.length], 1);
    assert.equal(histogram.count, 6);
    assert.ok(Math.abs(histogram.sumSeconds - 21.0020001) < 1e-9);
  });
});
