/**
 * An Iceberg table as the Glue Data Catalog's `TableInput`, as Iceberg's own Glue catalog writes it
 * (GlueTableOperations, IcebergToGlueConverter): `table_type=ICEBERG`, `metadata_location` the current
 * metadata file (and `previous_metadata_location` the one before), the current schema's columns for people
 * and tools that list them (engines read the schema from the metadata). Used by the Glue commit
 * (lambdas/shared/glue-iceberg-catalog.ts) and by `pgsip catalog --format glue-json`. The shape is the SDK's,
 * spelled out so the engine does not depend on the Glue client.
 */
import type { IcebergType, TableMetadata } from '../iceberg/model';
import { currentSchema } from '../iceberg/table-metadata';

export interface GlueIcebergColumn {
  Name: string;
  Type: string;
  Parameters: Record<string, string>;
}

export interface GlueIcebergTableInput {
  Name: string;
  Description: string;
  TableType: 'EXTERNAL_TABLE';
  Parameters: Record<string, string>;
  StorageDescriptor: { Location: string; Columns: GlueIcebergColumn[] };
}

/** Glue's column type of an Iceberg type, as Iceberg's Glue catalog writes it. */
export function glueIcebergType(type: IcebergType): string {
  if (typeof type !== 'string') return `array<${glueIcebergType(type.element)}>`;
  if (type === 'long') return 'bigint';
  if (type === 'timestamptz') return 'timestamp';
  return type.replace(/^decimal\((\d+), (\d+)\)$/, 'decimal($1,$2)');
}

export interface IcebergTableDescription {
  /** The catalog table's name (lambdas/engine/catalog/lake-table.ts, `lakeTableName`). */
  name: string;
  /** The Postgres table, canonical quoted. */
  source: string;
  metadata: TableMetadata;
  /** The current metadata file's URI, and the one before it (null for a new table). */
  metadataLocation: string;
  previousMetadataLocation: string | null;
}

export function glueIcebergTableInput(table: IcebergTableDescription): GlueIcebergTableInput {
  return {
    Name: table.name,
    Description: `pgsip export of ${table.source} (Iceberg)`,
    TableType: 'EXTERNAL_TABLE',
    Parameters: {
      table_type: 'ICEBERG',
      metadata_location: table.metadataLocation,
      ...(table.previousMetadataLocation ? { previous_metadata_location: table.previousMetadataLocation } : {}),
      'pgsip.table': table.source,
    },
    StorageDescriptor: {
      Location: table.metadata.location,
      Columns: currentSchema(table.metadata).fields.map((f) => ({
        Name: f.name.toLowerCase(),
        Type: glueIcebergType(f.type),
        Parameters: { 'iceberg.field.id': String(f.id), 'iceberg.field.optional': String(!f.required), 'iceberg.field.current': 'true' },
      })),
    },
  };
}
