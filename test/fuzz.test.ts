import { it } from 'node:test';
import { runLogDecoderFuzz } from '../fuzz/log-decoders.js';
import { testSeed } from './helpers.js';

it('log reader and record decoders: damaged logs give only CorruptionError, never a record that was not written', () => {
  runLogDecoderFuzz(testSeed('log decoder fuzz'), 300);
});
