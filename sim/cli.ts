/**
 * The simulator's command line: `npm run sim -- --seeds N` runs N seeds from a
 * random first seed (or `--first F`), `--seed S` replays one seed. Progress goes
 * to stderr, the summary (seeds run, crashes, violations) to stdout; the exit
 * code is 1 when any seed broke the contract, 2 for bad arguments. `--epochs`
 * and `--steps` make seeds longer than the test suite's; `--jobs` spreads seeds
 * over worker threads (a seed runs the same in any of them).
 */
import { randomInt } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { runSeeds } from './parallel.js';
import { DEFAULT_SIM_CONFIG, simulateSeed, type SimConfig, type SimCounts } from './simulate.js';

/** Where the CLI writes: stdout for the summary, stderr for progress. */
export interface Output {
  out: (line: string) => void;
  err: (line: string) => void;
}

const USAGE = `usage: sim [--seeds N] [--first F] [--seed S] [--epochs N] [--steps N] [--jobs N] [--trace]
  --seeds N   run N seeds: F, F+1, … (default 100)
  --first F   the first seed (default random)
  --seed S    run seed S alone (replays a seed a run reported, with the same --epochs and --steps)
  --epochs N  crashes per seed at most (default ${DEFAULT_SIM_CONFIG.epochsMax})
  --steps N   workload steps per epoch at most (default ${DEFAULT_SIM_CONFIG.stepsMax}; one epoch in ten up to 4×)
  --jobs N    worker threads (default: the machine's parallelism)
  --trace     with --seed, print the seed's trace to stderr`;

interface Plan {
  config: SimConfig;
  seeds: number[];
  jobs: number;
  trace: boolean;
}

function parseCount(text: string | undefined, name: string, fallback: number): number {
  if (text === undefined) return fallback;
  const value = /^0x[0-9a-f]+$/i.test(text) ? Number.parseInt(text.slice(2), 16) : /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value)) throw new Error(`${name} must be a non-negative integer, got ${JSON.stringify(text)}`);
  return value;
}

/** The run `argv` asks for, or 'help'. Throws on bad arguments. */
function parseArguments(argv: string[]): Plan | 'help' {
  const { values } = parseArgs({
    args: argv,
    options: {
      seeds: { type: 'string' },
      first: { type: 'string' },
      seed: { type: 'string' },
      epochs: { type: 'string' },
      steps: { type: 'string' },
      jobs: { type: 'string' },
      trace: { type: 'boolean' },
      help: { type: 'boolean' },
    },
    strict: true,
  });
  if (values.help === true) return 'help';
  const epochsMax = Math.max(1, parseCount(values.epochs, '--epochs', DEFAULT_SIM_CONFIG.epochsMax));
  const stepsMax = Math.max(1, parseCount(values.steps, '--steps', DEFAULT_SIM_CONFIG.stepsMax));
  const config: SimConfig = {
    ...DEFAULT_SIM_CONFIG,
    epochsMin: Math.min(DEFAULT_SIM_CONFIG.epochsMin, epochsMax),
    epochsMax,
    stepsMin: Math.min(DEFAULT_SIM_CONFIG.stepsMin, stepsMax),
    stepsMax,
    longStepsMax: stepsMax * 4,
  };
  let seeds: number[];
  if (values.seed !== undefined) {
    seeds = [parseCount(values.seed, '--seed', 0) >>> 0];
  } else {
    const count = Math.max(1, parseCount(values.seeds, '--seeds', 100));
    const first = parseCount(values.first, '--first', randomInt(0, 2 ** 32)) >>> 0;
    seeds = Array.from({ length: count }, (_, i) => (first + i) >>> 0);
  }
  const jobs = Math.max(1, parseCount(values.jobs, '--jobs', availableParallelism()));
  return { config, seeds, jobs, trace: values.trace === true };
}

/** Runs the plan's seeds, reporting progress; returns the summed counts and the violations. */
async function runPlan(plan: Plan, output: Output, elapsed: () => string): Promise<{ total: SimCounts; failures: string[]; traceHash?: string }> {
  const { seeds, config, jobs } = plan;
  if (seeds.length === 1) {
    const result = await simulateSeed(seeds[0]!, config, plan.trace);
    for (const line of result.trace ?? []) output.err(`  ${line}`);
    return { total: result.counts, failures: result.violation === undefined ? [] : [result.violation], traceHash: result.traceHash };
  }
  let lastShown = 0;
  const summary = await runSeeds({
    first: seeds[0]!,
    count: seeds.length,
    config,
    jobs,
    onProgress: (done, counts, violations) => {
      if (done === lastShown || (done - lastShown < 100 && done !== seeds.length)) return;
      lastShown = done;
      output.err(`sim: ${done}/${seeds.length} seeds, ${counts.crashes} crashes, ${violations} violations, ${elapsed()}`);
    },
  });
  return { total: summary.counts, failures: summary.violations };
}

/** Runs the simulator with `argv` (without node and the script); returns the exit code. */
export async function main(argv: string[], output: Output = { out: (l) => process.stdout.write(`${l}\n`), err: (l) => process.stderr.write(`${l}\n`) }): Promise<number> {
  let plan: Plan | 'help';
  try {
    plan = parseArguments(argv);
  } catch (err) {
    output.err(`${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (plan === 'help') {
    output.out(USAGE);
    return 0;
  }
  const started = process.hrtime.bigint();
  const elapsed = (): string => `${(Number(process.hrtime.bigint() - started) / 1e9).toFixed(1)} s`;
  output.err(`sim: ${plan.seeds.length} seeds from ${plan.seeds[0]} on ${Math.min(plan.jobs, plan.seeds.length)} thread(s)`);
  const { total, failures, traceHash } = await runPlan(plan, output, elapsed);
  output.out(`seeds run: ${plan.seeds.length} (first ${plan.seeds[0]}) in ${elapsed()}`);
  output.out(
    `crashes: ${total.crashes} (${total.crashesMidOperation} right after a file operation: ${total.crashesAtLog} on a log, ` +
      `${total.crashesAtTable} on a table, ${total.crashesAtManifest} on the MANIFEST or CURRENT; ${total.crashesInOpen} during an open), clean reopens: ${total.cleanReopens}`,
  );
  output.out(
    `writes: ${total.writes} issued, ${total.acked} acknowledged, ${total.unsyncedLost} unsynced lost to crashes; ` +
      `flushes ${total.flushes}, compactions ${total.compactions}, MANIFEST rotations ${total.manifestRotations}`,
  );
  output.out(`checks: ${total.reads} point reads, ${total.scans} scans, ${total.snapshotReads} snapshot reads`);
  output.out(`checkpoints: ${total.checkpoints} taken, ${total.checkpointsCompleteAfterCrash} found complete in a crash state`);
  output.out(`transactions: ${total.transactionCommits} commits, ${total.transactionConflicts} conflicts (each predicted), ${total.transactionAborts} aborts`);
  output.out(`violations: ${failures.length}`);
  for (const failure of failures) output.out(`  ${failure}`);
  if (failures.length > 0) output.out('replay one with: npm run sim -- --seed <seed> (and the same --epochs and --steps)');
  if (traceHash !== undefined) output.out(`trace hash of seed ${plan.seeds[0]}: ${traceHash}`);
  return failures.length > 0 ? 1 : 0;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await main(process.argv.slice(2));
}
