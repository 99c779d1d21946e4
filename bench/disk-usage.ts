/**
 * Disk usage of a database directory, as `du` counts it (allocated blocks), and
 * its apparent size (the sum of file lengths). They differ for sparse files
 * (lmdb's map) and for file systems that allocate in large units.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface DiskUsage {
  /** Allocated bytes: st_blocks × 512, summed. */
  allocatedBytes: number;
  /** Sum of file sizes. */
  apparentBytes: number;
  fileCount: number;
}

export function diskUsage(directory: string): DiskUsage {
  const usage: DiskUsage = { allocatedBytes: 0, apparentBytes: 0, fileCount: 0 };
  const visit = (dir: string): void => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        visit(full);
        continue;
      }
      const stat = fs.lstatSync(full);
      usage.allocatedBytes += stat.blocks * 512;
      usage.apparentBytes += stat.size;
      usage.fileCount++;
    }
  };
  if (fs.existsSync(directory)) visit(directory);
  return usage;
}
