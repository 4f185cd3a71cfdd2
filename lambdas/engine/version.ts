/**
 * pgsip's version, for the `writer` of manifests and the Parquet footer's `created_by`. The bundles pgsip
 * builds (Lambda handlers, the compiled CLI) have it written in by esbuild (`__PGSIP_VERSION__`); run from
 * the TypeScript sources it is read from the package.json above this file.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

declare const __PGSIP_VERSION__: string;

function fromPackageJson(): string {
  try {
    for (let dir = dirname(fileURLToPath(import.meta.url)); dirname(dir) !== dir; dir = dirname(dir)) {
      try {
        const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
        if (manifest.name === 'pgsip' && manifest.version) return manifest.version;
      } catch {
        // no package.json here: keep walking
      }
    }
  } catch {
    // import.meta.url is not a file (a bundle built without the define): say so rather than guess.
  }
  return 'unknown';
}

export const PGSIP_VERSION: string = typeof __PGSIP_VERSION__ === 'string' ? __PGSIP_VERSION__ : fromPackageJson();

/** What pgsip writes as the writer of its files: `pgsip 0.1.0`. */
export const WRITER = `pgsip ${PGSIP_VERSION}`;
