/** Plan: the execution input in, shard tasks out. A thin shell over the engine. */
import type { PlanResult } from '../engine/contracts';
import type { EngineEnvironment } from '../engine/environment';
import { type PlanEvent, planRun } from '../engine/plan-run';
import { lambdaEnvironment, logger } from '../shared/lambda-environment';
import { METRICS } from '../shared/metric-names';
import { createMetrics, type LambdaContext, type LogSink, MetricUnit, type MetricsSink, observe } from '../shared/observability';

/** Plan's payload: the execution input, the execution's name (default run id) and, from the state machine, its id. */
export type PlanLambdaEvent = PlanEvent & { executionId?: string };

export function createPlanHandler(environment: () => EngineEnvironment) {
  return async (event: PlanLambdaEvent): Promise<PlanResult> => planRun(event, environment());
}

export function createPlanLambdaHandler(environment: () => EngineEnvironment, log: LogSink, metrics: MetricsSink) {
  const run = createPlanHandler(environment);
  return async (event: PlanLambdaEvent, context?: LambdaContext): Promise<PlanResult> =>
    observe(
      log,
      metrics,
      context,
      { executionId: event.executionId, executionName: event.executionName, runId: event.input?.runId },
      async () => {
        const result = await run(event);
        log.info('planned', { runId: result.runId, tables: result.tables.length, shards: result.shards.length });
        return result;
      },
      () => metrics.addMetric(METRICS.planFailures, MetricUnit.Count, 1),
    );
}

export const handler = createPlanLambdaHandler(lambdaEnvironment, logger, createMetrics());
