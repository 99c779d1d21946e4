import { it } from 'node:test';
import { fuzz as tableHarness, tableSeedInputs } from '../fuzz/jazzer-table.js';
import { runLogDecoderFuzz } from '../fuzz/log-decoders.js';
import { runRangeDelDecoderFuzz } from '../fuzz/range-del-decoders.js';
import { runTableDecoderFuzz } from '../fuzz/table-decoders.js';
import { runSalvageFuzz } from '../fuzz/salvage-decoders.js';
import { runCopyDecoderFuzz } from '../fuzz/copy-decoders.js';
import { Rng } from '../src/testing/rng.js';
import { testSeed } from './helpers.js';

it('log reader and record decoders: damaged logs give only CorruptionError, never a record that was not written', () => {
  runLogDecoderFuzz(testSeed('log decoder fuzz'), 300);
});

it('table reader and block, trailer, footer, properties, handle and bloom decoders: damaged tables give only CorruptionError, never wrong data', async () => {
  await runTableDecoderFuzz(testSeed('table decoder fuzz'), 300);
});

it('the block scan, table check and table dump of verify and repair: damaged tables give only CorruptionError, never an entry that was not written', async () => {
  await runSalvageFuzz(testSeed('salvage decoder fuzz'), 300);
});

it('the coverage-guided table harness takes its seed inputs, and bit flips of them, without a finding', async () => {
  const rng = new Rng(testSeed('table harness smoke'));
  for (const { input } of await tableSeedInputs(rng, 8)) {
    tableHarness(input);
    for (let i = 0; i < 10; i++) {
      const mutated = Buffer.from(input);
      mutated[rng.range(1, Math.max(1, mutated.length - 1))]! ^= 1 << rng.int(8);
      tableHarness(mutated);
    }
  }
});

it('range-del block decoder: damaged blocks give only CorruptionError or well-formed fragments; a damaged block in a table never reads back as tombstones', async () => {
  await runRangeDelDecoderFuzz(testSeed('range-del decoder fuzz'), 300);
});

it('export stream and backup manifest decoders: damaged bytes give only CorruptionError or NOT_SUPPORTED, never other entries', () => {
  runCopyDecoderFuzz(testSeed('copy decoder fuzz'), 300);
});
