import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CHUNK_HEADER_BYTES, LOG_BLOCK_BYTES, maskCrc, unmaskCrc } from '../../src/wal/log-format.js';
import { readLogEvents } from '../../src/wal/log-reader.js';
import { encodeFileHeader, frameLog, frameRecord, framedSize } from '../../src/wal/log-writer.js';
import { encodeExpiringValue } from '../../src/util/expiring-value.js';
import { decodeWriteGroup, encodeWriteGroup, opEncodedBytes, type WriteOp } from '../../src/wal/write-group.js';
import { EntryType } from '../../src/keys.js';
import { CorruptionError } from '../../src/errors.js';
import { seededRandom, testSeed } from '../helpers.js';

describe('log framing', () => {
  // The CRC was computed independently: Python zlib.crc32(b'\x01hello'), then masked.
  it('frames a small record as one FULL chunk with golden bytes', () => {
    const framed = frameRecord(Buffer.from('hello'), 0);
    assert.equal(framed.toString('hex'), '3000bee9' + '0500' + '01' + '68656c6c6f');
  });

  it('masks CRCs reversibly', () => {
    for (const crc of [0, 1, 0xffffffff, 0x12345678, 0xcbf43926]) assert.equal(unmaskCrc(maskCrc(crc)), crc);
    assert.notEqual(maskCrc(0x12345678), 0x12345678);
  });

  it('pads a block whose tail is too short for a header and continues in the next block', () => {
    const offset = LOG_BLOCK_BYTES - 3;
    const framed = frameRecord(Buffer.from('x'), offset);
    assert.equal(framed.length, 3 + CHUNK_HEADER_BYTES + 1);
    assert.deepEqual([...framed.subarray(0, 3)], [0, 0, 0]);
    assert.equal(framedSize(1, offset), framed.length);
  });

  it('round-trips records of every size class, including ones spanning several blocks', () => {
    const random = seededRandom(testSeed('log round trip'));
    const payloads: Buffer[] = [];
    for (let i = 0; i < 200; i++) {
      const size = i % 10 === 0 ? Math.floor(random() * 3 * LOG_BLOCK_BYTES) : Math.floor(random() * 300);
      payloads.push(Buffer.from(Array.from({ length: size }, () => Math.floor(random() * 256))));
    }
    payloads.push(Buffer.alloc(0), Buffer.alloc(LOG_BLOCK_BYTES - CHUNK_HEADER_BYTES, 7));
    const events = [...readLogEvents(frameLog(payloads))];
    assert.equal(events.length, payloads.length);
    events.forEach((event, i) => {
      assert.equal(event.kind, 'record');
      if (event.kind === 'record') assert.ok(event.payload.equals(payloads[i]!), `record ${i}`);
    });
  });

  it('reports a torn last record once, after every intact record', () => {
    const log = frameLog([Buffer.from('one'), Buffer.from('two'), Buffer.alloc(100, 1)]);
    const torn = log.subarray(0, log.length - 10);
    const events = [...readLogEvents(torn)];
    assert.deepEqual(events.map((e) => e.kind), ['record', 'record', 'bad']);
    assert.equal(events[2]!.offset, 2 * CHUNK_HEADER_BYTES + 6);
  });

  it('reports a checksum mismatch at the damaged record and resynchronises at the next block', () => {
    const big = Buffer.alloc(LOG_BLOCK_BYTES, 2);
    const log = frameLog([Buffer.from('first'), big, Buffer.from('after')]);
    log[CHUNK_HEADER_BYTES + 5 + CHUNK_HEADER_BYTES + 100]! ^= 1; // inside the big record's first chunk
    const events = [...readLogEvents(log)];
    assert.deepEqual(events.map((e) => e.kind), ['record', 'bad', 'record']);
    assert.equal(events[1]!.offset, CHUNK_HEADER_BYTES + 5);
    if (events[2]!.kind === 'record') assert.equal(events[2]!.payload.toString(), 'after');
  });

  it('treats zeroed bytes as damage, not as records', () => {
    const log = Buffer.concat([frameLog([Buffer.from('kept')]), Buffer.alloc(4096)]);
    const events = [...readLogEvents(log)];
    assert.deepEqual(events.map((e) => e.kind), ['record', 'bad']);
    if (events[1]!.kind === 'bad') assert.equal(events[1]!.reason, 'zeroed bytes');
  });

  it('never reads a record out of the payload of a damaged chunk, however its bytes look', () => {
    // A payload that is itself framing, made by the real writer: the kind of value a
    // user storing log records would write.
    const inner = frameLog([Buffer.from('fake one'), Buffer.from([3]), Buffer.from('fake two')]);
    const log = frameLog([Buffer.from('kept'), Buffer.concat([Buffer.from('x'), inner, Buffer.from('y')])]);
    const second = CHUNK_HEADER_BYTES + 4;
    for (let cut = second + 1; cut < log.length; cut++) {
      const torn = [...readLogEvents(log.subarray(0, cut))];
      assert.deepEqual(torn.map((e) => e.kind), ['record', 'bad'], `cut at ${cut}`);
      const headerLost = Buffer.from(log);
      headerLost.fill(0, second, Math.min(cut, second + CHUNK_HEADER_BYTES));
      headerLost[second + 4] = 0xff; // and a length past the block: nothing says where the chunk ends
      assert.deepEqual([...readLogEvents(headerLost)].map((e) => e.kind), ['record', 'bad'], `header damaged, ${cut}`);
    }
  });

  it('after a checksum mismatch under a sound header, resumes where that header says the next chunk is', () => {
    const log = frameLog([Buffer.from('one'), Buffer.from('two'), Buffer.from('three')]);
    log[2 * CHUNK_HEADER_BYTES + 3 + 1]! ^= 1; // inside "two"
    const events = [...readLogEvents(log)];
    assert.deepEqual(events.map((e) => e.kind), ['record', 'bad', 'record']);
    assert.equal(events[1]!.offset, CHUNK_HEADER_BYTES + 3);
    if (events[2]!.kind === 'record') assert.equal(events[2]!.payload.toString(), 'three');
  });

  it('after a second bad chunk in a block, or a damaged header, resumes only at the next block', () => {
    const payloads = [Buffer.from('one'), Buffer.from('two'), Buffer.from('three'), Buffer.from('four'), Buffer.alloc(LOG_BLOCK_BYTES, 5), Buffer.from('next block')];
    const clean = frameLog(payloads);
    const twoBad = Buffer.from(clean);
    twoBad[2 * CHUNK_HEADER_BYTES + 3 + 1]! ^= 1; // inside "two"
    twoBad[3 * CHUNK_HEADER_BYTES + 6 + 1]! ^= 1; // inside "three": "four" is not read
    const badHeader = Buffer.from(clean);
    badHeader[CHUNK_HEADER_BYTES + 3 + 6]! = 9; // the type of "two"
    for (const [name, log] of [['two bad chunks', twoBad], ['unknown chunk type', badHeader]] as const) {
      const events = [...readLogEvents(log)];
      // The big record started in block 0 and its later chunks are skipped; "next block" follows them.
      assert.deepEqual(events.map((e) => e.kind), ['record', 'bad', 'record'], name);
      if (events[2]!.kind === 'record') assert.equal(events[2]!.payload.toString(), 'next block', name);
    }
  });

  it('encodes the file header record with magic, version and number', () => {
    assert.equal(encodeFileHeader('SHLW', 7).toString('hex'), '01' + '53484c57' + '0200' + '0700000000000000');
  });
});

