/**
 * The Apache Iceberg format v2 model pgsip writes: schemas, partition specs, data files with their metrics,
 * manifests, snapshots and table metadata, as the spec (apache/iceberg format/spec.md, summarized in
 * docs/iceberg.md) defines them. Plain data, no I/O: the writers of each file live beside this module.
 *
 * Field names follow the JSON of table metadata (kebab-case) where a type is that JSON, and the Avro
 * field names of manifests (snake_case) where a type is a manifest record, so a value can be written as is.
 */

/** Iceberg primitive types pgsip writes (never `uuid`, `time` or `fixed`: not every engine reads them). */
export type IcebergPrimitive =
  | 'boolean'
  | 'int'
  | 'long'
  | 'float'
  | 'double'
  | 'date'
  | 'timestamp'
  | 'timestamptz'
  | 'string'
  | 'binary'
  | `decimal(${number}, ${number})`;

export interface IcebergListType {
  type: 'list';
  'element-id': number;
  'element-required': boolean;
  element: IcebergType;
}

export type IcebergType = IcebergPrimitive | IcebergListType;

export interface IcebergField {
  id: number;
  name: string;
  required: boolean;
  type: IcebergType;
  doc?: string;
}

/** A schema as table metadata holds it. */
export interface IcebergSchema {
  type: 'struct';
  'schema-id': number;
  fields: IcebergField[];
}

/** Partition transforms pgsip writes. */
export type PartitionTransform = 'identity' | 'year' | 'month' | 'day' | 'hour' | `bucket[${number}]` | `truncate[${number}]`;

export interface PartitionField {
  /** e.g. `created_at_day`. */
  name: string;
  transform: PartitionTransform;
  'source-id': number;
  /** 1000 and up, unique across every spec of the table. */
  'field-id': number;
}

export interface PartitionSpec {
  'spec-id': number;
  fields: PartitionField[];
}

/**
 * A partition tuple: partition field name -> its value, by the field's result type: number for int and date
 * (days), bigint for long, timestamp/timestamptz (microseconds) and decimal (the unscaled value; a safe-integer
 * number is accepted where one is written), boolean for boolean, string for string and truncate of string,
 * Uint8Array for binary, null for null. These are the values partition-transforms.ts returns: long partition
 * values (snowflake ids, microsecond timestamps) pass 2^53.
 */
export type PartitionValues = Record<string, boolean | number | bigint | string | Uint8Array | null>;

/** Per-column metrics of a data file, keyed by field id (leaves outside lists only, as Iceberg Java does). */
export interface DataFileMetrics {
  column_sizes: Map<number, number>;
  value_counts: Map<number, number>;
  null_value_counts: Map<number, number>;
  nan_value_counts: Map<number, number>;
  /** Single-value serialization (spec Appendix D) of the smallest and largest non-null, non-NaN value. */
  lower_bounds: Map<number, Uint8Array>;
  upper_bounds: Map<number, Uint8Array>;
}

/** `data_file` of a manifest entry (content 0: data; 1: position deletes). */
export interface DataFile extends DataFileMetrics {
  content: 0 | 1;
  /** Absolute URI with its scheme: `s3://bucket/key` or `file:///path`. */
  file_path: string;
  file_format: 'PARQUET';
  partition: PartitionValues;
  record_count: number;
  file_size_in_bytes: number;
  /** Row group start offsets, ascending. */
  split_offsets: number[] | null;
  /** 0 (unsorted) for data files; null for position deletes. */
  sort_order_id: number | null;
  /** Position deletes aimed at one data file name it. */
  referenced_data_file: string | null;
}

/** 0 EXISTING, 1 ADDED, 2 DELETED. */
export type EntryStatus = 0 | 1 | 2;

export interface ManifestEntry {
  status: EntryStatus;
  snapshot_id: number | null;
  /** null for an ADDED entry (inherited from the manifest list); the original value otherwise. */
  sequence_number: number | null;
  file_sequence_number: number | null;
  data_file: DataFile;
}

export interface PartitionFieldSummary {
  contains_null: boolean;
  contains_nan: boolean | null;
  lower_bound: Uint8Array | null;
  upper_bound: Uint8Array | null;
}

/** A manifest list entry (`manifest_file`). */
export interface ManifestFile {
  manifest_path: string;
  manifest_length: number;
  partition_spec_id: number;
  /** 0 data, 1 deletes. */
  content: 0 | 1;
  sequence_number: number;
  min_sequence_number: number;
  added_snapshot_id: number;
  added_files_count: number;
  existing_files_count: number;
  deleted_files_count: number;
  added_rows_count: number;
  existing_rows_count: number;
  deleted_rows_count: number;
  partitions: PartitionFieldSummary[] | null;
}

export type SnapshotOperation = 'append' | 'overwrite' | 'replace' | 'delete';

export interface Snapshot {
  'snapshot-id': number;
  'parent-snapshot-id'?: number;
  'sequence-number': number;
  'timestamp-ms': number;
  'manifest-list': string;
  /** String values only; `operation` first. pgsip adds `pgsip.run-id`. */
  summary: { operation: SnapshotOperation } & Record<string, string>;
  'schema-id': number;
}

/** Table metadata, format version 2 (`v<N>.metadata.json` or `<NNNNN>-<uuid>.metadata.json`). */
export interface TableMetadata {
  'format-version': 2;
  'table-uuid': string;
  location: string;
  'last-sequence-number': number;
  'last-updated-ms': number;
  'last-column-id': number;
  schemas: IcebergSchema[];
  'current-schema-id': number;
  'partition-specs': PartitionSpec[];
  'default-spec-id': number;
  'last-partition-id': number;
  'sort-orders': { 'order-id': number; fields: unknown[] }[];
  'default-sort-order-id': number;
  properties: Record<string, string>;
  'current-snapshot-id'?: number;
  refs?: Record<string, { 'snapshot-id': number; type: 'branch' | 'tag' }>;
  snapshots: Snapshot[];
  'snapshot-log': { 'timestamp-ms': number; 'snapshot-id': number }[];
  'metadata-log': { 'timestamp-ms': number; 'metadata-file': string }[];
}
