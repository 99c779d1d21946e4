/**
 * `shale dump-sst`: every block of a table file and every entry of its data
 * blocks, as text lines or JSON (docs/tools.md, "Dumps"), read with the engine's
 * decoders (footer, block trailer, block, properties). A damaged block is shown
 * as damaged at its offset and the dump goes on with the next one, as long as
 * the footer and index say where that is. A new metadata block is one line of
 * `META_BLOCKS`; a new property needs nothing (every property is shown).
 *
 * Format version 3: the range-del block, whose handle is a property, is shown
 * after the data blocks with each of its tombstones (`start#seq,RANGE_DELETE ..
 * end`); PUT_EXPIRING entries show their expiry time apart from their value.
 */
import { CorruptionError, ioError } from '../errors.js';
import type { FileSystem, RandomAccessFile } from '../fs/file-system.js';
import type { BlockHandle } from '../sstable/block-handle.js';
import { Block } from '../sstable/block-reader.js';
import { openBlock } from '../sstable/block-trailer.js';
import { bytewiseComparator } from '../sstable/comparator.js';
import { decodeFooter, type Footer } from '../sstable/footer.js';
import { BLOCK_TRAILER_BYTES, CompressionType, FOOTER_BYTES } from '../sstable/format.js';
import { TableReader } from '../sstable/table-reader.js';
import { decodeProperties } from '../sstable/properties.js';
import { EntryType, INTERNAL_KEY_TRAILER_BYTES, encodeInternalKey, readTrailerType } from '../keys.js';
import { internalKeyText, showBytes, showInternalKey, showValue, valueText, type BytesEncoding, type ShownKey, type ShownValue } from './dump-format.js';
import { scanTableBytes } from './block-scan.js';
import { dataBlockHandles } from './table-check.js';
import { damageOf, type Damage } from './table-check.js';

/** The metadata blocks the footer points at, in the order they are shown. */
const META_BLOCKS: readonly { name: string; handle: (footer: Footer) => BlockHandle | undefined }[] = [
  { name: 'filter', handle: (footer) => footer.filterHandle },
  { name: 'properties', handle: (footer) => footer.propertiesHandle },
  { name: 'index', handle: (footer) => footer.indexHandle },
];

/** One block as dumped: where it is, how it is stored, and its entries (data blocks) or what is wrong with it. */
export interface DumpedBlock {
  kind: string;
  offset: number;
  size: number;
  compression?: string;
  /** Data blocks: every entry; values shown as the dump's encoding. The range-del block: every tombstone (key its start, `end` its end). */
  entries?: (ShownKey & ShownValue)[];
  /** Set when the block failed a check. */
  damage?: string;
}

/** A dumped table file. */
export interface TableDump {
  file: string;
  sizeBytes: number;
  footer?: { formatVersion: number; index: BlockHandle; filter: BlockHandle | undefined; properties: BlockHandle };
  properties?: Record<string, unknown>;
  blocks: DumpedBlock[];
  damage: Damage[];
}

/** Dumps the table at `file` (see the module comment). */
export async function dumpTable(fs: FileSystem, file: string, encoding: BytesEncoding): Promise<TableDump> {
  let handle: RandomAccessFile;
  try {
    handle = await fs.openRead(file);
  } catch (err) {
    throw ioError(`opening ${file}`, err);
  }
  try {
    const dump: TableDump = { file, sizeBytes: handle.size, blocks: [], damage: [] };
    const footer = readFooter(handle, file, dump);
    if (footer === undefined) {
      dumpScannedBlocks(handle, file, encoding, dump);
      return dump;
    }
    dump.footer = { formatVersion: footer.formatVersion, index: footer.indexHandle, filter: footer.filterHandle, properties: footer.propertiesHandle };
    let reader: TableReader;
    let handles: BlockHandle[];
    try {
      reader = TableReader.open(handle, file, 0);
      handles = dataBlockHandles(reader);
    } catch (err) {
      if (!(err instanceof CorruptionError)) throw err;
      dump.damage.push(damageOf(err));
      const scan = dumpScannedBlocks(handle, file, encoding, dump);
      // The properties may be intact (the damage elsewhere): then they say where the range-del block is.
      const rangeDel = readRangeDelHandle(handle, file, footer);
      if (rangeDel !== undefined && scan.rangeDelBlock?.offset !== rangeDel.offset) dumpMetaBlock(handle, file, 'range-del', rangeDel, dump);
      for (const meta of META_BLOCKS) dumpMetaBlock(handle, file, meta.name, meta.handle(footer), dump);
      return dump;
    }
    dump.properties = showProperties(reader.properties as unknown as Record<string, unknown>, encoding);
    for (const blockHandle of handles) dump.blocks.push(dumpDataBlock(handle, file, blockHandle, encoding, dump));
    const rangeDel = reader.properties.rangeDelBlock;
    if (rangeDel !== undefined) dump.blocks.push(dumpRangeDelBlock(handle, file, rangeDel, encoding, dump));
    for (const meta of META_BLOCKS) dumpMetaBlock(handle, file, meta.name, meta.handle(footer), dump);
    return dump;
  } finally {
    await handle.close();
  }
}

