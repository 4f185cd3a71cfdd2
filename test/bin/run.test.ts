/**
 * `pgsip run` end to end: a real Postgres, the local state machine synthesized from the CDK app, a folder or a
 * real S3 server, and DuckDB reading the Parquet back value by value.
 */
import { CreateTableCommand, EntityNotFoundException, GetTableCommand, GlueClient } from '@aws-sdk/client-glue';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { mkdtemp, readFile, rm, stat, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningPostgres, startEmbeddedPostgres } from '../../bin/local/embedded-postgres';
import { type DuckDB, openDuckDB, sqlString } from '../../bin/local/duckdb-reader';
import { runLocally } from '../../bin/local/local-runner';
import { printSummary, runExport } from '../../bin/commands/run';
import { connect, targetFromUrl } from '../../lambdas/engine/postgres/connection';
import type { RunManifest } from '../../lambdas/engine/contracts';
import { LocalFolderDestination } from '../../lambdas/engine/destinations/local-folder';
import { silentLog } from '../../lambdas/engine/environment';
import { holdSnapshot } from '../../lambdas/engine/postgres/snapshot';
import { synthesizeDefinition } from '../../lib/state-machine-definition';
import { type RunningS3, startS3Server } from '../support/s3-server';
import { allStates } from '../support/definition-states';

/** Each column as the same text from both sides: Postgres on the source, DuckDB on the Parquet. */
const COLUMNS: { postgres: string; duckdb: string }[] = [
  { postgres: 'id::text', duckdb: 'id::VARCHAR' },
  { postgres: 'qty::text', duckdb: 'qty::VARCHAR' },
  { postgres: 'amount::text', duckdb: 'amount::VARCHAR' },
  { postgres: '(extract(epoch FROM at) * 1000000)::bigint::text', duckdb: 'epoch_us("at")::VARCHAR' },
  { postgres: 'note', duckdb: 'note' },
  { postgres: 'doc::text', duckdb: 'doc::VARCHAR' },
  { postgres: 'u::text', duckdb: 'u::VARCHAR' },
  { postgres: 'flag::text', duckdb: 'flag::VARCHAR' },
  { postgres: 'd::text', duckdb: 'd::VARCHAR' },
];
const ROWS = 6000;

let postgres: RunningPostgres;
let s3: RunningS3;
let duck: DuckDB;
let work: string;
let sourceRows: (string | null)[][];

async function sql(text: string): Promise<pg.QueryResult> {
  const client = new pg.Client(postgres.url);
  await client.connect();
  try {
    return await client.query(text);
  } finally {
    await client.end();
  }
}

async function exportTo(dest: string, extra: Partial<Parameters<typeof runExport>[0]> = {}) {
  return runExport(
    { databaseUrl: postgres.url, tables: 'app.items', dest, shards: '8', concurrency: '3', compression: 'snappy', quiet: true, ...extra },
    () => {},
  );
}

async function readBack(manifestPath: string): Promise<{ manifest: RunManifest; rows: (string | null)[][] }> {
  const manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as RunManifest;
  const files = manifest.parts.map((p) => sqlString(join(dirname(manifestPath), p.path))).join(', ');
  const result = await duck.query(
    `SELECT ${COLUMNS.map((c, i) => `${c.duckdb} AS c${i}`).join(', ')} FROM read_parquet([${files}]) ORDER BY id`,
  );
  return { manifest, rows: result.map((r) => COLUMNS.map((_, i) => (r[`c${i}`] ?? null) as string | null)) };
}

