/**
 * The failed shards of an execution, from its Map Runs' child executions, against a mocked Step Functions API
 * answering as AWS does: children listed newest first, a page at a time; a failed child's error and cause as the
 * `lambda:invoke` integration reports them (a pgsip error, a Lambda timeout, an out-of-memory kill); the child's
 * input the Map's ItemSelector built.
 */
import { DescribeExecutionCommand, ListExecutionsCommand, ListMapRunsCommand, SFNClient } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { causeLine } from '../../../lambdas/engine/run-failure';
import { failedShards } from '../../../lambdas/shared/map-run-failures';
import { at, awsError, child, childInput, children, describedChild, EXEC, FAILURES, listed, MAP_RUN, SECRET_BOUND, SM, t0 } from '../../support/sfn-map-runs';

const sfn = mockClient(SFNClient);
const client = () => new SFNClient({ region: 'eu-west-1' });

describe('failedShards', () => {
  beforeEach(() => sfn.reset());

  it('finds each failed shard with its own error and cause as one line, the first failure first, and counts the aborted', async () => {
    children(sfn, [
      { id: 'c-oom', status: 'FAILED', stop: 300, input: childInput('"public"."orders"', 5), failure: FAILURES.oom },
      { id: 'c-pgsip', status: 'FAILED', stop: 120, input: childInput('"public"."orders"', 3), failure: FAILURES.pgsip },
      { id: 'c-timeout', status: 'FAILED', stop: 901, input: childInput('"sales"."Weird Table"', 0, 2), failure: FAILURES.timeout },
      { id: 'c-stopped-1', status: 'ABORTED', stop: 302, input: childInput('"public"."orders"', 6) },
      { id: 'c-stopped-2', status: 'ABORTED', stop: 302, input: childInput('"public"."orders"', 7) },
    ]);
    const found = await failedShards(client(), EXEC);
    expect(found.counts).toEqual({ failed: 3, timedOut: 0, aborted: 2 });
    expect(found.total).toBe(3);
    expect(found.shards).toEqual([
      {
        table: '"public"."orders"',
        shard: 3,
        shardCount: 8,
        status: 'FAILED',
        error: 'ShardRetryableError',
        cause: 'table "public"."orders" shard 3: connection lost (ECONNRESET): read ECONNRESET',
        childExecutionArn: child('c-pgsip'),
      },
      {
        table: '"public"."orders"',
        shard: 5,
        shardCount: 8,
        status: 'FAILED',
        error: 'Runtime.OutOfMemory',
        cause: 'Runtime exited with error: signal: killed',
        childExecutionArn: child('c-oom'),
      },
      {
        table: '"sales"."Weird Table"',
        shard: 0,
        shardCount: 2,
        status: 'FAILED',
        error: 'Sandbox.Timedout',
        cause: 'Task timed out after 900.00 seconds',
        childExecutionArn: child('c-timeout'),
      },
    ]);
    // The aborted children are counted, not described; the input's key ranges appear nowhere.
    expect(sfn.commandCalls(DescribeExecutionCommand)).toHaveLength(3);
    expect(JSON.stringify(found)).not.toContain(SECRET_BOUND);
  });

  it('follows every page of Map Runs and of children, and describes no more than the limit', async () => {
    const RUN_2 = MAP_RUN.replace('0b1c2d3e', '99999999');
    sfn.on(ListMapRunsCommand, { executionArn: EXEC, nextToken: undefined }).resolves({
      mapRuns: [{ mapRunArn: MAP_RUN, executionArn: EXEC, stateMachineArn: SM, startDate: t0 }],
      nextToken: 'runs-2',
    });
    sfn.on(ListMapRunsCommand, { executionArn: EXEC, nextToken: 'runs-2' }).resolves({
      mapRuns: [{ mapRunArn: RUN_2, executionArn: EXEC, stateMachineArn: SM, startDate: at(1000) }],
    });
    sfn.on(ListExecutionsCommand).resolves({ executions: [] });
    // The first run's failures take two pages, newest first; the earliest failure is on the last page.
    sfn.on(ListExecutionsCommand, { mapRunArn: MAP_RUN, statusFilter: 'FAILED', nextToken: undefined }).resolves({
      executions: [listed('late-1', 'FAILED', 50), listed('late-2', 'FAILED', 40)],
      nextToken: 'page-2',
    });
    sfn.on(ListExecutionsCommand, { mapRunArn: MAP_RUN, statusFilter: 'FAILED', nextToken: 'page-2' }).resolves({
      executions: [listed('early', 'FAILED', 10)],
    });
    // The second run (after a redrive) timed out one more.
    sfn.on(ListExecutionsCommand, { mapRunArn: RUN_2, statusFilter: 'TIMED_OUT' }).resolves({ executions: [listed('redriven', 'TIMED_OUT', 2000)] });
    sfn.on(DescribeExecutionCommand).callsFake(({ executionArn }: { executionArn: string }) => {
      const id = executionArn.slice(executionArn.lastIndexOf(':') + 1);
      return describedChild(id, id === 'redriven' ? 'TIMED_OUT' : 'FAILED', childInput('"public"."orders"', id.length), FAILURES.pgsip);
    });

    const found = await failedShards(client(), EXEC, { limit: 2 });
    expect(found.total).toBe(4);
    expect(found.counts).toEqual({ failed: 3, timedOut: 1, aborted: 0 });
    expect(found.shards.map((s) => s.childExecutionArn)).toEqual([child('early'), child('late-2')]);
    expect(sfn.commandCalls(DescribeExecutionCommand)).toHaveLength(2);
    expect(sfn.commandCalls(ListMapRunsCommand)).toHaveLength(2);
    // Every status of both runs was listed, and the paged one twice.
    expect(sfn.commandCalls(ListExecutionsCommand)).toHaveLength(7);
  });

  it('answers nothing for an execution without Map Runs (it failed before the Map started)', async () => {
    sfn.on(ListMapRunsCommand).resolves({ mapRuns: [] });
    const found = await failedShards(client(), EXEC);
    expect(found).toEqual({ shards: [], total: 0, counts: { failed: 0, timedOut: 0, aborted: 0 } });
    expect(sfn.commandCalls(ListExecutionsCommand)).toHaveLength(0);
  });

  it('gives the aborted shards only when none failed on its own (someone stopped a shard)', async () => {
    children(sfn, [{ id: 'c-stopped', status: 'ABORTED', stop: 30, input: childInput('"public"."orders"', 2) }]);
    const found = await failedShards(client(), EXEC);
    expect(found.total).toBe(1);
    expect(found.shards).toEqual([
      { table: '"public"."orders"', shard: 2, shardCount: 8, status: 'ABORTED', error: null, cause: '', childExecutionArn: child('c-stopped') },
    ]);
  });

  it('reads a bare shard task as input, and survives an input it cannot read', async () => {
    children(sfn, [
      { id: 'bare', status: 'FAILED', stop: 1, input: JSON.stringify({ table: '"public"."t"', shard: 1, shardCount: 2 }), failure: FAILURES.pgsip },
      { id: 'garbled', status: 'TIMED_OUT', stop: 2, input: 'not json {' },
    ]);
    const found = await failedShards(client(), EXEC);
    expect(found.shards.map((s) => [s.table, s.shard, s.status])).toEqual([
      ['"public"."t"', 1, 'FAILED'],
      [null, null, 'TIMED_OUT'],
    ]);
  });

  it('lets a denied lookup fail for its caller to decide', async () => {
    sfn.on(ListMapRunsCommand).rejects(awsError('AccessDeniedException', `User: arn:aws:sts::123456789012:assumed-role/x/y is not authorized to perform: states:ListMapRuns on resource: ${EXEC}`));
    await expect(failedShards(client(), EXEC)).rejects.toThrow(/not authorized to perform: states:ListMapRuns/);
  });
});

describe('causeLine', () => {
  it('takes the message of a Lambda error without its request id, or the first line of anything else', () => {
    expect(causeLine(FAILURES.pgsip.cause)).toBe('table "public"."orders" shard 3: connection lost (ECONNRESET): read ECONNRESET');
    expect(causeLine(FAILURES.timeout.cause)).toBe('Task timed out after 900.00 seconds');
    expect(causeLine(FAILURES.oom.cause)).toBe('Runtime exited with error: signal: killed');
    // The older timeout message: time and request id first.
    expect(causeLine(JSON.stringify({ errorMessage: '2020-11-10T05:46:57.874Z 160788cd-45ff-4583-809f-c7e31127cb95 Task timed out after 3.07 seconds' }))).toBe(
      'Task timed out after 3.07 seconds',
    );
    expect(causeLine('\n  first line\nsecond line')).toBe('first line');
    expect(causeLine(JSON.stringify({ errorType: 'Error' }))).toBe('{"errorType":"Error"}');
    expect(causeLine(undefined)).toBe('');
    expect(causeLine('x'.repeat(50), 10)).toBe(`${'x'.repeat(9)}…`);
  });
});
