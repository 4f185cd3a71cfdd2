/**
 * The code of the five functions, as the assets the construct deploys. In an installed package they are
 * prebuilt in `dist/lambdas/<kind>/` (`npm run build`, run by `prepack`), so synthesizing needs neither the
 * repository, its lock file nor esbuild. In a clone they are built from the sources with the same options,
 * once per source version, into `node_modules/.cache/pgsip-lambdas/<hash>/<kind>/`; the package test checks
 * that both builds are the same bytes. A synth that skips bundling (`aws:cdk:bundling-stacks` empty, as the
 * local runner and most tests do) gets a stub instead, since only the definition matters there.
 */
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { HAS_SOURCES, PACKAGE_ROOT, PGSIP_VERSION } from './package-root';

export type LambdaKind = 'plan' | 'export' | 'commit' | 'holder' | 'failure';
export const LAMBDA_KINDS: readonly LambdaKind[] = ['plan', 'export', 'commit', 'holder', 'failure'];

/** The Lambda runtime's Node major: the target of the bundles. */
export const LAMBDA_NODE_MAJOR = 24;

/**
 * Banner for the ESM bundle: some bundled CommonJS dependencies call `require` for Node built-ins, which an
 * ES module does not have. This gives them one.
 */
export const ESM_REQUIRE_BANNER =
  "import { createRequire as __pgsipCreateRequire } from 'module'; const require = __pgsipCreateRequire(import.meta.url);";

/**
 * One minified ESM file per function with a linked source map (mappings only, no sources: stack traces point
 * at the TypeScript, the asset stays small). Everything is bundled, the AWS SDK included: the SDK in the
 * Lambda runtime lags the one tested, and a pinned bundle behaves the same everywhere. `keepNames`: the
 * `name` of a thrown error (e.g. `ShardRetryableError`) is what Step Functions matches in Retry/Catch.
 */
export function lambdaBuildOptions(kind: LambdaKind, outdir: string) {
  return {
    entryPoints: [join(PACKAGE_ROOT, 'lambdas', kind, 'handler.ts')],
    outfile: join(outdir, 'index.mjs'),
    absWorkingDir: PACKAGE_ROOT,
    bundle: true,
    platform: 'node' as const,
    format: 'esm' as const,
    target: `node${LAMBDA_NODE_MAJOR}`,
    // Prefer the ESM build of a dependency when it ships both.
    mainFields: ['module', 'main'],
    banner: { js: ESM_REQUIRE_BANNER },
    define: { __PGSIP_VERSION__: JSON.stringify(PGSIP_VERSION) },
    minify: true,
    keepNames: true,
    sourcemap: 'linked' as const,
    sourcesContent: false,
    logLevel: 'warning' as const,
  };
}

interface Esbuild {
  buildSync(options: ReturnType<typeof lambdaBuildOptions>): unknown;
}

/** Builds one function's bundle into `outdir` (esbuild, a devDependency: only in a clone). */
export function buildLambdaBundle(kind: LambdaKind, outdir: string): void {
  const esbuild = createRequire(join(PACKAGE_ROOT, 'package.json'))('esbuild') as Esbuild;
  esbuild.buildSync(lambdaBuildOptions(kind, outdir));
}

function sourceFiles(dir: string, out: string[] = []): string[] {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) sourceFiles(path, out);
    else if (entry.name.endsWith('.ts')) out.push(path);
  }
  return out;
}

/** The sources a bundle is built from, and what they resolve against: a new hash when either changes. */
function sourceKey(): string {
  const hash = createHash('sha256').update(PGSIP_VERSION);
  for (const file of [...sourceFiles(join(PACKAGE_ROOT, 'lambdas')).sort(), join(PACKAGE_ROOT, 'package-lock.json')]) {
    hash.update(relative(PACKAGE_ROOT, file)).update('\0').update(readFileSync(file)).update('\0');
  }
  return hash.digest('hex').slice(0, 24);
}

let cachedKey: string | undefined;

/** The folder holding `index.mjs` (and its map) of one function, built or prebuilt. */
export function lambdaBundleDir(kind: LambdaKind): string {
  if (!HAS_SOURCES) {
    const prebuilt = join(PACKAGE_ROOT, 'dist', 'lambdas', kind);
    if (!existsSync(join(prebuilt, 'index.mjs'))) throw new Error(`pgsip: the package has no prebuilt ${kind} function at ${prebuilt} (was it packed without npm run build?)`);
    return prebuilt;
  }
  cachedKey ??= sourceKey();
  const dir = join(PACKAGE_ROOT, 'node_modules', '.cache', 'pgsip-lambdas', cachedKey, kind);
  if (!existsSync(join(dir, 'index.mjs'))) {
    // Built beside the final place and renamed into it: concurrent synths never deploy half a build.
    const tmp = `${dir}.${process.pid}.tmp`;
    rmSync(tmp, { recursive: true, force: true });
    buildLambdaBundle(kind, tmp);
    mkdirSync(join(dir, '..'), { recursive: true });
    try {
      renameSync(tmp, dir);
    } catch {
      rmSync(tmp, { recursive: true, force: true }); // another process finished first
    }
  }
  return dir;
}

/** `bundle` plus a file, as one folder (an asset is a folder): the CA bundle beside the code. */
export function bundleWithFile(bundle: string, file: string, name: string): string {
  const content = readFileSync(file);
  const key = createHash('sha256').update(bundle).update('\0').update(content).digest('hex').slice(0, 24);
  const dir = join(tmpdir(), `pgsip-asset-${key}`);
  if (!existsSync(join(dir, name))) {
    const tmp = `${dir}.${process.pid}.tmp`;
    rmSync(tmp, { recursive: true, force: true });
    cpSync(bundle, tmp, { recursive: true });
    writeFileSync(join(tmp, name), content);
    try {
      renameSync(tmp, dir);
    } catch {
      rmSync(tmp, { recursive: true, force: true });
    }
  }
  return dir;
}

/** What a synth that skips bundling deploys: a handler that says so, never real code. */
export function stubBundleDir(): string {
  const dir = join(tmpdir(), 'pgsip-asset-stub');
  if (!existsSync(join(dir, 'index.mjs'))) {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'index.mjs'), "export const handler = async () => { throw new Error('pgsip: synthesized without bundling'); };\n");
  }
  return dir;
}
