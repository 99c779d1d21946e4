/**
 * The layout's dependency rules (docs/internals.md, "Where things are"), checked
 * on the TypeScript sources so that a new import cannot quietly break them.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { it } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const src = path.join(root, 'src');

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

/** The source files `file` imports (relative imports only, type-only ones included). */
function importsOf(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8');
  const found: string[] = [];
  for (const match of text.matchAll(/(?:from|import)\s*\(?\s*['"](\.{1,2}\/[^'"]+)\.js['"]/g)) {
    found.push(path.resolve(path.dirname(file), `${match[1]!}.ts`));
  }
  return found;
}

const files = sourceFiles(src);
const graph = new Map(files.map((file) => [file, importsOf(file)]));
const rel = (file: string): string => path.relative(root, file);

it('src/version/ imports nothing from src/db/ or src/compaction/', () => {
  for (const file of files.filter((f) => rel(f).startsWith('src/version/'))) {
    for (const target of graph.get(file)!) {
      assert.ok(!/^src\/(db|compaction)\//.test(rel(target)), `${rel(file)} imports ${rel(target)}`);
    }
  }
});

it('the parts of src/db/ import each other without a cycle', () => {
  const parts = files.filter((f) => rel(f).startsWith('src/db/'));
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (file: string, trail: string[]): void => {
    if (state.get(file) === 'done') return;
    assert.notEqual(state.get(file), 'visiting', `import cycle: ${[...trail, file].map(rel).join(' → ')}`);
    state.set(file, 'visiting');
    for (const target of graph.get(file) ?? []) if (rel(target).startsWith('src/db/')) visit(target, [...trail, file]);
    state.set(file, 'done');
  };
  assert.ok(parts.length >= 8, `found only ${parts.length} files in src/db/`);
  for (const part of parts) visit(part, []);
});

it('every relative import names a source file that exists', () => {
  for (const [file, targets] of graph) {
    for (const target of targets) assert.ok(fs.existsSync(target), `${rel(file)} imports missing ${rel(target)}`);
  }
});
