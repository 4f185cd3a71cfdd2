/**
 * DescribeFailure: after a failed run, the error the execution fails with, naming the table and shard that
 * failed when the Map's own error would hide them. A thin shell over the engine's `describeRunFailure`, with
 * the shards found in the Map Run's child executions (lambdas/shared/map-run-failures.ts).
 *
 * Event `{ error, cause, executionId }` (the error `Run` caught and `$$.Execution.Id`) -> `{ Error, Cause }`.
 * It does not throw for a lookup that fails (access denied, throttling): the caught error comes back unchanged
 * and a warning is logged.
 */
import { SFNClient } from '@aws-sdk/client-sfn';
import { describeRunFailure, type FailedShardSource, type RunFailure, type RunFailureEvent } from '../engine/run-failure';
import { logger } from '../shared/logger';
import { failedShardSource } from '../shared/map-run-failures';
import { createMetrics, type LambdaContext, type LogSink, type MetricsSink, observe } from '../shared/observability';

export function createFailureLambdaHandler(source: () => FailedShardSource, log: LogSink, metrics: MetricsSink) {
  return async (event: RunFailureEvent, context?: LambdaContext): Promise<RunFailure> =>
    observe(
      log,
      metrics,
      context,
      { executionId: event.executionId },
      () =>
        describeRunFailure(event, {
          source: source(),
          log: { info: (message, fields) => log.info(message, { ...fields }), warn: (message, fields) => log.warn(message, { ...fields }) },
        }),
      // Nothing to count: the execution's own failure is Step Functions' ExecutionsFailed metric.
      () => {},
    );
}

// One client per container; the region is Lambda's own (AWS_REGION). Short timeouts: in a VPC without a route
// to Step Functions a lookup must give up (and the caught error stand) well before the function's minute.
let client: SFNClient | undefined;
const sfn = () => (client ??= new SFNClient({ maxAttempts: 3, requestHandler: { connectionTimeout: 3_000, requestTimeout: 10_000 } }));
export const handler = createFailureLambdaHandler(() => failedShardSource(sfn()), logger, createMetrics());
