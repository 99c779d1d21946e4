/**
 * The logical export format: every key and value of a database as a stream,
 * for moving data between shale versions (docs/format.md, "Export stream").
 * Two forms:
 *
 * - binary (version 2): an 12-byte header (`SHALEEXP`, version u8, flags u8,
 *   reserved u16), then records, each `tag u8 | fields | crc32 u32le` with the
 *   CRC-32 covering the tag and fields: an entry (tag 1: keyLength varint32,
 *   valueLength varint32, key, value), an expiring entry (tag 3: expiresAtMs
 *   u64le, then as tag 1) or the end (tag 2: entryCount u64le).
 * - JSON lines (version 2): a header line `{"format":"shale-export","version":2,
 *   "encoding":"base64"|"utf8"}`, one `{"key":…,"value":…}` line per entry (with
 *   `"expiresAt":ms` for an expiring one), and an end line `{"end":true,"count":N}`.
 *
 * Version 1 is version 2 without expiring entries (no tag 3, no `expiresAt`):
 * it is still read. The end record is what tells a whole export from one cut
 * short. This module encodes and decodes; `export.ts` and `import.ts` run them
 * over a database.
 */
import { CorruptionError, ShaleError } from '../errors.js';
import { readUint64, readVarint32, varint32Length, writeUint64, writeVarint32 } from '../util/coding.js';
import { crc32 } from '../util/crc32.js';

/** `binary` (compact, any bytes) or `jsonl` (one JSON object a line, readable by other tools). */
export type ExportFormat = 'binary' | 'jsonl';
/** How JSON lines spell keys and values: base64 (any bytes) or UTF-8 text (only for keys and values that are valid UTF-8). */
export type ExportEncoding = 'base64' | 'utf8';

/** The first 8 bytes of a binary export. */
export const EXPORT_MAGIC = Buffer.from('SHALEEXP', 'latin1');
/** The version of both forms that exports write. On disk: a reader refuses versions it does not know. */
export const EXPORT_FORMAT_VERSION = 2;
/** The first version with expiring entries (tag 3, `expiresAt`); the oldest version read is 1. */
export const EXPORT_FORMAT_VERSION_EXPIRY = 2;
const EXPORT_FORMAT_VERSION_MIN = 1;
export const EXPORT_HEADER_BYTES = 12;
/** Record tags of the binary form. On disk: never renumber. */
export const ExportTag = { ENTRY: 1, END: 2, EXPIRING_ENTRY: 3 } as const;
const CRC_BYTES = 4;
const EXPIRY_BYTES = 8;

/** The binary header. */
export function encodeBinaryHeader(): Buffer {
  const header = Buffer.alloc(EXPORT_HEADER_BYTES);
  EXPORT_MAGIC.copy(header, 0);
  header[8] = EXPORT_FORMAT_VERSION;
  return header;
}

/** One binary entry record: tag 1, or with `expiresAtMs` (a safe integer ≥ 0) tag 3. */
export function encodeBinaryEntry(key: Uint8Array, value: Uint8Array, expiresAtMs?: number): Buffer {
  const expiryBytes = expiresAtMs === undefined ? 0 : EXPIRY_BYTES;
  const length = 1 + expiryBytes + varint32Length(key.length) + varint32Length(value.length) + key.length + value.length;
  const out = Buffer.allocUnsafe(length + CRC_BYTES);
  out[0] = expiresAtMs === undefined ? ExportTag.ENTRY : ExportTag.EXPIRING_ENTRY;
  if (expiresAtMs !== undefined) writeUint64(out, expiresAtMs, 1);
  let at = writeVarint32(out, key.length, 1 + expiryBytes);
  at = writeVarint32(out, value.length, at);
  out.set(key, at);
  out.set(value, at + key.length);
  out.writeUInt32LE(crc32(out.subarray(0, length)), length);
  return out;
}

/** The binary end record. */
export function encodeBinaryEnd(count: number): Buffer {
  const out = Buffer.alloc(1 + 8 + CRC_BYTES);
  out[0] = ExportTag.END;
  writeUint64(out, count, 1);
  out.writeUInt32LE(crc32(out.subarray(0, 9)), 9);
  return out;
}

/** The JSON lines header line. */
export function encodeJsonHeader(encoding: ExportEncoding): string {
  return `${JSON.stringify({ format: 'shale-export', version: EXPORT_FORMAT_VERSION, encoding })}\n`;
}

/** One JSON line for an entry (with `expiresAt` when it expires). With `utf8`, bytes that are not valid UTF-8 are an `INVALID_ARGUMENT`. */
export function encodeJsonEntry(key: Buffer, value: Buffer, encoding: ExportEncoding, expiresAtMs?: number): string {
  const entry: Record<string, unknown> = { key: textOf(key, encoding, 'key'), value: textOf(value, encoding, 'value') };
  if (expiresAtMs !== undefined) entry['expiresAt'] = expiresAtMs;
  return `${JSON.stringify(entry)}\n`;
}

/** The JSON lines end line, counting the entries before it. */
export function encodeJsonEnd(count: number): string {
  return `${JSON.stringify({ end: true, count })}\n`;
}

