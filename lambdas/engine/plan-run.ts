/**
 * Plan: resolve every table, map every column, split each table into shards, and record the plan beside the
 * output: each table's `_plan.json`, then the run's table list (`_runs/<id>/_run.json`, for Commit) and shard
 * list (`_runs/<id>/_shards.json`, which the Distributed Map reads itself). A re-run with the same run id
 * reuses the recorded plans, so its shards line up with what already finished.
 */
import {
  COMPRESSIONS,
  INFINITY_POLICIES,
  type InfinityPolicy,
  TABLE_FORMATS,
  type TableFormat,
  TYPE_PROFILES,
  type TypeProfile,
  type ExecutionInput,
  type HeldSnapshotDocument,
  type ExportOptions,
  type PlanEvent,
  type PlanResult,
  type RunHorizon,
  type RunPlan,
  type ShardTask,
  type TablePlan,
  type ColumnPlan,
  type IncrementalPlan,
} from './contracts';
import type pg from 'pg';
import { type CatalogTable, describeTable } from './postgres/catalog';
import { cursorFilter } from './incremental/cursor';
import { readHorizon } from './incremental/horizon';
import { chainShape, planIncremental, specsByTable } from './incremental/watermark';
import { parseTableName, quoteTable } from './postgres/table-name';
import type { EngineEnvironment } from './environment';
import { InputError, InternalError } from './errors';
import { cannotWrite } from './destinations/cannot-write';
import { explainPlanFailure } from './plan-failure';
import { faultPoint } from './run/fault-points';
import { beginReadOnly, checkSnapshotId } from './postgres/snapshot';
import { DEFAULT_SWEEP_AFTER_HOURS } from './run/sweep';
import { beginOnHeldSnapshot, heldSnapshotExecution, heldSnapshotWait } from './run/held-snapshot';
import { planKey, runDirOf, runIdOf, runPlanKey, shardListKey } from './run/layout';
import { DOCUMENT_VERSION, readDocument, serializeDocument } from './run/documents';
import { planSplit, shardCountFor } from './postgres/shard-planner';
import { resumePageSplit } from './run/page-split';
import { mapColumn } from './columns/map-column';
import { planIcebergTable } from './iceberg/plan-iceberg-table';
import { checkTableSelection, resolveTables } from './selection/table-patterns';
import { ColumnRules, selectionOf } from './selection/column-rules';
import { hashKeyFor } from './selection/hash-key';

/** Shards at once when neither the run nor the deployment says. */
export const DEFAULT_CONCURRENCY = 4;

export const DEFAULT_OPTIONS: ExportOptions = {
  compression: 'SNAPPY',
  rowGroupBytes: 16 * 1024 * 1024,
  partBytes: 1024 * 1024 * 1024,
  statementTimeoutMs: 14 * 60 * 1000,
  lockTimeoutMs: 10 * 1000,
  sweepAfterHours: DEFAULT_SWEEP_AFTER_HOURS,
  types: 'portable',
  infinity: 'error',
  keepRuns: null,
  retentionGraceMinutes: 60,
  tableFormat: 'hive',
  maxDeleteShare: 0.1,
  compactAtDeleteFiles: null,
};

/** ±infinity by default: loud where engines would misread DuckDB's INT64 extremes, kept where they do not. */
const DEFAULT_INFINITY: Record<TypeProfile, InfinityPolicy> = { portable: 'error', native: 'keep' };

/**
 * Shards in one run. The list travels in a file (ItemReader), not in the state, so Step Functions' 256 KB
 * state limit does not bound it; 10,000 is the Distributed Map's cap on concurrent children, and each shard
 * is its own child execution.
 */
export const MAX_SHARDS_PER_RUN = 10_000;

