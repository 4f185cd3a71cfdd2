/**
 * `pgsip run --table-format iceberg --table-bucket ARN`: Iceberg tables kept in an Amazon S3 Tables table
 * bucket, against moto (a community AWS emulator: S3 Tables' control plane with checked version tokens, and
 * each table's warehouse bucket, which refuses listing and DeleteObject as S3 Tables does). The run's
 * documents stay under --dest; every file of the table is in its warehouse; icebird reads the table through
 * the metadata S3 Tables names, equal to the source after a full and an incremental run, each id once.
 */
import { CreateBucketCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { CreateTableBucketCommand, GetTableMetadataLocationCommand, S3TablesClient } from '@aws-sdk/client-s3tables';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { describeCatalog } from '../../bin/commands/catalog';
import { compactTables } from '../../bin/commands/compact';
import { printSummary, runExport } from '../../bin/commands/run';
import { decodeManifestList } from '../../lambdas/engine/iceberg/manifest-avro';
import { verifyRun } from '../../bin/commands/verify';
import { type RunningPostgres, startEmbeddedPostgres } from '../../bin/local/embedded-postgres';
import type { TableMetadata } from '../../lambdas/engine/iceberg/model';
import { readIcebergTableOnS3 } from '../support/icebird-local';
import { type RunningMoto, startMotoServer } from '../support/moto-server';
import { queryRows } from '../support/postgres-queries';

const BUCKET = 'pgsip-runs';
let postgres: RunningPostgres;
let moto: RunningMoto;
let s3: S3Client;
let tables: S3TablesClient;
let bucketArn: string;

const sql = (text: string) => queryRows(postgres.url, text);

beforeAll(async () => {
  postgres = await startEmbeddedPostgres();
  // moto 5.2 serves S3 Tables in the regions its bundled endpoint data lists: us-east-1 is one.
  moto = await startMotoServer({ region: 'us-east-1' });
  for (const [name, value] of Object.entries(moto.env)) vi.stubEnv(name, value);
  vi.stubEnv('AWS_ENDPOINT_URL_S3TABLES', moto.endpoint);
  s3 = new S3Client({ ...moto.client, forcePathStyle: true });
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  tables = new S3TablesClient(moto.client);
  bucketArn = (await tables.send(new CreateTableBucketCommand({ name: 'lake' }))).arn!;
  await sql(`CREATE TABLE public.log (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp(), msg text, amount numeric(10,2));
             INSERT INTO public.log (msg, amount) SELECT 'm' || g, g / 4.0 FROM generate_series(1, 400) g;`);
}, 120_000);

afterAll(async () => {
  s3?.destroy();
  tables?.destroy();
  vi.unstubAllEnvs();
  await moto?.stop();
  await postgres?.stop();
});

const runLog = (extra: Record<string, unknown> = {}) =>
  runExport(
    {
      databaseUrl: postgres.url,
      tables: 'public.log',
      dest: `s3://${BUCKET}/runs`,
      s3Endpoint: moto.endpoint,
      tableBucket: bucketArn,
      shards: '3',
      concurrency: '2',
      compression: 'snappy',
      quiet: true,
      tableFormat: 'iceberg',
      incremental: 'id',
      ...extra,
    } as never,
    () => {},
  );

/** The table as S3 Tables names it now: its warehouse, its metadata. */
async function current(): Promise<{ warehouse: string; metadataLocation: string; metadata: TableMetadata }> {
  const found = await tables.send(new GetTableMetadataLocationCommand({ tableBucketARN: bucketArn, namespace: 'public', name: 'log' }));
  const warehouse = found.warehouseLocation!;
  const key = found.metadataLocation!.slice(warehouse.length + 1);
  const text = await (await s3.send(new GetObjectCommand({ Bucket: warehouse.slice('s3://'.length), Key: key }))).Body!.transformToString();
  return { warehouse, metadataLocation: found.metadataLocation!, metadata: JSON.parse(text) as TableMetadata };
}

/** icebird's read of the current snapshot equals the source, each id once. */
async function expectTableEqualsSource(): Promise<TableMetadata> {
  const { warehouse, metadataLocation, metadata } = await current();
  const rows = await readIcebergTableOnS3(warehouse, s3, metadataLocation.slice(metadataLocation.lastIndexOf('/') + 1));
  const source = await sql('SELECT id::text AS id, msg, amount::text AS amount FROM public.log ORDER BY log.id');
  const read = rows.map((r) => ({ id: String(r.id), msg: r.msg, amount: Number(r.amount).toFixed(2) })).sort((a, b) => Number(a.id) - Number(b.id));
  expect(read).toEqual(source);
  expect(new Set(read.map((r) => r.id)).size).toBe(read.length);
  return metadata;
}

describe('Iceberg tables in an S3 Tables table bucket (moto)', () => {
  it('creates public.log in the bucket, writes every table file to its warehouse and the run documents to --dest, and keeps it exact across an incremental run', async () => {
    const first = await runLog();
    expect(first.commit.tables[0].iceberg).toMatchObject({ outcome: 'committed', operation: 'overwrite' });
    const lines: string[] = [];
    printSummary(first, (l) => lines.push(l));
    const { warehouse, metadataLocation } = await current();
    expect(warehouse).toMatch(/^s3:\/\/[0-9a-f-]+--table-s3$/);
    expect(lines.join('\n')).toContain(metadataLocation);
    await expectTableEqualsSource();
    // The destination holds the run's documents and no data file.
    const docs = (await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'runs/' }))).Contents!.map((o) => o.Key!);
    expect(docs).toContain(`runs/public/log/run=${first.runId}/_manifest.json`);
    expect(docs.filter((k) => k.endsWith('.parquet') || k.includes('/metadata/'))).toEqual([]);

    await sql(`INSERT INTO public.log (msg, amount) SELECT 'n' || g, g FROM generate_series(1, 50) g`);
    const second = await runLog();
    expect(second.commit.tables[0].incremental?.mode).toBe('incremental');
    expect(second.commit.tables[0].iceberg).toMatchObject({ outcome: 'committed' });
    const metadata = await expectTableEqualsSource();
    expect(metadata.snapshots.map((s) => s.summary['pgsip.run-id'])).toEqual([first.runId, second.runId]);
    // Every data, delete and metadata file the table names lies in its warehouse.
    expect(metadata.location).toBe(warehouse);
    for (const s of metadata.snapshots) expect(s['manifest-list'].startsWith(`${warehouse}/metadata/`)).toBe(true);

    // pgsip verify reads the run's parts from the warehouse, given the table bucket; without it, it says so.
    const verified = await verifyRun({ dest: `s3://${BUCKET}/runs`, runId: second.runId, s3Endpoint: moto.endpoint, tableBucket: bucketArn }, () => {});
    expect(verified).toMatchObject([{ table: '"public"."log"', rows: second.commit.tables[0].rows }]);
    await expect(verifyRun({ dest: `s3://${BUCKET}/runs`, runId: second.runId, s3Endpoint: moto.endpoint }, () => {})).rejects.toThrow(
      `table "public"."log": its Iceberg table is kept at ${warehouse}, outside s3://${BUCKET}/runs, and no table bucket is configured here to reach it`,
    );
    // pgsip catalog describes no S3 Tables table (S3 Tables is its catalog) and says why, rather than
    // describing the run folder as a table.
    const described = await describeCatalog({ dest: `s3://${BUCKET}/runs`, format: 'glue-json', s3Endpoint: moto.endpoint });
    expect(described.text).toBe('');
    expect(described.undescribed).toEqual([
      `table "public"."log" is an Iceberg table kept at ${warehouse} (an S3 Tables table bucket): its own catalog registers it, and Athena reads it through the s3tablescatalog federation (docs/iceberg.md, "Amazon S3 Tables")`,
    ]);
  });

  it('expires snapshots past keepRuns in the metadata and leaves the files to S3 Tables, which refuses deletes: the table still reads exact', async () => {
    const before = await current();
    const oldList = before.metadata.snapshots[0]['manifest-list'];
    await sql(`INSERT INTO public.log (msg, amount) SELECT 'o' || g, g FROM generate_series(1, 20) g`);
    const third = await runLog({ keepRuns: '1', retentionGrace: '0m' });
    expect(third.commit.tables[0].iceberg?.expired?.snapshots).toBe(2);
    const metadata = await expectTableEqualsSource();
    expect(metadata.snapshots.map((s) => s.summary['pgsip.run-id'])).toEqual([third.runId]);
    // The expired snapshot's manifest list is still in the warehouse (S3 Tables' unreferenced-file removal
    // deletes it). Every run's data files are still live (appends keep them), so every run keeps its folder.
    const warehouseBucket = before.warehouse.slice('s3://'.length);
    await s3.send(new HeadObjectCommand({ Bucket: warehouseBucket, Key: oldList.slice(before.warehouse.length + 1) }));
    const docs = (await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'runs/public/log/' }))).Contents!.map((o) => o.Key!);
    expect(docs.filter((k) => k.endsWith('/_SUCCESS'))).toHaveLength(3);
  });

  it('compacts the table in its warehouse with pgsip compact --table-bucket: one file, the same rows; a table the bucket lacks is named', async () => {
    // Rows read again at the watermark leave a delete file; with the table's several runs, something to compact.
    await sql(`INSERT INTO public.log (msg, amount) SELECT 'p' || g, g FROM generate_series(1, 10) g`);
    await runLog();
    const before = (await current()).metadata;
    const lines: string[] = [];
    const [result] = await compactTables({ dest: `s3://${BUCKET}/runs`, tables: 'public.log', tableBucket: bucketArn, s3Endpoint: moto.endpoint, quiet: true }, (l) => lines.push(l));
    expect(result).toMatchObject({ outcome: 'compacted', addedFiles: 1 });
    expect(result.rewrittenFiles).toBeGreaterThan(1);
    const metadata = await expectTableEqualsSource();
    expect(metadata.snapshots.at(-1)!.summary).toMatchObject({ operation: 'replace', 'total-data-files': '1', 'total-delete-files': '0' });
    expect(metadata.snapshots.length).toBe(before.snapshots.length + 1);
    // The compacted file is in the warehouse, like every file of the table; the destination holds none.
    const { warehouse } = await current();
    const list = decodeManifestList(new Uint8Array(await (await s3.send(new GetObjectCommand({ Bucket: warehouse.slice('s3://'.length), Key: metadata.snapshots.at(-1)!['manifest-list'].slice(warehouse.length + 1) }))).Body!.transformToByteArray()));
    expect(list.length).toBeGreaterThan(0);
    const docs = (await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'runs/' }))).Contents!.map((o) => o.Key!);
    expect(docs.filter((k) => k.endsWith('.parquet'))).toEqual([]);
    await expect(compactTables({ dest: `s3://${BUCKET}/runs`, tables: 'public.nothing', tableBucket: bucketArn, s3Endpoint: moto.endpoint, quiet: true }, () => {})).rejects.toThrow(
      /^table "public"\."nothing": no Iceberg table for it in s3tables:[\w-]+; nothing to compact$/,
    );
  });

  it('refuses --table-bucket without --table-format iceberg, and with --glue-database, in one line', async () => {
    await expect(runLog({ tableFormat: 'hive' })).rejects.toThrow('--table-bucket holds Iceberg tables: add --table-format iceberg');
    await expect(runLog({ glueDatabase: 'lake' })).rejects.toThrow("--table-bucket and --glue-database: a table bucket's tables are in S3 Tables' own catalog");
  });

  it('refuses a table S3 Tables cannot name before reading a row, naming it', async () => {
    await sql('CREATE TABLE public._staging (id int PRIMARY KEY); INSERT INTO public._staging VALUES (1)');
    await expect(runLog({ tables: 'public._staging', incremental: undefined })).rejects.toThrow(
      'table "public"."_staging": its S3 Tables name would be "_staging", which S3 Tables refuses',
    );
  });
});
