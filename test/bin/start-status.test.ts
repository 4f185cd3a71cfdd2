/**
 * `pgsip start` and `pgsip status` against a mocked Step Functions API (control plane only), plus the real
 * CLI for the one-line error contract.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import {
  DescribeExecutionCommand,
  DescribeMapRunCommand,
  ListExecutionsCommand,
  ListMapRunsCommand,
  SFNClient,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { executionInput, runStart } from '../../bin/commands/start';
import { runStatus } from '../../bin/commands/status';
import { awsError, child, childInput, children, FAILURES, MAP_RUN as FAILED_MAP_RUN, listed } from '../support/sfn-map-runs';

const SM = 'arn:aws:states:eu-west-1:123456789012:stateMachine:PgsipExportStateMachine';
const EXEC = 'arn:aws:states:eu-west-1:123456789012:execution:PgsipExportStateMachine:20261121T230000Z-abc123';
const MAP_RUN = 'arn:aws:states:eu-west-1:123456789012:mapRun:PgsipExportStateMachine/20261121T230000Z-abc123:ExportShards';
const sfn = mockClient(SFNClient);
const t0 = new Date('2026-11-21T23:00:00Z');

function io() {
  const out: string[] = [];
  const err: string[] = [];
  let slept = 0;
  return {
    out,
    err,
    slept: () => slept,
    deps: {
      client: new SFNClient({ region: 'eu-west-1' }),
      out: (l: string) => void out.push(l),
      err: (l: string) => void err.push(l),
      sleep: async () => void slept++,
      newName: () => '20261121T230000Z-abc123',
    },
  };
}

const running = { name: '20261121T230000Z-abc123', status: 'RUNNING' as const, startDate: t0, executionArn: EXEC, stateMachineArn: SM };
const counts = (succeeded: number, runningN: number, pending: number, failed = 0) => ({
  itemCounts: { total: 8, succeeded, running: runningN, pending, failed, timedOut: 0, aborted: 0, resultsWritten: 0 },
});

describe('pgsip start', () => {
  beforeEach(() => sfn.reset());

  it('builds the documented execution input', () => {
    expect(executionInput({ stateMachine: SM, tables: 'public.orders, public."Weird Table"' })).toEqual({
      tables: ['public.orders', 'public."Weird Table"'],
      shards: 'auto',
    });
    expect(executionInput({ stateMachine: SM, tables: 'a.b', shards: '4', runId: 'nightly-1', compression: 'zstd' })).toEqual({
      tables: ['a.b'],
      shards: 4,
      runId: 'nightly-1',
      compression: 'ZSTD',
    });
    // The deployed state machine holds one snapshot for the run unless --no-snapshot says otherwise.
    expect(executionInput({ stateMachine: SM, tables: 'a.b', snapshot: true })).toEqual({ tables: ['a.b'], shards: 'auto' });
    expect(executionInput({ stateMachine: SM, tables: 'a.b', snapshot: false })).toEqual({ tables: ['a.b'], shards: 'auto', holdSnapshot: false });
  });

  it('starts an execution named after the run and follows it with shard progress until it succeeds', async () => {
    sfn.on(StartExecutionCommand).resolves({ executionArn: EXEC, startDate: t0 });
    sfn
      .on(DescribeExecutionCommand)
      .resolvesOnce(running)
      .resolvesOnce(running)
      .resolvesOnce(running)
      .resolves({
        ...running,
        status: 'SUCCEEDED',
        stopDate: new Date(t0.getTime() + 95_000),
        output: JSON.stringify({ runId: '20261121T230000Z-abc123', tables: [{ table: '"public"."orders"', rows: 1000, bytes: 9, parts: 2, manifest: 's3://b/exports/public/orders/run=x/_manifest.json' }] }),
      });
    sfn.on(ListMapRunsCommand).resolvesOnce({ mapRuns: [] }).resolves({ mapRuns: [{ mapRunArn: MAP_RUN, executionArn: EXEC, stateMachineArn: SM, startDate: t0 }] });
    sfn.on(DescribeMapRunCommand).resolvesOnce(counts(2, 2, 4)).resolves(counts(6, 2, 0));
    const t = io();
    const result = await runStart({ stateMachine: SM, tables: 'public.orders', shards: 'auto', interval: '1' }, t.deps);
    expect(result).toEqual({ executionArn: EXEC, status: 'SUCCEEDED' });
    const start = sfn.commandCalls(StartExecutionCommand)[0].args[0].input;
    expect(start).toEqual({ stateMachineArn: SM, name: '20261121T230000Z-abc123', input: JSON.stringify({ tables: ['public.orders'], shards: 'auto' }) });
    expect(t.err[0]).toBe(`started ${EXEC}`);
    expect(t.err.slice(1).map((l) => l.replace(/ \d+ s/, ' N s'))).toEqual([
      '20261121T230000Z-abc123 RUNNING N s',
      '20261121T230000Z-abc123 RUNNING N s: 2/8 shards succeeded, 2 running, 4 pending',
      '20261121T230000Z-abc123 RUNNING N s: 6/8 shards succeeded, 2 running',
      '20261121T230000Z-abc123 SUCCEEDED N s',
    ]);
    expect(t.err.at(-1)).toBe('20261121T230000Z-abc123 SUCCEEDED 95 s');
    expect(t.slept()).toBe(3);
    expect(t.out).toEqual(['run 20261121T230000Z-abc123: 1 table(s), 1000 rows\n  "public"."orders": 1000 rows, 2 part(s) -> s3://b/exports/public/orders/run=x/_manifest.json']);
  });

  it('resumes a run id under a fresh execution name (names cannot be reused), the run id in the input', async () => {
    sfn.on(StartExecutionCommand).resolves({ executionArn: EXEC, startDate: t0 });
    const t = io();
    await runStart({ stateMachine: SM, tables: 'public.orders', runId: 'nightly-1', wait: false }, t.deps);
    const start = sfn.commandCalls(StartExecutionCommand)[0].args[0].input;
    expect(start.name).toMatch(/^nightly-1-[0-9a-f]{6}$/);
    expect(JSON.parse(start.input!)).toEqual({ tables: ['public.orders'], shards: 'auto', runId: 'nightly-1' });
    expect(t.out).toEqual([EXEC]);
    expect(sfn.commandCalls(DescribeExecutionCommand)).toHaveLength(0);
  });

  it('fails with one line carrying the error and the Lambda error message when the execution fails', async () => {
    sfn.on(StartExecutionCommand).resolves({ executionArn: EXEC, startDate: t0 });
    sfn.on(DescribeExecutionCommand).resolves({
      ...running,
      status: 'FAILED',
      stopDate: t0,
      error: 'InputError',
      cause: JSON.stringify({ errorType: 'InputError', errorMessage: 'table "public"."nope" does not exist', trace: ['a', 'b'] }),
    });
    const t = io();
    await expect(runStart({ stateMachine: SM, tables: 'public.nope' }, t.deps)).rejects.toThrow(
      /^execution 20261121T230000Z-abc123 FAILED: InputError: table "public"\."nope" does not exist$/,
    );
  });

  it('lists each failed shard with its own error before failing, when a shard failed the run', async () => {
    sfn.on(StartExecutionCommand).resolves({ executionArn: EXEC, startDate: t0 });
    sfn.on(DescribeExecutionCommand, { executionArn: EXEC }).resolves({
      ...running,
      status: 'FAILED',
      stopDate: t0,
      error: 'ShardRetryableError',
      cause: `table "public"."orders" shard 3: connection lost (ECONNRESET): read ECONNRESET (2 shards failed; pgsip status --execution ${EXEC} lists them)`,
    });
    children(sfn, [
      { id: 'c-pgsip', status: 'FAILED', stop: 120, input: childInput('"public"."orders"', 3), failure: FAILURES.pgsip },
      { id: 'c-timeout', status: 'FAILED', stop: 901, input: childInput('"public"."orders"', 1), failure: FAILURES.timeout },
    ]);
    const t = io();
    await expect(runStart({ stateMachine: SM, tables: 'public.orders' }, t.deps)).rejects.toThrow(/^execution 20261121T230000Z-abc123 FAILED: ShardRetryableError: table "public"\."orders" shard 3/);
    expect(t.err.slice(-2)).toEqual([
      '  table "public"."orders" shard 3: ShardRetryableError: connection lost (ECONNRESET): read ECONNRESET',
      '  table "public"."orders" shard 1: Sandbox.Timedout: Task timed out after 900.00 seconds',
    ]);
  });

  it('refuses a bad ARN or table list before calling AWS', async () => {
    const t = io();
    await expect(runStart({ stateMachine: 'PgsipStateMachine', tables: 'a.b' }, t.deps)).rejects.toThrow(/--state-machine must be a Step Functions state machine ARN/);
    await expect(runStart({ stateMachine: EXEC, tables: 'a.b' }, t.deps)).rejects.toThrow(/--state-machine must be/);
    await expect(runStart({ stateMachine: SM, tables: 'x;drop' }, t.deps)).rejects.toThrow(/bad table name/);
    await expect(runStart({ stateMachine: SM, tables: 'a.b', shards: '0' }, t.deps)).rejects.toThrow(/--shards/);
    expect(sfn.calls()).toHaveLength(0);
  });
});

describe('pgsip status', () => {
  beforeEach(() => sfn.reset());

  it('shows one running execution with its shard progress', async () => {
    sfn.on(DescribeExecutionCommand).resolves(running);
    sfn.on(ListMapRunsCommand).resolves({ mapRuns: [{ mapRunArn: MAP_RUN, executionArn: EXEC, stateMachineArn: SM, startDate: t0 }] });
    sfn.on(DescribeMapRunCommand).resolves(counts(5, 2, 0, 1));
    const t = io();
    await runStatus({ execution: EXEC }, t.deps);
    expect(t.out.map((l) => l.replace(/ \d+ s/, ' N s'))).toEqual(['20261121T230000Z-abc123 RUNNING N s: 5/8 shards succeeded, 2 running, 1 failed']);
  });

  it('--follow polls until the execution ends and fails on TIMED_OUT with one line', async () => {
    sfn.on(DescribeExecutionCommand).resolvesOnce(running).resolves({ ...running, status: 'TIMED_OUT', stopDate: t0 });
    sfn.on(ListMapRunsCommand).resolves({ mapRuns: [] });
    const t = io();
    await expect(runStatus({ execution: EXEC, follow: true }, t.deps)).rejects.toThrow(/^execution 20261121T230000Z-abc123 TIMED_OUT$/);
    expect(t.slept()).toBe(1);
  });

  it('lists the recent executions of a state machine', async () => {
    sfn.on(ListExecutionsCommand, { stateMachineArn: SM, maxResults: 10 }).resolves({
      executions: [{ ...running, status: 'SUCCEEDED' }],
    });
    const t = io();
    await runStatus({ stateMachine: SM }, t.deps);
    expect(t.out).toEqual([`2026-11-21T23:00:00.000Z SUCCEEDED 20261121T230000Z-abc123 ${EXEC}`]);
  });

  it('after a failed execution’s line, lists each failed shard with its own error, then fails with the execution’s error', async () => {
    sfn.on(DescribeExecutionCommand, { executionArn: EXEC }).resolves({
      ...running,
      status: 'FAILED',
      stopDate: new Date(t0.getTime() + 902_000),
      // As DescribeFailure leaves it (lambdas/engine/run-failure.ts).
      error: 'ShardRetryableError',
      cause: `table "public"."orders" shard 3: connection lost (ECONNRESET): read ECONNRESET (3 shards failed; pgsip status --execution ${EXEC} lists them)`,
    });
    children(sfn, [
      { id: 'c-oom', status: 'FAILED', stop: 300, input: childInput('"public"."orders"', 5), failure: FAILURES.oom },
      { id: 'c-pgsip', status: 'FAILED', stop: 120, input: childInput('"public"."orders"', 3), failure: FAILURES.pgsip },
      { id: 'c-timeout', status: 'FAILED', stop: 901, input: childInput('"sales"."Weird Table"', 0, 2), failure: FAILURES.timeout },
      { id: 'c-stopped-1', status: 'ABORTED', stop: 302, input: childInput('"public"."orders"', 6) },
      { id: 'c-stopped-2', status: 'ABORTED', stop: 302, input: childInput('"public"."orders"', 7) },
    ]);
    const t = io();
    await expect(runStatus({ execution: EXEC }, t.deps)).rejects.toThrow(
      /^execution 20261121T230000Z-abc123 FAILED: ShardRetryableError: table "public"\."orders" shard 3: connection lost \(ECONNRESET\): read ECONNRESET \(3 shards failed; /,
    );
    expect(t.out).toEqual([
      '20261121T230000Z-abc123 FAILED 902 s',
      '  table "public"."orders" shard 3: ShardRetryableError: connection lost (ECONNRESET): read ECONNRESET',
      '  table "public"."orders" shard 5: Runtime.OutOfMemory: Runtime exited with error: signal: killed',
      '  table "sales"."Weird Table" shard 0: Sandbox.Timedout: Task timed out after 900.00 seconds',
      '  2 other shard(s) stopped unfinished when the run failed',
    ]);
  });

  it('lists at most 20 failed shards across pages of children, then how many more', async () => {
    sfn.on(DescribeExecutionCommand).callsFake(({ executionArn }: { executionArn: string }) => {
      if (executionArn === EXEC) return { ...running, status: 'FAILED', stopDate: t0, error: 'States.ExceedToleratedFailureThreshold', cause: 'The specified tolerated failure threshold was exceeded' };
      const n = Number(executionArn.slice(executionArn.lastIndexOf('-') + 1));
      return { executionArn, status: 'FAILED', input: childInput('"public"."orders"', n, 32), error: FAILURES.pgsip.error, cause: FAILURES.pgsip.cause.replaceAll('shard 3', `shard ${n}`) };
    });
    sfn.on(ListMapRunsCommand).resolves({ mapRuns: [{ mapRunArn: FAILED_MAP_RUN, executionArn: EXEC, stateMachineArn: SM, startDate: t0 }] });
    sfn.on(ListExecutionsCommand).resolves({ executions: [] });
    // 25 shards failed one second apart; listed newest first, 15 on the first page and 10 on the next.
    const all = Array.from({ length: 25 }, (_, n) => listed(`c-${n}`, 'FAILED', n)).reverse();
    sfn.on(ListExecutionsCommand, { mapRunArn: FAILED_MAP_RUN, statusFilter: 'FAILED', nextToken: undefined }).resolves({ executions: all.slice(0, 15), nextToken: 'p2' });
    sfn.on(ListExecutionsCommand, { mapRunArn: FAILED_MAP_RUN, statusFilter: 'FAILED', nextToken: 'p2' }).resolves({ executions: all.slice(15) });
    const t = io();
    await expect(runStatus({ execution: EXEC }, t.deps)).rejects.toThrow(/^execution 20261121T230000Z-abc123 FAILED: States\.ExceedToleratedFailureThreshold: The specified tolerated failure threshold was exceeded$/);
    expect(t.out).toHaveLength(1 + 20 + 1);
    expect(t.out[1]).toBe('  table "public"."orders" shard 0: ShardRetryableError: connection lost (ECONNRESET): read ECONNRESET');
    expect(t.out[20]).toBe('  table "public"."orders" shard 19: ShardRetryableError: connection lost (ECONNRESET): read ECONNRESET');
    expect(t.out[21]).toBe('  and 5 more');
    const described = sfn.commandCalls(DescribeExecutionCommand).map((c) => c.args[0].input.executionArn);
    expect(described.filter((a) => a !== EXEC)).toEqual(Array.from({ length: 20 }, (_, n) => child(`c-${n}`)));
  });

  it('says so when the failed shards cannot be listed, and still fails with the execution’s error', async () => {
    sfn.on(DescribeExecutionCommand).resolves({ ...running, status: 'FAILED', stopDate: t0, error: 'States.ExceedToleratedFailureThreshold', cause: 'The specified tolerated failure threshold was exceeded' });
    sfn.on(ListMapRunsCommand).rejects(awsError('AccessDeniedException', `User: arn:aws:iam::123456789012:user/ops is not authorized to perform: states:ListMapRuns on resource: ${EXEC}`));
    const t = io();
    await expect(runStatus({ execution: EXEC }, t.deps)).rejects.toThrow(/^execution 20261121T230000Z-abc123 FAILED: States\.ExceedToleratedFailureThreshold/);
    expect(t.out.slice(1)).toEqual([`  (failed shards could not be listed: AccessDeniedException: User: arn:aws:iam::123456789012:user/ops is not authorized to perform: states:ListMapRuns on resource: ${EXEC})`]);
  });

  it('summarizes a succeeded run from Commit’s counts, and from the per-table list of earlier stacks', async () => {
    const succeeded = (output: unknown) => ({ ...running, status: 'SUCCEEDED' as const, stopDate: t0, output: JSON.stringify(output) });
    sfn.on(DescribeExecutionCommand).resolvesOnce(
      succeeded({ runId: 'nightly-1', tables: 3, rows: 1234567, bytes: 98_765_432, parts: 12, runManifest: 's3://b/exports/_runs/nightly-1.json', catalog: { created: 2, unchanged: 1 } }),
    ).resolvesOnce(succeeded({ runId: 'nightly-1', tables: 1, rows: 0, bytes: 0, parts: 0 }))
      .resolves(
        succeeded({
          runId: 'nightly-0',
          tables: [
            { table: '"public"."orders"', rows: 1000, bytes: 9, parts: 2, manifest: 's3://b/exports/public/orders/run=nightly-0/_manifest.json' },
            { table: '"public"."items"', rows: 5, bytes: 1, parts: 1, manifest: 's3://b/exports/public/items/run=nightly-0/_manifest.json' },
          ],
        }),
      );
    const t = io();
    await runStatus({ execution: EXEC }, t.deps);
    await runStatus({ execution: EXEC }, t.deps);
    await runStatus({ execution: EXEC }, t.deps);
    expect(t.out.filter((_, i) => i % 2 === 1)).toEqual([
      'run nightly-1: 3 table(s), 1234567 rows, 12 part(s), 98.8 MB\n  catalog: 2 created, 1 unchanged\n  run manifest: s3://b/exports/_runs/nightly-1.json',
      'run nightly-1: 1 table(s), 0 rows, 0 part(s), 0 B',
      'run nightly-0: 2 table(s), 1005 rows\n  "public"."orders": 1000 rows, 2 part(s) -> s3://b/exports/public/orders/run=nightly-0/_manifest.json\n  "public"."items": 5 rows, 1 part(s) -> s3://b/exports/public/items/run=nightly-0/_manifest.json',
    ]);
  });

  it('needs exactly one of --execution and --state-machine', async () => {
    const t = io();
    await expect(runStatus({}, t.deps)).rejects.toThrow(/pass --execution ARN/);
    await expect(runStatus({ execution: EXEC, stateMachine: SM }, t.deps)).rejects.toThrow(/not both/);
  });
});

describe('pgsip start/status on the command line', () => {
  const CLI = fileURLToPath(new URL('../../bin/pgsip.js', import.meta.url));
  const pgsip = (args: string[]) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
      execFile(process.execPath, [CLI, ...args], { timeout: 60_000 }, (error, stdout, stderr) =>
        resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      ),
    );

  it('reports a bad state machine ARN as one pgsip line, exit 1, without calling AWS', { timeout: 60_000 }, async () => {
    const r = await pgsip(['start', '--state-machine', 'nope', '--tables', 'public.orders']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe('pgsip: --state-machine must be a Step Functions state machine ARN (arn:aws:states:<region>:<account>:stateMachine:...), got "nope"');
    const s = await pgsip(['status']);
    expect(s.code).toBe(1);
    expect(s.stderr.trim()).toBe('pgsip: pass --execution ARN (one execution) or --state-machine ARN (recent executions)');
  });
});
