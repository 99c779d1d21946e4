/**
 * The run's report: markdown tables on stdout (so they paste into
 * docs/benchmarks.md as they are), and the raw figures as JSON.
 */
import * as fs from 'node:fs';
import type { BenchConfig, EngineName, WorkloadName } from './config.js';
import type { DiskProbe } from './disk-probe.js';
import type { EngineInfo } from './engines/engine.js';
import { KEY_SIZE_BYTES } from './keys.js';
import { engineStallSpans } from './monitor.js';
import type { Machine } from './machine.js';
import type { RunResult } from './protocol.js';
import type { RunRecord } from './runner.js';
import { LARGE_VALUE_BYTES, WORKLOADS } from './workloads.js';

const MIB = 1024 * 1024;
const GIB = 1024 * MIB;

export interface Report {
  harness: 'shale bench';
  formatVersion: 1;
  startedAt: string;
  finishedAt: string;
  machine: Machine;
  parameters: BenchConfig;
  directory: string;
  probe: DiskProbe | undefined;
  engines: EngineInfo[];
  runs: RunRecord[];
}

function integer(value: number): string {
  return Math.round(value).toLocaleString('en-US');
}

function fixed(value: number, digits: number): string {
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** Microseconds: one decimal below 10, whole numbers above. */
function micros(value: number): string {
  return value < 10 ? fixed(value, 1) : integer(value);
}

function optionalFixed(value: number | undefined): string {
  return value === undefined ? 'n/a' : fixed(value, 2);
}

function mib(bytes: number): string {
  return fixed(bytes / MIB, 1);
}

function ratio(numerator: number | undefined, denominator: number | undefined): string {
  if (numerator === undefined || denominator === undefined || denominator === 0) return 'n/a';
  return `${fixed(numerator / denominator, 2)}×`;
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)));
  const line = (cells: string[]): string => `| ${cells.map((cell, column) => cell.padEnd(widths[column]!)).join(' | ')} |`;
  const rule = `|${widths.map((width) => '-'.repeat(width + 2)).join('|')}|`;
  return [line(header), rule, ...rows.map(line)].join('\n');
}

function check(record: RunRecord): string {
  const result = record.result!;
  if (result.conflicts !== undefined) {
    const attempts = result.ops + result.conflicts;
    return `${integer(result.conflicts)} conflicts (${fixed((100 * result.conflicts) / attempts, 2)}% of attempts)`;
  }
  if (result.expectedFound === undefined || result.found === undefined) return '';
  const text = `${integer(result.found)}/${integer(result.expectedFound)}`;
  return result.found === result.expectedFound ? `${text} ok` : `${text} MISMATCH`;
}

export function headerText(report: Pick<Report, 'machine' | 'parameters' | 'directory' | 'probe' | 'engines'>): string {
  const { machine, parameters: config, probe } = report;
  const lines: string[] = [];
  lines.push(
    `machine: ${machine.os} ${machine.arch}; ${machine.cpuCount} × ${machine.cpuModel}; ${fixed(machine.memoryBytes / GIB, 1)} GiB; ` +
      `node ${machine.node}; load average at start ${machine.loadAverage.map((load) => fixed(load, 2)).join(' ')}`,
  );
  lines.push(
    `versions: ${Object.entries(machine.versions)
      .map(([name, version]) => `${name} ${version}${name === 'shale' && machine.shaleCommit ? ` (${machine.shaleCommit})` : ''}`)
      .join(', ')}`,
  );
  lines.push(
    `parameters: num ${integer(config.num)}, keys ${KEY_SIZE_BYTES} B, values ${config.valueSizeBytes} B (fillrandom-large ${LARGE_VALUE_BYTES} B; ~50% compressible), ` +
      `reads ${integer(config.reads)}, sync writes ${integer(config.syncWrites)}, non-sync writes in flight ${config.writeConcurrency}, ` +
      `reads in flight ${config.readConcurrency}, awaited ops yield to the event loop ${config.yieldEvery === 0 ? 'never' : `every ${config.yieldEvery}`}, seed ${config.seed}`,
  );
  const mount = probe?.mount;
  lines.push(`directory: ${report.directory}${mount ? ` on ${mount.device} (${mount.type})` : ''}`);
  if (probe !== undefined) {
    lines.push(
      `disk probe: 4 KiB append + fdatasync median ${fixed(probe.fdatasyncMedianMs, 3)} ms (p99 ${fixed(probe.fdatasyncP99Ms, 3)} ms, ` +
        `${probe.fdatasyncSamples} samples; through awaited fs.promises ${fixed(probe.fdatasyncAsyncMedianMs, 3)} ms); ` +
        `sequential write ${integer(probe.sequentialBytes / MIB)} MiB in 1 MiB writes + fsync: ${fixed(probe.sequentialWriteBytesPerSec / GIB, 2)} GiB/s`,
    );
    lines.push(
      `physical limits: fillsync ≤ ${integer(probe.fillsyncLimitOpsPerSec)} writes/s (one fdatasync each); ` +
        `fillsync-concurrent ≤ ${integer(probe.fillsyncConcurrentLimitOpsPerSec)} writes/s (${probe.inFlight} writers sharing each fdatasync)`,
    );
  }
  lines.push('', 'engines (API used; what a resolved write promises):');
  for (const info of report.engines) {
    lines.push(
      `- ${info.name} ${machine.versions[info.packageName] ?? ''}: ${info.settings}`,
      `  write: ${info.api.write}: ${info.durability.write}`,
      `  durable write: ${info.api.syncWrite}: ${info.durability.syncWrite}`,
      `  batch: ${info.api.batch}; delete: ${info.api.delete}`,
      `  read: ${info.api.read}; sync read: ${info.api.readSync}; scan: ${info.api.scan}; seek: ${info.api.seek}`,
      `  compaction before reads: ${info.api.compact}`,
    );
  }
  return lines.join('\n');
}

