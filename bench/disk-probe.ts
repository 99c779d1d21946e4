/**
 * The disk probe run before the workloads: what the device under the benchmark
 * directory can do, so the sync workloads can be read against physical limits.
 *
 * - fdatasync latency: append 4 KiB, fdatasync, ~200 times; the median. Timed with
 *   synchronous calls (the device, not the event loop), and once more through
 *   awaited fs.promises calls (what a Node engine pays on top).
 * - sequential bandwidth: 256 MiB in 1 MiB writes, then one fsync; bytes / total time.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

const SYNC_SAMPLES = 200;
/** Untimed appends first, so the file's first allocations are not in the figures. */
const SYNC_WARMUP = 20;
const SYNC_APPEND_BYTES = 4096;
const SEQUENTIAL_BYTES = 256 * 1024 * 1024;
const SEQUENTIAL_CHUNK_BYTES = 1024 * 1024;

export interface DiskProbe {
  directory: string;
  /** The file system type and device holding the directory, from /proc/mounts. */
  mount: { device: string; mountPoint: string; type: string } | undefined;
  fdatasyncSamples: number;
  /** Median of 4 KiB append + fdatasync, synchronous calls. */
  fdatasyncMedianMs: number;
  fdatasyncP99Ms: number;
  /** Median of the same through awaited fs.promises calls. */
  fdatasyncAsyncMedianMs: number;
  sequentialBytes: number;
  sequentialWriteBytesPerSec: number;
  /** One durable write at a time cannot beat one fdatasync each. */
  fillsyncLimitOpsPerSec: number;
  /** With `inFlight` writers sharing each fdatasync (perfect group commit). */
  fillsyncConcurrentLimitOpsPerSec: number;
  inFlight: number;
}

function quantile(sortedMs: number[], fraction: number): number {
  return sortedMs[Math.min(sortedMs.length - 1, Math.floor(fraction * sortedMs.length))]!;
}

function syncLatenciesMs(file: string): number[] {
  const fd = fs.openSync(file, 'w');
  const block = Buffer.alloc(SYNC_APPEND_BYTES, 0x61);
  const samples: number[] = [];
  try {
    for (let index = 0; index < SYNC_WARMUP + SYNC_SAMPLES; index++) {
      const started = process.hrtime.bigint();
      fs.writeSync(fd, block);
      fs.fdatasyncSync(fd);
      if (index >= SYNC_WARMUP) samples.push(Number(process.hrtime.bigint() - started) / 1e6);
    }
  } finally {
    fs.closeSync(fd);
  }
  return samples.sort((a, b) => a - b);
}

async function asyncSyncLatenciesMs(file: string): Promise<number[]> {
  const handle = await fs.promises.open(file, 'w');
  const block = Buffer.alloc(SYNC_APPEND_BYTES, 0x62);
  const samples: number[] = [];
  try {
    for (let index = 0; index < SYNC_WARMUP + SYNC_SAMPLES; index++) {
      const started = process.hrtime.bigint();
      await handle.write(block);
      await handle.datasync();
      if (index >= SYNC_WARMUP) samples.push(Number(process.hrtime.bigint() - started) / 1e6);
    }
  } finally {
    await handle.close();
  }
  return samples.sort((a, b) => a - b);
}

function sequentialBytesPerSec(file: string): number {
  const fd = fs.openSync(file, 'w');
  const chunk = Buffer.alloc(SEQUENTIAL_CHUNK_BYTES, 0x63);
  try {
    const started = process.hrtime.bigint();
    for (let written = 0; written < SEQUENTIAL_BYTES; written += chunk.length) fs.writeSync(fd, chunk);
    fs.fsyncSync(fd);
    return SEQUENTIAL_BYTES / (Number(process.hrtime.bigint() - started) / 1e9);
  } finally {
    fs.closeSync(fd);
  }
}

/** The mount holding `directory`: the longest mount point that prefixes it. */
export function mountOf(directory: string): DiskProbe['mount'] {
  let text: string;
  try {
    text = fs.readFileSync('/proc/mounts', 'utf8');
  } catch {
    return undefined;
  }
  const resolved = fs.realpathSync(directory);
  let best: DiskProbe['mount'];
  for (const line of text.split('\n')) {
    const [device, mountPoint, type] = line.split(' ');
    if (device === undefined || mountPoint === undefined || type === undefined) continue;
    const inside = resolved === mountPoint || resolved.startsWith(mountPoint.endsWith('/') ? mountPoint : `${mountPoint}/`);
    if (inside && (best === undefined || mountPoint.length >= best.mountPoint.length)) best = { device, mountPoint, type };
  }
  return best;
}

/** Probes the device under `directory` (files are made there and removed). */
export async function probeDisk(directory: string, inFlight: number): Promise<DiskProbe> {
  const file = path.join(directory, 'disk-probe.tmp');
  try {
    const sync = syncLatenciesMs(file);
    const asyncSamples = await asyncSyncLatenciesMs(file);
    const sequentialWriteBytesPerSec = sequentialBytesPerSec(file);
    const median = quantile(sync, 0.5);
    return {
      directory,
      mount: mountOf(directory),
      fdatasyncSamples: SYNC_SAMPLES,
      fdatasyncMedianMs: median,
      fdatasyncP99Ms: quantile(sync, 0.99),
      fdatasyncAsyncMedianMs: quantile(asyncSamples, 0.5),
      sequentialBytes: SEQUENTIAL_BYTES,
      sequentialWriteBytesPerSec,
      fillsyncLimitOpsPerSec: 1000 / median,
      fillsyncConcurrentLimitOpsPerSec: (1000 / median) * inFlight,
      inFlight,
    };
  } finally {
    fs.rmSync(file, { force: true });
  }
}
