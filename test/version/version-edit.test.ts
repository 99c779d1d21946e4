/** Version edits: a round trip, and decoded keys that own their bytes. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EditTag, decodeVersionEdit, emptyEdit, encodeVersionEdit } from '../../src/version/version-edit.js';
import { CorruptionError } from '../../src/errors.js';
import { EntryType, encodeInternalKey } from '../../src/keys.js';

describe('version edit', () => {
  it('records a table\'s range-deleted bytes (tag 8) after its newFile, only when nonzero', () => {
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
    const orphan = Buffer.concat([encodeVersionEdit(emptyEdit()), Buffer.from([8]), Buffer.alloc(16)]);
    assert.throws(() => decodeVersionEdit(orphan, 'MANIFEST-000001', 12), /not the new file before it/);
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

  it("records a new file's earliest expiry in a fileExpiry field right after it, and rejects one that follows no such file", () => {
    const edit = emptyEdit();
    const file = (fileNumber: number) => ({
      level: 1,
      fileNumber,
      sizeBytes: 100,
      smallestSeq: 1,
      largestSeq: 2,
      smallest: encodeInternalKey(Buffer.from('a'), 2, EntryType.PUT),
      largest: encodeInternalKey(Buffer.from('b'), 1, EntryType.PUT),
    });
    edit.newFiles.push({ ...file(5), expiryMinMs: 1_700_000_000_123 }, file(6));
    const encoded = encodeVersionEdit(edit);
    assert.deepEqual(decodeVersionEdit(encoded, 'MANIFEST-000001', 0), edit);
    // Golden bytes of the field: tag 7, fileNumber 5, expiryMinMs.
    assert.ok(encoded.includes(Buffer.from('07' + '0500000000000000' + '7b68e5cf8b010000', 'hex')));
    const orphan = Buffer.concat([Buffer.from([3, EditTag.FILE_EXPIRY]), Buffer.from('0900000000000000' + '0100000000000000', 'hex')]);
    assert.throws(() => decodeVersionEdit(orphan, 'MANIFEST-000002', 40), (err: unknown) => err instanceof CorruptionError && err.offset === 40 && /file expiry/.test(err.message));
  });
});
