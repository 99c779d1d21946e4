import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { CorruptionError, DB } from '../../src/index.js';
import { EntryType, encodeInternalKey } from '../../src/keys.js';
import type { WalRecoveryMode } from '../../src/options.js';
import { emptyEdit, encodeVersionEdit } from '../../src/version/version-edit.js';
import { LOG_BLOCK_BYTES, RecordKind } from '../../src/wal/log-format.js';
import { readLogEvents } from '../../src/wal/log-reader.js';
import { frameRecord } from '../../src/wal/log-writer.js';
import { encodeWriteGroup, opEncodedBytes } from '../../src/wal/write-group.js';
import { copyDir, tempDir } from '../helpers.js';

/**
 * User bytes that are log framing, built with the real writer: an edit commit, a
 * write group claiming 2^40 synced bytes, and the smallest chunk there is (8 bytes).
 */
function chunkShapedBytes(): Buffer {
  const commit = Buffer.alloc(9);
  commit[0] = RecordKind.EDIT_COMMIT;
  const op = { type: EntryType.PUT, key: Buffer.from('k'), value: Buffer.from('v') };
  const group = encodeWriteGroup(2 ** 40, 1, [[op]], 1, opEncodedBytes(op));
  return Buffer.concat([frameRecord(commit, 0), frameRecord(group, 0), frameRecord(Buffer.from([RecordKind.VERSION_EDIT]), 0)]);
}

const MODES: WalRecoveryMode[] = ['tolerate-tail', 'absolute', 'point-in-time'];

function manifestOf(dir: string): string {
  return path.join(dir, fs.readFileSync(path.join(dir, 'CURRENT'), 'latin1').trim());
}

/**
 * A closed database with keys `<i><inner>` for i < 20, flushed to a table so the
 * MANIFEST's edits hold keys embedding `inner`.
 */
async function databaseWithKeysEmbedding(inner: Buffer): Promise<string> {
  const dir = tempDir();
  const db = await DB.open(dir, { compactionExecutor: 'inline' });
  for (let i = 0; i < 20; i++) await db.put(Buffer.concat([Buffer.from(`${i}`.padStart(2, '0')), inner]), `value-${i}`);
  await db.flush();
  await db.close();
  return dir;
}

/**
 * The bytes a crash may leave of the next edit of a flush that was being
 * appended: a table (never synced, so absent) whose boundary keys embed `inner`.
 */
function nextFlushEdit(inner: Buffer, manifestSize: number): Buffer {
  const edit = emptyEdit();
  const smallest = encodeInternalKey(Buffer.concat([Buffer.from('20'), inner]), 21, EntryType.PUT);
  const largest = encodeInternalKey(Buffer.concat([Buffer.from('29'), inner]), 30, EntryType.PUT);
  edit.newFiles.push({ level: 0, fileNumber: 999, sizeBytes: 4096, smallest, largest, smallestSeq: 21, largestSeq: 30 });
  edit.lastSequence = 30;
  return frameRecord(encodeVersionEdit(edit), manifestSize % LOG_BLOCK_BYTES);
}

async function outcome(dir: string, mode: WalRecoveryMode): Promise<string> {
  try {
    const db = await DB.open(dir, { walRecovery: mode, compactionExecutor: 'inline' });
    let count = 0;
    for await (const _ of db.keys()) count++;
    await db.close();
    return `opened with ${count} keys`;
  } catch (err) {
    if (err instanceof CorruptionError) return `CORRUPTION at ${err.offset}: ${err.message}`;
    throw err;
  }
}

describe('MANIFEST recovery with user keys that look like log framing', () => {
  it('a torn last edit whose keys embed intact chunks is dropped, as with plain keys, in every mode', async () => {
    const inner = chunkShapedBytes();
    for (const [name, bytes] of [['plain', Buffer.alloc(inner.length, 'p')], ['chunk-shaped', inner]] as const) {
      const dir = await databaseWithKeysEmbedding(bytes);
      const manifestSize = fs.statSync(manifestOf(dir)).size;
      const torn = nextFlushEdit(bytes, manifestSize);
      // Every cut that leaves part of the edit: the whole edit would name a table that is not there.
      for (let cut = 1; cut < torn.length; cut += 5) {
        const copy = copyDir(dir);
        fs.appendFileSync(manifestOf(copy), torn.subarray(0, cut));
        for (const mode of MODES) {
          assert.equal(await outcome(copy, mode), 'opened with 20 keys', `${name} keys, edit cut at ${cut}, ${mode}`);
        }
      }
    }
  });

  it('a flipped bit in an edit followed by its commit is CORRUPTION naming the MANIFEST and the edit', async () => {
    const dir = await databaseWithKeysEmbedding(chunkShapedBytes());
    const manifest = manifestOf(dir);
    const records = [...readLogEvents(fs.readFileSync(manifest))];
    // Records: header, snapshot edit, commit, flush edit, commit.
    const flushEdit = records.at(-2)!;
    assert.equal(flushEdit.kind, 'record');
    const bytes = fs.readFileSync(manifest);
    bytes[flushEdit.offset + 20]! ^= 0x04;
    fs.writeFileSync(manifest, bytes);
    for (const mode of MODES) {
      assert.match(await outcome(dir, mode), new RegExp(`^CORRUPTION at ${flushEdit.offset}:`), mode);
    }
  });
});
