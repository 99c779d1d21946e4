/**
 * The package as a user gets it: `npm pack`, then `npm install ./shale-*.tgz` in
 * an empty project (offline where the npm cache has the dependencies, as after
 * `npm ci`), then `import` and `require` of every entry point on this runtime,
 * type checks of a TypeScript user under `moduleResolution` nodenext and
 * bundler, and the `shale` command through npx.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { tempDir } from './helpers.js';

declare const Deno: unknown;

const root = fileURLToPath(new URL('../..', import.meta.url));
const packageJson = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string; license: string };
/** npm itself always runs on the machine's Node, whatever runtime runs this test. */
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const quiet = ['--no-audit', '--no-fund', '--loglevel=error'];

/** The argv that runs a script on this runtime (Deno needs `run -A` when started directly). */
function runtimeArgv(script: string): string[] {
  return typeof Deno !== 'undefined' ? ['run', '-A', script] : [script];
}

let project = '';
let tarball = '';
let packedFiles: string[] = [];

before(() => {
  const packDir = tempDir('shale-pack-');
  const [packed] = JSON.parse(execFileSync(npm, ['pack', '--json', '--pack-destination', packDir, ...quiet], { cwd: root, encoding: 'utf8' })) as {
    filename: string;
    files: { path: string }[];
  }[];
  assert.ok(packed);
  tarball = path.join(packDir, path.basename(packed.filename));
  packedFiles = packed.files.map((file) => file.path);
  project = tempDir('shale-user-');
  fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'user', version: '1.0.0', private: true, type: 'module' }));
  execFileSync(npm, ['install', '--prefer-offline', ...quiet, tarball], { cwd: project, encoding: 'utf8' });
});

/** Runs `source` as `name` in the user's project on this runtime; returns its stdout. */
function runInProject(name: string, source: string): string {
  const script = path.join(project, name);
  fs.writeFileSync(script, source);
  return execFileSync(process.execPath, runtimeArgv(script), { cwd: project, encoding: 'utf8' }).trim();
}

describe('the packed package', () => {
  it('holds the built code, types, LICENSE, README and docs; no source maps, sources or tests', () => {
    for (const file of ['package.json', 'LICENSE', 'README.md', 'docs/options.md', 'docs/durability.md', 'dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/require/index.cjs']) {
      assert.ok(packedFiles.includes(file), `${file} is packed`);
    }
    assert.deepEqual(packedFiles.filter((file) => file.endsWith('.map')), [], 'no source maps (their sources are not shipped)');
    assert.deepEqual(packedFiles.filter((file) => file.endsWith('.ts') && !file.endsWith('.d.ts')), [], 'no TypeScript sources');
    assert.deepEqual(packedFiles.filter((file) => file.startsWith('dist/test/') || file.startsWith('test/')), [], 'no tests');
    assert.match(fs.readFileSync(path.join(project, 'node_modules', 'shale', 'LICENSE'), 'utf8'), new RegExp(`^${packageJson.license} License`));
  });

  it('imports shale, shale/level and shale/testing, and works', () => {
    const output = runInProject(
      'esm.mjs',
      `import { DB } from 'shale';
import { ShaleLevel } from 'shale/level';
import { CrashableFS } from 'shale/testing';
import * as os from 'node:os';
import * as fs from 'node:fs';
import * as path from 'node:path';
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shale-user-db-'));
const db = await DB.open(path.join(dir, 'a'));
await db.put('k', 'v');
const got = String(await db.get('k'));
await db.close();
const level = new ShaleLevel(path.join(dir, 'b'));
await level.put('k', 'w');
const gotLevel = await level.get('k');
await level.close();
fs.rmSync(dir, { recursive: true, force: true });
console.log(got, gotLevel, typeof CrashableFS);`,
    );
    assert.equal(output, 'v w function');
  });

  const requireWorks = (process.features as { require_module?: boolean }).require_module ?? process.versions['bun'] !== undefined;
  it(`require()s the same three entry points${requireWorks ? '' : ' (not on this runtime: a clear error)'}`, () => {
    const output = runInProject(
      'cjs.cjs',
      `try {
  const shale = require('shale');
  const level = require('shale/level');
  const testing = require('shale/testing');
  console.log(typeof shale.DB, typeof level.ShaleLevel, typeof testing.CrashableFS);
} catch (err) {
  console.log(err.code + ': ' + err.message);
}`,
    );
    if (requireWorks) assert.equal(output, 'function function function');
    else assert.match(output, /^ERR_REQUIRE_ESM: shale is an ES module, and require\(\) of ES modules needs Node 20\.19\+, 22\.12\+/);
  });

  for (const moduleResolution of ['nodenext', 'bundler'] as const) {
    it(`type-checks a TypeScript user with moduleResolution ${moduleResolution}`, () => {
      const dir = path.join(project, `ts-${moduleResolution}`);
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(
        path.join(dir, 'user.ts'),
        `import { DB, ShaleError, type Options } from 'shale';
import { ShaleLevel } from 'shale/level';
import { CrashableFS } from 'shale/testing';
const options: Options = { memtableSizeBytes: 1 << 20, fs: new CrashableFS() };
export async function main(): Promise<string | undefined> {
  const db: DB = await DB.open('/tmp/x', options);
  const value: Buffer | undefined = await db.get('k');
  const level = new ShaleLevel<string, string>('/tmp/y');
  await level.close();
  return value === undefined ? undefined : String(value) + String(ShaleError.name);
}
`,
      );
      fs.writeFileSync(
        path.join(dir, 'tsconfig.json'),
        JSON.stringify({
          compilerOptions: {
            module: moduleResolution === 'bundler' ? 'esnext' : 'nodenext',
            moduleResolution,
            target: 'es2022',
            strict: true,
            noEmit: true,
            types: ['node'],
            typeRoots: [path.join(root, 'node_modules', '@types')],
          },
          files: ['user.ts'],
        }),
      );
      const tsc = spawnSync('node', [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', dir], { encoding: 'utf8' });
      assert.equal(tsc.status, 0, tsc.stdout + tsc.stderr);
    });
  }

  it('npx shale --help lists the commands, --version prints the version, an unknown command exits 2', () => {
    const npx = (...args: string[]) => spawnSync(npm, ['exec', '--offline', '--', 'shale', ...args], { cwd: project, encoding: 'utf8' });
    const help = npx('--help');
    assert.equal(help.status, 0, help.stderr);
    assert.match(help.stdout, /^usage: shale <command>/);
    assert.match(help.stdout, /crashtest/);
    const version = npx('--version');
    assert.equal(version.status, 0, version.stderr);
    assert.equal(version.stdout.trim(), packageJson.version);
    const unknown = npx('bogus');
    assert.equal(unknown.status, 2);
    assert.match(unknown.stderr, /^shale: unknown command 'bogus'/);
  });
});
