/**
 * Iceberg table metadata (format v2), made and moved on as the spec says (docs/iceberg.md, "Table metadata"):
 * a new table, a new schema, a new snapshot. Pure functions over `TableMetadata`; writing the file and
 * swapping the catalog's pointer to it is the catalog's (iceberg-catalog.ts).
 *
 * What readers need beyond the spec's required fields, all written here: the snapshot's `schema-id` (DuckDB
 * refuses a snapshot without it), `refs.main` (the current branch), and a `snapshot-log` entry per current
 * snapshot (Athena's and Spark's `FOR TIMESTAMP AS OF` look the time up there).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { InternalError } from '../errors';
import type { IcebergSchema, PartitionSpec, Snapshot, SnapshotOperation, TableMetadata } from './model';

/** How many earlier metadata files the metadata log keeps (Iceberg's `write.metadata.previous-versions-max`). */
export const METADATA_LOG_MAX = 100;

/** The summary key naming the pgsip run a snapshot committed: a retried Commit finds it and does nothing. */
export const RUN_ID_SUMMARY_KEY = 'pgsip.run-id';
/** When the run was planned: an older run never replaces a newer one's snapshot. */
export const PLANNED_AT_SUMMARY_KEY = 'pgsip.planned-at';
/** An incremental run's upsert: rows of the table it replaced with changed versions, and rows it read again. */
export const CHANGED_ROWS_SUMMARY_KEY = 'pgsip.changed-rows';
export const REREAD_ROWS_SUMMARY_KEY = 'pgsip.reread-rows';
/** `deletes: "keyset"`: rows of the table whose key the source no longer held. */
export const DELETED_ROWS_SUMMARY_KEY = 'pgsip.deleted-rows';

export const UNPARTITIONED: PartitionSpec = { 'spec-id': 0, fields: [] };

/** A new table: no snapshot yet. */
export function newTableMetadata(options: {
  location: string;
  schema: IcebergSchema;
  lastColumnId: number;
  spec?: PartitionSpec;
  properties?: Record<string, string>;
  now?: number;
}): TableMetadata {
  const spec = options.spec ?? UNPARTITIONED;
  return {
    'format-version': 2,
    'table-uuid': randomUUID(),
    location: options.location.replace(/\/+$/, ''),
    'last-sequence-number': 0,
    'last-updated-ms': options.now ?? Date.now(),
    'last-column-id': options.lastColumnId,
    schemas: [{ ...options.schema, 'schema-id': 0 }],
    'current-schema-id': 0,
    'partition-specs': [spec],
    'default-spec-id': spec['spec-id'],
    // Iceberg Java and pyiceberg start partition field ids at 1000: 999 says none is used yet.
    'last-partition-id': Math.max(999, ...spec.fields.map((f) => f['field-id'])),
    'sort-orders': [{ 'order-id': 0, fields: [] }],
    'default-sort-order-id': 0,
    properties: { 'write.format.default': 'parquet', 'write.metadata.previous-versions-max': String(METADATA_LOG_MAX), ...options.properties },
    snapshots: [],
    'snapshot-log': [],
    'metadata-log': [],
  };
}

const sameFields = (a: IcebergSchema, b: IcebergSchema) => JSON.stringify(a.fields) === JSON.stringify(b.fields);

/**
 * The metadata with `schema` current: an equal schema the table already has is made current again (its id
 * kept), any other is added under the next schema id. `lastColumnId` is the run's (iceberg-schema.ts).
 */
export function withCurrentSchema(metadata: TableMetadata, schema: IcebergSchema, lastColumnId: number): TableMetadata {
  const existing = metadata.schemas.find((s) => sameFields(s, schema));
  if (existing) {
    return { ...metadata, 'current-schema-id': existing['schema-id'], 'last-column-id': Math.max(metadata['last-column-id'], lastColumnId) };
  }
  const id = Math.max(...metadata.schemas.map((s) => s['schema-id'])) + 1;
  return {
    ...metadata,
    schemas: [...metadata.schemas, { ...schema, 'schema-id': id }],
    'current-schema-id': id,
    'last-column-id': Math.max(metadata['last-column-id'], lastColumnId),
  };
}

