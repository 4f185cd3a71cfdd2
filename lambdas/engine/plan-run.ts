/**
 * Plan: resolve every table, map every column, split each table into shards, and record the plan beside the
 * output. A re-run with the same run id reuses the recorded plan, so its shards line up with what already
 * finished.
 */
import { COMPRESSIONS, type ExecutionInput, type ExportOptions, type PlanEvent, type PlanResult, type TablePlan } from './contracts';
import { describeTable } from './postgres/catalog';
import type { EngineEnvironment } from './environment';
import { InputError, InternalError } from './errors';
import { faultPoint } from './run/fault-points';
import { beginReadOnly, checkSnapshotId } from './postgres/snapshot';
import { DEFAULT_SWEEP_AFTER_HOURS } from './run/sweep';
import { checkRunId, newRunId, planKey, runDirOf } from './run/layout';
import { DOCUMENT_VERSION, readDocument, serializeDocument } from './run/documents';
import { planRanges, shardCountFor, splitKeyOf } from './postgres/shard-planner';
import { mapColumn } from './columns/map-column';

export const DEFAULT_OPTIONS: ExportOptions = {
  compression: 'SNAPPY',
  rowGroupBytes: 16 * 1024 * 1024,
  partBytes: 1024 * 1024 * 1024,
  statementTimeoutMs: 14 * 60 * 1000,
  lockTimeoutMs: 10 * 1000,
  sweepAfterHours: DEFAULT_SWEEP_AFTER_HOURS,
};

/** Step Functions caps a state at 256 KB; a shard task is ~250 bytes, so keep well below. */
export const MAX_SHARDS_PER_RUN = 800;

export async function planRun(event: PlanEvent, env: EngineEnvironment): Promise<PlanResult> {
  const input = checkInput(event.input);
  const runId = checkRunId(input.runId ?? (event.executionName ? sanitize(event.executionName) : newRunId()));
  const options = checkOptions(input);
  const client = await env.connect(`pgsip plan ${runId}`);
  const plans: TablePlan[] = [];
  try {
    await beginReadOnly(client, input.snapshot);
    const seen = new Set<string>();
    for (const requested of input.tables) {
      const table = await describeTable(client, requested);
      if (seen.has(table.quoted)) throw new InputError(`table ${table.quoted} is listed twice`);
      seen.add(table.quoted);
      const columns = table.columns.map((c) => mapColumn(c).plan);
      const splitKey = splitKeyOf(table);
      const ranges = await planRanges(client, table, splitKey, shardCountFor(input.shards ?? 'auto', table));
      const runDir = runDirOf(table.schema, table.name, runId);
      plans.push({
        version: DOCUMENT_VERSION,
        runId,
        table: table.quoted,
        schema: table.schema,
        name: table.name,
        runDir,
        columns,
        splitKey,
        shards: ranges.map((range, shard) => ({ runId, table: table.quoted, runDir, shard, shardCount: ranges.length, range })),
        options,
        plannedAt: new Date().toISOString(),
        estimatedRows: table.estimatedRows,
      });
    }
    await client.query('COMMIT');
  } finally {
    await client.end().catch(() => {});
  }

  const total = plans.reduce((n, p) => n + p.shards.length, 0);
  if (total > MAX_SHARDS_PER_RUN) {
    throw new InputError(`${total} shards in one run is more than ${MAX_SHARDS_PER_RUN}: ask for fewer shards or split the tables over runs`);
  }

  const recorded: TablePlan[] = [];
  for (const plan of plans) recorded.push(await recordPlan(plan, env));
  faultPoint('after-plan');
  env.log.info('planned', { runId, tables: recorded.map((p) => ({ table: p.table, shards: p.shards.length })) });
  return {
    runId,
    tables: recorded.map((p) => ({ table: p.table, runDir: p.runDir, shardCount: p.shards.length })),
    // The snapshot belongs to this execution, not to the recorded plan: a resumed run brings a new one.
    shards: recorded.flatMap((p) => p.shards.map((task) => (input.snapshot ? { ...task, snapshot: input.snapshot } : task))),
  };
}

/** Writes `_plan.json` unless this run id already has one; then the earlier plan wins, if it still fits. */
async function recordPlan(plan: TablePlan, env: EngineEnvironment): Promise<TablePlan> {
  const key = planKey(plan.runDir);
  let created: boolean;
  try {
    created = await env.destination.putIfAbsent(key, serializeDocument(plan));
  } catch (error) {
    // The first write of a run: a destination that cannot be written fails here, before any shard runs.
    const e = error as { code?: string; name?: string; message?: string };
    throw new InputError(`cannot write to ${env.destination.root}: ${e.code ?? e.name ?? 'error'}: ${(e.message ?? '').split('\n')[0]}`, { cause: error });
  }
  if (created) return plan;
  const existing = await readDocument(env.destination, 'plan', key);
  if (!existing) throw new InternalError(`${env.destination.location(key)} exists but cannot be read back`);
  const shape = (p: TablePlan) => JSON.stringify(p.columns.map((c) => [c.name, c.pgType, c.parquetType]));
  if (shape(existing) !== shape(plan)) {
    throw new InputError(
      `run ${plan.runId} of ${plan.table} was planned with other columns; the table changed since, so start a new run id`,
    );
  }
  env.log.info('reusing the recorded plan', { runId: plan.runId, table: plan.table });
  return existing;
}

function checkInput(input: ExecutionInput | undefined): ExecutionInput {
  if (!input || typeof input !== 'object') throw new InputError('the execution input must be an object with "tables"');
  if (!Array.isArray(input.tables) || input.tables.length === 0 || input.tables.some((t) => typeof t !== 'string')) {
    throw new InputError('"tables" must be a non-empty list of table names');
  }
  if (input.snapshot !== undefined) checkSnapshotId(input.snapshot);
  const shards = input.shards ?? 'auto';
  if (shards !== 'auto' && !(Number.isInteger(shards) && shards >= 1 && shards <= MAX_SHARDS_PER_RUN)) {
    throw new InputError(`"shards" must be "auto" or a whole number from 1 to ${MAX_SHARDS_PER_RUN}`);
  }
  return input;
}

function checkOptions(input: ExecutionInput): ExportOptions {
  const compression = input.compression ?? DEFAULT_OPTIONS.compression;
  if (!COMPRESSIONS.includes(compression)) {
    throw new InputError(`"compression" must be one of ${COMPRESSIONS.join(', ')} (got ${JSON.stringify(compression)})`);
  }
  const size = (name: Exclude<keyof ExportOptions, 'compression'>, min: number) => {
    const value = input[name] ?? DEFAULT_OPTIONS[name];
    if (!Number.isInteger(value) || value < min) throw new InputError(`"${name}" must be a whole number of at least ${min}`);
    return value;
  };
  return {
    compression,
    rowGroupBytes: size('rowGroupBytes', 1024),
    partBytes: size('partBytes', 1024),
    statementTimeoutMs: size('statementTimeoutMs', 1000),
    lockTimeoutMs: size('lockTimeoutMs', 100),
    sweepAfterHours: size('sweepAfterHours', 1),
  };
}

function sanitize(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 80);
}
