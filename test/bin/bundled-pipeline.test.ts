/**
 * The deployed path, run as Lambda runs it: the app synthesized with real esbuild bundling, and Plan -> every
 * Export shard -> Commit executed from the asset folders in cdk.out, each invocation a fresh process of the
 * Lambda runtime's Node major, with the function's environment from the template. AWS is stood in for by a
 * real S3-compatible server (s3rver) and a Secrets Manager stand-in; the test plays Step Functions (reading
 * the ItemReader's items, shaping each shard's event as the ItemSelector does). DuckDB checks the rows.
 *
 * The only variables that do not come from the template point the SDK at the stand-ins (endpoints, region,
 * dummy credentials) and turn TLS off (the embedded Postgres has none).
 */
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDuckDB, sqlString, type DuckDB } from '../../bin/local/duckdb-reader';
import { type RunningPostgres, startEmbeddedPostgres } from '../../bin/local/embedded-postgres';
import { type DeployedApp, type DeployedFunction, resolveEnvironment, synthesizeDeployedApp } from '../../bin/local/lambda/deployed-functions';
import { type BundleOutcome, invokeBundle } from '../../bin/local/lambda/lambda-process';
import { LAMBDA_NODE_VERSION, lambdaNode } from '../../bin/local/lambda/lambda-node';
import { type SecretsStandIn, startSecretsStandIn } from '../../bin/local/lambda/secrets-manager-stand-in';
import { type GlueStandIn, startGlueStandIn } from '../support/glue-stand-in';
import type { CommitResult, ExecutionInput, HeldSnapshotDocument, HolderResult, PlanResult, RunManifest, ShardResult, ShardTask } from '../../lambdas/engine/contracts';
import { LAMBDA_NODE_MAJOR } from '../../lib/pgsip-function';
import { type RunningS3, startS3Server } from '../support/s3-server';
import { sessionsLike } from '../support/postgres-queries';

const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:pgsip/source-AbCdEf';
const KEY_ARN = 'arn:aws:kms:eu-west-1:123456789012:key/0b1d2c3e-4f50-6172-8394-a5b6c7d8e9f0';
const BUCKET = 'pgsip-lake';
const PASSWORD = 'pgsip-local';
const ROWS = 20_000;
const executionId = 'arn:aws:states:eu-west-1:123456789012:execution:Pgsip:bundled';

let postgres: RunningPostgres;
let s3: RunningS3;
let secrets: SecretsStandIn;
let glue: GlueStandIn;
let outdir: string;
let deployed: DeployedApp;
let duck: DuckDB;
let client: S3Client;

function environment(fn: DeployedFunction, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    ...resolveEnvironment(fn.environment, { [deployed.ids.bucket]: BUCKET }, { [`${deployed.ids.key}.Arn`]: KEY_ARN }),
    PATH: process.env.PATH,
    AWS_REGION: 'eu-west-1',
    AWS_ACCESS_KEY_ID: 'S3RVER',
    AWS_SECRET_ACCESS_KEY: 'S3RVER',
    AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.endpoint,
    AWS_ENDPOINT_URL_GLUE: glue.endpoint,
    PGSIP_S3_ENDPOINT: s3.endpoint,
    PGSIP_DB_TLS: 'off',
    AWS_LAMBDA_FUNCTION_NAME: fn.logicalId,
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(fn.memorySize),
    ...extra,
  };
}

const outcomes: { fn: string; outcome: BundleOutcome }[] = [];
async function invoke<T>(fn: DeployedFunction, event: unknown, extra?: Record<string, string>): Promise<T> {
  const outcome = await invokeBundle({ assetDir: fn.assetDir, handler: fn.handler, env: environment(fn, extra), event });
  outcomes.push({ fn: fn.logicalId, outcome });
  if (!outcome.ok) throw Object.assign(new Error(outcome.errorMessage), { name: outcome.errorType });
  return outcome.result as T;
}

/**
 * What the state machine's holder branch does: two loops of Hold, from generations 0 and 1, each invoking the
 * holder with the next generation it answered until it answers done. Resolves with the generations each ran.
 */
