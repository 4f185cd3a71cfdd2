/**
 * The Lambda entry points around the engine, run for real: a real Postgres, a real folder destination, the
 * environment built from variables exactly as in Lambda (`createLambdaEnvironment`, `createRunEnvironment`).
 * What is checked is what the handlers add: execution/run/table/shard keys on every log line (and no line
 * twice), metrics per table from the engine's results, failures counted and re-thrown under their own name.
 * The deployed bundles are run as Lambda runs them in test/bin/bundled-pipeline.test.ts.
 */
import { Metrics } from '@aws-lambda-powertools/metrics';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type RunningPostgres, startEmbeddedPostgres } from '../../../bin/local/embedded-postgres';
import { createCommitLambdaHandler } from '../../../lambdas/commit/handler';
import type { ExecutionInput, PlanResult, ShardTask } from '../../../lambdas/engine/contracts';
import { shardTaskOf } from '../../../lambdas/engine/export-shard';
import { readShardList } from '../../../lambdas/engine/run/documents';
import { createExportLambdaHandler } from '../../../lambdas/export/handler';
import { createHolderLambdaHandler } from '../../../lambdas/holder/handler';
import { createPlanLambdaHandler } from '../../../lambdas/plan/handler';
import { createLambdaEnvironment } from '../../../lambdas/shared/lambda-environment';
import { createRunEnvironment } from '../../../lambdas/shared/run-environment';

let postgres: RunningPostgres;
let work: string;
const executionId = 'arn:aws:states:eu-west-1:123456789012:execution:Pgsip:r1';

/** A log and a metrics sink that record what the handlers send them (the shapes of Powertools' objects). */
function recorders() {
  const calls: unknown[][] = [];
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
  let stored = 0;
  const metrics = {
    addDimension: (...a: unknown[]) => void calls.push(['dimension', ...a]),
    addMetric: (...a: unknown[]) => void (calls.push(['metric', ...a]), stored++),
    addMetadata: (...a: unknown[]) => void calls.push(['metadata', ...a]),
    publishStoredMetrics: () => void (calls.push(['publish']), (stored = 0)),
    hasStoredMetrics: () => stored > 0,
  };
  return { log, metrics, calls, lines, keys: () => keys };
}

type Recorders = ReturnType<typeof recorders>;

/** The variables Lambda would have; DATABASE_URL instead of a secret (lambda-environment.ts allows it). */
const variables = () => ({ PGSIP_DEST: work, DATABASE_URL: postgres.url });
const handlers = (r: Recorders) => ({
  plan: createPlanLambdaHandler(() => createLambdaEnvironment({ env: variables(), logger: r.log as never }), r.log as never, r.metrics as never),
  export: createExportLambdaHandler(() => createLambdaEnvironment({ env: variables(), logger: r.log as never }), r.log as never, r.metrics as never),
  commit: createCommitLambdaHandler(() => createRunEnvironment(variables(), r.log as never), r.log as never, r.metrics as never),
  holder: createHolderLambdaHandler(() => createLambdaEnvironment({ env: variables(), logger: r.log as never }), r.log as never, r.metrics as never),
});

/** Plan as the state machine runs it: beside the first snapshot holder, which is released once Plan is done. */
async function planned(runId: string, extra: Partial<ExecutionInput> = {}): Promise<{ plan: PlanResult; tasks: ShardTask[] }> {
  const r = recorders();
  const input = { tables: ['public.orders'], shards: 2, runId, ...extra };
  const holding = handlers(r).holder({ action: 'hold', generation: 0, input, executionName: runId, executionId });
  try {
    const plan = await handlers(r).plan({ input, executionName: runId, executionId });
    return { plan, tasks: await readShardList(createRunEnvironment(variables()).destination, plan.items) };
  } finally {
    await handlers(r).holder({ action: 'release', executionName: runId });
    await holding;
  }
}

