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
/**
 * 1,024: a scan of a compacted database hands out about 600,000 entries a second,
 * so 4,096 held the loop about 7 ms at a time (event-loop delay p99 22.6 ms in
 * readseq); a turn costs a `setImmediate`, under 1% of 1,024 entries.
 */
export const ENTRIES_BETWEEN_TURNS = 1024;

export class LoopTurns {
  readonly #limit: number;
  #count = 0;
  /** The turn reads are waiting for, from the moment one is due until it comes. */
  #pending: Promise<void> | undefined;

  /** A counter that is due every `limit` units of work. */
  constructor(limit: number) {
    this.#limit = limit;
  }

  /** Counts `units` of work done. */
  add(units: number): void {
    this.#count += units;
  }

  /**
   * Counts one unit; whether the next read must first wait for a turn of the event
   * loop (`wait()`): one is due by the count (which then resets), or one is
   * already being waited for.
   */
  due(): boolean {
    if (this.#pending !== undefined) return true;
    if (++this.#count < this.#limit) return false;
    this.#count = 0;
    return true;
  }

  /**
   * The turn every read found `due` waits for: one `setImmediate`, shared. Sharing
   * it is what makes the turn happen with many reads in flight: if only the read
   * that came due waited, the others would go on resolving through microtasks and
   * the loop would turn only once all of them happened to wait at once (64 gets
   * in flight held it for up to 4.5 s).
   */
  wait(): Promise<void> {
    this.#pending ??= nextTurn().then(() => {
      this.#pending = undefined;
    });
    return this.#pending;
  }

  /** A promise that resolves on the next turn of the event loop. */
  static next(): Promise<void> {
    return nextTurn();
  }
}