function holderLoops(input: ExecutionInput, executionName: string, extra: Record<string, string>): Promise<number[][]> {
  const loop = async (generation: number) => {
    const ran: number[] = [];
    for (;;) {
      ran.push(generation);
      const answer = await invoke<HolderResult>(deployed.holder, { action: 'hold', generation, input, executionName, executionId }, extra);
      if (answer.done) return ran;
      generation = answer.generation;
    }
  };
  return Promise.all([loop(0), loop(1)]);
}

async function object(key: string): Promise<Buffer> {
  const out = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  return Buffer.from(await out.Body!.transformToByteArray());
}

beforeAll(async () => {
  outdir = await mkdtemp(join(tmpdir(), 'pgsip-bundled-'));
  [postgres, s3] = await Promise.all([startEmbeddedPostgres(), startS3Server(BUCKET)]);
  const url = new URL(postgres.url);
  secrets = await startSecretsStandIn({
    [SECRET_ARN]: JSON.stringify({ engine: 'postgres', host: url.hostname, port: Number(url.port), dbname: 'postgres', username: 'postgres', password: PASSWORD }),
  });
  glue = await startGlueStandIn(['lake']);
  client = new S3Client({ endpoint: s3.endpoint, forcePathStyle: true, region: 'eu-west-1', credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
  const db = new pg.Client(postgres.url);
  await db.connect();
  await db.query(`
    CREATE TABLE public.orders (id bigint PRIMARY KEY, amount numeric(12,2) NOT NULL, ordered_at timestamptz, note text, details jsonb, ref uuid, tags int[]);
    INSERT INTO public.orders
    SELECT g, ((g * 7907) % 10000000)::numeric / 100, timestamptz '2024-01-01 00:00:00+00' + g * interval '1.000001 seconds',
           CASE WHEN g % 3 = 0 THEN NULL ELSE 'gift 🎁 #' || g END, jsonb_build_object('n', g, 'big', 123456789012345678901234567890),
           md5(g::text)::uuid, ARRAY[g % 7, NULL, g % 5]
      FROM generate_series(1, ${ROWS}) g;
    ANALYZE public.orders;`);
  await db.end();
  // Real bundling of all three functions, exactly as `cdk deploy` ships them.
  deployed = synthesizeDeployedApp(join(outdir, 'cdk.out'), { databaseSecretArn: SECRET_ARN, catalog: { glueDatabase: 'lake' } });
  lambdaNode();
  duck = await openDuckDB();
}, 240_000);

afterAll(async () => {
  duck?.close();
  await Promise.all([postgres?.stop(), s3?.stop(), secrets?.stop(), glue?.stop()]);
  if (outdir) await rm(outdir, { recursive: true, force: true });
});

describe('the deployed bundles, on the Lambda runtime\'s Node', () => {
  it(`run on Node ${LAMBDA_NODE_MAJOR}, the template's runtime`, () => {
    for (const fn of [deployed.plan, deployed.export, deployed.commit, deployed.holder]) expect(fn.runtime).toBe(`nodejs${LAMBDA_NODE_MAJOR}.x`);
    expect(LAMBDA_NODE_VERSION.split('.')[0]).toBe(String(LAMBDA_NODE_MAJOR));
  });

  it('export every row exactly, from one snapshot handed over between holders: Plan, each shard from the ItemReader items, Commit, Release', { timeout: 180_000 }, async () => {
    // Holders of 4 s: a successor takes over about every 3 s, so the shards import a later generation than Plan.
    const holderSeconds = { PGSIP_SNAPSHOT_HOLDER_SECONDS: '4' };
    const input = { tables: ['public.orders'], shards: 4, runId: 'bundled' };
    const holding = holderLoops(input, 'bundled', holderSeconds);
    const plan = await invoke<PlanResult>(deployed.plan, { input, executionName: 'bundled', executionId });
    expect(plan).toMatchObject({ runId: 'bundled', tableCount: 1, shardCount: 4, concurrency: 4, items: { bucket: BUCKET, key: 'exports/_runs/bundled/_shards.json' }, heldSnapshot: 'bundled' });
    const held = async () => JSON.parse((await object('exports/_runs/_snapshots/bundled/current.json')).toString('utf8')) as HeldSnapshotDocument;
    expect(await held()).toMatchObject({ origin: plan.snapshot, runId: 'bundled' });
    // Rows committed now are after the run's moment: a shard reading a snapshot of its own would export them.
    const writer = new pg.Client(postgres.url);
    await writer.connect();
    await writer.query(`INSERT INTO public.orders (id, amount) SELECT 1000000 + g, 1 FROM generate_series(1, 100) g`);
    while ((await held()).generation < 1) await new Promise((ok) => setTimeout(ok, 200));

    // What the Distributed Map does: read the items, hand each to Export wrapped by the ItemSelector.
    const items = JSON.parse((await object(plan.items.key)).toString('utf8')) as ShardTask[];
    expect(items).toHaveLength(4);
    const shards: ShardResult[] = [];
    for (const task of items) shards.push(await invoke<ShardResult>(deployed.export, { task, executionId, snapshot: plan.snapshot, heldSnapshot: plan.heldSnapshot }));
    expect(shards.reduce((n, s) => n + s.rows, 0)).toBe(ROWS);

    const commit = await invoke<CommitResult>(deployed.commit, { runId: 'bundled', executionId });
    await invoke(deployed.holder, { action: 'release', executionName: 'bundled' });
    const generations = await holding;
    // Both loops ran and each ended on the release (generation 1 took over before the shards ran).
    expect(generations[0][0]).toBe(0);
    expect(generations[1][0]).toBe(1);
    // Every holder's backend has gone.
    expect(await sessionsLike(postgres.url, 'pgsip bundled holder %')).toEqual([]);
    await writer.query('DELETE FROM public.orders WHERE id > 1000000');
    await writer.end();
    expect(commit.tables).toEqual([expect.objectContaining({ table: '"public"."orders"', rows: ROWS, catalog: { table: 'public_orders', outcome: 'created' } })]);
    // The Glue table Commit registered, as the catalog holds it: the committed run folder, the run's columns.
    const registered = glue.tables.get('lake.public_orders')!.TableInput;
    expect(registered.StorageDescriptor.Location).toBe(`s3://${BUCKET}/exports/public/orders/run=bundled/`);
    expect(registered.StorageDescriptor.Columns.map((c) => `${c.Name} ${c.Type}`)).toEqual([
      'id bigint', 'amount decimal(12,2)', 'ordered_at timestamp', 'note string', 'details string', 'ref string', 'tags array<int>',
    ]);
    expect(registered.Parameters).toMatchObject({ 'pgsip.run_id': 'bundled', 'pgsip.rows': String(ROWS), 'pgsip.types': 'portable' });

    // DuckDB reads the committed parts, starting from the manifest, and agrees with Postgres.
    const manifest = JSON.parse((await object('exports/public/orders/run=bundled/_manifest.json')).toString('utf8')) as RunManifest;
    expect(manifest).toMatchObject({ rows: ROWS, compression: 'ZSTD', consistency: 'snapshot' });
    const files: string[] = [];
    for (const part of manifest.parts) {
      const file = join(outdir, part.path);
      await writeFile(file, await object(`exports/public/orders/run=bundled/${part.path}`));
      files.push(file);
    }
    const parquet = `read_parquet([${files.map(sqlString).join(', ')}])`;
    const [fromDuck] = await duck.query(
      `SELECT count(*)::VARCHAR AS n, count(DISTINCT id)::VARCHAR AS k, sum(id)::VARCHAR AS s, sum(amount)::VARCHAR AS a,
              sum(epoch_us(ordered_at))::VARCHAR AS t, count(note)::VARCHAR AS notes, sum(strlen(note))::VARCHAR AS nb,
              sum(strlen(details::VARCHAR))::VARCHAR AS j, count(DISTINCT ref)::VARCHAR AS u, sum(list_sum(tags))::VARCHAR AS g FROM ${parquet}`,
    );
    const db = new pg.Client(postgres.url);
    await db.connect();
    // The source as it was at the run's moment: the rows written after it are gone again.
    const fromPostgres = (await db.query(
      `SELECT count(*)::text AS n, count(DISTINCT id)::text AS k, sum(id)::text AS s, sum(amount)::text AS a,
              sum((extract(epoch FROM ordered_at) * 1000000)::bigint)::text AS t, count(note)::text AS notes, sum(octet_length(note))::text AS nb,
              sum(octet_length(details::text))::text AS j, count(DISTINCT ref)::text AS u,
              sum((SELECT sum(x) FROM unnest(tags) x))::text AS g FROM public.orders`,
    )).rows[0];
    await db.end();
    expect(fromDuck).toEqual(fromPostgres);
  });

  it('log JSON lines only: each once, the codecs at start, no SDK warning, no password', () => {
    expect(outcomes.length).toBeGreaterThanOrEqual(6);
    for (const { fn, outcome } of outcomes) {
      expect(outcome.stderr, `${fn} stderr`).toBe('');
      const lines = outcome.stdout.split('\n').filter((l) => l.trim() !== '');
      const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
      const messages = parsed.filter((p) => typeof p.message === 'string').map((p) => p.message as string);
      expect(new Set(messages).size, `${fn}: ${messages.join(' | ')}`).toBe(messages.length);
      expect(outcome.stdout, fn).not.toContain(PASSWORD);
    }
    const exports = outcomes.filter((o) => o.fn === deployed.export.logicalId);
    for (const { outcome } of exports) {
      const codecs = outcome.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l)).find((p) => p.message === 'codecs');
      expect(codecs).toMatchObject({ ZSTD: expect.stringMatching(/^zstd \(node:zlib, Node 24\./), SNAPPY: 'snappy (JavaScript, hyparquet-writer)' });
    }
    // Each fresh process read the secret once: Plan, every Export and every holder (a release never connects).
    const holders = outcomes.filter((o) => o.fn === deployed.holder.logicalId && o.outcome.stdout.includes('holding the run snapshot'));
    expect(secrets.calls.get(SECRET_ARN)).toBe(1 + exports.length + holders.length);
  });

  it('keep their error names through minification, so Step Functions retries what it should', { timeout: 60_000 }, async () => {
    const plan = await invoke<PlanResult>(deployed.plan, { input: { tables: ['public.orders'], shards: 4, runId: 'bundled-retry', holdSnapshot: false }, executionName: 'bundled-retry' });
    const [task] = JSON.parse((await object(plan.items.key)).toString('utf8')) as ShardTask[];
    const failure = await invoke(deployed.export, { task, executionId, snapshot: null }, { PGSIP_FAULT: 'after-read:0:fail' }).catch((e: Error) => e);
    expect((failure as Error).name).toBe('ShardRetryableError');
    const missing = await invoke(deployed.commit, { runId: 'never-planned' }).catch((e: Error) => e);
    expect((missing as Error).name).toBe('RunDocumentError');
    expect((missing as Error).message).toMatch(/no table list at s3:\/\/pgsip-lake\/exports\/_runs\/never-planned\/_run\.json/);
  });

  it('leave the database driver, the secret client and the CA bundle out of Commit, and the Glue client out of Plan and Export', async () => {
    const bundle = await readFile(join(deployed.commit.assetDir, 'index.mjs'), 'utf8');
    for (const absent of ['pg-protocol', 'GetSecretValueCommand', 'Amazon RDS', 'pg_export_snapshot']) expect(bundle, absent).not.toContain(absent);
    expect(bundle).toContain('AWSGlue');
    const exportBundle = await readFile(join(deployed.export.assetDir, 'index.mjs'), 'utf8');
    expect(exportBundle).toContain('GetSecretValueCommand');
    for (const fn of [deployed.plan, deployed.export]) expect(await readFile(join(fn.assetDir, 'index.mjs'), 'utf8'), fn.logicalId).not.toContain('AWSGlue');
  });
});
