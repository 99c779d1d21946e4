/**
 * Fuzz target: the log reader and the decoders of what it returns (the WAL write
 * group, the log file header, the MANIFEST version edit). Valid logs are built,
 * damaged at random (bit flips, zeroed ranges, truncation, inserted garbage) and
 * read back. The only error allowed is a CorruptionError (or NOT_SUPPORTED for a
 * header's version), and every record read as intact must be one that was written.
 *
 * `runLogDecoderFuzz(seed, iterations)` is called briefly from the tests and at
 * length by `npm run fuzz`.
 */
import assert from 'node:assert/strict';
import { decodeVersionEdit } from '../src/version/version-edit.js';
import { EntryType } from '../src/keys.js';
import { Rng } from '../src/testing/rng.js';
import { checkFileHeader } from '../src/wal/log-file-header.js';
import { LOG_BLOCK_BYTES } from '../src/wal/log-format.js';
import { readLogEvents } from '../src/wal/log-reader.js';
import { encodeFileHeader, frameLog } from '../src/wal/log-writer.js';
import { decodeWriteGroup, encodeWriteGroup, opEncodedBytes, type WriteOp } from '../src/wal/write-group.js';
import { attempt, damageBytes } from './damage.js';
import { encodeExpiringValue } from '../src/util/expiring-value.js';

/** `expiries` turns some puts into expiring ones (a stream of its own, so a seed's other draws stay what they were). */
function randomGroup(rng: Rng, expiries: Rng): Buffer {
  const ops: WriteOp[] = [];
  const count = rng.range(1, 8);
  for (let i = 0; i < count; i++) {
    const put = rng.bool(0.7);
    const op: WriteOp = {
      type: put ? EntryType.PUT : EntryType.DELETE,
      key: rng.bytes(rng.range(0, 20)),
      value: put ? rng.bytes(rng.bool(0.05) ? rng.range(0, 3 * LOG_BLOCK_BYTES) : rng.range(0, 200)) : Buffer.alloc(0),
    };
    if (put && expiries.bool(0.2)) {
      op.type = EntryType.PUT_EXPIRING;
      op.value = encodeExpiringValue(expiries.int(2 ** 41), op.value);
    }
    ops.push(op);
  }
  const bytes = ops.reduce((sum, op) => sum + opEncodedBytes(op), 0);
  return encodeWriteGroup(rng.range(0, 1000), rng.range(1, 1_000_000), [ops], ops.length, bytes);
}

/** Runs `iterations` damaged logs from `seed`. Throws on the first violation, naming the seed. */
export function runLogDecoderFuzz(seed: number, iterations: number): void {
  const rng = new Rng(seed);
  const expiries = new Rng((seed ^ 0x7717_e0f1) >>> 0);
  for (let iteration = 0; iteration < iterations; iteration++) {
    const payloads = [encodeFileHeader('SHLW', 1)];
    for (let i = rng.range(0, 12); i > 0; i--) payloads.push(randomGroup(rng, expiries));
    const written = new Set(payloads.map((payload) => payload.toString('base64')));
    const damaged = damageBytes(frameLog(payloads), rng);
    try {
      for (const event of readLogEvents(damaged)) {
        if (event.kind !== 'record') continue;
        assert.ok(written.has(event.payload.toString('base64')), 'an intact record that was never written');
        attempt(() => checkFileHeader(event.payload, 'SHLW', 1, 'fuzz.log'));
        attempt(() => decodeWriteGroup(event.payload, 'fuzz.log', event.offset));
        attempt(() => decodeVersionEdit(event.payload, 'fuzz.log', event.offset));
      }
      // Raw damaged bytes straight into the record decoders, too.
      const slice = damaged.subarray(rng.int(Math.max(1, damaged.length)));
      attempt(() => decodeWriteGroup(slice, 'fuzz.log', 0));
      attempt(() => decodeVersionEdit(slice, 'fuzz.log', 0));
    } catch (err) {
      throw new Error(`log decoder fuzz failed at seed ${seed} iteration ${iteration}: ${String(err)}`, { cause: err });
    }
  }
}
