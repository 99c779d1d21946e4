/**
 * The storage formats the adapter declares to abstract-level (`buffer`, `view`,
 * `utf8`): what keys, values and range options arrive as in the private API, and
 * what reads must hand back. Input needs no conversion: shale takes Buffers,
 * Uint8Arrays and strings (encoded UTF-8) as they are. Output is always a Buffer
 * that the caller owns (shale copies out of its blocks), turned here into the
 * format abstract-level asked for. Every other encoding (json, hex, custom ones)
 * abstract-level transcodes to one of these three.
 */

/** An encoding format of abstract-level's private API. */
export type StorageFormat = 'buffer' | 'view' | 'utf8';

/** The encodings declared in the `supports` manifest: all three are native to shale. */
export const STORAGE_ENCODINGS: Readonly<Record<StorageFormat, true>> = Object.freeze({ buffer: true, view: true, utf8: true });

/** What shale accepts as a key or value: exactly what the three formats produce. */
export type StorageData = Buffer | Uint8Array | string;

/** `bytes` (the caller's own) as `format`: a string for utf8, a plain Uint8Array view for view (no copy), else the Buffer. */
export function fromStorage(bytes: Buffer, format: StorageFormat): Buffer | Uint8Array | string {
  switch (format) {
    case 'utf8':
      return bytes.toString('utf8');
    case 'view':
      // A Buffer is a Uint8Array, but the 'view' format promises a plain one; share the memory.
      return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    case 'buffer':
      return bytes;
  }
}

/** The byte length of `data` as shale will store it (strings as UTF-8). */
export function storedByteLength(data: StorageData): number {
  return typeof data === 'string' ? Buffer.byteLength(data, 'utf8') : data.byteLength;
}
