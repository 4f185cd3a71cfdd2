/**
 * The error an execution fails with after a shard failed: the shard's own error name, and a cause naming its
 * table and shard, found through the Step Functions API (mocked, answering as AWS does: test/support/sfn-map-runs.ts).
 * Any other error, or a lookup that fails, leaves the caught error as it was. The DescribeFailure handler around
 * it logs as every handler does.
 */
import { DescribeExecutionCommand, ListExecutionsCommand, ListMapRunsCommand, SFNClient } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { createFailureLambdaHandler } from '../../../lambdas/failure/handler';
import { CAUSE_LIMIT, describeRunFailure, type FailedShardSource, type RunFailureEvent } from '../../../lambdas/engine/run-failure';
import { failedShardSource } from '../../../lambdas/shared/map-run-failures';
import { awsError, child, childInput, children, EXEC, FAILURES, MAP_RUN, SECRET_BOUND } from '../../support/sfn-map-runs';

const sfn = mockClient(SFNClient);
const source = () => failedShardSource(new SFNClient({ region: 'eu-west-1' }));

/** What `Run` catches when a shard fails: the Map Run's own error. */
const mapFailed: RunFailureEvent = {
  caught: { Error: 'States.ExceedToleratedFailureThreshold', Cause: 'The specified tolerated failure threshold was exceeded' },
  executionId: EXEC,
};

function recordingLog() {
  const lines: { level: string; message: string; fields?: Record<string, unknown> }[] = [];
  return {
    lines,
    info: (message: string, fields?: Record<string, unknown>) => void lines.push({ level: 'INFO', message, fields }),
    warn: (message: string, fields?: Record<string, unknown>) => void lines.push({ level: 'WARN', message, fields }),
  };
}

describe('describeRunFailure', () => {
  beforeEach(() => sfn.reset());

  it('fails with the first failed shard’s own error, its table and shard, and how many failed', async () => {
    children(sfn, [
      { id: 'c-oom', status: 'FAILED', stop: 300, input: childInput('"public"."orders"', 5), failure: FAILURES.oom },
      { id: 'c-pgsip', status: 'FAILED', stop: 120, input: childInput('"public"."orders"', 3), failure: FAILURES.pgsip },
      { id: 'c-timeout', status: 'FAILED', stop: 901, input: childInput('"public"."orders"', 0), failure: FAILURES.timeout },
      { id: 'c-stopped', status: 'ABORTED', stop: 302, input: childInput('"public"."orders"', 6) },
    ]);
    const log = recordingLog();
    const result = await describeRunFailure(mapFailed, { source: source(), log });
    expect(result).toEqual({
      Error: 'ShardRetryableError',
      // pgsip's message already names table and shard: said once.
      Cause: `table "public"."orders" shard 3: connection lost (ECONNRESET): read ECONNRESET (3 shards failed; pgsip status --execution ${EXEC} lists them)`,
    });
    // Only the first is described: the rest are counted.
    expect(sfn.commandCalls(DescribeExecutionCommand)).toHaveLength(1);
    expect(log.lines).toEqual([
      {
        level: 'INFO',
        message: 'run failure described',
        fields: { error: 'ShardRetryableError', table: '"public"."orders"', shard: 3, status: 'FAILED', failedShards: 3, childExecutionArn: child('c-pgsip') },
      },
    ]);
    expect(JSON.stringify([result, log.lines])).not.toContain(SECRET_BOUND);
  });

  it('names a shard Lambda stopped at its timeout', async () => {
    children(sfn, [{ id: 'c-timeout', status: 'FAILED', stop: 901, input: childInput('"sales"."Weird Table"', 1, 4), failure: FAILURES.timeout }]);
    expect(await describeRunFailure(mapFailed, { source: source() })).toEqual({
      Error: 'Sandbox.Timedout',
      Cause: 'table "sales"."Weird Table" shard 1: Task timed out after 900.00 seconds',
    });
  });

  it('names a shard Lambda killed for memory', async () => {
    children(sfn, [{ id: 'c-oom', status: 'FAILED', stop: 40, input: childInput('"public"."orders"', 7), failure: FAILURES.oom }]);
    expect(await describeRunFailure(mapFailed, { source: source() })).toEqual({
      Error: 'Runtime.OutOfMemory',
      Cause: 'table "public"."orders" shard 7: Runtime exited with error: signal: killed',
    });
  });

  it('names a shard someone stopped when none failed on its own, under the Map’s error', async () => {
    children(sfn, [{ id: 'c-stopped', status: 'ABORTED', stop: 40, input: childInput('"public"."orders"', 2) }]);
    expect(await describeRunFailure(mapFailed, { source: source() })).toEqual({
      Error: 'States.ExceedToleratedFailureThreshold',
      Cause: 'table "public"."orders" shard 2: stopped before it finished (aborted)',
    });
  });

  it('passes any other error through unchanged, without asking Step Functions', async () => {
    const planFailed = { caught: { Error: 'TableLockedError', Cause: JSON.stringify({ errorType: 'TableLockedError', errorMessage: 'table "public"."orders" is locked' }) }, executionId: EXEC };
    expect(await describeRunFailure(planFailed, { source: source() })).toEqual(planFailed.caught);
    expect(sfn.calls()).toHaveLength(0);
  });

  it('keeps the Map’s error when the execution has no Map Run or no failed child', async () => {
    sfn.on(ListMapRunsCommand).resolves({ mapRuns: [] });
    const log = recordingLog();
    expect(await describeRunFailure(mapFailed, { source: source(), log })).toEqual(mapFailed.caught);
    expect(log.lines.map((l) => l.level)).toEqual(['WARN']);

    sfn.reset();
    children(sfn, []);
    expect(await describeRunFailure(mapFailed, { source: source() })).toEqual(mapFailed.caught);
  });

  it('keeps the Map’s error, with a warning, when a lookup is denied or throttled', async () => {
    const denied = awsError('AccessDeniedException', `User: arn:aws:sts::123456789012:assumed-role/Pgsip-Failure/fn is not authorized to perform: states:ListExecutions on resource: ${MAP_RUN}`);
    children(sfn, [{ id: 'c', status: 'FAILED', stop: 1, input: childInput('"public"."orders"', 3), failure: FAILURES.pgsip }]);
    sfn.on(ListExecutionsCommand).rejects(denied);
    const log = recordingLog();
    expect(await describeRunFailure(mapFailed, { source: source(), log })).toEqual(mapFailed.caught);
    expect(log.lines).toEqual([
      {
        level: 'WARN',
        message: 'failed shards could not be looked up; the execution fails with the Map error',
        fields: { errorName: 'AccessDeniedException', errorMessage: denied.message },
      },
    ]);

    sfn.reset();
    children(sfn, [{ id: 'c', status: 'FAILED', stop: 1, input: childInput('"public"."orders"', 3), failure: FAILURES.pgsip }]);
    sfn.on(DescribeExecutionCommand).rejects(awsError('ThrottlingException', 'Rate exceeded'));
    expect(await describeRunFailure(mapFailed, { source: source() })).toEqual(mapFailed.caught);
  });

  it('keeps the cause within what Step Functions stores, the count and the pointer intact', async () => {
    const long = JSON.stringify({ errorType: 'InternalError', errorMessage: `table "public"."orders" shard 3: ${'ä'.repeat(40_000)}` });
    children(sfn, [
      { id: 'a', status: 'FAILED', stop: 1, input: childInput('"public"."orders"', 3), failure: { error: 'InternalError', cause: long } },
      { id: 'b', status: 'FAILED', stop: 2, input: childInput('"public"."orders"', 4), failure: FAILURES.pgsip },
    ]);
    const result = await describeRunFailure(mapFailed, { source: source() });
    expect(result.Error).toBe('InternalError');
    expect(result.Cause.length).toBeLessThanOrEqual(CAUSE_LIMIT);
    expect(result.Cause.length).toBeGreaterThan(CAUSE_LIMIT - 10);
    expect(result.Cause).toMatch(/^table "public"\."orders" shard 3: ää+… \(2 shards failed; pgsip status --execution \S+ lists them\)$/);
  });
});

