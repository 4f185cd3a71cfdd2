/**
 * Commit registers each committed table in Glue (a mocked Glue client: the control plane cannot run here) with
 * the exact TableInput of the run it committed, only after `_SUCCESS` and `_latest.json`; it moves the table to
 * newer runs and never back, refuses tables pgsip does not own, and a Commit that failed at Glue is registered
 * by its redrive. The runs themselves are real: Postgres, the engine's Plan, Export and Commit, a folder.
 */
import {
  AccessDeniedException,
  ConcurrentModificationException,
  CreateTableCommand,
  EntityNotFoundException,
  GetTableCommand,
  GlueClient,
  UpdateTableCommand,
  type Table,
  type TableInput,
} from '@aws-sdk/client-glue';
import { mockClient } from 'aws-sdk-client-mock';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type RunningPostgres, startEmbeddedPostgres } from '../../../bin/local/embedded-postgres';
import { commitRun } from '../../../lambdas/engine/commit-run';
import type { ExecutionInput } from '../../../lambdas/engine/contracts';
import { LocalFolderDestination } from '../../../lambdas/engine/destinations/local-folder';
import { type EngineEnvironment, silentLog } from '../../../lambdas/engine/environment';
import { exportShard } from '../../../lambdas/engine/export-shard';
import { planRun } from '../../../lambdas/engine/plan-run';
import { connect, targetFromUrl } from '../../../lambdas/engine/postgres/connection';
import { readShardList } from '../../../lambdas/engine/run/documents';
import { GlueCatalog } from '../../../lambdas/shared/glue-catalog';

const glue = mockClient(GlueClient);
let postgres: RunningPostgres;
let work: string;
let env: EngineEnvironment;
/** What Glue holds, as the mock answers it: one table per name, with a version counter. */
let stored: Map<string, Table>;

