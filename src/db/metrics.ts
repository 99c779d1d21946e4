/**
 * `db.metrics()`: the database's figures in the Prometheus text exposition
 * format, version 0.0.4 (docs/internals.md, "Metrics"). It renders what the
 * database keeps anyway (the counters of `stats.ts`, the version's levels, the
 * caches) and the latency histograms of `latency-histogram.ts`; rendering costs
 * nothing until a scrape asks for it.
 *
 * Naming follows Prometheus's conventions: every name starts `shale_`, carries
 * its unit (`_bytes`, `_seconds`), and a counter ends in `_total`.
 */
import { invalidArgument } from '../errors.js';
import { LATENCY_BUCKET_BOUNDS_SECONDS, type LatencyHistogram, type Latencies } from './latency-histogram.js';
import type { DBStats } from './stats.js';

/** Options of `db.metrics()`. */
export interface MetricsOptions {
  /**
   * Labels added to every sample, such as `{ db: 'users' }` to tell several
   * databases of one process apart. Names follow Prometheus's rules
   * (`[a-zA-Z_][a-zA-Z0-9_]*`, no leading `__`); `le` and `level` are taken.
   */
  labels?: Record<string, string>;
}

/** What `renderMetrics` reads. */
export interface MetricsSources {
  stats: DBStats;
  latencies: Latencies;
  /** Approximate bytes of every memtable, the frozen ones included. */
  memtableBytes: number;
  lastSequence: number;
  readOnly: boolean;
  /** A read-only database's loads started again (0 for a writable one). */
  readOnlyRetryCount: number;
}

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const RESERVED_LABELS = new Set(['le', 'level']);

/** The exposition text: a HELP and a TYPE line per family, then its samples; ends with a newline. */
export function renderMetrics(sources: MetricsSources, options: MetricsOptions | undefined): string {
  const out = new Exposition(constantLabels(options));
  const { stats, latencies } = sources;
  out.counter('shale_writes_total', 'Puts and deletes applied since open (each operation of a batch counts).', stats.writeCount);
  out.counter('shale_write_bytes_total', 'Key and value bytes of the puts and deletes applied since open.', stats.userBytesWritten);
  out.counter('shale_wal_written_bytes_total', 'Bytes appended to write-ahead logs since open.', stats.walBytesWritten);
  out.counter('shale_flushes_total', 'Memtables flushed to level-0 tables since open.', stats.flushCount);
  out.counter('shale_flush_written_bytes_total', 'Bytes of tables written by flushes since open.', stats.flushBytesWritten);
  out.counter('shale_compactions_total', 'Compactions completed since open.', stats.compactionCount);
  out.counter('shale_compaction_read_bytes_total', 'Bytes of tables read by compactions since open.', stats.compactionBytesRead);
  out.counter('shale_compaction_written_bytes_total', 'Bytes of tables written by compactions since open.', stats.compactionBytesWritten);
  out.counter('shale_stalls_total', 'Times writes stopped for flush or compaction since open.', stats.stallCount);
  out.counter('shale_stall_seconds_total', 'Time writes spent stopped since open.', stats.stallTimeMs / 1000);
  out.counter('shale_slowdowns_total', 'Write groups paced because level 0 reached its slowdown trigger, since open.', stats.slowdownCount);
  out.counter('shale_slowdown_seconds_total', 'Time write groups spent paced since open.', stats.slowdownTimeMs / 1000);
  out.counter('shale_transaction_commits_total', 'Transactions committed since open.', stats.transactionCommitCount);
  out.counter('shale_transaction_conflicts_total', 'Transaction commits refused with CONFLICT since open.', stats.transactionConflictCount);
  out.counter('shale_block_cache_hits_total', 'Block reads answered by the block cache since open.', stats.blockCache.hitCount);
  out.counter('shale_block_cache_misses_total', 'Block reads that went to the file since open.', stats.blockCache.missCount);
  out.counter('shale_read_only_load_retries_total', 'Read-only opens and refreshes started again because the writer changed the database under them, since open.', sources.readOnlyRetryCount);

  out.perLevel('shale_level_size_bytes', 'Bytes of the tables of each level.', stats.levels.map((level) => level.bytes));
  out.perLevel('shale_level_tables', 'Tables in each level.', stats.levels.map((level) => level.fileCount));
  out.gauge('shale_memtable_size_bytes', 'Approximate bytes of the memtables, frozen ones waiting for flush included.', sources.memtableBytes);
  out.gauge('shale_immutable_memtables', 'Frozen memtables waiting for flush.', stats.immutableMemtableCount);
  out.gauge('shale_open_tables', 'Table files open in the table cache.', stats.openTableCount);
  out.gauge('shale_snapshots', 'Live snapshots (distinct sequence numbers).', stats.liveSnapshotCount);
  out.gauge('shale_running_compactions', 'Compactions running now.', stats.runningCompactionCount);
  out.gauge('shale_transactions_open', 'Transactions open now.', stats.openTransactionCount);
  out.gauge('shale_transaction_history_bytes', 'Bytes of recent commit history kept for open transactions\' conflict checks.', stats.transactionHistoryBytes);
  out.gauge('shale_block_cache_usage_bytes', 'Bytes of blocks held by the block cache.', stats.blockCache.usageBytes);
  out.gauge('shale_block_cache_capacity_bytes', 'Capacity of the block cache in bytes.', stats.blockCache.capacityBytes);
  out.gauge('shale_last_sequence', 'Sequence number of the last write applied (read-only: of the view).', sources.lastSequence);
  out.gauge('shale_read_only', '1 when the database was opened read-only, else 0.', sources.readOnly ? 1 : 0);

  out.histogram('shale_write_duration_seconds', 'Time from a put, delete or write call to its promise resolving.', latencies.write);
  out.histogram('shale_wal_sync_duration_seconds', 'Time of one fdatasync of the write-ahead log.', latencies.walSync);
  out.histogram('shale_get_duration_seconds', 'Time from a get, getSync, getMany or getManySync call to its answer.', latencies.get);
  return out.text();
}

