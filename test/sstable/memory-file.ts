/**
 * In-memory files for the table tests: a `WritableFile` that collects appends
 * (and can be told to fail or write short) and a `RandomAccessFile` over a buffer.
 * The shared fault-injecting file system lives elsewhere; these keep the sstable
 * tests independent of it.
 */
import type { RandomAccessFile, WritableFile } from '../../src/fs/file-system.js';

/** A writable file in memory. Appends resolve on a later tick, like real I/O. */
export class MemoryWritableFile implements WritableFile {
  #chunks: Buffer[] = [];
  #size = 0;
  /** How many `append()` calls were made. */
  appendCount = 0;
  /** When set, the next append rejects with this error. */
  failNextAppend: Error | undefined;
  /** When set, appends write only this many bytes. */
  shortWriteBytes: number | undefined;

  get size(): number {
    return this.#size;
  }

  async append(data: Uint8Array): Promise<number> {
    this.appendCount++;
    await new Promise((resolve) => setImmediate(resolve));
    if (this.failNextAppend !== undefined) {
      const error = this.failNextAppend;
      this.failNextAppend = undefined;
      throw error;
    }
    const count = Math.min(data.length, this.shortWriteBytes ?? data.length);
    this.#chunks.push(Buffer.from(data.subarray(0, count)));
    this.#size += count;
    return count;
  }

  async sync(): Promise<void> {}

  async truncate(size: number): Promise<void> {
    const all = this.contents().subarray(0, size);
    this.#chunks = [Buffer.from(all)];
    this.#size = size;
  }

  async close(): Promise<void> {}

  /** Everything appended so far. */
  contents(): Buffer {
    return Buffer.concat(this.#chunks);
  }
}

/** A read-only file over `bytes`. Counts reads so tests can see the block cache at work. */
export class MemoryRandomAccessFile implements RandomAccessFile {
  readonly #bytes: Buffer;
  readCount = 0;

  constructor(bytes: Buffer) {
    this.#bytes = bytes;
  }

  get size(): number {
    return this.#bytes.length;
  }

  read(position: number, length: number): Buffer {
    this.readCount++;
    return Buffer.from(this.#bytes.subarray(position, Math.min(this.#bytes.length, position + length)));
  }

  async close(): Promise<void> {}
}
