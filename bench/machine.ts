/**
 * The machine and software a run measured: OS, CPUs, memory, Node, and the
 * version of each engine package (read from its own package.json), plus shale's
 * git commit when the checkout has one.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface Machine {
  os: string;
  kernel: string;
  arch: string;
  cpuModel: string;
  cpuCount: number;
  memoryBytes: number;
  node: string;
  v8: string;
  /** Package versions: shale's from the project, the others from node_modules. */
  versions: Record<string, string>;
  shaleCommit: string | undefined;
  loadAverage: number[];
}

const here = path.dirname(fileURLToPath(import.meta.url));
/** The project root: dist/bench/ → ../.. */
const projectRoot = path.resolve(here, '..', '..');

function readPackageJson(file: string): { name?: string; version?: string } | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as { name?: string; version?: string };
  } catch {
    return undefined;
  }
}

/** Finds `name`'s package.json by resolving its entry point and walking up (its `exports` may hide package.json). */
export function packageVersion(name: string): string {
  const require = createRequire(path.join(projectRoot, 'package.json'));
  let dir: string;
  try {
    dir = path.dirname(require.resolve(name));
  } catch {
    return 'not installed';
  }
  for (;;) {
    const manifest = readPackageJson(path.join(dir, 'package.json'));
    if (manifest?.name === name && manifest.version !== undefined) return manifest.version;
    const parent = path.dirname(dir);
    if (parent === dir) return 'unknown';
    dir = parent;
  }
}

function gitCommit(): string | undefined {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: projectRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

export function describeMachine(packageNames: readonly string[]): Machine {
  const cpus = os.cpus();
  const versions: Record<string, string> = {};
  for (const name of packageNames) {
    versions[name] = name === 'shale' ? (readPackageJson(path.join(projectRoot, 'package.json'))?.version ?? 'unknown') : packageVersion(name);
  }
  return {
    os: `${os.type()} ${os.release()}`,
    kernel: os.version(),
    arch: os.arch(),
    cpuModel: cpus[0]?.model ?? 'unknown',
    cpuCount: cpus.length,
    memoryBytes: os.totalmem(),
    node: process.version,
    v8: process.versions.v8,
    versions,
    shaleCommit: gitCommit(),
    loadAverage: os.loadavg(),
  };
}