beforeAll(async () => {
  postgres = await startEmbeddedPostgres();
  work = await mkdtemp(join(tmpdir(), 'pgsip-handlers-'));
  const client = new pg.Client(postgres.url);
  await client.connect();
  await client.query(`CREATE TABLE public.orders (id bigint PRIMARY KEY, note text); INSERT INTO public.orders SELECT g, 'n' || g FROM generate_series(1, 1000) g;
                      CREATE TABLE public.doomed (id bigint PRIMARY KEY); INSERT INTO public.doomed VALUES (1);`);
  await client.end();
});
afterAll(async () => {
  await postgres?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('Export handler', () => {
  const task: ShardTask = { runId: 'r1', table: '"public"."orders"', runDir: 'public/orders/run=r1', shard: 3, shardCount: 8, range: { lo: '10', hi: '20' } };

  it('accepts the ItemSelector shape (adding the run snapshot) and a bare shard task', () => {
    expect(shardTaskOf({ task, executionId, snapshot: null })).toBe(task);
    expect(shardTaskOf({ task, executionId, snapshot: '00000003-0000001B-1' })).toEqual({ ...task, snapshot: '00000003-0000001B-1' });
    expect(shardTaskOf(task)).toBe(task);
    // A snapshot the execution's holders hold: the shard imports the current holder's, and records the first's.
    expect(shardTaskOf({ task, executionId, snapshot: '00000003-0000001B-1', heldSnapshot: 'exec-1' })).toEqual({ ...task, snapshot: '00000003-0000001B-1', heldSnapshot: 'exec-1' });
  });

  it('logs with execution, run, table and shard, once per line, and emits rows, bytes, seconds and rows/s for the table', async () => {
    const { tasks } = await planned('logs');
    const r = recorders();
    const result = await handlers(r).export({ task: tasks[0], executionId, snapshot: null }, { awsRequestId: 'req-1' } as never);
    expect(result.rows).toBeGreaterThan(0);
    expect(r.log.addContext).toHaveBeenCalledWith({ awsRequestId: 'req-1' });
    for (const line of r.lines) expect(line).toMatchObject({ executionId, runId: 'logs', table: '"public"."orders"', shard: 0 });
    expect(r.lines.map((l) => l.message)).toEqual(['shard exported']);
    expect(r.calls).toEqual([
      ['dimension', 'table', '"public"."orders"'],
      ['metadata', 'shard', '0'],
      ['metadata', 'runId', 'logs'],
      ['metric', 'ShardRows', 'Count', result.rows],
      ['metric', 'ShardBytes', 'Bytes', result.bytes],
      ['metric', 'ShardSeconds', 'Seconds', result.seconds],
      ['metric', 'ShardRowsPerSecond', 'Count/Second', result.rows / result.seconds],
      ['publish'],
    ]);
    expect(r.keys()).toEqual({}); // keys do not leak into the next invocation
  });

  it('counts a failure for the table, logs it, and re-throws it under its own name (Step Functions retries by name)', async () => {
    const r = recorders();
    const plan = await handlers(r).plan({ input: { tables: ['public.doomed'], shards: 1, runId: 'doomed', holdSnapshot: false }, executionName: 'doomed' });
    const [doomed] = await readShardList(createRunEnvironment(variables()).destination, plan.items);
    const client = new pg.Client(postgres.url);
    await client.connect();
    await client.query('ALTER TABLE public.doomed ADD COLUMN late int');
    await client.end();
    const failing = recorders();
    const error = await handlers(failing).export({ task: doomed, executionId, snapshot: null }).then(
      () => null,
      (e: unknown) => e as Error,
    );
    expect(error?.name).toBe('SchemaChangedError');
    expect(failing.calls).toEqual([
      ['dimension', 'table', '"public"."doomed"'],
      ['metadata', 'shard', '0'],
      ['metric', 'ShardFailures', 'Count', 1],
      ['publish'],
    ]);
    expect(failing.lines).toEqual([
      expect.objectContaining({ level: 'ERROR', errorName: 'SchemaChangedError', runId: 'doomed', shard: 0, executionId }),
    ]);
  });

  it('writes real Powertools EMF records: namespace pgsip, dimensions service and table, shard as a property', async () => {
    const { tasks } = await planned('emf');
    const written: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: unknown) => (written.push(String(chunk)), true));
    let rows = 0;
    try {
      const metrics = new Metrics({ namespace: 'pgsip', serviceName: 'Pgsip' });
      const r = recorders();
      const handler = createExportLambdaHandler(() => createLambdaEnvironment({ env: variables(), logger: r.log as never }), r.log as never, metrics);
      rows = (await handler(tasks[1])).rows;
    } finally {
      spy.mockRestore();
    }
    const emf = written.map((w) => { try { return JSON.parse(w); } catch { return undefined; } }).find((j) => j?._aws);
    expect(emf._aws.CloudWatchMetrics[0].Namespace).toBe('pgsip');
    expect(emf._aws.CloudWatchMetrics[0].Dimensions).toEqual([['service', 'table']]);
    expect(emf).toMatchObject({ service: 'Pgsip', table: '"public"."orders"', shard: '1', ShardRows: rows });
  });
});

