import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { tempDir } from './helpers.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** Runs the js block under `heading` with `dir` set, and checks it prints what its comments say. */
function runExample(heading: string, imports: Record<string, string>): void {
  const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
  const example = new RegExp(`## ${heading}\n[\\s\\S]*?\`\`\`js\n([\\s\\S]*?)\`\`\``).exec(readme)?.[1];
  assert.ok(example, `README has a js example under "## ${heading}"`);
  const dir = tempDir();
  const script = path.join(dir, 'example.mjs');
  let source = example;
  for (const [name, url] of Object.entries(imports)) source = source.replace(`from '${name}'`, `from ${JSON.stringify(url)}`);
  fs.writeFileSync(script, `const dir = ${JSON.stringify(path.join(dir, 'db'))};\n${source}`);
  const output = execFileSync(process.execPath, [script], { encoding: 'utf8' });
  // Each console.log's comment is what it prints; ", then " separates lines a loop prints.
  const expected = [...example.matchAll(/console\.log\(.*\); *\/\/ (.*)$/gm)].flatMap((match) => match[1]!.split(', then '));
  assert.deepEqual(output.trim().split('\n'), expected);
}

it("the README's example runs and prints what its comments say", () => {
  runExample('Example', { shale: new URL('../src/index.js', import.meta.url).href });
});

it("the README's abstract-level example runs and prints what its comments say", () => {
  runExample('With abstract-level', { 'shale/level': new URL('../src/level/index.js', import.meta.url).href });
});
