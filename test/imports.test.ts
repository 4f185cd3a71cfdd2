/**
 * The layout is the architecture (docs/architecture.md): the engine knows nothing of Lambda, the CDK app or
 * the CLI, and no module imports itself back through others. Checked over the real import statements of every
 * source file, as TypeScript itself reads them (`ts.preProcessFile`).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../lib/pgsip-function';

const SOURCE_DIRS = ['bin', 'lib', 'lambdas'];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(path);
    return /\.(ts|js)$/.test(e.name) && !e.name.endsWith('.d.ts') ? [path] : [];
  });
}

/** Repository-relative path of every file each source file imports (relative imports only). */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of SOURCE_DIRS.flatMap((d) => sourceFiles(join(REPO_ROOT, d)))) {
    const { importedFiles } = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
    const targets = importedFiles
      .map((i) => i.fileName)
      .filter((spec) => spec.startsWith('.'))
      .map((spec) => {
        const base = resolve(dirname(file), spec);
        const found = [base, `${base}.ts`, `${base}.js`, join(base, 'index.ts')].find((p) => existsSync(p) && !p.endsWith('/'));
        if (!found) throw new Error(`${relative(REPO_ROOT, file)} imports ${spec}, which does not exist`);
        return relative(REPO_ROOT, found);
      });
    graph.set(relative(REPO_ROOT, file), targets);
  }
  return graph;
}

const graph = importGraph();

describe('imports', () => {
  it('sees the whole source tree', () => {
    expect(graph.size).toBeGreaterThan(60);
    expect(graph.get('lambdas/engine/export-shard.ts')).toContain('lambdas/engine/postgres/binary-copy-parser.ts');
  });

  it('the engine imports nothing from bin/, lib/, the Lambda handlers or lambdas/shared/', () => {
    const offending = [...graph]
      .filter(([file]) => file.startsWith('lambdas/engine/'))
      .flatMap(([file, targets]) => targets.filter((t) => !t.startsWith('lambdas/engine/')).map((t) => `${file} -> ${t}`));
    expect(offending).toEqual([]);
  });

  it('Lambda handler code imports neither the CDK app nor the CLI', () => {
    const offending = [...graph]
      .filter(([file]) => file.startsWith('lambdas/') && !file.startsWith('lambdas/engine/'))
      .flatMap(([file, targets]) => targets.filter((t) => t.startsWith('bin/') || t.startsWith('lib/')).map((t) => `${file} -> ${t}`));
    expect(offending).toEqual([]);
  });

  it('the CDK app does not import the CLI', () => {
    const offending = [...graph]
      .filter(([file]) => file.startsWith('lib/'))
      .flatMap(([file, targets]) => targets.filter((t) => t.startsWith('bin/')).map((t) => `${file} -> ${t}`));
    expect(offending).toEqual([]);
  });

  it('nothing that ships imports the IAM simulator (AGPL-3.0, a test-only devDependency) or test code', () => {
    const offending = SOURCE_DIRS.flatMap((d) => sourceFiles(join(REPO_ROOT, d))).flatMap((file) =>
      ts
        .preProcessFile(readFileSync(file, 'utf8'), true, true)
        .importedFiles.map((i) => i.fileName)
        .filter((spec) => spec.startsWith('@cloud-copilot/') || (spec.startsWith('.') && relative(REPO_ROOT, resolve(dirname(file), spec)).startsWith('test/')))
        .map((spec) => `${relative(REPO_ROOT, file)} -> ${spec}`),
    );
    expect(offending).toEqual([]);
  });

  it('has no circle', () => {
    const circles: string[] = [];
    const state = new Map<string, 'visiting' | 'done'>();
    const stack: string[] = [];
    const visit = (file: string) => {
      if (state.get(file) === 'done') return;
      if (state.get(file) === 'visiting') {
        circles.push([...stack.slice(stack.indexOf(file)), file].join(' -> '));
        return;
      }
      state.set(file, 'visiting');
      stack.push(file);
      for (const next of graph.get(file) ?? []) visit(next);
      stack.pop();
      state.set(file, 'done');
    };
    for (const file of graph.keys()) visit(file);
    expect(circles).toEqual([]);
  });
});