export async function planRun(event: PlanEvent, env: EngineEnvironment): Promise<PlanResult> {
  const input = { ...env.runDefaults, ...checkInput(event.input) };
  const runId = runIdOf(input, event.executionName);
  const options = checkOptions(input, env.defaultCompression ?? DEFAULT_OPTIONS.compression);
  const concurrency = checkConcurrency(input, env.connectionBudget);
  const columnRules = ColumnRules.fromInput(input);
  const client = await env.connect(`pgsip plan ${runId}`);
  const plans: TablePlan[] = [];
  // The table being read, for a lock or statement timeout to name (plan-failure.ts).
  let reading: string | null = null;
  // The execution's own snapshot (hold-snapshot.ts), or the caller's (`snapshot`), or none: one per shard.
  const heldBy = heldSnapshotExecution(input, event.executionName);
  // The moment every shard reads, when they read one: the caller's id, or the one the first holder exported.
  let snapshot = input.snapshot;
  try {
    const held = heldBy ? await beginOnHeldSnapshot(client, env.destination, heldBy, heldSnapshotWait(env)) : null;
    const horizon = await incrementalHorizon(client, input, env, held);
    if (!held) await beginReadOnly(client, input.snapshot);
    snapshot ??= held?.origin;
    // As in Export: never wait on a table for ever, nor queue behind DDL and block every session after us.
    await client.query(`SET LOCAL statement_timeout = ${Math.trunc(options.statementTimeoutMs)}`);
    await client.query(`SET LOCAL lock_timeout = ${Math.trunc(options.lockTimeoutMs)}`);
    // Cursor bounds are written and read back as text: one spelling for every session that parses them.
    await client.query(`SET LOCAL DateStyle = 'ISO, YMD'`);
    await client.query(`SET LOCAL TimeZone = 'UTC'`);
    const tables: { requested: string; table: CatalogTable }[] = [];
    const seen = new Set<string>();
    for (const requested of await resolveTables(client, input.tables, input.excludeTables)) {
      reading = quoteTable(parseTableName(requested));
      const table = await describeTable(client, requested);
      if (seen.has(table.quoted)) throw new InputError(`table ${table.quoted} is listed twice`);
      seen.add(table.quoted);
      tables.push({ requested, table });
    }
    const canonical = (name: string) => {
      const parsed = parseTableName(name);
      return tables.find((t) => t.requested === name || (t.table.name === parsed.name && (parsed.schema === null || t.table.schema === parsed.schema)))?.table.quoted;
    };
    const specs = specsByTable(input, canonical);
    const partitionBy = partitionByTable(input, canonical, options.tableFormat);
    for (const { table } of tables) {
      reading = table.quoted;
      const selected = columnRules.select(table);
      const mappings = selected.columns.map((c) => mapColumn(c, options));
      // An Iceberg table's columns carry the table's field ids (lambdas/engine/iceberg/plan-iceberg-table.ts).
      const icebergTable = options.tableFormat === 'iceberg' ? await planIcebergTable(table, mappings, env, partitionBy.get(table.quoted), input.full === true) : null;
      const columns = icebergTable?.columns ?? mappings.map((m) => m.plan);
      if (icebergTable && icebergTable.iceberg.changes.length > 0) env.log.info('Iceberg schema evolves', { table: table.quoted, changes: icebergTable.iceberg.changes });
      const spec = specs.get(table.quoted);
      const droppedKey = table.primaryKey.find((k) => selected.excluded.includes(k.name));
      if (spec && droppedKey) {
        throw new InputError(`table ${table.quoted}: its primary key column "${droppedKey.name}" is excluded, but incremental runs are deduplicated on it`);
      }
      const incremental = spec
        ? await planIncremental(table, spec, {
            client,
            destination: env.destination,
            openSince: horizon?.openSince ?? null,
            before: horizon?.before[spec.key] ?? null,
            full: input.full === true,
            shape: chainShape(columns),
            types: options.types,
            columnsEvolve: options.tableFormat === 'iceberg',
          })
        : undefined;
      if (incremental?.deletes) checkKeysetDeletes(table.quoted, incremental, columns, options);
      const filter = cursorFilter(incremental);
      const asked = await shardsFor(client, input.shards ?? 'auto', table, filter);
      const { splitKey, split, ranges, reason } = await planSplit(client, table, asked, { filter, ...(snapshot ? { snapshot } : {}) });
      const runDir = runDirOf(table.schema, table.name, runId);
      if (incremental) env.log.info('incremental', { table: table.quoted, mode: incremental.mode, from: incremental.from, reason: incremental.reason });
      if (reason) env.log.warn('fewer shards than asked', { table: table.quoted, asked, shards: ranges.length, reason });
      plans.push({
        version: DOCUMENT_VERSION,
        runId,
        table: table.quoted,
        schema: table.schema,
        name: table.name,
        runDir,
        columns,
        splitKey,
        split,
        ...(reason ? { splitReason: reason } : {}),
        shards: ranges.map((range, shard) => ({ runId, table: table.quoted, runDir, shard, shardCount: ranges.length, range })),
        options,
        plannedAt: new Date().toISOString(),
        estimatedRows: table.estimatedRows,
        ...(incremental ? { incremental } : {}),
        ...(selected.excluded.length > 0 ? { excluded: selected.excluded } : {}),
        ...(icebergTable ? { iceberg: icebergTable.iceberg } : {}),
      });
    }
    columnRules.checkAllMatched();
    await client.query('COMMIT');
  } catch (error) {
    throw await explainPlanFailure(error, client, { table: reading, ...options });
  } finally {
    await client.end().catch(() => {});
  }

  const total = plans.reduce((n, p) => n + p.shards.length, 0);
  if (total > MAX_SHARDS_PER_RUN) {
    throw new InputError(`${total} shards in one run is more than ${MAX_SHARDS_PER_RUN}: ask for fewer shards or split the tables over runs`);
  }

  // A run that hashes columns needs its key: refused here, before anything is written, not shard by shard.
  await hashKeyFor(plans, env);
  const recorded: TablePlan[] = [];
  for (const plan of plans) recorded.push(await recordPlan(plan, env, snapshot));
  const shards: ShardTask[] = recorded.flatMap((p) => p.shards);
  await recordRun(
    {
      version: DOCUMENT_VERSION,
      runId,
      ...(input.schedule ? { schedule: input.schedule } : {}),
      tables: recorded.map((p) => ({ table: p.table, runDir: p.runDir, shardCount: p.shards.length })),
      shardCount: shards.length,
      plannedAt: new Date().toISOString(),
    },
    env,
  );
  // Written every time from the recorded plans, so a resumed run lists the same shards again.
  await env.destination.put(shardListKey(runId), serializeDocument(shards));
  faultPoint('after-plan');
  env.log.info('planned', { runId, concurrency, tables: recorded.map((p) => ({ table: p.table, shards: p.shards.length })) });
  return {
    runId,
    tableCount: recorded.length,
    shardCount: shards.length,
    items: env.destination.address(shardListKey(runId)),
    concurrency,
    // The snapshot belongs to this execution, not to the recorded plan: a resumed run brings a new one.
    snapshot: snapshot ?? null,
    heldSnapshot: heldBy,
  };
}