function textOf(bytes: Buffer, encoding: ExportEncoding, what: string): string {
  if (encoding === 'base64') return bytes.toString('base64');
  const text = bytes.toString('utf8');
  if (!Buffer.from(text, 'utf8').equals(bytes)) {
    throw new ShaleError('INVALID_ARGUMENT', `a ${what} is not valid UTF-8 (key 0x${bytes.subarray(0, 32).toString('hex')}…): export with encoding 'base64'`);
  }
  return text;
}

/** An entry decoded from an export. */
export interface ExportEntry {
  key: Buffer;
  value: Buffer;
  /** When the entry expires (milliseconds since the epoch, by the exporting database's clock); absent when it never does. */
  expiresAtMs?: number;
}

/** Limits on what a decoder buffers before it has a whole record. */
export interface DecodeLimits {
  keyBytesMax: number;
  valueBytesMax: number;
}

/**
 * An incremental decoder of either form: `push` bytes as they arrive and take
 * the entries it returns; `finish` at the end of the stream checks that the end
 * record came and counted every entry. Damage is a `CorruptionError` naming
 * `source` and the byte offset of the bad record.
 */
export class ExportDecoder {
  readonly #source: string;
  readonly #limits: DecodeLimits;
  #form: ExportFormat | undefined;
  #version = EXPORT_FORMAT_VERSION;
  #encoding: ExportEncoding = 'base64';
  #pending: Buffer = Buffer.alloc(0);
  /** The stream offset of `#pending[0]`. */
  #offset = 0;
  #count = 0;
  #ended = false;

  constructor(source: string, limits: DecodeLimits) {
    this.#source = source;
    this.#limits = limits;
  }

  /** Entries decoded so far. */
  get count(): number {
    return this.#count;
  }

  /** The form the header named (after the first bytes). */
  get form(): ExportFormat | undefined {
    return this.#form;
  }