/** The `{name="value",...}` text of the caller's labels (empty without any), checked. */
function constantLabels(options: MetricsOptions | undefined): string[] {
  if (options === undefined) return [];
  if (typeof options !== 'object' || options === null) throw invalidArgument('metrics options must be an object');
  for (const name of Object.keys(options)) if (name !== 'labels') throw invalidArgument(`unknown metrics option ${name}`);
  const labels = options.labels ?? {};
  if (typeof labels !== 'object' || labels === null) throw invalidArgument('option labels must be an object of strings');
  return Object.entries(labels).map(([name, value]) => {
    if (!LABEL_NAME.test(name) || name.startsWith('__')) throw invalidArgument(`label name ${JSON.stringify(name)} is not a valid Prometheus label name`);
    if (RESERVED_LABELS.has(name)) throw invalidArgument(`label name ${name} is used by shale's own metrics`);
    if (typeof value !== 'string') throw invalidArgument(`label ${name} must be a string`);
    return `${name}="${escapeLabelValue(value)}"`;
  });
}

/** The exposition format's escapes in a label value: backslash, double quote, newline. */
function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** A number as the format writes it: Go's float syntax, with `+Inf`, `-Inf` and `NaN`. */
function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

/** Builds the text family by family. */
class Exposition {
  readonly #lines: string[] = [];
  readonly #constant: string[];

  constructor(constant: string[]) {
    this.#constant = constant;
  }

  counter(name: string, help: string, value: number): void {
    this.#family(name, help, 'counter');
    this.#sample(name, [], value);
  }

  gauge(name: string, help: string, value: number): void {
    this.#family(name, help, 'gauge');
    this.#sample(name, [], value);
  }

  /** A gauge with one sample per level, labelled `level="0"` and so on. */
  perLevel(name: string, help: string, values: number[]): void {
    this.#family(name, help, 'gauge');
    values.forEach((value, level) => this.#sample(name, [`level="${level}"`], value));
  }

  /** `_bucket` samples (cumulative, `le` ascending, `+Inf` last), then `_sum` and `_count`. */
  histogram(name: string, help: string, histogram: LatencyHistogram): void {
    this.#family(name, help, 'histogram');
    let cumulative = 0;
    LATENCY_BUCKET_BOUNDS_SECONDS.forEach((bound, index) => {
      cumulative += histogram.bucketCounts[index]!;
      this.#sample(`${name}_bucket`, [`le="${formatValue(bound)}"`], cumulative);
    });
    this.#sample(`${name}_bucket`, ['le="+Inf"'], histogram.count);
    this.#sample(`${name}_sum`, [], histogram.sumSeconds);
    this.#sample(`${name}_count`, [], histogram.count);
  }

  text(): string {
    return `${this.#lines.join('\n')}\n`;
  }

  #family(name: string, help: string, type: 'counter' | 'gauge' | 'histogram'): void {
    this.#lines.push(`# HELP ${name} ${help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`, `# TYPE ${name} ${type}`);
  }

  #sample(name: string, labels: string[], value: number): void {
    const all = [...this.#constant, ...labels];
    this.#lines.push(`${name}${all.length === 0 ? '' : `{${all.join(',')}}`} ${formatValue(value)}`);
  }
}