/**
 * The horizon of a run with incremental tables (lambdas/engine/incremental/horizon.ts): what the snapshot's
 * holder read (the execution's first holder, for the same input; or the caller's, passed as `horizon`), or
 * read here before Plan takes its own snapshot. Without incremental tables, nothing.
 */
async function incrementalHorizon(client: pg.Client, input: ExecutionInput, env: EngineEnvironment, held: HeldSnapshotDocument | null): Promise<RunHorizon | null> {
  const named = Object.keys(input.incremental ?? {});
  if (named.length === 0) return null;
  if (held) return held.horizon;
  if (input.snapshot) {
    if (input.horizon) return input.horizon;
    env.log.warn('the run imports a snapshot read without its horizon: the next incremental run of these tables will be full', { tables: named });
    return { openSince: null, before: {} };
  }
  const tables = named.map((key) => ({ key, quoted: quoteTable(parseTableName(key)), cursor: input.incremental![key].cursor }));
  return readHorizon(client, tables, env.tuning?.horizonSettleMs, input.lockTimeoutMs);
}

/** `auto` sizes an incremental run from the rows it reads, not from the whole table. */
async function shardsFor(client: pg.Client, requested: number | 'auto', table: CatalogTable, filter: string | null): Promise<number> {
  if (requested !== 'auto' || filter === null) return shardCountFor(requested, table);
  const read = await client.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${table.quoted} WHERE ${filter}`);
  const share = Math.min(1, Number(read.rows[0].n) / Math.max(1, table.estimatedRows));
  return shardCountFor('auto', { ...table, heapBytes: table.heapBytes * share });
}

/** `_runs/<id>/_run.json`, create-only: a run id names one set of tables. */
async function recordRun(run: RunPlan, env: EngineEnvironment): Promise<void> {
  const key = runPlanKey(run.runId);
  if (await env.destination.putIfAbsent(key, serializeDocument(run))) return;
  const existing = await readDocument(env.destination, 'run', key);
  const names = (r: RunPlan) => r.tables.map((t) => t.table).join(', ');
  if (!existing || names(existing) !== names(run)) {
    throw new InputError(`run ${run.runId} was planned for other tables (${existing ? names(existing) : '?'}); start a new run id`);
  }
}

/** Writes `_plan.json` unless this run id already has one; then the earlier plan wins, if it still fits. */
async function recordPlan(plan: TablePlan, env: EngineEnvironment, snapshot: string | undefined): Promise<TablePlan> {
  const key = planKey(plan.runDir);
  let created: boolean;
  try {
    created = await env.destination.putIfAbsent(key, serializeDocument(plan));
  } catch (error) {
    // The first write of a run: a destination that cannot be written fails here, before any shard runs.
    throw cannotWrite(env.destination, error);
  }
  if (created) return plan;
  const existing = await readDocument(env.destination, 'plan', key);
  if (!existing) throw new InternalError(`${env.destination.location(key)} exists but cannot be read back`);
  // Asked for other excluded or hashed columns than the recorded plan: said as such, not as a changed table.
  if (JSON.stringify(selectionOf(existing)) !== JSON.stringify(selectionOf(plan))) {
    throw new InputError(`run ${plan.runId} of ${plan.table} was planned with other excluded or hashed columns; resume it with the same ones, or start a new run id`);
  }
  const shape = (p: TablePlan) => JSON.stringify(p.columns.map((c) => [c.name, c.pgType, c.parquetType]));
  if (shape(existing) !== shape(plan)) {
    throw new InputError(
      `run ${plan.runId} of ${plan.table} was planned with other columns; the table changed since, so start a new run id`,
    );
  }
  await resumePageSplit(existing, snapshot, env.destination, env.log);
  env.log.info('reusing the recorded plan', { runId: plan.runId, table: plan.table });
  return existing;
}

/** `partitionBy` by canonical table name; every name must be one of the run's tables, and the tables Iceberg tables. */
function partitionByTable(input: ExecutionInput, canonical: (requested: string) => string | undefined, tableFormat: TableFormat): Map<string, string> {
  const out = new Map<string, string>();
  for (const [name, spec] of Object.entries(input.partitionBy ?? {})) {
    if (tableFormat !== 'iceberg') throw new InputError(`"partitionBy" applies to Iceberg tables (tableFormat iceberg); ${name}'s runs are folders`);
    const table = canonical(name);
    if (table === undefined) throw new InputError(`"partitionBy" names ${name}, which is not among the run's tables`);
    if (out.has(table)) throw new InputError(`"partitionBy" names ${table} twice`);
    out.set(table, spec);
  }
  return out;
}

