/** Shared test helpers: temporary directories and seeds. */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ShaleError } from '../src/errors.js';

const made: string[] = [];
function removeMade(): void {
  for (const dir of made.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
}
// node --test runs each file in a process of its own and calls `after` at its end.
// Bun runs every file in one process and binds a top-level hook to the first file
// that imports this module, so later files' directories would stay behind (about
// 220 MB a run): the exit handler removes whatever is left, on every runtime.
after(removeMade);
process.on('exit', removeMade);

/** A fresh empty directory, removed when the test file finishes. */
export function tempDir(prefix = 'shale-test-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  made.push(dir);
  return dir;
}

/** The project's root: the folder holding package.json (tests run from dist/test/). */
const projectRoot = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Writes `source` as an ES module script that a child process (`process.execPath
 * script`) can run, and returns its path. It lives inside the project (under
 * dist/), not in the system's temporary folder: Deno resolves the bare imports of
 * shale's modules (`crc-32`, `abstract-level`) only for a script inside a folder
 * with a package.json. Removed when the test file finishes.
 */
export function scriptFile(source: string, name = 'script.mjs'): string {
  const scripts = path.join(projectRoot, 'dist', 'tmp-scripts');
  fs.mkdirSync(scripts, { recursive: true });
  const dir = fs.mkdtempSync(path.join(scripts, 'run-'));
  made.push(dir);
  const file = path.join(dir, name);
  fs.writeFileSync(file, source);
  return file;
}

/** Copies a database directory (for trying many damages of one state). */
export function copyDir(from: string): string {
  const to = tempDir('shale-copy-');
  for (const name of fs.readdirSync(from)) {
    if (name !== 'LOCK') fs.copyFileSync(path.join(from, name), path.join(to, name));
  }
  return to;
}

/** The names of a directory's files matching `pattern`, sorted. */
export function filesMatching(dir: string, pattern: RegExp): string[] {
  return fs.readdirSync(dir).filter((name) => pattern.test(name)).sort();
}

/** A seed from `SEED` (decimal or 0x hex) or a random one; printed so a failure can be replayed. */
export function testSeed(name: string): number {
  const fromEnv = process.env['SEED'];
  const seed = fromEnv !== undefined ? Number(fromEnv) >>> 0 : (Math.random() * 0x1_0000_0000) >>> 0;
  console.log(`# ${name}: seed ${seed} (replay with SEED=${seed})`);
  return seed;
}

/** mulberry32: a tiny seeded PRNG for tests that must not depend on the code under test. */
export class SeededRandom {
  #state: number;

  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 0x1_0000_0000;
  }

  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  /** `length` random bytes. */
  bytes(length: number): Buffer {
    const out = Buffer.allocUnsafe(length);
    for (let i = 0; i < length; i++) out[i] = Math.floor(this.next() * 256);
    return out;
  }
}

/** A function returning floats in [0, 1) from `seed` (a `SeededRandom`'s `next`). */
export function seededRandom(seed: number): () => number {
  const random = new SeededRandom(seed);
  return () => random.next();
}

/** An `assert.throws`/`rejects` check: a `ShaleError` with `code` (the message names what it got otherwise). */
export function isCode(code: string) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof ShaleError, `expected a ShaleError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return true;
  };
}
