/**
 * Invariant checks for the hot paths (the write path, table building, iterators).
 * The same calls and the same `AssertionError` as `node:assert/strict`, without its
 * cost per call: Node's `assert(value, message)` forwards rest arguments through two
 * more functions, which came to 3% of a compaction's time. These inline; a message
 * that needs building is built by the caller only on failure (`assert.fail`).
 */
import { AssertionError } from 'node:assert';

interface Assert {
  (condition: unknown, message?: string): asserts condition;
  /** `Object.is(actual, expected)`, as node:assert/strict's `equal`. */
  equal<T>(actual: unknown, expected: T, message?: string): asserts actual is T;
  fail(message: string): never;
}

function fail(message: string): never {
  throw new AssertionError({ message });
}

function check(condition: unknown, message?: string): asserts condition {
  if (!condition) fail(message ?? 'assertion failed');
}

const assert: Assert = Object.assign(check, {
  equal(actual: unknown, expected: unknown, message?: string): void {
    if (!Object.is(actual, expected)) fail(message ?? `expected ${String(expected)}, got ${String(actual)}`);
  },
  fail,
});

export default assert;
