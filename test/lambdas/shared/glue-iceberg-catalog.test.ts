/**
 * Iceberg tables in the Glue Data Catalog, committed as Iceberg's own GlueTableOperations does, against moto's
 * Glue and S3 (a community AWS emulator): the table is `ICEBERG`, its `metadata_location` the new metadata and
 * `previous_metadata_location` the one before, and a concurrent update is detected and re-decided. moto ignores
 * UpdateTable's VersionId (it never answers ConcurrentModificationException), so that one refusal is played at
 * the SDK client, ahead of the request; the other race (the table moved on between read and write) is a real
 * update in moto.
 */
import { ConcurrentModificationException, CreateDatabaseCommand, CreateTableCommand, GetTableCommand, GlueClient, UpdateTableCommand } from '@aws-sdk/client-glue';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Destination } from '../../../lambdas/engine/destinations/destination';
import { openDestination } from '../../../lambdas/engine/destinations/open-destination';
import { silentLog } from '../../../lambdas/engine/environment';
import { commitToIcebergTable, tableRefOf } from '../../../lambdas/engine/iceberg/commit-table';
import { objectUri } from '../../../lambdas/engine/iceberg/iceberg-catalog';
import type { IcebergSchema } from '../../../lambdas/engine/iceberg/model';
import { history } from '../../../lambdas/engine/iceberg/table-metadata';
import { GlueIcebergCatalog } from '../../../lambdas/shared/glue-iceberg-catalog';
import { type RunningMoto, startMotoServer } from '../../support/moto-server';
import { icebergRun } from '../../support/iceberg-run';

const BUCKET = 'pgsip-iceberg-glue';
const SCHEMA: IcebergSchema = {
  type: 'struct',
  'schema-id': 0,
  fields: [
    { id: 1, name: 'id', required: false, type: 'long' },
    { id: 2, name: 'Amount', required: false, type: 'decimal(12, 2)' },
  ],
};

let moto: RunningMoto;
let glue: GlueClient;
let destination: Destination;
let database: string;
let n = 0;

beforeAll(async () => {
  moto = await startMotoServer();
  for (const [name, value] of Object.entries(moto.env)) vi.stubEnv(name, value);
  const s3 = new S3Client({ ...moto.client, forcePathStyle: true });
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET, CreateBucketConfiguration: { LocationConstraint: 'eu-west-1' } }));
  s3.destroy();
  glue = new GlueClient(moto.client);
}, 60_000);

afterAll(async () => {
  glue?.destroy();
  vi.unstubAllEnvs();
  await moto?.stop();
});

beforeEach(async () => {
  database = `lake_${++n}`;
  // A database and a lake of its own for each test: no test meets another's metadata files.
  destination = openDestination(`s3://${BUCKET}/${database}`, { s3Endpoint: moto.endpoint });
  await glue.send(new CreateDatabaseCommand({ DatabaseInput: { Name: database } }));
});

const run = (runId: string, plannedAt: string, table = 'orders') =>
  icebergRun({ runId, plannedAt, table, location: objectUri(destination, `public/${table}`), schema: SCHEMA });

const catalog = (client = new GlueClient(moto.client)) => new GlueIcebergCatalog({ database, destination, client });
const commit = (r: ReturnType<typeof run>, c = catalog()) => commitToIcebergTable(r, { destination, catalog: c, log: silentLog });
const stored = async (name = 'public_orders') => (await glue.send(new GetTableCommand({ DatabaseName: database, Name: name }))).Table!;

