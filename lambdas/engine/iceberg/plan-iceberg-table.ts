/**
 * Plan's part for an Iceberg table: where the table is, and the schema the run's files are written with. The
 * table's current schema is read through its catalog, so a column keeps its field id across runs and a
 * change Iceberg cannot take stops the run here, before a row is read (iceberg-schema.ts).
 */
import type { ColumnPlan, IcebergTablePlan } from '../contracts';
import type { ColumnMapping } from '../columns/column-mapping';
import type { Destination } from '../destinations/destination';
import { InputError } from '../errors';
import { FileSystemCatalog } from './file-system-catalog';
import { type IcebergCatalog, objectUri, tableRefIn } from './iceberg-catalog';
import { icebergTypeOf, parquetColumnName, runSchema, withFieldIds } from './iceberg-schema';
import type { IcebergField, PartitionField, PartitionSpec, TableMetadata } from './model';
import { FIRST_PARTITION_FIELD_ID, parsePartitionBy, resolvePartitionSpec } from './partition-transforms';
import { currentSchema } from './table-metadata';

/** The catalog of a run's Iceberg tables: the configured one, else the tables' own paths. */
export function icebergCatalogOf(env: { destination: Destination; icebergCatalog?: IcebergCatalog }): IcebergCatalog {
  return env.icebergCatalog ?? new FileSystemCatalog(env.destination, (key) => objectUri(env.destination, key));
}

export interface PlannedIcebergTable {
  columns: ColumnPlan[];
  iceberg: IcebergTablePlan;
}

/**
 * The run's Iceberg side of one table: its columns with field ids, and what Plan saw of the table. A column
 * change Iceberg allows (added, dropped, widened) evolves the schema; any other is refused, or with `full`
 * replaces the column (iceberg-schema.ts `runSchema`).
 */
export async function planIcebergTable(
  table: { quoted: string; schema: string; name: string },
  mappings: ColumnMapping[],
  env: { destination: Destination; icebergCatalog?: IcebergCatalog },
  /** The table's `partitionBy` text (ExecutionInput), if any: unpartitioned otherwise. */
  partitionBy?: string,
  /** A `--full` run: a column whose type Iceberg cannot evolve is replaced by a new one instead of refused. */
  full = false,
): Promise<PlannedIcebergTable> {
  const catalog = icebergCatalogOf(env);
  const ref = { ...tableRefIn(env.destination, table.schema, table.name), table: table.quoted };
  // A catalog that assigns tables their storage (S3 Tables) creates the table now: Export writes there.
  const location = (await catalog.tableLocation?.(ref)) ?? ref.location;
  const loaded = await catalog.load({ ...ref, location });
  // Readers that find columns by name look for the sanitized one: two names must not meet there.
  const byParquetName = new Map<string, string>();
  for (const m of mappings) {
    const physical = parquetColumnName(m.plan.name);
    const other = byParquetName.get(physical);
    if (other !== undefined) {
      throw new InputError(`table ${table.quoted}: columns "${other}" and "${m.plan.name}" have the same Parquet name in an Iceberg table (${physical}); exclude or rename one`);
    }
    byParquetName.set(physical, m.plan.name);
  }
  const schema = runSchema(
    mappings.map((m) => ({ name: m.plan.name, type: icebergTypeOf(m.schema, m.plan.name) })),
    loaded ? { schema: currentSchema(loaded.metadata), lastColumnId: loaded.metadata['last-column-id'] } : null,
    table.quoted,
    full,
  );
  const partitioning = planPartitionSpec(table.quoted, partitionBy ?? '', schema.schema.fields, mappings, loaded?.metadata ?? null);
  return {
    columns: mappings.map((m, i) => withFieldIds(m.plan, schema.schema.fields[i])),
    iceberg: {
      location,
      schema: schema.schema,
      lastColumnId: schema.lastColumnId,
      base: loaded?.metadataLocation ?? null,
      changes: schema.changes,
      ...(schema.replaced.length > 0 ? { replaced: schema.replaced } : {}),
      spec: partitioning.spec,
      lastPartitionId: partitioning.lastPartitionId,
    },
  };
}

/**
 * The spec the run writes with: the table's own when it is the one asked for (an empty `partitionBy` asks for
 * none), else a new one under the next spec id, reusing the field ids of earlier specs (partition-transforms.ts
 * `resolvePartitionSpec`). A partition source must be a column the run writes as it reads it: not hashed.
 */
function planPartitionSpec(
  table: string,
  partitionBy: string,
  fields: IcebergField[],
  mappings: ColumnMapping[],
  metadata: TableMetadata | null,
): { spec: PartitionSpec; lastPartitionId: number } {
  let wanted: PartitionField[];
  try {
    wanted = parsePartitionBy(partitionBy, fields);
  } catch (error) {
    if (error instanceof InputError) throw new InputError(`table ${table}: ${error.message}`);
    throw error;
  }
  for (const field of wanted) {
    const source = fields.find((f) => f.id === field['source-id'])!;
    const mapping = mappings.find((m) => m.plan.name === source.name);
    if (!mapping?.decoder) throw new InputError(`table ${table}: column "${source.name}" is hashed; a partition cannot be derived from it`);
  }
  const resolved = resolvePartitionSpec(wanted, metadata?.['partition-specs'] ?? [], metadata?.['last-partition-id'] ?? FIRST_PARTITION_FIELD_ID - 1);
  return { spec: resolved.spec, lastPartitionId: resolved.lastPartitionId };
}
