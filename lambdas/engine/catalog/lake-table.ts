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
