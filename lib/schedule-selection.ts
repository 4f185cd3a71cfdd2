/**
 * The selection fields of a schedule in the deployment config (`tables` patterns, `excludeTables`,
 * `excludeColumns`, `hashColumns`), checked at synth with one line naming the field, and passed into the
 * schedule's execution input as they are (Plan expands and checks them against the catalog at each run);
 * the execution input and description each schedule fires with.
 */
import type { Compression, ExecutionInput, IncrementalSpec, InfinityPolicy, TableFormat, TypeProfile } from '../lambdas/engine/contracts';
import { ConfigError } from '../lambdas/engine/errors';
import { parseColumnEntry } from '../lambdas/engine/selection/column-rules';
import { canonicalPattern, parseNamePattern } from '../lambdas/engine/selection/name-pattern';

type Obj = Record<string, unknown>;

function asConfigError<T>(field: string, f: () => T): T {
  try {
    return f();
  } catch (error) {
    throw new ConfigError(field, (error as Error).message);
  }
}

/** `public.*` -> `"public".*`: literal parts quoted, globs folded. A pattern must name its schema. */
export function canonicalTablePattern(text: string, field: string): string {
  const pattern = asConfigError(field, () => parseNamePattern(text, 1, 2, 'table pattern'));
  if (pattern.parts.length !== 2) throw new ConfigError(field, `a pattern must name its schema (e.g. public.*), got ${JSON.stringify(text)}`);
  return canonicalPattern(pattern);
}

function strings(v: unknown, field: string): string[] {
  if (!Array.isArray(v) || v.length === 0) throw new ConfigError(field, `must be a list of at least 1 item(s), got ${JSON.stringify(v)}`);
  return v.map((e, i) => {
    if (typeof e !== 'string' || e === '') throw new ConfigError(`${field}[${i}]`, `must be a non-empty string, got ${JSON.stringify(e)}`);
    return e;
  });
}

/** What a schedule's execution input is made of: the run options of a schedule (`ScheduleConfig` adds its timing). */
export interface ScheduleRunOptions {
  /** Names the schedule (letters, digits, `-`, `_`), e.g. `nightly`; the run reports its success under it. */
  readonly name: string;
  /** Schema-qualified tables or patterns, Postgres quoting: `public.orders`, `public."Weird Table"`, `public.*`. */
  readonly tables: readonly string[];
  /** Shards per table: a positive integer or `auto`. @default 'auto' */
  readonly shards?: number | 'auto';
  /** Shards exported at once, at most `database.connectionBudget`. @default - the budget */
  readonly concurrency?: number;
  /** Parquet codec. @default 'ZSTD' */
  readonly compression?: Compression;
  /** Type profile. @default 'portable' */
  readonly types?: TypeProfile;
  /** How the schedule's tables land in the lake. @default - the deployment's `tableFormat` */
  readonly tableFormat?: TableFormat;
  /** ±infinity dates and timestamps. @default - 'error' for portable, 'keep' for native */
  readonly infinity?: InfinityPolicy;
  /** Committed runs kept per table (overrides `retention.keepRuns`). @default - `retention.keepRuns` */
  readonly keepRuns?: number;
  /**
   * Tables of the schedule read incrementally: `{ "public.events": { "cursor": "id" }, "public.orders":
   * { "cursor": "updated_at", "lookbackSeconds": 600 } }` (docs/export.md, "Incremental runs"). @default - full runs
   */
  readonly incremental?: Readonly<Record<string, IncrementalSpec>>;
  /**
   * Iceberg tables of the schedule partitioned: `{ "public.events": "day(created_at), identity(region)" }`
   * (docs/iceberg.md, "Partitioning"). @default - unpartitioned
   */
  readonly partitionBy?: Readonly<Record<string, string>>;
  /**
   * Iceberg tables: after each run commits, compact every table of it that holds at least this many delete
   * files (docs/iceberg.md, "Compaction"): scheduled compaction. @default - never
   */
  readonly compactAtDeleteFiles?: number;
  /**
   * Whether a run holds one snapshot for all its tables and shards (docs/export.md, "One moment for the whole run");
   * false: each shard reads its own, and nothing holds back VACUUM for the run's length. @default true
   */
  readonly holdSnapshot?: boolean;
  /** Tables left out of `tables` (names or patterns). */
  readonly excludeTables?: readonly string[];
  /** Columns left out of the export, `schema.table.column` (parts may be globs). */
  readonly excludeColumns?: readonly string[];
  /** Columns written as hex HMAC-SHA-256 under the database secret's `hashKey`, `schema.table.column`. */
  readonly hashColumns?: readonly string[];
}

