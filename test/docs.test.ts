/**
 * The repository documents itself: every file a comment or a doc points at exists in the repository (no
 * citations of notes that live elsewhere), and every alarm has its runbook entry in docs/operations.md.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { App } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { buildApp } from '../lib/pgsip-app';
import { loadConfig } from '../lib/pgsip-config';
import { REPO_ROOT } from '../lib/pgsip-function';
import { propsFromConfig } from '../lib/pgsip-stack';

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    if (e.name === 'node_modules' || e.name.startsWith('.') || e.name === 'cdk.out') return [];
    const path = join(dir, e.name);
    return e.isDirectory() ? files(path) : /\.(ts|js|md)$/.test(e.name) ? [path] : [];
  });
}

const sources = ['bin', 'lib', 'lambdas', 'test', 'docs', 'localstack'].flatMap((d) => files(join(REPO_ROOT, d))).concat(join(REPO_ROOT, 'README.md'));
/** Repository paths as prose cites them: `docs/architecture.md`, `lib/pgsip-nag.ts`, an upper-case `*.md` at the root. */
const CITED = /(?<![\w./-])((?:docs|lib|lambdas|bin|test|localstack)\/[\w./-]+\.(?:ts|js|md)|[A-Z][A-Z_]+\.md)\b/g;

describe('documentation', () => {
  it('every repository file the code and docs cite exists', () => {
    const missing: string[] = [];
    for (const file of sources) {
      const text = readFileSync(file, 'utf8');
      for (const [, cited] of text.matchAll(CITED)) {
        const here = relative(REPO_ROOT, file);
        const resolved = [join(REPO_ROOT, cited), join(file, '..', cited)];
        if (!resolved.some((p) => existsSync(p))) missing.push(`${here}: ${cited}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('has a LICENSE matching package.json, and the architecture note the code cites', () => {
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { license: string };
    expect(pkg.license).toBe('Apache-2.0');
    expect(readFileSync(join(REPO_ROOT, 'LICENSE'), 'utf8')).toMatch(/Apache License\s+Version 2\.0, January 2004/);
    expect(existsSync(join(REPO_ROOT, 'docs', 'architecture.md'))).toBe(true);
  });

  it('docs/operations.md has a runbook entry for every alarm the example deployment creates', () => {
    const operations = readFileSync(join(REPO_ROOT, 'docs', 'operations.md'), 'utf8');
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = buildApp(app, propsFromConfig(loadConfig(join(REPO_ROOT, 'pgsip.config.example.json'))));
    const alarms = stack.monitoring.alarms.map((a) => a.node.id);
    expect(alarms.length).toBeGreaterThan(10);
    // The first column of the runbook table, where one row may name several alarms (`PlanErrors / ExportErrors`).
    const section = operations.slice(operations.indexOf('## Alarms and what to do'));
    const documented = new Set(section.split('\n').filter((l) => l.startsWith('| ')).flatMap((l) => l.split('|')[1].split('/').map((n) => n.trim())));
    for (const id of alarms) {
      // Freshness alarms are one per schedule: the runbook names their pattern.
      expect(documented, id).toContain(id.startsWith('Freshness-') ? 'Freshness-<schedule>' : id);
    }
  });
});
