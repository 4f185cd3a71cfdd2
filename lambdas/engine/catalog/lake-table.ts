/**
 * What a catalog registers for one committed run of one table: its name, columns typed from the run's own
 * mapping (hive-types.ts), the run folder as its location and parameters naming the run. One description,
 * rendered as Glue's TableInput (glue-table-input.ts) or Athena DDL (athena-ddl.ts), so the catalog Commit
 * writes and the one `pgsip catalog` prints cannot differ.
 *
 * The location is the run folder: besides the parts it holds `_plan.json`, `_manifest.json`, `_SUCCESS` and
 * `_shards/`, which Hive, Athena and Spark skip (names starting with `_` are hidden to them), and Commit has
 * removed parts of abandoned attempts before `_SUCCESS`, so the folder holds each row once.
 */
import type { RunManifest } from '../contracts';
import { CatalogError } from '../errors';
import { parseTableName } from '../postgres/table-name';
import { pathSegment } from '../run/layout';
import { hiveType } from './hive-types';

export interface LakeColumn {
  /** Lower case: Glue and Athena keep column names in lower case and match Parquet columns without case. */
  name: string;
  /** A Hive type: `bigint`, `decimal(12,2)`, `array<string>`. */
  type: string;
  /** The Postgres type, for people reading the catalog. */
  comment: string;
}

export interface LakeTable {
  /** The catalog table name (table-name rule below). */
  name: string;
  /** The exact Postgres table, quoted: `"public"."orders"`. */
  source: string;
  description: string;
  columns: LakeColumn[];
  /** The committed run folder, ending in `/`. */
  location: string;
  /** `pgsip.*` keys say which run the table shows; Commit never moves a table back to an older run. */
  parameters: Record<string, string>;
}

/** Parameter keys pgsip writes and reads back. */
export const PARAMETER = {
  table: 'pgsip.table',
  runId: 'pgsip.run_id',
  plannedAt: 'pgsip.planned_at',
  committedAt: 'pgsip.committed_at',
  types: 'pgsip.types',
  rows: 'pgsip.rows',
  manifest: 'pgsip.manifest',
} as const;

/**
 * `<schema>_<table>` from the folder names of the layout (`lambdas/engine/run/layout.ts`): a plain name as it
 * is, any other as its readable lower-case form plus 8 hex digits of its SHA-256 (`-` becomes `_`, the only
 * characters Athena allows in a table name being letters, digits and `_`). `a_b.c` and `a.b_c` would share a
 * name: registering the second is refused because the catalog table names its source (PARAMETER.table).
 */
export function lakeTableName(schema: string, table: string): string {
  return `${pathSegment(schema)}_${pathSegment(table)}`.replace(/-/g, '_');
}

/**
 * A destination location as a catalog location: `s3://…` as it is, a local folder as a `file://` URI (what
 * Spark and Hive take for a local table), always ending in `/`.
 */
export function lakeLocation(location: string): string {
  const uri = location.startsWith('/') ? `file://${location}` : location;
  return uri.endsWith('/') ? uri : `${uri}/`;
}