/** EventBridge Scheduler's cap on `Description` (CloudFormation refuses a longer one; cfn-lint E3033). */
export const SCHEDULE_DESCRIPTION_MAX = 512;

/** EventBridge Scheduler's cap on a target's `Input` (8 KB). */
export const SCHEDULE_INPUT_MAX_BYTES = 8192;

/**
 * `pgsip schedule nightly: public.orders, public.customers`, its tables cut short with `… and N more` so that
 * it fits EventBridge Scheduler's 512 characters whatever the schedule holds.
 */
export function scheduleDescription(s: Pick<ScheduleRunOptions, 'name' | 'tables'>): string {
  const head = `pgsip schedule ${s.name}: `;
  const all = head + s.tables.join(', ');
  if (all.length <= SCHEDULE_DESCRIPTION_MAX) return all;
  for (let shown = s.tables.length - 1; shown >= 0; shown--) {
    const text = `${head}${s.tables.slice(0, shown).join(', ')}${shown ? ', ' : ''}… and ${s.tables.length - shown} more`;
    if (text.length <= SCHEDULE_DESCRIPTION_MAX) return text;
  }
  return `${head}${s.tables.length} tables`.slice(0, SCHEDULE_DESCRIPTION_MAX);
}

/** The execution input a schedule starts each run with: its own name and the run options it sets. */
export function scheduleInput(s: ScheduleRunOptions): ExecutionInput {
  const input: ExecutionInput = { tables: [...s.tables], schedule: s.name };
  if (s.shards !== undefined) input.shards = s.shards;
  if (s.concurrency !== undefined) input.concurrency = s.concurrency;
  if (s.types !== undefined) input.types = s.types;
  if (s.tableFormat !== undefined) input.tableFormat = s.tableFormat;
  if (s.infinity !== undefined) input.infinity = s.infinity;
  if (s.keepRuns !== undefined) input.keepRuns = s.keepRuns;
  if (s.compactAtDeleteFiles !== undefined) input.compactAtDeleteFiles = s.compactAtDeleteFiles;
  if (s.incremental !== undefined) input.incremental = { ...s.incremental };
  if (s.partitionBy !== undefined) input.partitionBy = { ...s.partitionBy };
  if (s.compression !== undefined) input.compression = s.compression;
  if (s.holdSnapshot === false) input.holdSnapshot = false;
  for (const key of ['excludeTables', 'excludeColumns', 'hashColumns'] as const) if (s[key] !== undefined) input[key] = [...s[key]];
  return input;
}

/**
 * The schedule's selection fields (only those it sets). `canonical` canonicalizes a table name or pattern as
 * `tables` does. Freshness is watched per schedule (whatever its patterns match), so patterns and
 * `excludeTables` go with `freshnessHours` too.
 */
export function scheduleSelection(
  s: Obj,
  f: string,
  canonical: (v: unknown, field: string) => string,
): { excludeTables?: string[]; excludeColumns?: string[]; hashColumns?: string[] } {
  const out: { excludeTables?: string[]; excludeColumns?: string[]; hashColumns?: string[] } = {};
  if (s.excludeTables !== undefined) out.excludeTables = strings(s.excludeTables, `${f}.excludeTables`).map((t, i) => canonical(t, `${f}.excludeTables[${i}]`));
  for (const key of ['excludeColumns', 'hashColumns'] as const) {
    if (s[key] === undefined) continue;
    out[key] = strings(s[key], `${f}.${key}`).map((c, i) => {
      asConfigError(`${f}.${key}[${i}]`, () => parseColumnEntry(c, key));
      return c;
    });
  }
  return out;
}
