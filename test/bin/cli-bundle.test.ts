/**
 * The compiled CLI: each module keeps its own `import.meta.url` (the repository paths hang off it), code in
 * string literals is left alone, and the tsx fallback gives the same CLI.
 */
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
// @ts-expect-error plain JavaScript module without types (it runs before any TypeScript loader)
import { pinImportMetaUrl } from '../../bin/cli-bundle.js';

const run = promisify(execFile);
const PGSIP = resolve(__dirname, '..', '..', 'bin', 'pgsip.js');

describe('compiled CLI', () => {
  it('pins import.meta.url in code to the source file, not inside string literals', () => {
    const source = [
      "const ROOT = fileURLToPath(new URL('..', import.meta.url));",
      'const banner = "const require = createRequire(import.meta.url);";',
      "const a = createRequire(import.meta.url)('snappy'); const b = `${import.meta.url}`;",
    ].join('\n');
    const pinned = (pinImportMetaUrl as (s: string, u: string) => string)(source, 'file:///repo/lib/x.ts').split('\n');
    expect(pinned[0]).toBe(`const ROOT = fileURLToPath(new URL('..', "file:///repo/lib/x.ts"));`);
    expect(pinned[1]).toBe('const banner = "const require = createRequire(import.meta.url);";');
    expect(pinned[2]).toBe(`const a = createRequire("file:///repo/lib/x.ts")('snappy'); const b = \`\${import.meta.url}\`;`);
  });

  it('answers the same with and without the compiled bundle', async () => {
    const compiled = await run(process.execPath, [PGSIP, '--help']);
    const viaTsx = await run(process.execPath, [PGSIP, '--help'], { env: { ...process.env, PGSIP_NO_BUNDLE: '1' } });
    expect(compiled.stdout).toContain('Usage: pgsip');
    expect(compiled.stdout).toContain('run [options]');
    expect(viaTsx.stdout).toBe(compiled.stdout);
  });
});
