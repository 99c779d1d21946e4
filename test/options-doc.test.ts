/**
 * docs/options.md stays true: every option `DB.open` accepts (src/options.ts)
 * has a row there with its default, and every option the page names exists.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DEFAULTS, OPTION_NAMES } from '../src/options.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const doc = fs.readFileSync(path.join(root, 'docs', 'options.md'), 'utf8');
/** Rows of the DB.open tables: everything before the ShaleLevel section. */
const rows = doc.slice(0, doc.indexOf('## `ShaleLevel` only')).split('\n').filter((line) => line.startsWith('| `'));
const documented = new Map(rows.map((row) => [/^\| `(\w+)`/.exec(row)![1]!, row.split('|').map((cell) => cell.trim())]));

const MACHINE_DEPENDENT = new Set(['blockCacheBytes', 'compactionThreads', 'subcompactions']);

it('docs/options.md has a row for every option of src/options.ts, and no other', () => {
  assert.deepEqual([...documented.keys()].sort(), [...OPTION_NAMES].sort());
});

it("docs/options.md's defaults are src/options.ts's", () => {
  const shown = (value: unknown): string => {
    if (typeof value === 'string') return `\`'${value}'\``;
    if (typeof value === 'boolean') return `\`${value}\``;
    const n = value as number;
    if (n >= 1024 * 1024 && n % (1024 * 1024) === 0) return `${n / 1024 / 1024} MiB`;
    if (n >= 1024 && n % 1024 === 0) return `${n / 1024} KiB`;
    return String(n);
  };
  for (const [name, value] of Object.entries(DEFAULTS)) {
    // These depend on the machine: the page gives the rule, not one machine's figure.
    if (MACHINE_DEPENDENT.has(name)) {
      assert.match(documented.get(name)?.[2] ?? '', /^from the machine: /, `default of ${name}`);
      continue;
    }
    assert.equal(documented.get(name)?.[2], shown(value), `default of ${name}`);
  }
});

it('the README links the full table', () => {
  assert.match(fs.readFileSync(path.join(root, 'README.md'), 'utf8'), /docs\/options\.md/);
});