  push(chunk: Uint8Array): ExportEntry[] {
    this.#pending = this.#pending.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.#pending, chunk]);
    const entries: ExportEntry[] = [];
    if (this.#form === undefined && !this.#readHeader()) return entries;
    if (this.#form === 'binary') this.#readBinary(entries);
    else this.#readJson(entries);
    return entries;
  }

  /** Checks that the stream ended with its end record and nothing after it. */
  finish(): void {
    if (this.#form === undefined) this.#fail(this.#offset, 'the stream ended before its header');
    if (!this.#ended) this.#fail(this.#offset, `the stream ended after ${this.#count} entries without its end record (cut short?)`);
  }

  #fail(offset: number, detail: string): never {
    throw new CorruptionError(this.#source, offset, detail);
  }

  /** A version this reader does not know: a later one is `NOT_SUPPORTED`, anything else corruption. */
  #checkVersion(version: unknown, offset: number): void {
    if (typeof version === 'number' && Number.isInteger(version) && version >= EXPORT_FORMAT_VERSION_MIN && version <= EXPORT_FORMAT_VERSION) {
      this.#version = version;
      return;
    }
    if (typeof version === 'number' && Number.isInteger(version) && version > EXPORT_FORMAT_VERSION) {
      throw new ShaleError('NOT_SUPPORTED', `${this.#source}: export format version ${version} is newer than this version of shale reads (${EXPORT_FORMAT_VERSION})`);
    }
    this.#fail(offset, `bad export format version ${String(version)}`);
  }

  #consume(bytes: number): void {
    this.#pending = this.#pending.subarray(bytes);
    this.#offset += bytes;
  }

  #readHeader(): boolean {
    const pending = this.#pending;
    if (pending.length > 0 && pending[0] === 0x7b /* { */) {
      this.#form = 'jsonl';
      return true;
    }
    if (pending.length < EXPORT_HEADER_BYTES) {
      if (!EXPORT_MAGIC.subarray(0, pending.length).equals(pending.subarray(0, EXPORT_MAGIC.length))) this.#fail(0, 'not a shale export');
      return false;
    }
    if (!pending.subarray(0, 8).equals(EXPORT_MAGIC)) this.#fail(0, 'not a shale export');
    this.#checkVersion(pending[8], 8);
    this.#form = 'binary';
    this.#consume(EXPORT_HEADER_BYTES);
    return true;
  }

  #readBinary(entries: ExportEntry[]): void {
    for (;;) {
      const pending = this.#pending;
      if (pending.length === 0) return;
      if (this.#ended) this.#fail(this.#offset, 'bytes after the end record');
      const tag = pending[0]!;
      if (tag === ExportTag.END) {
        if (pending.length < 9 + CRC_BYTES) return;
        this.#checkCrc(pending, 9);
        const count = readUint64(pending, 1);
        if (count !== this.#count) this.#fail(this.#offset, `the end record counts ${count} entries, the stream held ${this.#count}`);
        this.#ended = true;
        this.#consume(9 + CRC_BYTES);
        continue;
      }
      const expiring = tag === ExportTag.EXPIRING_ENTRY && this.#version >= EXPORT_FORMAT_VERSION_EXPIRY;
      if (tag !== ExportTag.ENTRY && !expiring) this.#fail(this.#offset, `unknown record tag ${tag}`);
      const lengthsAt = expiring ? 1 + EXPIRY_BYTES : 1;
      if (pending.length < lengthsAt) return;
      const keyLength = readVarint32(pending, lengthsAt, pending.length);
      if (keyLength === undefined) return this.#needMore(pending, lengthsAt + 5);
      const valueLength = readVarint32(pending, keyLength.next, pending.length);
      if (valueLength === undefined) return this.#needMore(pending, keyLength.next + 5);
      if (keyLength.value > this.#limits.keyBytesMax) this.#fail(this.#offset, `key length ${keyLength.value} exceeds keyBytesMax`);
      if (valueLength.value > this.#limits.valueBytesMax) this.#fail(this.#offset, `value length ${valueLength.value} exceeds valueBytesMax`);
      const keyStart = valueLength.next;
      const end = keyStart + keyLength.value + valueLength.value;
      if (pending.length < end + CRC_BYTES) return;
      this.#checkCrc(pending, end);
      // Own copies: the pending buffer is reused for the rest of the stream.
      const entry: ExportEntry = { key: Buffer.from(pending.subarray(keyStart, keyStart + keyLength.value)), value: Buffer.from(pending.subarray(keyStart + keyLength.value, end)) };
      if (expiring) {
        const expiresAtMs = readUint64(pending, 1);
        if (expiresAtMs < 0) this.#fail(this.#offset, 'an expiry time beyond 2^53 - 1');
        entry.expiresAtMs = expiresAtMs;
      }
      entries.push(entry);
      this.#count++;
      this.#consume(end + CRC_BYTES);
    }
  }

  /** A varint not decodable from `pending`: more bytes may complete it, unless `bytesEnough` are there already. */
  #needMore(pending: Buffer, bytesEnough: number): void {
    if (pending.length >= bytesEnough) this.#fail(this.#offset, 'bad length varint');
  }

  #checkCrc(record: Buffer, length: number): void {
    if (crc32(record.subarray(0, length)) !== record.readUInt32LE(length)) this.#fail(this.#offset, 'record checksum mismatch');
  }

  #readJson(entries: ExportEntry[]): void {
    for (;;) {
      const newline = this.#pending.indexOf(0x0a);
      if (newline < 0) {
        if (this.#pending.length > 2 * (this.#limits.keyBytesMax + this.#limits.valueBytesMax) + 1024) this.#fail(this.#offset, 'a line longer than any entry');
        return;
      }
      const line = this.#pending.subarray(0, newline).toString('utf8');
      const offset = this.#offset;
      this.#consume(newline + 1);
      if (line.length > 0) this.#readJsonLine(line, offset, entries);
    }
  }

  #readJsonLine(line: string, offset: number, entries: ExportEntry[]): void {
    let record: Record<string, unknown>;
    try {
      record = JSON.parse(line) as Record<string, unknown>;
    } catch {
      this.#fail(offset, 'a line that is not JSON');
    }
    if (typeof record !== 'object' || record === null) this.#fail(offset, 'a line that is not a JSON object');
    if (this.#ended) this.#fail(offset, 'lines after the end line');
    if (offset === 0) {
      if (record['format'] !== 'shale-export') this.#fail(0, 'not a shale export');
      this.#checkVersion(record['version'], 0);
      if (record['encoding'] !== 'base64' && record['encoding'] !== 'utf8') this.#fail(0, `unknown encoding ${String(record['encoding'])}`);
      this.#encoding = record['encoding'];
      return;
    }
    if (record['end'] === true) {
      if (record['count'] !== this.#count) this.#fail(offset, `the end line counts ${String(record['count'])} entries, the stream held ${this.#count}`);
      this.#ended = true;
      return;
    }
    const key = this.#jsonBytes(record['key'], offset, 'key', this.#limits.keyBytesMax);
    const value = this.#jsonBytes(record['value'], offset, 'value', this.#limits.valueBytesMax);
    const entry: ExportEntry = { key, value };
    const expiresAt = record['expiresAt'];
    if (expiresAt !== undefined) {
      if (this.#version < EXPORT_FORMAT_VERSION_EXPIRY) this.#fail(offset, `an expiring entry in a version ${this.#version} export`);
      if (typeof expiresAt !== 'number' || !Number.isSafeInteger(expiresAt) || expiresAt < 0) this.#fail(offset, 'an expiresAt that is not a safe integer ≥ 0');
      entry.expiresAtMs = expiresAt;
    }
    entries.push(entry);
    this.#count++;

  }

  #jsonBytes(field: unknown, offset: number, what: string, max: number): Buffer {
    if (typeof field !== 'string') this.#fail(offset, `an entry without a string ${what}`);
    if (this.#encoding === 'base64' && (field.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(field))) this.#fail(offset, `a ${what} that is not base64`);
    const bytes = Buffer.from(field, this.#encoding);
    if (bytes.length > max) this.#fail(offset, `a ${what} of ${bytes.length} bytes exceeds the limit`);
    return bytes;
  }
}
