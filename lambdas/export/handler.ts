/** Export: one shard task in, the shard's counts out. A thin shell over the engine's Export phase. */
import type { ExportShardEvent, ShardResult } from '../engine/contracts';
import type { EngineEnvironment } from '../engine/environment';
import { exportShard, shardTaskOf } from '../engine/export-shard';
import { codecImplementation } from '../engine/parquet/codecs';
import { lambdaEnvironment, logger } from '../shared/lambda-environment';
import { METRICS } from '../shared/metric-names';
import { createMetrics, type LambdaContext, type LogSink, MetricUnit, type MetricsSink, observe } from '../shared/observability';

/** The Lambda entry point: logs keyed by execution, run, table and shard; metrics per table. */
export function createExportLambdaHandler(environment: () => EngineEnvironment, log: LogSink, metrics: MetricsSink) {
  return async (event: ExportShardEvent, context?: LambdaContext): Promise<ShardResult> => {
    const task = shardTaskOf(event);
    const executionId = 'task' in event ? event.executionId : undefined;
    const keys = { executionId, runId: task.runId, table: task.table, shard: task.shard };
    return observe(
      log,
      metrics,
      context,
      keys,
      async () => {
        const result = await exportShard(task, environment());
        metrics.addDimension('table', result.table);
        metrics.addMetadata('shard', String(result.shard));
        metrics.addMetadata('runId', task.runId);
        metrics.addMetric(METRICS.shardRows, MetricUnit.Count, result.rows);
        metrics.addMetric(METRICS.shardBytes, MetricUnit.Bytes, result.bytes);
        metrics.addMetric(METRICS.shardSeconds, MetricUnit.Seconds, result.seconds);
        metrics.addMetric(METRICS.shardRowsPerSecond, MetricUnit.CountPerSecond, result.seconds > 0 ? result.rows / result.seconds : 0);
        return result;
      },
      () => {
        metrics.addDimension('table', task.table);
        metrics.addMetadata('shard', String(task.shard));
        metrics.addMetric(METRICS.shardFailures, MetricUnit.Count, 1);
      },
    );
  };
}

// Once per container: which implementation writes each codec here (a JS fallback must never go unnoticed).
logger.info('codecs', { SNAPPY: codecImplementation('SNAPPY'), ZSTD: codecImplementation('ZSTD'), node: process.versions.node });

export const handler = createExportLambdaHandler(lambdaEnvironment, logger, createMetrics());