function checkInput(input: ExecutionInput | undefined): ExecutionInput {
  if (!input || typeof input !== 'object') throw new InputError('the execution input must be an object with "tables"');
  if (!Array.isArray(input.tables) || input.tables.length === 0 || input.tables.some((t) => typeof t !== 'string')) {
    throw new InputError('"tables" must be a non-empty list of table names');
  }
  if (input.snapshot !== undefined) checkSnapshotId(input.snapshot);
  checkTableSelection(input);
  if (input.incremental !== undefined && (typeof input.incremental !== 'object' || input.incremental === null || Array.isArray(input.incremental))) {
    throw new InputError('"incremental" must be an object: { "schema.table": { "cursor": "column", "lookbackSeconds": 600 } }');
  }
  if (input.full !== undefined && typeof input.full !== 'boolean') throw new InputError('"full" must be true or false');
  if (
    input.partitionBy !== undefined &&
    (typeof input.partitionBy !== 'object' || input.partitionBy === null || Array.isArray(input.partitionBy) || Object.values(input.partitionBy).some((s) => typeof s !== 'string'))
  ) {
    throw new InputError('"partitionBy" must be an object: { "schema.table": "day(created_at), identity(region)" }');
  }
  if (input.schedule !== undefined && (typeof input.schedule !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(input.schedule))) {
    throw new InputError(`"schedule" must be a schedule name (letters, digits, - and _), got ${JSON.stringify(input.schedule)}`);
  }
  const shards = input.shards ?? 'auto';
  if (shards !== 'auto' && !(Number.isInteger(shards) && shards >= 1 && shards <= MAX_SHARDS_PER_RUN)) {
    throw new InputError(`"shards" must be "auto" or a whole number from 1 to ${MAX_SHARDS_PER_RUN}`);
  }
  return input;
}

