/**
 * Incremental runs with real concurrent sessions, through `pgsip run` (the CLI's snapshot holder and the local
 * state machine) and through the engine phases without a held snapshot (as on AWS): transactions that commit
 * out of order around a run, updates with equal timestamps at the watermark, NULL cursors. After every run the
 * runs `_latest.json` lists, deduplicated on the primary key keeping the newest run's row, equal the source
 * value by value (DuckDB), and each run read only what it had to.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningPostgres, startEmbeddedPostgres } from '../../../../bin/local/embedded-postgres';
import { type DuckDB, openDuckDB, sqlString } from '../../../../bin/local/duckdb-reader';
import { runExport, type RunSummary } from '../../../../bin/commands/run';
import { describeCatalog } from '../../../../bin/commands/catalog';
import { runLocally } from '../../../../bin/local/local-runner';
import { buildApp } from '../../../../lib/pgsip-app';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { commitRun } from '../../../../lambdas/engine/commit-run';
import type { ExecutionInput, RunManifest } from '../../../../lambdas/engine/contracts';
import { LocalFolderDestination } from '../../../../lambdas/engine/destinations/local-folder';
import { type EngineEnvironment, silentLog } from '../../../../lambdas/engine/environment';
import { exportShard } from '../../../../lambdas/engine/export-shard';
import { planRun } from '../../../../lambdas/engine/plan-run';
import { connect, targetFromUrl } from '../../../../lambdas/engine/postgres/connection';
import { readDocument, readShardList } from '../../../../lambdas/engine/run/documents';

let postgres: RunningPostgres;
let duck: DuckDB;
let work: string;
let admin: pg.Client;

beforeAll(async () => {
  [postgres, duck] = await Promise.all([startEmbeddedPostgres(), openDuckDB()]);
  work = await mkdtemp(join(tmpdir(), 'pgsip-incremental-'));
  admin = await session();
});
afterAll(async () => {
  await admin?.end();
  duck?.close();
  await postgres?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

async function session(): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: postgres.url, application_name: 'app' });
  await client.connect();
  return client;
}

/** The runs `_latest.json` lists, deduplicated on `key` keeping the newest run's row, as text rows. */
async function lakeTable(dest: string, folder: string, columns: string[], casts: Record<string, string> = {}, key = 'id'): Promise<string[][]> {
  const destination = new LocalFolderDestination(dest);
  const latest = (await readDocument(destination, 'latest', `${folder}/_latest.json`))!;
  const selects: string[] = [];
  for (const [ordinal, ref] of latest.runs.entries()) {
    const manifest = (await readDocument(destination, 'manifest', `${folder}/${ref.manifest}`))!;
    const runDir = join(dest, folder, ref.manifest.slice(0, ref.manifest.lastIndexOf('/')));
    if (manifest.parts.length === 0) continue;
    const files = manifest.parts.map((p) => sqlString(join(runDir, p.path))).join(', ');
    selects.push(`SELECT ${ordinal} AS run_ordinal, * FROM read_parquet([${files}], hive_partitioning = false)`);
  }
  const rows = await duck.query(
    `SELECT ${columns.map((c) => `CAST(${casts[c] ?? `"${c}"`} AS VARCHAR) AS "${c}"`).join(', ')} FROM (
       SELECT *, row_number() OVER (PARTITION BY ${key} ORDER BY run_ordinal DESC) AS newest FROM (${selects.join(' UNION ALL BY NAME ')})
     ) WHERE newest = 1 ORDER BY ${key}`,
  );
  return rows.map((r) => columns.map((c) => (r[c] === null ? null : String(r[c])) as string));
}

async function source(table: string, columns: string[], casts: Record<string, string> = {}): Promise<string[][]> {
  const rows = await admin.query({ text: `SELECT ${columns.map((c) => `${casts[c] ?? `${c}::text`} AS ${c}`).join(', ')} FROM ${table} ORDER BY id`, rowMode: 'array' });
  return rows.rows as string[][];
}

