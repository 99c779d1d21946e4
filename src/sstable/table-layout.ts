/**
 * A human-readable dump of a table file, block by block (docs/format.md,
 * "SSTable"). Golden tests pin it, so a change to the format shows up as a
 * reviewable text diff; people read it when debugging a damaged file.
 */
import { INTERNAL_KEY_TRAILER_BYTES, SEQUENCE_MAX, readTrailerSeq, readTrailerType } from '../keys.js';
import { decodeBlockHandle, type BlockHandle } from './block-handle.js';
import { Block } from './block-reader.js';
import type { OpenedBlock } from './block-trailer.js';
import type { BloomFilter } from './bloom-filter.js';
import { bytewiseComparator } from './comparator.js';
import type { Footer } from './footer.js';
import { BLOCK_TRAILER_BYTES, CompressionType, FOOTER_BYTES, TABLE_MAGIC } from './format.js';
import type { TableProperties } from './properties.js';

/** Everything the dump needs from an open table. */
export interface TableLayoutSource {
  readonly fileName: string;
  readonly fileSizeBytes: number;
  readonly footer: Footer;
  readonly properties: TableProperties;
  readonly filter: BloomFilter | undefined;
  readonly indexBlock: Block;
  /** Reads and checks the block at `handle`. */
  readBlock(handle: BlockHandle): OpenedBlock;
}

/** Formats the layout of a table; see `TableReader.layout()`. */
export function formatTableLayout(source: TableLayoutSource): string {
  const { footer, properties } = source;
  const lines = [`table ${source.fileName}: ${source.fileSizeBytes} bytes, format version ${footer.formatVersion}`];
  const indexEntries = blockEntries(source.indexBlock);
  indexEntries.forEach(({ value }, i) => {
    const handle = decodeBlockHandle(value, 0, value.length, source.fileName, source.indexBlock.offset);
    const opened = source.readBlock(handle);
    const block = new Block(opened.contents, source.fileName, handle.offset);
    lines.push(`data block ${i}: ${describeStored(handle, opened)}, entries ${blockEntries(block).length}, restarts ${block.restartCount}`);
  });
  const rangeDel = properties.rangeDelBlock;
  if (rangeDel !== undefined) lines.push(`range-del: ${describeStored(rangeDel, source.readBlock(rangeDel))}, tombstones ${properties.rangeDeletionCount}`);
  if (footer.filterHandle === undefined || source.filter === undefined) {
    lines.push('filter: none');
  } else {
    const filter = source.filter;
    lines.push(`filter: ${describeStored(footer.filterHandle, source.readBlock(footer.filterHandle))}, bits ${filter.bitCount}, k ${filter.probeCount}`);
  }
  lines.push(`properties: ${describeStored(footer.propertiesHandle, source.readBlock(footer.propertiesHandle))}`);
  lines.push(`  entries ${properties.entryCount}, tombstones ${properties.tombstoneCount}, data blocks ${properties.dataBlockCount}`);
  lines.push(`  raw key bytes ${properties.rawKeyBytes}, raw value bytes ${properties.rawValueBytes}`);
  lines.push(`  seq ${properties.smallestSeq}..${properties.largestSeq}`);
  if (properties.expiringEntryCount > 0) lines.push(`  expiring entries ${properties.expiringEntryCount}, earliest expiry ${properties.expiryMinMs} ms`);
  lines.push(`  smallest ${formatInternalKey(properties.smallestKey)}, largest ${formatInternalKey(properties.largestKey)}`);
  lines.push(
    `  built with block size ${properties.blockSizeBytes}, restart interval ${properties.restartInterval}, ` +
      `bloom bits per key ${properties.bloomBitsPerKey}, compression ${properties.compression}` +
      (properties.bloomPrefixBytes > 0 ? `, bloom prefix bytes ${properties.bloomPrefixBytes}` : ''),
  );
  const index = source.indexBlock;
  lines.push(`index: ${describeStored(footer.indexHandle, source.readBlock(footer.indexHandle))}, entries ${indexEntries.length}, restarts ${index.restartCount}`);
  for (const { key, value } of indexEntries) {
    const handle = decodeBlockHandle(value, 0, value.length, source.fileName, index.offset);
    lines.push(`  ${formatInternalKey(key)} -> offset ${handle.offset}, size ${handle.size}`);
  }
  const footerOffset = source.fileSizeBytes - FOOTER_BYTES;
  lines.push(`footer: offset ${footerOffset}, size ${FOOTER_BYTES}, version ${footer.formatVersion}, magic "${TABLE_MAGIC.toString('latin1')}"`);
  return lines.join('\n') + '\n';
}

/**
 * Formats an internal key as `userKey#seq,TYPE`: the user key quoted when it is
 * printable ASCII, hex otherwise; the largest sequence number as `max`.
 */
export function formatInternalKey(key: Buffer): string {
  if (key.length < INTERNAL_KEY_TRAILER_BYTES) return `<bad key ${key.toString('hex')}>`;
  const userKeyLength = key.length - INTERNAL_KEY_TRAILER_BYTES;
  const userKey = key.subarray(0, userKeyLength);
  const printable = userKey.every((byte) => byte >= 0x20 && byte < 0x7f && byte !== 0x22 && byte !== 0x5c);
  const user = printable ? `"${userKey.toString('latin1')}"` : `0x${userKey.toString('hex')}`;
  const seq = readTrailerSeq(key, userKeyLength);
  const type = readTrailerType(key, userKeyLength);
  const typeName = ['DELETE', 'PUT', 'RANGE_DELETE', 'PUT_EXPIRING'][type] ?? `type${type}`;
  return `${user}#${seq === SEQUENCE_MAX ? 'max' : seq},${typeName}`;
}

function describeStored(handle: BlockHandle, opened: OpenedBlock): string {
  const compression = opened.compressionType === CompressionType.SNAPPY ? `snappy (raw ${opened.contents.length})` : 'none';
  return `offset ${handle.offset}, size ${handle.size} + ${BLOCK_TRAILER_BYTES}, ${compression}`;
}

function blockEntries(block: Block): { key: Buffer; value: Buffer }[] {
  // Key order does not matter for a forward walk; bytewise needs no minimum key length.
  const iterator = block.iterator(bytewiseComparator);
  const entries: { key: Buffer; value: Buffer }[] = [];
  for (iterator.seekToFirst(); iterator.valid(); iterator.next()) entries.push({ key: iterator.key(), value: iterator.value() });
  return entries;
}
