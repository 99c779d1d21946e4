/**
 * What every fuzz target shares: raw damage to bytes, and the rule for what a
 * decoder of damaged bytes may throw.
 */
import { CorruptionError, ShaleError } from '../src/errors.js';
import type { Rng } from '../src/testing/rng.js';

/**
 * Up to three raw edits anywhere: a flipped bit, a zeroed range, a truncation, a
 * cut range, or inserted garbage. With `focusStart`, half the edits land at or
 * after it (the metadata and footer of a table, which a uniform pick rarely hits).
 */
export function damageBytes(original: Buffer, rng: Rng, focusStart = 0): Buffer {
  let out = Buffer.from(original);
  const edits = rng.range(1, 4);
  for (let i = 0; i < edits && out.length > 0; i++) {
    const from = rng.bool() ? Math.min(focusStart, out.length - 1) : 0;
    const at = rng.range(from, out.length - 1);
    switch (rng.int(5)) {
      case 0:
        out[at]! ^= 1 << rng.int(8);
        break;
      case 1:
        out.fill(0, at, Math.min(out.length, at + rng.range(1, 4096)));
        break;
      case 2:
        out = out.subarray(0, at);
        break;
      case 3:
        out = Buffer.concat([out.subarray(0, at), out.subarray(Math.min(out.length, at + rng.range(1, 64)))]);
        break;
      default:
        out = Buffer.concat([out.subarray(0, at), rng.bytes(rng.range(1, 64)), out.subarray(at)]);
    }
  }
  return out;
}

/** The errors a decoder of damaged bytes may throw: corruption, or a format version it does not know. */
export function isAllowedDecodeError(err: unknown): boolean {
  return err instanceof CorruptionError || (err instanceof ShaleError && err.code === 'NOT_SUPPORTED');
}

/** What `attempt` returns. */
export type Attempt<T> = { ok: true; value: T } | { ok: false };

/**
 * Runs `decode`; an allowed error gives `{ ok: false }`, any other error
 * propagates: that is a bug in the decoder.
 */
export function attempt<T>(decode: () => T): Attempt<T> {
  try {
    return { ok: true, value: decode() };
  } catch (err) {
    if (isAllowedDecodeError(err)) return { ok: false };
    throw err;
  }
}
