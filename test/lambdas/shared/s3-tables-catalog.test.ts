/**
 * Iceberg tables in an Amazon S3 Tables table bucket, committed as AWS's own S3 Tables catalog commits, against
 * moto's S3 Tables (a community AWS emulator that assigns each table a warehouse bucket, serves its objects,
 * refuses DeleteObject and listing there as S3 Tables does, and checks version tokens): the table is created
 * with its namespace, every file of a commit lies under its warehouse location, the commit request carries
 * the token S3 Tables handed out, and a commit that lost the race (the token moved on) is re-decided.
 */
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import {
  CreateTableBucketCommand,
  DeleteTableCommand,
  GetTableMetadataLocationCommand,
  ListNamespacesCommand,
  ListTablesCommand,
  S3TablesClient,
} from '@aws-sdk/client-s3tables';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Destination } from '../../../lambdas/engine/destinations/destination';
import { openDestination } from '../../../lambdas/engine/destinations/open-destination';
import { silentLog } from '../../../lambdas/engine/environment';
import { commitToIcebergTable } from '../../../lambdas/engine/iceberg/commit-table';
import type { IcebergSchema } from '../../../lambdas/engine/iceberg/model';
import { history } from '../../../lambdas/engine/iceberg/table-metadata';
import { tableDestinationOf, TableStorageDestination } from '../../../lambdas/engine/iceberg/table-storage';
import { checkTableBucketArn, S3TablesCatalog } from '../../../lambdas/shared/s3-tables-catalog';
import { s3TablesName } from '../../../lambdas/shared/s3-tables-names';
import { type RunningMoto, startMotoServer } from '../../support/moto-server';
import { icebergRun } from '../../support/iceberg-run';

const BUCKET = 'pgsip-s3tables-runs';
const SCHEMA: IcebergSchema = { type: 'struct', 'schema-id': 0, fields: [{ id: 1, name: 'id', required: false, type: 'long' }] };

let moto: RunningMoto;
let tables: S3TablesClient;
let destination: Destination;
let bucketArn: string;
let n = 0;

beforeAll(async () => {
  // moto 5.2 serves S3 Tables in the regions its bundled endpoint data lists: us-east-1 is one.
  moto = await startMotoServer({ record: true, region: 'us-east-1' });
  for (const [name, value] of Object.entries(moto.env)) vi.stubEnv(name, value);
  const s3 = new S3Client({ ...moto.client, forcePathStyle: true });
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  s3.destroy();
  tables = new S3TablesClient(moto.client);
}, 60_000);

afterAll(async () => {
  tables?.destroy();
  vi.unstubAllEnvs();
  await moto?.stop();
});

beforeEach(async () => {
  // A table bucket and a run prefix of its own for each test.
  bucketArn = (await tables.send(new CreateTableBucketCommand({ name: `lake-${++n}` }))).arn!;
  destination = openDestination(`s3://${BUCKET}/runs-${n}`, { s3Endpoint: moto.endpoint });
});

const catalog = (client = new S3TablesClient(moto.client)) => new S3TablesCatalog({ tableBucketArn: bucketArn, s3Endpoint: moto.endpoint, client });
const REF = { table: '"public"."orders"', dir: 'public/orders', schema: 'public', name: 'orders' };

const run = (runId: string, plannedAt: string, location: string) => icebergRun({ runId, plannedAt, table: 'orders', location, schema: SCHEMA });

async function commit(r: ReturnType<typeof run>, c = catalog()) {
  const env = { destination, icebergCatalog: c };
  return commitToIcebergTable(r, { destination: tableDestinationOf(env, r.plan), catalog: c, log: silentLog });
}

const tokenOf = async () => (await tables.send(new GetTableMetadataLocationCommand({ tableBucketARN: bucketArn, namespace: 'public', name: 'orders' })));