beforeAll(async () => {
  [postgres, s3, duck] = await Promise.all([startEmbeddedPostgres(), startS3Server(), openDuckDB()]);
  work = await mkdtemp(join(tmpdir(), 'pgsip-run-'));
  await sql(`
    CREATE SCHEMA app;
    CREATE TABLE app.items (
      id bigint PRIMARY KEY, qty integer, amount numeric(12,2), at timestamptz, note text, doc jsonb, u uuid,
      flag boolean, d date);
    -- Keys with gaps and a negative stretch, values with NULLs, microseconds, multi-byte text and big JSON numbers.
    INSERT INTO app.items
    SELECT CASE WHEN g % 2 = 0 THEN g * 1000 ELSE -g END,
           CASE WHEN g % 7 = 0 THEN NULL ELSE g % 1000 - 500 END,
           CASE WHEN g % 11 = 0 THEN NULL ELSE (g * 7907 % 100000000)::numeric / 100 - 100000 END,
           CASE WHEN g % 13 = 0 THEN NULL ELSE timestamptz '1969-12-31 23:59:59.999999+00' + g * interval '1 day 0.000137 s' END,
           CASE WHEN g % 5 = 0 THEN NULL WHEN g % 5 = 1 THEN '' ELSE 'ünïcødé ✓ 🎁 ' || g END,
           CASE WHEN g % 17 = 0 THEN NULL ELSE ('{"n": 12345678901234567890123, "f": 1.10, "g": ' || g || '}')::jsonb END,
           CASE WHEN g % 19 = 0 THEN NULL ELSE md5(g::text)::uuid END,
           CASE WHEN g % 3 = 0 THEN NULL ELSE g % 2 = 0 END,
           CASE WHEN g % 23 = 0 THEN NULL ELSE date '1900-01-01' + g * 9 END
      FROM generate_series(1, ${ROWS}) AS g;
    ANALYZE app.items;`);
  const result = await sql(`SELECT ${COLUMNS.map((c, i) => `${c.postgres} AS c${i}`).join(', ')} FROM app.items ORDER BY id`);
  sourceRows = result.rows.map((r) => COLUMNS.map((_, i) => r[`c${i}`] as string | null));
});

afterAll(async () => {
  duck?.close();
  await Promise.all([postgres?.stop(), s3?.stop()]);
  if (work) await rm(work, { recursive: true, force: true });
});

