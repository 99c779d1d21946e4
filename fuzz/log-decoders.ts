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
import { CorruptionError, ShaleError } from '../src/errors.js';
import { decodeVersionEdit } from '../src/compaction/version-edit.js';
import { EntryType } from '../src/keys.js';
import { Rng } from '../src/testing/rng.js';
import { checkFileHeader } from '../src/wal/log-file-header.js';
import { LOG_BLOCK_BYTES } from '../src/wal/log-format.js';
import { readLogEvents } from '../src/wal/log-reader.js';
import { encodeFileHeader, frameRecord } from '../src/wal/log-writer.js';
import { decodeWriteGroup, encodeWriteGroup, opEncodedBytes, type WriteOp } from '../src/wal/write-group.js';

function randomGroup(rng: Rng): Buffer {
  const ops: WriteOp[] = [];
  const count = rng.range(1, 8);
  for (let i = 0; i < count; i++) {
    const put = rng.bool(0.7);
    ops.push({
      type: put ? EntryType.PUT : EntryType.DELETE,
      key: rng.bytes(rng.range(0, 20)),
      value: put ? rng.bytes(rng.bool(0.05) ? rng.range(0, 3 * LOG_BLOCK_BYTES) : rng.range(0, 200)) : Buffer.alloc(0),
    });
  }
  const bytes = ops.reduce((sum, op) => sum + opEncodedBytes(op), 0);
  return encodeWriteGroup(rng.range(0, 1000), rng.range(1, 1_000_000), [ops], ops.length, bytes);
}

function damage(log: Buffer, rng: Rng): Buffer {
  let out = Buffer.from(log);
  const edits = rng.range(1, 4);
  for (let i = 0; i < edits && out.length > 0; i++) {
    const at = rng.int(out.length);
    switch (rng.int(4)) {
      case 0:
        out[at]! ^= 1 << rng.int(8);
        break;
      case 1:
        out.fill(0, at, Math.min(out.length, at + rng.range(1, 4096)));
        break;
      case 2:
        out = out.subarray(0, at);
        break;
      default:
        out = Buffer.concat([out.subarray(0, at), rng.bytes(rng.range(1, 64)), out.subarray(at)]);
    }
  }
  return out;
}

function decodeAllowed(decode: () => unknown): void {
  try {
    decode();
  } catch (err) {
    if (err instanceof CorruptionError) return;
    if (err instanceof ShaleError && err.code === 'NOT_SUPPORTED') return;
    throw err;
  }
}

/** Runs `iterations` damaged logs from `seed`. Throws on the first violation, naming the seed. */
export function runLogDecoderFuzz(seed: number, iterations: number): void {
  const rng = new Rng(seed);
  for (let iteration = 0; iteration < iterations; iteration++) {
    const payloads = [encodeFileHeader('SHLW', 1)];
    for (let i = rng.range(0, 12); i > 0; i--) payloads.push(randomGroup(rng));
    const parts: Buffer[] = [];
    let size = 0;
    for (const payload of payloads) {
      const framed = frameRecord(payload, size % LOG_BLOCK_BYTES);
      parts.push(framed);
      size += framed.length;
    }
    const written = new Set(payloads.map((payload) => payload.toString('base64')));
    const damaged = damage(Buffer.concat(parts), rng);
    try {
      for (const event of readLogEvents(damaged)) {
        if (event.kind !== 'record') continue;
        assert.ok(written.has(event.payload.toString('base64')), 'an intact record that was never written');
        decodeAllowed(() => checkFileHeader(event.payload, 'SHLW', 1, 'fuzz.log'));
        decodeAllowed(() => decodeWriteGroup(event.payload, 'fuzz.log', event.offset));
        decodeAllowed(() => decodeVersionEdit(event.payload, 'fuzz.log', event.offset));
      }
      // Raw damaged bytes straight into the record decoders, too.
      const slice = damaged.subarray(rng.int(Math.max(1, damaged.length)));
      decodeAllowed(() => decodeWriteGroup(slice, 'fuzz.log', 0));
      decodeAllowed(() => decodeVersionEdit(slice, 'fuzz.log', 0));
    } catch (err) {
      throw new Error(`log decoder fuzz failed at seed ${seed} iteration ${iteration}: ${String(err)}`, { cause: err });
    }
  }
}