function readFooter(handle: RandomAccessFile, file: string, dump: TableDump): Footer | undefined {
  try {
    const bytes = handle.size >= FOOTER_BYTES ? handle.read(handle.size - FOOTER_BYTES, FOOTER_BYTES) : Buffer.alloc(0);
    return decodeFooter(bytes, handle.size, file);
  } catch (err) {
    if (!(err instanceof CorruptionError)) throw err;
    dump.damage.push(damageOf(err));
    return undefined;
  }
}

/** Reads and checks the stored block at `blockHandle`: its contents and compression, or the damage. */
function readBlock(handle: RandomAccessFile, file: string, blockHandle: BlockHandle): { contents: Buffer; compression: string } {
  const stored = handle.read(blockHandle.offset, blockHandle.size + BLOCK_TRAILER_BYTES);
  if (stored.length !== blockHandle.size + BLOCK_TRAILER_BYTES) throw new CorruptionError(file, blockHandle.offset, 'block past the end of the file');
  const opened = openBlock(stored, file, blockHandle.offset, true);
  return { contents: opened.contents, compression: opened.compressionType === CompressionType.SNAPPY ? 'snappy' : 'none' };
}

function dumpDataBlock(handle: RandomAccessFile, file: string, blockHandle: BlockHandle, encoding: BytesEncoding, dump: TableDump): DumpedBlock {
  const shown: DumpedBlock = { kind: 'data', offset: blockHandle.offset, size: blockHandle.size };
  const entries: (ShownKey & ShownValue)[] = [];
  try {
    const { contents, compression } = readBlock(handle, file, blockHandle);
    shown.compression = compression;
    const iterator = new Block(contents, file, blockHandle.offset).iterator(bytewiseComparator);
    for (iterator.seekToFirst(); iterator.valid(); iterator.next()) {
      const key = iterator.key();
      if (showInternalKey(key, encoding) === undefined) throw new CorruptionError(file, blockHandle.offset, 'key shorter than an internal key');
      entries.push(showEntry(key, iterator.value(), encoding));
    }
  } catch (err) {
    if (!(err instanceof CorruptionError)) throw err;
    const damage = damageOf(err);
    dump.damage.push(damage);
    shown.damage = damage.reason;
  }
  // Entries decoded before damage in the block's structure are shown too: this is a dump, not a read.
  shown.entries = entries;
  return shown;
}

/** The range-del block at `blockHandle` (which `TableReader.open` checked) with every tombstone, as stored: one per piece and sequence. */
function dumpRangeDelBlock(handle: RandomAccessFile, file: string, blockHandle: BlockHandle, encoding: BytesEncoding, dump: TableDump): DumpedBlock {
  const shown = dumpDataBlock(handle, file, blockHandle, encoding, dump);
  return { ...shown, kind: 'range-del' };
}

/** The range-del block's handle from the properties block, when the footer and properties are intact; undefined otherwise. */
function readRangeDelHandle(handle: RandomAccessFile, file: string, footer: Footer): BlockHandle | undefined {
  try {
    const { contents } = readBlock(handle, file, footer.propertiesHandle);
    return decodeProperties(contents, footer.formatVersion, file, footer.propertiesHandle.offset).rangeDelBlock;
  } catch (err) {
    if (err instanceof CorruptionError) return undefined;
    throw err;
  }
}

function dumpMetaBlock(handle: RandomAccessFile, file: string, kind: string, blockHandle: BlockHandle | undefined, dump: TableDump): void {
  if (blockHandle === undefined) return;
  const shown: DumpedBlock = { kind, offset: blockHandle.offset, size: blockHandle.size };
  try {
    shown.compression = readBlock(handle, file, blockHandle).compression;
  } catch (err) {
    if (!(err instanceof CorruptionError)) throw err;
    const damage = damageOf(err);
    if (!dump.damage.some((known) => known.offset === damage.offset)) dump.damage.push(damage);
    shown.damage = damage.reason;
  }
  dump.blocks.push(shown);
}

