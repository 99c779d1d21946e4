import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { matchingPrefixes, runCrashtest } from '../../src/cli/crashtest.js';
import { makeValue, valueIsIntact, type Intent } from '../../src/cli/crashtest-workload.js';
import { tempDir, testSeed } from '../helpers.js';

const cliPath = fileURLToPath(new URL('../../src/cli/shale.js', import.meta.url));
const CYCLES = Number(process.env['CRASHTEST_CYCLES'] ?? 50);

describe('shale crashtest', () => {
  it('finds the prefixes of issued writes a recovered state equals, and none when an acknowledged write is missing', () => {
    const put = (index: number, key: string): Intent => ({ index, sync: true, ops: [{ type: 'put', key, value: `v${index}` }] });
    const del = (index: number, key: string): Intent => ({ index, sync: true, ops: [{ type: 'delete', key }] });
    const intents = [put(0, 'a'), put(1, 'b'), put(2, 'a'), put(3, 'c')];
    const base = new Map<string, string>();
    assert.deepEqual(matchingPrefixes(base, intents, new Set([0, 1]), new Map([['a', 'v2'], ['b', 'v1']])), [3]);
    assert.deepEqual(matchingPrefixes(base, intents, new Set([0, 1, 2]), new Map([['a', 'v0'], ['b', 'v1']])), [], 'acknowledged intent 2 lost');
    assert.deepEqual(matchingPrefixes(base, intents, new Set([0]), new Map([['a', 'v0'], ['c', 'v3']])), [], 'a hole: 3 without 1');
    // A delete of a missing key changes nothing: two prefixes match, and only latestSequence tells them apart.
    assert.deepEqual(matchingPrefixes(base, [put(0, 'a'), del(1, 'z')], new Set([0]), new Map([['a', 'v0']])), [1, 2]);
  });

  it('recognises intact values and rejects damaged or misplaced ones', () => {
    const value = makeValue('key1', 7, 10);
    assert.ok(valueIsIntact('key1', value));
    assert.ok(!valueIsIntact('key2', value));
    assert.ok(!valueIsIntact('key1', value.replace('|7|', '|8|')));
  });

  it(`${CYCLES} kill -9 cycles with concurrent writers, and a read-only reader refreshing beside them, find no violation`, async () => {
    const seed = testSeed('crashtest');
    const summary = await runCrashtest({
      cycles: CYCLES,
      seed,
      dir: path.join(tempDir(), 'db'),
      writers: 4,
      killAfterMinMs: 50,
      killAfterMaxMs: 400,
      cliPath,
    });
    console.log(
      `# crashtest: ${summary.cycles} cycles, ${summary.intentsIssued} writes issued, ${summary.writesAcknowledged} acknowledged, ` +
        `${summary.checkpointsStarted} checkpoints started, ${summary.checkpointsComplete} complete, ${summary.readerViewsChecked} read-only views checked`,
    );
    assert.deepEqual(summary.violations, []);
    assert.equal(summary.cycles, CYCLES);
    assert.ok(summary.writesAcknowledged > CYCLES, 'the writers got writes acknowledged before the kills');
    if (CYCLES >= 20) assert.ok(summary.checkpointsStarted > 0, 'the writers took checkpoints before the kills');
    // At least one view while the writer ran and one after the kill, in every cycle.
    assert.ok(summary.readerViewsChecked >= 2 * CYCLES, `read-only views checked: ${summary.readerViewsChecked}`);
  });
});

/** Runs the built `shale crashtest` with `args`; it must not get as far as starting a writer. */
function crashtestCli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [cliPath, 'crashtest', ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('shale crashtest command line', () => {
  const bad: [string[], RegExp][] = [
    [['--cycles', 'abc'], /--cycles/],
    [['--cycles', '0'], /--cycles/],
    [['--cycles', '1.5'], /--cycles/],
    [['--cycles', '-3'], /--cycles/],
    [['--cycles', '1e3'], /--cycles/],
    [['--cycles', ''], /--cycles/],
    [['--writers', '0'], /--writers/],
    [['--writers', 'four'], /--writers/],
    [['--seed', 'x'], /--seed/],
    [['--seed', String(2 ** 32)], /--seed/],
    [['--min-ms', '-1'], /--min-ms/],
    [['--min-ms', '500', '--max-ms', '100'], /--min-ms.*--max-ms|--max-ms.*--min-ms/],
    [['--max-ms', 'soon'], /--max-ms/],
    [['--bogus'], /bogus/],
    [['--cycles'], /--cycles/],
    [['extra'], /extra/],
  ];
  for (const [args, names] of bad) {
    it(`rejects ${JSON.stringify(args.join(' '))} with exit code 2, a reason and the usage, without a stack`, () => {
      const { status, stdout, stderr } = crashtestCli(args);
      assert.equal(status, 2, `exit code; stderr: ${stderr}`);
      assert.match(stderr, names);
      assert.match(stderr, /^usage: shale crashtest/m);
      assert.doesNotMatch(stderr, /^\s+at /m, 'no stack trace');
      assert.doesNotMatch(stdout, /violations/, 'no run was reported');
    });
  }

  it('--help prints the usage on stdout and exits 0 without running', () => {
    const { status, stdout, stderr } = crashtestCli(['--help']);
    assert.equal(status, 0, stderr);
    assert.match(stdout, /^usage: shale crashtest/m);
    assert.doesNotMatch(stdout, /violations/);
  });

  it('a --dir that already exists is refused before any cycle runs', () => {
    const { status, stderr } = crashtestCli(['--dir', tempDir(), '--cycles', '1']);
    assert.equal(status, 2, stderr);
    assert.match(stderr, /exists/);
    assert.doesNotMatch(stderr, /^\s+at /m);
  });
});