describe('Holder handler', () => {
  it('holds the snapshot Plan imports, logs with execution and generation, lets go on release, and counts failures', async () => {
    const r = recorders();
    const input = { tables: ['public.orders'], shards: 2, runId: 'held' };
    const holding = handlers(r).holder({ action: 'hold', generation: 0, input, executionName: 'held-exec', executionId });
    const plan = await handlers(recorders()).plan({ input, executionName: 'held-exec', executionId });
    expect(plan.heldSnapshot).toBe('held-exec');
    expect(plan.snapshot).toMatch(/^[0-9A-F]+-[0-9A-F]+-\d+$/);
    const client = new pg.Client(postgres.url);
    await client.connect();
    const sessions = await client.query(`SELECT application_name, state FROM pg_stat_activity WHERE application_name LIKE 'pgsip held holder%'`);
    await client.end();
    expect(sessions.rows).toEqual([{ application_name: 'pgsip held holder 0', state: 'idle in transaction' }]);
    await expect(handlers(r).holder({ action: 'release', executionName: 'held-exec' })).resolves.toEqual({ released: true });
    await expect(holding).resolves.toEqual({ action: 'hold', done: true, generation: 0 });
    expect(r.lines.find((l) => l.message === 'holding the run snapshot')).toMatchObject({ executionId, executionName: 'held-exec', runId: 'held', generation: 0, origin: plan.snapshot });
    expect(r.keys()).toEqual({});
    const failing = recorders();
    await expect(handlers(failing).holder({ action: 'hold', generation: -1, input, executionName: 'bad' })).rejects.toThrow(/generation must be a whole number/);
    expect(failing.calls).toEqual([['metric', 'HolderFailures', 'Count', 1], ['publish']]);
  });
});

describe('Plan and Commit handlers', () => {
  it('Plan logs with the execution id (its one line comes from the engine) and counts failures', async () => {
    const r = recorders();
    const handler = handlers(r).plan;
    await handler({ input: { tables: ['public.orders'], shards: 1, runId: 'p1', holdSnapshot: false }, executionName: 'p1', executionId });
    expect(r.lines.map((l) => l.message)).toEqual(['planned']);
    expect(r.lines[0]).toMatchObject({ executionId, executionName: 'p1', runId: 'p1' });
    await expect(handler({ input: { tables: ['public.nope'], holdSnapshot: false }, executionName: 'p2' })).rejects.toThrow(/table "public.nope" does not exist/);
    expect(r.calls).toContainEqual(['metric', 'PlanFailures', 'Count', 1]);
  });

  it('Commit emits TableCommitted, rows and bytes per table, one log line each, and answers counts only', async () => {
    const { tasks } = await planned('c1');
    const r = recorders();
    for (const t of tasks) await handlers(r).export(t);
    const committing = recorders();
    const result = await handlers(committing).commit({ runId: 'c1', executionId });
    // Counts, not a list that grows with the tables (the execution's output is capped at 256 KiB).
    expect(result).toEqual({ runId: 'c1', tables: 1, rows: 1000, bytes: expect.any(Number), parts: expect.any(Number) });
    expect(committing.calls).toEqual([
      ['dimension', 'table', '"public"."orders"'],
      ['metric', 'TableCommitted', 'Count', 1],
      ['metric', 'CommittedRows', 'Count', 1000],
      ['metric', 'CommittedBytes', 'Bytes', result.bytes],
      ['publish'],
    ]);
    expect(committing.lines.map((l) => l.message)).toEqual(['committed']);
    expect(committing.lines[0]).toMatchObject({ executionId, runId: 'c1', table: '"public"."orders"', rows: 1000 });
  });

  it('Commit of a run a schedule started emits ScheduleCommitted for that schedule (its freshness alarm), once, after the tables', async () => {
    const { tasks } = await planned('c2', { schedule: 'nightly' });
    for (const t of tasks) await handlers(recorders()).export(t);
    const committing = recorders();
    const result = await handlers(committing).commit({ runId: 'c2', executionId });
    expect(committing.calls.slice(5)).toEqual([['dimension', 'schedule', 'nightly'], ['metric', 'ScheduleCommitted', 'Count', 1], ['publish']]);
    expect(result.tables).toBe(1);
    // A Plan refuses a schedule name that is not one.
    await expect(handlers(recorders()).plan({ input: { tables: ['public.orders'], schedule: 'a b' }, executionName: 'c3' })).rejects.toThrow(
      '"schedule" must be a schedule name (letters, digits, - and _), got "a b"',
    );
  });
});
