import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EntryType } from '../../src/keys.js';
import { MemTable, ENTRY_OVERHEAD_BYTES } from '../../src/memtable/memtable.js';
import { seededRandom, testSeed } from '../helpers.js';

describe('memtable', () => {
  it('returns the newest version visible at a snapshot, tombstones included', () => {
    const memtable = new MemTable(4);
    const key = Buffer.from('k');
    memtable.add(1, EntryType.PUT, key, Buffer.from('v1'));
    memtable.add(3, EntryType.DELETE, key, Buffer.alloc(0));
    memtable.add(5, EntryType.PUT, key, Buffer.from('v5'));
    assert.equal(memtable.get(key, 0), undefined);
    assert.equal(memtable.get(key, 2)?.value.toString(), 'v1');
    assert.equal(memtable.get(key, 3)?.type, EntryType.DELETE);
    assert.equal(memtable.get(key, 4)?.type, EntryType.DELETE);
    assert.equal(memtable.get(key, 9)?.value.toString(), 'v5');
    assert.equal(memtable.get(Buffer.from('j'), 9), undefined);
    assert.equal(memtable.get(Buffer.from('k\x00'), 9), undefined);
  });

  it('orders keys bytewise, a prefix before its extensions, and versions newest first', () => {
    const memtable = new MemTable(4);
    const keys = ['b', 'a', '\xff', 'ab', '', 'a'];
    keys.forEach((key, i) => memtable.add(i + 1, EntryType.PUT, Buffer.from(key, 'latin1'), Buffer.from(String(i))));
    const order = [...memtable.entries()].map(([k]) => `${k.key.toString('latin1')}@${k.seq}`);
    assert.deepEqual(order, ['@5', 'a@6', 'a@2', 'ab@4', 'b@1', '\xff@3']);
  });

  it('orders like bytewise comparison for keys around the prefix words\' edges (0x00 and 0xff bytes, lengths 0–40)', () => {
    const random = seededRandom(testSeed('memtable prefix order'));
    const memtable = new MemTable(4);
    const alphabet = [0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff];
    const reference: { key: Buffer; seq: number }[] = [];
    for (let seq = 1; seq <= 4000; seq++) {
      // Keys share long prefixes, so that ties on one, two or all three prefix words are common.
      const length = Math.floor(random() * 41);
      const key = Buffer.alloc(length, 0x61);
      for (let i = 0; i < length; i++) if (random() < 0.15) key[i] = alphabet[Math.floor(random() * alphabet.length)]!;
      memtable.add(seq, EntryType.PUT, key, Buffer.alloc(0));
      reference.push({ key, seq });
    }
    reference.sort((a, b) => Buffer.compare(a.key, b.key) || b.seq - a.seq);
    assert.deepEqual(
      [...memtable.entries()].map(([k]) => `${k.key.toString('hex')}@${k.seq}`),
      reference.map(({ key, seq }) => `${key.toString('hex')}@${seq}`),
    );
    memtable.checkInvariants();
    for (const { key, seq } of reference.slice(0, 500)) assert.ok((memtable.get(key, seq)?.seq ?? 0) >= seq, 'every key is found');
  });

  it('accounts bytes exactly and refuses writes once frozen', () => {
    const memtable = new MemTable(4);
    memtable.add(1, EntryType.PUT, Buffer.from('key'), Buffer.from('value'));
    assert.equal(memtable.approximateBytes, 8 + ENTRY_OVERHEAD_BYTES);
    memtable.freeze();
    assert.throws(() => memtable.add(2, EntryType.PUT, Buffer.from('x'), Buffer.from('y')), assert.AssertionError);
  });

  it('matches a model under random puts and deletes at fanout 4, invariants holding throughout', () => {
    const random = seededRandom(testSeed('memtable model'));
    const memtable = new MemTable(4);
    const history = new Map<string, { seq: number; value: string | undefined }[]>();
    for (let seq = 1; seq <= 3000; seq++) {
      const key = `key${Math.floor(random() * 200)}`;
      const isDelete = random() < 0.3;
      const value = isDelete ? undefined : `v${seq}`;
      memtable.add(seq, isDelete ? EntryType.DELETE : EntryType.PUT, Buffer.from(key), Buffer.from(value ?? ''));
      history.set(key, [...(history.get(key) ?? []), { seq, value }]);
      if (seq % 500 === 0) memtable.checkInvariants();
    }
    for (const snapshot of [1, 100, 1500, 3000]) {
      for (const [key, versions] of history) {
        const visible = versions.filter((v) => v.seq <= snapshot).at(-1);
        const found = memtable.get(Buffer.from(key), snapshot);
        if (visible === undefined) assert.equal(found, undefined, key);
        else if (visible.value === undefined) assert.equal(found?.type, EntryType.DELETE, key);
        else assert.equal(found?.value.toString(), visible.value, key);
      }
    }
    assert.equal(memtable.entryCount, 3000);
    assert.deepEqual(memtable.sequenceRange, { smallest: 1, largest: 3000 });
  });
});
