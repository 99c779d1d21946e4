/**
 * Keys and values of the benchmark, made on the fly from indices.
 *
 * Keys are 16-byte zero-padded decimals of an index in `[0, num)`, as in db_bench.
 * A missing key is 15 digits and a '.', which sorts just before the keys that
 * share its 15-digit prefix: it falls inside the key range (so an engine cannot
 * reject it from the range of a table alone) but never equals a stored key.
 *
 * Values are slices of one buffer of random printable bytes in which each 100-byte
 * piece is 50 random bytes repeated, so a value compresses to about half, like
 * db_bench's `--compression_ratio=0.5`.
 */
import { Prng } from './random.js';

/** Bytes of every key. */
export const KEY_SIZE_BYTES = 16;
/** The largest index a 16-digit key can hold. */
export const KEY_INDEX_MAX = 10 ** KEY_SIZE_BYTES - 1;

const DIGIT_ZERO = 0x30;
const DOT = 0x2e;

/** Writes `index` as `width` zero-padded decimal digits at `offset`. */
function writeDecimal(target: Buffer, offset: number, width: number, index: number): void {
  let rest = index;
  for (let position = offset + width - 1; position >= offset; position--) {
    target[position] = DIGIT_ZERO + (rest % 10);
    rest = Math.floor(rest / 10);
  }
}

/** The stored key for `index`: a fresh 16-byte Buffer (fresh, because writes may still be in flight). */
export function keyFor(index: number): Buffer {
  const key = Buffer.allocUnsafe(KEY_SIZE_BYTES);
  writeDecimal(key, 0, KEY_SIZE_BYTES, index);
  return key;
}

/**
 * A key that is never stored, inside the range of the stored keys `[0, num)`:
 * 15 digits of `index mod ceil(num / 10)` and a '.'.
 */
export function missingKeyFor(index: number, num: number): Buffer {
  const key = Buffer.allocUnsafe(KEY_SIZE_BYTES);
  writeDecimal(key, 0, KEY_SIZE_BYTES - 1, index % Math.max(1, Math.ceil(num / 10)));
  key[KEY_SIZE_BYTES - 1] = DOT;
  return key;
}

const SOURCE_BYTES_MIN = 1024 * 1024;
const PIECE_BYTES = 100;
const COMPRESSIBLE_FRACTION = 0.5;
/** Printable ASCII: ' ' (0x20) to '~' (0x7e), as db_bench's random strings. */
const PRINTABLE_FIRST = 0x20;
const PRINTABLE_COUNT = 95;

/** Hands out `valueSizeBytes`-long views of one compressible random buffer, in turn. */
export class ValueSource {
  readonly valueSizeBytes: number;
  readonly #data: Buffer;
  #position = 0;

  constructor(valueSizeBytes: number, seed: number) {
    this.valueSizeBytes = valueSizeBytes;
    const prng = new Prng(seed);
    const sizeBytes = Math.max(SOURCE_BYTES_MIN, valueSizeBytes);
    this.#data = Buffer.alloc(sizeBytes);
    const randomBytes = Math.max(1, Math.round(PIECE_BYTES * COMPRESSIBLE_FRACTION));
    for (let start = 0; start < sizeBytes; start += PIECE_BYTES) {
      const end = Math.min(sizeBytes, start + PIECE_BYTES);
      for (let offset = start; offset < Math.min(end, start + randomBytes); offset++) {
        this.#data[offset] = PRINTABLE_FIRST + prng.nextBelow(PRINTABLE_COUNT);
      }
      // The rest of the piece repeats its random part.
      for (let offset = start + randomBytes; offset < end; offset++) this.#data[offset] = this.#data[offset - randomBytes]!;
    }
  }

  /** The next value: a view of the shared buffer, which no engine may modify. */
  next(): Buffer {
    if (this.#position + this.valueSizeBytes > this.#data.length) this.#position = 0;
    const value = this.#data.subarray(this.#position, this.#position + this.valueSizeBytes);
    this.#position += this.valueSizeBytes;
    return value;
  }
}