/**
 * The metadata with `spec` the default spec (the one new files are written with): added if the table does not
 * have it (partition-transforms.ts `resolvePartitionSpec` chose its id), `last-partition-id` raised to cover it.
 */
export function withPartitionSpec(metadata: TableMetadata, spec: PartitionSpec, lastPartitionId: number): TableMetadata {
  const has = metadata['partition-specs'].some((s) => s['spec-id'] === spec['spec-id']);
  return {
    ...metadata,
    'partition-specs': has ? metadata['partition-specs'] : [...metadata['partition-specs'], spec],
    'default-spec-id': spec['spec-id'],
    'last-partition-id': Math.max(metadata['last-partition-id'], lastPartitionId),
  };
}

/** The current schema. */
export function currentSchema(metadata: TableMetadata): IcebergSchema {
  const schema = metadata.schemas.find((s) => s['schema-id'] === metadata['current-schema-id']);
  if (!schema) throw new InternalError(`table ${metadata.location}: its current schema ${metadata['current-schema-id']} is not among its schemas`);
  return schema;
}

/** The current snapshot, or null for a table without one. */
export function currentSnapshot(metadata: TableMetadata): Snapshot | null {
  const id = metadata['current-snapshot-id'];
  if (id === undefined || id === null || id < 0) return null;
  return metadata.snapshots.find((s) => s['snapshot-id'] === id) ?? null;
}

/** The current snapshot and its ancestors, newest first (the table's main history). */
export function history(metadata: TableMetadata): Snapshot[] {
  const byId = new Map(metadata.snapshots.map((s) => [s['snapshot-id'], s]));
  const out: Snapshot[] = [];
  for (let s = currentSnapshot(metadata); s; s = s['parent-snapshot-id'] === undefined ? null : (byId.get(s['parent-snapshot-id']) ?? null)) {
    out.push(s);
  }
  return out;
}

/**
 * A positive snapshot id below 2^53, so that it is exact in JSON (`JSON.parse` rounds beyond) and in Avro
 * longs as avsc reads them; not one the table has used.
 */
export function newSnapshotId(metadata: TableMetadata): number {
  const used = new Set(metadata.snapshots.map((s) => s['snapshot-id']));
  for (;;) {
    const bytes = randomBytes(8);
    const id = (bytes.readUInt32BE(0) & 0x1fffff) * 2 ** 32 + bytes.readUInt32BE(4);
    if (id > 0 && !used.has(id)) return id;
  }
}

/** Counts of one snapshot's change, for its summary. */
export interface SnapshotChange {
  addedFiles: number;
  addedRecords: number;
  addedBytes: number;
  deletedFiles: number;
  deletedRecords: number;
  removedBytes: number;
  /** Position delete files added (and the positions they delete), and those no longer live after it. */
  addedDeleteFiles?: number;
  addedPositionDeletes?: number;
  removedDeleteFiles?: number;
  removedPositionDeletes?: number;
}

/**
 * The snapshot summary Iceberg Java writes (spec Appendix F): what this snapshot added and removed, and the
 * table's totals after it, from the parent's totals. Every value is a string.
 */
