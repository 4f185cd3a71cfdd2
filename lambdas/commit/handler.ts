/** Commit: verify every shard of every table, then write manifests and `_SUCCESS`. A thin shell over the engine's Commit phase. */
import type { CommitEvent, CommitResult } from '../engine/contracts';
import { commitRun } from '../engine/commit-run';
import type { RunEnvironment } from '../engine/environment';
import { logger } from '../shared/logger';
import { commitEnvironment } from '../shared/commit-environment';
import { METRICS } from '../shared/metric-names';
import { createMetrics, type LambdaContext, type LogSink, MetricUnit, type MetricsSink, observe } from '../shared/observability';

export function createCommitLambdaHandler(environment: () => RunEnvironment, log: LogSink, metrics: MetricsSink) {
  return async (event: CommitEvent, context?: LambdaContext): Promise<CommitResult> =>
    observe(
      log,
      metrics,
      context,
      { executionId: event.executionId, runId: event.runId },
      async () => {
        const result = await commitRun(event, environment());
        // One record per table: the freshness alarm watches TableCommitted per table.
        for (const t of result.tables) {
          metrics.addDimension('table', t.table);
          metrics.addMetric(METRICS.tableCommitted, MetricUnit.Count, 1);
          metrics.addMetric(METRICS.committedRows, MetricUnit.Count, t.rows);
          metrics.addMetric(METRICS.committedBytes, MetricUnit.Bytes, t.bytes);
          metrics.publishStoredMetrics();
        }
        return result;
      },
      () => metrics.addMetric(METRICS.commitFailures, MetricUnit.Count, 1),
    );
}

export const handler = createCommitLambdaHandler(commitEnvironment, logger, createMetrics());
