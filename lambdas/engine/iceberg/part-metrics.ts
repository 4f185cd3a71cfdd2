/**
 * A data file's Iceberg metrics as the shard and run manifests keep them (`PartMetrics`, JSON: field ids as
 * keys, bounds as base64 of their single-value serialization), and back: Export records them from each part's
 * footer, Commit turns them into the part's manifest entry.
 */
import type { PartMetrics } from '../contracts';
import type { DataFileMetrics } from './model';

export function partMetrics(metrics: DataFileMetrics, splitOffsets: number[]): PartMetrics {
  const counts = (m: Map<number, number>) => Object.fromEntries([...m].map(([id, n]) => [String(id), n]));
  const bounds = (m: Map<number, Uint8Array>) => Object.fromEntries([...m].map(([id, b]) => [String(id), Buffer.from(b).toString('base64')]));
  return {
    columnSizes: counts(metrics.column_sizes),
    valueCounts: counts(metrics.value_counts),
    nullValueCounts: counts(metrics.null_value_counts),
    nanValueCounts: counts(metrics.nan_value_counts),
    lowerBounds: bounds(metrics.lower_bounds),
    upperBounds: bounds(metrics.upper_bounds),
    splitOffsets,
  };
}

export function dataFileMetricsOf(metrics: PartMetrics): DataFileMetrics {
  const counts = (r: Record<string, number>) => new Map(Object.entries(r).map(([k, v]) => [Number(k), v]));
  const bounds = (r: Record<string, string>) => new Map(Object.entries(r).map(([k, v]) => [Number(k), new Uint8Array(Buffer.from(v, 'base64'))]));
  return {
    column_sizes: counts(metrics.columnSizes),
    value_counts: counts(metrics.valueCounts),
    null_value_counts: counts(metrics.nullValueCounts),
    nan_value_counts: counts(metrics.nanValueCounts),
    lower_bounds: bounds(metrics.lowerBounds),
    upper_bounds: bounds(metrics.upperBounds),
  };
}
