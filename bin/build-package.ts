/**
 * `npm run build` (and `prepack`): what the npm package ships instead of the TypeScript sources —
 *
 * - `dist/lambdas/<kind>/index.mjs`: the five function bundles the construct deploys (plan, export, commit, holder, failure: lib/lambda-bundles.ts);
 * - `dist/lib/index.js`: the construct library (`import { PgsipExport } from 'pgsip'`), with its types in
 *   `dist/types/`;
 * - `dist/bin/cli.js`: the CLI (`npx pgsip`), which bin/pgsip.js runs when the sources are not there.
 *
 * Dependencies stay external (the package's own dependencies, and aws-cdk-lib/constructs as peers); only
 * pgsip's code is bundled.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { buildLambdaBundle, LAMBDA_KINDS } from '../lib/lambda-bundles';
import { PACKAGE_ROOT, PGSIP_VERSION } from '../lib/package-root';

const DIST = join(PACKAGE_ROOT, 'dist');
const log = (line: string) => process.stderr.write(`pgsip build: ${line}\n`);

rmSync(DIST, { recursive: true, force: true });
for (const kind of LAMBDA_KINDS) {
  buildLambdaBundle(kind, join(DIST, 'lambdas', kind));
  log(`dist/lambdas/${kind}/index.mjs (${(statSync(join(DIST, 'lambdas', kind, 'index.mjs')).size / 1e6).toFixed(1)} MB)`);
}

const common = {
  bundle: true,
  platform: 'node' as const,
  format: 'esm' as const,
  target: 'node20',
  packages: 'external' as const,
  keepNames: true,
  sourcemap: 'linked' as const,
  logLevel: 'warning' as const,
  define: { __PGSIP_VERSION__: JSON.stringify(PGSIP_VERSION) },
  absWorkingDir: PACKAGE_ROOT,
};
await build({ ...common, entryPoints: [join(PACKAGE_ROOT, 'lib', 'index.ts')], outfile: join(DIST, 'lib', 'index.js') });
log('dist/lib/index.js');
await build({ ...common, entryPoints: [join(PACKAGE_ROOT, 'bin', 'cli.ts')], outdir: join(DIST, 'bin'), splitting: true, entryNames: '[name]' });
log('dist/bin/cli.js');

// Declarations of the library. The sources import without extensions (bundler resolution); Node's ESM
// resolution, which TypeScript applies to an installed package, needs them.
execFileSync(process.execPath, [join(PACKAGE_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(PACKAGE_ROOT, 'tsconfig.build.json')], { stdio: 'inherit' });
function withExtensions(dir: string): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) withExtensions(path);
    else if (entry.name.endsWith('.d.ts')) {
      const text = readFileSync(path, 'utf8').replace(/(from\s+|import\()(['"])(\.{1,2}\/[^'"]+?)(\2)/g, (m, lead, q, spec) => (/\.(js|json)$/.test(spec) ? m : `${lead}${q}${spec}.js${q}`));
      writeFileSync(path, text);
    }
  }
}
withExtensions(join(DIST, 'types'));
log('dist/types/lib/index.d.ts');
