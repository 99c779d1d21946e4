import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { tempDir } from './helpers.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const indexUrl = new URL('../src/index.js', import.meta.url).href;

it("the README's example runs and prints what its comments say", () => {
  const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
  const example = /## Example\n\n```js\n([\s\S]*?)```/.exec(readme)?.[1];
  assert.ok(example, 'README has a js example under "## Example"');
  const dir = tempDir();
  const script = path.join(dir, 'example.mjs');
  const source = example.replace("from 'shale'", `from ${JSON.stringify(indexUrl)}`);
  fs.writeFileSync(script, `const dir = ${JSON.stringify(path.join(dir, 'db'))};\n${source}`);
  const output = execFileSync(process.execPath, [script], { encoding: 'utf8' });
  // Each console.log's comment is what it prints; ", then " separates lines a loop prints.
  const expected = [...example.matchAll(/console\.log\(.*\); *\/\/ (.*)$/gm)].flatMap((match) => match[1]!.split(', then '));
  assert.deepEqual(output.trim().split('\n'), expected);
});