/** The run's concurrency: what it asks for, at most the deployment's connection budget (its default). */
function checkConcurrency(input: ExecutionInput, budget: number | undefined): number {
  const asked = input.concurrency ?? budget ?? DEFAULT_CONCURRENCY;
  if (!Number.isInteger(asked) || asked < 1) throw new InputError(`"concurrency" must be a whole number of at least 1 (got ${JSON.stringify(asked)})`);
  if (budget !== undefined && asked > budget) {
    throw new InputError(`"concurrency" ${asked} is more than the connection budget of this deployment (${budget})`);
  }
  return asked;
}

function checkOptions(input: ExecutionInput, defaultCompression: ExportOptions['compression']): ExportOptions {
  const compression = input.compression ?? defaultCompression;
  if (!COMPRESSIONS.includes(compression)) {
    throw new InputError(`"compression" must be one of ${COMPRESSIONS.join(', ')} (got ${JSON.stringify(compression)})`);
  }
  const size = (name: 'rowGroupBytes' | 'partBytes' | 'statementTimeoutMs' | 'lockTimeoutMs' | 'sweepAfterHours' | 'retentionGraceMinutes', min: number) => {
    const value = input[name] ?? DEFAULT_OPTIONS[name];
    if (!Number.isInteger(value) || value < min) throw new InputError(`"${name}" must be a whole number of at least ${min}`);
    return value;
  };
  const types = input.types ?? DEFAULT_OPTIONS.types;
  if (!TYPE_PROFILES.includes(types)) throw new InputError(`"types" must be one of ${TYPE_PROFILES.join(', ')} (got ${JSON.stringify(types)})`);
  const infinity = input.infinity ?? DEFAULT_INFINITY[types];
  if (!INFINITY_POLICIES.includes(infinity)) throw new InputError(`"infinity" must be one of ${INFINITY_POLICIES.join(', ')} (got ${JSON.stringify(infinity)})`);
  const tableFormat = input.tableFormat ?? DEFAULT_OPTIONS.tableFormat;
  if (!TABLE_FORMATS.includes(tableFormat)) throw new InputError(`"tableFormat" must be one of ${TABLE_FORMATS.join(', ')} (got ${JSON.stringify(tableFormat)})`);
  // Iceberg tables are read by engines that take only the portable types (docs/iceberg.md, "Types").
  if (tableFormat === 'iceberg' && types !== 'portable') {
    throw new InputError('"types" must be portable for Iceberg tables: the native profile\'s uuid and time columns are not read by Athena or Spark (use tableFormat hive for native types)');
  }
  const maxDeleteShare = input.maxDeleteShare ?? DEFAULT_OPTIONS.maxDeleteShare;
  if (typeof maxDeleteShare !== 'number' || !(maxDeleteShare >= 0 && maxDeleteShare <= 1)) {
    throw new InputError(`"maxDeleteShare" must be a share of the table from 0 to 1, like 0.1 (got ${JSON.stringify(input.maxDeleteShare)})`);
  }
  const compactAtDeleteFiles = input.compactAtDeleteFiles ?? null;
  if (compactAtDeleteFiles !== null && !(Number.isInteger(compactAtDeleteFiles) && compactAtDeleteFiles >= 1)) {
    throw new InputError(`"compactAtDeleteFiles" must be a whole number of at least 1 (got ${JSON.stringify(input.compactAtDeleteFiles)})`);
  }
  if (compactAtDeleteFiles !== null && tableFormat !== 'iceberg') {
    throw new InputError('"compactAtDeleteFiles" compacts Iceberg tables: set tableFormat iceberg (a folder of runs has no delete files)');
  }
  const keepRuns = input.keepRuns ?? null;
  if (keepRuns !== null && !(Number.isInteger(keepRuns) && keepRuns >= 1)) throw new InputError(`"keepRuns" must be a whole number of at least 1 (got ${JSON.stringify(keepRuns)})`);
  return {
    compression,
    rowGroupBytes: size('rowGroupBytes', 1024),
    partBytes: size('partBytes', 1024),
    statementTimeoutMs: size('statementTimeoutMs', 1000),
    lockTimeoutMs: size('lockTimeoutMs', 100),
    sweepAfterHours: size('sweepAfterHours', 1),
    types,
    infinity,
    keepRuns,
    retentionGraceMinutes: size('retentionGraceMinutes', 0),
    tableFormat,
    maxDeleteShare,
    compactAtDeleteFiles,
  };
}

