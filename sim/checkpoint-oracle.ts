/**
 * The oracle for a checkpoint's target directory after a crash (src/db/checkpoint.ts):
 * either it does not open as a database (absent, empty, or tables without
 * CURRENT), or it opens as a complete database equal to the state after some
 * prefix of the writes that holds every write acknowledged before the checkpoint
 * was asked for, with `latestSequence` counting exactly that prefix.
 */
import { DB } from '../src/db/db.js';
import type { Options } from '../src/options.js';
import type { CrashableFS } from '../src/testing/crashable-fs.js';
import { Violation, checkRecovered, type CrashMark, type History } from './oracle.js';

/**
 * Checks the checkpoint at `target` in `fs`. `atCall` is the history's mark when
 * `checkpoint()` was called; `issued` the writes issued by the crash.
 */
export async function checkCheckpointTarget(
  fs: CrashableFS,
  target: string,
  history: History,
  atCall: CrashMark,
  issued: number,
  keys: readonly Buffer[],
  options: Options,
  where: string,
): Promise<'absent' | 'complete'> {
  const prefix = target.endsWith('/') ? target : `${target}/`;
  const hasCurrent = fs.listAll().includes(`${prefix}CURRENT`);
  let db: DB;
  try {
    db = await DB.open(target, { ...options, fs, createIfMissing: false, autoCompaction: false });
  } catch (err) {
    if (hasCurrent) throw new Violation(`${where}: the checkpoint has CURRENT but does not open: ${String(err)}`);
    return 'absent';
  }
  try {
    if (!hasCurrent) throw new Violation(`${where}: the checkpoint opened as a database without CURRENT`);
    // Every write acknowledged before the call must be there, sync or not: the checkpoint flushed them.
    await checkRecovered(db, history, { issued, acked: atCall.acked, syncPrefix: atCall.acked }, keys, `${where}: checkpoint`);
  } finally {
    await db.close();
  }
  return 'complete';
}
