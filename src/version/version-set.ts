/**
 * The version set: the current version, the MANIFEST that records how it came to
 * be, and the bookkeeping that decides when a table file may be deleted
 * (docs/internals.md, "Versions").
 *
 * `logAndApply` is the only way the file set changes: the edit is appended to the
 * MANIFEST and synced, and only then does the new version become current. Edits
 * are applied one at a time in call order.
 *
 * A read-only database's version set has no MANIFEST writer: it never logs an
 * edit, and `adopt` replaces its state with one read from the writer's MANIFEST.
 */
import assert from '../util/assert.js';
import { ManifestWriter, applyEdit, type ManifestState } from './manifest.js';
import { Version } from './version.js';
import type { VersionEdit } from './version-edit.js';
import type { FileSystem } from '../fs/file-system.js';
import { filePath, manifestFileName } from '../filenames.js';

export interface VersionSetOptions {
  fs: FileSystem;
  dir: string;
  /** A MANIFEST larger than this is replaced by a new one holding a snapshot. */
  manifestSizeBytesMax: number;
  /** Called with table files no version holds any more; deletes them. */
  deleteTables: (fileNumbers: number[]) => void;
}

export class VersionSet {
  readonly #options: VersionSetOptions;
  readonly #state: ManifestState;
  /** Undefined for a read-only database. */
  #manifest: ManifestWriter | undefined;
  #current: Version;
  /** Versions still pinned by a reader, besides the current one. */
  readonly #pinned = new Set<Version>();
  /** Tables dropped from the current version that a pinned version may still read. */
  readonly #dropped = new Set<number>();
  #applying: Promise<void> = Promise.resolve();
  /**
   * The first failed MANIFEST write. A failed append may have left part of a
   * record behind; an intact edit appended after it would turn that torn tail
   * into corruption the next open refuses. So every later edit fails with it.
   */
  #error: unknown;

  constructor(options: VersionSetOptions, state: ManifestState, manifest: ManifestWriter | undefined) {
    this.#options = options;
    this.#state = state;
    this.#manifest = manifest;
    this.#current = this.#newVersion(levelsOf(state));
  }

  get current(): Version {
    return this.#current;
  }

  /** The MANIFEST's view of the database (log number, counters, files). Read-only for callers. */
  get state(): Readonly<ManifestState> {
    return this.#state;
  }

  /** The live MANIFEST's number; 0 for a read-only database, which writes none. */
  get manifestNumber(): number {
    return this.#manifest?.manifestNumber ?? 0;
  }

  /** Takes the next file number. It is made durable by the next edit (and by directory scans on open). */
  newFileNumber(): number {
    return this.#state.nextFileNumber++;
  }

  /**
   * Appends `edit` (with the current counters) to the MANIFEST, syncs it, and makes
   * the resulting version current. Edits queue behind each other.
   */
  logAndApply(edit: VersionEdit): Promise<void> {
    const run = this.#applying.then(() => this.#apply(edit));
    this.#applying = run.catch(() => undefined);
    return run;
  }

  async #apply(edit: VersionEdit): Promise<void> {
    if (this.#error !== undefined) throw this.#error;
    // Invariant: a read-only database never logs an edit (its write calls fail first).
    assert(this.#manifest !== undefined, 'logAndApply on a read-only version set');
    const after = this.#current.levelsAfter(edit);
    edit.nextFileNumber = this.#state.nextFileNumber;
    if (edit.lastSequence !== undefined) edit.lastSequence = Math.max(edit.lastSequence, this.#state.lastSequence);
    try {
      if (this.#manifest.sizeBytes > this.#options.manifestSizeBytesMax) await this.#rotateManifest(edit);
      else await this.#manifest.append(edit);
    } catch (err) {
      this.#error = err;
      throw err;
    }
    applyEdit(this.#state, edit);
    const previous = this.#current;
    this.#current = this.#newVersion(after);
    for (const deleted of edit.deletedFiles) this.#dropped.add(deleted.fileNumber);
    this.#retire(previous);
  }

  /** Writes a new MANIFEST holding the state after `edit` and switches CURRENT to it. */
  async #rotateManifest(edit: VersionEdit): Promise<void> {
    const { fs, dir } = this.#options;
    const manifestNumber = this.newFileNumber();
    const tempNumber = this.newFileNumber();
    edit.nextFileNumber = this.#state.nextFileNumber;
    const after: ManifestState = { ...this.#state, files: new Map(this.#state.files), compactPointers: new Map(this.#state.compactPointers) };
    applyEdit(after, edit);
    const next = await ManifestWriter.create(fs, dir, manifestNumber, tempNumber, after);
    const old = this.#manifest!;
    this.#manifest = next;
    await old.close().catch(() => undefined);
    await fs.remove(filePath(dir, manifestFileName(old.manifestNumber))).catch(() => undefined);
  }

  /**
   * Makes `state` (read from the writer's MANIFEST) the current version of a
   * read-only database, writing nothing. Tables the previous version held and
   * `state` lacks go to `deleteTables` once no pinned version holds them.
   */
  adopt(state: ManifestState): void {
    // Invariant: only a version set without a MANIFEST writer follows someone else's.
    assert(this.#manifest === undefined, 'adopt on a writable version set');
    const previous = this.#current;
    for (const file of previous.files()) if (!state.files.has(file.fileNumber)) this.#dropped.add(file.fileNumber);
    this.#state.logNumber = state.logNumber;
    this.#state.nextFileNumber = state.nextFileNumber;
    this.#state.lastSequence = state.lastSequence;
    this.#state.files = state.files;
    this.#state.compactPointers = state.compactPointers;
    this.#current = this.#newVersion(levelsOf(state));
    this.#retire(previous);
  }

  /** Pins the current version for a reader. Call `release` when done. */
  pin(): { version: Version; release: () => void } {
    const version = this.#current;
    version.ref();
    let released = false;
    return {
      version,
      release: () => {
        if (released) return;
        released = true;
        version.unref();
      },
    };
  }

  #newVersion(levels: ReturnType<Version['levelsAfter']>): Version {
    return new Version(levels, (unused) => this.#retire(unused));
  }

  /** Called when a version stops being current or loses its last pin. */
  #retire(version: Version): void {
    if (version === this.#current) return;
    if (version.refs > 0) {
      this.#pinned.add(version);
      return;
    }
    this.#pinned.delete(version);
    this.#collect();
  }

  /** Deletes dropped tables that no live version holds. */
  #collect(): void {
    if (this.#dropped.size === 0) return;
    const live = this.liveFiles();
    const deletable = [...this.#dropped].filter((fileNumber) => !live.has(fileNumber));
    for (const fileNumber of deletable) this.#dropped.delete(fileNumber);
    if (deletable.length > 0) this.#options.deleteTables(deletable);
  }

  /** Live table numbers (current and pinned versions): for tests and obsolete-file checks. */
  liveFiles(): Set<number> {
    const live = new Set<number>();
    for (const version of [this.#current, ...this.#pinned]) for (const file of version.files()) live.add(file.fileNumber);
    return live;
  }

  /** Waits for queued edits, then closes the MANIFEST. */
  async close(): Promise<void> {
    await this.#applying;
    await this.#manifest?.close();
  }
}

/** The tables of `state` by level, for a new `Version`. */
function levelsOf(state: ManifestState): ReturnType<Version['levelsAfter']> {
  const levels: ReturnType<Version['levelsAfter']> = [[]];
  for (const file of state.files.values()) {
    while (levels.length <= file.level) levels.push([]);
    levels[file.level]!.push(file);
  }
  return levels;
}
