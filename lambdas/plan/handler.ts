/** Plan: the execution input in, shard tasks out. A thin shell over the engine's Plan phase. */
import type { PlanEvent, PlanResult } from '../engine/contracts';
import type { EngineEnvironment } from '../engine/environment';
import { planRun } from '../engine/plan-run';
import { lambdaEnvironment, logger } from '../shared/lambda-environment';
import { METRICS } from '../shared/metric-names';
import { createMetrics, type LambdaContext, type LogSink, MetricUnit, type MetricsSink, observe } from '../shared/observability';

export function createPlanLambdaHandler(environment: () => EngineEnvironment, log: LogSink, metrics: MetricsSink) {
  return async (event: PlanEvent, context?: LambdaContext): Promise<PlanResult> =>
    observe(
      log,
      metrics,
      context,
      { executionId: event.executionId, executionName: event.executionName, runId: event.input?.runId },
      () => planRun(event, environment()),
      () => metrics.addMetric(METRICS.planFailures, MetricUnit.Count, 1),
    );
}

export const handler = createPlanLambdaHandler(lambdaEnvironment, logger, createMetrics());
