/**
 * Commit registers each committed table in the Glue Data Catalog with the exact TableInput of the run it
 * committed, only after `_SUCCESS` and `_latest.json`; it moves the table to newer runs and never back, refuses
 * tables pgsip does not own, and a Commit that failed at Glue is registered by its redrive. The runs are real
 * (Postgres, the engine's Plan, Export and Commit, a folder) and so is the catalog's model: moto's Glue answers
 * GetTable, CreateTable, UpdateTable, GetTableVersions, DeleteTable and CreateDatabase as the SDK sends them.
 *
 * Where moto lacks what AWS does, the test stands in at the SDK client (a middleware ahead of the request, the
 * only stand-in left): moto ignores UpdateTable's VersionId (it never answers ConcurrentModificationException,
 * so the race is a real concurrent update in moto plus the refusal AWS would give), and it enforces no IAM
 * (the AccessDenied is thrown there too). Every call the catalog sends is recorded there as well.
 */
import {
  AccessDeniedException,
  ConcurrentModificationException,
  CreateDatabaseCommand,
  CreateTableCommand,
  DeleteTableCommand,
  GetDatabaseCommand,
  GetTableCommand,
  GetTablesCommand,
  GetTableVersionsCommand,
  GlueClient,
  UpdateTableCommand,
  type CreateTableCommandInput,
  type Table,
  type UpdateTableCommandInput,
} from '@aws-sdk/client-glue';
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
import { type RunningMoto, startMotoServer } from '../../support/moto-server';

let postgres: RunningPostgres;
let moto: RunningMoto;
let work: string;
let env: EngineEnvironment;
/** The catalog's own client, watched; `glue` is another writer (and the test's reader) on the same catalog. */
let catalogClient: GlueClient;
let glue: GlueClient;

/** What the catalog sent, in order: the command's name and its input. */
let calls: { command: string; input: Record<string, unknown> }[];
/** Run before the catalog's request of that command goes out; may throw what AWS would answer. */
let before: Partial<Record<string, (input: Record<string, unknown>) => Promise<void>>>;

const creates = () => calls.filter((c) => c.command === 'CreateTableCommand').map((c) => c.input as unknown as CreateTableCommandInput);
const updates = () => calls.filter((c) => c.command === 'UpdateTableCommand').map((c) => c.input as unknown as UpdateTableCommandInput);
/** The table as Glue holds it. */
const stored = async (name: string): Promise<Table> => (await glue.send(new GetTableCommand({ DatabaseName: 'lake', Name: name }))).Table!;
const storedNames = async () => ((await glue.send(new GetTablesCommand({ DatabaseName: 'lake' }))).TableList ?? []).map((t) => t.Name!);

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'pgsip-glue-'));
  [postgres, moto] = await Promise.all([startEmbeddedPostgres(), startMotoServer()]);
  glue = new GlueClient(moto.client);
  catalogClient = new GlueClient(moto.client);
  catalogClient.middlewareStack.add(
    (next, context) => async (args) => {
      const input = args.input as Record<string, unknown>;
      calls.push({ command: context.commandName!, input: structuredClone(input) });
      await before[context.commandName!]?.(input);
      return next(args);
    },
    { step: 'initialize', name: 'pgsipCatalogWatch' },
  );
  const target = targetFromUrl(postgres.url);
  env = {
    destination: new LocalFolderDestination(work),
    connect: (name) => connect(target, { applicationName: name }),
    log: silentLog,
    catalog: new GlueCatalog({ database: 'lake', client: catalogClient }),
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
  glue?.destroy();
  catalogClient?.destroy();
  await Promise.all([postgres?.stop(), moto?.stop()]);
  if (work) await rm(work, { recursive: true, force: true });
});

