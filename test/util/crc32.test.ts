import assert from 'node:assert/strict';
import { it } from 'node:test';
import { crc32, crc32Implementation, nativeCrc32, packageCrc32 } from '../../src/util/crc32.js';
import { SeededRandom, testSeed } from '../helpers.js';

it('the native and the package CRC-32 agree on random bytes, continued checksums included', (t) => {
  if (nativeCrc32 === undefined) {
    t.skip(`this runtime has no zlib.crc32; crc32 is the ${crc32Implementation} package's`);
    return;
  }
  const seed = testSeed('crc32 agreement');
  const random = new SeededRandom(seed);
  for (let i = 0; i < 500; i++) {
    const data = random.bytes(random.int(0, 5000));
    const previous = random.int(0, 2 ** 32 - 1);
    assert.equal(nativeCrc32(data), packageCrc32(data), `seed ${seed}, case ${i}`);
    assert.equal(nativeCrc32(data, previous), packageCrc32(data, previous), `seed ${seed}, case ${i}, continued`);
  }
});

it('crc32 is the standard CRC-32: check value of "123456789", continuation, unsigned', () => {
  assert.equal(crc32(Buffer.from('123456789')), 0xcbf43926);
  assert.equal(packageCrc32(Buffer.from('123456789')), 0xcbf43926);
  assert.equal(crc32(Buffer.from('56789'), crc32(Buffer.from('1234'))), 0xcbf43926);
  assert.equal(crc32(new Uint8Array(0)), 0);
});

it('an empty range continues a checksum unchanged, as a view of any buffer (Node 20 zlib returns 0 for some)', () => {
  const previous = crc32(Uint8Array.of(1));
  for (const empty of [Buffer.alloc(0), Buffer.alloc(0).subarray(0, 0), new Uint8Array(0).subarray(0, 0), Buffer.alloc(10).subarray(4, 4)]) {
    assert.equal(crc32(empty, previous), previous);
    assert.equal(packageCrc32(empty, previous), previous);
    if (nativeCrc32 !== undefined) assert.equal(nativeCrc32(empty, previous), previous);
  }
});