describe('pgsip run', () => {
  it('exports every row and value exactly, as DuckDB reads them back through the manifest', async () => {
    const dest = join(work, 'eight');
    const summary = await exportTo(dest, { runId: 'eight-shards' });
    expect(summary.shards).toBe(8);
    const [table] = summary.commit.tables;
    expect(table.rows).toBe(ROWS);

    const { manifest, rows } = await readBack(table.manifest);
    expect(rows).toEqual(sourceRows);
    expect(manifest).toMatchObject({ version: 1, table: '"app"."items"', runId: 'eight-shards', rows: ROWS, consistency: 'snapshot' });
    expect(manifest.columns.map((c) => [c.name, c.pgType])).toEqual([
      ['id', 'bigint'],
      ['qty', 'integer'],
      ['amount', 'numeric(12,2)'],
      ['at', 'timestamp with time zone'],
      ['note', 'text'],
      ['doc', 'jsonb'],
      ['u', 'uuid'],
      ['flag', 'boolean'],
      ['d', 'date'],
    ]);
    // Every listed part exists with the size the manifest says, and the counts add up.
    for (const part of manifest.parts) {
      expect((await stat(join(dirname(table.manifest), part.path))).size).toBe(part.bytes);
    }
    expect(manifest.parts.reduce((n, p) => n + p.rows, 0)).toBe(ROWS);
    await expect(stat(join(dirname(table.manifest), '_SUCCESS'))).resolves.toBeTruthy();
  });

  it('gives the same rows with one shard as with eight', async () => {
    const summary = await exportTo(join(work, 'one'), { shards: '1', runId: 'one-shard' });
    expect(summary.shards).toBe(1);
    const { rows } = await readBack(summary.commit.tables[0].manifest);
    expect(rows).toEqual(sourceRows);
  });

  it('takes row group and part sizes in MiB from the command line into the plan every shard follows', async () => {
    const summary = await exportTo(join(work, 'sized'), { shards: '2', runId: 'sized', rowGroupSize: '1', partSize: '3' });
    const planFile = join(dirname(summary.commit.tables[0].manifest), '_plan.json');
    const plan = JSON.parse(await readFile(planFile, 'utf8')) as { options: { rowGroupBytes: number; partBytes: number } };
    expect(plan.options).toMatchObject({ rowGroupBytes: 1024 * 1024, partBytes: 3 * 1024 * 1024 });
    const { rows } = await readBack(summary.commit.tables[0].manifest);
    expect(rows).toEqual(sourceRows);
    await expect(exportTo(join(work, 'bad-size'), { rowGroupSize: '0.5' })).rejects.toThrow(/--row-group-size must be a whole number/);
  });

  it('takes the type profile, the infinity policy and retention from the command line into the run', async () => {
    const dest = join(work, 'options');
    const first = await exportTo(dest, { shards: '2', runId: 'opt-1', types: 'native', infinity: 'clamp', keepRuns: '1', retentionGrace: '0m' });
    const manifest = JSON.parse(await readFile(first.commit.tables[0].manifest, 'utf8')) as RunManifest;
    expect(manifest.types).toBe('native');
    expect(manifest.columns.find((c) => c.name === 'at')?.infinity).toBe('clamp');
    const { rows } = await readBack(first.commit.tables[0].manifest);
    expect(rows).toEqual(sourceRows);
    // keepRuns 1 and no grace: the second run's commit deletes the first.
    await exportTo(dest, { shards: '2', runId: 'opt-2', keepRuns: '1', retentionGrace: '0m' });
    await expect(stat(join(dest, 'app', 'items', 'run=opt-1'))).rejects.toThrow(/ENOENT/);
    await expect(exportTo(dest, { retentionGrace: 'soon' })).rejects.toThrow('--retention-grace must be minutes, hours or days, like 30m, 1h or 2d (got "soon")');
  });

  it('registers each committed table in Glue with --glue-database (Glue mocked), pointing at the run on S3', async () => {
    const glue = mockClient(GlueClient);
    try {
      glue.on(GetTableCommand).rejects(new EntityNotFoundException({ message: 'Table app_items not found.', $metadata: {} }));
      glue.on(CreateTableCommand).resolves({});
      const summary = await exportTo(`s3://${s3.bucket}/glue`, { s3Endpoint: s3.endpoint, runId: 'glue-run', shards: '2', glueDatabase: 'lake' });
      expect(summary.commit.tables[0].catalog).toEqual({ table: 'app_items', outcome: 'created' });
      const [call] = glue.commandCalls(CreateTableCommand);
      expect(call.args[0].input.DatabaseName).toBe('lake');
      expect(call.args[0].input.TableInput!.StorageDescriptor!.Location).toBe(`s3://${s3.bucket}/glue/app/items/run=glue-run/`);
      const lines: string[] = [];
      printSummary(summary, (l) => lines.push(l));
      expect(lines).toContain('    catalog table app_items: created');
      await expect(exportTo(join(work, 'no-glue'), { glueDatabase: 'lake' })).rejects.toThrow(
        `--glue-database needs an s3:// destination: Glue tables point at S3, not at ${join(work, 'no-glue')}`,
      );
    } finally {
      glue.restore();
    }
  });

  it('writes to an S3 server with multipart-capable uploads and reads back the same rows', async () => {
    const summary = await exportTo(`s3://${s3.bucket}/lake`, { s3Endpoint: s3.endpoint, runId: 's3-run' });
    const [table] = summary.commit.tables;
    expect(table.manifest).toBe(`s3://${s3.bucket}/lake/app/items/run=s3-run/_manifest.json`);

    // Download exactly what the manifest lists, as a reader would, then read it with DuckDB.
    const client = new S3Client({ endpoint: s3.endpoint, forcePathStyle: true, region: 'us-east-1' });
    const get = async (key: string) =>
      Buffer.from(await (await client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: key }))).Body!.transformToByteArray());
    const local = join(work, 's3-copy', '_manifest.json');
    await mkdir(dirname(local), { recursive: true });
    const manifestBody = await get('lake/app/items/run=s3-run/_manifest.json');
    await writeFile(local, manifestBody);
    for (const part of (JSON.parse(manifestBody.toString()) as RunManifest).parts) {
      await writeFile(join(dirname(local), part.path), await get(`lake/app/items/run=s3-run/${part.path}`));
    }
    const { rows } = await readBack(local);
    expect(rows).toEqual(sourceRows);
    await expect(get('lake/app/items/run=s3-run/_SUCCESS')).resolves.toHaveLength(0);
  });

  it('runs exactly the state machine definition the CDK app synthesizes', async () => {
    const target = targetFromUrl(postgres.url);
    const result = await runLocally({
      input: { tables: ['app.items'], shards: 2, runId: 'definition-check', concurrency: 3 },
      executionName: 'definition-check',
      environment: {
        destination: new LocalFolderDestination(join(work, 'definition')),
        connect: (name) => connect(target, { applicationName: name }),
        log: silentLog,
      },
    });
    expect(result.commit.tables[0].rows).toBe(ROWS);
    // The definition's holders held the run's one snapshot, as they do on AWS.
    const manifest = JSON.parse(await readFile(result.commit.tables[0].manifest, 'utf8')) as RunManifest;
    expect(manifest.consistency).toBe('snapshot');
    expect(result.definition).toEqual(synthesizeDefinition().definition);
    const states = allStates(result.definition);
    // The shard list is read by the Map itself (ItemReader) and its concurrency comes from Plan's result: the
    // local runner served both from the same definition.
    expect(states.ExportShards).toMatchObject({
      Type: 'Map',
      MaxConcurrencyPath: '$.concurrency',
      ItemReader: { Resource: 'arn:aws:states:::s3:getObject', ReaderConfig: { InputType: 'JSON' }, Parameters: { 'Bucket.$': '$.items.bucket', 'Key.$': '$.items.key' } },
      ItemProcessor: { ProcessorConfig: { Mode: 'DISTRIBUTED' } },
    });
    expect(states.ExportShards.ItemsPath).toBeUndefined();
    expect(result.plan).toMatchObject({ shardCount: 2, concurrency: 3, items: { bucket: 'file', key: join(work, 'definition', '_runs', 'definition-check', '_shards.json') } });
  });

  it('reads every shard from the one snapshot the run holds, whatever is written meanwhile', async () => {
    const target = targetFromUrl(postgres.url);
    const holder = await connect(target, { applicationName: 'test snapshot holder' });
    const held = await holdSnapshot(holder);
    try {
      // Committed after the snapshot: a shard that read its own snapshot would export these rows.
      await sql(`INSERT INTO app.items (id) SELECT 10000000 + g FROM generate_series(1, 500) g`);
      const result = await runLocally({
        input: { tables: ['app.items'], shards: 4, runId: 'one-moment', snapshot: held.id, concurrency: 2 },
        executionName: 'one-moment',
        environment: {
          destination: new LocalFolderDestination(join(work, 'moment')),
          connect: (name) => connect(target, { applicationName: name }),
          log: silentLog,
        },
      });
      const { manifest, rows } = await readBack(result.commit.tables[0].manifest);
      expect(manifest).toMatchObject({ rows: ROWS, consistency: 'snapshot' });
      expect(rows).toEqual(sourceRows);
    } finally {
      await held.release();
      await sql('DELETE FROM app.items WHERE id > 10000000');
    }
  });

  it('never holds more connections than --concurrency, plus the one holding the snapshot', async () => {
    const watcher = new pg.Client(postgres.url);
    await watcher.connect();
    let most = 0;
    let watching = true;
    const watch = (async () => {
      while (watching) {
        const r = await watcher.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name LIKE 'pgsip%'`);
        most = Math.max(most, r.rows[0].n);
        await new Promise((ok) => setTimeout(ok, 5));
      }
    })();
    try {
      const summary = await exportTo(join(work, 'budget'), { shards: '6', concurrency: '2', runId: 'budget' });
      expect(summary.commit.tables[0].rows).toBe(ROWS);
    } finally {
      watching = false;
      await watch;
      await watcher.end();
    }
    expect(most).toBeGreaterThanOrEqual(2);
    expect(most).toBeLessThanOrEqual(3);
  });

  it('exports a quoted table name, an empty table and a table with a quoted text key (split too)', async () => {
    await sql(`
      CREATE TABLE public."Weird Table" ("Key" text PRIMARY KEY, "Value;--" integer);
      INSERT INTO public."Weird Table" SELECT 'k' || g, g FROM generate_series(1, 500) g;
      CREATE TABLE public.empty (id bigint PRIMARY KEY, v text);`);
    const summary = await runExport(
      { databaseUrl: postgres.url, tables: 'public."Weird Table",public.empty', dest: join(work, 'odd'), shards: '4', concurrency: '2', compression: 'snappy', quiet: true },
      () => {},
    );
    const [weird, empty] = summary.commit.tables;
    expect(weird).toMatchObject({ table: '"public"."Weird Table"', rows: 500, parts: 4 });
    expect(weird.manifest).toMatch(/\/public\/weird_table-[0-9a-f]{8}\/run=/);
    const keys = await duck.query(
      `SELECT count(DISTINCT "Key")::INT AS k, sum("Value;--")::BIGINT AS s FROM read_parquet(${sqlString(join(dirname(weird.manifest), '*.parquet'))})`,
    );
    expect(keys[0]).toEqual({ k: 500, s: 125250n });
    expect(empty).toMatchObject({ table: '"public"."empty"', rows: 0 });
    const emptyRows = await duck.query(`SELECT count(*)::INT AS n FROM read_parquet(${sqlString(join(dirname(empty.manifest), '*.parquet'))})`);
    expect(emptyRows[0].n).toBe(0);
  });
});

