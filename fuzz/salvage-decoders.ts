/**
 * Fuzz target: the readers of `src/tools/` that take damaged tables apart
 * (docs/tools.md): the block scan that finds data blocks by their checksums
 * (`block-scan.ts`), the table check of verify and repair (`table-check.ts`) and
 * the table dump (`dump-table.ts`).
 *
 * Each iteration builds a small valid table (`buildValidTable`), damages it
 * (`damageBytes`: bit flips, zeroed ranges, truncation, cut and inserted bytes,
 * half of them in the metadata and footer), and runs each reader on it. They may
 * throw only `CorruptionError` (or `NOT_SUPPORTED`); every entry they hand out
 * must be one the table was built with, with its value, in increasing key order
 * ("never wrong data", up to a CRC-32 collision). The undamaged table must scan
 * back exactly. `runSalvageFuzz(seed, iterations)` is called briefly from the
 * tests and at length by `npm run fuzz`.
 */
import assert from 'node:assert/strict';
import { SEQUENCE_MAX, compareInternalKeys } from '../src/keys.js';
import { CrashableFS } from '../src/testing/crashable-fs.js';
import { Rng } from '../src/testing/rng.js';
import { scanTableBytes } from '../src/tools/block-scan.js';
import { dumpTable } from '../src/tools/dump-table.js';
import { checkTable } from '../src/tools/table-check.js';
import { damageBytes, isAllowedDecodeError } from './damage.js';
import { buildValidTable, type ValidTable } from './table-decoders.js';

const DIR = '/fuzz';
const FILE = `${DIR}/000001.sst`;

/** Checks that `entries` are entries of `table`, with their values, in strictly increasing order. */
function checkEntries(table: ValidTable, entries: readonly (readonly [Buffer, Buffer])[], context: string): void {
  const model = new Map(table.entries.map((entry) => [entry.key.toString('hex'), entry.value.toString('hex')]));
  let previous: Buffer | undefined;
  for (const [key, value] of entries) {
    assert.equal(model.get(key.toString('hex')), value.toString('hex'), `${context}: an entry the table was not built with`);
    if (previous !== undefined) assert.ok(compareInternalKeys(previous, key) < 0, `${context}: entries out of order`);
    previous = key;
  }
}

async function allowed<T>(run: () => Promise<T>): Promise<T | undefined> {
  try {
    return await run();
  } catch (err) {
    if (isAllowedDecodeError(err)) return undefined;
    throw err;
  }
}

/** Runs `iterations` cases from `seed`; throws on the first violation. */
export async function runSalvageFuzz(seed: number, iterations: number): Promise<void> {
  const rng = new Rng(seed);
  for (let iteration = 0; iteration < iterations; iteration++) {
    const context = `salvage fuzz seed ${seed} iteration ${iteration}`;
    const table = await buildValidTable(rng);
    const whole = scanTableBytes(table.bytes, FILE);
    assert.deepEqual(whole.entries.map(([key]) => key.toString('hex')), table.entries.map((entry) => entry.key.toString('hex')), `${context}: the undamaged table scans back`);
    assert.equal(whole.stoppedAt, undefined, `${context}: the undamaged table scans to the end of its data blocks`);

    const damaged = damageBytes(table.bytes, rng, table.footer.propertiesHandle.offset);
    const scan = await allowed(async () => scanTableBytes(damaged, FILE));
    if (scan !== undefined) checkEntries(table, scan.entries, `${context}, scan`);

    const fs = new CrashableFS();
    await fs.mkdir(DIR);
    fs.writeFileSync(FILE, damaged, { synced: true });
    const found: [Buffer, Buffer][] = [];
    await allowed(() => checkTable(fs, FILE, 1, { onEntries: (entries) => void found.push(...entries) }));
    checkEntries(table, found, `${context}, table check`);
    const dump = await allowed(() => dumpTable(fs, FILE, 'hex'));
    for (const block of dump?.blocks ?? []) {
      if (block.damage !== undefined || block.entries === undefined) continue;
      const model = new Map(table.entries.map((entry) => [`${entry.key.subarray(0, -8).toString('hex')}#${entry.seq}`, entry.value.toString('hex')]));
      for (const entry of block.entries) {
        // The dump shows the largest sequence number as `max`.
        const id = `${entry.key}#${entry.seq === 'max' ? SEQUENCE_MAX : entry.seq}`;
        if (!model.has(id)) assert.fail(`${context}, dump: an entry the table was not built with`);
        if (entry.value !== undefined) assert.equal(entry.value, model.get(id), `${context}, dump: a wrong value`);
      }
    }
  }
}
