/**
 * Fuzz target: the decoders of copies' bytes, the export stream (both forms,
 * fed in random chunks) and the backup manifest. Valid inputs are built,
 * damaged at random and decoded. The only errors allowed are a CorruptionError
 * or NOT_SUPPORTED; a damaged binary export or manifest that decodes must decode
 * to what was written (their CRCs and end counts make anything else a miss).
 * JSON lines carry no checksum, so for them only the error rule is checked.
 *
 * `runCopyDecoderFuzz(seed, iterations)` is called briefly from the tests and at
 * length by `npm run fuzz`.
 */
import assert from 'node:assert/strict';
import { decodeBackupManifest, encodeBackupManifest, type BackupManifest } from '../src/backup/backup-manifest.js';
import { ExportDecoder, encodeBinaryEnd, encodeBinaryEntry, encodeBinaryHeader, encodeJsonEnd, encodeJsonEntry, encodeJsonHeader, type ExportEntry } from '../src/db/export-format.js';
import { Rng } from '../src/testing/rng.js';
import { emptyManifestState } from '../src/version/manifest.js';
import { attempt, damageBytes } from './damage.js';

const LIMITS = { keyBytesMax: 1024, valueBytesMax: 64 * 1024 };

/** Entries; a fifth of them expiring, decided by `expiry` (a stream of its own, so old seeds keep their other draws). */
function randomEntries(rng: Rng, expiry: Rng): ExportEntry[] {
  return Array.from({ length: rng.range(0, 12) }, () => {
    const entry: ExportEntry = { key: rng.bytes(rng.range(0, 40)), value: rng.bytes(rng.bool(0.1) ? rng.range(0, 5000) : rng.range(0, 100)) };
    if (expiry.bool(0.2)) entry.expiresAtMs = expiry.bool(0.1) ? Number.MAX_SAFE_INTEGER : expiry.range(0, 2 ** 42);
    return entry;
  });
}

function encodeExport(entries: ExportEntry[], json: boolean): Buffer {
  if (json) return Buffer.from(encodeJsonHeader('base64') + entries.map((e) => encodeJsonEntry(e.key, e.value, 'base64', e.expiresAtMs)).join('') + encodeJsonEnd(entries.length));
  return Buffer.concat([encodeBinaryHeader(), ...entries.map((e) => encodeBinaryEntry(e.key, e.value, e.expiresAtMs)), encodeBinaryEnd(entries.length)]);
}

/** Decodes `bytes` pushed in random chunks. */
function decodeExport(bytes: Buffer, rng: Rng): ExportEntry[] {
  const decoder = new ExportDecoder('fuzz', LIMITS);
  const entries: ExportEntry[] = [];
  for (let at = 0; at < bytes.length; ) {
    const size = rng.range(1, 300);
    entries.push(...decoder.push(bytes.subarray(at, at + size)));
    at += size;
  }
  decoder.finish();
  return entries;
}

function randomManifest(rng: Rng): BackupManifest {
  const state = emptyManifestState();
  state.logNumber = rng.range(1, 1000);
  state.nextFileNumber = state.logNumber + 2;
  state.lastSequence = rng.range(0, 1_000_000);
  const files = Array.from({ length: rng.range(0, 6) }, (_, i) => ({ fileNumber: i + 1, sizeBytes: rng.range(100, 100_000), crc32: rng.int(2 ** 32) }));
  for (const file of files) {
    const key = (seq: number): Buffer => Buffer.concat([rng.bytes(rng.range(0, 8)), Buffer.from([1, seq & 0xff, 0, 0, 0, 0, 0, 0])]);
    state.files.set(file.fileNumber, { level: rng.range(0, 6), fileNumber: file.fileNumber, sizeBytes: file.sizeBytes, smallest: key(1), largest: key(2), smallestSeq: 1, largestSeq: 2 });
  }
  return { id: rng.range(1, 1000), sequence: state.lastSequence, createdMs: rng.range(0, 2 ** 42), files, state };
}

/** Runs `iterations` damaged exports and manifests from `seed`. Throws on the first violation, naming the seed. */
export function runCopyDecoderFuzz(seed: number, iterations: number): void {
  const rng = new Rng(seed);
  const expiry = new Rng(seed ^ 0x7717);
  for (let iteration = 0; iteration < iterations; iteration++) {
    const where = `copy decoder fuzz seed ${seed} iteration ${iteration}`;
    const entries = randomEntries(rng, expiry);
    const json = rng.bool(0.3);
    const original = encodeExport(entries, json);
    assert.deepEqual(decodeExport(original, rng), entries, `${where}: an intact export`);
    const damaged = damageBytes(original, rng);
    const decoded = attempt(() => decodeExport(damaged, rng));
    if (decoded.ok && !json) assert.deepEqual(decoded.value, entries, `${where}: a damaged binary export decoded to other entries`);

    const manifest = randomManifest(rng);
    const bytes = encodeBackupManifest(manifest);
    assert.deepEqual(decodeBackupManifest(bytes, 'm'), manifest, `${where}: an intact manifest`);
    const read = attempt(() => decodeBackupManifest(damageBytes(bytes, rng), 'm'));
    if (read.ok) assert.deepEqual(read.value, manifest, `${where}: a damaged manifest decoded to another one`);
  }
}
