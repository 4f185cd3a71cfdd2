/**
 * The local runner's synthesized state machine definition, cached.
 *
 * Synthesizing the CDK app in process costs `pgsip run` 3-5 s and ~450 MB of peak RSS (aws-cdk-lib loaded
 * and run) on a 2-core machine. The definition depends only on the CDK app's sources (lib/ and what it
 * imports from lambdas/), bin/app.ts, cdk.json, the installed packages and the props, so it is cached under
 * a SHA-256 of all of those: any change gives a new key and a fresh synthesis. A cache hit is byte for byte
 * what `synthesizeDefinition` returns for the same inputs; the tests compare the two.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../lib/package-root';
import type { LocalDefinition } from '../../lib/state-machine-definition';

const ROOT = PACKAGE_ROOT;
const CACHE_DIR = join(ROOT, 'node_modules', '.cache', 'pgsip-definitions');

function sourcesOf(dir: string): string[] {
  const out: string[] = [];
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return out; // an installed package has no sources: its version (package.json) stands for them
  }
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sourcesOf(path));
    else if (/\.(ts|js|json)$/.test(entry.name)) out.push(path);
  }
  return out.sort();
}

/** The cache key: everything the synthesized definition can depend on. */
export function definitionKey(props: object): string {
  const hash = createHash('sha256');
  // Conservative on purpose: all of lambdas/ (lib imports some of it) and the lock file (every package version).
  const files = [
    ...sourcesOf(join(ROOT, 'lib')),
    ...sourcesOf(join(ROOT, 'lambdas')),
    join(ROOT, 'bin', 'app.ts'),
    join(ROOT, 'cdk.json'),
    join(ROOT, 'package.json'),
    join(ROOT, 'package-lock.json'),
    join(ROOT, 'node_modules', 'aws-cdk-lib', 'package.json'),
  ];
  for (const file of files) {
    hash.update(file.slice(ROOT.length)).update('\0');
    try {
      hash.update(readFileSync(file)).update('\0');
    } catch {
      hash.update('(missing)\0');
    }
  }
  hash.update(JSON.stringify(props));
  return hash.digest('hex');
}

/**
 * The definition every local run executes: one for all runs, since run options (concurrency included) travel
 * in the execution input, not in the definition.
 */
export async function cachedSynthesizeDefinition(): Promise<LocalDefinition> {
  const props = {};
  const key = definitionKey(props);
  const file = join(CACHE_DIR, `${key}.json`);
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as LocalDefinition;
  } catch {
    // Not cached yet (or unreadable): synthesize.
  }
  const { synthesizeDefinition } = await import('../../lib/state-machine-definition');
  const definition = synthesizeDefinition(props);
  // Validated against the ASL schema once, here, before it is cached: runs from the cache skip the validator
  // (compiling its JSON schemas cost every run ~150 ms).
  await import('./polyfills');
  const { StateMachine } = await import('aws-local-stepfunctions');
  new StateMachine(structuredClone(definition.definition) as never, { validationOptions: { checkArn: false } });
  try {
    mkdirSync(CACHE_DIR, { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(definition));
    renameSync(tmp, file);
  } catch {
    // A read-only install still runs, synthesizing every time.
  }
  return definition;
}