describe('Iceberg tables in Glue (moto)', () => {
  it('creates an ICEBERG table naming its first metadata file, then moves it to the next, keeping the previous one', async () => {
    const first = await commit(run('r1', '2026-01-01T00:00:00.000Z'));
    expect(first).toMatchObject({ outcome: 'committed', metadata: `s3://${BUCKET}/${database}/public/orders/metadata/v1.metadata.json` });
    const created = await stored();
    expect(created).toMatchObject({
      TableType: 'EXTERNAL_TABLE',
      Parameters: { table_type: 'ICEBERG', metadata_location: first.metadata, 'pgsip.table': '"public"."orders"' },
      StorageDescriptor: { Location: `s3://${BUCKET}/${database}/public/orders` },
    });
    expect(created.Parameters?.previous_metadata_location).toBeUndefined();
    expect(created.StorageDescriptor?.Columns?.map((c) => [c.Name, c.Type, c.Parameters?.['iceberg.field.id']])).toEqual([
      ['id', 'bigint', '1'],
      ['amount', 'decimal(12,2)', '2'],
    ]);

    const second = await commit(run('r2', '2026-01-02T00:00:00.000Z'));
    const moved = await stored();
    expect(moved.Parameters).toMatchObject({ metadata_location: second.metadata, previous_metadata_location: first.metadata });
    // Readers of the catalog find both snapshots; readers by path find the same metadata.
    const loaded = await catalog().load(tableRefOf(run('x', '2026').plan));
    expect(history(loaded!.metadata).map((s) => s.summary['pgsip.run-id'])).toEqual(['r2', 'r1']);
    expect((await destination.get('public/orders/metadata/version-hint.text'))?.toString()).toBe('2');
    // A retried Commit finds its run and changes nothing.
    expect(await commit(run('r2', '2026-01-02T00:00:00.000Z'))).toMatchObject({ outcome: 'unchanged' });
    expect((await stored()).Parameters?.metadata_location).toBe(second.metadata);
  });

  it('detects a concurrent update (Glue refuses the stale VersionId) and commits on the new base', async () => {
    await commit(run('r1', '2026-01-01T00:00:00.000Z'));
    const client = new GlueClient(moto.client);
    let refused = false;
    // What AWS Glue answers a stale VersionId; moto accepts it, so it is played here, once, after a real
    // concurrent commit in moto moved the table on.
    client.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'UpdateTableCommand' && !refused) {
          refused = true;
          await commit(run('other', '2026-01-01T12:00:00.000Z'));
          throw new ConcurrentModificationException({ message: 'Update table failed due to concurrent modifications.', $metadata: {} });
        }
        return next(args);
      },
      { step: 'initialize', name: 'staleVersion' },
    );
    const answer = await commit(run('r2', '2026-01-02T00:00:00.000Z'), catalog(client));
    expect(answer).toMatchObject({ outcome: 'committed' });
    const loaded = await catalog().load(tableRefOf(run('x', '2026').plan));
    expect(history(loaded!.metadata).map((s) => s.summary['pgsip.run-id'])).toEqual(['r2', 'other', 'r1']);
    // r2's first attempt wrote v2 and lost; the other commit passed over v2 (never overwriting it) and took v3;
    // r2, re-decided on v3, took v4.
    expect(answer.metadata).toBe(`s3://${BUCKET}/${database}/public/orders/metadata/v4.metadata.json`);
    expect((await stored()).Parameters?.previous_metadata_location).toBe(`s3://${BUCKET}/${database}/public/orders/metadata/v3.metadata.json`);
  });

  it('detects a table that moved on between its read and the update (its metadata_location is no longer the base) and re-decides', async () => {
    await commit(run('r1', '2026-01-01T00:00:00.000Z'));
    const client = new GlueClient(moto.client);
    let moved = false;
    client.middlewareStack.add(
      (next, context) => async (args) => {
        // Just before this commit's final read of the Glue table, a later-planned run commits (for real, in moto).
        if (context.commandName === 'GetTableCommand' && (args.input as { Name?: string }).Name === 'public_orders' && !moved && writes > 0) {
          moved = true;
          await commit(run('later', '2026-01-03T00:00:00.000Z'));
        }
        return next(args);
      },
      { step: 'initialize', name: 'movesOn' },
    );
    let writes = 0;
    const watched: Destination = Object.assign(Object.create(destination) as Destination, {
      putIfAbsent: async (key: string, body: string | Uint8Array) => (writes++, destination.putIfAbsent(key, body)),
    });
    const answer = await commitToIcebergTable(run('r2', '2026-01-02T00:00:00.000Z'), {
      destination: watched,
      catalog: new GlueIcebergCatalog({ database, destination: watched, client }),
      log: silentLog,
    });
    // Planned before the run now current: the newer snapshot is kept, this run not added.
    expect(answer).toMatchObject({ outcome: 'kept-newer' });
    const loaded = await catalog().load(tableRefOf(run('x', '2026').plan));
    expect(history(loaded!.metadata).map((s) => s.summary['pgsip.run-id'])).toEqual(['later', 'r1']);
  });

  it('refuses a Glue table of the same name that is not an Iceberg table, naming it', async () => {
    await glue.send(new CreateTableCommand({ DatabaseName: database, TableInput: { Name: 'public_orders', Parameters: { classification: 'parquet' } } }));
    await expect(commit(run('r1', '2026-01-01T00:00:00.000Z'))).rejects.toThrow(
      `Glue table ${database}.public_orders exists and is not an Iceberg table (table_type null); drop it or export into another database`,
    );
    // UpdateTable was never reached.
    expect((await stored()).Parameters).toEqual({ classification: 'parquet' });
    void UpdateTableCommand;
  });
});
