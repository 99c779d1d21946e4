/**
 * `npm run fuzz -- [--seconds N] [--seed S]`: runs every fuzz target in turns
 * until the time is up, printing the seeds it ran.
 */
import { parseArgs } from 'node:util';
import { runLogDecoderFuzz } from './log-decoders.js';
import { runRangeDelDecoderFuzz } from './range-del-decoders.js';
import { runTableDecoderFuzz } from './table-decoders.js';
import { runSalvageFuzz } from './salvage-decoders.js';
import { runCopyDecoderFuzz } from './copy-decoders.js';

/** A target runs `iterations` cases from `seed` and throws (or rejects) on the first violation. */
type FuzzTarget = (seed: number, iterations: number) => void | Promise<void>;

const targets: Record<string, FuzzTarget> = {
  'log-decoders': runLogDecoderFuzz,
  'table-decoders': runTableDecoderFuzz,
  'range-del-decoders': runRangeDelDecoderFuzz,
  'salvage-decoders': runSalvageFuzz,
  'copy-decoders': runCopyDecoderFuzz,
};

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '60' }, seed: { type: 'string' } } });
const deadline = Date.now() + Number(values.seconds) * 1000;
let seed = values.seed !== undefined ? Number(values.seed) : (Math.random() * 2 ** 32) >>> 0;
const firstSeed = seed;
let rounds = 0;
while (Date.now() < deadline) {
  for (const [name, run] of Object.entries(targets)) {
    await run(seed, 100);
    if (rounds % 50 === 0) process.stderr.write(`fuzz: ${name} seed ${seed}\n`);
  }
  seed = (seed + 1) >>> 0;
  rounds++;
}
console.log(`fuzz: ${rounds} rounds of 100 iterations per target, seeds ${firstSeed}..${seed - 1}, no violations`);
