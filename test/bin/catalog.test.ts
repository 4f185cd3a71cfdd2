/**
 * `pgsip catalog` as a user runs it, offline over a destination `pgsip run` wrote: Athena DDL whose every column
 * type is what the Parquet holds (checked against DuckDB's reading of the same files), odd names quoted, the
 * LOCATION the committed run; the Glue JSON Commit would send; older runs by id; one clear line for what is
 * not there.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DuckDB, openDuckDB, sqlString } from '../../bin/local/duckdb-reader';
import { type RunningPostgres, startEmbeddedPostgres } from '../../bin/local/embedded-postgres';

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
