/** Version edits: a round trip, and decoded keys that own their bytes. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeVersionEdit, emptyEdit, encodeVersionEdit } from '../../src/version/version-edit.js';
import { EntryType, encodeInternalKey } from '../../src/keys.js';

describe('version edit', () => {
  it('round-trips, and each decoded key has a buffer of its own size (not a view into the record or a pool slice)', () => {
    const edit = emptyEdit();
    edit.logNumber = 7;
    edit.nextFileNumber = 12;
    edit.lastSequence = 99;
    edit.deletedFiles.push({ level: 1, fileNumber: 3 });
    for (const [fileNumber, low, high] of [[10, 'apple', 'banana'], [11, 'cherry', 'date']] as const) {
      edit.newFiles.push({
        level: 2,
        fileNumber,
        sizeBytes: 4096 * fileNumber,
        smallestSeq: fileNumber,
        largestSeq: fileNumber + 50,
        smallest: encodeInternalKey(Buffer.from(low), fileNumber + 50, EntryType.PUT),
        largest: encodeInternalKey(Buffer.from(high), fileNumber, EntryType.DELETE),
      });
    }
    const decoded = decodeVersionEdit(encodeVersionEdit(edit), 'MANIFEST-000001', 0);
    assert.deepEqual(decoded, edit);
    for (const file of decoded.newFiles) {
      for (const key of [file.smallest, file.largest]) {
        assert.equal(key.byteOffset, 0);
        assert.equal(key.buffer.byteLength, key.length, 'a key crossing to the worker carries only itself');
      }
    }
  });
});
