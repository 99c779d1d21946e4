/**
 * Checkpoints in `shale crashtest`: the writer process takes `db.checkpoint`s now
 * and then into `<dir>-checkpoints/`, logging each start and end in its
 * acknowledgement log; after the kill the checker opens every checkpoint of the
 * cycle. One that finished must be complete; one the kill cut short must either
 * not open as a database or be complete. Complete means equal to the state after
 * a prefix of the issued writes holding every write acknowledged before the
 * checkpoint was asked for, with `latestSequence` counting that prefix.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DB } from '../db/db.js';
import type { Rng } from '../testing/rng.js';
import type { Intent } from './crashtest-workload.js';

/** The folder holding the checkpoints of the database in `dir`. */
export function checkpointsDir(dir: string): string {
  return `${dir}-checkpoints`;
}

/** A checkpoint as the acknowledgement log tells it: where, what was acknowledged before it began, whether it finished. */
export interface LoggedCheckpoint {
  target: string;
  ackedBefore: Set<number>;
  done: boolean;
}

/** The child's checkpoint loop: one every 10 to 300 ms, logged to `ackFd` before and after. */
export async function checkpointLoop(db: DB, dir: string, firstIntent: number, rng: Rng, ackFd: number): Promise<never> {
  for (let count = 0; ; count++) {
    await sleep(rng.range(10, 300));
    const target = path.join(checkpointsDir(dir), `${firstIntent}-${count}`);
    fs.writeSync(ackFd, `checkpoint-start ${target}\n`);
    await db.checkpoint(target);
    fs.writeSync(ackFd, `checkpoint-done ${target}\n`);
  }
}

/** Reads the checkpoint lines out of the acknowledgement log's whole lines (acks are plain numbers). */
export function loggedCheckpoints(lines: readonly string[]): LoggedCheckpoint[] {
  const acked = new Set<number>();
  const byTarget = new Map<string, LoggedCheckpoint>();
  for (const line of lines) {
    if (line.startsWith('checkpoint-start ')) {
      const target = line.slice('checkpoint-start '.length);
      byTarget.set(target, { target, ackedBefore: new Set(acked), done: false });
    } else if (line.startsWith('checkpoint-done ')) {
      const logged = byTarget.get(line.slice('checkpoint-done '.length));
      if (logged !== undefined) logged.done = true;
    } else if (/^\d+$/.test(line)) {
      acked.add(Number(line));
    }
  }
  return [...byTarget.values()];
}

/** What the checker needs to judge a checkpoint's content: the prefix matcher and the reader of the main check. */
export interface CheckpointJudge {
  readState(db: DB, violations: string[], where: string): Promise<Map<string, string>>;
  /** Sequences `latestSequence` may hold for `state` to be a prefix holding every intent of `acked`; empty if none. */
  prefixSequences(intents: Intent[], acked: Set<number>, state: Map<string, string>): bigint[];
}

/** Checks each checkpoint of a cycle, then removes it. Returns what it found complete. */
export async function checkCheckpoints(
  checkpoints: readonly LoggedCheckpoint[],
  intents: Intent[],
  judge: CheckpointJudge,
  violations: string[],
  cycle: number,
): Promise<number> {
  let complete = 0;
  for (const { target, ackedBefore, done } of checkpoints) {
    const where = `cycle ${cycle}: checkpoint ${target}${done ? '' : ' (cut short by the kill)'}`;
    const hasCurrent = fs.existsSync(path.join(target, 'CURRENT'));
    let db: DB | undefined;
    try {
      db = await DB.open(target, { createIfMissing: false });
    } catch (err) {
      if (hasCurrent || done) violations.push(`${where}: does not open: ${String(err)}`);
    }
    if (db !== undefined) {
      try {
        if (!hasCurrent) violations.push(`${where}: opened without CURRENT`);
        const state = await judge.readState(db, violations, where);
        const sequences = judge.prefixSequences(intents, ackedBefore, state);
        if (sequences.length === 0) violations.push(`${where}: no prefix of the writes holding every write acknowledged before it`);
        else if (!sequences.includes(db.latestSequence)) violations.push(`${where}: latestSequence ${db.latestSequence}, expected one of ${sequences.join(', ')}`);
        complete++;
      } finally {
        await db.close();
      }
    }
    fs.rmSync(target, { recursive: true, force: true });
  }
  return complete;
}
