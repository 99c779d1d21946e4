import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { scriptFile, tempDir } from './helpers.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** Runs the js block under `heading` with `dir` set, and checks it prints what its comments say. */
function runExample(heading: string, imports: Record<string, string>): void {
  const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
  const example = new RegExp(`## ${heading}\n[\\s\\S]*?\`\`\`js\n([\\s\\S]*?)\`\`\``).exec(readme)?.[1];
  assert.ok(example, `README has a js example under "## ${heading}"`);
  const dir = tempDir();
  let source = example;
  for (const [name, url] of Object.entries(imports)) source = source.replace(`from '${name}'`, `from ${JSON.stringify(url)}`);
  const script = scriptFile(`const dir = ${JSON.stringify(path.join(dir, 'db'))};\n${source}`, 'example.mjs');
  const output = execFileSync(process.execPath, [script], { encoding: 'utf8' });
  // Each console.log's comment is what it prints; ", then " separates lines a loop prints.
  const expected = [...example.matchAll(/console\.log\(.*\); *\/\/ (.*)$/gm)].flatMap((match) => match[1]!.split(', then '));
  assert.deepEqual(normalized(output.trim()), normalized(expected.join('\n')));
}

/**
 * The printed lines with console.log's formatting differences between runtimes
 * taken out: Bun prints strings in objects with double quotes, objects over
 * several lines and with trailing commas; Node and Deno print `{ theme: 'dark' }`.
 */
function normalized(text: string): string[] {
  const flat = text.replace(/\{\n\s*/g, '{ ').replace(/,\n\s*\}/g, ' }').replace(/,\n\s*/g, ', ');
  return flat.replace(/"/g, "'").replace(/,(\s*[}\]])/g, '$1').split('\n');
}

it("the README's example runs and prints what its comments say", () => {
  runExample('Example', { shale: new URL('../src/index.js', import.meta.url).href });
});

it("the README's transactions example runs and prints what its comments say", () => {
  runExample('Transactions', { shale: new URL('../src/index.js', import.meta.url).href });
});

it("the README's abstract-level example runs and prints what its comments say", () => {
  runExample('With abstract-level', { 'shale/level': new URL('../src/level/index.js', import.meta.url).href });
});

it("the README's copies example (checkpoint, backups, export) runs and prints what its comments say", () => {
  runExample('Copies: checkpoints, backups, export', { shale: new URL('../src/index.js', import.meta.url).href });
});

it("the README's read-only example runs and prints what its comments say", () => {
  runExample('Read-only opens', { shale: new URL('../src/index.js', import.meta.url).href });
});

it("the README's metrics example serves db.metrics() over node:http and prints what its comments say", () => {
  runExample('Metrics', { shale: new URL('../src/index.js', import.meta.url).href });
});
