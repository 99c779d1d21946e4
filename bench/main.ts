/**
 * `npm run bench`: the db_bench-style comparison of shale with classic-level
 * (LevelDB) and lmdb in one run (DESIGN.md, "Performance"; docs/benchmarks.md).
 *
 * Probes the disk, runs each workload on each engine in turn (each pair in its
 * own child process), prints markdown tables on stdout and progress on stderr,
 * and with --json writes the raw figures and an SVG chart of fillrandom's
 * throughput beside them. Measures; asserts nothing.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { throughputChart } from './chart.js';
import { USAGE, parseConfig, type BenchConfig } from './config.js';
import { probeDisk } from './disk-probe.js';
import { engineInfo } from './engines/engine.js';
import { describeMachine } from './machine.js';
import { ProgressLine } from './progress.js';
import { reportText, writeJson, type Report } from './report.js';
import { killRunningChild, runAll } from './runner.js';

const CHART_WORKLOAD = 'fillrandom';

function makeRootDir(config: BenchConfig): string {
  const parent = config.dir ?? os.tmpdir();
  fs.mkdirSync(parent, { recursive: true });
  return fs.mkdtempSync(path.join(parent, 'shale-bench-'));
}

/** The chart's path: beside the JSON, named after it. */
function chartPath(jsonPath: string): string {
  const parsed = path.parse(jsonPath);
  return path.join(parsed.dir, `${parsed.name}.${CHART_WORKLOAD}.svg`);
}

async function main(): Promise<number> {
  let config: BenchConfig | undefined;
  try {
    config = parseConfig(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n\n${USAGE}`);
    return 2;
  }
  if (config === undefined) {
    process.stdout.write(USAGE);
    return 0;
  }
  const rootDir = makeRootDir(config);
  const cleanUp = (): void => {
    if (!config.keep) fs.rmSync(rootDir, { recursive: true, force: true });
  };
  process.once('SIGINT', () => {
    killRunningChild();
    cleanUp();
    process.exit(130);
  });
  const progress = new ProgressLine();
  try {
    const startedAt = new Date().toISOString();
    const engines = await Promise.all(config.engines.map((name) => engineInfo(name)));
    const machine = describeMachine(['shale', ...engines.filter((info) => info.name !== 'shale').map((info) => info.packageName)]);
    let probe;
    if (config.probe) {
      progress.log('disk probe: 200 × (4 KiB append + fdatasync), then 256 MiB sequential write …');
      probe = await probeDisk(rootDir, config.syncConcurrency);
    }
    const runs = await runAll(config, rootDir, progress);
    const report: Report = {
      harness: 'shale bench',
      formatVersion: 1,
      startedAt,
      finishedAt: new Date().toISOString(),
      machine,
      parameters: config,
      directory: rootDir,
      probe,
      engines,
      runs,
    };
    process.stdout.write(`${reportText(report)}\n`);
    if (config.jsonPath !== undefined) {
      fs.mkdirSync(path.dirname(path.resolve(config.jsonPath)), { recursive: true });
      writeJson(config.jsonPath, report);
      progress.log(`wrote ${config.jsonPath}`);
      if (config.workloads.includes(CHART_WORKLOAD)) {
        const subtitle = `num ${config.num}, values ${config.valueSizeBytes} B, ${config.writeConcurrency} writes in flight, ${machine.cpuCount} CPUs, ${startedAt}`;
        fs.writeFileSync(chartPath(config.jsonPath), throughputChart(runs, CHART_WORKLOAD, subtitle));
        progress.log(`wrote ${chartPath(config.jsonPath)}`);
      }
    }
    if (config.keep) progress.log(`kept the databases in ${rootDir}`);
    return runs.some((run) => run.error !== undefined) ? 1 : 0;
  } finally {
    cleanUp();
  }
}

process.exitCode = await main();