describe('Iceberg tables in S3 Tables (moto)', () => {
  it('creates the namespace and the table when a run plans it, and commits each run with the version token S3 Tables handed out', async () => {
    const location = await catalog().tableLocation({ ...REF, location: 'unused' });
    expect(location).toMatch(/^s3:\/\/[0-9a-f-]+--table-s3$/);
    expect((await tables.send(new ListNamespacesCommand({ tableBucketARN: bucketArn }))).namespaces?.map((ns) => ns.namespace)).toEqual([['public']]);
    expect((await tables.send(new ListTablesCommand({ tableBucketARN: bucketArn }))).tables?.map((t) => [t.namespace, t.name])).toEqual([[['public'], 'orders']]);
    // Planned again (the next run): the same table, nothing created twice.
    expect(await catalog().tableLocation({ ...REF, location: 'unused' })).toBe(location);
    expect(await catalog().load({ ...REF, location })).toBeNull();

    const before = await tokenOf();
    const first = await commit(run('r1', '2026-01-01T00:00:00.000Z', location));
    expect(first).toMatchObject({ outcome: 'committed' });
    expect(first.metadata).toMatch(new RegExp(`^${location}/metadata/00001-[0-9a-f-]{36}\\.metadata\\.json$`));
    // The request: the table by bucket, namespace and name, the token read before it, the new location.
    const updates = (await moto.recorded()).filter((r) => r.method === 'PUT' && r.url.endsWith('/metadata-location'));
    expect(updates).toHaveLength(1);
    expect(decodeURIComponent(updates[0].url)).toContain(`/tables/${bucketArn}/public/orders/metadata-location`);
    expect(JSON.parse(updates[0].body)).toEqual({ versionToken: before.versionToken, metadataLocation: first.metadata });

    const second = await commit(run('r2', '2026-01-02T00:00:00.000Z', location));
    expect((await tokenOf()).metadataLocation).toBe(second.metadata);
    const loaded = (await catalog().load({ ...REF, location }))!;
    expect(history(loaded.metadata).map((s) => s.summary['pgsip.run-id'])).toEqual(['r2', 'r1']);
    expect(loaded.metadata.location).toBe(location);
    // Every file the table names lies in its warehouse: data, manifests, manifest lists, metadata.
    const snapshot = loaded.metadata.snapshots.at(-1)!;
    expect(snapshot['manifest-list'].startsWith(`${location}/metadata/`)).toBe(true);
    expect(loaded.metadata['metadata-log'].map((e) => e['metadata-file'])).toEqual([first.metadata]);
    // A retried Commit finds its run and changes nothing.
    expect(await commit(run('r2', '2026-01-02T00:00:00.000Z', location))).toMatchObject({ outcome: 'unchanged' });
    expect((await tokenOf()).metadataLocation).toBe(second.metadata);
  });

  it('takes a refused version token (ConflictException: another commit got in) as a lost race and commits on the new base', async () => {
    const location = await catalog().tableLocation({ ...REF, location: 'unused' });
    await commit(run('r1', '2026-01-01T00:00:00.000Z', location));
    const client = new S3TablesClient(moto.client);
    let raced = false;
    let refusal = '';
    // Between our read of the token and our update, another writer commits (a real update in moto, which
    // then refuses our stale token as S3 Tables does).
    client.middlewareStack.add(
      (next) => async (args) => {
        if (!raced && (args.input as object) && 'versionToken' in (args.input as object)) {
          raced = true;
          await commit(run('r2', '2026-01-02T00:00:00.000Z', location));
          try {
            return await next(args);
          } catch (error) {
            refusal = (error as Error).name;
            throw error;
          }
        }
        return next(args);
      },
      { step: 'initialize', name: 'race' },
    );
    const outcome = await commit(run('r3', '2026-01-03T00:00:00.000Z', location), catalog(client));
    expect(raced).toBe(true);
    expect(outcome).toMatchObject({ outcome: 'committed' });
    const loaded = (await catalog().load({ ...REF, location }))!;
    expect(history(loaded.metadata).map((s) => s.summary['pgsip.run-id'])).toEqual(['r3', 'r2', 'r1']);
    expect(refusal).toBe('ConflictException');
  });

  it('refuses to commit into a table dropped and created again since the run planned it, naming it', async () => {
    const location = await catalog().tableLocation({ ...REF, location: 'unused' });
    await tables.send(new DeleteTableCommand({ tableBucketARN: bucketArn, namespace: 'public', name: 'orders' }));
    const again = await catalog().tableLocation({ ...REF, location: 'unused' });
    expect(again).not.toBe(location);
    await expect(commit(run('r1', '2026-01-01T00:00:00.000Z', location))).rejects.toThrow(
      `S3 Tables table public.orders in ${bucketArn} is stored at ${again} now, not at ${location} where this run wrote it (was it dropped and created again?); nothing committed`,
    );
  });

  it('routes the table files to the warehouse and keeps the run documents in the run destination', async () => {
    const location = await catalog().tableLocation({ ...REF, location: 'unused' });
    const { plan } = run('r1', '2026-01-01T00:00:00.000Z', location);
    const routed = tableDestinationOf({ destination, icebergCatalog: catalog() }, plan);
    expect(routed).toBeInstanceOf(TableStorageDestination);
    expect(routed.location('public/orders')).toBe(location);
    expect(routed.location('public/orders/run=r1/part-00000-0000-aaaa.parquet')).toBe(`${location}/run=r1/part-00000-0000-aaaa.parquet`);
    expect(routed.location('public/orders/metadata/snap-1.avro')).toBe(`${location}/metadata/snap-1.avro`);
    expect(routed.location('public/orders/run=r1/_manifest.json')).toBe(destination.location('public/orders/run=r1/_manifest.json'));
    expect(routed.location('public/orders/_latest.json')).toBe(destination.location('public/orders/_latest.json'));
    await routed.put('public/orders/run=r1/part-00000-0000-aaaa.parquet', 'PAR1');
    await routed.put('public/orders/run=r1/_SUCCESS', '');
    expect(await destination.size('public/orders/run=r1/part-00000-0000-aaaa.parquet')).toBeNull();
    expect(await routed.size('public/orders/run=r1/part-00000-0000-aaaa.parquet')).toBe(4);
    // The warehouse lists nothing and deletes nothing (S3 Tables refuses both): only the run's documents go.
    expect(await routed.list('public/orders/run=r1/')).toEqual(['public/orders/run=r1/_SUCCESS']);
    await routed.delete(['public/orders/run=r1/_SUCCESS', 'public/orders/run=r1/part-00000-0000-aaaa.parquet']);
    expect(await routed.size('public/orders/run=r1/_SUCCESS')).toBeNull();
    expect(await routed.size('public/orders/run=r1/part-00000-0000-aaaa.parquet')).toBe(4);
    // A deployment without the table bucket refuses the plan instead of writing beside it.
    expect(() => tableDestinationOf({ destination }, plan)).toThrow(
      `table "public"."orders": its Iceberg table is kept at ${location}, outside ${destination.root}, and no table bucket is configured here to reach it (pgsip --table-bucket, the stack's tableBucketArn)`,
    );
  });
});

