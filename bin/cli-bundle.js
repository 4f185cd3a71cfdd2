// The CLI's TypeScript, compiled once per source version by esbuild into node_modules/.cache/pgsip-cli.
//
// Why not run it through tsx every time: tsx's loader runs in a thread of its own with its own V8 heap
// (~40 MB of resident memory) and transpiles on every start; together with loading every command's
// dependencies up front that was ~0.9 s and ~170 MB before a run did any work. The bundle is keyed by a
// SHA-256 of the sources and the lock file, so an edit, a pull or an `npm ci` gives a fresh build; dependencies
// stay in node_modules (packages are external), and code splitting keeps each command's imports lazy.
// Anywhere the bundle cannot be built or written (a read-only install, esbuild missing), the CLI runs through
// tsx as before.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const CACHE = join(ROOT, 'node_modules', '.cache', 'pgsip-cli');
const SOURCE_DIRS = ['bin', 'lib', 'lambdas'];

function sources(dir, out = []) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name.startsWith('.')) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) sources(path, out);
    else if (/\.(ts|js|json)$/.test(entry.name)) out.push(path);
  }
  return out;
}

function sourceKey() {
  const hash = createHash('sha256');
  const files = SOURCE_DIRS.flatMap((d) => sources(join(ROOT, d))).sort();
  files.push(join(ROOT, 'package-lock.json'), join(ROOT, 'tsconfig.json'));
  for (const file of files) {
    hash.update(relative(ROOT, file)).update('\0');
    try {
      hash.update(readFileSync(file)).update('\0');
    } catch {
      hash.update('(missing)\0');
    }
  }
  return hash.digest('hex').slice(0, 32);
}

/**
 * Each module's `import.meta.url` must stay its own source file's URL (paths to the repository, to the Lambda
 * entry points, to `snappy`), not the bundle's. Occurrences inside a string literal on the same line (e.g. a
 * banner of code for the Lambda bundles) are left alone: the quotes before them are counted.
 */
export function pinImportMetaUrl(source, fileUrl) {
  return source
    .split('\n')
    .map((line) => {
      if (!line.includes('import.meta.url')) return line;
      let out = '';
      let rest = line;
      for (;;) {
        const at = rest.indexOf('import.meta.url');
        if (at < 0) return out + rest;
        const before = out + rest.slice(0, at);
        const quotes = (before.match(/["'`]/g) ?? []).length;
        out = before + (quotes % 2 === 0 ? JSON.stringify(fileUrl) : 'import.meta.url');
        rest = rest.slice(at + 'import.meta.url'.length);
      }
    })
    .join('\n');
}

async function build(outdir) {
  const esbuild = await import('esbuild');
  await esbuild.build({
    entryPoints: [join(ROOT, 'bin', 'cli.ts')],
    outdir,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    keepNames: true,
    sourcemap: 'linked',
    logLevel: 'silent',
    plugins: [
      {
        name: 'pin-import-meta-url',
        setup(b) {
          b.onLoad({ filter: /\.ts$/ }, (args) => ({
            contents: pinImportMetaUrl(readFileSync(args.path, 'utf8'), pathToFileURL(args.path).href),
            loader: 'ts',
          }));
        },
      },
    ],
  });
}

/** The URL of the compiled CLI, building it first when needed; null when it cannot be built here. */
export async function compiledCli() {
  if (process.env.PGSIP_NO_BUNDLE) return null;
  try {
    const dir = join(CACHE, sourceKey());
    const entry = join(dir, 'cli.js');
    if (!existsSync(entry)) {
      // Built beside the final place and renamed into it, so that concurrent first starts never load half a build.
      const tmp = `${dir}.${process.pid}.tmp`;
      mkdirSync(CACHE, { recursive: true });
      await build(tmp);
      try {
        renameSync(tmp, dir);
      } catch {
        // Another process finished first: use its build.
        rmSync(tmp, { recursive: true, force: true });
      }
    }
    return pathToFileURL(entry).href;
  } catch {
    return null;
  }
}
