/**
 * `pgsip run`: export tables from any reachable Postgres to a folder or S3, through the local state machine.
 */
import { randomBytes } from 'node:crypto';
import type { CommitResult, ExecutionInput } from '../../lambdas/engine/contracts';
import { connect, targetFromUrl } from '../../lambdas/engine/postgres/connection';
import { guardConnect } from '../../lambdas/engine/postgres/connection-guard';
import type { Destination } from '../../lambdas/engine/destinations/destination';
import { openDestination } from '../../lambdas/engine/destinations/open-destination';
import { silentLog } from '../../lambdas/engine/environment';
import { InputError } from '../../lambdas/engine/errors';
import { checkRunId, newRunId } from '../../lambdas/engine/run/layout';
import { parseTableName, splitTableList } from '../../lambdas/engine/postgres/table-name';
import { snapshotHolderSeconds } from '../../lambdas/engine/hold-snapshot';
import { checkTableSelection } from '../../lambdas/engine/selection/table-patterns';
import { hashKeyOption, selectionInput } from '../local/selection-options';
import { runLocally } from '../local/local-runner';
import { formatBytes, formatCount, progressReporter } from '../local/progress';

export interface RunOptions extends SharedRunOptions {
  databaseUrl: string;
  tables: string;
  dest: string;
  shards: string;
  concurrency: string;
  runId?: string;
  s3Endpoint?: string;
  compression: string;
  /** Row group size in MiB of column data held before encoding (the run's `rowGroupBytes`). */
  rowGroupSize?: string;
  /** Part size in MiB (the run's `partBytes`). */
  partSize?: string;
  /** Seconds to wait for the database to answer a connection. */
  connectTimeout?: string;
  quiet?: boolean;
  /** Register committed tables in this Glue database. */
  glueDatabase?: string;
  /** Keep Iceberg tables in this Amazon S3 Tables table bucket (its ARN). */
  tableBucket?: string;
  /** The hash key's file (else `PGSIP_HASH_KEY`). */
  hashKeyFile?: string;
}

/** The run options `pgsip run` and `pgsip start` share (`runOptions` in bin/cli.ts). */
export interface SharedRunOptions {
  /** `iceberg` or `hive` (the run's `tableFormat`). */
  tableFormat?: string;
  types?: string;
  infinity?: string;
  keepRuns?: string;
  retentionGrace?: string;
  /** `COLUMN` for every table, or `TABLE=COLUMN,…`. */
  incremental?: string;
  /** `--partition-by`, once per table (or once for every table of the run). */
  partitionBy?: string[];
  /** Re-read this much before the watermark (`10m`, `600s`), for date and timestamp cursors. */
  lookback?: string;
  /** Read incremental tables whole this time. */
  full?: boolean;
  /** `keyset`: incremental runs also remove the rows deleted at the source (every incremental table). */
  deletes?: string;
  /** The largest share of a table one run may delete (`maxDeleteShare`), 0 to 1. */
  maxDeleteShare?: string;
  /** Compact each Iceberg table after committing once it holds this many delete files (`compactAtDeleteFiles`). */
  compactAt?: string;
  /** Comma-separated lists, Postgres quoting (bin/local/selection-options.ts). */
  excludeTables?: string;
  excludeColumns?: string;
  hashColumns?: string;
  /** false: each shard reads its own snapshot instead of one held for the whole run (`--no-snapshot`). */
  snapshot?: boolean;
}

