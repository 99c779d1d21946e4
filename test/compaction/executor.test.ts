/**
 * Errors cross from the compaction worker to the main thread as plain data
 * (`serializeError`, `deserializeError`): structured clone keeps neither an Error
 * subclass nor, in some runtimes, an error's own properties.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { deserializeError, serializeError } from '../../src/compaction/executor.js';
import { CorruptionError, ShaleError, ioError } from '../../src/errors.js';

/** What the worker's message goes through on its way to the main thread. */
function acrossThreads(err: unknown): Error {
  return deserializeError(structuredClone(serializeError(err)));
}

function osError(): NodeJS.ErrnoException {
  return Object.assign(new Error("ENOSPC: no space left on device, write '/db/000009.sst'"), {
    code: 'ENOSPC',
    errno: -28,
    syscall: 'write',
    path: '/db/000009.sst',
  });
}

describe('errors from the worker', () => {
  it('an IO_ERROR keeps its message and its cause: the OS error with code, errno, syscall and path', () => {
    const rebuilt = acrossThreads(ioError('writing table /db/000009.sst', osError()));
    assert.ok(rebuilt instanceof ShaleError);
    assert.equal(rebuilt.code, 'IO_ERROR');
    assert.equal(rebuilt.message, "writing table /db/000009.sst: ENOSPC: no space left on device, write '/db/000009.sst'");
    const cause = rebuilt.cause as NodeJS.ErrnoException;
    assert.ok(cause instanceof Error);
    assert.equal(cause.message, osError().message);
    assert.equal(cause.code, 'ENOSPC');
    assert.equal(cause.errno, -28);
    assert.equal(cause.syscall, 'write');
    assert.equal(cause.path, '/db/000009.sst');
  });

  it('a CorruptionError comes back as one, with its file, offset, message and cause', () => {
    const original = new CorruptionError('/db/000007.sst', 4096, 'block checksum mismatch', { cause: new Error('inner') });
    const rebuilt = acrossThreads(original);
    assert.ok(rebuilt instanceof CorruptionError);
    assert.equal(rebuilt.code, 'CORRUPTION');
    assert.equal(rebuilt.file, '/db/000007.sst');
    assert.equal(rebuilt.offset, 4096);
    assert.equal(rebuilt.message, original.message);
    assert.equal((rebuilt.cause as Error).message, 'inner');
  });

  it('every ShaleError code survives', () => {
    for (const code of ['INVALID_ARGUMENT', 'NOT_OPEN', 'IO_ERROR', 'NOT_SUPPORTED'] as const) {
      const rebuilt = acrossThreads(new ShaleError(code, `a ${code}`));
      assert.ok(rebuilt instanceof ShaleError, code);
      assert.equal(rebuilt.code, code);
      assert.equal(rebuilt.message, `a ${code}`);
      assert.equal(rebuilt.cause, undefined);
    }
  });

  it('a plain OS error stays a plain Error with its properties; a thrown non-Error becomes its string', () => {
    const rebuilt = acrossThreads(osError()) as NodeJS.ErrnoException;
    assert.ok(!(rebuilt instanceof ShaleError));
    assert.deepEqual([rebuilt.code, rebuilt.errno, rebuilt.syscall, rebuilt.path], ['ENOSPC', -28, 'write', '/db/000009.sst']);
    assert.equal(acrossThreads('just a string').message, 'just a string');
  });

  it('a cycle or a long chain of causes is cut at a bound, not followed forever', () => {
    const looped = new Error('looped') as Error & { cause?: unknown };
    looped.cause = looped;
    let depth = 0;
    for (let err: unknown = acrossThreads(looped); err instanceof Error; err = err.cause) depth++;
    assert.ok(depth >= 2 && depth <= 8, `depth ${depth}`);
  });
});
