/**
 * The database's time (docs/internals.md, "TTL"): milliseconds since the epoch
 * from the `clock` option, made monotone. `now()` is the largest time the clock
 * has ever given this open database, so an entry once expired stays expired
 * even if the clock moves backwards. Nothing is persisted: after a reopen, time
 * starts again from the clock (see docs/internals.md for what that means).
 */
import { ShaleError } from '../errors.js';

export class DbClock {
  readonly #clock: () => number;
  #nowMs = 0;

  constructor(clock: () => number) {
    this.#clock = clock;
  }

  /**
   * The database's current time, ≥ every time it returned before. A clock that
   * returns something other than a finite number ≥ 0 is `INVALID_ARGUMENT`: time
   * that cannot be trusted must not decide what is visible.
   */
  now(): number {
    const read = this.#clock();
    if (typeof read !== 'number' || !Number.isFinite(read) || read < 0) {
      throw new ShaleError('INVALID_ARGUMENT', `the clock option returned ${String(read)}; it must return milliseconds since the epoch`);
    }
    const ms = Math.floor(read);
    if (ms > this.#nowMs) this.#nowMs = ms;
    return this.#nowMs;
  }

  /**
   * `now()` for background work (compaction picking and merging), which has no
   * caller to reject: a clock that fails or returns garbage leaves the time where
   * it was, so nothing new expires until it recovers (the reads and writes that
   * meet it are rejected).
   */
  nowOrLast(): number {
    try {
      return this.now();
    } catch {
      return this.#nowMs;
    }
  }
}