beforeEach(async () => {
  // An empty catalog with the database, for every test.
  await moto.reset();
  await glue.send(new CreateDatabaseCommand({ DatabaseInput: { Name: 'lake' } }));
  calls = [];
  before = {};
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
    expect(creates()).toHaveLength(1);
    const { DatabaseName, TableInput: input } = creates()[0];
    expect(DatabaseName).toBe('lake');
    const name = result.tables[0].catalog!.table;
    const location = `file://${work}/${name.replace(/^sales_(\w{8})_order_lines_(\w{8})$/, 'sales-$1/order_lines-$2')}/run=first/`;
    const expected = {
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
    };
    expect(input).toEqual(expected);
    // Glue holds exactly that, plus what it adds itself (moto adds these; AWS a few more).
    const { DatabaseName: database, CreateTime, VersionId, CatalogId, ...held } = await stored(name);
    expect(held).toEqual(expected);
    expect({ database, version: VersionId, created: CreateTime instanceof Date, catalog: CatalogId }).toEqual({ database: 'lake', version: '1', created: true, catalog: '123456789012' });
    expect(calls.map((c) => c.command)).toEqual(['GetTableCommand', 'CreateTableCommand']);
  });

  it('registers only after _SUCCESS and _latest.json name the run', async () => {
    await exportRun('ordered');
    const seen: { success: boolean; latest: string | null }[] = [];
    before.CreateTableCommand = async (input) => {
      const location = (input as unknown as CreateTableCommandInput).TableInput!.StorageDescriptor!.Location!;
      const latest = await env.destination.get(`${tableFolderAt(location)}/_latest.json`);
      seen.push({ success: (await env.destination.size(`${runDirAt(location)}/_SUCCESS`)) !== null, latest: latest && JSON.parse(latest.toString()).runId });
    };
    await commitRun({ runId: 'ordered' }, env);
    expect(seen).toEqual([{ success: true, latest: 'ordered' }]);
  });

  it('moves the table to a newer run with the VersionId it read, leaves it on a retried Commit, and never moves it back', async () => {
    const older = await exportRun('older');
    await new Promise((ok) => setTimeout(ok, 5));
    await exportRun('newer');
    await commitRun({ runId: 'newer' }, env);
    const [name] = await storedNames();
    expect((await stored(name)).Parameters!['pgsip.run_id']).toBe('newer');

    // The older run commits late: _latest.json stays on the newer run, and so does the catalog.
    const late = await commitRun({ runId: older.runId }, env);
    expect(late.tables[0].catalog?.outcome).toBe('not-latest');
    expect(updates()).toHaveLength(0);

    await exportRun('newest');
    expect((await commitRun({ runId: 'newest' }, env)).tables[0].catalog?.outcome).toBe('updated');
    const [update] = updates();
    expect(update.VersionId).toBe('1');
    expect(update.TableInput!.StorageDescriptor!.Location).toMatch(/\/run=newest\/$/);
    expect(await stored(name)).toMatchObject({ VersionId: '2', Parameters: { 'pgsip.run_id': 'newest' } });
    // Glue kept the version it replaced.
    const versions = (await glue.send(new GetTableVersionsCommand({ DatabaseName: 'lake', TableName: name }))).TableVersions!;
    expect(versions.map((v) => [v.VersionId, v.Table!.Parameters!['pgsip.run_id']]).sort()).toEqual([['1', 'newer'], ['2', 'newest']]);

    expect((await commitRun({ runId: 'newest' }, env)).tables[0].catalog?.outcome).toBe('unchanged');
    expect(updates()).toHaveLength(1);
  });

  it('reads again and decides again when another writer changed the table between its read and its write', async () => {
    await exportRun('race-a');
    await commitRun({ runId: 'race-a' }, env);
    await new Promise((ok) => setTimeout(ok, 5));
    await exportRun('race-b');
    const [name] = await storedNames();
    // Another writer updates the table between the catalog's read and its write: a real update in moto. moto
    // would then accept the stale VersionId (it ignores it), so the refusal AWS gives is thrown here.
    let raced = false;
    before.UpdateTableCommand = async (input) => {
      if (raced) return;
      raced = true;
      const { Name, Description, TableType, Parameters, PartitionKeys, StorageDescriptor } = await stored(name);
      await glue.send(new UpdateTableCommand({ DatabaseName: 'lake', TableInput: { Name, Description, TableType, Parameters, PartitionKeys, StorageDescriptor } }));
      if ((await stored(name)).VersionId !== (input as unknown as UpdateTableCommandInput).VersionId) {
        throw new ConcurrentModificationException({ message: 'Update table failed due to concurrent modifications.', $metadata: {} });
      }
    };
    expect((await commitRun({ runId: 'race-b' }, env)).tables[0].catalog?.outcome).toBe('updated');
    expect(updates().map((u) => u.VersionId)).toEqual(['1', '2']);
    expect(await stored(name)).toMatchObject({ VersionId: '3', Parameters: { 'pgsip.run_id': 'race-b' } });
  });

  it('refuses a table of the same name that pgsip did not create, naming it; the run stays committed', async () => {
    await exportRun('foreign');
    const name = (await commitRun({ runId: 'foreign' }, env)).tables[0].catalog!.table;
    // Someone's own table of that name, say a crawler's.
    await glue.send(new DeleteTableCommand({ DatabaseName: 'lake', Name: name }));
    await glue.send(new CreateTableCommand({ DatabaseName: 'lake', TableInput: { Name: name, Parameters: { classification: 'parquet' } } }));
    await exportRun('foreign-2');
    await expect(commitRun({ runId: 'foreign-2' }, env)).rejects.toThrow(
      `Glue table lake.${name} exists and was not created by pgsip; drop it or choose another database (catalog.glueDatabase)`,
    );
    expect(updates()).toHaveLength(0);
    expect((await stored(name)).Parameters).toEqual({ classification: 'parquet' }); // left as it was
    const folder = tableFolderAt(creates()[0].TableInput!.StorageDescriptor!.Location!);
    const latest = JSON.parse((await env.destination.get(`${folder}/_latest.json`))!.toString());
    expect(latest.runId).toBe('foreign-2'); // the run itself committed
  });

  it('a Commit Glue refused fails with CatalogError naming the table, and its redrive registers the committed run', async () => {
    await exportRun('denied');
    // moto enforces no IAM here: the first CreateTable is refused as AWS refuses a role without glue:CreateTable.
    let denied = false;
    before.CreateTableCommand = async () => {
      if (denied) return;
      denied = true;
      throw new AccessDeniedException({ message: 'not authorized to perform glue:CreateTable', $metadata: {} });
    };
    const error = await commitRun({ runId: 'denied' }, env).catch((e: unknown) => e as Error);
    expect(error).toMatchObject({ name: 'CatalogError' });
    expect((error as Error).message).toMatch(/^table "Sales"\."Order Lines": glue:lake refused table sales_\w+: not authorized to perform glue:CreateTable$/);
    const redriven = await commitRun({ runId: 'denied' }, env);
    expect(redriven.tables[0].catalog?.outcome).toBe('created');
    expect((await stored(redriven.tables[0].catalog!.table)).Parameters!['pgsip.run_id']).toBe('denied');
  });

  it('leaves the table on the last full run when an incremental run commits (one folder holds only what changed), and says so', async () => {
    const incremental = { incremental: { '"Sales"."Order Lines"': { cursor: 'id' } } };
    await exportRun('inc-full', incremental);
    const full = await commitRun({ runId: 'inc-full' }, env);
    expect(full.tables[0].catalog?.outcome).toBe('created');
    await exportRun('inc-next', incremental);
    const next = await commitRun({ runId: 'inc-next' }, env);
    expect(next.tables[0]).toMatchObject({ incremental: { mode: 'incremental' }, catalog: { outcome: 'incremental-not-registered' } });
    expect(updates()).toHaveLength(0);
    expect((await stored(full.tables[0].catalog!.table)).Parameters!['pgsip.run_id']).toBe('inc-full');
  });

  it('refuses to register native uuid and time columns, which the catalog has no type for, naming the column', async () => {
    await exportRun('native', { types: 'native' }, ['public.ids']);
    await expect(commitRun({ runId: 'native' }, env)).rejects.toThrow(
      'table "public"."ids", column "id": the catalog has no uuid type and readers refuse FIXED_LEN_BYTE_ARRAY(16) UUID as anything else; export it with --types portable (the default) to register it',
    );
    expect(creates()).toHaveLength(0);
    await exportRun('portable-ids', {}, ['public.ids']);
    const ok = await commitRun({ runId: 'portable-ids' }, env);
    expect((await stored(ok.tables[0].catalog!.table)).StorageDescriptor!.Columns).toEqual([
      { Name: 'id', Type: 'string', Comment: 'uuid' },
      { Name: 'at', Type: 'string', Comment: 'time without time zone' },
    ]);
  });

  it('says the database does not exist when Glue has no such database (its EntityNotFound names no table)', async () => {
    await exportRun('no-database');
    const elsewhere = { ...env, catalog: new GlueCatalog({ database: 'nowhere', client: catalogClient }) };
    await expect(commitRun({ runId: 'no-database' }, elsewhere)).rejects.toThrow('Glue database nowhere does not exist (create it, or set catalog.createDatabase)');
    expect(calls.map((c) => c.command)).toEqual(['GetTableCommand']);
  });

  it('with createDatabase, creates a missing database on the first commit and registers the table in it; a database made meanwhile by another commit is used as it is', async () => {
    await exportRun('creates-database');
    const creating = { ...env, catalog: new GlueCatalog({ database: 'made_by_commit', client: catalogClient, createDatabase: true }) };
    const result = await commitRun({ runId: 'creates-database' }, creating);
    expect(result.tables[0].catalog?.outcome).toBe('created');
    const database = await glue.send(new GetDatabaseCommand({ Name: 'made_by_commit' }));
    expect(database.Database?.Description).toBe('Tables pgsip exports from Postgres');
    expect((await glue.send(new GetTableCommand({ DatabaseName: 'made_by_commit', Name: result.tables[0].catalog!.table }))).Table?.Parameters?.['pgsip.run_id']).toBe('creates-database');
    // Another commit creates the database between this one's read and its create (a real creation in moto,
    // which then answers AlreadyExists): that is the database wanted.
    before.CreateDatabaseCommand = async () => {
      delete before.CreateDatabaseCommand;
      await glue.send(new CreateDatabaseCommand({ DatabaseInput: { Name: 'made_elsewhere' } }));
    };
    const racing = new GlueCatalog({ database: 'made_elsewhere', client: catalogClient, createDatabase: true });
    await exportRun('database-race');
    const raced = await commitRun({ runId: 'database-race' }, { ...env, catalog: racing });
    expect(raced.tables[0].catalog?.outcome).toBe('created');
    expect(calls.filter((c) => c.command === 'CreateDatabaseCommand')).toHaveLength(2);
  });
});