/** The run options `pgsip run` and `pgsip start` share, as execution input. */
export function sharedRunInput(
  options: SharedRunOptions,
  tables: readonly string[] = [],
): Partial<ExecutionInput> {
  const input: Partial<ExecutionInput> = { ...selectionInput(options) };
  if (options.incremental !== undefined) input.incremental = parseIncremental(options.incremental, tables, options.lookback);
  else if (options.lookback !== undefined) throw new InputError('--lookback needs --incremental');
  if (options.deletes !== undefined) {
    if (options.deletes !== 'keyset') throw new InputError(`--deletes must be keyset (got ${JSON.stringify(options.deletes)})`);
    if (!input.incremental) throw new InputError('--deletes keyset needs --incremental: a full run replaces the table, deletes included');
    for (const spec of Object.values(input.incremental)) spec.deletes = 'keyset';
  }
  if (options.maxDeleteShare !== undefined) {
    const share = Number(options.maxDeleteShare);
    if (options.maxDeleteShare.trim() === '' || !(share >= 0 && share <= 1)) throw new InputError(`--max-delete-share must be a share from 0 to 1, like 0.1 (got ${JSON.stringify(options.maxDeleteShare)})`);
    input.maxDeleteShare = share;
  }
  if (options.compactAt !== undefined) input.compactAtDeleteFiles = parsePositive('--compact-at', options.compactAt);
  if (options.full) input.full = true;
  if (options.partitionBy !== undefined && options.partitionBy.length > 0) input.partitionBy = parsePartitionBy(options.partitionBy, tables);
  if (options.tableFormat !== undefined) input.tableFormat = options.tableFormat as ExecutionInput['tableFormat'];
  if (options.types !== undefined) input.types = options.types as ExecutionInput['types'];
  if (options.infinity !== undefined) input.infinity = options.infinity as ExecutionInput['infinity'];
  if (options.keepRuns !== undefined) input.keepRuns = parsePositive('--keep-runs', options.keepRuns);
  if (options.retentionGrace !== undefined) input.retentionGraceMinutes = parseMinutes('--retention-grace', options.retentionGrace);
  // One moment for the whole run unless asked otherwise: the state machine's snapshot holders keep it.
  if (options.snapshot === false) input.holdSnapshot = false;
  return input;
}

/**
 * `--incremental updated_at` (every table of the run) or `--incremental 'public.events=id,public.orders=updated_at'`.
 * Table names keep Postgres quoting; the column is what follows the last `=`.
 */
export function parseIncremental(value: string, tables: readonly string[], lookback: string | undefined): NonNullable<ExecutionInput['incremental']> {
  const lookbackSeconds = lookback === undefined ? undefined : parseSeconds('--lookback', lookback);
  const specs: NonNullable<ExecutionInput['incremental']> = {};
  const entries = splitTableList(value);
  if (entries.length === 0) throw new InputError('--incremental needs a cursor column, or table=column pairs');
  for (const entry of entries) {
    const at = entry.lastIndexOf('=');
    if (at < 0) {
      if (entries.length > 1) throw new InputError(`--incremental ${JSON.stringify(value)}: give one column for every table, or table=column pairs`);
      if (tables.some((t) => t.includes('*'))) throw new InputError(`--incremental ${JSON.stringify(value)}: with table patterns, name each incremental table: --incremental 'public.events=${entry}'`);
      for (const table of tables) specs[table] = { cursor: entry, ...(lookbackSeconds !== undefined ? { lookbackSeconds } : {}) };
      continue;
    }
    const table = entry.slice(0, at).trim();
    const cursor = entry.slice(at + 1).trim();
    parseTableName(table);
    if (cursor === '') throw new InputError(`--incremental ${JSON.stringify(entry)}: no column after "="`);
    specs[table] = { cursor, ...(lookbackSeconds !== undefined ? { lookbackSeconds } : {}) };
  }
  return specs;
}

/**
 * `--partition-by 'day(created_at)'` (every table of the run) or, once per table,
 * `--partition-by 'public.events=day(created_at), identity(region)'`. The table is what comes before the first
 * `=` outside double quotes; the spec is checked against the table's columns when the run is planned.
 */
export function parsePartitionBy(values: readonly string[], tables: readonly string[]): NonNullable<ExecutionInput['partitionBy']> {
  const specs: NonNullable<ExecutionInput['partitionBy']> = {};
  for (const value of values) {
    let at = -1;
    let quoted = false;
    for (let i = 0; i < value.length && at < 0; i++) {
      if (value[i] === '"') quoted = !quoted;
      else if (value[i] === '=' && !quoted) at = i;
    }
    if (at < 0) {
      if (values.length > 1) throw new InputError(`--partition-by ${JSON.stringify(value)}: with several --partition-by, name each one's table: --partition-by 'public.events=${value}'`);
      if (tables.some((t) => t.includes('*'))) throw new InputError(`--partition-by ${JSON.stringify(value)}: with table patterns, name the table: --partition-by 'public.events=${value}'`);
      for (const table of tables) specs[table] = value;
      continue;
    }
    const table = value.slice(0, at).trim();
    const spec = value.slice(at + 1).trim();
    parseTableName(table);
    if (spec === '') throw new InputError(`--partition-by ${JSON.stringify(value)}: no partition spec after "="`);
    if (table in specs) throw new InputError(`--partition-by names ${table} twice`);
    specs[table] = spec;
  }
  return specs;
}