function resultsTable(records: readonly RunRecord[]): string {
  const rows = records.map((record) => {
    const result = record.result;
    if (result === undefined) return [record.workload, record.engine, 'FAILED', '', '', '', '', '', '', '', '', ''];
    const spec = WORKLOADS[record.workload];
    return [
      record.workload,
      record.engine,
      integer(result.opsPerSec),
      fixed(result.mbPerSec, 1),
      micros(result.latency.p50Us),
      micros(result.latency.p99Us),
      micros(result.latency.maxUs),
      spec.latencyUnit,
      fixed(result.eventLoopDelay.p99Ms, 1),
      fixed(result.eventLoopDelay.maxMs, 1),
      mib(result.rssPeakBytes),
      check(record),
    ];
  });
  return table(
    ['workload', 'engine', 'ops/s', 'MB/s', 'p50 µs', 'p99 µs', 'max µs', 'latency of', 'loop p99 ms', 'loop max ms', 'RSS MiB', 'check'],
    rows,
  );
}

function opsPerSec(records: readonly RunRecord[], workload: WorkloadName, engine: EngineName): number | undefined {
  return records.find((record) => record.workload === workload && record.engine === engine)?.result?.opsPerSec;
}

function ratiosTable(records: readonly RunRecord[], config: BenchConfig): string | undefined {
  if (!config.engines.includes('shale') || config.engines.length < 2) return undefined;
  const others = config.engines.filter((engine) => engine !== 'shale');
  const rows = config.workloads.map((workload) => {
    const shale = opsPerSec(records, workload, 'shale');
    return [
      workload,
      ...config.engines.map((engine) => {
        const value = opsPerSec(records, workload, engine);
        return value === undefined ? 'n/a' : integer(value);
      }),
      ...others.map((engine) => ratio(shale, opsPerSec(records, workload, engine))),
    ];
  });
  return table(['workload', ...config.engines.map((engine) => `${engine} ops/s`), ...others.map((engine) => `shale/${engine}`)], rows);
}

function engineStallsText(result: RunResult): string {
  if (!result.stallEventsSupported) return 'n/a';
  const spans = engineStallSpans(result.engineStalls, result.elapsedMs);
  const totalMs = spans.reduce((sum, span) => sum + span.endMs - span.startMs, 0);
  return `${spans.length} / ${integer(totalMs)} ms`;
}

function writesTable(records: readonly RunRecord[]): string | undefined {
  const rows = records
    .filter((record) => WORKLOADS[record.workload].writes && record.result !== undefined)
    .map((record) => {
      const result = record.result!;
      const stalled = result.observedStalls.reduce((sum, stall) => sum + stall.endMs - stall.startMs, 0);
      const io = result.io;
      return [
        record.workload,
        record.engine,
        record.disk === undefined ? 'n/a' : mib(record.disk.allocatedBytes),
        optionalFixed(result.engineStats?.writeAmplification),
        optionalFixed(result.engineStats?.tableWriteAmplification),
        result.osWriteAmplification === undefined ? 'n/a' : fixed(result.osWriteAmplification, 2),
        io === undefined ? 'n/a' : mib(io.writeBytes - io.cancelledWriteBytes),
        `${result.observedStalls.length} / ${integer(stalled)} ms`,
        engineStallsText(result),
        integer(result.closeMs),
      ];
    });
  if (rows.length === 0) return undefined;
  return table(['workload', 'engine', 'du MiB', 'WA engine', 'WA tables', 'WA OS', 'OS written MiB', 'no-progress stalls', 'engine stalls', 'close ms'], rows);
}