export function snapshotSummary(operation: SnapshotOperation, change: SnapshotChange, parent: Snapshot | null, extra: Record<string, string>): Snapshot['summary'] {
  const before = (key: string) => Number(parent?.summary[key] ?? '0');
  const totals = {
    'total-data-files': before('total-data-files') + change.addedFiles - change.deletedFiles,
    'total-records': before('total-records') + change.addedRecords - change.deletedRecords,
    'total-files-size': before('total-files-size') + change.addedBytes - change.removedBytes,
    'total-delete-files': before('total-delete-files') + (change.addedDeleteFiles ?? 0) - (change.removedDeleteFiles ?? 0),
    'total-position-deletes': before('total-position-deletes') + (change.addedPositionDeletes ?? 0) - (change.removedPositionDeletes ?? 0),
  };
  const deletes: Record<string, string> = change.addedDeleteFiles
    ? { 'added-delete-files': String(change.addedDeleteFiles), 'added-position-delete-files': String(change.addedDeleteFiles), 'added-position-deletes': String(change.addedPositionDeletes ?? 0) }
    : {};
  const removedDeletes: Record<string, string> = change.removedDeleteFiles
    ? { 'removed-delete-files': String(change.removedDeleteFiles), 'removed-position-delete-files': String(change.removedDeleteFiles), 'removed-position-deletes': String(change.removedPositionDeletes ?? 0) }
    : {};
  return {
    operation,
    'added-data-files': String(change.addedFiles),
    'added-records': String(change.addedRecords),
    'added-files-size': String(change.addedBytes),
    ...(change.deletedFiles > 0
      ? { 'deleted-data-files': String(change.deletedFiles), 'deleted-records': String(change.deletedRecords), 'removed-files-size': String(change.removedBytes) }
      : {}),
    ...deletes,
    ...removedDeletes,
    'changed-partition-count': String(change.addedFiles > 0 || change.deletedFiles > 0 ? 1 : 0),
    'total-data-files': String(totals['total-data-files']),
    'total-records': String(totals['total-records']),
    'total-files-size': String(totals['total-files-size']),
    'total-delete-files': String(totals['total-delete-files']),
    'total-position-deletes': String(totals['total-position-deletes']),
    'total-equality-deletes': '0',
    'engine-name': 'pgsip',
    ...extra,
  };
}

/**
 * The metadata with `snapshot` added as the current one: the next sequence number, `refs.main`, a snapshot-log
 * entry, `last-updated-ms` the snapshot's time (one clock for both, as Iceberg Java checks).
 */
export function withSnapshot(metadata: TableMetadata, snapshot: Snapshot): TableMetadata {
  if (snapshot['sequence-number'] !== metadata['last-sequence-number'] + 1) {
    throw new InternalError(`snapshot ${snapshot['snapshot-id']} has sequence number ${snapshot['sequence-number']}, not ${metadata['last-sequence-number'] + 1}`);
  }
  return {
    ...metadata,
    'last-sequence-number': snapshot['sequence-number'],
    'last-updated-ms': Math.max(snapshot['timestamp-ms'], metadata['last-updated-ms']),
    'current-snapshot-id': snapshot['snapshot-id'],
    refs: { ...metadata.refs, main: { 'snapshot-id': snapshot['snapshot-id'], type: 'branch' } },
    snapshots: [...metadata.snapshots, snapshot],
    'snapshot-log': [...metadata['snapshot-log'], { 'timestamp-ms': snapshot['timestamp-ms'], 'snapshot-id': snapshot['snapshot-id'] }],
  };
}

/**
 * The metadata, as the next version after the file at `previousLocation`: that file joins the metadata log
 * with the time it was written (its `last-updated-ms`), the oldest entries beyond METADATA_LOG_MAX dropped.
 */
export function succeeding(metadata: TableMetadata, previous: { location: string; metadata: TableMetadata } | null): TableMetadata {
  if (!previous) return metadata;
  const log = [...previous.metadata['metadata-log'], { 'timestamp-ms': previous.metadata['last-updated-ms'], 'metadata-file': previous.location }];
  return { ...metadata, 'metadata-log': log.slice(Math.max(0, log.length - METADATA_LOG_MAX)) };
}

/** A run's snapshot in the table's history, if one was committed: the run id its summary names. */
export function snapshotOfRun(metadata: TableMetadata, runId: string): Snapshot | null {
  return history(metadata).find((s) => s.summary[RUN_ID_SUMMARY_KEY] === runId) ?? null;
}

/** Metadata as a file holds it: JSON, numbers exact (every id is below 2^53). */
export function serializeTableMetadata(metadata: TableMetadata): string {
  return `${JSON.stringify(metadata, null, 2)}\n`;
}
