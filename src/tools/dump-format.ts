/**
 * How the dumps (`dump-log.ts`, `dump-table.ts`) show bytes, entry types,
 * values and internal keys, as text and as JSON. A new entry type is one line of
 * `ENTRY_TYPES`.
 */
import { EntryType, INTERNAL_KEY_TRAILER_BYTES, SEQUENCE_MAX, readTrailerSeq, readTrailerType } from '../keys.js';
import { EXPIRY_BYTES, readExpiry } from '../util/expiring-value.js';

/** How bytes (keys and values) are shown: `readable` quotes printable ASCII and shows anything else as `0x` hex. */
export type BytesEncoding = 'readable' | 'utf8' | 'hex' | 'base64';

export const BYTES_ENCODINGS: readonly BytesEncoding[] = ['readable', 'utf8', 'hex', 'base64'];

/** How an entry type is shown: its name, and the fields its value holds (none: it carries no value). */
export interface EntryTypeShape {
  name: string;
  /** The fields of a value of this type, shown as `encoding` says; undefined for a type without a value. */
  showValue?: (value: Buffer, encoding: BytesEncoding) => Record<string, string | number>;
}

/** Every entry type (docs/format.md, "Internal keys"), one a line. */
export const ENTRY_TYPES: Readonly<Record<number, EntryTypeShape>> = {
  [EntryType.DELETE]: { name: 'DELETE' },
  [EntryType.PUT]: { name: 'PUT', showValue: (value, encoding) => ({ value: showBytes(value, encoding) }) },
  [EntryType.RANGE_DELETE]: { name: 'RANGE_DELETE', showValue: (end, encoding) => ({ end: showBytes(end, encoding) }) },
  [EntryType.PUT_EXPIRING]: { name: 'PUT_EXPIRING', showValue: showExpiring },
};

/** A PUT_EXPIRING value: its expiry time and the value behind it (docs/format.md, "Expiring values"). */
function showExpiring(value: Buffer, encoding: BytesEncoding): Record<string, string | number> {
  if (value.length < EXPIRY_BYTES) return { damagedValue: showBytes(value, encoding) };
  return { value: showBytes(value.subarray(EXPIRY_BYTES), encoding), expiresAtMs: readExpiry(value) };
}

/** The fields of a value of entry type `type` (`value` as is for a type this release does not know). */
export function showValue(type: number, value: Buffer, encoding: BytesEncoding): Record<string, string | number> {
  const shape = ENTRY_TYPES[type];
  if (shape === undefined) return { value: showBytes(value, encoding) };
  return shape.showValue?.(value, encoding) ?? {};
}

/** The fields as text: `= value`, `.. end`, `= value (expires at N)` (N in ms since the epoch). */
export function valueText(fields: Readonly<Record<string, unknown>>): string {
  const parts: string[] = [];
  if ('value' in fields) parts.push(`= ${String(fields['value'])}`);
  if ('end' in fields) parts.push(`.. ${String(fields['end'])}`);
  if ('expiresAtMs' in fields) parts.push(`(expires at ${String(fields['expiresAtMs'])})`);
  if ('damagedValue' in fields) parts.push(`= ${String(fields['damagedValue'])} (too short for an expiry)`);
  return parts.length === 0 ? '' : ` ${parts.join(' ')}`;
}

/** The name of entry type `type` (`type7` for one this release does not know). */
export function entryTypeName(type: number): string {
  return ENTRY_TYPES[type]?.name ?? `type${type}`;
}

/** `bytes` shown as `encoding` says. */
export function showBytes(bytes: Uint8Array, encoding: BytesEncoding): string {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (encoding === 'utf8') return buffer.toString('utf8');
  if (encoding === 'hex') return buffer.toString('hex');
  if (encoding === 'base64') return buffer.toString('base64');
  const printable = buffer.every((byte) => byte >= 0x20 && byte < 0x7f && byte !== 0x22 && byte !== 0x5c);
  return printable ? `"${buffer.toString('latin1')}"` : `0x${buffer.toString('hex')}`;
}

/** An internal key, taken apart. */
export interface ShownKey {
  key: string;
  seq: number | 'max';
  type: string;
}

/** Takes an internal key apart (user key shown as `encoding` says); undefined when it is shorter than a trailer. */
export function showInternalKey(internalKey: Buffer, encoding: BytesEncoding): ShownKey | undefined {
  const userKeyLength = internalKey.length - INTERNAL_KEY_TRAILER_BYTES;
  if (userKeyLength < 0) return undefined;
  const seq = readTrailerSeq(internalKey, userKeyLength);
  return { key: showBytes(internalKey.subarray(0, userKeyLength), encoding), seq: seq === SEQUENCE_MAX ? 'max' : seq, type: entryTypeName(readTrailerType(internalKey, userKeyLength)) };
}

/** `key#seq,TYPE`, as `TableReader.layout()` writes internal keys. */
export function internalKeyText(shown: ShownKey | undefined): string {
  return shown === undefined ? '<bad key>' : `${shown.key}#${shown.seq},${shown.type}`;
}
