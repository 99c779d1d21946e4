import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { Rng, seedFromEnv } from '../../src/testing/index.js';

/** Draws one of everything, so determinism covers every method. */
function sample(rng: Rng): unknown[] {
  const out: unknown[] = [];
  for (let i = 0; i < 50; i++) {
    out.push(rng.next(), rng.float(), rng.int(1000), rng.range(-5, 5), rng.bool(0.3), rng.bytes(7).toString('hex'), rng.pick(['a', 'b', 'c']));
  }
  return out;
}

describe('Rng', () => {
  it('the same seed gives the same stream', () => {
    assert.deepEqual(sample(new Rng(1234)), sample(new Rng(1234)));
  });

  it('different seeds give different streams', () => {
    assert.notDeepEqual(sample(new Rng(1)), sample(new Rng(2)));
  });

  it('keeps its algorithm: recorded seeds must replay the same run in later versions', () => {
    const rng = new Rng(42);
    assert.deepEqual([rng.next(), rng.next(), rng.next(), rng.next()], [1028872839, 2516511472, 400437680, 853279530]);
    const zero = new Rng(0);
    assert.deepEqual([zero.next(), zero.next()], [4205396811, 3543653536]);
  });

  it('normalizes the seed to 32 bits and rejects non-integers', () => {
    assert.equal(new Rng(-1).seed, 0xffffffff);
    assert.equal(new Rng(2 ** 32 + 5).seed, 5);
    assert.deepEqual(sample(new Rng(2 ** 32 + 5)), sample(new Rng(5)));
    assert.throws(() => new Rng(1.5));
    assert.throws(() => new Rng(Number.NaN));
  });

  it('next is a uint32 and float is in [0, 1)', () => {
    const rng = new Rng(7);
    for (let i = 0; i < 10_000; i++) {
      const value = rng.next();
      assert.ok(Number.isInteger(value) && value >= 0 && value < 2 ** 32);
      const f = rng.float();
      assert.ok(f >= 0 && f < 1);
    }
  });

  it('int covers [0, max) and nothing else', () => {
    const rng = new Rng(8);
    const seen = new Set<number>();
    for (let i = 0; i < 2000; i++) {
      const value = rng.int(7);
      assert.ok(Number.isInteger(value) && value >= 0 && value < 7);
      seen.add(value);
    }
    assert.equal(seen.size, 7);
    assert.equal(rng.int(1), 0);
    for (let i = 0; i < 100; i++) {
      const big = rng.int(2 ** 40);
      assert.ok(Number.isInteger(big) && big >= 0 && big < 2 ** 40);
    }
    assert.throws(() => rng.int(0));
    assert.throws(() => rng.int(2.5));
  });

  it('range includes both bounds', () => {
    const rng = new Rng(9);
    const seen = new Set<number>();
    for (let i = 0; i < 500; i++) seen.add(rng.range(3, 6));
    assert.deepEqual([...seen].sort(), [3, 4, 5, 6]);
    assert.equal(rng.range(4, 4), 4);
  });

  it('bool follows its probability', () => {
    const rng = new Rng(10);
    let trues = 0;
    for (let i = 0; i < 10_000; i++) if (rng.bool(0.25)) trues++;
    assert.ok(trues > 2200 && trues < 2800, `${trues} of 10000`);
    assert.equal(rng.bool(0), false);
    assert.equal(rng.bool(1), true);
  });

  it('bytes gives n bytes for any n', () => {
    const rng = new Rng(11);
    for (const n of [0, 1, 3, 4, 5, 64, 4097]) assert.equal(rng.bytes(n).length, n);
    assert.ok(rng.bytes(64).some((b) => b !== 0));
  });

  it('pick returns an element and rejects an empty array', () => {
    const rng = new Rng(12);
    const items = ['x', 'y', 'z'] as const;
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) seen.add(rng.pick(items));
    assert.deepEqual([...seen].sort(), ['x', 'y', 'z']);
    assert.throws(() => rng.pick([]));
  });

  it('fork gives a deterministic stream independent of the parent', () => {
    const a = new Rng(13);
    const b = new Rng(13);
    const childA = a.fork();
    const childB = b.fork();
    assert.equal(childA.seed, childB.seed);
    assert.deepEqual(sample(childA), sample(childB));
    // The parent moved on by one draw, and the child is not a copy of it.
    const parent = new Rng(13);
    parent.next();
    assert.deepEqual(sample(a), sample(parent));
    assert.notDeepEqual(sample(new Rng(13).fork()), sample(new Rng(13)));
  });
});

describe('seedFromEnv', () => {
  let saved: string | undefined;
  beforeEach(() => {
    saved = process.env['SEED'];
  });
  afterEach(() => {
    if (saved === undefined) delete process.env['SEED'];
    else process.env['SEED'] = saved;
  });

  it('reads a decimal or hex SEED', () => {
    process.env['SEED'] = '12345';
    assert.equal(seedFromEnv(), 12345);
    process.env['SEED'] = '0xDEADBEEF';
    assert.equal(seedFromEnv(7), 0xdeadbeef);
  });

  it('rejects a malformed SEED rather than running another test', () => {
    process.env['SEED'] = 'twelve';
    assert.throws(() => seedFromEnv());
    process.env['SEED'] = '12abc';
    assert.throws(() => seedFromEnv());
  });

  it('uses the default seed, else a random 32-bit one, when SEED is unset', () => {
    delete process.env['SEED'];
    assert.equal(seedFromEnv(99), 99);
    const seeds = new Set<number>();
    for (let i = 0; i < 5; i++) {
      const seed = seedFromEnv();
      assert.ok(Number.isInteger(seed) && seed >= 0 && seed < 2 ** 32);
      seeds.add(seed);
    }
    assert.ok(seeds.size > 1);
  });
});
