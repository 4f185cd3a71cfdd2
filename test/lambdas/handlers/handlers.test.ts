/**
 * The Lambda entry points around the engine: execution/run/table/shard keys on every log line, metrics per
 * table from the engine's results, failures counted and re-thrown unchanged. The engine is not run here
 * (the engine and local-runner tests do that); a stand-in environment fails at the first touch.
 */
import { Metrics } from '@aws-lambda-powertools/metrics';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createCommitLambdaHandler } from '../../../lambdas/commit/handler';
import type { ShardTask } from '../../../lambdas/engine/contracts';
import * as commitRun from '../../../lambdas/engine/commit-run';
import type { EngineEnvironment } from '../../../lambdas/engine/environment';
import * as exportShard from '../../../lambdas/engine/export-shard';
import { ShardRetryableError } from '../../../lambdas/engine/errors';
import * as planRun from '../../../lambdas/engine/plan-run';
import { shardTaskOf } from '../../../lambdas/engine/export-shard';
import { createExportLambdaHandler } from '../../../lambdas/export/handler';
import { createPlanLambdaHandler } from '../../../lambdas/plan/handler';

vi.mock('../../../lambdas/engine/export-shard', async (original) => ({ ...(await original<object>()), exportShard: vi.fn() }));
vi.mock('../../../lambdas/engine/commit-run', () => ({ commitRun: vi.fn() }));
vi.mock('../../../lambdas/engine/plan-run', () => ({ planRun: vi.fn() }));

const environment = () => ({}) as EngineEnvironment;

function recorders() {
  const calls: unknown[][] = [];
  let keys: Record<string, unknown> = {};
  const lines: Record<string, unknown>[] = [];
  const log: any = {
    addContext: vi.fn(),
    appendKeys: (k: Record<string, unknown>) => void (keys = { ...keys, ...k }),
    removeKeys: (names: string[]) => void (keys = Object.fromEntries(Object.entries(keys).filter(([n]) => !names.includes(n)))),
    info: (message: string, fields?: object) => void lines.push({ level: 'INFO', message, ...keys, ...fields }),
    warn: (message: string, fields?: object) => void lines.push({ level: 'WARN', message, ...keys, ...fields }),
    error: (message: string, fields?: object) => void lines.push({ level: 'ERROR', message, ...keys, ...fields }),
  };
  const metrics: any = {
    addDimension: (...a: unknown[]) => void calls.push(['dimension', ...a]),
    addMetric: (...a: unknown[]) => void calls.push(['metric', ...a]),
    addMetadata: (...a: unknown[]) => void calls.push(['metadata', ...a]),
    publishStoredMetrics: () => void calls.push(['publish']),
  };
  return { log, metrics, calls, lines, keys: () => keys };
}

const task: ShardTask = { runId: 'r1', table: '"public"."orders"', runDir: 'public/orders/run=r1', shard: 3, shardCount: 8, range: { lo: '10', hi: '20' } };
const executionId = 'arn:aws:states:eu-west-1:123456789012:execution:Pgsip:r1';

afterEach(() => vi.clearAllMocks());

describe('Export handler', () => {
  it('accepts the ItemSelector shape and a bare shard task', () => {
    expect(shardTaskOf({ task, executionId })).toBe(task);
    expect(shardTaskOf(task)).toBe(task);
  });

  it('logs with execution, run, table and shard, and emits rows, bytes, seconds and rows/s for the table', async () => {
    vi.mocked(exportShard.exportShard).mockImplementation(async (t, env) => {
      env.log?.info?.('inside', {});
      return { table: t.table, shard: t.shard, rows: 1000, bytes: 4096, parts: 1, seconds: 4 };
    });
    const r = recorders();
    const handler = createExportLambdaHandler(() => ({ log: r.log }) as unknown as EngineEnvironment, r.log, r.metrics);
    const result = await handler({ task, executionId }, { awsRequestId: 'req-1' } as never);
    expect(result.rows).toBe(1000);
    expect(vi.mocked(exportShard.exportShard).mock.calls[0][0]).toBe(task);
    expect(r.log.addContext).toHaveBeenCalledWith({ awsRequestId: 'req-1' });
    for (const line of r.lines) {
      expect(line).toMatchObject({ executionId, runId: 'r1', table: '"public"."orders"', shard: 3 });
    }
    expect(r.lines.map((l) => l.message)).toEqual(['inside', 'shard exported']);
    expect(r.calls).toEqual([
      ['dimension', 'table', '"public"."orders"'],
      ['metadata', 'shard', '3'],
      ['metadata', 'runId', 'r1'],
      ['metric', 'ShardRows', 'Count', 1000],
      ['metric', 'ShardBytes', 'Bytes', 4096],
      ['metric', 'ShardSeconds', 'Seconds', 4],
      ['metric', 'ShardRowsPerSecond', 'Count/Second', 250],
      ['publish'],
    ]);
    expect(r.keys()).toEqual({}); // keys do not leak into the next invocation
  });

  it('counts a failure for the table, logs it, and re-throws the same error (Step Functions retries by name)', async () => {
    const error = new ShardRetryableError('connection reset while reading "public"."orders" shard 3');
    vi.mocked(exportShard.exportShard).mockRejectedValue(error);
    const r = recorders();
    const handler = createExportLambdaHandler(environment, r.log, r.metrics);
    await expect(handler(task)).rejects.toBe(error);
    expect(r.calls).toEqual([
      ['dimension', 'table', '"public"."orders"'],
      ['metadata', 'shard', '3'],
      ['metric', 'ShardFailures', 'Count', 1],
      ['publish'],
    ]);
    expect(r.lines).toEqual([
      expect.objectContaining({ level: 'ERROR', errorName: 'ShardRetryableError', runId: 'r1', shard: 3, table: '"public"."orders"' }),
    ]);
  });
});

