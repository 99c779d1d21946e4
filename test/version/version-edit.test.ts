/** Version edits: a round trip, and decoded keys that own their bytes. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeVersionEdit, emptyEdit, encodeVersionEdit } from '../../src/version/version-edit.js';
import { EntryType, encodeInternalKey } from '../../src/keys.js';

describe('version edit', () => {
  it('records a table\'s range-deleted bytes (tag 7) after its newFile, only when nonzero', () => {
    const file = (fileNumber: number, rangeDeletedBytes?: number) => ({
      level: 1,
      fileNumber,
      sizeBytes: 100,
      smallest: encodeInternalKey(Buffer.from('a'), 2, EntryType.PUT),
      largest: encodeInternalKey(Buffer.from('b'), 1, EntryType.PUT),
      smallestSeq: 1,
      largestSeq: 2,
      ...(rangeDeletedBytes === undefined ? {} : { rangeDeletedBytes }),
    });
    const edit = { ...emptyEdit(), newFiles: [file(7, 5000), file(8), file(9, 0)] };
    const encoded = encodeVersionEdit(edit);
    const decoded = decodeVersionEdit(encoded, 'MANIFEST-000001', 0);
    assert.deepEqual(decoded.newFiles.map((meta) => meta.rangeDeletedBytes), [5000, undefined, undefined]);
    assert.equal(encodeVersionEdit({ ...emptyEdit(), newFiles: [file(8)] }).length, encodeVersionEdit({ ...emptyEdit(), newFiles: [file(9, 0)] }).length, 'zero writes no tag');
    // The tag naming a table the edit does not add is corruption.
    const orphan = Buffer.concat([encodeVersionEdit(emptyEdit()), Buffer.from([7, 1]), Buffer.alloc(16)]);
    assert.throws(() => decodeVersionEdit(orphan, 'MANIFEST-000001', 12), /does not add/);
  });

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
