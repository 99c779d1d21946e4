/**
 * Replays write-ahead logs on open, applying the WAL recovery mode
 * (docs/durability.md, "Recovery"). It decides, for each damaged place in a log,
 * whether it is a torn tail left by a crash (dropped, reported) or corruption
 * (a `CorruptionError` naming the file and offset).
 *
 * A torn tail is damage in the newest log past the durable offset that every
 * later intact record in that log claims: a crash can only damage bytes that were
 * never synced, and each write group records how much of its log was synced when
 * it was appended. Older logs were synced whole before the next log was created,
 * so damage there is always corruption. The records after damage are only those
 * the reader found where the writer could have put them (`log-reader.ts`), so a
 * key or value holding a framed write group cannot testify.
 */
import { CorruptionError } from '../errors.js';
import type { FileSystem } from '../fs/file-system.js';
import { filePath, logFileName } from '../filenames.js';
import type { WalRecoveryMode } from '../options.js';
import { checkFileHeader } from './log-file-header.js';
import { WAL_MAGIC } from './log-format.js';
import { readLogEvents, readWholeFile } from './log-reader.js';
import { decodeWriteGroup, peekDurableOffset, type WriteGroup } from './write-group.js';

/** What recovery found and dropped, exposed as `db.recoveryReport`. */
export interface RecoveryReport {
  /** Log files replayed, oldest first. */
  logsReplayed: number[];
  /** Write groups (WAL records) applied. */
  recordsReplayed: number;
  /** Operations (puts and deletes) applied. */
  writesReplayed: number;
  /** Bytes of log dropped past the point where recovery stopped (torn tail, or point-in-time). */
  droppedBytes: number;
  /** Intact records dropped because they followed damage (keeping recovery prefix-consistent). */
  droppedRecords: number;
  /** Where the replay stopped early, and why; undefined when every log was clean. */
  stoppedAt?: { file: string; offset: number; reason: string };
  /** Logs skipped whole because an earlier log stopped the replay (point-in-time only). */
  logsDropped: number[];
}

export interface ReplayResult {
  report: RecoveryReport;
  /** The last sequence number replayed, or 0 if none. */
  lastSequence: number;
}

interface LogScan {
  groups: { group: WriteGroup; offset: number }[];
  /** Byte offset where the intact prefix ends. */
  validEnd: number;
  damage?: { offset: number; reason: string };
  /** Intact records after the damage, and the largest durable offset they claim. */
  recordsAfterDamage: number;
  durableOffsetAfterDamage: number;
}

function scanLog(bytes: Buffer, file: string, fileNumber: number): LogScan {
  const scan: LogScan = { groups: [], validEnd: 0, recordsAfterDamage: 0, durableOffsetAfterDamage: 0 };
  let sawHeader = false;
  let formatVersion = 0;
  for (const event of readLogEvents(bytes)) {
    if (scan.damage) {
      if (event.kind === 'record') {
        scan.recordsAfterDamage++;
        // A writer cannot have synced bytes it had not yet written: a claim past the
        // record's own offset is not a record the writer framed, and proves nothing.
        const durable = peekDurableOffset(event.payload) ?? 0;
        if (durable <= event.offset) scan.durableOffsetAfterDamage = Math.max(scan.durableOffsetAfterDamage, durable);
      }
      continue;
    }
    if (event.kind === 'bad') {
      scan.damage = { offset: event.offset, reason: event.reason };
      continue;
    }
    if (!sawHeader) {
      formatVersion = checkFileHeader(event.payload, WAL_MAGIC, fileNumber, file);
      sawHeader = true;
    } else {
      scan.groups.push({ group: decodeWriteGroup(event.payload, file, event.offset, formatVersion), offset: event.offset });
    }
    scan.validEnd = event.end;
  }
  if (!scan.damage && bytes.length > scan.validEnd) {
    // Only block padding may follow the last record; anything the reader skipped is damage.
    scan.damage = { offset: scan.validEnd, reason: 'trailing bytes' };
  }
  return scan;
}

/**
 * Replays the logs numbered `logNumbers` (ascending) from `dir`, calling `apply`
 * for each write group in order. Throws `CorruptionError` as the mode requires.
 */
export async function replayLogs(
  fs: FileSystem,
  dir: string,
  logNumbers: readonly number[],
  mode: WalRecoveryMode,
  apply: (group: WriteGroup, fileNumber: number) => void,
): Promise<ReplayResult> {
  const report: RecoveryReport = {
    logsReplayed: [],
    recordsReplayed: 0,
    writesReplayed: 0,
    droppedBytes: 0,
    droppedRecords: 0,
    logsDropped: [],
  };
  let lastSequence = 0;
  for (let index = 0; index < logNumbers.length; index++) {
    const fileNumber = logNumbers[index]!;
    const file = filePath(dir, logFileName(fileNumber));
    const handle = await fs.openRead(file);
    let bytes: Buffer;
    try {
      bytes = readWholeFile(handle);
    } finally {
      await handle.close();
    }
    const scan = scanLog(bytes, file, fileNumber);
    const newest = index === logNumbers.length - 1;
    if (scan.damage) checkDamageAllowed(scan, mode, newest, file);
    for (const { group, offset } of scan.groups) {
      if (lastSequence !== 0 && group.firstSeq !== lastSequence + 1) {
        throw new CorruptionError(file, offset, `sequence ${group.firstSeq} does not follow ${lastSequence}`);
      }
      apply(group, fileNumber);
      lastSequence = group.firstSeq + group.ops.length - 1;
      report.recordsReplayed++;
      report.writesReplayed += group.ops.length;
    }
    report.logsReplayed.push(fileNumber);
    if (!scan.damage) continue;
    // The damage is a tolerated tail (or point-in-time's stopping place): drop it.
    report.droppedBytes += bytes.length - scan.validEnd;
    report.droppedRecords += scan.recordsAfterDamage;
    report.stoppedAt = { file, offset: scan.damage.offset, reason: scan.damage.reason };
    if (!newest) {
      report.logsDropped.push(...logNumbers.slice(index + 1));
      break;
    }
  }
  return { report, lastSequence };
}

function checkDamageAllowed(scan: LogScan, mode: WalRecoveryMode, newest: boolean, file: string): void {
  const damage = scan.damage!;
  if (mode === 'point-in-time') return;
  const corrupt = (why: string): never => {
    throw new CorruptionError(file, damage.offset, `${damage.reason} (${why})`);
  };
  if (mode === 'absolute') corrupt('absolute recovery mode tolerates no damage');
  if (!newest) corrupt('only the newest log may have a torn tail');
  if (scan.durableOffsetAfterDamage > damage.offset) {
    corrupt(`a later record shows the log was synced through offset ${scan.durableOffsetAfterDamage}`);
  }
}