/** `location` is the run folder's absolute location (`s3://bucket/prefix/public/orders/run=<id>`). */
export function lakeTable(manifest: RunManifest, location: string): LakeTable {
  const { schema, name } = parseTableName(manifest.table);
  if (schema === null) throw new CatalogError(`manifest of ${manifest.table} names no schema`);
  const seen = new Map<string, string>();
  const columns = manifest.columns.map((c): LakeColumn => {
    const lower = c.name.toLowerCase();
    const other = seen.get(lower);
    if (other !== undefined) {
      throw new CatalogError(`table ${manifest.table}: columns "${other}" and "${c.name}" differ only in case, and catalog column names have none`);
    }
    seen.set(lower, c.name);
    const comment = manifest.hashed?.includes(c.name) ? `${c.pgType}, as hex HMAC-SHA-256 of its text` : c.pgType;
    return { name: lower, type: hiveType(c.parquetType, manifest.table, c.name), comment };
  });
  const folder = location.endsWith('/') ? location : `${location}/`;
  return {
    name: lakeTableName(schema, name),
    source: manifest.table,
    description: `pgsip export of ${manifest.table}`,
    columns,
    location: folder,
    parameters: {
      classification: 'parquet',
      EXTERNAL: 'TRUE',
      [PARAMETER.table]: manifest.table,
      [PARAMETER.runId]: manifest.runId,
      [PARAMETER.plannedAt]: manifest.startedAt,
      [PARAMETER.committedAt]: manifest.committedAt,
      [PARAMETER.types]: manifest.types,
      [PARAMETER.rows]: String(manifest.rows),
      [PARAMETER.manifest]: `${folder}_manifest.json`,
    },
  };
}

/** The partition column of an incremental table's runs table: which run a row came from. */
export const RUN_PARTITION = 'pgsip_run';

/**
 * An incremental table (docs/export.md, "Incremental runs") as a catalog holds it: one table over its run folders,
 * partitioned by run, and a view that keeps, for each primary key, the row of the newest run — together
 * exactly what `_latest.json`'s runs mean.
 */
export interface LakeChain {
  /** `<name>_runs`: every run of the chain, rows read again included. */
  runs: LakeTable & { partitionKey: LakeColumn };
  /** Oldest first, as `_latest.json` lists them. */
  partitions: { value: string; location: string }[];
  /** `<name>`: the deduplicated table, as Athena (Trino) SQL. */
  view: { name: string; sql: string };
}

/** `chain`: the manifests of `_latest.json`'s runs, oldest first, each with its run folder's location. */
export function lakeChain(chain: readonly { manifest: RunManifest; location: string }[], tableLocation: string, database?: string): LakeChain {
  const newest = chain[chain.length - 1];
  const keys = newest.manifest.incremental?.primaryKey;
  if (!keys || keys.length === 0) throw new CatalogError(`${newest.manifest.table}: run ${newest.manifest.runId} records no primary key to deduplicate on`);
  const table = lakeTable(newest.manifest, tableLocation);
  if (table.columns.some((c) => c.name === RUN_PARTITION)) throw new CatalogError(`table ${table.source} has a column named ${RUN_PARTITION}, the runs table's partition column`);
  const runs = {
    ...table,
    name: `${table.name}_runs`,
    description: `pgsip runs of ${table.source}, partitioned by run: query the view ${table.name}, which keeps each key's newest row`,
    partitionKey: { name: RUN_PARTITION, type: 'string', comment: 'the pgsip run the row was read in' },
  };
  const q = (name: string) => `"${name.replace(/"/g, '""')}"`;
  const s = (text: string) => `'${text.replace(/'/g, "''")}'`;
  const from = database ? `${q(database)}.${q(runs.name)}` : q(runs.name);
  const order = chain.map((r, i) => `WHEN ${s(r.manifest.runId)} THEN ${i}`).join(' ');
  const columns = table.columns.map((c) => q(c.name)).join(', ');
  const sql = [
    `SELECT ${columns} FROM (`,
    `  SELECT *, row_number() OVER (PARTITION BY ${keys.map((k) => q(k.toLowerCase())).join(', ')} ORDER BY CASE ${q(RUN_PARTITION)} ${order} END DESC) AS "pgsip_newest"`,
    `  FROM ${from} WHERE ${q(RUN_PARTITION)} IN (${chain.map((r) => s(r.manifest.runId)).join(', ')})`,
    `) WHERE "pgsip_newest" = 1`,
  ].join('\n');
  return {
    runs,
    partitions: chain.map((r) => ({ value: r.manifest.runId, location: r.location.endsWith('/') ? r.location : `${r.location}/` })),
    view: { name: table.name, sql },
  };
}
