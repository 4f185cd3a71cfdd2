/**
 * `pgsip catalog` as a user runs it, offline over a destination `pgsip run` wrote: Athena DDL whose every column
 * type is what the Parquet holds (checked against DuckDB's reading of the same files), odd names quoted, the
 * LOCATION the committed run; the Glue JSON Commit would send; older runs by id; one clear line for what is
 * not there.
 */
import { execFile } from 'node:child_process';
import { CreateDatabaseCommand, CreateTableCommand, GlueClient, type TableInput } from '@aws-sdk/client-glue';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DuckDB, openDuckDB, sqlString } from '../../bin/local/duckdb-reader';
import { type RunningPostgres, startEmbeddedPostgres } from '../../bin/local/embedded-postgres';
import { LocalFolderDestination } from '../../lambdas/engine/destinations/local-folder';
import { GlueIcebergCatalog } from '../../lambdas/shared/glue-iceberg-catalog';
import { startMotoServer } from '../support/moto-server';

const CLI = fileURLToPath(new URL('../../bin/pgsip.js', import.meta.url));

function pgsip(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env: { ...process.env, DATABASE_URL: '' }, timeout: 240_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

let postgres: RunningPostgres;
let duck: DuckDB;
let work: string;
let lake: string;

beforeAll(async () => {
  postgres = await startEmbeddedPostgres();
  duck = await openDuckDB();
  work = await mkdtemp(join(tmpdir(), 'pgsip-catalog-'));
  lake = join(work, 'lake');
  const client = new pg.Client(postgres.url);
  await client.connect();
  await client.query(`
    CREATE TABLE public.orders (
      id bigint PRIMARY KEY, qty smallint, n integer, amount numeric(12,2), huge numeric(38,0), loose numeric,
      r real, d double precision, ok boolean, note text, doc jsonb, u uuid, day date, at timestamptz,
      local_at timestamp, t time, span interval, raw bytea, tags text[], amounts numeric(12,2)[], days date[]);
    INSERT INTO public.orders (id, amount, tags) SELECT g, g * 1.5, ARRAY['a', 'b'] FROM generate_series(1, 100) g;
    CREATE SCHEMA "Sales";
    CREATE TABLE "Sales"."Q1 'Totals'" ("Region\`Name" text, "it's" int);
    INSERT INTO "Sales"."Q1 'Totals'" VALUES ('north', 1);
  `);
  await client.end();
  for (const runId of ['run-one', 'run-two']) {
    const run = await pgsip(['run', '--database-url', postgres.url, '--tables', `public.orders,"Sales"."Q1 'Totals'"`, '--dest', lake, '--run-id', runId, '--quiet']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
  }
}, 240_000);
afterAll(async () => {
  duck?.close();
  await postgres?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

/** DuckDB's reading of a Parquet type, as the Hive type a catalog must declare for it. */
function hiveOf(duckType: string): string {
  if (duckType.endsWith('[]')) return `array<${hiveOf(duckType.slice(0, -2))}>`;
  const decimal = /^DECIMAL\((\d+),(\d+)\)$/.exec(duckType);
  if (decimal) return `decimal(${decimal[1]},${decimal[2]})`;
  const names: Record<string, string> = {
    BIGINT: 'bigint', INTEGER: 'int', SMALLINT: 'smallint', FLOAT: 'float', DOUBLE: 'double', BOOLEAN: 'boolean',
    VARCHAR: 'string', BLOB: 'binary', DATE: 'date', TIMESTAMP: 'timestamp', 'TIMESTAMP WITH TIME ZONE': 'timestamp',
  };
  if (!names[duckType]) throw new Error(`no Hive type known for DuckDB's ${duckType}`);
  return names[duckType];
}

describe('pgsip catalog', () => {
  it("prints Athena DDL whose column types are what DuckDB reads in the run's files, for the latest run", async () => {
    const out = await pgsip(['catalog', '--dest', lake, '--tables', 'public.orders', '--database', 'analytics']);
    expect(out.stderr).toBe('');
    expect(out.code).toBe(0);
    const ddl = out.stdout;
    expect(ddl).toMatch(/^CREATE EXTERNAL TABLE `analytics`\.`public_orders` \(\n/);
    expect(ddl).toContain(`\nSTORED AS PARQUET\nLOCATION '${`file://${lake}/public/orders/run=run-two/`}'\n`);
    expect(ddl).toContain(`'pgsip.run_id'='run-two'`);
    expect(ddl).toContain(`'classification'='parquet'`);
    const declared = [...ddl.matchAll(/^ {2}`([^`]+)` (\S+) COMMENT '([^']*)'/gm)].map((m) => [m[1], m[2]]);

    const described = await duck.query(`DESCRIBE SELECT * FROM read_parquet(${sqlString(`${lake}/public/orders/run=run-two/*.parquet`)}, hive_partitioning = false)`);
    const expected = described.map((r) => [String(r.column_name), hiveOf(String(r.column_type))]);
    expect(declared).toEqual(expected);
    // The ones the acceptance names, spelled out.
    expect(Object.fromEntries(declared)).toMatchObject({
      amount: 'decimal(12,2)', huge: 'decimal(38,0)', loose: 'string', at: 'timestamp', local_at: 'timestamp', day: 'date',
      tags: 'array<string>', amounts: 'array<decimal(12,2)>', days: 'array<date>', raw: 'binary', u: 'string', t: 'string', doc: 'string',
    });
  });

  it('quotes odd names in DDL: backticks doubled in identifiers, quotes escaped in literals', async () => {
    const out = await pgsip(['catalog', '--dest', lake, '--tables', `"Sales"."Q1 'Totals'"`]);
    expect(out.code).toBe(0);
    expect(out.stdout).toMatch(/^CREATE EXTERNAL TABLE `sales_[0-9a-f]{8}_q1_totals_[0-9a-f]{8}` \(\n {2}`region``name` string COMMENT 'text',\n {2}`it's` int COMMENT 'integer'\n\)\nCOMMENT 'pgsip export of "Sales"\."Q1 \\'Totals\\'"'\n/);
    expect(out.stdout).toContain(`'pgsip.table'='"Sales"."Q1 \\'Totals\\'"'`);
  });

  it('describes every committed table when no tables are named, and a given run by id', async () => {
    const every = await pgsip(['catalog', '--dest', lake]);
    expect(every.code).toBe(0);
    expect(every.stdout.match(/^CREATE EXTERNAL TABLE/gm)).toHaveLength(2);

    const older = await pgsip(['catalog', '--dest', lake, '--run-id', 'run-one', '--format', 'glue-json', '--database', 'analytics']);
    expect(older.code).toBe(0);
    const inputs = JSON.parse(older.stdout) as { DatabaseName: string; TableInput: { Name: string; StorageDescriptor: { Location: string }; Parameters: Record<string, string> } }[];
    expect(inputs.map((i) => i.TableInput.Name)).toEqual(['public_orders', expect.stringMatching(/^sales_[0-9a-f]{8}_q1_totals_[0-9a-f]{8}$/)]);
    for (const input of inputs) {
      expect(input.DatabaseName).toBe('analytics');
      expect(input.TableInput.StorageDescriptor.Location).toMatch(/\/run=run-one\/$/);
      expect(input.TableInput.Parameters['pgsip.run_id']).toBe('run-one');
    }
  });

  it('says in one line what is not there, with a non-zero exit', async () => {
    const missing = await pgsip(['catalog', '--dest', lake, '--tables', 'public.nope']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe(`pgsip: table "public"."nope" has no committed run under ${lake}\n`);
    const run = await pgsip(['catalog', '--dest', lake, '--run-id', 'never']);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(`pgsip: no committed run never under ${lake}\n`);
    const format = await pgsip(['catalog', '--dest', lake, '--format', 'yaml']);
    expect(format.code).toBe(2);
  });
});

describe('pgsip catalog over a destination of several kinds of table', () => {
  it('describes every table it can, and names each one it cannot with why, exiting 1', { timeout: 120_000 }, async () => {
    const mixed = join(work, 'mixed');
    const client = new pg.Client(postgres.url);
    await client.connect();
    await client.query(`
      CREATE TABLE public.ids (id bigint PRIMARY KEY, u uuid);
      INSERT INTO public.ids SELECT g, md5(g::text)::uuid FROM generate_series(1, 10) g;
      CREATE TABLE public.ice (id bigint PRIMARY KEY, note text, amount numeric(10,2), tags int[]);
      INSERT INTO public.ice SELECT g, 'n' || g, g * 1.25, ARRAY[g] FROM generate_series(1, 10) g;`);
    await client.end();
    for (const args of [['--tables', 'public.orders'], ['--tables', 'public.ids', '--types', 'native'], ['--tables', 'public.ice', '--table-format', 'iceberg']]) {
      const run = await pgsip(['run', '--database-url', postgres.url, '--dest', mixed, '--quiet', ...args]);
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
    }

    const ddl = await pgsip(['catalog', '--dest', mixed]);
    expect(ddl.code).toBe(1);
    expect(ddl.stdout.match(/^CREATE EXTERNAL TABLE `(\w+)`/gm)).toEqual(['CREATE EXTERNAL TABLE `public_orders`']);
    expect(ddl.stderr.split('\n').filter(Boolean)).toEqual([
      'pgsip: table "public"."ice" is an Iceberg table, which Athena DDL cannot register (CREATE TABLE makes a new, empty one): use --format glue-json with aws glue create-table, or pgsip run --glue-database',
      expect.stringMatching(/^pgsip: table "public"\."ids", column "u": the catalog has no uuid type/),
    ]);

    // The Glue JSON of the Iceberg table is what Iceberg's Glue catalog registers: Glue (moto) takes it, and
    // pgsip's own Glue catalog then finds the table's current metadata through it.
    const json = await pgsip(['catalog', '--dest', mixed, '--format', 'glue-json', '--database', 'lake']);
    expect(json.code).toBe(1);
    const inputs = JSON.parse(json.stdout) as { DatabaseName: string; TableInput: TableInput }[];
    expect(inputs.map((i) => i.TableInput.Name)).toEqual(['public_ice', 'public_orders']);
    const hint = (await readFile(join(mixed, 'public', 'ice', 'metadata', 'version-hint.text'), 'utf8')).trim();
    expect(inputs[0].TableInput).toMatchObject({
      Parameters: { table_type: 'ICEBERG', metadata_location: `file://${mixed}/public/ice/metadata/v${hint}.metadata.json` },
      StorageDescriptor: { Location: `file://${mixed}/public/ice` },
    });
    expect(inputs[0].TableInput.StorageDescriptor!.Columns!.map((c) => `${c.Name} ${c.Type}`)).toEqual(['id bigint', 'note string', 'amount decimal(10,2)', 'tags array<int>']);
    const moto = await startMotoServer();
    try {
      const glue = new GlueClient(moto.client);
      await glue.send(new CreateDatabaseCommand({ DatabaseInput: { Name: 'lake' } }));
      for (const input of inputs) await glue.send(new CreateTableCommand(input));
      const catalog = new GlueIcebergCatalog({ database: 'lake', destination: new LocalFolderDestination(mixed), client: glue });
      const loaded = await catalog.load({ table: '"public"."ice"', dir: 'public/ice', location: `file://${mixed}/public/ice`, schema: 'public', name: 'ice' });
      expect(loaded?.metadataLocation).toBe(inputs[0].TableInput.Parameters!.metadata_location);
      expect(loaded?.metadata.snapshots).toHaveLength(1);
      glue.destroy();
    } finally {
      await moto.stop();
    }
  });
});

