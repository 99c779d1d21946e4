/**
 * `shale dump-wal` and `shale dump-manifest`: every record of a log file (a WAL
 * or a MANIFEST) in a readable form, as text lines or JSON (docs/tools.md,
 * "Dumps"), read past damage as far as `log-records.ts` can: each damaged place
 * is a `bad` record at its offset. Op types are shown by `dump-format.ts`, so a
 * new one is a line there; a new record kind is a line in `log-records.ts` and one
 * case here.
 */
import * as path from 'node:path';
import type { FileSystem } from '../fs/file-system.js';
import { parseFileName } from '../filenames.js';
import { MANIFEST_MAGIC, WAL_MAGIC } from '../wal/log-format.js';
import type { FileMeta, VersionEdit } from '../version/version-edit.js';
import type { WriteGroup } from '../wal/write-group.js';
import { entryTypeName, internalKeyText, showBytes, showInternalKey, showValue, valueText, type BytesEncoding, type ShownKey, type ShownValue } from './dump-format.js';
import { readLogRecords, type LogRecord } from './log-records.js';

/** One record of a dumped log, ready for `JSON.stringify`. */
export type DumpedRecord = { offset: number; kind: string } & Record<string, unknown>;

/** A dumped log file. */
export interface LogDump {
  file: string;
  sizeBytes: number;
  records: DumpedRecord[];
  /** Records that are damaged places. */
  badCount: number;
}

/** Dumps the WAL at `file` (its number taken from its name, when shale named it). */
export function dumpWal(fs: FileSystem, file: string, encoding: BytesEncoding): Promise<LogDump> {
  return dumpLog(fs, file, WAL_MAGIC, encoding);
}

/** Dumps the MANIFEST at `file`. */
export function dumpManifest(fs: FileSystem, file: string, encoding: BytesEncoding): Promise<LogDump> {
  return dumpLog(fs, file, MANIFEST_MAGIC, encoding);
}

async function dumpLog(fs: FileSystem, file: string, magic: string, encoding: BytesEncoding): Promise<LogDump> {
  const fileNumber = parseFileName(path.basename(file))?.fileNumber;
  const { sizeBytes, records } = await readLogRecords(fs, file, { magic, fileNumber });
  return { file, sizeBytes, records: records.map((record) => dumpRecord(record, encoding)), badCount: records.filter((record) => record.kind === 'bad').length };
}

function dumpRecord(record: LogRecord, encoding: BytesEncoding): DumpedRecord {
  switch (record.kind) {
    case 'header':
      return { offset: record.offset, kind: 'header', magic: record.magic, formatVersion: record.formatVersion, fileNumber: record.fileNumber };
    case 'write-group':
      return { offset: record.offset, kind: 'write-group', ...dumpGroup(record.group, encoding) };
    case 'version-edit':
      return { offset: record.offset, kind: 'version-edit', ...dumpEdit(record.edit, encoding) };
    case 'edit-commit':
      return { offset: record.offset, kind: 'edit-commit', editOffset: record.editOffset };
    case 'bad':
      return { offset: record.offset, kind: 'bad', reason: record.reason };
  }
}

function dumpGroup(group: WriteGroup, encoding: BytesEncoding): Record<string, unknown> {
  const ops = group.ops.map((op, index) => {
    return { seq: group.firstSeq + index, type: entryTypeName(op.type), key: showBytes(op.key, encoding), ...showValue(op.type, op.value, encoding) };
  });
  return { firstSeq: group.firstSeq, durableOffset: group.durableOffset, ops };
}

function dumpEdit(edit: VersionEdit, encoding: BytesEncoding): Record<string, unknown> {
  const file = (meta: FileMeta): Record<string, unknown> => ({
    level: meta.level,
    fileNumber: meta.fileNumber,
    sizeBytes: meta.sizeBytes,
    smallestSeq: meta.smallestSeq,
    largestSeq: meta.largestSeq,
    smallest: showInternalKey(meta.smallest, encoding),
    largest: showInternalKey(meta.largest, encoding),
    // The MANIFEST's fileExpiry field, for a table with expiring entries.
    ...(meta.expiryMinMs === undefined ? {} : { expiryMinMs: meta.expiryMinMs }),
  });
  const shown: Record<string, unknown> = {};
  if (edit.logNumber !== undefined) shown['logNumber'] = edit.logNumber;
  if (edit.nextFileNumber !== undefined) shown['nextFileNumber'] = edit.nextFileNumber;
  if (edit.lastSequence !== undefined) shown['lastSequence'] = edit.lastSequence;
  if (edit.compactPointers.length > 0) shown['compactPointers'] = edit.compactPointers.map((pointer) => ({ level: pointer.level, key: showInternalKey(pointer.key, encoding) }));
  if (edit.deletedFiles.length > 0) shown['deletedFiles'] = edit.deletedFiles;
  if (edit.newFiles.length > 0) shown['newFiles'] = edit.newFiles.map(file);
  return shown;
}

/** The dump as text: a line for the file, then each record (a line, and a line per op or file). */
export function formatLogDump(dump: LogDump): string[] {
  const lines = [`${dump.file}: ${dump.sizeBytes} bytes, ${dump.records.length} records, ${dump.badCount} damaged`];
  for (const record of dump.records) lines.push(...recordLines(record));
  return lines;
}

function recordLines(record: DumpedRecord): string[] {
  const at = `@${record.offset}`;
  switch (record.kind) {
    case 'header':
      return [`${at} header: magic ${String(record['magic'])}, format version ${String(record['formatVersion'])}, file number ${String(record['fileNumber'])}`];
    case 'write-group': {
      const ops = record['ops'] as Record<string, unknown>[];
      const head = `${at} write group: first seq ${String(record['firstSeq'])}, durable offset ${String(record['durableOffset'])}, ${ops.length} ops`;
      return [head, ...ops.map((op) => `  #${String(op['seq'])} ${String(op['type'])} ${String(op['key'])}${valueText(op as ShownValue)}`)];
    }
    case 'version-edit': {
      const fields = ['logNumber', 'nextFileNumber', 'lastSequence'].filter((name) => name in record).map((name) => `${name} ${String(record[name])}`);
      const lines = [`${at} version edit${fields.length > 0 ? `: ${fields.join(', ')}` : ''}`];
      for (const pointer of (record['compactPointers'] as { level: number; key: ShownKey }[] | undefined) ?? []) lines.push(`  compact pointer L${pointer.level} ${internalKeyText(pointer.key)}`);
      for (const deleted of (record['deletedFiles'] as { level: number; fileNumber: number }[] | undefined) ?? []) lines.push(`  delete L${deleted.level} table ${deleted.fileNumber}`);
      for (const meta of (record['newFiles'] as Record<string, unknown>[] | undefined) ?? []) {
        lines.push(
          `  add L${String(meta['level'])} table ${String(meta['fileNumber'])}: ${String(meta['sizeBytes'])} bytes, seq ${String(meta['smallestSeq'])}..${String(meta['largestSeq'])}, ` +
            `${internalKeyText(meta['smallest'] as ShownKey)} .. ${internalKeyText(meta['largest'] as ShownKey)}` +
            (meta['expiryMinMs'] === undefined ? '' : `, earliest expiry ${String(meta['expiryMinMs'])}`),
        );
      }
      return lines;
    }
    case 'edit-commit':
      return [`${at} commit of the edit at ${String(record['editOffset'])}`];
    default:
      return [`${at} DAMAGED: ${String(record['reason'])}`];
  }
}
