/**
 * Writes a seed corpus for the coverage-guided table harness (fuzz/jazzer-table.ts):
 * valid tables from seeded random builder options, and the pieces of them each
 * harness mode decodes. Files of the same name are overwritten, so running it
 * again over a corpus the fuzzer has grown keeps what the fuzzer added.
 *
 *     node dist/fuzz/jazzer-seed-corpus.js <dir> [--tables N] [--seed S]
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { Rng } from '../src/testing/rng.js';
import { tableSeedInputs } from './jazzer-table.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { tables: { type: 'string', default: '40' }, seed: { type: 'string', default: '1' } },
});
const dir = positionals[0];
if (dir === undefined) throw new Error('usage: jazzer-seed-corpus.js <dir> [--tables N] [--seed S]');
fs.mkdirSync(dir, { recursive: true });
const inputs = await tableSeedInputs(new Rng(Number(values.seed)), Number(values.tables));
for (const { name, input } of inputs) fs.writeFileSync(path.join(dir, `seed-${name}`), input);
console.log(`wrote ${inputs.length} seed inputs to ${dir}`);