beforeAll(async () => {
  postgres = await startEmbeddedPostgres();
  work = await mkdtemp(join(tmpdir(), 'pgsip-glue-'));
  const target = targetFromUrl(postgres.url);
  env = {
    destination: new LocalFolderDestination(work),
    connect: (name) => connect(target, { applicationName: name }),
    log: silentLog,
    catalog: new GlueCatalog({ database: 'lake', client: new GlueClient({ region: 'eu-west-1', credentials: { accessKeyId: 'x', secretAccessKey: 'y' } }) }),
  };
  const client = new pg.Client(postgres.url);
  await client.connect();
  await client.query(`
    CREATE SCHEMA "Sales";
    CREATE TABLE "Sales"."Order Lines" (
      id bigint PRIMARY KEY, qty int2, n int4, amount numeric(12,2), big numeric(30,5), loose numeric, r real, d float8,
      ok bool, note text, doc jsonb, u uuid, day date, at_local timestamp, at timestamptz, t time, span interval,
      raw bytea, tags text[], amounts numeric(12,2)[], "Mixed Case" int4, "odd\`name" text);
    INSERT INTO "Sales"."Order Lines" (id, qty) SELECT g, g FROM generate_series(1, 50) g;
    CREATE TABLE public.ids (id uuid PRIMARY KEY, at time);
    INSERT INTO public.ids VALUES ('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '12:00');
  `);
  await client.end();
});
afterAll(async () => {
  glue.restore();
  await postgres?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

beforeEach(() => {
  stored = new Map();
  glue.reset();
  glue.on(GetTableCommand).callsFake(async (input: { Name: string }) => {
    const table = stored.get(input.Name);
    if (!table) throw new EntityNotFoundException({ message: `Table ${input.Name} not found.`, $metadata: {} });
    return { Table: table };
  });
  glue.on(CreateTableCommand).callsFake(async (input: { TableInput: TableInput }) => {
    stored.set(input.TableInput.Name!, { ...(input.TableInput as Table), VersionId: '1' });
    return {};
  });
  glue.on(UpdateTableCommand).callsFake(async (input: { TableInput: TableInput; VersionId?: string }) => {
    const current = stored.get(input.TableInput.Name!)!;
    if (input.VersionId !== current.VersionId) throw new ConcurrentModificationException({ message: 'version moved', $metadata: {} });
    stored.set(input.TableInput.Name!, { ...(input.TableInput as Table), VersionId: String(Number(current.VersionId) + 1) });
    return {};
  });
});

/** The destination key of the run folder a catalog location points at. */
const runDirAt = (location: string) => new URL(location).pathname.slice(work.length + 1, -1);
const tableFolderAt = (location: string) => runDirAt(location).replace(/\/run=[^/]+$/, '');

async function exportRun(runId: string, input: Partial<ExecutionInput> = {}, tables = ['"Sales"."Order Lines"']) {
  const plan = await planRun({ input: { tables, shards: 2, runId, ...input } }, env);
  for (const task of await readShardList(env.destination, plan.items)) await exportShard(task, env);
  return plan;
}

describe('Commit and the Glue Data Catalog', () => {
  it('creates the table with the exact TableInput of the committed run: Hive types from the mapping, ParquetHiveSerDe, the run folder', async () => {
    await exportRun('first');
    const result = await commitRun({ runId: 'first' }, env);
    expect(result.tables[0].catalog).toEqual({ table: expect.stringMatching(/^sales_[0-9a-f]{8}_order_lines_[0-9a-f]{8}$/), outcome: 'created' });
    const calls = glue.commandCalls(CreateTableCommand);
    expect(calls).toHaveLength(1);
    const { DatabaseName, TableInput: input } = calls[0].args[0].input;
    expect(DatabaseName).toBe('lake');
    const name = result.tables[0].catalog!.table;
    const location = `file://${work}/${name.replace(/^sales_(\w{8})_order_lines_(\w{8})$/, 'sales-$1/order_lines-$2')}/run=first/`;
    expect(input).toEqual({
      Name: name,
      Description: 'pgsip export of "Sales"."Order Lines"',
      TableType: 'EXTERNAL_TABLE',
      Parameters: {
        classification: 'parquet',
        EXTERNAL: 'TRUE',
        'pgsip.table': '"Sales"."Order Lines"',
        'pgsip.run_id': 'first',
        'pgsip.planned_at': expect.any(String),
        'pgsip.committed_at': expect.any(String),
        'pgsip.types': 'portable',
        'pgsip.rows': '50',
        'pgsip.manifest': `${location}_manifest.json`,
      },
      PartitionKeys: [],
      StorageDescriptor: {
        Columns: [
          { Name: 'id', Type: 'bigint', Comment: 'bigint' },
          { Name: 'qty', Type: 'smallint', Comment: 'smallint' },
          { Name: 'n', Type: 'int', Comment: 'integer' },
          { Name: 'amount', Type: 'decimal(12,2)', Comment: 'numeric(12,2)' },
          { Name: 'big', Type: 'decimal(30,5)', Comment: 'numeric(30,5)' },
          { Name: 'loose', Type: 'string', Comment: 'numeric' },
          { Name: 'r', Type: 'float', Comment: 'real' },
          { Name: 'd', Type: 'double', Comment: 'double precision' },
          { Name: 'ok', Type: 'boolean', Comment: 'boolean' },
          { Name: 'note', Type: 'string', Comment: 'text' },
          { Name: 'doc', Type: 'string', Comment: 'jsonb' },
          { Name: 'u', Type: 'string', Comment: 'uuid' },
          { Name: 'day', Type: 'date', Comment: 'date' },
          { Name: 'at_local', Type: 'timestamp', Comment: 'timestamp without time zone' },
          { Name: 'at', Type: 'timestamp', Comment: 'timestamp with time zone' },
          { Name: 't', Type: 'string', Comment: 'time without time zone' },
          { Name: 'span', Type: 'string', Comment: 'interval' },
          { Name: 'raw', Type: 'binary', Comment: 'bytea' },
          { Name: 'tags', Type: 'array<string>', Comment: 'text[]' },
          { Name: 'amounts', Type: 'array<decimal(12,2)>', Comment: 'numeric(12,2)[]' },
          { Name: 'mixed case', Type: 'int', Comment: 'integer' },
          { Name: 'odd`name', Type: 'string', Comment: 'text' },
        ],
        Location: location,
        InputFormat: 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat',
        OutputFormat: 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat',
        Compressed: false,
        StoredAsSubDirectories: false,
        SerdeInfo: { SerializationLibrary: 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe', Parameters: { 'serialization.format': '1' } },
      },
    });
  });

  it('registers only after _SUCCESS and _latest.json name the run', async () => {
    await exportRun('ordered');
    const seen: { success: boolean; latest: string | null }[] = [];
    glue.on(CreateTableCommand).callsFake(async (input: { TableInput: TableInput }) => {
      const runDir = runDirAt(input.TableInput.StorageDescriptor!.Location!);
      const latest = await env.destination.get(`${tableFolderAt(input.TableInput.StorageDescriptor!.Location!)}/_latest.json`);
      seen.push({ success: (await env.destination.size(`${runDir}/_SUCCESS`)) !== null, latest: latest && JSON.parse(latest.toString()).runId });
      return {};
    });
    await commitRun({ runId: 'ordered' }, env);
    expect(seen).toEqual([{ success: true, latest: 'ordered' }]);
  });

  it('moves the table to a newer run with the VersionId it read, leaves it on a retried Commit, and never moves it back', async () => {
    const older = await exportRun('older');
    await new Promise((ok) => setTimeout(ok, 5));
    await exportRun('newer');
    await commitRun({ runId: 'newer' }, env);
    const name = [...stored.keys()][0];
    expect(stored.get(name)!.Parameters!['pgsip.run_id']).toBe('newer');

    // The older run commits late: _latest.json stays on the newer run, and so does the catalog.
    const late = await commitRun({ runId: older.runId }, env);
    expect(late.tables[0].catalog?.outcome).toBe('not-latest');
    expect(glue.commandCalls(UpdateTableCommand)).toHaveLength(0);

    await exportRun('newest');
    expect((await commitRun({ runId: 'newest' }, env)).tables[0].catalog?.outcome).toBe('updated');
    const update = glue.commandCalls(UpdateTableCommand)[0].args[0].input;
    expect(update.VersionId).toBe('1');
    expect(update.TableInput!.StorageDescriptor!.Location).toMatch(/\/run=newest\/$/);
    expect(stored.get(name)!.Parameters!['pgsip.run_id']).toBe('newest');

    expect((await commitRun({ runId: 'newest' }, env)).tables[0].catalog?.outcome).toBe('unchanged');
    expect(glue.commandCalls(UpdateTableCommand)).toHaveLength(1);
  });

  it('reads again and decides again when another writer changed the table between its read and its write', async () => {
    await exportRun('race-a');
    await commitRun({ runId: 'race-a' }, env);
    await new Promise((ok) => setTimeout(ok, 5));
    await exportRun('race-b');
    const name = [...stored.keys()][0];
    let bumped = false;
    glue.on(UpdateTableCommand).callsFake(async (input: { TableInput: TableInput; VersionId?: string }) => {
      const current = stored.get(name)!;
      if (!bumped) {
        bumped = true; // someone else updated it just now
        stored.set(name, { ...current, VersionId: String(Number(current.VersionId) + 1) });
        throw new ConcurrentModificationException({ message: 'version moved', $metadata: {} });
      }
      expect(input.VersionId).toBe(current.VersionId);
      stored.set(name, { ...(input.TableInput as Table), VersionId: String(Number(current.VersionId) + 1) });
      return {};
    });
    expect((await commitRun({ runId: 'race-b' }, env)).tables[0].catalog?.outcome).toBe('updated');
    expect(glue.commandCalls(UpdateTableCommand)).toHaveLength(2);
    expect(stored.get(name)!.Parameters!['pgsip.run_id']).toBe('race-b');
  });

  it('refuses a table of the same name that pgsip did not create, naming it; the run stays committed', async () => {
    await exportRun('foreign');
    const name = (await commitRun({ runId: 'foreign' }, env)).tables[0].catalog!.table;
    // Someone's own table of that name, say a crawler's.
    stored.set(name, { Name: name, DatabaseName: 'lake', Parameters: { classification: 'parquet' }, VersionId: '7' });
    await exportRun('foreign-2');
    await expect(commitRun({ runId: 'foreign-2' }, env)).rejects.toThrow(
      `Glue table lake.${name} exists and was not created by pgsip; drop it or choose another database (catalog.glueDatabase)`,
    );
    expect(glue.commandCalls(UpdateTableCommand)).toHaveLength(0);
    expect(stored.get(name)!.Parameters).toEqual({ classification: 'parquet' }); // left as it was
    const folder = tableFolderAt(glue.commandCalls(CreateTableCommand)[0].args[0].input.TableInput!.StorageDescriptor!.Location!);
    const latest = JSON.parse((await env.destination.get(`${folder}/_latest.json`))!.toString());
    expect(latest.runId).toBe('foreign-2'); // the run itself committed
  });

  it('a Commit Glue refused fails with CatalogError naming the table, and its redrive registers the committed run', async () => {
    await exportRun('denied');
    let denied = false;
    glue.on(CreateTableCommand).callsFake(async (input: { TableInput: TableInput }) => {
      if (!denied) {
        denied = true;
        throw new AccessDeniedException({ message: 'not authorized to perform glue:CreateTable', $metadata: {} });
      }
      stored.set(input.TableInput.Name!, { ...(input.TableInput as Table), VersionId: '1' });
      return {};
    });
    const error = await commitRun({ runId: 'denied' }, env).catch((e: unknown) => e as Error);
    expect(error).toMatchObject({ name: 'CatalogError' });
    expect((error as Error).message).toMatch(/^table "Sales"\."Order Lines": glue:lake refused table sales_\w+: not authorized to perform glue:CreateTable$/);
    const redriven = await commitRun({ runId: 'denied' }, env);
    expect(redriven.tables[0].catalog?.outcome).toBe('created');
    expect(stored.get(redriven.tables[0].catalog!.table)!.Parameters!['pgsip.run_id']).toBe('denied');
  });

  it('leaves the table on the last full run when an incremental run commits (one folder holds only what changed), and says so', async () => {
    const incremental = { incremental: { '"Sales"."Order Lines"': { cursor: 'id' } } };
    await exportRun('inc-full', incremental);
    const full = await commitRun({ runId: 'inc-full' }, env);
    expect(full.tables[0].catalog?.outcome).toBe('created');
    await exportRun('inc-next', incremental);
    const next = await commitRun({ runId: 'inc-next' }, env);
    expect(next.tables[0]).toMatchObject({ incremental: { mode: 'incremental' }, catalog: { outcome: 'incremental-not-registered' } });
    expect(glue.commandCalls(UpdateTableCommand)).toHaveLength(0);
    expect(stored.get(full.tables[0].catalog!.table)!.Parameters!['pgsip.run_id']).toBe('inc-full');
  });

  it('refuses to register native uuid and time columns, which the catalog has no type for, naming the column', async () => {
    await exportRun('native', { types: 'native' }, ['public.ids']);
    await expect(commitRun({ runId: 'native' }, env)).rejects.toThrow(
      'table "public"."ids", column "id": the catalog has no uuid type and readers refuse FIXED_LEN_BYTE_ARRAY(16) UUID as anything else; export it with --types portable (the default) to register it',
    );
    expect(glue.commandCalls(CreateTableCommand)).toHaveLength(0);
    await exportRun('portable-ids', {}, ['public.ids']);
    const ok = await commitRun({ runId: 'portable-ids' }, env);
    expect(stored.get(ok.tables[0].catalog!.table)!.StorageDescriptor!.Columns).toEqual([
      { Name: 'id', Type: 'string', Comment: 'uuid' },
      { Name: 'at', Type: 'string', Comment: 'time without time zone' },
    ]);
  });
});