describe('the DescribeFailure handler', () => {
  function recorders() {
    let keys: Record<string, unknown> = {};
    const lines: Record<string, unknown>[] = [];
    const log = {
      addContext: vi.fn(),
      appendKeys: (k: Record<string, unknown>) => void (keys = { ...keys, ...k }),
      removeKeys: (names: string[]) => void (keys = Object.fromEntries(Object.entries(keys).filter(([n]) => !names.includes(n)))),
      info: (message: string, fields?: object) => void lines.push({ level: 'INFO', message, ...keys, ...fields }),
      warn: (message: string, fields?: object) => void lines.push({ level: 'WARN', message, ...keys, ...fields }),
      error: (message: string, fields?: object) => void lines.push({ level: 'ERROR', message, ...keys, ...fields }),
    };
    const metrics = { addDimension: vi.fn(), addMetric: vi.fn(), addMetadata: vi.fn(), publishStoredMetrics: vi.fn(), hasStoredMetrics: () => false };
    return { log, metrics, lines, keys: () => keys };
  }

  const oneShard: FailedShardSource = {
    failedShards: async () => ({
      shards: [{ table: '"public"."orders"', shard: 3, shardCount: 8, status: 'FAILED', error: 'SourceError', cause: 'permission denied for table orders (SQLSTATE 42501)', childExecutionArn: child('c') }],
      total: 1,
      counts: { failed: 1, timedOut: 0, aborted: 0 },
    }),
  };

  it('answers { Error, Cause } with every log line keyed by the execution, and no metric record', async () => {
    const r = recorders();
    const handler = createFailureLambdaHandler(() => oneShard, r.log as never, r.metrics as never);
    const result = await handler(mapFailed, { awsRequestId: 'req-1' } as never);
    expect(result).toEqual({ Error: 'SourceError', Cause: 'table "public"."orders" shard 3: permission denied for table orders (SQLSTATE 42501)' });
    expect(r.log.addContext).toHaveBeenCalledWith({ awsRequestId: 'req-1' });
    expect(r.lines).toEqual([expect.objectContaining({ level: 'INFO', message: 'run failure described', executionId: EXEC, table: '"public"."orders"', shard: 3 })]);
    expect(r.keys()).toEqual({});
    expect(r.metrics.publishStoredMetrics).not.toHaveBeenCalled();
  });

  it('answers the caught error when its lookup fails, logging a warning, not an error', async () => {
    const r = recorders();
    const failing: FailedShardSource = { failedShards: () => Promise.reject(awsError('AccessDeniedException', 'not authorized to perform: states:ListMapRuns')) };
    const handler = createFailureLambdaHandler(() => failing, r.log as never, r.metrics as never);
    expect(await handler(mapFailed)).toEqual(mapFailed.caught);
    expect(r.lines).toEqual([expect.objectContaining({ level: 'WARN', executionId: EXEC, errorName: 'AccessDeniedException' })]);
  });
});
