/**
 * Appends logical records to a log file with the framing of `log-format.ts`
 * (docs/format.md, "Log framing"). One record becomes one `append` call, so a
 * whole write group reaches the OS in one write.
 */
import assert from 'node:assert/strict';
import { ShaleError, ioError } from '../errors.js';
import type { FileSystem, WritableFile } from '../fs/file-system.js';
import { writeUint64 } from '../util/coding.js';
import {
  CHUNK_HEADER_BYTES,
  ChunkType,
  LOG_BLOCK_BYTES,
  LOG_FORMAT_VERSION,
  RecordKind,
  chunkCrc,
  maskCrc,
} from './log-format.js';

/** The framed size of a payload of `payloadBytes` written at `blockOffset` within a block. */
export function framedSize(payloadBytes: number, blockOffset: number): number {
  let size = 0;
  let offset = blockOffset;
  let left = payloadBytes;
  do {
    const leftover = LOG_BLOCK_BYTES - offset;
    if (leftover < CHUNK_HEADER_BYTES) {
      size += leftover;
      offset = 0;
    }
    const fragment = Math.min(left, LOG_BLOCK_BYTES - offset - CHUNK_HEADER_BYTES);
    size += CHUNK_HEADER_BYTES + fragment;
    offset += CHUNK_HEADER_BYTES + fragment;
    left -= fragment;
  } while (left > 0);
  return size;
}

/** Frames `payload` as chunks starting at `blockOffset`; returns the bytes to append. */
export function frameRecord(payload: Uint8Array, blockOffset: number): Buffer {
  const out = Buffer.alloc(framedSize(payload.length, blockOffset));
  let position = 0;
  let offset = blockOffset;
  let consumed = 0;
  let first = true;
  do {
    const leftover = LOG_BLOCK_BYTES - offset;
    if (leftover < CHUNK_HEADER_BYTES) {
      position += leftover; // zero padding: Buffer.alloc zero-filled it
      offset = 0;
    }
    const fragment = Math.min(payload.length - consumed, LOG_BLOCK_BYTES - offset - CHUNK_HEADER_BYTES);
    const last = consumed + fragment === payload.length;
    const type = first && last ? ChunkType.FULL : first ? ChunkType.FIRST : last ? ChunkType.LAST : ChunkType.MIDDLE;
    out.writeUInt32LE(maskCrc(chunkCrc(type, payload, consumed, consumed + fragment)), position);
    out.writeUInt16LE(fragment, position + 4);
    out[position + 6] = type;
    out.set(payload.subarray(consumed, consumed + fragment), position + CHUNK_HEADER_BYTES);
    position += CHUNK_HEADER_BYTES + fragment;
    offset += CHUNK_HEADER_BYTES + fragment;
    consumed += fragment;
    first = false;
  } while (consumed < payload.length);
  assert.equal(position, out.length);
  return out;
}

/** The bytes a log holding exactly `payloads` as records (no header added) consists of: for tests and fuzzing. */
export function frameLog(payloads: readonly Uint8Array[]): Buffer {
  const parts: Buffer[] = [];
  let size = 0;
  for (const payload of payloads) {
    const framed = frameRecord(payload, size % LOG_BLOCK_BYTES);
    parts.push(framed);
    size += framed.length;
  }
  return Buffer.concat(parts);
}

/** Encodes the header record payload: kind, 4-byte magic, version u16le, file number u64le. */
export function encodeFileHeader(magic: string, fileNumber: number): Buffer {
  assert.equal(Buffer.byteLength(magic, 'latin1'), 4);
  const out = Buffer.alloc(1 + 4 + 2 + 8);
  out[0] = RecordKind.FILE_HEADER;
  out.write(magic, 1, 'latin1');
  out.writeUInt16LE(LOG_FORMAT_VERSION, 5);
  writeUint64(out, fileNumber, 7);
  return out;
}

/**
 * A log being appended to. Not safe for concurrent `addRecord` calls: the caller
 * (the single writer of the write queue, or the MANIFEST installer) serialises them.
 */
export class LogWriter {
  readonly file: WritableFile;
  readonly path: string;
  #syncedSize: number;
  #busy = false;

  /** Wraps `file`, whose first `syncedSize` bytes are known durable. */
  constructor(file: WritableFile, path: string, syncedSize: number) {
    this.file = file;
    this.path = path;
    this.#syncedSize = syncedSize;
  }

  /** Bytes appended so far (synced or not). */
  get size(): number {
    return this.file.size;
  }

  /** Bytes known durable: the size at the last completed `sync()`. */
  get syncedSize(): number {
    return this.#syncedSize;
  }

  /** Appends one logical record. A short write throws `IO_ERROR`. */
  async addRecord(payload: Uint8Array): Promise<void> {
    assert(!this.#busy, 'LogWriter.addRecord called concurrently');
    this.#busy = true;
    try {
      const framed = frameRecord(payload, this.file.size % LOG_BLOCK_BYTES);
      let written: number;
      try {
        written = await this.file.append(framed);
      } catch (err) {
        throw ioError(`write to ${this.path} failed`, err);
      }
      if (written !== framed.length) {
        throw new ShaleError('IO_ERROR', `short write to ${this.path}: ${written} of ${framed.length} bytes`);
      }
    } finally {
      this.#busy = false;
    }
  }

  /** Makes every appended byte durable (fdatasync). A failure is `IO_ERROR` and must not be retried. */
  async sync(): Promise<void> {
    const size = this.file.size;
    try {
      await this.file.sync();
    } catch (err) {
      throw ioError(`sync of ${this.path} failed`, err);
    }
    this.#syncedSize = size;
  }

  /**
   * Creates a new log file at `path` and appends its header record (`magic`,
   * `fileNumber`), unsynced: the caller appends more or syncs. On failure the
   * file is closed and the error is `IO_ERROR`.
   */
  static async create(fs: FileSystem, path: string, magic: string, fileNumber: number): Promise<LogWriter> {
    let log: LogWriter;
    try {
      log = new LogWriter(await fs.create(path), path, 0);
    } catch (err) {
      throw ioError(`creating ${path}`, err);
    }
    try {
      await log.addRecord(encodeFileHeader(magic, fileNumber));
    } catch (err) {
      await log.close().catch(() => undefined);
      throw err;
    }
    return log;
  }

  async close(): Promise<void> {
    try {
      await this.file.close();
    } catch (err) {
      throw ioError(`close of ${this.path} failed`, err);
    }
  }
}
