/**
 * A committed full run of an Iceberg table as Commit hands it to `commitToIcebergTable`: its plan and its
 * manifest, with metrics for each part (the parts' files are never read by a full run's commit). For tests of
 * the commit and of the catalogs it commits through.
 */
import type { RunManifest, TablePlan } from '../../lambdas/engine/contracts';
import type { IcebergSchema } from '../../lambdas/engine/iceberg/model';

export interface IcebergRunOptions {
  runId: string;
  plannedAt: string;
  /** The table in schema `public`. */
  table: string;
  /** The table's location, an absolute URI. */
  location: string;
  schema: IcebergSchema;
  /** Parts of 5 rows and 100 bytes each. @default 1 */
  parts?: number;
}

export function icebergRun(options: IcebergRunOptions): { plan: TablePlan; manifest: RunManifest } {
  const { runId, table, schema } = options;
  const metrics = { columnSizes: { 1: 10 }, valueCounts: { 1: 5 }, nullValueCounts: { 1: 0 }, nanValueCounts: {}, lowerBounds: {}, upperBounds: {}, splitOffsets: [4] };
  const parts = Array.from({ length: options.parts ?? 1 }, (_, n) => ({ path: `part-${n}-0-aaaa.parquet`, rows: 5, bytes: 100, metrics }));
  const plan = {
    version: 1,
    runId,
    table: `"public"."${table}"`,
    schema: 'public',
    name: table,
    runDir: `public/${table}/run=${runId}`,
    columns: [],
    splitKey: null,
    shards: [],
    options: { tableFormat: 'iceberg' },
    plannedAt: options.plannedAt,
    estimatedRows: 5 * parts.length,
    iceberg: {
      location: options.location,
      schema,
      lastColumnId: Math.max(...schema.fields.map((f) => f.id)),
      base: null,
      changes: [],
      spec: { 'spec-id': 0, fields: [] },
      lastPartitionId: 999,
    },
  } as unknown as TablePlan;
  const manifest = { runId, rows: 5 * parts.length, bytes: 100 * parts.length, parts, mode: 'full' } as unknown as RunManifest;
  return { plan, manifest };
}