describe('Plan and Commit handlers', () => {
  it('Plan logs with the execution id and counts failures', async () => {
    vi.mocked(planRun.planRun).mockResolvedValueOnce({ runId: 'r1', tables: [], shards: [] }).mockRejectedValueOnce(new Error('table "public"."nope" does not exist'));
    const r = recorders();
    const handler = createPlanLambdaHandler(environment, r.log, r.metrics);
    await handler({ input: { tables: ['public.orders'] }, executionName: 'r1', executionId });
    expect(r.lines[0]).toMatchObject({ message: 'planned', executionId, executionName: 'r1' });
    await expect(handler({ input: { tables: ['public.nope'] }, executionName: 'r1' })).rejects.toThrow(/does not exist/);
    expect(r.calls).toContainEqual(['metric', 'PlanFailures', 'Count', 1]);
  });

  it('Commit emits TableCommitted (freshness), rows and bytes per table', async () => {
    vi.mocked(commitRun.commitRun).mockResolvedValue({
      runId: 'r1',
      tables: [
        { table: '"public"."orders"', manifest: 'm1', rows: 10, bytes: 100, parts: 1 },
        { table: '"public"."customers"', manifest: 'm2', rows: 2, bytes: 20, parts: 1 },
      ],
    });
    const r = recorders();
    const handler = createCommitLambdaHandler(environment, r.log, r.metrics);
    await handler({ runId: 'r1', tables: [], executionId });
    expect(r.calls).toEqual([
      ['dimension', 'table', '"public"."orders"'],
      ['metric', 'TableCommitted', 'Count', 1],
      ['metric', 'CommittedRows', 'Count', 10],
      ['metric', 'CommittedBytes', 'Bytes', 100],
      ['publish'],
      ['dimension', 'table', '"public"."customers"'],
      ['metric', 'TableCommitted', 'Count', 1],
      ['metric', 'CommittedRows', 'Count', 2],
      ['metric', 'CommittedBytes', 'Bytes', 20],
      ['publish'],
      ['publish'],
    ]);
    expect(r.lines.every((l) => l.executionId === executionId && l.runId === 'r1')).toBe(true);
  });

  it('writes real Powertools EMF records: namespace pgsip, dimensions service and table, shard as a property', async () => {
    vi.mocked(exportShard.exportShard).mockResolvedValue({ table: '"public"."orders"', shard: 3, rows: 10, bytes: 50, parts: 1, seconds: 2 });
    const written: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: unknown) => (written.push(String(chunk)), true));
    try {
      const metrics = new Metrics({ namespace: 'pgsip', serviceName: 'Pgsip' });
      const r = recorders();
      await createExportLambdaHandler(environment, r.log, metrics)(task);
    } finally {
      spy.mockRestore();
    }
    const emf = written.map((w) => { try { return JSON.parse(w); } catch { return undefined; } }).find((j) => j?._aws);
    expect(emf._aws.CloudWatchMetrics[0].Namespace).toBe('pgsip');
    expect(emf._aws.CloudWatchMetrics[0].Dimensions).toEqual([['service', 'table']]);
    expect(emf).toMatchObject({ service: 'Pgsip', table: '"public"."orders"', shard: '3', ShardRows: 10, ShardRowsPerSecond: 5 });
  });
});
