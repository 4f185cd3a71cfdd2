/** The snapshot holder: holds the run's snapshot for one lifetime, or releases it. A thin shell over the engine's Hold phase. */
import type { HolderEvent, HolderResult } from '../engine/contracts';
import type { EngineEnvironment } from '../engine/environment';
import { snapshotHolder } from '../engine/hold-snapshot';
import { lambdaEnvironment, logger } from '../shared/lambda-environment';
import { METRICS } from '../shared/metric-names';
import { createMetrics, type LambdaContext, type LogSink, MetricUnit, type MetricsSink, observe } from '../shared/observability';

export function createHolderLambdaHandler(environment: () => EngineEnvironment, log: LogSink, metrics: MetricsSink) {
  return async (event: HolderEvent, context?: LambdaContext): Promise<HolderResult | { released: boolean }> =>
    observe(
      log,
      metrics,
      context,
      { executionId: event.executionId, executionName: event.executionName, runId: event.input?.runId, generation: event.generation, action: event.action },
      // Lambda's clock bounds each holder's deadline, so it lets go before its invocation ends.
      () => snapshotHolder(event, environment(), context?.getRemainingTimeInMillis ? () => context.getRemainingTimeInMillis() : undefined),
      () => metrics.addMetric(METRICS.holderFailures, MetricUnit.Count, 1),
    );
}

export const handler = createHolderLambdaHandler(lambdaEnvironment, logger, createMetrics());
