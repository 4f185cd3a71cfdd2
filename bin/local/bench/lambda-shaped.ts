/**
 * The benchmark's Lambda-shaped rows: the deployed Export bundle (cdk.out, real bundling) on the Lambda
 * runtime's Node major, one shard, pinned to one CPU (`taskset -c 0`, as a 1,769 MB Lambda has one vCPU)
 * with the Postgres server pinned to the other, against the same ceiling measured the same way: COPY received
 * by a process pinned to CPU 0. Plan runs first from its bundle too (not timed). The destination is a local
 * folder (S3 uploads would add a local S3 server's CPU to the two cores), the secret comes from the Secrets
 * Manager stand-in. Each codec a deployment may use is measured: ZSTD (the default on Lambda) and SNAPPY
 * (the JavaScript implementation the bundle carries).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Compression, PlanResult, ShardResult, ShardTask } from '../../../lambdas/engine/contracts';
import { LocalFolderDestination } from '../../../lambdas/engine/destinations/local-folder';
import { readShardList } from '../../../lambdas/engine/run/documents';
import { type DeployedApp, type DeployedFunction, resolveEnvironment, synthesizeDeployedApp } from '../lambda/deployed-functions';
import { invokeBundle } from '../lambda/lambda-process';
import { LAMBDA_NODE_VERSION, lambdaNode } from '../lambda/lambda-node';
import { startSecretsStandIn } from '../lambda/secrets-manager-stand-in';
import { measureChild } from './measure';

const COPY_SCRIPT = fileURLToPath(new URL('./copy-to-nowhere.ts', import.meta.url));
const SECRET_ARN = 'arn:aws:secretsmanager:local:000000000000:secret:pgsip/bench-AbCdEf';
const KEY_ARN = 'arn:aws:kms:local:000000000000:key/00000000-0000-0000-0000-000000000000';

export interface LambdaShapedResult {
  name: string;
  /** The handler's own time (what Lambda bills as duration, init aside). */
  seconds: number;
  /** The whole fresh process: Node start and bundle load (a cold start) included. */
  processSeconds: number;
  peakRssBytes: number | null;
  /** The ceiling this row is compared with. */
  baseline: 'pinned-copy';
}

export interface LambdaShapedOptions {
  url: string;
  table: string;
  rows: number;
  work: string;
  /** The embedded cluster's data folder, to pin its server to CPU 1; null for someone else's Postgres. */
  postgresDataDir: string | null;
  passes: number;
  log: (line: string) => void;
}

/** Pins the Postgres server and its running processes to CPU 1 (backends forked later inherit it). */
function pinPostgres(dataDir: string): void {
  const postmaster = readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0].trim();
  const children = execFileSync('pgrep', ['-P', postmaster], { encoding: 'utf8' }).split('\n').filter(Boolean);
  for (const pid of [postmaster, ...children]) execFileSync('taskset', ['-a', '-p', '-c', '1', pid], { stdio: 'ignore' });
}

export async function measureLambdaShaped(options: LambdaShapedOptions): Promise<{ ceilingSeconds: number; results: LambdaShapedResult[]; node: string; pinned: boolean }> {
  const { url, table, rows, work, log } = options;
  const pinned = options.postgresDataDir !== null;
  if (pinned) pinPostgres(options.postgresDataDir!);

  log(`pgsip bench: COPY received on CPU 0${pinned ? ', Postgres on CPU 1' : ''} (best of ${options.passes})...`);
  let ceiling = Infinity;
  for (let i = 0; i <= options.passes; i++) {
    const m = await measureChild('taskset', ['-c', '0', process.execPath, '--import', 'tsx', COPY_SCRIPT, url, table, String(rows)]);
    // The first pass warms the cache; like the unpinned ceiling, the best of the rest counts.
    if (i > 0) ceiling = Math.min(ceiling, Number(m.stdout.trim()));
  }

  log('pgsip bench: synthesizing the app with real bundling (the deployed Lambda bundles)...');
  const deployed: DeployedApp = synthesizeDeployedApp(join(work, 'cdk.out'));
  lambdaNode();
  const target = new URL(url);
  const secrets = await startSecretsStandIn({
    [SECRET_ARN]: JSON.stringify({
      host: target.hostname,
      port: Number(target.port || 5432),
      dbname: decodeURIComponent(target.pathname.slice(1)) || 'postgres',
      username: decodeURIComponent(target.username),
      password: decodeURIComponent(target.password),
    }),
  });
  const results: LambdaShapedResult[] = [];
  try {
    for (const compression of ['ZSTD', 'SNAPPY'] as Compression[]) {
      const dest = join(work, `lambda-${compression.toLowerCase()}`);
      await mkdir(dest, { recursive: true });
      const env = (fn: DeployedFunction): NodeJS.ProcessEnv => ({
        ...resolveEnvironment(fn.environment, { [deployed.ids.bucket]: 'bench', [deployed.ids.secret ?? '']: SECRET_ARN }, { [`${deployed.ids.key}.Arn`]: KEY_ARN }),
        PGSIP_DEST: resolve(dest),
        PGSIP_DB_TLS: 'off',
        PATH: process.env.PATH,
        AWS_REGION: 'local',
        AWS_ACCESS_KEY_ID: 'bench',
        AWS_SECRET_ACCESS_KEY: 'bench',
        AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.endpoint,
      });
      const runId = `lambda-${compression.toLowerCase()}`;
      const planned = await invokeBundle({
        assetDir: deployed.plan.assetDir,
        handler: deployed.plan.handler,
        env: env(deployed.plan),
        // One shard reads one snapshot anyway: no holder runs beside this Plan.
        event: { input: { tables: [table], shards: 1, runId, compression, holdSnapshot: false }, executionName: runId },
      });
      if (!planned.ok) throw new Error(`Plan failed: ${planned.errorType}: ${planned.errorMessage}`);
      const [task] = (await readShardList(new LocalFolderDestination(dest), (planned.result as PlanResult).items)) as ShardTask[];
      log(`pgsip bench: the bundled Export on Node ${LAMBDA_NODE_VERSION}, one shard, ${compression}, pinned to CPU 0...`);
      const exported = await invokeBundle({
        assetDir: deployed.export.assetDir,
        handler: deployed.export.handler,
        env: env(deployed.export),
        event: { task, snapshot: null },
        cpus: '0',
      });
      if (!exported.ok) throw new Error(`Export failed: ${exported.errorType}: ${exported.errorMessage}`);
      const shard = exported.result as ShardResult;
      if (shard.rows !== rows) throw new Error(`the bundled Export wrote ${shard.rows} rows, expected ${rows}`);
      results.push({ name: `Lambda-shaped Export, ${compression}`, seconds: shard.seconds, processSeconds: exported.seconds, peakRssBytes: exported.peakRssBytes, baseline: 'pinned-copy' });
      await rm(dest, { recursive: true, force: true });
    }
  } finally {
    await secrets.stop();
  }
  return { ceilingSeconds: ceiling, results, node: LAMBDA_NODE_VERSION, pinned };
}