describe('S3 Tables names', () => {
  it('names a namespace per schema and a table per table as the layout does, - becoming _', () => {
    expect(s3TablesName('public', 'orders', 'q')).toEqual({ namespace: 'public', name: 'orders' });
    expect(s3TablesName('Sales', 'Big Orders', 'q')).toEqual({ namespace: 'sales_8de4e0ea', name: 'big_orders_c5e45e39' });
  });

  it('refuses, naming the table, what S3 Tables would refuse', () => {
    expect(() => s3TablesName('public', '_staging', '"public"."_staging"')).toThrow(
      'table "public"."_staging": its S3 Tables name would be "_staging", which S3 Tables refuses (1-255 lower-case letters, digits and _, beginning and ending with a letter or digit)',
    );
    expect(() => s3TablesName('aws_data', 'orders', '"aws_data"."orders"')).toThrow('table "aws_data"."orders": schema "aws_data" makes the S3 Tables namespace "aws_data", which S3 Tables refuses');
  });

  it('takes table bucket ARNs and refuses anything else in one line', () => {
    expect(checkTableBucketArn('arn:aws:s3tables:eu-west-1:123456789012:bucket/my-lake')).toBe('arn:aws:s3tables:eu-west-1:123456789012:bucket/my-lake');
    expect(() => checkTableBucketArn('s3://my-lake')).toThrow('bad table bucket "s3://my-lake": expected arn:aws:s3tables:<region>:<account>:bucket/<name>');
  });
});
