/** Plan: the execution input in, shard tasks out. A thin shell over the engine. */
import type { PlanResult } from '../engine/contracts';
import type { EngineEnvironment } from '../engine/environment';
import { type PlanEvent, planRun } from '../engine/plan-run';
import { lambdaEnvironment } from '../shared/lambda-environment';

export function createPlanHandler(environment: () => EngineEnvironment) {
  return async (event: PlanEvent): Promise<PlanResult> => planRun(event, environment());
}

export const handler = createPlanHandler(lambdaEnvironment);