function setupTable(records: readonly RunRecord[]): string | undefined {
  const rows = records
    .filter((record) => record.result !== undefined && (record.prepare.fill || record.prepare.compact))
    .map((record) => {
      const setup = record.result!.setup;
      return [
        record.workload,
        record.engine,
        setup.fillMs === undefined ? '' : `fillrandom ${fixed(setup.fillMs / 1000, 1)} s`,
        setup.compaction === undefined ? '' : setup.compaction.method,
        setup.compactMs === undefined ? '' : `${fixed(setup.compactMs / 1000, 2)} s`,
        record.disk === undefined ? 'n/a' : mib(record.disk.allocatedBytes),
      ];
    });
  if (rows.length === 0) return undefined;
  return table(['before', 'engine', 'untimed fill', 'compaction', 'compaction time', 'du MiB after'], rows);
}

const NOTES = [
  'ops/s: operations per second of the timed phase; for readseq/readreverse and fillbatch an op is one entry. MB/s: key+value bytes written, or returned by reads, per second (10^6 bytes).',
  'latency: issue to resolution of one op (or of the unit in "latency of"), with the op concurrency stated above; percentiles from a log-linear histogram (±1.6%).',
  'loop p99/max: event-loop delay (perf_hooks.monitorEventLoopDelay, 10 ms resolution) during the workload. RSS: largest RSS sampled every 100 ms during the workload (lmdb counts the pages of its memory map it touched).',
  'check: reads that found their key / expected (readmissing expects 0; scans count entries).',
  'du: allocated bytes of the database directory after close. WA OS: (write_bytes − cancelled_write_bytes of /proc/self/io, from the start of the workload to the end of close()) / user bytes; Linux counts a 4 KiB page each time a clean page is dirtied, so a sync write of 116 bytes costs a page. WA engine: log + flush + compaction bytes per user byte as the engine counts them (shale: db.stats().writeAmplification; LevelDB does not count its log). WA tables: flush + compaction bytes only (shale: db.stats(); classic-level: Write(MB) of getProperty(\'leveldb.stats\'), whole MiB). Both count from open, so background work after close() is not in them.',
  'no-progress stalls: count / total time of 100 ms sample intervals in which no op completed (measured the same way for every engine). engine stalls: count / total time of the stalls the engine reported (shale: db.on("stall") begin/end events; n/a: the engine emits none).',
  'ratios: shale ops/s divided by the other engine\'s; above 1 means shale is faster.',
];

/** For lmdb's sync workloads: mean wait for the put's promise, then the extra wait for db.flushed. */
function lmdbDurableWaitLines(records: readonly RunRecord[]): string[] {
  const lines: string[] = [];
  for (const record of records) {
    const raw = record.result?.engineStats?.raw as { durableWrites?: number; putWaitMeanUs?: number; flushedExtraWaitMeanUs?: number } | undefined;
    if (record.engine !== 'lmdb' || raw?.putWaitMeanUs === undefined || raw.flushedExtraWaitMeanUs === undefined) continue;
    lines.push(
      `- ${record.workload}: await db.put() took ${micros(raw.putWaitMeanUs)} µs on average, then await db.flushed ${micros(raw.flushedExtraWaitMeanUs)} µs more ` +
        `(a put resolves after its transaction is synced; flushed only adds an event-loop turn when it is near 0)`,
    );
  }
  return lines;
}

export function reportText(report: Report): string {
  const sections = [headerText(report), '', '## Throughput and latency', '', resultsTable(report.runs)];
  const ratios = ratiosTable(report.runs, report.parameters);
  if (ratios !== undefined) sections.push('', '## Ratios', '', ratios);
  const writes = writesTable(report.runs);
  if (writes !== undefined) sections.push('', '## After the writing workloads', '', writes);
  const setup = setupTable(report.runs);
  if (setup !== undefined) sections.push('', '## Untimed setup', '', setup);
  const lmdbNotes = lmdbDurableWaitLines(report.runs);
  if (lmdbNotes.length > 0) sections.push('', '## lmdb durable writes: where the wait is', '', ...lmdbNotes);
  const failures = report.runs.filter((record) => record.error !== undefined);
  if (failures.length > 0) {
    sections.push('', '## Failures', '', ...failures.map((record) => `- ${record.workload} ${record.engine}: ${record.error}`));
  }
  sections.push('', '## Notes', '', ...NOTES.map((note) => `- ${note}`));
  return sections.join('\n');
}

export function writeJson(path: string, report: Report): void {
  fs.writeFileSync(path, `${JSON.stringify(report, null, 1)}\n`);
}
