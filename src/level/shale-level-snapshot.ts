/**
 * Explicit snapshots (`db.snapshot()`): an abstract-level snapshot token holding a
 * shale `Snapshot`. abstract-level counts the reads using it and calls `_close()`
 * once, after the last of them; that releases the shale snapshot.
 */
import { AbstractSnapshot } from 'abstract-level';
import type { Snapshot } from '../db/snapshot.js';
import { snapshotNotOpenError } from './errors.js';

/**
 * abstract-level 3.1.1's type declarations give `AbstractSnapshot` no constructor
 * parameters, while the class takes `{ owner }` (the database that closes the
 * snapshot on its own close). This is the constructor as it really is.
 */
const SnapshotBase = AbstractSnapshot as unknown as new (options: SnapshotOptions) => AbstractSnapshot;

/** What abstract-level's `db.snapshot()` passes to `_snapshot()`. */
export interface SnapshotOptions {
  /** The database (or sublevel) that closes this snapshot when it closes. */
  readonly owner: object;
}

export class ShaleLevelSnapshot extends SnapshotBase {
  readonly #snapshot: Snapshot;

  /** @internal Created by `ShaleLevel._snapshot()`; the shale snapshot is taken synchronously before. */
  constructor(options: SnapshotOptions, snapshot: Snapshot) {
    super(options);
    this.#snapshot = snapshot;
  }

  /**
   * @internal The shale snapshot, for reads. Throws `LEVEL_SNAPSHOT_NOT_OPEN` once
   * it is released (abstract-level's own `ref()` catches most such reads first;
   * this catches iterators, which are created before they ref the snapshot).
   */
  get shaleSnapshot(): Snapshot {
    if (this.#snapshot.released) throw snapshotNotOpenError();
    return this.#snapshot;
  }

  /** Releases the shale snapshot. abstract-level calls this once, when no read uses the snapshot. */
  async _close(): Promise<void> {
    this.#snapshot.release();
  }
}
