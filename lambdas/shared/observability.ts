/**
 * What every handler adds around the engine inside Lambda: structured JSON log lines (Powertools Logger) that
 * carry the execution id, run, table and shard, and CloudWatch metrics (Powertools Metrics, embedded metric
 * format: written to the function's log, no API calls). Names and dimensions: `metric-names.ts`.
 *
 * The local runner does not come through here (it calls `create*Handler` directly), so `pgsip run` prints no
 * metric records.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { METRIC_NAMESPACE } from './metric-names';

export { MetricUnit };

/** The part of Powertools Metrics the handlers use (a recorder stands in for it in tests). */
export type MetricsSink = Pick<Metrics, 'addDimension' | 'addMetric' | 'addMetadata' | 'publishStoredMetrics'> &
  Partial<Pick<Metrics, 'hasStoredMetrics'>>;

export type LogSink = Pick<Logger, 'info' | 'warn' | 'error' | 'appendKeys' | 'removeKeys' | 'addContext'>;

/** The Lambda context fields the logger picks up (function name, request id, cold start). */
export type LambdaContext = Parameters<Logger['addContext']>[0];

export function createMetrics(): Metrics {
  return new Metrics({
    namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? METRIC_NAMESPACE,
    serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'pgsip',
  });
}

/**
 * Runs one invocation with `keys` on every log line, then flushes the metrics the body added. An error is
 * logged (name and message; pgsip's messages never hold passwords) and re-thrown unchanged: its `name` is what
 * Step Functions retries on.
 */
export async function observe<T>(
  log: LogSink,
  metrics: MetricsSink,
  context: LambdaContext | undefined,
  keys: Record<string, string | number | undefined>,
  body: () => Promise<T>,
  onFailure: (error: unknown) => void,
): Promise<T> {
  const present = Object.fromEntries(Object.entries(keys).filter(([, v]) => v !== undefined));
  if (context) log.addContext(context);
  log.appendKeys(present);
  try {
    return await body();
  } catch (error) {
    const e = error as Error;
    log.error('failed', { errorName: e?.name, errorMessage: e?.message });
    onFailure(error);
    throw error;
  } finally {
    try {
      // Nothing stored (Commit publishes per table as it goes): no record, and no Powertools warning.
      if (metrics.hasStoredMetrics?.() ?? true) metrics.publishStoredMetrics();
    } finally {
      log.removeKeys(Object.keys(present));
    }
  }
}
