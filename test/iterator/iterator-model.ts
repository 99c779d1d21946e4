/**
 * Drives an `InternalIterator` with random seeks and steps beside a plain sorted
 * array of the entries it should show, comparing the two after every operation.
 * The model finds positions by linear scan, so it shares no search code with the
 * iterators under test.
 */
import assert from 'node:assert/strict';
import { compareInternal, type InternalIterator } from '../../src/iterator/internal-iterator.js';
import type { Rng } from '../../src/testing/rng.js';
import type { Entry } from './vector-iterator.js';

/** What a random walk draws its seek targets from. */
export interface WalkOptions {
  readonly steps: number;
  /** User keys to seek to; include keys absent from the model. */
  readonly keys: readonly Buffer[];
  /** Seek sequence numbers are drawn from [0, seqMax]. */
  readonly seqMax: number;
  /** Called after every operation, e.g. to check how many files are open. */
  readonly afterEach?: () => void;
}

/** The first model index at or after (userKey, seq); `model.length` when none. */
export function modelSeek(model: readonly Entry[], userKey: Buffer, seq: number): number {
  const index = model.findIndex((entry) => compareInternal(entry.userKey, entry.seq, userKey, seq) >= 0);
  return index < 0 ? model.length : index;
}

/** The last model index at or before (userKey, seq); -1 when none. */
export function modelSeekForPrev(model: readonly Entry[], userKey: Buffer, seq: number): number {
  let index = model.length - 1;
  while (index >= 0 && compareInternal(model[index]!.userKey, model[index]!.seq, userKey, seq) > 0) index--;
  return index;
}

/** Asserts that `iterator` shows `model[position]`, or is invalid when `position` is outside the model. */
export function assertAt(iterator: InternalIterator, model: readonly Entry[], position: number, context: string): void {
  const expected = model[position];
  assert.equal(iterator.valid(), expected !== undefined, `${context}: valid()`);
  if (expected === undefined) return;
  assert.deepEqual(iterator.userKey(), expected.userKey, `${context}: userKey()`);
  assert.equal(iterator.seq(), expected.seq, `${context}: seq()`);
  assert.equal(iterator.type(), expected.type, `${context}: type()`);
  assert.deepEqual(iterator.value(), expected.value, `${context}: value()`);
}

/**
 * Runs `options.steps` random operations on `iterator`, asserting after each that
 * it shows the same entry as the model. `next`/`prev` are drawn only while valid,
 * and often enough in a row and mixed enough to turn around many times.
 */
export function randomWalk(iterator: InternalIterator, model: readonly Entry[], rng: Rng, options: WalkOptions): void {
  let position = -1;
  const log: string[] = [];
  for (let step = 0; step < options.steps; step++) {
    const valid = position >= 0 && position < model.length;
    const roll = rng.int(valid ? 10 : 4);
    const key = rng.pick(options.keys);
    const seq = rng.int(options.seqMax + 1);
    if (roll === 0) {
      log.push('seekToFirst');
      iterator.seekToFirst();
      position = 0;
    } else if (roll === 1) {
      log.push('seekToLast');
      iterator.seekToLast();
      position = model.length - 1;
    } else if (roll === 2) {
      log.push(`seek(${key.toString('latin1')}, ${seq})`);
      iterator.seek(key, seq);
      position = modelSeek(model, key, seq);
    } else if (roll === 3) {
      log.push(`seekForPrev(${key.toString('latin1')}, ${seq})`);
      iterator.seekForPrev(key, seq);
      position = modelSeekForPrev(model, key, seq);
    } else if (roll < 7) {
      log.push('next');
      iterator.next();
      position++;
    } else {
      log.push('prev');
      iterator.prev();
      position--;
    }
    assertAt(iterator, model, position, `step ${step} after ${log.slice(-6).join(', ')}`);
    options.afterEach?.();
  }
}