/** `600s`, `10m`, `2h`, `1d`, or seconds as a bare number. */
export function parseSeconds(flag: string, value: string): number {
  const match = /^(\d+)([smhd]?)$/.exec(value.trim());
  if (!match) throw new InputError(`${flag} must be seconds, minutes, hours or days, like 600s, 10m or 1h (got ${JSON.stringify(value)})`);
  return Number(match[1]) * ({ '': 1, s: 1, m: 60, h: 3600, d: 86_400 } as const)[match[2] as '' | 's' | 'm' | 'h' | 'd'];
}

/** `30m`, `1h`, `2d`, or minutes as a bare number. */
export function parseMinutes(flag: string, value: string): number {
  const match = /^(\d+)([mhd]?)$/.exec(value.trim());
  if (!match) throw new InputError(`${flag} must be minutes, hours or days, like 30m, 1h or 2d (got ${JSON.stringify(value)})`);
  return Number(match[1]) * (match[2] === 'h' ? 60 : match[2] === 'd' ? 1440 : 1);
}

export interface RunSummary {
  runId: string;
  seconds: number;
  shards: number;
  commit: CommitResult;
}

const MIB = 1024 * 1024;

export function parseShards(value: string): number | 'auto' {
  if (value === 'auto') return 'auto';
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InputError(`--shards must be "auto" or a whole number of at least 1 (got ${JSON.stringify(value)})`);
  return n;
}

export function parsePositive(flag: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InputError(`${flag} must be a whole number of at least 1 (got ${JSON.stringify(value)})`);
  return n;
}

/** `signal`: aborted (with the signal's name as reason) to stop the run cleanly; see `LocalRunOptions.signal`. */
/** For `pgsip bench` (bin/local/bench/incremental-run.ts): the run's destination seen through a wrapper that counts. */
export interface RunHooks {
  destination?: (destination: Destination) => Destination;
}

export async function runExport(options: RunOptions, log: (line: string) => void = (l) => process.stderr.write(`${l}\n`), signal?: AbortSignal, hooks: RunHooks = {}): Promise<RunSummary> {
  if (!options.databaseUrl) throw new InputError('no database: pass --database-url or set DATABASE_URL');
  const target = targetFromUrl(options.databaseUrl);
  const tables = splitTableList(options.tables ?? '');
  if (tables.length === 0) throw new InputError('no tables: pass --tables schema.table[,schema.table...]');
  // Bad names and patterns fail here, before anything connects to the database.
  checkTableSelection({ tables });
  const input: ExecutionInput = {
    tables,
    shards: parseShards(options.shards),
    runId: checkRunId(options.runId ?? newRunId()),
    compression: options.compression.toUpperCase() as ExecutionInput['compression'],
    ...sharedRunInput(options, tables),
  };
  if (options.rowGroupSize !== undefined) input.rowGroupBytes = parsePositive('--row-group-size', options.rowGroupSize) * MIB;
  if (options.partSize !== undefined) input.partBytes = parsePositive('--part-size', options.partSize) * MIB;
  const concurrency = parsePositive('--concurrency', options.concurrency);
  input.concurrency = concurrency;
  const connectTimeoutMs = parsePositive('--connect-timeout', options.connectTimeout ?? '10') * 1000;
  const keyOption = hashKeyOption(options);
  const opened = openDestination(options.dest, { s3Endpoint: options.s3Endpoint });
  const destination = hooks.destination?.(opened) ?? opened;
  if (options.glueDatabase !== undefined && !options.dest.startsWith('s3://')) {
    throw new InputError(`--glue-database needs an s3:// destination: Glue tables point at S3, not at ${destination.root}`);
  }
  if (options.tableBucket !== undefined) {
    if (input.tableFormat !== 'iceberg') throw new InputError('--table-bucket holds Iceberg tables: add --table-format iceberg');
    if (options.glueDatabase !== undefined) {
      throw new InputError("--table-bucket and --glue-database: a table bucket's tables are in S3 Tables' own catalog (Athena reads them through the s3tablescatalog federation); pass one");
    }
  }
  // Imported only when asked for: a run without a catalog never loads the Glue or S3 Tables client.
  const catalog = options.glueDatabase === undefined ? undefined : new (await import('../../lambdas/shared/glue-catalog')).GlueCatalog({ database: options.glueDatabase });
  const icebergCatalog =
    options.tableBucket !== undefined
      ? new (await import('../../lambdas/shared/s3-tables-catalog')).S3TablesCatalog({ tableBucketArn: options.tableBucket, s3Endpoint: options.s3Endpoint })
      : options.glueDatabase === undefined
        ? undefined
        : new (await import('../../lambdas/shared/glue-iceberg-catalog')).GlueIcebergCatalog({ database: options.glueDatabase, destination });
  const guarded = guardConnect((applicationName) => connect(target, { applicationName, connectTimeoutMs }));
  const reporter = progressReporter(options.quiet ? () => {} : log);
  const started = Date.now();
  if (!options.quiet) log(`run ${input.runId}: exporting ${tables.join(', ')} to ${destination.root}`);
  try {
    const result = await runLocally({
      input,
      // Unique per execution, as Step Functions' are: a resumed run holds a snapshot of its own.
      executionName: `${input.runId!}.${randomBytes(3).toString('hex')}`,
      ...(signal ? { signal } : {}),
      onRetryableFailure: (error, attempt) => {
        if (!options.quiet) log(`  attempt ${attempt} failed: ${error.message}`);
      },
      environment: {
        destination,
        ...(catalog ? { catalog } : {}),
        ...(icebergCatalog ? { icebergCatalog } : {}),
        ...keyOption,
        connect: guarded,
        // The flag is the budget: a local run connects no more often than it says.
        connectionBudget: concurrency,
        ...snapshotHolderSeconds(process.env),
        log: silentLog,
        onProgress: (p) => reporter.onProgress(p),
      },
    });
    return { runId: result.plan.runId, seconds: (Date.now() - started) / 1000, shards: result.plan.shardCount, commit: result.commit };
  } finally {
    reporter.stop();
  }
}

