/**
 * Step Functions as AWS answers about a failed export: the execution, its Map Run and child executions (ARN forms
 * of the Service Authorization Reference), a child's input as the Map's ItemSelector builds it, and a failed
 * child's error and cause as the `lambda:invoke` integration records them: a pgsip error (the function's error
 * payload as JSON, with its trace), a Lambda timeout and an out-of-memory kill (`Sandbox.Timedout` and
 * `Runtime.OutOfMemory`, their messages prefixed by Lambda with the request id).
 */
import {
  DescribeExecutionCommand,
  type DescribeExecutionCommandOutput,
  ListExecutionsCommand,
  ListMapRunsCommand,
  type SFNClient,
  SFNServiceException,
} from '@aws-sdk/client-sfn';
import type { AwsClientStub } from 'aws-sdk-client-mock';

export const SM = 'arn:aws:states:eu-west-1:123456789012:stateMachine:PgsipExportStateMachine';
export const EXEC = 'arn:aws:states:eu-west-1:123456789012:execution:PgsipExportStateMachine:20261121T230000Z-abc123';
export const LABEL = 'f3b6c1a2-7d4e-4b8a-9c0d-1e2f3a4b5c6d';
export const MAP_RUN = `arn:aws:states:eu-west-1:123456789012:mapRun:PgsipExportStateMachine/${LABEL}:0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e`;
export const child = (id: string) => `arn:aws:states:eu-west-1:123456789012:execution:PgsipExportStateMachine/${LABEL}:${id}`;
export const t0 = new Date('2026-11-21T23:00:00Z');
export const at = (seconds: number) => new Date(t0.getTime() + seconds * 1000);

/** The key ranges of a shard are facts about the source: they must never reach a message. */
export const SECRET_BOUND = 'customer-4711@example.com';

/** A child's input as the Map's ItemSelector builds it. */
export function childInput(table: string, shard: number, shardCount = 8): string {
  return JSON.stringify({
    task: { runId: '20261121T230000Z-abc123', table, runDir: 'public/orders/run=20261121T230000Z-abc123', shard, shardCount, range: { lo: SECRET_BOUND, hi: null } },
    executionId: EXEC,
    snapshot: '00000003-0000001B-1',
    heldSnapshot: EXEC,
  });
}

/** Errors and causes as Step Functions records them for a Lambda task (the function's error payload, as JSON). */
export const FAILURES = {
  pgsip: {
    error: 'ShardRetryableError',
    cause: JSON.stringify({
      errorType: 'ShardRetryableError',
      errorMessage: 'table "public"."orders" shard 3: connection lost (ECONNRESET): read ECONNRESET',
      trace: ['ShardRetryableError: table "public"."orders" shard 3: connection lost (ECONNRESET): read ECONNRESET', '    at explainShardFailure (file:///var/task/index.mjs:1:23456)'],
    }),
  },
  timeout: {
    error: 'Sandbox.Timedout',
    cause: JSON.stringify({ errorType: 'Sandbox.Timedout', errorMessage: 'RequestId: 0f9a1c2e-5b6d-4e7f-8a9b-0c1d2e3f4a5b Error: Task timed out after 900.00 seconds' }),
  },
  oom: {
    error: 'Runtime.OutOfMemory',
    cause: JSON.stringify({ errorType: 'Runtime.OutOfMemory', errorMessage: 'RequestId: 7c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f Error: Runtime exited with error: signal: killed' }),
  },
} as const;

export function describedChild(
  id: string,
  status: 'FAILED' | 'TIMED_OUT' | 'ABORTED',
  input: string,
  failure?: { error: string; cause: string },
  stopSecond = 60,
): DescribeExecutionCommandOutput {
  return {
    $metadata: {},
    executionArn: child(id),
    stateMachineArn: `${SM}/${LABEL}`,
    name: id,
    status,
    startDate: t0,
    stopDate: at(stopSecond),
    input,
    mapRunArn: MAP_RUN,
    ...(failure ? { error: failure.error, cause: failure.cause } : {}),
  };
}

export const listed = (id: string, status: 'FAILED' | 'TIMED_OUT' | 'ABORTED', stopSecond: number) => ({
  executionArn: child(id),
  stateMachineArn: `${SM}/${LABEL}`,
  name: id,
  status,
  startDate: t0,
  stopDate: at(stopSecond),
  mapRunArn: MAP_RUN,
});

export function awsError(name: string, message: string, httpStatusCode = 400): SFNServiceException {
  return new SFNServiceException({ name, message, $fault: 'client', $metadata: { httpStatusCode } });
}

/** Every child of MAP_RUN, answered by status filter (newest first, as AWS lists them) and by ARN. */
export function children(
  sfn: AwsClientStub<SFNClient>,
  items: { id: string; status: 'FAILED' | 'TIMED_OUT' | 'ABORTED'; stop: number; input: string; failure?: { error: string; cause: string } }[],
) {
  sfn.on(ListMapRunsCommand, { executionArn: EXEC }).resolves({ mapRuns: [{ mapRunArn: MAP_RUN, executionArn: EXEC, stateMachineArn: SM, startDate: t0 }] });
  sfn.on(ListExecutionsCommand).resolves({ executions: [] });
  for (const status of ['FAILED', 'TIMED_OUT', 'ABORTED'] as const) {
    const these = items.filter((i) => i.status === status).sort((a, b) => b.stop - a.stop);
    sfn.on(ListExecutionsCommand, { mapRunArn: MAP_RUN, statusFilter: status }).resolves({ executions: these.map((i) => listed(i.id, i.status, i.stop)) });
  }
  for (const i of items) sfn.on(DescribeExecutionCommand, { executionArn: child(i.id) }).resolves(describedChild(i.id, i.status, i.input, i.failure, i.stop));
}
