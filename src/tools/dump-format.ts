/**
 * How the dumps (`dump-log.ts`, `dump-table.ts`) show bytes, entry types and
 * internal keys, as text and as JSON. A new entry type is one line of
 * `ENTRY_TYPES`.
 */
import { EntryType, INTERNAL_KEY_TRAILER_BYTES, SEQUENCE_MAX, readTrailerSeq, readTrailerType } from '../keys.js';
import { EXPIRY_BYTES, readExpiry } from '../util/expiring-value.js';

/** How bytes (keys and values) are shown: `readable` quotes printable ASCII and shows anything else as `0x` hex. */
export type BytesEncoding = 'readable' | 'utf8' | 'hex' | 'base64';

export const BYTES_ENCODINGS: readonly BytesEncoding[] = ['readable', 'utf8', 'hex', 'base64'];

/**
 * What the value of an op or entry is: nothing (`none`), the user's value
 * (`bytes`), the exclusive end key of a range tombstone whose start is the key
 * (`end`), or an expiry time followed by the user's value (`expiring`,
 * docs/format.md, "Expiring values").
 */
export type ValueKind = 'none' | 'bytes' | 'end' | 'expiring';

/** Every entry type (docs/format.md, "Internal keys"): its name, and what its value is. */
export const ENTRY_TYPES: Readonly<Record<number, { name: string; value: ValueKind }>> = {
  [EntryType.DELETE]: { name: 'DELETE', value: 'none' },
  [EntryType.PUT]: { name: 'PUT', value: 'bytes' },
  [EntryType.RANGE_DELETE]: { name: 'RANGE_DELETE', value: 'end' },
  [EntryType.PUT_EXPIRING]: { name: 'PUT_EXPIRING', value: 'expiring' },
};

/** A value as the dumps show it: the fields of `ShownValue` its entry type has. */
export interface ShownValue {
  /** The user's value (PUT, PUT_EXPIRING; an unknown type's whole value). */
  value?: string;
  /** A range tombstone's end key, exclusive (RANGE_DELETE). */
  end?: string;
  /** When a PUT_EXPIRING entry expires, in milliseconds since the epoch; null when the value holds no readable time. */
  expiresAtMs?: number | null;
}

/** The fields showing the value `value` of an entry of type `type` (see `ShownValue`). */
export function showValue(type: number, value: Buffer, encoding: BytesEncoding): ShownValue {
  switch (ENTRY_TYPES[type]?.value ?? 'bytes') {
    case 'none':
      return {};
    case 'end':
      return { end: showBytes(value, encoding) };
    case 'expiring': {
      const expiresAtMs = readExpiry(value);
      if (expiresAtMs < 0) return { value: showBytes(value, encoding), expiresAtMs: null };
      return { value: showBytes(value.subarray(EXPIRY_BYTES), encoding), expiresAtMs };
    }
    default:
      return { value: showBytes(value, encoding) };
  }
}

/** A shown value as text after its key: ` = value`, ` .. end` (a range, end exclusive), and ` (expires at ms)`; empty for none. */
export function valueText(shown: ShownValue): string {
  let text = '';
  if (shown.end !== undefined) text += ` .. ${shown.end} (end exclusive)`;
  if (shown.value !== undefined) text += ` = ${shown.value}`;
  if (shown.expiresAtMs === null) text += ' (no readable expiry time)';
  else if (shown.expiresAtMs !== undefined) text += ` (expires at ${shown.expiresAtMs})`;
  return text;
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