const run = (dest: string, table: string, runId: string, extra: Record<string, unknown> = {}): Promise<RunSummary> =>
  runExport({ databaseUrl: postgres.url, tables: table, dest, shards: '2', concurrency: '2', compression: 'snappy', quiet: true, runId, ...extra }, () => {});

async function manifestOf(summary: RunSummary): Promise<RunManifest> {
  const dir = summary.commit.tables[0].manifest.slice(0, -'/_manifest.json'.length);
  return (await readDocument(new LocalFolderDestination(dir), 'manifest', '_manifest.json'))!;
}

describe('append-only, by a sequence key', () => {
  const dest = () => join(work, 'events');
  const COLUMNS = ['id', 'v'];

  it('picks up a row whose transaction was open during a run and committed below the new watermark, exactly once', async () => {
    await admin.query(`CREATE TABLE public.events (id bigserial PRIMARY KEY, v text NOT NULL);
                       INSERT INTO public.events (v) SELECT 'e' || g FROM generate_series(1, 100) g;`);
    const first = await run(dest(), 'public.events', 'ev-0', { incremental: 'id' });
    expect(first.commit.tables[0].incremental).toMatchObject({ mode: 'full', reason: 'the table has no committed run yet' });

    // A transaction takes id 101 and stays open; later ones commit 102..106 before the next run.
    const late = await session();
    await late.query(`BEGIN; INSERT INTO public.events (v) VALUES ('late')`);
    await admin.query(`INSERT INTO public.events (v) SELECT 'after' || g FROM generate_series(1, 5) g`);
    const second = await run(dest(), 'public.events', 'ev-1', { incremental: 'id' });
    const m1 = await manifestOf(second);
    expect(m1).toMatchObject({ mode: 'incremental', rows: 6, incremental: { cursor: 'id', from: '100', through: '106', continues: 'ev-0' } });
    expect(await lakeTable(dest(), 'public/events', COLUMNS)).toEqual((await source('public.events', COLUMNS)));

    await late.query('COMMIT'); // id 101, below run ev-1's greatest id
    await late.end();
    await admin.query(`INSERT INTO public.events (v) VALUES ('x1'), ('x2')`);
    const third = await run(dest(), 'public.events', 'ev-2', { incremental: 'id' });
    const m2 = await manifestOf(third);
    // Run ev-1 saw a transaction open since before it read: ev-2 starts from ev-0's watermark again, so it
    // reads 101 (and re-reads 102..106, which deduplicate).
    expect(m2).toMatchObject({ mode: 'incremental', incremental: { from: '100', through: '108', continues: 'ev-1' } });
    expect(await lakeTable(dest(), 'public/events', COLUMNS)).toEqual(await source('public.events', COLUMNS));
    const latest = await readDocument(new LocalFolderDestination(dest()), 'latest', 'public/events/_latest.json');
    expect(latest?.runs.map((r) => `${r.runId}:${r.mode}`)).toEqual(['ev-0:full', 'ev-1:incremental', 'ev-2:incremental']);

    // Nothing open any more: the next run starts from a watermark taken just before its predecessor's snapshot.
    const fourth = await run(dest(), 'public.events', 'ev-3', { incremental: 'id' });
    const m3 = await manifestOf(fourth);
    expect(m3).toMatchObject({ mode: 'incremental', rows: 1, incremental: { from: '108' } });
    expect(await lakeTable(dest(), 'public/events', COLUMNS)).toEqual(await source('public.events', COLUMNS));
  });

  it('pgsip catalog describes the chain: a table over the runs, a partition per run, and a view that deduplicates, which gives the source', async () => {
    const { text: ddl, undescribed } = await describeCatalog({ dest: dest(), tables: 'public.events', format: 'athena-ddl' });
    expect(undescribed).toEqual([]);
    expect(ddl).toMatch(/^CREATE EXTERNAL TABLE `public_events_runs` \(\n/);
    expect(ddl).toContain("PARTITIONED BY (`pgsip_run` string COMMENT 'the pgsip run the row was read in')");
    expect(ddl).toContain(`LOCATION 'file://${dest()}/public/events/'`);
    for (const id of ['ev-0', 'ev-1', 'ev-2', 'ev-3']) expect(ddl).toContain(`PARTITION (\`pgsip_run\` = '${id}') LOCATION 'file://${dest()}/public/events/run=${id}/'`);
    const view = /CREATE OR REPLACE VIEW "public_events" AS\n([\s\S]*);$/.exec(ddl)?.[1];
    expect(view).toBeDefined();

    // The view's SQL, run by DuckDB over the same runs table (its partitions as a column): the source.
    const destination = new LocalFolderDestination(dest());
    const latest = (await readDocument(destination, 'latest', 'public/events/_latest.json'))!;
    const parts: string[] = [];
    for (const ref of latest.runs) {
      const manifest = (await readDocument(destination, 'manifest', `public/events/${ref.manifest}`))!;
      for (const part of manifest.parts) parts.push(`SELECT *, ${sqlString(ref.runId)} AS pgsip_run FROM read_parquet(${sqlString(join(dest(), 'public/events', `run=${ref.runId}`, part.path))})`);
    }
    await duck.query(`CREATE OR REPLACE VIEW public_events_runs AS ${parts.join(' UNION ALL ')}`);
    const rows = await duck.query(`SELECT id::VARCHAR AS id, v FROM (${view}) ORDER BY id`);
    expect(rows.map((r) => [r.id, r.v])).toEqual(await source('public.events', COLUMNS));

    const json = JSON.parse((await describeCatalog({ dest: dest(), tables: 'public.events', format: 'glue-json', database: 'lake' })).text) as {
      TableInput: { Name: string; PartitionKeys: { Name: string }[] };
      PartitionInputList: { Values: string[]; StorageDescriptor: { Location: string } }[];
      AthenaView: { Name: string; Sql: string };
    }[];
    expect(json[0].TableInput).toMatchObject({ Name: 'public_events_runs', PartitionKeys: [{ Name: 'pgsip_run' }] });
    expect(json[0].PartitionInputList.map((p) => p.Values[0])).toEqual(['ev-0', 'ev-1', 'ev-2', 'ev-3']);
    expect(json[0].AthenaView).toMatchObject({ Name: 'public_events', Sql: expect.stringContaining('FROM "lake"."public_events_runs"') });
    expect(await describeCatalog({ dest: dest(), tables: 'public.events', format: 'athena-ddl', runId: 'ev-2' })).toEqual({
      text: '',
      undescribed: ['run ev-2 of "public"."events" is incremental: it holds only the rows that changed; leave out --run-id to describe the table\'s runs'],
    });
  });

  it('--full reads the whole table and starts a new chain', async () => {
    const summary = await run(dest(), 'public.events', 'ev-full', { incremental: 'id', full: true });
    expect(summary.commit.tables[0]).toMatchObject({ rows: 108, incremental: { mode: 'full', reason: 'a full run was asked for' } });
    const latest = await readDocument(new LocalFolderDestination(dest()), 'latest', 'public/events/_latest.json');
    expect(latest?.runs.map((r) => r.runId)).toEqual(['ev-full']);
    expect(await lakeTable(dest(), 'public/events', COLUMNS)).toEqual(await source('public.events', COLUMNS));
  });
});

describe('mutable rows, by an updated_at the database sets', () => {
  const dest = () => join(work, 'orders');
  const COLUMNS = ['id', 'amount', 'updated_at'];
  // Instants compared as microseconds since the epoch on both sides.
  const CASTS = { updated_at: `(extract(epoch FROM updated_at) * 1000000)::bigint::text` };
  const lake = () => lakeTable(dest(), 'public/orders', COLUMNS, { updated_at: 'epoch_us(updated_at)' });

  it('keeps updates from a transaction open during a run, rows equal to the watermark and NULL cursors', async () => {
    await admin.query(`
      CREATE TABLE public.orders (id int PRIMARY KEY, amount int NOT NULL, updated_at timestamptz DEFAULT now());
      CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.updated_at := now(); RETURN NEW; END $$;
      CREATE TRIGGER orders_touch BEFORE UPDATE ON public.orders FOR EACH ROW EXECUTE FUNCTION touch();
      INSERT INTO public.orders (id, amount) SELECT g, g FROM generate_series(1, 50) g;
      INSERT INTO public.orders (id, amount, updated_at) VALUES (51, 51, NULL);`);
    await run(dest(), 'public.orders', 'or-0', { incremental: 'updated_at' });

    // One transaction updates two rows (one updated_at, equal for both); another stays open with an update
    // whose updated_at (its start) is older than everything committed after it.
    const open = await session();
    await open.query(`BEGIN; SELECT 1`);
    await admin.query(`UPDATE public.orders SET amount = amount + 1000 WHERE id IN (1, 2)`);
    await open.query(`UPDATE public.orders SET amount = -3 WHERE id = 3`);
    await admin.query(`INSERT INTO public.orders (id, amount) VALUES (52, 52)`);
    const r1 = await manifestOf(await run(dest(), 'public.orders', 'or-1', { incremental: 'updated_at' }));
    expect(r1).toMatchObject({ mode: 'incremental' });
    expect(await lake()).toEqual(await source('public.orders', COLUMNS, CASTS));

    await open.query('COMMIT');
    await open.end();
    // Two more rows with the same updated_at as each other, at the new watermark.
    await admin.query(`BEGIN; UPDATE public.orders SET amount = 7 WHERE id IN (4, 5); COMMIT;`);
    const r2 = await manifestOf(await run(dest(), 'public.orders', 'or-2', { incremental: 'updated_at' }));
    expect(r2.mode).toBe('incremental');
    const after = await source('public.orders', COLUMNS, CASTS);
    expect(after.find((r) => r[0] === '3')?.[1]).toBe('-3');
    expect(await lake()).toEqual(after);

    // A run after an update equal to the watermark: the row is read again (>=), deduplicated.
    await admin.query(`UPDATE public.orders SET amount = 8 WHERE id = 5`);
    await run(dest(), 'public.orders', 'or-3', { incremental: 'updated_at', lookback: '1m' });
    expect(await lake()).toEqual(await source('public.orders', COLUMNS, CASTS));
  });
});

describe('without a held snapshot (as on AWS): Plan reads the horizon itself, each shard its own snapshot', () => {
  it('exports increments through the engine phases and the lake equals the source', async () => {
    const dest = join(work, 'engine');
    const target = targetFromUrl(postgres.url);
    const env: EngineEnvironment = {
      destination: new LocalFolderDestination(dest),
      connect: (name) => connect(target, { applicationName: name }),
      log: silentLog,
      tuning: { horizonSettleMs: 10 },
    };
    const phases = async (runId: string, input: Partial<ExecutionInput> = {}) => {
      const plan = await planRun({ input: { tables: ['public.events'], shards: 3, runId, incremental: { 'public.events': { cursor: 'id' } }, ...input } }, env);
      for (const task of await readShardList(env.destination, plan.items)) await exportShard(task, env);
      return commitRun({ runId }, env);
    };
    expect((await phases('aws-0')).tables[0].incremental?.mode).toBe('full');
    await admin.query(`INSERT INTO public.events (v) SELECT 'aws' || g FROM generate_series(1, 30) g`);
    const second = await phases('aws-1');
    // The 30 new rows and 108, the watermark itself (read again: `>=`).
    expect(second.tables[0]).toMatchObject({ rows: 31, incremental: { mode: 'incremental', from: '108' } });
    expect(await lakeTable(dest, 'public/events', ['id', 'v'])).toEqual(await source('public.events', ['id', 'v']));
  });
});

describe('a schedule', () => {
  it("runs incrementally through the local state machine with the input the synthesized schedule sends", async () => {
    await admin.query(`CREATE TABLE public.visits (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp());
                       INSERT INTO public.visits DEFAULT VALUES; INSERT INTO public.visits DEFAULT VALUES;`);
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = buildApp(app, {
      schedules: [{ name: 'visits', tables: ['"public"."visits"'], expression: 'rate(1 hour)', incremental: { '"public"."visits"': { cursor: 'at', lookbackSeconds: 5 } } }],
    });
    const schedules = Object.values(Template.fromStack(stack).findResources('AWS::Scheduler::Schedule'));
    const input = JSON.parse((schedules[0].Properties as { Target: { Input: string } }).Target.Input) as ExecutionInput;
    expect(input.incremental).toEqual({ '"public"."visits"': { cursor: 'at', lookbackSeconds: 5 } });

    const dest = join(work, 'scheduled');
    const target = targetFromUrl(postgres.url);
    const environment: EngineEnvironment = { destination: new LocalFolderDestination(dest), connect: (name) => connect(target, { applicationName: name }), log: silentLog, tuning: { horizonSettleMs: 10 } };
    const first = await runLocally({ input, executionName: 'sched-0', environment });
    expect(first.commit.tables[0].incremental?.mode).toBe('full');
    await admin.query(`INSERT INTO public.visits DEFAULT VALUES`);
    const second = await runLocally({ input, executionName: 'sched-1', environment });
    expect(second.commit.tables[0]).toMatchObject({ incremental: { mode: 'incremental', reason: expect.stringContaining('less 5 s of lookback') } });
    expect(await lakeTable(dest, 'public/visits', ['id', 'at'], { at: 'epoch_us("at")' })).toEqual(
      await source('public.visits', ['id', 'at'], { at: `(extract(epoch FROM at) * 1000000)::bigint::text` }),
    );
  });
});

describe('refusals', () => {
  const dest = () => join(work, 'refused');
  it('names the table and column: no primary key, a cursor that cannot order, a missing column, a table not in the run', async () => {
    await admin.query(`CREATE TABLE public.nokey (id int, at timestamptz); CREATE TABLE public.keyed (id int PRIMARY KEY, tag text, n int);`);
    await expect(run(dest(), 'public.nokey', 'x1', { incremental: 'id' })).rejects.toThrow('table "public"."nokey" has no primary key: incremental runs need one, to deduplicate rows read again');
    await expect(run(dest(), 'public.keyed', 'x2', { incremental: 'tag' })).rejects.toThrow('table "public"."keyed", column "tag" is text: an incremental cursor must be an integer, numeric, date or timestamp');
    await expect(run(dest(), 'public.keyed', 'x3', { incremental: 'nope' })).rejects.toThrow('table "public"."keyed" has no column "nope" to read incrementally by (columns: id, tag, n)');
    await expect(run(dest(), 'public.keyed', 'x4', { incremental: 'n', lookback: '10m' })).rejects.toThrow('table "public"."keyed": a lookback is for date and timestamp cursors, and "n" is integer');
    await expect(run(dest(), 'public.keyed', 'x5', { incremental: 'public.other=n' })).rejects.toThrow('"incremental" names public.other, which is not among the run\'s tables');
  });

  it('refuses to start without the right to see other sessions\' transactions, saying which grant', async () => {
    await admin.query(`CREATE ROLE reader LOGIN PASSWORD 'reader-pw'; GRANT SELECT ON public.keyed TO reader;`);
    const url = new URL(postgres.url);
    url.username = 'reader';
    url.password = 'reader-pw';
    const attempt = runExport({ databaseUrl: url.toString(), tables: 'public.keyed', dest: dest(), shards: '1', concurrency: '1', compression: 'snappy', quiet: true, runId: 'x6', incremental: 'n' }, () => {});
    await expect(attempt).rejects.toThrow(`incremental runs need to see other sessions' open transactions: GRANT pg_read_all_stats TO "reader"`);
    await admin.query(`GRANT pg_read_all_stats TO reader`);
    const ok = await runExport({ databaseUrl: url.toString(), tables: 'public.keyed', dest: dest(), shards: '1', concurrency: '1', compression: 'snappy', quiet: true, runId: 'x7', incremental: 'n' }, () => {});
    expect(ok.commit.tables[0].incremental?.mode).toBe('full');
  });
});