/**
 * What `deletes: "keyset"` needs (docs/iceberg.md, "Deletes"): an Iceberg table (a folder of runs cannot take a
 * delete), a primary key, and key columns written as read (not hashed) whose values compare by their text
 * (integers and strings: the shard's key file holds Postgres's text of each key, the table its Parquet value).
 */
function checkKeysetDeletes(table: string, incremental: IncrementalPlan, columns: ColumnPlan[], options: ExportOptions): void {
  const refuse = (why: string): never => {
    throw new InputError(`table ${table}: deletes "keyset" ${why}`);
  };
  if (options.tableFormat !== 'iceberg') refuse('removes rows from an Iceberg table: set tableFormat iceberg (a folder of runs keeps every row it was given)');
  if (incremental.primaryKey.length === 0) refuse('needs a primary key: the keys that are gone are found by it');
  for (const name of incremental.primaryKey) {
    const column = columns.find((c) => c.name === name);
    if (!column || column.hashed) refuse(`needs the primary key column "${name}" as it is read (not excluded, not hashed)`);
    if (!/^(smallint|integer|bigint|text|uuid|character varying(\(\d+\))?)$/.test(column!.pgType)) {
      refuse(`compares keys by their text: the primary key column "${name}" is ${column!.pgType}; integer, text, varchar and uuid keys are built`);
    }
  }
}
