/**
 * `pgsip run --table-format iceberg` to a folder: each table an Iceberg (format v2) table found by its path,
 * each run one snapshot, read back by readers nobody here wrote: icebird (the whole table, through its own
 * metadata, manifest and Parquet reading), fastavro (every manifest and manifest list) and pyarrow (each data
 * file the manifests name, with its field ids), compared with Postgres value by value.
 */
import { existsSync, readFileSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compactTables } from '../../bin/commands/compact';
import { openDestination } from '../../lambdas/engine/destinations/open-destination';
import { compactTable } from '../../lambdas/engine/iceberg/compact-table';
import { FileSystemCatalog } from '../../lambdas/engine/iceberg/file-system-catalog';
import { tableRefIn } from '../../lambdas/engine/iceberg/iceberg-catalog';
import { printSummary, runExport } from '../../bin/commands/run';
import { type RunningPostgres, startEmbeddedPostgres } from '../../bin/local/embedded-postgres';
import type { TableMetadata } from '../../lambdas/engine/iceberg/model';
import { MAX_OPEN_PARTITIONS } from '../../lambdas/engine/iceberg/partition-router';
import { applyTransform } from '../../lambdas/engine/iceberg/partition-transforms';
import { type FastavroValue, readWithFastavro } from '../support/fastavro-read';
import { readIcebergTable } from '../support/icebird-local';
import pg from 'pg';
import { queryRows } from '../support/postgres-queries';
import { readWithPyarrow } from '../support/pyarrow-table';

let postgres: RunningPostgres;
let work: string;

const sql = async (text: string) => ({ rows: await queryRows(postgres.url, text) });

const exportIceberg = (dest: string, extra: Record<string, unknown> = {}) =>
  runExport({ databaseUrl: postgres.url, tables: 'public.events', dest, shards: '4', concurrency: '2', compression: 'snappy', quiet: true, tableFormat: 'iceberg', ...extra } as never, () => {});

/** The table's current metadata, as the version hint names it. */
async function metadataOf(table: string): Promise<{ version: number; metadata: TableMetadata }> {
  const version = Number(await readFile(join(table, 'metadata', 'version-hint.text'), 'utf8'));
  return { version, metadata: JSON.parse(await readFile(join(table, 'metadata', `v${version}.metadata.json`), 'utf8')) as TableMetadata };
}

const str = (v: FastavroValue): string => (typeof v === 'string' ? v : JSON.stringify(v));
const num = (v: FastavroValue): number => (typeof v === 'object' && v !== null && '$long' in v ? Number(v.$long) : Number(v));

/**
 * The live files of a snapshot, as fastavro reads its manifest list and manifests: paths and record counts of
 * entries not deleted, data files and (position) delete files apart.
 */
function snapshotFiles(metadata: TableMetadata, snapshotId: number): { data: { path: string; records: number }[]; deletes: string[] } {
  const snapshot = metadata.snapshots.find((s) => s['snapshot-id'] === snapshotId)!;
  const listPath = fileURLToPath(snapshot['manifest-list']);
  const list = readWithFastavro({ list: new Uint8Array(readFileSync(listPath)) }).list;
  const data: { path: string; records: number }[] = [];
  const deletes: string[] = [];
  for (const record of list.records as Record<string, FastavroValue>[]) {
    const manifestPath = fileURLToPath(str(record.manifest_path));
    const manifest = readWithFastavro({ m: new Uint8Array(readFileSync(manifestPath)) }).m;
    expect(manifest.metadata['format-version']).toBe('2');
    for (const entry of manifest.records as Record<string, FastavroValue>[]) {
      if (num(entry.status) === 2) continue;
      const dataFile = entry.data_file as Record<string, FastavroValue>;
      const path = fileURLToPath(str(dataFile.file_path));
      if (manifest.metadata.content === 'deletes') deletes.push(path);
      else data.push({ path, records: num(dataFile.record_count) });
    }
  }
  return { data, deletes };
}

const liveFiles = (metadata: TableMetadata, snapshotId: number) => snapshotFiles(metadata, snapshotId).data;

/**
 * An independent read of the current table: every live data file through pyarrow, less the rows its position
 * delete files (also read by pyarrow) delete. Each live row's values of the columns `fieldIds` names, found
 * by field id, as pyarrow prints them; sorted by the first.
 */
function liveRows(metadata: TableMetadata, fieldIds: number[]): (string | null)[][] {
  const { data, deletes } = snapshotFiles(metadata, metadata['current-snapshot-id']!);
  const deleted = new Set<string>();
  for (const file of deletes.length > 0 ? readWithPyarrow(deletes) : []) {
    const paths = file.columns.find((c) => c.fieldId === 2147483546)!.values;
    const positions = file.columns.find((c) => c.fieldId === 2147483545)!.values;
    paths.forEach((p, i) => deleted.add(`${fileURLToPath(p!)}#${positions[i]}`));
  }
  const rows: (string | null)[][] = [];
  for (const file of readWithPyarrow(data.map((d) => d.path))) {
    const columns = fieldIds.map((id) => file.columns.find((c) => c.fieldId === id));
    for (let i = 0; i < file.rows; i++) {
      // A column the file predates (added since) reads as null, as Iceberg readers read it.
      if (!deleted.has(`${file.path}#${i}`)) rows.push(columns.map((c) => (c ? (c.values[i] ?? null) : null)));
    }
  }
  return rows.sort((a, b) => Number(a[0]) - Number(b[0]));
}

const liveIds = (metadata: TableMetadata, idFieldId: number): string[] => liveRows(metadata, [idFieldId]).map((r) => r[0]!);

/** The source, one text per value as pyarrow prints the same Parquet value. */
async function sourceRows(): Promise<string[][]> {
  const result = await sql(`
    SELECT id::text, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || 'Z' AS at, amount::text, note,
           to_json(tags)::text AS tags, ratio::text, ref::text, "Order Lines"::text AS ol
      FROM public.events ORDER BY events.id`);
  return result.rows.map((r) => [r.id, r.at, r.amount, r.note, r.tags, r.ratio, r.ref, r.ol]);
}

/** Every row of the data files, as pyarrow reads them, in the source's column order, by id. */
function pyarrowRows(paths: string[], fieldIds: Map<string, number>): string[][] {
  const rows: string[][] = [];
  for (const file of readWithPyarrow(paths)) {
    // Columns are found by field id, as Iceberg readers find them: never by position.
    const byId = new Map(file.columns.map((c) => [c.fieldId, c]));
    const order = ['id', 'at', 'amount', 'note', 'tags', 'ratio', 'ref', 'Order Lines'].map((name) => byId.get(fieldIds.get(name)!)!);
    for (let i = 0; i < file.rows; i++) rows.push(order.map((c) => c.values[i] as string));
  }
  return rows.sort((a, b) => Number(a[0]) - Number(b[0]));
}

/** pyarrow's and Postgres's texts of one value, made comparable where they spell it differently. */
function comparable(row: (string | null)[]): unknown[] {
  const [id, at, amount, note, tags, ratio, ref, ol] = row;
  return [id, at?.replace('T', ' ').replace(/(\.\d{6})?Z$/, (m) => (m.length === 1 ? '.000000Z' : m)), amount, note, tags === null ? null : JSON.parse(tags), ratio === null ? null : Number(ratio === 'nan' || ratio === 'NaN' ? Number.NaN : ratio), ref, ol];
}

/** A table of `public` by its folder under `dest`, with the catalog a run commits it through: for compactTable. */
function folderTable(dest: string, name: string) {
  const destination = openDestination(dest, {});
  const catalog = new FileSystemCatalog(destination, (key) => pathToFileURL(join(dest, key)).href);
  return { destination, catalog, ref: tableRefIn(destination, 'public', name) };
}

const QUIET = { info() {}, warn() {}, error() {} };

beforeAll(async () => {
  postgres = await startEmbeddedPostgres();
  work = await mkdtemp(join(tmpdir(), 'pgsip-iceberg-'));
  await sql(`
    CREATE TABLE public.events (
      id bigint PRIMARY KEY, at timestamptz NOT NULL, amount numeric(12,2), note text, tags int[], ratio float8, ref uuid,
      "Order Lines" integer);
    INSERT INTO public.events
    SELECT g, timestamptz '1969-12-31 23:00:00+00' + g * interval '1 hour 1.000001 second',
           CASE WHEN g % 11 = 0 THEN NULL ELSE (g * 7919 % 100000)::numeric / 100 END,
           CASE WHEN g % 5 = 0 THEN NULL ELSE 'note ' || g || CASE WHEN g % 3 = 0 THEN ' ünï ✓' ELSE '' END END,
           CASE WHEN g % 4 = 0 THEN NULL ELSE ARRAY[g, NULL, -g] END,
           CASE WHEN g % 13 = 0 THEN 'NaN'::float8 ELSE g / 8.0 END,
           md5(g::text)::uuid, g % 17
      FROM generate_series(1, 3000) g;
    ANALYZE public.events;`);
}, 120_000);

