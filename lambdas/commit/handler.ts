/** Commit: verify every shard of every table, then write manifests and `_SUCCESS`. A thin shell over the engine's Commit phase. */
import type { CommitEvent, CommitOutput } from '../engine/contracts';
import { commitOutput, commitRun } from '../engine/commit-run';
import type { RunEnvironment } from '../engine/environment';
import { logger } from '../shared/logger';
import { commitEnvironment } from '../shared/commit-environment';
import { METRICS } from '../shared/metric-names';
import { createMetrics, type LambdaContext, type LogSink, MetricUnit, type MetricsSink, observe } from '../shared/observability';

export function createCommitLambdaHandler(environment: () => RunEnvironment, log: LogSink, metrics: MetricsSink) {
  return async (event: CommitEvent, context?: LambdaContext): Promise<CommitOutput> =>
    observe(
      log,
      metrics,
      context,
      { executionId: event.executionId, runId: event.runId },
      async () => {
        const result = await commitRun(event, environment(), context?.getRemainingTimeInMillis ? () => context.getRemainingTimeInMillis() : undefined);
        // One record per table (the dashboard's commits, rows and bytes per table) ...
        for (const t of result.tables) {
          metrics.addDimension('table', t.table);
          metrics.addMetric(METRICS.tableCommitted, MetricUnit.Count, 1);
          metrics.addMetric(METRICS.committedRows, MetricUnit.Count, t.rows);
          metrics.addMetric(METRICS.committedBytes, MetricUnit.Bytes, t.bytes);
          metrics.publishStoredMetrics();
        }
        // ... and one for the schedule that started the run: every table it selected committed, which its
        // freshness alarm watches.
        if (result.schedule) {
          metrics.addDimension('schedule', result.schedule);
          metrics.addMetric(METRICS.scheduleCommitted, MetricUnit.Count, 1);
          metrics.publishStoredMetrics();
        }
        // Counts only: the execution's output must not grow with the number of tables.
        return commitOutput(result);
      },
      () => metrics.addMetric(METRICS.commitFailures, MetricUnit.Count, 1),
    );
}

export const handler = createCommitLambdaHandler(commitEnvironment, logger, createMetrics());
