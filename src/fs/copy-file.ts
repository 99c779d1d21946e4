/**
 * Copying a file through the file-system seam, in bounded chunks, with its CRC-32
 * computed on the way: what checkpoints (where a hard link is not possible),
 * backups and restores use (docs/internals.md, "Checkpoints and backups").
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { ShaleError } from '../errors.js';
import { crc32 } from '../util/crc32.js';
import type { FileSystem } from './file-system.js';

/** Bytes read and appended per step: large enough to stream, small enough to bound memory. */
export const COPY_CHUNK_BYTES = 1024 * 1024;

/** What a copy or a checksum pass saw. */
export interface FileDigest {
  sizeBytes: number;
  /** CRC-32 (IEEE, as `node:zlib`) of the whole file. */
  crc32: number;
}

/**
 * Copies `from` to the new file `to` (which must not exist), syncs it and closes
 * it. The caller syncs `to`'s directory. Returns the size and CRC-32 of what was
 * copied. `check`, if given, sees the digest before the copy is synced and may
 * throw (a restore refusing a file whose checksum does not match); the partial
 * file is then removed.
 */
export async function copyFile(fs: FileSystem, from: string, to: string, check?: (digest: FileDigest) => void): Promise<FileDigest> {
  const source = await fs.openRead(from);
  try {
    const target = await fs.create(to);
    let digest: FileDigest;
    try {
      digest = { sizeBytes: 0, crc32: 0 };
      while (digest.sizeBytes < source.size) {
        const chunk = source.read(digest.sizeBytes, Math.min(COPY_CHUNK_BYTES, source.size - digest.sizeBytes));
        if (chunk.length === 0) break;
        const written = await target.append(chunk);
        if (written !== chunk.length) throw new ShaleError('IO_ERROR', `short write to ${to}`);
        digest.crc32 = crc32(chunk, digest.crc32);
        digest.sizeBytes += chunk.length;
      }
      check?.(digest);
      await target.sync();
    } catch (err) {
      await target.close().catch(() => undefined);
      await fs.remove(to).catch(() => undefined);
      throw err;
    }
    await target.close();
    return digest;
  } finally {
    await source.close();
  }
}

/** The size and CRC-32 of `file`, read in chunks. */
export async function digestFile(fs: FileSystem, file: string): Promise<FileDigest> {
  const source = await fs.openRead(file);
  try {
    const digest: FileDigest = { sizeBytes: 0, crc32: 0 };
    while (digest.sizeBytes < source.size) {
      const chunk = source.read(digest.sizeBytes, Math.min(COPY_CHUNK_BYTES, source.size - digest.sizeBytes));
      if (chunk.length === 0) break;
      digest.crc32 = crc32(chunk, digest.crc32);
      digest.sizeBytes += chunk.length;
      // Reads are synchronous: give the event loop a turn between chunks.
      await nextTurn();
    }
    return digest;
  } finally {
    await source.close();
  }
}
