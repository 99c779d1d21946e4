/**
 * Keeping the event loop turning under a stream of reads that never wait for I/O.
 *
 * A get that finds its block in the cache, or an iterator served from its batch,
 * resolves through microtasks alone; a caller looping on them would hold the
 * event loop for the whole loop: timers, I/O callbacks and the finalizers that
 * free native buffers (snappy's output) would not run until it ends. So every
 * `READS_BETWEEN_TURNS` gets (or `ENTRIES_BETWEEN_TURNS` iterator entries), one
 * read first waits for a turn of the event loop.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';

export const READS_BETWEEN_TURNS = 256;
export const ENTRIES_BETWEEN_TURNS = 4096;

export class LoopTurns {
  readonly #limit: number;
  #count = 0;

  /** A counter that is due every `limit` units of work. */
  constructor(limit: number) {
    this.#limit = limit;
  }

  /** Counts `units` of work done. */
  add(units: number): void {
    this.#count += units;
  }

  /** Counts one unit; whether a turn of the event loop is due before the next read. Resets when due. */
  due(): boolean {
    if (++this.#count < this.#limit) return false;
    this.#count = 0;
    return true;
  }

  /** A promise that resolves on the next turn of the event loop. */
  static next(): Promise<void> {
    return nextTurn();
  }
}
