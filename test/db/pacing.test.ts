import assert from 'node:assert/strict';
import { it } from 'node:test';
import { pacingDelayMs } from '../../src/db/write-pipeline.js';

const options = { l0SlowdownTrigger: 8, l0StopTrigger: 12, delayedWriteRateBytesPerSec: 1_000_000 };

it('no pacing below the slowdown trigger, nor at the stop trigger where writes wait instead', () => {
  for (const pending of [0, 4, 7, 12, 20]) assert.equal(pacingDelayMs(64_000, pending, options), 0, `L0 ${pending}`);
});

it('at the slowdown trigger a group waits its bytes at the delayed write rate', () => {
  assert.equal(pacingDelayMs(64_000, 8, options), 64);
  assert.equal(pacingDelayMs(0, 8, options), 0);
});

it('the delay grows with the debt, to (stop − slowdown)× one table below the stop trigger', () => {
  const delays = [8, 9, 10, 11].map((pending) => pacingDelayMs(10_000, pending, options));
  for (let i = 1; i < delays.length; i++) assert.ok(delays[i]! > delays[i - 1]!, `delays ${delays.join(', ')}`);
  assert.equal(delays[3], 4 * delays[0]!);
});