/**
 * Without a readable index, the data blocks found by their checksums
 * (`block-scan.ts`), shown as kind `data (found by checksum)`, and the range-del
 * block the scan found after them, as `range-del (found by checksum)`; where the
 * scan stopped is shown as a block of kind `scan stopped`.
 */
function dumpScannedBlocks(handle: RandomAccessFile, file: string, encoding: BytesEncoding, dump: TableDump): ReturnType<typeof scanTableBytes> {
  const scan = scanTableBytes(handle.read(0, handle.size), file);
  for (const block of scan.blocks) {
    dump.blocks.push({ kind: 'data (found by checksum)', offset: block.offset, size: block.size, entries: block.entries.map(([key, value]) => showEntry(key, value, encoding)) });
  }
  if (scan.rangeDelBlock !== undefined) {
    const entries = scan.rangeTombstones.flatMap((fragment) => fragment.seqs.map((seq) => showEntry(encodeInternalKey(fragment.start, seq, EntryType.RANGE_DELETE), fragment.end, encoding)));
    dump.blocks.push({ kind: 'range-del (found by checksum)', offset: scan.rangeDelBlock.offset, size: scan.rangeDelBlock.size, entries });
  }
  if (scan.stoppedAt !== undefined) dump.blocks.push({ kind: 'scan stopped', offset: scan.stoppedAt.offset, size: 0, damage: scan.stoppedAt.reason });
  return scan;
}

/** An entry as the dump shows it: its key taken apart, and its value as its type has one (`showValue`). */
function showEntry(key: Buffer, value: Buffer, encoding: BytesEncoding): ShownKey & ShownValue {
  const shown = showInternalKey(key, encoding)!;
  return { ...shown, ...showValue(readTrailerType(key, key.length - INTERNAL_KEY_TRAILER_BYTES), value, encoding) };
}

/** Every property, internal keys taken apart (the range-del block's handle is `{ offset, size }`, or absent). */
function showProperties(properties: Record<string, unknown>, encoding: BytesEncoding): Record<string, unknown> {
  const shown: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(properties)) {
    if (value === undefined) continue;
    shown[name] = Buffer.isBuffer(value) ? showInternalKey(value, encoding) : value;
  }
  return shown;
}

/** A property as text: an internal key as `key#seq,TYPE`, a block handle as its place, a time in ms with its ISO form. */
function propertyText(name: string, value: unknown): string {
  if (typeof value === 'object' && value !== null && 'offset' in value && 'size' in value) return `offset ${String(value.offset)}, size ${String(value.size)}`;
  if (typeof value === 'object') return internalKeyText(value as ShownKey);
  if (name === 'expiryMinMs' && typeof value === 'number' && value > 0) return `${value} (${new Date(value).toISOString()})`;
  return String(value);
}

/** The dump as text. */
export function formatTableDump(dump: TableDump): string[] {
  const lines = [`${dump.file}: ${dump.sizeBytes} bytes, ${dump.damage.length} damaged places`];
  if (dump.footer !== undefined) {
    const { formatVersion, index, filter, properties } = dump.footer;
    const place = (handle: BlockHandle | undefined): string => (handle === undefined ? 'none' : `offset ${handle.offset}, size ${handle.size}`);
    lines.push(`footer @${dump.sizeBytes - FOOTER_BYTES}: format version ${formatVersion}; index ${place(index)}; filter ${place(filter)}; properties ${place(properties)}`);
  }
  if (dump.properties !== undefined) {
    const shown = Object.entries(dump.properties).map(([name, value]) => `${name} ${propertyText(name, value)}`);
    lines.push(`properties: ${shown.join(', ')}`);
  }
  for (const block of dump.blocks) {
    const stored = block.compression === undefined ? '' : `, ${block.compression}`;
    lines.push(`${block.kind} block @${block.offset}: size ${block.size}${stored}${block.entries === undefined ? '' : `, ${block.entries.length} entries`}${block.damage === undefined ? '' : `, DAMAGED: ${block.damage}`}`);
    for (const entry of block.entries ?? []) lines.push(`  ${internalKeyText(entry)}${valueText(entry)}`);

  }
  for (const damage of dump.damage.filter((found) => !dump.blocks.some((block) => block.offset === found.offset && block.damage !== undefined))) {
    lines.push(`DAMAGED @${damage.offset}: ${damage.reason}`);
  }
  return lines;
}