export function printSummary(summary: RunSummary, write: (line: string) => void): void {
  const rows = summary.commit.tables.reduce((n, t) => n + t.rows, 0);
  const bytes = summary.commit.tables.reduce((n, t) => n + t.bytes, 0);
  write(`run ${summary.runId}: ${summary.commit.tables.length} table(s), ${summary.shards} shard(s), ${formatCount(rows)} rows, ${formatBytes(bytes)} in ${summary.seconds.toFixed(1)} s (${formatCount(Math.round(rows / Math.max(summary.seconds, 0.001)))} rows/s)`);
  for (const t of summary.commit.tables) {
    write(`  ${t.table}: ${formatCount(t.rows)} rows, ${t.parts} part(s), ${formatBytes(t.bytes)} -> ${t.manifest}`);
    if (t.incremental) write(`    ${t.incremental.mode}: ${t.incremental.reason}`);
    if (t.catalog) write(`    catalog table ${t.catalog.table}: ${t.catalog.outcome}`);
    if (t.iceberg) {
      const what = { committed: 'committed', unchanged: 'already committed, unchanged', 'kept-newer': 'not added: a run planned later is the current snapshot' }[t.iceberg.outcome];
      write(`    iceberg ${t.iceberg.operation} snapshot ${t.iceberg.snapshotId}: ${what} -> ${t.iceberg.metadata}`);
      if (t.iceberg.changed !== undefined) write(`    upsert: ${formatCount(t.iceberg.changed)} row(s) changed since the last run replaced their previous versions`);
      if (t.iceberg.deleted !== undefined) write(`    deletes: ${formatCount(t.iceberg.deleted)} row(s) gone at the source deleted from the table`);
      const compacted = t.iceberg.compacted;
      if (compacted && 'error' in compacted) write(`    compaction: not done (${compacted.error}); the run is committed, run pgsip compact again`);
      else if (compacted) write(`    compaction: ${compacted.rewrittenFiles} data file(s) and ${compacted.removedDeleteFiles} delete file(s) rewritten into ${compacted.addedFiles} file(s), snapshot ${compacted.snapshotId}`);
      const expired = t.iceberg.expired;
      if (expired) write(`    retention: ${expired.snapshots} snapshot(s) expired${expired.runs.length > 0 ? `, run folder(s) deleted: ${expired.runs.join(', ')}` : ''}`);
    }
  }
}