describe('write group', () => {
  const ops: WriteOp[] = [
    { type: EntryType.PUT, key: Buffer.from('k1'), value: Buffer.from('v1') },
    { type: EntryType.DELETE, key: Buffer.from('k2'), value: Buffer.alloc(0) },
  ];
  const bytes = ops.reduce((sum, op) => sum + opEncodedBytes(op), 0);

  it('encodes golden bytes', () => {
    const encoded = encodeWriteGroup(7, 42, [ops], ops.length, bytes);
    assert.equal(
      encoded.toString('hex'),
      '02' + '0700000000000000' + '2a00000000000000' + '02000000' + '01' + '02' + '6b31' + '02' + '7631' + '00' + '02' + '6b32',
    );
  });

  it('round-trips, concatenating batches in order', () => {
    const decoded = decodeWriteGroup(encodeWriteGroup(0, 5, [ops.slice(0, 1), ops.slice(1)], 2, bytes), 'f', 0);
    assert.equal(decoded.firstSeq, 5);
    assert.equal(decoded.ops.length, 2);
    assert.equal(decoded.ops[0]!.value.toString(), 'v1');
    assert.equal(decoded.ops[1]!.type, EntryType.DELETE);
  });

  it('a range delete op is type 2, start and end each with a varint length, and round-trips', () => {
    const range: WriteOp = { type: EntryType.RANGE_DELETE, key: Buffer.from('a'), value: Buffer.from('bc') };
    const encoded = encodeWriteGroup(0, 9, [[range]], 1, opEncodedBytes(range));
    assert.equal(encoded.subarray(21).toString('hex'), '02' + '01' + '61' + '02' + '6263');
    const decoded = decodeWriteGroup(encoded, 'f', 0).ops[0]!;
    assert.deepEqual([decoded.type, decoded.key.toString(), decoded.value.toString()], [EntryType.RANGE_DELETE, 'a', 'bc']);
  });

  it('a range delete whose start is past its end is a CorruptionError', () => {
    const range: WriteOp = { type: EntryType.RANGE_DELETE, key: Buffer.from('b'), value: Buffer.from('a') };
    const encoded = encodeWriteGroup(0, 9, [[range]], 1, opEncodedBytes(range));
    assert.throws(() => decodeWriteGroup(encoded, 'the.log', 7), (err: unknown) => err instanceof CorruptionError && err.file === 'the.log' && err.offset === 7);
  });

  it('rejects every truncation and a bad op type with CorruptionError naming the file and offset', () => {
    const encoded = encodeWriteGroup(0, 5, [ops], 2, bytes);
    for (let length = 0; length < encoded.length; length++) {
      assert.throws(() => decodeWriteGroup(encoded.subarray(0, length), 'the.log', 99), (err: unknown) => {
        return err instanceof CorruptionError && err.file === 'the.log' && err.offset === 99;
      });
    }
    const badType = Buffer.from(encoded);
    badType[21] = 9;
    assert.throws(() => decodeWriteGroup(badType, 'the.log', 0), CorruptionError);
  });

  it('encodes an expiring put as a PUT whose value starts with its expiry time (log format 2)', () => {
    const op: WriteOp = { type: EntryType.PUT_EXPIRING, key: Buffer.from('k'), value: encodeExpiringValue(0x0102, Buffer.from('v')) };
    const encoded = encodeWriteGroup(0, 1, [[op]], 1, opEncodedBytes(op));
    assert.equal(encoded.subarray(21).toString('hex'), '03' + '01' + '6b' + '09' + '0201000000000000' + '76');
    const decoded = decodeWriteGroup(encoded, 'f', 0, 2);
    assert.equal(decoded.ops[0]!.type, EntryType.PUT_EXPIRING);
    assert.deepEqual(decoded.ops[0]!.value, op.value);
  });

  it('an expiring put in a version-1 log, or one without its 8-byte expiry time, is corruption', () => {
    const op: WriteOp = { type: EntryType.PUT_EXPIRING, key: Buffer.from('k'), value: encodeExpiringValue(5, Buffer.from('v')) };
    const encoded = encodeWriteGroup(0, 1, [[op]], 1, opEncodedBytes(op));
    assert.throws(() => decodeWriteGroup(encoded, 'old.log', 3, 1), (err: unknown) => err instanceof CorruptionError && /unknown type 3/.test(err.message));
    const short: WriteOp = { type: EntryType.PUT_EXPIRING, key: Buffer.from('k'), value: Buffer.alloc(7) };
    const shortEncoded = encodeWriteGroup(0, 1, [[short]], 1, opEncodedBytes(short));
    assert.throws(() => decodeWriteGroup(shortEncoded, 'new.log', 3, 2), (err: unknown) => err instanceof CorruptionError && /expiry time/.test(err.message));
  });
});
