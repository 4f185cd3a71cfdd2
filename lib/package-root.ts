/**
 * Where pgsip's own files are: the repository in a clone, the package folder in `node_modules/pgsip` of an
 * install. Found by walking up from this module to the `package.json` named `pgsip`, so it holds for the
 * TypeScript sources, the CLI compiled into `node_modules/.cache`, and the bundles in `dist/`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export function findPackageRoot(from: string): string {
  for (let dir = dirname(from); ; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest)) {
      try {
        if ((JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'pgsip') return dir;
      } catch {
        // Not ours (or not JSON): keep walking.
      }
    }
    if (dirname(dir) === dir) throw new Error(`pgsip: cannot find pgsip's package.json above ${from}`);
  }
}

export const PACKAGE_ROOT: string = findPackageRoot(fileURLToPath(import.meta.url));

/** pgsip's version, as package.json says: the `writer` of manifests and the Parquet `created_by`. */
export const PGSIP_VERSION: string = (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/** True in a clone (the TypeScript sources are here), false in an installed package (only `dist/`). */
export const HAS_SOURCES: boolean = existsSync(join(PACKAGE_ROOT, 'lambdas', 'plan', 'handler.ts'));
