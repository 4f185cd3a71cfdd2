/**
 * A LakeTable as the Glue Data Catalog's `TableInput` (CreateTable, UpdateTable): an external Parquet table
 * read through Hive's ParquetHiveSerDe and Mapred input/output formats, which is what Athena, Glue ETL, EMR
 * and Redshift Spectrum expect of `classification=parquet`. The shape is the SDK's, spelled out here so the
 * engine does not depend on the Glue client.
 */
import type { LakeTable } from './lake-table';

export interface GlueColumn {
  Name: string;
  Type: string;
  Comment?: string;
}

export interface GlueTableInput {
  Name: string;
  Description: string;
  TableType: 'EXTERNAL_TABLE';
  Parameters: Record<string, string>;
  PartitionKeys: GlueColumn[];
  StorageDescriptor: {
    Columns: GlueColumn[];
    Location: string;
    InputFormat: string;
    OutputFormat: string;
    Compressed: boolean;
    StoredAsSubDirectories: boolean;
    SerdeInfo: { SerializationLibrary: string; Parameters: Record<string, string> };
  };
}

export const PARQUET_SERDE = 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe';
export const PARQUET_INPUT_FORMAT = 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat';
export const PARQUET_OUTPUT_FORMAT = 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat';

/** Glue caps a comment at 255 characters; a long Postgres type name is cut, never refused. */
const comment = (text: string) => (text.length > 255 ? `${text.slice(0, 254)}…` : text);

export function glueTableInput(table: LakeTable & { partitionKey?: LakeTable['columns'][number] }): GlueTableInput {
  const p = table.partitionKey;
  return {
    Name: table.name,
    Description: table.description,
    TableType: 'EXTERNAL_TABLE',
    Parameters: { ...table.parameters },
    PartitionKeys: p ? [{ Name: p.name, Type: p.type, Comment: comment(p.comment) }] : [],
    StorageDescriptor: {
      Columns: table.columns.map((c) => ({ Name: c.name, Type: c.type, Comment: comment(c.comment) })),
      Location: table.location,
      InputFormat: PARQUET_INPUT_FORMAT,
      OutputFormat: PARQUET_OUTPUT_FORMAT,
      Compressed: false,
      StoredAsSubDirectories: false,
      SerdeInfo: { SerializationLibrary: PARQUET_SERDE, Parameters: { 'serialization.format': '1' } },
    },
  };
}

/** A partition of an incremental table's runs table (BatchCreatePartition's PartitionInput). */
export function gluePartitionInput(table: GlueTableInput, partition: { value: string; location: string }) {
  return { Values: [partition.value], StorageDescriptor: { ...table.StorageDescriptor, Location: partition.location } };
}