afterAll(async () => {
  await postgres?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('Iceberg tables by path (no catalog)', () => {
  let dest: string;
  let table: string;
  let firstRun: string;
  let firstSource: string[][];

  it('commits a full run as one snapshot of a v2 table: icebird reads the source back, pyarrow reads each data file by field id', async () => {
    dest = join(work, 'lake');
    table = join(dest, 'public', 'events');
    const summary = await exportIceberg(dest);
    firstRun = summary.runId;
    expect(summary.commit.tables[0].iceberg).toMatchObject({ outcome: 'committed', operation: 'overwrite', metadata: `file://${table}/metadata/v1.metadata.json` });
    const { version, metadata } = await metadataOf(table);
    expect(version).toBe(1);
    expect(metadata['format-version']).toBe(2);
    expect(metadata.snapshots).toHaveLength(1);
    const [snapshot] = metadata.snapshots;
    expect(snapshot.summary).toMatchObject({ operation: 'append', 'added-records': '3000', 'total-records': '3000', 'pgsip.run-id': firstRun });
    // The portable types, as Iceberg names them: uuid as string, a list of ints, the decimal kept.
    const fields = metadata.schemas[0].fields;
    expect(fields.map((f) => [f.name, typeof f.type === 'string' ? f.type : `list<${f.type.element as string}>`])).toEqual([
      ['id', 'long'], ['at', 'timestamptz'], ['amount', 'decimal(12, 2)'], ['note', 'string'], ['tags', 'list<int>'], ['ratio', 'double'], ['ref', 'string'], ['Order Lines', 'int'],
    ]);

    firstSource = await sourceRows();
    const files = liveFiles(metadata, snapshot['snapshot-id']);
    expect(files.reduce((n, f) => n + f.records, 0)).toBe(3000);
    const ids = new Map(fields.map((f) => [f.name, f.id]));
    expect(pyarrowRows(files.map((f) => f.path), ids).map(comparable)).toEqual(firstSource.map(comparable));

    // icebird: the table as a reader finds it, by path. It reads decimals as numbers and timestamps to the
    // millisecond (docs/iceberg.md, "Reading it back"): compared at that precision.
    const read = await readIcebergTable(table);
    const byIcebird = read.map((r) => [String(r.id), r.note ?? null, r.amount === null || r.amount === undefined ? null : Number(r.amount).toFixed(2), (r.at as Date).getTime(), r['Order Lines']]);
    byIcebird.sort((a, b) => Number(a[0]) - Number(b[0]));
    const expected = await sql(`SELECT id::text, note, amount::text, floor(extract(epoch FROM at) * 1000)::bigint AS ms, "Order Lines" AS ol FROM public.events ORDER BY events.id`);
    expect(byIcebird).toEqual(expected.rows.map((r) => [r.id, r.note, r.amount, Math.floor(Number(r.ms)), r.ol]));
  });

  it('parses every manifest and manifest list with fastavro, with the headers Iceberg readers need', async () => {
    const names = await readdir(join(table, 'metadata'));
    const avro = names.filter((n) => n.endsWith('.avro'));
    expect(avro.length).toBeGreaterThanOrEqual(2);
    const files = readWithFastavro(Object.fromEntries(await Promise.all(avro.map(async (n) => [n, new Uint8Array(await readFile(join(table, 'metadata', n)))] as const))));
    for (const [name, file] of Object.entries(files)) {
      expect(file.metadata['format-version'], name).toBe('2');
      if (name.startsWith('snap-')) {
        expect(Object.keys(file.metadata)).toEqual(expect.arrayContaining(['snapshot-id', 'parent-snapshot-id', 'sequence-number']));
      } else {
        expect(file.metadata).toMatchObject({ content: 'data', 'partition-spec-id': '0', 'schema-id': '0' });
        expect(JSON.parse(file.metadata.schema).fields).toHaveLength(8);
      }
    }
  });

  it('commits the same run once: running it again changes nothing', async () => {
    const again = await exportIceberg(dest, { runId: firstRun });
    expect(again.commit.tables[0].iceberg).toMatchObject({ outcome: 'unchanged' });
    const { version, metadata } = await metadataOf(table);
    expect(version).toBe(1);
    expect(metadata.snapshots).toHaveLength(1);
  });

  it('commits the next full run as an overwrite; the first snapshot is still readable as it was (time travel)', async () => {
    await sql(`DELETE FROM public.events WHERE id % 10 = 0; UPDATE public.events SET note = 'changed' WHERE id % 7 = 1;
               INSERT INTO public.events SELECT g, now(), 1, 'new', NULL, 0, NULL, 0 FROM generate_series(3001, 3100) g;`);
    const second = await exportIceberg(dest);
    expect(second.commit.tables[0].iceberg).toMatchObject({ outcome: 'committed', operation: 'overwrite' });
    const { version, metadata } = await metadataOf(table);
    expect(version).toBe(2);
    expect(metadata.snapshots).toHaveLength(2);
    const [first, latest] = metadata.snapshots;
    expect(latest['parent-snapshot-id']).toBe(first['snapshot-id']);
    expect(latest.summary).toMatchObject({ operation: 'overwrite', 'deleted-records': '3000', 'total-records': String(3000 - 300 + 100) });
    expect(metadata['snapshot-log'].map((e) => e['snapshot-id'])).toEqual([first['snapshot-id'], latest['snapshot-id']]);
    expect(metadata['metadata-log'].map((e) => e['metadata-file'])).toEqual([`file://${table}/metadata/v1.metadata.json`]);

    const now = (await readIcebergTable(table)).map((r) => String(r.id)).sort((a, b) => Number(a) - Number(b));
    expect(now).toEqual((await sourceRows()).map((r) => r[0]));
    // The first snapshot's metadata still reads the table as the first run saw it.
    const then = (await readIcebergTable(table, 'v1.metadata.json')).map((r) => [String(r.id), r.note ?? null]).sort((a, b) => Number(a[0]) - Number(b[0]));
    expect(then).toEqual(firstSource.map((r) => [r[0], r[3]]));
  });

  it('evolves the schema by field id: a column added, one dropped, an int widened to bigint; one table, the kept ids unchanged', async () => {
    await sql(`ALTER TABLE public.events ADD COLUMN region text DEFAULT 'eu'; ALTER TABLE public.events DROP COLUMN ratio;
               ALTER TABLE public.events ALTER COLUMN "Order Lines" TYPE bigint;`);
    await exportIceberg(dest);
    const { metadata } = await metadataOf(table);
    expect(metadata.schemas).toHaveLength(2);
    const [before, after] = metadata.schemas;
    const idOf = (s: typeof before, name: string) => s.fields.find((f) => f.name === name)?.id;
    for (const name of ['id', 'at', 'amount', 'note', 'tags', 'ref', 'Order Lines']) expect(idOf(after, name), name).toBe(idOf(before, name));
    expect(idOf(after, 'ratio')).toBeUndefined();
    expect(idOf(after, 'region')).toBe(metadata['last-column-id']);
    expect(after.fields.find((f) => f.name === 'Order Lines')?.type).toBe('long');
    expect(metadata['current-schema-id']).toBe(after['schema-id']);
    expect(metadata.snapshots.at(-1)!['schema-id']).toBe(after['schema-id']);
    const read = await readIcebergTable(table);
    expect(read.every((r) => r.region === 'eu')).toBe(true);
  });

  it('refuses, in one line and before anything is written, the native types', async () => {
    const fresh = join(work, 'refused');
    await expect(exportIceberg(fresh, { types: 'native' })).rejects.toThrow(/^"types" must be portable for Iceberg tables/);
    expect(await readdir(fresh).catch(() => [])).toEqual([]);
  });

  it('refuses a change Iceberg cannot take with one line naming the column, before anything is written', async () => {
    await sql(`ALTER TABLE public.events ALTER COLUMN note TYPE integer USING length(note)`);
    await expect(exportIceberg(dest)).rejects.toThrow(
      /^table "public"\."events", column "note": it was string in the Iceberg table and is int now, a change Iceberg tables cannot take .*; run with --full to replace the column/,
    );
    expect((await metadataOf(table)).version).toBe(3);
  });

  it('with --full, replaces such a column by a new one (a new field id), said in the manifest; earlier snapshots keep the old', async () => {
    const before = (await metadataOf(table)).metadata;
    const oldId = currentFieldId(before, 'note');
    const full = await exportIceberg(dest, { full: true });
    const { metadata } = await metadataOf(table);
    const newId = currentFieldId(metadata, 'note');
    expect(newId).toBe(before['last-column-id'] + 1);
    const change = `replaced note: string is int now, a new column (field id ${newId}; earlier snapshots keep field ${oldId})`;
    const manifest = JSON.parse(await readFile(join(table, `run=${full.runId}`, '_manifest.json'), 'utf8')) as { schemaChanges?: string[] };
    expect(manifest.schemaChanges).toEqual([change]);
    expect(metadata.snapshots.at(-1)!.summary['pgsip.schema-changes']).toBe(change);
    // The current table reads the new column; the snapshot before reads the old one, by its own schema.
    const now = await readIcebergTable(table);
    const lengths = new Map((await sql('SELECT id::text AS id, note FROM public.events')).rows.map((r) => [String(r.id), r.note as number | null]));
    for (const row of now) expect(row.note ?? null, String(row.id)).toBe(lengths.get(String(row.id)) ?? null);
    const earlier = await readIcebergTable(table, `v${(await metadataOf(table)).version - 1}.metadata.json`);
    expect(earlier.some((r) => typeof r.note === 'string')).toBe(true);
  });
});

describe('incremental runs of an Iceberg table (append-only, rows committed out of order)', () => {
  let dest: string;
  let table: string;
  const runLog = (extra: Record<string, unknown> = {}) =>
    runExport({ databaseUrl: postgres.url, tables: 'public.log', dest, shards: '3', concurrency: '2', compression: 'snappy', quiet: true, tableFormat: 'iceberg', incremental: 'id', ...extra } as never, () => {});
  const sourceIds = async () => (await queryRows<{ id: string }>(postgres.url, 'SELECT id::text AS id FROM public.log ORDER BY log.id')).map((r) => r.id);

  /** After every run: icebird and pyarrow (data files less position deletes) read the source's rows, each once. */
  async function expectTableEqualsSource(): Promise<TableMetadata> {
    const { metadata } = await metadataOf(table);
    const want = await sourceIds();
    const idField = metadata.schemas.find((s) => s['schema-id'] === metadata['current-schema-id'])!.fields.find((f) => f.name === 'id')!.id;
    expect(liveIds(metadata, idField)).toEqual(want);
    const byIcebird = (await readIcebergTable(table)).map((r) => String(r.id)).sort((a, b) => Number(a) - Number(b));
    expect(byIcebird).toEqual(want);
    expect(new Set(byIcebird).size).toBe(byIcebird.length);
    return metadata;
  }

  it('appends each run once, deleting from the table the earlier copies of the rows it read again: no id twice, none lost', async () => {
    dest = join(work, 'log-lake');
    table = join(dest, 'public', 'log');
    await sql(`CREATE TABLE public.log (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp(), msg text);
               INSERT INTO public.log (msg) SELECT 'm' || g FROM generate_series(1, 500) g;`);
    const first = await runLog();
    expect(first.commit.tables[0].iceberg).toMatchObject({ outcome: 'committed' });
    await expectTableEqualsSource();
    const firstVersion = (await metadataOf(table)).version;
    const asOfFirst = await sourceIds();

    // A transaction takes id 501 and stays open while later ids commit: a run now cannot see 501.
    const late = new pg.Client(postgres.url);
    await late.connect();
    await late.query(`BEGIN; INSERT INTO public.log (msg) VALUES ('late')`);
    await sql(`INSERT INTO public.log (msg) SELECT 'n' || g FROM generate_series(1, 100) g`);
    const second = await runLog();
    expect(second.commit.tables[0].incremental?.mode).toBe('incremental');
    expect(second.commit.tables[0].iceberg).toMatchObject({ outcome: 'committed' });
    // The source as this run saw it, and as any other session sees it now: every committed row (not 501 yet).
    await expectTableEqualsSource();
    await late.query('COMMIT');
    await late.end();
    await sql(`INSERT INTO public.log (msg) SELECT 'o' || g FROM generate_series(1, 50) g`);
    const third = await runLog();
    expect(third.commit.tables[0].incremental?.mode).toBe('incremental');
    const metadata = await expectTableEqualsSource();
    // The run read again rows the table held (its watermark stood before the transaction that stayed open):
    // their earlier copies were deleted from the table's files by position, in the same snapshot.
    const head = metadata.snapshots.at(-1)!;
    expect(Number(head.summary['added-position-deletes'])).toBeGreaterThan(0);
    expect(head.summary.operation).toBe('overwrite');
    expect(metadata.snapshots.map((s) => s.summary['pgsip.run-id'])).toEqual([first.runId, second.runId, third.runId]);
    // Time travel: the first snapshot is still the source as the first run saw it.
    const then = (await readIcebergTable(table, `v${firstVersion}.metadata.json`)).map((r) => String(r.id)).sort((a, b) => Number(a) - Number(b));
    expect(then).toEqual(asOfFirst);
    expect(then).not.toEqual(await sourceIds());
  });

  it('evolves the schema of an appended table: old files read the added column as null, new ones have it', async () => {
    await sql(`ALTER TABLE public.log ADD COLUMN tag text; INSERT INTO public.log (msg, tag) SELECT 'p' || g, 'x' FROM generate_series(1, 20) g;`);
    const fourth = await runLog();
    expect(fourth.commit.tables[0].incremental?.mode).toBe('incremental');
    const metadata = await expectTableEqualsSource();
    expect(metadata.schemas).toHaveLength(2);
    const rows = await readIcebergTable(table);
    const tags = await queryRows<{ id: string; tag: string | null }>(postgres.url, 'SELECT id::text AS id, tag FROM public.log');
    const want = new Map(tags.map((r) => [r.id, r.tag]));
    for (const r of rows) expect(r.tag ?? null, String(r.id)).toBe(want.get(String(r.id)));
    expect(rows.filter((r) => r.tag === 'x')).toHaveLength(20);
  });

  it('takes a row updated since the last run as an upsert: its previous version deleted by position, the table equal to the source', async () => {
    // A cursor that moves on update (a timestamp), from a full run on: the chain starts again with it.
    await runLog({ incremental: 'at', full: true });
    await sql(`UPDATE public.log SET msg = 'changed', at = clock_timestamp() WHERE id = (SELECT max(id) FROM public.log)`);
    const next = await runLog({ incremental: 'at' });
    expect(next.commit.tables[0].iceberg).toMatchObject({ outcome: 'committed', changed: 1 });
    await expectTableEqualsSource();
    const rows = await readIcebergTable(table);
    expect(rows.filter((r) => r.msg === 'changed')).toHaveLength(1);
  });
});

describe('upserts: incremental runs of a mutable table (an updated_at cursor)', () => {
  it('keeps the table equal to the source, value by value, under inserts, updates and deletes (many rows at the watermark, an update and a delete committed out of order) across runs', async () => {
    const dest = join(work, 'accounts-lake');
    const table = join(dest, 'public', 'accounts');
    await sql(`CREATE TABLE public.accounts (id bigint PRIMARY KEY, balance numeric(12,2) NOT NULL, note text, updated_at timestamptz NOT NULL DEFAULT clock_timestamp());
               INSERT INTO public.accounts (id, balance, note) SELECT g, g, 'n' || g FROM generate_series(1, 2000) g;`);
    const run = () =>
      runExport({ databaseUrl: postgres.url, tables: 'public.accounts', dest, shards: '2', concurrency: '2', compression: 'snappy', quiet: true, tableFormat: 'iceberg', incremental: 'updated_at', deletes: 'keyset' } as never, () => {});
    const source = async () =>
      (await queryRows<{ id: string; balance: string; note: string | null }>(postgres.url, 'SELECT id::text AS id, balance::text AS balance, note FROM public.accounts ORDER BY accounts.id')).map((r) => [r.id, r.balance, r.note]);
    /** icebird and pyarrow (data files less position deletes) each read the source's rows, every id once. */
    const expectEqualsSource = async () => {
      const { metadata } = await metadataOf(table);
      const fields = new Map(metadata.schemas.find((x) => x['schema-id'] === metadata['current-schema-id'])!.fields.map((f) => [f.name, f.id]));
      const want = await source();
      expect(liveRows(metadata, ['id', 'balance', 'note'].map((n) => fields.get(n)!))).toEqual(want);
      const byIcebird = (await readIcebergTable(table)).map((r) => [String(r.id), Number(r.balance).toFixed(2), (r.note as string | null) ?? null]).sort((a, b) => Number(a[0]) - Number(b[0]));
      expect(byIcebird).toEqual(want);
      return metadata;
    };

    await run();
    await expectEqualsSource();
    // Updates and inserts; 300 rows updated in one statement share one updated_at, which the next run's
    // watermark then stands on (inclusive): read again, each still once.
    await sql(`UPDATE public.accounts SET balance = balance + 0.5, note = 'u1', updated_at = now() WHERE id % 7 = 0;
               INSERT INTO public.accounts (id, balance, note) SELECT g, g, 'new' FROM generate_series(2001, 2100) g;
               DELETE FROM public.accounts WHERE id % 50 = 1;`);
    const second = await run();
    // 285 rows updated, of which 5 deleted since (id % 350 = 301): 280 changed, 40 deleted.
    expect(second.commit.tables[0].iceberg).toMatchObject({ outcome: 'committed', changed: 280, deleted: 40 });
    await expectEqualsSource();
    // An update held open while other rows change and the run reads: it commits after the run's snapshot
    // with an updated_at before the run's watermark, and the next run still finds it (the watermark stands
    // before transactions open at the last run).
    const late = new pg.Client(postgres.url);
    await late.connect();
    await late.query(`BEGIN; UPDATE public.accounts SET note = 'late', updated_at = clock_timestamp() WHERE id = 5; DELETE FROM public.accounts WHERE id = 6`);
    await sql(`UPDATE public.accounts SET note = 'u2', balance = 0, updated_at = now() WHERE id % 7 = 0 AND id < 700; DELETE FROM public.accounts WHERE id = 9`);
    const third = await run();
    // The delete committed before the run's snapshot is carried; the one still open is not yet a delete.
    expect(third.commit.tables[0].iceberg?.deleted).toBe(1);
    await expectEqualsSource();
    await late.query('COMMIT');
    await late.end();
    await sql(`UPDATE public.accounts SET note = NULL, updated_at = clock_timestamp() WHERE id IN (2, 2100)`);
    const fourth = await run();
    const metadata = await expectEqualsSource();
    expect(fourth.commit.tables[0].iceberg?.changed).toBeGreaterThanOrEqual(3);
    const head = metadata.snapshots.at(-1)!;
    expect(head.summary).toMatchObject({ operation: 'overwrite', 'pgsip.changed-rows': String(fourth.commit.tables[0].iceberg?.changed) });
    expect(Number(head.summary['pgsip.reread-rows'])).toBeGreaterThan(0);
    expect((await readIcebergTable(table)).find((r) => String(r.id) === '5')?.note).toBe('late');
    expect(fourth.commit.tables[0].iceberg?.deleted).toBe(1);
    expect((await readIcebergTable(table)).some((r) => String(r.id) === '6')).toBe(false);
  });

  it('carries deletes with --deletes keyset: rows gone at the source leave the table; a run that would delete 30% stops, and commits when told to', async () => {
    const dest = join(work, 'members-lake');
    const table = join(dest, 'public', 'members');
    await sql(`CREATE TABLE public.members (id bigint PRIMARY KEY, name text NOT NULL, updated_at timestamptz NOT NULL DEFAULT clock_timestamp());
               INSERT INTO public.members (id, name) SELECT g, 'm' || g FROM generate_series(1, 2000) g;`);
    const run = (extra: Record<string, unknown> = {}) =>
      runExport({ databaseUrl: postgres.url, tables: 'public.members', dest, shards: '3', concurrency: '2', compression: 'snappy', quiet: true, tableFormat: 'iceberg', incremental: 'updated_at', deletes: 'keyset', ...extra } as never, () => {});
    const source = async () => (await queryRows<{ id: string; name: string }>(postgres.url, 'SELECT id::text AS id, name FROM public.members ORDER BY members.id')).map((r) => [r.id, r.name]);
    const expectEqualsSource = async () => {
      const { metadata } = await metadataOf(table);
      const fields = new Map(metadata.schemas.at(-1)!.fields.map((f) => [f.name, f.id]));
      const want = await source();
      expect(liveRows(metadata, [fields.get('id')!, fields.get('name')!])).toEqual(want);
      expect((await readIcebergTable(table)).map((r) => [String(r.id), r.name]).sort((a, b) => Number(a[0]) - Number(b[0]))).toEqual(want);
      return metadata;
    };
    await run();
    await sql(`DELETE FROM public.members WHERE id % 40 = 0;
               UPDATE public.members SET name = 'renamed', updated_at = clock_timestamp() WHERE id BETWEEN 101 AND 110;
               INSERT INTO public.members (id, name) SELECT g, 'late' FROM generate_series(2001, 2005) g;`);
    const second = await run();
    expect(second.commit.tables[0].iceberg).toMatchObject({ outcome: 'committed', changed: 10, deleted: 50 });
    const lines: string[] = [];
    printSummary(second, (l) => lines.push(l));
    expect(lines).toContain('    deletes: 50 row(s) gone at the source deleted from the table');
    const metadata = await expectEqualsSource();
    expect(metadata.snapshots.at(-1)!.summary).toMatchObject({ 'pgsip.deleted-rows': '50', 'pgsip.changed-rows': '10' });
    // The run manifest says it too: rows added, changed and deleted, and the snapshot.
    const manifest = JSON.parse(await readFile(join(table, `run=${second.runId}`, '_manifest.json'), 'utf8')) as { rows: number; iceberg: unknown };
    expect(manifest).toMatchObject({ rows: second.commit.tables[0].rows, iceberg: { snapshotId: metadata['current-snapshot-id'], changed: 10, deleted: 50 } });

    // 30% of the table gone at once: the run stops before committing, and says how to go on.
    await sql(`DELETE FROM public.members WHERE id % 10 IN (1, 2, 3)`);
    const before = await metadataOf(table);
    const latest = await readFile(join(table, '_latest.json'), 'utf8');
    await expect(run()).rejects.toThrow(
      /^table "public"\."members": the run would delete 603 of the table's 1955 rows \(30\.8%\), more than maxDeleteShare allows \(10%\): their keys are not in the source's keyset; nothing committed\. If the source did lose them, start a new run with --max-delete-share 0\.31 \(maxDeleteShare in the execution input; a resumed run keeps its planned share\)$/,
    );
    expect((await metadataOf(table)).version).toBe(before.version);
    expect(await readFile(join(table, '_latest.json'), 'utf8')).toBe(latest);
    const told = await run({ maxDeleteShare: '0.31' });
    expect(told.commit.tables[0].iceberg?.deleted).toBeGreaterThan(500);
    await expectEqualsSource();
  });

  it('carries deletes of a table keyed by bigint at both ends of its range (a key column named n): its keyset is runs of keys, read back exactly', async () => {
    const dest = join(work, 'edge-keys-lake');
    await sql(`CREATE TABLE public.edges (n bigint PRIMARY KEY, label text, updated_at timestamptz NOT NULL DEFAULT clock_timestamp());
               INSERT INTO public.edges (n, label) SELECT g, 'e' FROM generate_series(-9223372036854775808, -9223372036854775800) g;
               INSERT INTO public.edges (n, label) SELECT g, 'e' FROM generate_series(9223372036854775800, 9223372036854775807) g;
               INSERT INTO public.edges (n, label) SELECT g, 'e' FROM generate_series(-5, 5) g;
               INSERT INTO public.edges (n, label) VALUES (100, 'single'), (102, 'single');`);
    const run = () =>
      runExport({ databaseUrl: postgres.url, tables: 'public.edges', dest, shards: '1', concurrency: '1', compression: 'snappy', quiet: true, tableFormat: 'iceberg', incremental: 'updated_at', deletes: 'keyset', maxDeleteShare: '0.5' } as never, () => {});
    await run();
    await sql(`DELETE FROM public.edges WHERE n IN (-9223372036854775808, -9223372036854775804, 9223372036854775807, 0, 102)`);
    const second = await run();
    expect(second.commit.tables[0].iceberg?.deleted).toBe(5);
    // The keyset the run read: runs of consecutive keys, one line per key that starts or ends one.
    const table = join(dest, 'public', 'edges');
    const runDir = join(table, `run=${second.runId}`);
    const [file] = await readdir(join(runDir, '_keyset'));
    expect(file).toMatch(/\.runs\.gz$/);
    const { gunzipSync } = await import('node:zlib');
    expect(gunzipSync(await readFile(join(runDir, '_keyset', file))).toString('utf8').trim().split('\n')).toEqual([
      '-9223372036854775807\ts', '-9223372036854775805\te', '-9223372036854775803\ts', '-9223372036854775800\te',
      '-5\ts', '-1\te', '1\ts', '5\te', '100\tse', '9223372036854775800\ts', '9223372036854775806\te',
    ]);
    const ids = (await readIcebergTable(table)).map((r) => String(r.n)).sort();
    expect(ids).toEqual((await queryRows<{ id: string }>(postgres.url, 'SELECT n::text AS id FROM public.edges')).map((r) => r.id).sort());
  });

  it('carries deletes of a table keyed by text (quotes, commas, newlines and non-ASCII in its keys) and of one keyed by uuid', async () => {
    const dest = join(work, 'text-keys-lake');
    await sql(`CREATE TABLE public.codes (code text PRIMARY KEY, label text, updated_at timestamptz NOT NULL DEFAULT clock_timestamp());
               INSERT INTO public.codes (code, label) SELECT 'c' || g || CASE g % 4 WHEN 0 THEN ',x' WHEN 1 THEN E'\\n"q"' WHEN 2 THEN ' ünï ✓' ELSE '' END, 'l' || g FROM generate_series(1, 60) g;
               CREATE TABLE public.things (id uuid PRIMARY KEY, label text, updated_at timestamptz NOT NULL DEFAULT clock_timestamp());
               INSERT INTO public.things (id, label) SELECT md5(g::text)::uuid, 't' || g FROM generate_series(1, 60) g;`);
    const run = () =>
      runExport({ databaseUrl: postgres.url, tables: 'public.codes,public.things', dest, shards: '2', concurrency: '2', compression: 'snappy', quiet: true, tableFormat: 'iceberg', incremental: 'updated_at', deletes: 'keyset' } as never, () => {});
    await run();
    await sql(`DELETE FROM public.codes WHERE code IN (SELECT code FROM public.codes ORDER BY code LIMIT 3);
               DELETE FROM public.things WHERE id IN (SELECT id FROM public.things ORDER BY id LIMIT 2);`);
    const second = await run();
    expect(second.commit.tables.map((t) => [t.table, t.iceberg?.deleted])).toEqual([
      ['"public"."codes"', 3],
      ['"public"."things"', 2],
    ]);
    const codes = (await readIcebergTable(join(dest, 'public', 'codes'))).map((r) => String(r.code)).sort();
    expect(codes).toEqual((await queryRows<{ code: string }>(postgres.url, 'SELECT code FROM public.codes')).map((r) => r.code).sort());
    const things = (await readIcebergTable(join(dest, 'public', 'things'))).map((r) => String(r.id)).sort();
    expect(things).toEqual((await queryRows<{ id: string }>(postgres.url, 'SELECT id::text AS id FROM public.things')).map((r) => r.id).sort());
  });

  it('refuses deletes "keyset" where it cannot work, in one line naming the table: a folder table, no --incremental, a key it cannot compare', async () => {
    const dest = join(work, 'refused-deletes');
    const run = (extra: Record<string, unknown>) =>
      runExport({ databaseUrl: postgres.url, tables: 'public.members', dest, shards: '1', concurrency: '1', compression: 'snappy', quiet: true, incremental: 'updated_at', deletes: 'keyset', ...extra } as never, () => {});
    await expect(run({ tableFormat: 'hive' })).rejects.toThrow(
      'table "public"."members": deletes "keyset" removes rows from an Iceberg table: set tableFormat iceberg (a folder of runs keeps every row it was given)',
    );
    await expect(run({ tableFormat: 'iceberg', incremental: undefined })).rejects.toThrow('--deletes keyset needs --incremental: a full run replaces the table, deletes included');
    await sql(`CREATE TABLE public.readings (at timestamptz PRIMARY KEY, v int); INSERT INTO public.readings VALUES (now(), 1);`);
    await expect(run({ tableFormat: 'iceberg', tables: 'public.readings', incremental: 'at' })).rejects.toThrow(
      'table "public"."readings": deletes "keyset" compares keys by their text: the primary key column "at" is timestamp with time zone; integer, text, varchar and uuid keys are built',
    );
  });

  it('upserts a partitioned table: a row that moves to another partition leaves a delete in its old one', async () => {
    const dest = join(work, 'regions-lake');
    const table = join(dest, 'public', 'regional');
    await sql(`CREATE TABLE public.regional (id int PRIMARY KEY, region text NOT NULL, updated_at timestamptz NOT NULL DEFAULT clock_timestamp());
               INSERT INTO public.regional (id, region) SELECT g, CASE WHEN g % 2 = 0 THEN 'eu' ELSE 'us' END FROM generate_series(1, 400) g;`);
    const run = () =>
      runExport({ databaseUrl: postgres.url, tables: 'public.regional', dest, shards: '2', concurrency: '2', compression: 'snappy', quiet: true, tableFormat: 'iceberg', incremental: 'updated_at', partitionBy: ['identity(region)'] } as never, () => {});
    const source = async () => (await queryRows<{ id: string; region: string }>(postgres.url, 'SELECT id::text AS id, region FROM public.regional ORDER BY regional.id')).map((r) => [r.id, r.region]);
    await run();
    await sql(`UPDATE public.regional SET region = 'ap', updated_at = clock_timestamp() WHERE id <= 10`);
    const second = await run();
    expect(second.commit.tables[0].iceberg?.changed).toBe(10);
    const { metadata } = await metadataOf(table);
    const fields = new Map(metadata.schemas.at(-1)!.fields.map((f) => [f.name, f.id]));
    expect(liveRows(metadata, [fields.get('id')!, fields.get('region')!])).toEqual(await source());
    expect((await readIcebergTable(table)).map((r) => [String(r.id), r.region]).sort((a, b) => Number(a[0]) - Number(b[0]))).toEqual(await source());
    // The deletes went to the partitions the rows left (eu and us), each a delete file of its own.
    const { deletes } = snapshotFiles(metadata, metadata['current-snapshot-id']!);
    expect(deletes).toHaveLength(2);
    // Between them the 10 moved rows (ids 1-10, by parity) and the rows read again at the watermark.
    const reread = Number(metadata.snapshots.at(-1)!.summary['pgsip.reread-rows']);
    expect(readWithPyarrow(deletes).reduce((n, f) => n + f.rows, 0)).toBe(10 + reread);
  });
});

describe('compaction (pgsip compact)', () => {
  const LEDGER_COLUMNS = `id, amount, small, note, doc, raw, flag, day, at, tz, ratio, score, ref, tags, amounts, flags, n`;
  const ledgerRows = (from: string, to: string, note: string) => `
    SELECT g, (g * 1234567.89123)::numeric(30,5) * CASE WHEN g % 2 = 0 THEN -1 ELSE 1 END, (g % 999) / 10.0,
           CASE WHEN g % 7 = 0 THEN NULL ELSE '${note} ' || g || CASE WHEN g % 3 = 0 THEN ' ünï ✓ 𝄞' ELSE '' END END,
           jsonb_build_object('g', g, 'x', repeat('y', g % 40)), CASE WHEN g % 5 = 0 THEN NULL ELSE decode(md5(g::text), 'hex') END,
           CASE WHEN g % 6 = 0 THEN NULL ELSE g % 2 = 0 END, date '1960-01-01' + g, timestamp '1999-12-31 23:59:59.999999' + g * interval '1.000001 s',
           timestamptz '2024-02-29 12:00:00+00' - g * interval '1 day 1 microsecond', CASE WHEN g % 11 = 0 THEN 'NaN'::real ELSE g / 7.0 END,
           CASE WHEN g % 13 = 0 THEN '-Infinity'::float8 ELSE g * 1e-7 END, md5(g::text || 'r')::uuid,
           CASE WHEN g % 4 = 0 THEN NULL WHEN g % 4 = 1 THEN ARRAY[]::text[] ELSE ARRAY['a' || g, NULL, 'ü'] END,
           ARRAY[g * 1.25, NULL]::numeric(12,2)[], ARRAY[g % 2 = 0, NULL], CASE WHEN g % 9 = 0 THEN NULL ELSE g END
      FROM generate_series(${from}, ${to}) g`;

  /** Every live row of the current snapshot, all columns, as pyarrow reads the files (less position deletes). */
  const allLiveRows = (metadata: TableMetadata) => liveRows(metadata, metadata.schemas.find((x) => x['schema-id'] === metadata['current-schema-id'])!.fields.map((f) => f.id));

  it('after ten incremental runs (updates, inserts, deletes carried), rewrites the table into one file with no delete file that reads the same, value by value; runs go on on top of it', async () => {
    const dest = join(work, 'compact-lake');
    const table = join(dest, 'public', 'ledger');
    await sql(`CREATE TABLE public.ledger (id bigint PRIMARY KEY, amount numeric(30,5), small numeric(5,2), note text, doc jsonb, raw bytea, flag boolean, day date,
                 at timestamp, tz timestamptz, ratio real, score float8, ref uuid, tags text[], amounts numeric(12,2)[], flags boolean[], n int,
                 updated_at timestamptz NOT NULL DEFAULT clock_timestamp());
               INSERT INTO public.ledger (${LEDGER_COLUMNS}) ${ledgerRows('1', '1500', 'first')};`);
    const run = () =>
      runExport({ databaseUrl: postgres.url, tables: 'public.ledger', dest, shards: '3', concurrency: '2', compression: 'snappy', quiet: true, tableFormat: 'iceberg', incremental: 'updated_at', deletes: 'keyset' } as never, () => {});
    const sourceIds = async () => (await queryRows<{ id: string; note: string | null }>(postgres.url, 'SELECT id::text AS id, note FROM public.ledger ORDER BY ledger.id')).map((r) => [r.id, r.note]);
    const expectSource = async () => {
      const byIcebird = (await readIcebergTable(table)).map((r) => [String(r.id), (r.note as string | null) ?? null]).sort((a, b) => Number(a[0]) - Number(b[0]));
      expect(byIcebird).toEqual(await sourceIds());
    };
    await run();
    for (let i = 1; i <= 10; i++) {
      await sql(`UPDATE public.ledger SET note = 'v${i}', amount = amount + 1, tags = ARRAY['u${i}'], updated_at = clock_timestamp() WHERE id % 13 = ${i};
                 DELETE FROM public.ledger WHERE id % 97 = ${i};
                 INSERT INTO public.ledger (${LEDGER_COLUMNS}) ${ledgerRows(String(1500 + i * 10), String(1509 + i * 10), `run${i}`)};`);
      await run();
    }
    const before = (await metadataOf(table)).metadata;
    const filesBefore = snapshotFiles(before, before['current-snapshot-id']!);
    expect(filesBefore.deletes.length).toBeGreaterThanOrEqual(10);
    const rowsBefore = allLiveRows(before);
    expect(rowsBefore.map((r) => [r[0], r[3]])).toEqual(await sourceIds());

    const lines: string[] = [];
    const [result] = await compactTables({ dest, tables: 'public.ledger', quiet: true }, (l) => lines.push(l));
    expect(result).toMatchObject({ outcome: 'compacted', rewrittenFiles: filesBefore.data.length, removedDeleteFiles: filesBefore.deletes.length, addedFiles: 1, rows: rowsBefore.length });
    expect(lines).toEqual([
      expect.stringMatching(
        new RegExp(`^"public"\\."ledger": rewrote ${filesBefore.data.length} data file\\(s\\) holding ${rowsBefore.length.toLocaleString('en-US')} live row\\(s\\) and [\\d,]+ deleted one\\(s\\), and ${filesBefore.deletes.length} delete file\\(s\\) into 1 file\\(s\\) in [\\d.]+ s; snapshot \\d+ \\(replace, compact-[\\w-]+\\)$`),
      ),
    ]);
    const after = (await metadataOf(table)).metadata;
    const filesAfter = snapshotFiles(after, after['current-snapshot-id']!);
    expect(filesAfter.deletes).toEqual([]);
    expect(filesAfter.data).toEqual([{ path: expect.stringMatching(/\/run=_compact-[^/]+\/part-[^/]+\.parquet$/), records: rowsBefore.length }]);
    // Every value of every column, as pyarrow reads it, is what it was; icebird reads the source.
    expect(allLiveRows(after)).toEqual(rowsBefore);
    await expectSource();
    expect(after.snapshots.at(-1)!.summary).toMatchObject({ operation: 'replace', 'total-delete-files': '0', 'total-position-deletes': '0', 'total-records': String(rowsBefore.length), 'total-data-files': '1' });
    expect(after.snapshots.at(-1)!.summary['pgsip.run-id']).toBeUndefined();

    // A compaction killed before its commit left a folder no snapshot names: a compaction a week later removes
    // it, and keeps the (as old by then) folder the table's files are in.
    const [kept] = (await readdir(table)).filter((n) => n.startsWith('run=_compact-'));
    const orphan = join(table, 'run=_compact-20261201T000000Z-0a0b0c');
    await mkdir(orphan);
    await copyFile(filesAfter.data[0].path, join(orphan, 'part-00000-0000-deadbeef.parquet'));
    const { destination, catalog, ref } = folderTable(dest, 'ledger');
    const later = await compactTable(ref, { destination, catalog, log: QUIET }, { now: new Date(Date.now() + 8 * 24 * 3600_000) });
    expect(later).toMatchObject({ outcome: 'unchanged', removedOrphans: ['public/ledger/run=_compact-20261201T000000Z-0a0b0c'] });
    expect((await readdir(table)).filter((n) => n.startsWith('run=_compact-'))).toEqual([kept]);
    await expectSource();

    // Nothing left to do; a dry run says so too.
    expect((await compactTables({ dest, tables: 'public.ledger', quiet: true, dryRun: true }, () => {}))[0].outcome).toBe('unchanged');
    // The next run finds the rows it replaces, and the keys gone, in the rewritten file.
    await sql(`UPDATE public.ledger SET note = 'after', updated_at = clock_timestamp() WHERE id IN (20, 21);
               DELETE FROM public.ledger WHERE id = 50;`);
    const next = await run();
    expect(next.commit.tables[0].iceberg).toMatchObject({ outcome: 'committed', deleted: 1 });
    expect(next.commit.tables[0].iceberg?.changed).toBeGreaterThanOrEqual(2);
    await expectSource();
    const planned = await compactTables({ dest, tables: 'public.ledger', quiet: true, dryRun: true }, () => {});
    const now = (await metadataOf(table)).metadata;
    // The rewritten file (rows deleted from it) and the run's small files, with the run's delete file.
    expect(planned[0]).toMatchObject({ outcome: 'planned', rewrittenFiles: snapshotFiles(now, now['current-snapshot-id']!).data.length, removedDeleteFiles: 1 });
    expect(planned[0].rewrittenFiles).toBeGreaterThanOrEqual(2);
  });

  it('compacts each partition and each file schema apart (a column added between runs), and retries from the start when a run commits meanwhile', async () => {
    const dest = join(work, 'compact-parts-lake');
    const table = join(dest, 'public', 'zones');
    await sql(`CREATE TABLE public.zones (id int PRIMARY KEY, region text NOT NULL, v numeric(12,2), updated_at timestamptz NOT NULL DEFAULT clock_timestamp());
               INSERT INTO public.zones (id, region, v) SELECT g, CASE WHEN g % 2 = 0 THEN 'eu' ELSE 'us' END, g / 4.0 FROM generate_series(1, 600) g;`);
    const run = () =>
      runExport({ databaseUrl: postgres.url, tables: 'public.zones', dest, shards: '2', concurrency: '2', compression: 'snappy', quiet: true, tableFormat: 'iceberg', incremental: 'updated_at', partitionBy: ['identity(region)'] } as never, () => {});
    const source = async () => (await queryRows<{ id: string; region: string; v: string; extra: string | null }>(postgres.url, 'SELECT id::text AS id, region, v::text AS v, extra FROM public.zones ORDER BY zones.id')).map((r) => [r.id, r.region, r.v, r.extra]);
    await sql(`ALTER TABLE public.zones ADD COLUMN extra text`);
    await run();
    await sql(`UPDATE public.zones SET v = v + 1, updated_at = clock_timestamp() WHERE id % 10 = 0`);
    await run();
    await sql(`ALTER TABLE public.zones DROP COLUMN extra; UPDATE public.zones SET v = v + 2, updated_at = clock_timestamp() WHERE id % 10 = 1`);
    await run();
    await sql(`ALTER TABLE public.zones ADD COLUMN extra text; UPDATE public.zones SET extra = 'x' || id, updated_at = clock_timestamp() WHERE id % 10 = 2`);
    await run();
    const before = (await metadataOf(table)).metadata;
    const rowsBefore = allLiveRows(before);

    // A run commits while the compaction is about to: its compare-and-swap loses, and it compacts again on the new table.
    const { destination, catalog: inner, ref } = folderTable(dest, 'zones');
    let raced = false;
    const racing = {
      name: inner.name,
      load: (r: Parameters<typeof inner.load>[0]) => inner.load(r),
      commit: async (...args: Parameters<typeof inner.commit>) => {
        if (!raced) {
          raced = true;
          await sql(`UPDATE public.zones SET v = 0, updated_at = clock_timestamp() WHERE id IN (3, 4)`);
          await run();
        }
        return inner.commit(...args);
      },
    };
    const result = await compactTable(ref, { destination, catalog: racing, log: QUIET });
    expect(raced).toBe(true);
    expect(result.outcome).toBe('compacted');
    const after = (await metadataOf(table)).metadata;
    const files = snapshotFiles(after, after['current-snapshot-id']!);
    expect(files.deletes).toEqual([]);
    // Two regions, and in each one file per file schema: with "extra", without it, and with the "extra" added
    // again (a new field id: a dropped column's id is never given again).
    expect(files.data).toHaveLength(6);
    const shapes = readWithPyarrow(files.data.map((f) => f.path)).map((f) => f.columns.map((c) => `${c.name}#${c.fieldId}`).join(','));
    expect(new Set(shapes).size).toBe(3);
    expect(shapes.filter((s) => s.includes('extra'))).toHaveLength(4);
    const want = await source();
    expect((await readIcebergTable(table)).map((r) => [String(r.id), r.region, Number(r.v).toFixed(2), (r.extra as string | null) ?? null]).sort((a, b) => Number(a[0]) - Number(b[0]))).toEqual(want);
    expect(allLiveRows(after).map((r) => r[0])).toEqual(rowsBefore.map((r) => r[0]));
    // What the lost attempt wrote is gone: one compaction folder is left.
    expect((await readdir(table)).filter((n) => n.startsWith('run=_compact-'))).toHaveLength(1);
  });

  it('with --compact-at N, compacts a table after the commit that leaves it N delete files, and says so', async () => {
    const dest = join(work, 'compact-at-lake');
    const table = join(dest, 'public', 'tallies');
    await sql(`CREATE TABLE public.tallies (id int PRIMARY KEY, n int NOT NULL, updated_at timestamptz NOT NULL DEFAULT clock_timestamp());
               INSERT INTO public.tallies (id, n) SELECT g, 0 FROM generate_series(1, 500) g;`);
    const run = () =>
      runExport({ databaseUrl: postgres.url, tables: 'public.tallies', dest, shards: '2', concurrency: '2', compression: 'snappy', quiet: true, tableFormat: 'iceberg', incremental: 'updated_at', compactAt: '3' } as never, () => {});
    await run();
    const results = [];
    for (let i = 1; i <= 3; i++) {
      await sql(`UPDATE public.tallies SET n = n + 1, updated_at = clock_timestamp() WHERE id % 7 = ${i}`);
      results.push(await run());
    }
    expect(results.slice(0, 2).map((r) => r.commit.tables[0].iceberg?.compacted)).toEqual([undefined, undefined]);
    const compacted = results[2].commit.tables[0].iceberg?.compacted;
    expect(compacted).toMatchObject({ removedDeleteFiles: 3, addedFiles: 1 });
    const lines: string[] = [];
    printSummary(results[2], (l) => lines.push(l));
    expect(lines).toContainEqual(expect.stringMatching(/^ {4}compaction: \d+ data file\(s\) and 3 delete file\(s\) rewritten into 1 file\(s\), snapshot \d+$/));
    const { metadata } = await metadataOf(table);
    expect(snapshotFiles(metadata, metadata['current-snapshot-id']!).deletes).toEqual([]);
    expect(metadata.snapshots.at(-1)!.summary.operation).toBe('replace');
    const want = (await queryRows<{ id: string; n: string }>(postgres.url, 'SELECT id::text AS id, n::text AS n FROM public.tallies ORDER BY tallies.id')).map((r) => [r.id, r.n]);
    expect((await readIcebergTable(table)).map((r) => [String(r.id), String(r.n)]).sort((a, b) => Number(a[0]) - Number(b[0]))).toEqual(want);
    // A folder table has nothing to compact: refused before anything runs.
    await expect(
      runExport({ databaseUrl: postgres.url, tables: 'public.tallies', dest: join(work, 'compact-at-hive'), shards: '1', concurrency: '1', compression: 'snappy', quiet: true, compactAt: '3' } as never, () => {}),
    ).rejects.toThrow('"compactAtDeleteFiles" compacts Iceberg tables: set tableFormat iceberg (a folder of runs has no delete files)');
  });

  it('trusts the table, not the catalog\'s answer, when a swap answered as lost took after all; stops before its commit past a deadline or a size limit, leaving nothing', async () => {
    const dest = join(work, 'compact-edges-lake');
    const table = join(dest, 'public', 'marks');
    await sql(`CREATE TABLE public.marks (id int PRIMARY KEY, v text, updated_at timestamptz NOT NULL DEFAULT clock_timestamp());
               INSERT INTO public.marks (id, v) SELECT g, 'v' || g FROM generate_series(1, 300) g;`);
    const run = () =>
      runExport({ databaseUrl: postgres.url, tables: 'public.marks', dest, shards: '2', concurrency: '2', compression: 'snappy', quiet: true, tableFormat: 'iceberg', incremental: 'updated_at' } as never, () => {});
    await run();
    await sql(`UPDATE public.marks SET v = 'w', updated_at = clock_timestamp() WHERE id % 3 = 0`);
    await run();
    const { destination, catalog: inner, ref } = folderTable(dest, 'marks');
    const log = QUIET;
    const before = await metadataOf(table);
    const folders = async () => (await readdir(table)).filter((n) => n.startsWith('run=_compact-'));

    // Over the size limit, or past its deadline: nothing committed, nothing left behind.
    expect(await compactTable(ref, { destination, catalog: inner, log }, { maxRewriteBytes: 1 })).toMatchObject({ outcome: 'too-large' });
    await expect(compactTable(ref, { destination, catalog: inner, log }, { deadline: Date.now() - 1 })).rejects.toThrow(
      'table "public"."marks": the compaction ran out of time before its commit; nothing committed (run pgsip compact, which has no deadline)',
    );
    expect((await metadataOf(table)).version).toBe(before.version);
    expect(await folders()).toEqual([]);

    // The swap takes, and the catalog answers that it lost: the table holds the snapshot, so its files stay.
    const liar = { name: inner.name, load: (r: typeof ref) => inner.load(r), commit: async (...args: Parameters<typeof inner.commit>) => ((await inner.commit(...args)), { committed: false as const, reason: 'lost in transit' }) };
    const result = await compactTable(ref, { destination, catalog: liar, log });
    expect(result.outcome).toBe('compacted');
    const after = (await metadataOf(table)).metadata;
    expect(after['current-snapshot-id']).toBe(result.snapshotId);
    expect(snapshotFiles(after, after['current-snapshot-id']!).deletes).toEqual([]);
    const want = (await queryRows<{ id: string; v: string }>(postgres.url, 'SELECT id::text AS id, v FROM public.marks ORDER BY marks.id')).map((r) => [r.id, r.v]);
    expect((await readIcebergTable(table)).map((r) => [String(r.id), r.v]).sort((a, b) => Number(a[0]) - Number(b[0]))).toEqual(want);
    expect(await folders()).toHaveLength(1);
  });

  it('refuses in one line: no such table, a table bucket and a Glue database at once, a bad target size', async () => {
    const dest = join(work, 'compact-lake');
    await expect(compactTables({ dest, tables: 'public.nothing_here', quiet: true }, () => {})).rejects.toThrow(/^table "public"\."nothing_here": no Iceberg table at file:\/\/.*\/public\/nothing_here \(file-system\); nothing to compact$/);
    await expect(compactTables({ dest, tables: 'public.ledger', quiet: true, tableBucket: 'arn:aws:s3tables:us-east-1:123456789012:bucket/b', glueDatabase: 'g' }, () => {})).rejects.toThrow(
      "--table-bucket and --glue-database: a table bucket's tables are in S3 Tables' own catalog; pass one",
    );
    await expect(compactTables({ dest, tables: 'public.ledger', quiet: true, targetFileSize: 'big' }, () => {})).rejects.toThrow('--target-file-size must be a number of MiB, at least 1 (got "big")');
  });
});

describe('retention of an Iceberg table (keepRuns): snapshot expiry', () => {
  it('expires the snapshots beyond the newest keepRuns and deletes only the files no kept snapshot references', async () => {
    const dest = join(work, 'retention-lake');
    const table = join(dest, 'public', 'kept');
    await sql(`CREATE TABLE public.kept (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, msg text);
               INSERT INTO public.kept (msg) SELECT 'a' || g FROM generate_series(1, 300) g;`);
    const runKept = (extra: Record<string, unknown> = {}) =>
      runExport({ databaseUrl: postgres.url, tables: 'public.kept', dest, shards: '2', concurrency: '2', compression: 'snappy', quiet: true, tableFormat: 'iceberg', incremental: 'id', keepRuns: '2', retentionGrace: '0m', ...extra } as never, () => {});
    const add = (n: number) => sql(`INSERT INTO public.kept (msg) SELECT 'b' || g FROM generate_series(1, ${n}) g`);
    const runFolders = async () => (await readdir(table)).filter((f) => f.startsWith('run=')).sort();
    /** Every file the kept snapshots name is there, and icebird reads the source from the current one. */
    const expectIntact = async () => {
      const { metadata } = await metadataOf(table);
      for (const s of metadata.snapshots) {
        const { data, deletes } = snapshotFiles(metadata, s['snapshot-id']);
        for (const path of [...data.map((d) => d.path), ...deletes]) expect(existsSync(path), path).toBe(true);
      }
      const ids = (await readIcebergTable(table)).map((r) => String(r.id)).sort((a, b) => Number(a) - Number(b));
      expect(ids).toEqual((await queryRows<{ id: string }>(postgres.url, 'SELECT id::text AS id FROM public.kept ORDER BY kept.id')).map((r) => r.id));
      return metadata;
    };

    const first = await runKept();
    await add(10);
    const second = await runKept();
    await add(10);
    // Three snapshots, two kept: the first is expired, but its files are live in the appends after it.
    const third = await runKept();
    expect(third.commit.tables[0].iceberg?.expired).toEqual({ snapshots: 1, runs: [] });
    let metadata = await expectIntact();
    expect(metadata.snapshots.map((s) => s.summary['pgsip.run-id'])).toEqual([second.runId, third.runId]);
    expect(metadata['snapshot-log'].map((e) => e['snapshot-id'])).toEqual(metadata.snapshots.map((s) => s['snapshot-id']));
    expect(await runFolders()).toEqual([first.runId, second.runId, third.runId].map((r) => `run=${r}`).sort());

    // Two full runs replace the table: after the second, the appended chain is referenced by no kept snapshot.
    const fourth = await runKept({ full: true });
    expect(fourth.commit.tables[0].iceberg?.expired).toEqual({ snapshots: 1, runs: [] });
    await add(5);
    const fifth = await runKept({ full: true });
    expect(fifth.commit.tables[0].iceberg?.expired).toEqual({ snapshots: 1, runs: [first.runId, second.runId, third.runId].sort() });
    const lines: string[] = [];
    printSummary(fifth, (l) => lines.push(l));
    expect(lines).toContain(`    retention: 1 snapshot(s) expired, run folder(s) deleted: ${[first.runId, second.runId, third.runId].sort().join(', ')}`);
    expect(lines).toContainEqual(expect.stringMatching(/^ {4}iceberg overwrite snapshot \d+: committed -> file:\/\/\/.*\/public\/kept\/metadata\/v\d+\.metadata\.json$/));
    metadata = await expectIntact();
    expect(metadata.snapshots.map((s) => s.summary['pgsip.run-id'])).toEqual([fourth.runId, fifth.runId]);
    expect(await runFolders()).toEqual([fourth.runId, fifth.runId].map((r) => `run=${r}`).sort());
    // The manifest lists of expired snapshots are gone, the kept ones' are there.
    const lists = (await readdir(join(table, 'metadata'))).filter((f) => f.startsWith('snap-'));
    expect(lists.sort()).toEqual(metadata.snapshots.map((s) => basename(fileURLToPath(s['manifest-list']))).sort());
    // The older kept snapshot still reads as it was (time travel within retention): the newest metadata file
    // in which it was current.
    const fourthId = metadata.snapshots[0]['snapshot-id'];
    const whenFourth = [...metadata['metadata-log']].reverse().map((e) => fileURLToPath(e['metadata-file']))
      .find((file) => (JSON.parse(readFileSync(file, 'utf8')) as TableMetadata)['current-snapshot-id'] === fourthId)!;
    expect((await readIcebergTable(table, basename(whenFourth))).length).toBe(320);
  });

  it('keeps what has not been out of the newest keepRuns for the grace period', async () => {
    const dest = join(work, 'grace-lake');
    const runGrace = () =>
      runExport({ databaseUrl: postgres.url, tables: 'public.kept', dest, shards: '1', concurrency: '1', compression: 'snappy', quiet: true, tableFormat: 'iceberg', keepRuns: '1', retentionGrace: '1h' } as never, () => {});
    await runGrace();
    const second = await runGrace();
    expect(second.commit.tables[0].iceberg?.expired).toBeUndefined();
    const { metadata } = await metadataOf(join(dest, 'public', 'kept'));
    expect(metadata.snapshots).toHaveLength(2);
  });
});


describe('partitioned Iceberg tables (partitionBy)', () => {
  const dest = () => join(work, 'partitioned-lake');
  const table = () => join(dest(), 'public', 'sales');
  const runSales = (partitionBy: string[], extra: Record<string, unknown> = {}) =>
    runExport({ databaseUrl: postgres.url, tables: 'public.sales', dest: dest(), shards: '3', concurrency: '2', compression: 'snappy', quiet: true, tableFormat: 'iceberg', partitionBy, ...extra } as never, () => {});

  /** Each live data file of the current snapshot: its partition as fastavro reads the manifest, its rows as pyarrow reads the file. */
  function liveFilesWithPartitions(metadata: TableMetadata): { path: string; partition: Record<string, FastavroValue>; specId: string; rows: Record<string, string | null>[] }[] {
    const snapshot = metadata.snapshots.find((s) => s['snapshot-id'] === metadata['current-snapshot-id'])!;
    const list = readWithFastavro({ list: new Uint8Array(readFileSync(fileURLToPath(snapshot['manifest-list']))) }).list;
    const out: { path: string; partition: Record<string, FastavroValue>; specId: string; rows: Record<string, string | null>[] }[] = [];
    for (const record of list.records as Record<string, FastavroValue>[]) {
      if (num(record.content) !== 0) continue;
      const manifest = readWithFastavro({ m: new Uint8Array(readFileSync(fileURLToPath(str(record.manifest_path)))) }).m;
      // The manifest list's partition_spec_id and the manifest's own header agree.
      expect(manifest.metadata['partition-spec-id']).toBe(String(num(record.partition_spec_id)));
      for (const entry of manifest.records as Record<string, FastavroValue>[]) {
        if (num(entry.status) === 2) continue;
        const dataFile = entry.data_file as Record<string, FastavroValue>;
        out.push({ path: fileURLToPath(str(dataFile.file_path)), partition: dataFile.partition as Record<string, FastavroValue>, specId: manifest.metadata['partition-spec-id'], rows: [] });
      }
    }
    // One pyarrow process for every file.
    readWithPyarrow(out.map((f) => f.path)).forEach((file, i) => {
      out[i].rows = Array.from({ length: file.rows }, (_, r) => Object.fromEntries(file.columns.map((c) => [c.name, c.values[r]])));
    });
    return out;
  }

  const sourceSales = async () =>
    (await queryRows<{ id: string; at: string; region: string | null }>(postgres.url, `SELECT id::text AS id, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS') AS at, region FROM public.sales ORDER BY sales.id`))
      .map((r) => `${r.id} ${r.at} ${r.region}`);
  const icebirdSales = async () =>
    (await readIcebergTable(table()))
      .map((r) => `${String(r.id)} ${(r.created_at as Date).toISOString().replace('T', ' ').replace('Z', '')} ${r.region as string | null}`)
      .sort((a, b) => Number(a.split(' ')[0]) - Number(b.split(' ')[0]));

  it('writes each file in one partition of day(created_at), identity(region): manifests carry the values, icebird reads the source', async () => {
    // Rows spread over 10 days and 3 regions (and a null region), in an order unrelated to their ids.
    await sql(`CREATE TABLE public.sales (id bigint PRIMARY KEY, created_at timestamptz NOT NULL, region text, amount numeric(10,2));
               INSERT INTO public.sales SELECT g, timestamptz '2026-03-01 00:00:00+00' + ((g * 7919) % 864000) * interval '1 second',
                      (ARRAY['eu', 'us', 'ap', NULL])[1 + g % 4], g * 1.5 FROM generate_series(1, 3000) g;`);
    const first = await runSales(['day(created_at), identity(region)']);
    expect(first.commit.tables[0].iceberg).toMatchObject({ outcome: 'committed' });
    const { metadata } = await metadataOf(table());
    const spec = metadata['partition-specs'].find((s) => s['spec-id'] === metadata['default-spec-id'])!;
    const createdAt = currentFieldId(metadata, 'created_at');
    const region = currentFieldId(metadata, 'region');
    expect(spec.fields).toEqual([
      { name: 'created_at_day', transform: 'day', 'source-id': createdAt, 'field-id': 1000 },
      { name: 'region', transform: 'identity', 'source-id': region, 'field-id': 1001 },
    ]);
    expect(metadata['last-partition-id']).toBe(1001);

    const files = liveFilesWithPartitions(metadata);
    // Every file's rows are in the file's partition: the day of created_at (UTC) and the region, as pyarrow reads them.
    const partitions = new Set<string>();
    for (const file of files) {
      const day = file.partition.created_at_day as { $date: number };
      const dayText = new Date(day.$date * 86_400_000).toISOString().slice(0, 10);
      for (const row of file.rows) {
        expect(row.created_at!.slice(0, 10)).toBe(dayText);
        expect(row.region).toBe(file.partition.region);
      }
      partitions.add(`${dayText} ${String(file.partition.region)}`);
    }
    // 10 days x 4 regions (null one of them), each partition in at least one file.
    expect(partitions.size).toBe(40);
    // Read in partition order, each shard wrote each of its partitions once: one file per shard and partition.
    const perShard = new Map<string, number>();
    for (const file of files) {
      const key = `${/part-(\d+)-/.exec(file.path)![1]} ${JSON.stringify(file.partition)}`;
      perShard.set(key, (perShard.get(key) ?? 0) + 1);
    }
    expect([...perShard.values()].every((n) => n === 1)).toBe(true);
    expect(files.reduce((n, f) => n + f.rows.length, 0)).toBe(3000);
    // The manifest list summarizes the partition values of its manifests (engines skip manifests by them).
    const snapshot = metadata.snapshots.at(-1)!;
    const list = readWithFastavro({ list: new Uint8Array(readFileSync(fileURLToPath(snapshot['manifest-list']))) }).list;
    const summaries = (list.records[0] as Record<string, FastavroValue>).partitions as Record<string, FastavroValue>[];
    expect(summaries.map((s) => s.contains_null)).toEqual([false, true]);
    expect(summaries[1].lower_bound).toEqual({ $bytes: Buffer.from('ap').toString('hex') });
    expect(summaries[1].upper_bound).toEqual({ $bytes: Buffer.from('us').toString('hex') });
    expect(await icebirdSales()).toEqual(await sourceSales());
  });

  it('evolves the partitioning: a new spec for the new files, the replaced files listed under their own spec', async () => {
    await sql(`INSERT INTO public.sales SELECT g, timestamptz '2026-04-01 00:00:00+00' + g * interval '1 hour', 'eu', 1 FROM generate_series(3001, 3100) g`);
    const second = await runSales(['bucket(48, id)']);
    expect(second.commit.tables[0].iceberg).toMatchObject({ outcome: 'committed', operation: 'overwrite' });
    const { metadata } = await metadataOf(table());
    expect(metadata['partition-specs'].map((s) => s['spec-id'])).toEqual([0, 1]);
    expect(metadata['default-spec-id']).toBe(1);
    expect(metadata['partition-specs'][1].fields).toEqual([{ name: 'id_bucket', transform: 'bucket[48]', 'source-id': currentFieldId(metadata, 'id'), 'field-id': 1002 }]);
    const files = liveFilesWithPartitions(metadata);
    expect(new Set(files.map((f) => f.specId))).toEqual(new Set(['1']));
    const buckets = new Set(files.map((f) => f.partition.id_bucket));
    expect([...buckets].every((b) => typeof b === 'number' && b >= 0 && b < 48)).toBe(true);
    // Each id once, in a file of its bucket (the transform checked against Iceberg Java's in
    // test/lambdas/engine/iceberg/partition-transforms.test.ts). 48 buckets are more than a shard keeps open
    // (MAX_OPEN_PARTITIONS), so parts were closed early and reopened: still one bucket per file.
    const seen = new Map<string, unknown>();
    for (const f of files) {
      for (const row of f.rows) {
        expect(seen.has(row.id!)).toBe(false);
        expect(applyTransform('bucket[48]', 'long', BigInt(row.id!))).toBe(f.partition.id_bucket);
        seen.set(row.id!, f.partition.id_bucket);
      }
    }
    expect(MAX_OPEN_PARTITIONS).toBeLessThan(48);
    expect(seen.size).toBe(3100);
    // The files the run replaced are listed as deleted in a manifest of spec 0, with their partitions.
    const snapshot = metadata.snapshots.at(-1)!;
    const list = readWithFastavro({ list: new Uint8Array(readFileSync(fileURLToPath(snapshot['manifest-list']))) }).list;
    const specs = (list.records as Record<string, FastavroValue>[]).map((r) => [num(r.partition_spec_id), num(r.deleted_files_count) > 0]);
    expect(specs).toContainEqual([0, true]);
    expect(await icebirdSales()).toEqual(await sourceSales());
  });

  it('keeps a partitioned table exact across incremental runs: the rows read again deleted by one delete file per partition', async () => {
    const lake = join(work, 'partitioned-log');
    const runPlog = () =>
      runExport({ databaseUrl: postgres.url, tables: 'public.plog', dest: lake, shards: '2', concurrency: '2', compression: 'snappy', quiet: true, tableFormat: 'iceberg', incremental: 'id', partitionBy: ['bucket(4, id)'] } as never, () => {});
    await sql(`CREATE TABLE public.plog (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, msg text);
               INSERT INTO public.plog (msg) SELECT 'm' || g FROM generate_series(1, 200) g;`);
    await runPlog();
    const late = new pg.Client(postgres.url);
    await late.connect();
    await late.query(`BEGIN; INSERT INTO public.plog (msg) VALUES ('late')`);
    await sql(`INSERT INTO public.plog (msg) SELECT 'n' || g FROM generate_series(1, 40) g`);
    await runPlog();
    await late.query('COMMIT');
    await late.end();
    await runPlog();
    const { metadata } = await metadataOf(join(lake, 'public', 'plog'));
    const head = metadata.snapshots.at(-1)!;
    // The 40 rows of the second run and the first's last were read again, in every bucket.
    expect(head.summary).toMatchObject({ 'added-position-deletes': '41', 'added-delete-files': '4' });
    const list = readWithFastavro({ list: new Uint8Array(readFileSync(fileURLToPath(head['manifest-list']))) }).list;
    const deleteManifest = (list.records as Record<string, FastavroValue>[]).find((r) => num(r.content) === 1 && num(r.added_files_count) > 0)!;
    const deletes = readWithFastavro({ m: new Uint8Array(readFileSync(fileURLToPath(str(deleteManifest.manifest_path)))) }).m;
    // Each delete file is in the partition of the data files it deletes from (pyarrow reads its file_path column).
    const partitionOf = new Map(liveFilesWithPartitions(metadata).map((f) => [pathToFileURL(f.path).href, JSON.stringify(f.partition)]));
    for (const entry of deletes.records as Record<string, FastavroValue>[]) {
      const file = entry.data_file as Record<string, FastavroValue>;
      const [read] = readWithPyarrow([fileURLToPath(str(file.file_path))]);
      for (const target of new Set(read.columns.find((c) => c.fieldId === 2147483546)!.values)) {
        expect(partitionOf.get(target!)).toBe(JSON.stringify(file.partition));
      }
    }
    const ids = (await readIcebergTable(join(lake, 'public', 'plog'))).map((r) => String(r.id)).sort((a, b) => Number(a) - Number(b));
    expect(ids).toEqual((await queryRows<{ id: string }>(postgres.url, 'SELECT id::text AS id FROM public.plog ORDER BY plog.id')).map((r) => r.id));
  });

  it('refuses a spec it cannot write, in one line naming the table and column, before anything is written', async () => {
    await expect(runSales(['day(region)'])).rejects.toThrow(/^table "public"\."sales": bad partition entry "day\(region\)": column "region": it is a string; day needs a date, timestamp or timestamptz column/);
    await expect(runSales(['identity(nope)'])).rejects.toThrow(/^table "public"\."sales": bad partition entry "identity\(nope\)": no column "nope"/);
    await expect(runSales(['day(created_at)'], { tableFormat: 'hive' })).rejects.toThrow(/^"partitionBy" applies to Iceberg tables/);
    await expect(runSales(['identity(region)'], { hashColumns: 'public.sales.region' })).rejects.toThrow(/^table "public"\."sales": column "region" is hashed; a partition cannot be derived from it/);
  });
});

function currentFieldId(metadata: TableMetadata, name: string): number {
  return metadata.schemas.find((s) => s['schema-id'] === metadata['current-schema-id'])!.fields.find((f) => f.name === name)!.id;
}
