/**
 * `shale dump-sst`: every block of a table file and every entry of its data
 * blocks, as text lines or JSON (docs/tools.md, "Dumps"), read with the engine's
 * decoders (footer, block trailer, block, properties). A damaged block is shown
 * as damaged at its offset and the dump goes on with the next one, as long as
 * the footer and index say where that is. A new metadata block is one line of
 * `META_BLOCKS`; a new property needs nothing (every property is shown).
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
import { internalKeyText, showInternalKey, showValue, valueText, type BytesEncoding, type ShownKey } from './dump-format.js';
import { INTERNAL_KEY_TRAILER_BYTES, readTrailerType } from '../keys.js';
import type { TableProperties } from '../sstable/properties.js';
import { scanTableBytes } from './block-scan.js';
import { dataBlockHandles } from './table-check.js';
import { damageOf, type Damage } from './table-check.js';

/**
 * The metadata blocks, in the order they are shown: where each is (from the
 * footer, or from the properties when they could be read), and whether its
 * entries are shown (a block of the ordinary block format holding internal keys).
 */
const META_BLOCKS: readonly { name: string; handle: (footer: Footer, properties: TableProperties | undefined) => BlockHandle | undefined; entries?: true }[] = [
  { name: 'range-del', handle: (_footer, properties) => properties?.rangeDelBlock, entries: true },
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
  /** Data and range-del blocks: every entry; values shown as the dump's encoding. */
  entries?: ShownEntry[];
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
      dumpScannedBlocks(handle, file, encoding, dump);
      for (const meta of META_BLOCKS) dumpMetaBlock(handle, file, meta, meta.handle(footer, undefined), encoding, dump);
      return dump;
    }
    dump.properties = showProperties(reader.properties as unknown as Record<string, unknown>, encoding);
    for (const blockHandle of handles) dump.blocks.push(dumpDataBlock(handle, file, blockHandle, encoding, dump));
    for (const meta of META_BLOCKS) dumpMetaBlock(handle, file, meta, meta.handle(footer, reader.properties), encoding, dump);
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
  const entries: ShownEntry[] = [];
  try {
    const { contents, compression } = readBlock(handle, file, blockHandle);
    shown.compression = compression;
    blockKeys(new Block(contents, file, blockHandle.offset), file, encoding, entries);
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

function dumpMetaBlock(handle: RandomAccessFile, file: string, meta: (typeof META_BLOCKS)[number], blockHandle: BlockHandle | undefined, encoding: BytesEncoding, dump: TableDump): void {
  if (blockHandle === undefined) return;
  const shown: DumpedBlock = { kind: meta.name, offset: blockHandle.offset, size: blockHandle.size };
  try {
    const { contents, compression } = readBlock(handle, file, blockHandle);
    shown.compression = compression;
    if (meta.entries === true) shown.entries = blockKeys(new Block(contents, file, blockHandle.offset), file, encoding);
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
 * (`block-scan.ts`), shown as kind `data (found by checksum)`; where the scan
 * stopped is shown as a block of kind `scan stopped`.
 */
function dumpScannedBlocks(handle: RandomAccessFile, file: string, encoding: BytesEncoding, dump: TableDump): void {
  const scan = scanTableBytes(handle.read(0, handle.size), file);
  for (const block of scan.blocks) {
    dump.blocks.push({ kind: 'data (found by checksum)', offset: block.offset, size: block.size, entries: block.entries.map(([key, value]) => showEntry(key, value, encoding)) });
  }
  if (scan.stoppedAt !== undefined) dump.blocks.push({ kind: 'scan stopped', offset: scan.stoppedAt.offset, size: 0, damage: scan.stoppedAt.reason });
}

/** An entry as the dump shows it: its key taken apart, and its value's fields (`dump-format.ts`). */
export type ShownEntry = ShownKey & Record<string, string | number>;

function showEntry(key: Buffer, value: Buffer, encoding: BytesEncoding): ShownEntry {
  const userKeyLength = key.length - INTERNAL_KEY_TRAILER_BYTES;
  return { ...showInternalKey(key, encoding)!, ...showValue(readTrailerType(key, userKeyLength), value, encoding) };
}

/** The entries of `block` (internal keys), into `into`; entries decoded before a structural fault are kept there. */
function blockKeys(block: Block, file: string, encoding: BytesEncoding, into: ShownEntry[] = []): ShownEntry[] {
  const iterator = block.iterator(bytewiseComparator);
  for (iterator.seekToFirst(); iterator.valid(); iterator.next()) {
    const key = iterator.key();
    if (key.length < INTERNAL_KEY_TRAILER_BYTES) throw new CorruptionError(file, block.offset, 'key shorter than an internal key');
    into.push(showEntry(key, iterator.value(), encoding));
  }
  return into;
}

/** Every property, internal keys taken apart. */
function showProperties(properties: Record<string, unknown>, encoding: BytesEncoding): Record<string, unknown> {
  const shown: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(properties)) shown[name] = Buffer.isBuffer(value) ? showInternalKey(value, encoding) : value;
  return shown;
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
    const shown = Object.entries(dump.properties).map(([name, value]) => `${name} ${typeof value === 'object' ? internalKeyText(value as ShownKey) : String(value)}`);
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
