/** Defaults that depend on the machine: what they are derived from, and their bounds. */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { DEFAULTS, defaultBlockCacheBytes } from '../src/options.js';

const MIB = 1024 * 1024;

it('the default block cache is a 64th of the memory, at least 32 MiB and at most 512 MiB', () => {
  assert.equal(defaultBlockCacheBytes(512 * MIB), 32 * MIB);
  assert.equal(defaultBlockCacheBytes(4096 * MIB), 64 * MIB);
  assert.equal(defaultBlockCacheBytes(24064 * MIB), 376 * MIB);
  assert.equal(defaultBlockCacheBytes(64 * 1024 * MIB), 512 * MIB);
  // Whole MiB, so that the figure reads the same in stats and docs.
  assert.equal(defaultBlockCacheBytes(5000 * MIB) % MIB, 0);
  assert.equal(DEFAULTS.blockCacheBytes, defaultBlockCacheBytes());
});
