/**
 * The crash simulator over many seeds (sim/simulate.ts): random workloads with
 * crashes in every crash mode, recovery (crashing again inside it), and the
 * oracle of docs/durability.md after each. `SEEDS=` sets the count (default
 * 2,000, at the suite's short seed length), `SEED=` the first seed (alone unless
 * `SEEDS` is also set, so a failing seed replays exactly); a failure prints its
 * seed. For longer seeds and runs: `npm run sim -- --seeds N` (its seeds replay
 * with `npm run sim -- --seed S`, not with this file: the lengths differ).
 */
import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { describe, it } from 'node:test';
import { seedFromEnv } from '../../src/testing/rng.js';
import { main } from '../../sim/cli.js';
import { runSeeds } from '../../sim/parallel.js';
import { CI_SIM_CONFIG, DEFAULT_SIM_CONFIG, simulateSeed } from '../../sim/simulate.js';

const replaying = process.env['SEED'] !== undefined && process.env['SEED'] !== '';
const firstSeed = seedFromEnv();
const seedCount = Number(process.env['SEEDS'] ?? (replaying ? 1 : 2000));
/** Seeds run in parallel on this many worker threads (`SIM_JOBS`); a seed runs the same in any of them. */
const JOBS = Number(process.env['SIM_JOBS'] ?? Math.min(2, availableParallelism()));

describe('crash simulation', () => {
  it(`${seedCount} seeds: every crash recovers to a prefix of the writes holding every acknowledged sync write`, async () => {
    console.log(`# simulation: first seed ${firstSeed}, ${seedCount} seeds on ${Math.min(JOBS, seedCount)} thread(s) (replay one with SEED=<seed>; SEEDS=<n> for more)`);
    const started = process.hrtime.bigint();
    const summary = await runSeeds({ first: firstSeed, count: seedCount, config: CI_SIM_CONFIG, jobs: JOBS });
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const total = summary.counts;
    console.log(`# simulation: ${summary.seedsRun} seeds in ${seconds.toFixed(1)} s; ${JSON.stringify(total)}`);
    assert.equal(summary.seedsRun, seedCount);
    assert.deepEqual(summary.violations.slice(0, 5), [], `${summary.violations.length} seeds broke the contract; replay one with SEED=<seed> node --test dist/test/sim/simulation.test.js`);
    // A simulator that never crashes mid-operation or never recovers proves nothing.
    if (seedCount >= 200) {
      assert.ok(total.crashesMidOperation > 0 && total.crashesInOpen > 0 && total.unsyncedLost > 0, JSON.stringify(total));
      assert.ok(total.flushes > 0 && total.compactions > 0 && total.manifestRotations > 0, JSON.stringify(total));
      assert.ok(total.crashesAtTable > 0 && total.crashesAtManifest > 0 && total.crashesAtLog > 0, JSON.stringify(total));
    }
  });

  it('a seed replays exactly: the same seed gives the same trace hash', async () => {
    const seed = firstSeed;
    const a = await simulateSeed(seed, DEFAULT_SIM_CONFIG, true);
    const b = await simulateSeed(seed, DEFAULT_SIM_CONFIG, true);
    assert.equal(a.violation, undefined);
    assert.ok(a.trace!.length > 10, `trace of seed ${seed} has ${a.trace!.length} lines`);
    assert.deepEqual(b.trace, a.trace, `seed ${seed} diverged`);
    assert.equal(b.traceHash, a.traceHash);
    assert.notEqual((await simulateSeed(seed + 1, DEFAULT_SIM_CONFIG)).traceHash, a.traceHash, 'different seeds, different runs');
  });

  it('the CLI runs seeds and prints seeds run, crashes and violations', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await main(['--seeds', '3', '--first', String(firstSeed), '--steps', '20', '--jobs', '1'], { out: (l) => out.push(l), err: (l) => err.push(l) });
    assert.equal(code, 0, out.join('\n'));
    assert.match(out.join('\n'), /seeds run: 3 \(first \d+\)/);
    assert.match(out.join('\n'), /crashes: \d+/);
    assert.match(out.join('\n'), /violations: 0/);
    assert.match(err.join('\n'), /3\/3 seeds/);
    assert.equal(await main(['--bogus'], { out: () => undefined, err: () => undefined }), 2);
  });
});
