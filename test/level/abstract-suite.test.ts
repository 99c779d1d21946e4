/**
 * abstract-level's own shared test suite (`abstract-level/test`, written for tape)
 * against `ShaleLevel`, inside node:test: the suite runs on a private tape harness,
 * its results are read as objects from the harness's stream, and the node:test
 * case passes only if every assertion passed and none was skipped. The count is
 * printed as `# abstract-level suite: N assertions passed`.
 *
 * The suite runs twice: with shale's defaults (everything stays in the memtable)
 * and with tiny sizes (1 KiB memtables, 64-byte blocks, B-tree fanout 4), so that
 * reads, seeks and reverse scans also cross flushed tables.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import tape from 'tape';
import { ShaleLevel, type ShaleLevelOptions } from '../../src/level/index.js';

const require = createRequire(import.meta.url);

/** abstract-level's suite: `suite({ test, factory })` registers every test on `test`. */
const suite = require('abstract-level/test') as (options: {
  test: tape.Harness;
  factory: (options?: ShaleLevelOptions<unknown, unknown>) => ShaleLevel<unknown, unknown>;
}) => void;

/** The suite is thousands of assertions on hundreds of databases; a hang shows up as this timeout. */
const SUITE_TIMEOUT_MS = 10 * 60 * 1000;

const TINY: ShaleLevelOptions<unknown, unknown> = {
  memtableSizeBytes: 1024,
  blockSizeBytes: 64,
  memtableNodeSizeMax: 4,
};

const base = fs.mkdtempSync(path.join(os.tmpdir(), 'shale-level-suite-'));
after(() => fs.rmSync(base, { recursive: true, force: true }));

interface Failure {
  test: string;
  name: string;
  operator: string;
  actual: unknown;
  expected: unknown;
  error: unknown;
}

interface SuiteOutcome {
  passed: number;
  skipped: number;
  failures: Failure[];
  /** Databases the suite made, and those it left open (closed here afterwards). */
  databases: number;
  leftOpen: number;
}

/** One row of tape's object stream. */
type Row =
  | string
  | { type: 'test'; id: number; name: string; skip?: unknown; todo?: unknown }
  | { type: 'assert'; test: number; ok: boolean; skip?: unknown; todo?: unknown; name: string; operator: string; actual?: unknown; expected?: unknown; error?: unknown }
  | { type: 'end'; test: number };

/** Runs the whole suite on a fresh harness, each database in a new directory under `base`/`label`. */
async function runSuite(label: string, shaleOptions: ShaleLevelOptions<unknown, unknown>): Promise<SuiteOutcome> {
  const root = path.join(base, label);
  fs.mkdirSync(root);
  const made: ShaleLevel<unknown, unknown>[] = [];
  const harness = tape.createHarness({ autoclose: false });
  // The object stream reports only tests registered after it exists: create it first.
  const stream = harness.createStream({ objectMode: true });
  const outcome: SuiteOutcome = { passed: 0, skipped: 0, failures: [], leftOpen: 0, databases: 0 };
  const testNames = new Map<number, string>();
  const done = new Promise<void>((resolve, reject) => {
    stream.on('data', (row: Row) => {
      if (typeof row === 'string') return;
      if (row.type === 'test') {
        testNames.set(row.id, row.name);
        if (row.skip || row.todo) outcome.skipped++;
      } else if (row.type === 'assert') {
        if (row.skip || row.todo) outcome.skipped++;
        else if (row.ok) outcome.passed++;
        else {
          const { name, operator, actual, expected, error } = row;
          outcome.failures.push({ test: testNames.get(row.test) ?? `#${row.test}`, name, operator, actual, expected, error });
        }
      }
    });
    stream.on('end', () => resolve());
    stream.on('error', reject);
  });
  suite({
    test: harness,
    // A directory that does not exist yet: open creates it, or fails under createIfMissing: false.
    factory: (options) => {
      const db = new ShaleLevel(path.join(root, String(made.length)), { ...shaleOptions, ...options });
      made.push(db);
      return db;
    },
  });
  await done;
  // Some of the suite's tests leave their database open; close those so no file handle outlives the run.
  outcome.databases = made.length;
  outcome.leftOpen = made.filter((db) => db.status !== 'closed').length;
  await Promise.all(made.map(closeLeftOver));
  return outcome;
}

/**
 * Closes a database if a test left it open. Its listeners go first: two tests reopen
 * the database from a 'closed' listener. One test (run on the database and on a
 * sublevel) leaves a resource whose `close()` always fails, on purpose, so that
 * abstract-level refuses to close the database (`LEVEL_STATUS_LOCKED`, or
 * `LEVEL_DATABASE_NOT_CLOSED` when the resource hangs off a sublevel); the
 * adapter's own `_close()` still releases the files.
 */
async function closeLeftOver(db: ShaleLevel<unknown, unknown>): Promise<void> {
  db.removeAllListeners();
  try {
    await db.close();
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    assert.ok(code === 'LEVEL_STATUS_LOCKED' || code === 'LEVEL_DATABASE_NOT_CLOSED', `closing ${db.location}: ${String(err)}`);
  }
  // A no-op once abstract-level has closed it; otherwise (refused, or locked as 'closed') it releases the files.
  await db._close();
}

function describeFailures(failures: readonly Failure[]): string {
  return failures
    .slice(0, 50)
    .map((f) => `- ${f.test} › ${f.name} (${f.operator}): actual ${inspect(f.actual)}, expected ${inspect(f.expected)}${f.error ? `, error ${inspect(f.error)}` : ''}`)
    .join('\n');
}

function inspect(value: unknown): string {
  if (value instanceof Error) return `${value.name}: ${value.message}${'code' in value ? ` [${String(value.code)}]` : ''}`;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

describe("abstract-level's shared test suite", () => {
  for (const [label, options] of [
    ['defaults', {}],
    ['tiny sizes', TINY],
  ] as const) {
    it(`passes every assertion on ShaleLevel (${label})`, { timeout: SUITE_TIMEOUT_MS }, async () => {
      const { passed, skipped, failures, databases, leftOpen } = await runSuite(label.replace(' ', '-'), options);
      console.log(`# ${databases} databases, ${leftOpen} left open by the suite`);
      console.log(`# abstract-level suite${label === 'defaults' ? '' : ` (${label})`}: ${passed} assertions passed`);
      assert.equal(
        failures.length,
        0,
        `abstract-level suite (${label}): ${failures.length} of ${passed + failures.length} assertions failed\n${describeFailures(failures)}`,
      );
      assert.equal(skipped, 0, `abstract-level suite (${label}): ${skipped} tests or assertions skipped`);
      // A suite that registered nothing would pass vacuously.
      assert.ok(passed > 1000, `abstract-level suite (${label}): only ${passed} assertions ran`);
    });
  }
});
