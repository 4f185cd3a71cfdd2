/**
 * The deployed path, run as Lambda runs it: the app synthesized with real esbuild bundling, and Plan -> every
 * Export shard -> Commit executed from the asset folders in cdk.out, each invocation a fresh process of the
 * Lambda runtime's Node major, with the function's environment from the template. AWS is stood in for by a
 * real S3-compatible server (s3rver) and by moto (test/support/moto-server.ts) for Secrets Manager and Glue:
 * the secret is created there through the SDK, moto's recorder counts the bundles' GetSecretValue calls, and
 * Commit's table is read back with GetTable. The test plays Step Functions (reading the ItemReader's items,
 * shaping each shard's event as the ItemSelector does). DuckDB checks the rows.
 *
 * The only variables that do not come from the template point the SDK at the stand-ins (endpoints, region,
 * dummy credentials) and turn TLS off (the embedded Postgres has none).
 */
import { CreateDatabaseCommand, GetTableCommand, GlueClient } from '@aws-sdk/client-glue';
import { CreateBucketCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { CreateTableBucketCommand, GetTableMetadataLocationCommand, S3TablesClient } from '@aws-sdk/client-s3tables';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
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
import type { CommitOutput, ExecutionInput, HeldSnapshotDocument, HolderResult, PlanResult, RunManifest, ShardResult, ShardTask } from '../../lambdas/engine/contracts';
import { LAMBDA_NODE_MAJOR } from '../../lib/pgsip-function';
import { type RunningMoto, startMotoServer } from '../support/moto-server';
import { type RunningS3, startS3Server } from '../support/s3-server';
import { readIcebergTableOnS3 } from '../support/icebird-local';
import { queryRows, sessionsLike } from '../support/postgres-queries';

const BUCKET = 'pgsip-lake';
const PASSWORD = 'pgsip-local';
const ROWS = 20_000;
const executionId = 'arn:aws:states:eu-west-1:123456789012:execution:Pgsip:bundled';

let postgres: RunningPostgres;
let s3: RunningS3;
/** Secrets Manager and Glue. */
let moto: RunningMoto;
/** The ARN moto gave the source's secret. */
let secretArn: string;
/** The stack key's ARN: a key moto's KMS made (s3rver ignores SSE; moto's S3 keeps it). */
let keyArn: string;
/** moto's S3, for the variant that writes there. */
let motoS3: S3Client;
let outdir: string;
let deployed: DeployedApp;
let duck: DuckDB;
let client: S3Client;

function environment(fn: DeployedFunction, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    ...resolveEnvironment(fn.environment, { [deployed.ids.bucket]: BUCKET }, { [`${deployed.ids.key}.Arn`]: keyArn }),
    PATH: process.env.PATH,
    AWS_REGION: 'eu-west-1',
    // s3rver accepts only its own key; moto accepts any.
    AWS_ACCESS_KEY_ID: 'S3RVER',
    AWS_SECRET_ACCESS_KEY: 'S3RVER',
    AWS_ENDPOINT_URL_SECRETS_MANAGER: moto.endpoint,
    AWS_ENDPOINT_URL_GLUE: moto.endpoint,
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

async function object(key: string, from = client, bucket = BUCKET): Promise<Buffer> {
  const out = await from.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await out.Body!.transformToByteArray());
}

beforeAll(async () => {
  outdir = await mkdtemp(join(tmpdir(), 'pgsip-bundled-'));
  [postgres, s3, moto] = await Promise.all([startEmbeddedPostgres(), startS3Server(BUCKET), startMotoServer({ region: 'eu-west-1', record: true })]);
  const url = new URL(postgres.url);
  const secretsManager = new SecretsManagerClient(moto.client);
  const created = await secretsManager.send(new CreateSecretCommand({
    Name: 'pgsip/source',
    SecretString: JSON.stringify({ engine: 'postgres', host: url.hostname, port: Number(url.port), dbname: 'postgres', username: 'postgres', password: PASSWORD }),
  }));
  secretsManager.destroy();
  secretArn = created.ARN!;
  const glue = new GlueClient(moto.client);
  await glue.send(new CreateDatabaseCommand({ DatabaseInput: { Name: 'lake' } }));
  glue.destroy();
  keyArn = (await moto.call<{ KeyMetadata: { Arn: string } }>('kms', 'TrentService.CreateKey', { Description: 'pgsip lake' })).KeyMetadata.Arn;
  motoS3 = new S3Client({ ...moto.client, forcePathStyle: true });
  await motoS3.send(new CreateBucketCommand({ Bucket: BUCKET, CreateBucketConfiguration: { LocationConstraint: 'eu-west-1' } }));
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
  // Real bundling of all five functions, exactly as `cdk deploy` ships them.
  deployed = synthesizeDeployedApp(join(outdir, 'cdk.out'), { databaseSecretArn: secretArn, catalog: { glueDatabase: 'lake' } });
  lambdaNode();
  duck = await openDuckDB();
}, 240_000);

afterAll(async () => {
  duck?.close();
  motoS3?.destroy();
  await Promise.all([postgres?.stop(), s3?.stop(), moto?.stop()]);
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

    const commit = await invoke<CommitOutput>(deployed.commit, { runId: 'bundled', executionId });
    await invoke(deployed.holder, { action: 'release', executionName: 'bundled' });
    const generations = await holding;
    // Both loops ran and each ended on the release (generation 1 took over before the shards ran).
    expect(generations[0][0]).toBe(0);
    expect(generations[1][0]).toBe(1);
    // Every holder's backend has gone.
    expect(await sessionsLike(postgres.url, 'pgsip bundled holder %')).toEqual([]);
    await writer.query('DELETE FROM public.orders WHERE id > 1000000');
    await writer.end();
    // The function answers counts (the execution's output must not grow with the tables).
    expect(commit).toEqual({ runId: 'bundled', tables: 1, rows: ROWS, bytes: expect.any(Number), parts: expect.any(Number), catalog: { created: 1 } });
    // The Glue table Commit registered, as the catalog holds it: the committed run folder, the run's columns.
    const glue = new GlueClient(moto.client);
    const registered = (await glue.send(new GetTableCommand({ DatabaseName: 'lake', Name: 'public_orders' }))).Table!;
    glue.destroy();
    expect(registered.StorageDescriptor!.Location).toBe(`s3://${BUCKET}/exports/public/orders/run=bundled/`);
    expect(registered.StorageDescriptor!.Columns!.map((c) => `${c.Name} ${c.Type}`)).toEqual([
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

  it('log JSON lines only: each once, the codecs at start, no SDK warning, no password', async () => {
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
    const secretReads = (await moto.recorded()).filter((r) => r.target === 'secretsmanager.GetSecretValue' && (JSON.parse(r.body) as { SecretId?: string }).SecretId === secretArn);
    expect(secretReads.length).toBe(1 + exports.length + holders.length);
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

  it('include the failure function, which passes a Plan error through and, asking Step Functions (moto: no Map Runs) about a Map failure, keeps the caught error', { timeout: 60_000 }, async () => {
    expect(deployed.failure.runtime).toBe(`nodejs${LAMBDA_NODE_MAJOR}.x`);
    const planFailed = { Error: 'TableLockedError', Cause: '{"errorType":"TableLockedError","errorMessage":"table \\"public\\".\\"orders\\" is locked"}' };
    expect(await invoke(deployed.failure, { caught: planFailed, executionId })).toEqual(planFailed);
    const mapFailed = { Error: 'States.ExceedToleratedFailureThreshold', Cause: 'The specified tolerated failure threshold was exceeded' };
    expect(await invoke(deployed.failure, { caught: mapFailed, executionId }, { AWS_ENDPOINT_URL_SFN: moto.endpoint })).toEqual(mapFailed);
    const asked = outcomes.filter((o) => o.fn === deployed.failure.logicalId).at(-1)!.outcome;
    // Powertools writes warnings to stderr, as JSON lines like the rest.
    const warning = JSON.parse(asked.stderr.trim()) as { level: string; message: string };
    expect(warning).toMatchObject({ level: 'WARN', message: 'the Map failed but no failed shard was found; the execution fails with the Map error' });
    expect((await moto.recorded()).some((r) => r.target === 'AWSStepFunctions.ListMapRuns')).toBe(true);
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

describe('the deployed bundles, against moto\'s S3', () => {
  it('write create-only shard manifests (of two attempts at once, one wins and both answer its result), every object SSE-KMS with the stack key, and move the Glue table to the run', { timeout: 120_000 }, async () => {
    const onMoto = { PGSIP_S3_ENDPOINT: moto.endpoint };
    const input = { tables: ['public.orders'], shards: 2, runId: 'bundled-moto', holdSnapshot: false };
    const plan = await invoke<PlanResult>(deployed.plan, { input, executionName: 'bundled-moto', executionId }, onMoto);
    const items = JSON.parse((await object(plan.items.key, motoS3)).toString('utf8')) as ShardTask[];
    // Shard 0 runs twice at once (Step Functions retrying a shard whose answer was lost while the first attempt
    // still runs): both find no manifest and export, moto's If-None-Match lets one manifest in, and the other
    // attempt answers the winner's result. A lock on the table holds both attempts at their read until each has
    // looked for the manifest and found none. The other shard runs once.
    const before = outcomes.length;
    const lock = new pg.Client(postgres.url);
    await lock.connect();
    await lock.query('BEGIN; LOCK TABLE public.orders IN ACCESS EXCLUSIVE MODE');
    const racing = Promise.all([0, 1].map(() => invoke<ShardResult>(deployed.export, { task: items[0], executionId, snapshot: plan.snapshot }, onMoto)));
    try {
      const waiting = async () =>
        (await queryRows<{ n: number }>(postgres.url, `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name LIKE 'pgsip bundled-moto % #0' AND wait_event_type = 'Lock'`))[0].n;
      for (const until = Date.now() + 8_000; (await waiting()) < 2 && Date.now() < until; ) await new Promise((ok) => setTimeout(ok, 100));
      expect(await waiting()).toBe(2);
    } finally {
      await lock.query('ROLLBACK');
      await lock.end();
    }
    const [first, second] = await racing;
    const shards: ShardResult[] = [];
    expect(second).toEqual(first);
    const attempts = outcomes.slice(before).map((o) => o.outcome.stdout);
    expect(attempts.filter((out) => out.includes('"shard exported"'))).toHaveLength(1);
    expect(attempts.filter((out) => out.includes('shard already finished'))).toHaveLength(0);
    shards.push(first);
    for (const task of items.slice(1)) shards.push(await invoke<ShardResult>(deployed.export, { task, executionId, snapshot: plan.snapshot }, onMoto));
    await invoke(deployed.commit, { runId: 'bundled-moto', executionId }, onMoto);

    const db = new pg.Client(postgres.url);
    await db.connect();
    const { n } = (await db.query<{ n: string }>('SELECT count(*)::text AS n FROM public.orders')).rows[0];
    await db.end();
    const runDir = 'exports/public/orders/run=bundled-moto';
    const manifest = JSON.parse((await object(`${runDir}/_manifest.json`, motoS3)).toString('utf8')) as RunManifest;
    expect(manifest.rows).toBe(Number(n));
    expect(shards.reduce((sum, s) => sum + s.rows, 0)).toBe(Number(n));
    const keys: string[] = [];
    let ContinuationToken: string | undefined;
    do {
      const page = await motoS3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'exports/', ContinuationToken }));
      keys.push(...(page.Contents ?? []).map((o) => o.Key!));
      ContinuationToken = page.NextContinuationToken;
    } while (ContinuationToken);
    // Only the parts the manifest lists are left in the run folder: the retried attempt's were swept.
    expect(keys.filter((k) => k.startsWith(`${runDir}/`) && k.endsWith('.parquet')).sort()).toEqual(manifest.parts.map((p) => `${runDir}/${p.path}`).sort());
    expect(keys).toContain(`${runDir}/_SUCCESS`);
    // Every object the functions wrote asked for SSE-KMS with the stack's key (s3rver cannot show this).
    for (const key of keys) {
      const head = await motoS3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }));
      expect({ key, sse: head.ServerSideEncryption, keyId: head.SSEKMSKeyId }).toEqual({ key, sse: 'aws:kms', keyId: keyArn });
    }
    const glue = new GlueClient(moto.client);
    const table = (await glue.send(new GetTableCommand({ DatabaseName: 'lake', Name: 'public_orders' }))).Table!;
    glue.destroy();
    expect(table.StorageDescriptor!.Location).toBe(`s3://${BUCKET}/${runDir}/`);
    expect(table.Parameters).toMatchObject({ 'pgsip.run_id': 'bundled-moto', 'pgsip.rows': n });
  });

  it('keep a partitioned Iceberg table in Glue exact across incremental runs on ZSTD: rows read again deleted by position, every id once, read back by icebird', { timeout: 180_000 }, async () => {
    const onMoto = { PGSIP_S3_ENDPOINT: moto.endpoint };
    const sql = async (text: string) => {
      const db = new pg.Client(postgres.url);
      await db.connect();
      try {
        await db.query(text);
      } finally {
        await db.end();
      }
    };
    await sql(`CREATE TABLE public.log (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp(), msg text);
               INSERT INTO public.log (msg) SELECT 'm' || g FROM generate_series(1, 3000) g;`);
    const run = async (runId: string, extra: Partial<ExecutionInput> = {}) => {
      const input: ExecutionInput = { tables: ['public.log'], shards: 2, runId, holdSnapshot: false, tableFormat: 'iceberg', incremental: { 'public.log': { cursor: 'id' } }, partitionBy: { 'public.log': 'bucket(2, id)' }, ...extra };
      const plan = await invoke<PlanResult>(deployed.plan, { input, executionName: runId, executionId }, onMoto);
      for (const task of JSON.parse((await object(plan.items.key, motoS3)).toString('utf8')) as ShardTask[]) {
        await invoke<ShardResult>(deployed.export, { task, executionId, snapshot: plan.snapshot }, onMoto);
      }
      return invoke<CommitOutput>(deployed.commit, { runId, executionId }, onMoto);
    };
    const glue = new GlueClient(moto.client);
    let snapshots = 0;
    const expectTableEqualsSource = async () => {
      const table = (await glue.send(new GetTableCommand({ DatabaseName: 'lake', Name: 'public_log' }))).Table!;
      expect(table.Parameters).toMatchObject({ table_type: 'ICEBERG', metadata_location: expect.stringMatching(/^s3:\/\/pgsip-lake\/exports\/public\/log\/metadata\/v\d+\.metadata\.json$/) });
      const metadata = JSON.parse((await object(table.Parameters!.metadata_location!.slice(`s3://${BUCKET}/`.length), motoS3)).toString('utf8')) as { snapshots: { summary: Record<string, string> }[] };
      snapshots = metadata.snapshots.length;
      const want = (await queryRows<{ id: string }>(postgres.url, 'SELECT id::text AS id FROM public.log ORDER BY log.id')).map((r) => r.id);
      const got = (await readIcebergTableOnS3(`s3://${BUCKET}/exports/public/log`, motoS3)).map((r) => String(r.id)).sort((a, b) => Number(a) - Number(b));
      expect(got).toEqual(want);
      return metadata.snapshots.at(-1)!.summary;
    };
    try {
      await run('ice-1');
      await expectTableEqualsSource();
      // A transaction takes the next id and stays open while later ids commit: the next run cannot see it.
      const late = new pg.Client(postgres.url);
      await late.connect();
      await late.query(`BEGIN; INSERT INTO public.log (msg) VALUES ('late')`);
      await sql(`INSERT INTO public.log (msg) SELECT 'n' || g FROM generate_series(1, 200) g`);
      await run('ice-2');
      await expectTableEqualsSource();
      await late.query('COMMIT');
      await late.end();
      await sql(`INSERT INTO public.log (msg) SELECT 'o' || g FROM generate_series(1, 50) g`);
      // With retention of one snapshot, no grace: the two before expire, through Glue, after the commit.
      const third = await run('ice-3', { keepRuns: 1, retentionGraceMinutes: 0 });
      // The late row, 50 new ones, and 201 read again (below).
      expect(third).toMatchObject({ rows: 252 });
      // The third run read again the second's 200 rows and the first's last (its watermark, inclusive, stood at
      // the newest id before the open transaction), found them in the table's earlier ZSTD files (read on the
      // runtime's Node), and deleted those copies by position.
      const head = await expectTableEqualsSource();
      // One delete file per bucket the rows read again are in.
      expect(head).toMatchObject({ operation: 'overwrite', 'pgsip.run-id': 'ice-3', 'added-position-deletes': '201', 'added-delete-files': '2' });
      expect(snapshots).toBe(1);
      const manifest = JSON.parse((await object('exports/public/log/run=ice-3/_manifest.json', motoS3)).toString('utf8')) as RunManifest;
      expect(manifest.compression).toBe('ZSTD');
      // compactAtDeleteFiles: the Commit that leaves the table with delete files compacts it, through Glue, its
      // ZSTD files read and written again on the runtime's Node, in a `run=_compact-*` folder.
      await sql(`INSERT INTO public.log (msg) SELECT 'p' || g FROM generate_series(1, 20) g`);
      await run('ice-4', { compactAtDeleteFiles: 1 });
      expect(await expectTableEqualsSource()).toMatchObject({ operation: 'replace', 'total-delete-files': '0', 'pgsip.compaction': expect.stringMatching(/^compact-/) });
      const compactedKeys = (await motoS3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'exports/public/log/run=_compact-' }))).Contents ?? [];
      expect(compactedKeys.length).toBeGreaterThan(0);
    } finally {
      glue.destroy();
    }
  });
  it('keep an Iceberg table in an S3 Tables table bucket exact across runs, deletes carried: Plan creates it, Export writes to its storage and reads the keyset, Commit swaps its metadata location with the version token', { timeout: 180_000 }, async () => {
    // moto serves S3 Tables in us-east-1 (its bundled endpoint data); the functions take the region from the ARN.
    const tables = new S3TablesClient({ ...moto.client, region: 'us-east-1' });
    const tableBucketArn = (await tables.send(new CreateTableBucketCommand({ name: 'bundled-lake' }))).arn!;
    // PGSIP_TABLE_BUCKET_ARN is what the template gives Plan, Export and Commit when `tableBucketArn` is set
    // (test/lib/production-stack.test.ts); the rest points the SDK at moto.
    const onMoto = { PGSIP_S3_ENDPOINT: moto.endpoint, PGSIP_TABLE_BUCKET_ARN: tableBucketArn, AWS_ENDPOINT_URL_S3TABLES: moto.endpoint };
    await queryRows(postgres.url, `CREATE TABLE public.events (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, msg text, amount numeric(10,2));
                                   INSERT INTO public.events (msg, amount) SELECT 'e' || g, g / 8.0 FROM generate_series(1, 2000) g`);
    const run = async (runId: string, extra: Partial<ExecutionInput> = {}) => {
      const input: ExecutionInput = { tables: ['public.events'], shards: 2, runId, holdSnapshot: false, tableFormat: 'iceberg', incremental: { 'public.events': { cursor: 'id', deletes: 'keyset' } }, ...extra };
      const plan = await invoke<PlanResult>(deployed.plan, { input, executionName: runId, executionId }, onMoto);
      for (const task of JSON.parse((await object(plan.items.key, motoS3)).toString('utf8')) as ShardTask[]) {
        await invoke<ShardResult>(deployed.export, { task, executionId, snapshot: plan.snapshot }, onMoto);
      }
      return invoke<CommitOutput>(deployed.commit, { runId, executionId }, onMoto);
    };
    const expectTableEqualsSource = async () => {
      const found = await tables.send(new GetTableMetadataLocationCommand({ tableBucketARN: tableBucketArn, namespace: 'public', name: 'events' }));
      const warehouse = found.warehouseLocation!;
      expect(found.metadataLocation!.startsWith(`${warehouse}/metadata/`)).toBe(true);
      const rows = await readIcebergTableOnS3(warehouse, motoS3, found.metadataLocation!.slice(found.metadataLocation!.lastIndexOf('/') + 1));
      const want = await queryRows<{ id: string; msg: string }>(postgres.url, 'SELECT id::text AS id, msg FROM public.events ORDER BY events.id');
      expect(rows.map((r) => ({ id: String(r.id), msg: r.msg })).sort((a, b) => Number(a.id) - Number(b.id))).toEqual(want);
    };
    try {
      expect(await run('s3t-1')).toMatchObject({ rows: 2000 });
      await expectTableEqualsSource();
      // New rows, and rows deleted at the source, which the keyset each shard reads removes from the table.
      await queryRows(postgres.url, `INSERT INTO public.events (msg, amount) SELECT 'f' || g, g FROM generate_series(1, 300) g; DELETE FROM public.events WHERE id % 100 = 0`);
      // compactAtDeleteFiles: the same Commit compacts the table it left with delete files, in its storage.
      await run('s3t-2', { compactAtDeleteFiles: 1 });
      await expectTableEqualsSource();
      const found = await tables.send(new GetTableMetadataLocationCommand({ tableBucketARN: tableBucketArn, namespace: 'public', name: 'events' }));
      const [, bucket, key] = /^s3:\/\/([^/]+)\/(.+)$/.exec(found.metadataLocation!)!;
      const metadata = JSON.parse((await object(key, motoS3, bucket)).toString('utf8')) as { snapshots: { summary: Record<string, string> }[] };
      expect(metadata.snapshots.at(-1)!.summary).toMatchObject({ operation: 'replace', 'total-delete-files': '0' });
      // The export prefix holds the runs' documents and none of the table's files.
      const keys = (await motoS3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'exports/public/events/' }))).Contents!.map((o) => o.Key!);
      expect(keys).toContain('exports/public/events/run=s3t-2/_SUCCESS');
      expect(keys.filter((k) => k.endsWith('.parquet') || k.includes('/metadata/'))).toEqual([]);
    } finally {
      tables.destroy();
    }
  });
});
