import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { scriptFile } from '../helpers.js';

const root = fileURLToPath(new URL('../../..', import.meta.url));

it("docs/testing.md's crash test example runs and passes", () => {
  const doc = fs.readFileSync(path.join(root, 'docs', 'testing.md'), 'utf8');
  const example = /## A crash test of your own\n\n```js\n([\s\S]*?)```/.exec(doc)?.[1];
  assert.ok(example, 'docs/testing.md has the example');
  const source = example
    .replace("from 'shale'", `from ${JSON.stringify(new URL('../../src/index.js', import.meta.url).href)}`)
    .replace("from 'shale/testing'", `from ${JSON.stringify(new URL('../../src/testing/index.js', import.meta.url).href)}`);
  const script = scriptFile(source, 'example.mjs');
  assert.equal(execFileSync(process.execPath, [script], { encoding: 'utf8' }).trim(), 'crash test passed');
});
