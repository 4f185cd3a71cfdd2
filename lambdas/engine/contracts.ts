/**
 * The messages that flow through the state machine, and the files pgsip writes.
 *
 * Everything that crosses a state boundary stays small (Step Functions caps a state at 256 KB): the table
 * plans with column types live in `_plan.json` next to the output, the list of shards in the run's
 * `_shards.json`, which the Distributed Map reads itself (ItemReader), so a run may hold thousands of tables
 * and 10,000 shards. Commit trusts the shard manifests on the destination, never the Map's results.
 */

import type { IcebergSchema, PartitionSpec } from './iceberg/model';

/** Parquet codecs pgsip writes. */
export const COMPRESSIONS = ['SNAPPY', 'ZSTD', 'UNCOMPRESSED'] as const;
export type Compression = (typeof COMPRESSIONS)[number];

/**
 * How Postgres types become Parquet (docs/architecture.md, "Type profiles"). `portable`: what every mainstream
 * engine reads (V1 pages; uuid, time and json as text; DECIMAL as FIXED_LEN_BYTE_ARRAY; legacy converted
 * types). `native`: the exact logical types (UUID, TIME, JSON, V2 pages) for DuckDB, arrow and polars.
 */
export const TYPE_PROFILES = ['portable', 'native'] as const;
export type TypeProfile = (typeof TYPE_PROFILES)[number];

/**
 * What happens to `infinity` / `-infinity` dates and timestamps. `error`: the shard stops, naming the column
 * (the portable default: engines mishandle INT64 extremes). `clamp`: written as 0001-01-01 / 9999-12-31
 * 23:59:59.999999, warehouses' "end of time". `keep`: DuckDB's convention, INT32/INT64 max and -max (native).
 */
export const INFINITY_POLICIES = ['error', 'clamp', 'keep'] as const;
export type InfinityPolicy = (typeof INFINITY_POLICIES)[number];

/**
 * How a table lands in the lake (docs/iceberg.md). `iceberg`: an Apache Iceberg (format v2) table, each run one
 * atomic snapshot, found by path (`metadata/version-hint.text`) or in a catalog. `hive`: a folder per run and
 * `_latest.json`, registered in Glue as a plain Parquet table.
 */
export const TABLE_FORMATS = ['iceberg', 'hive'] as const;
export type TableFormat = (typeof TABLE_FORMATS)[number];

/** What starts a run: the execution input of the state machine (schedules, manual runs, the CLI). */
export interface ExecutionInput {
  /** Tables to export, as Postgres would parse them: `schema.table`, `public."Weird Table"`. */
  tables: string[];
  /**
   * Shards per table: a count, or `auto` to size them from the table. Default `auto`. A table that cannot be
   * split that far gets fewer, and its plan says why (`TablePlan.splitReason`).
   */
  shards?: number | 'auto';
  /** Identifies the run in paths and manifests. Default: the execution name. */
  runId?: string;
  /**
   * Shards exported at once (the Distributed Map's concurrency): at most the deployment's connection budget.
   * Default: the budget.
   */
  concurrency?: number;
  /** Parquet compression. Default: ZSTD on Lambda (where Node has it), SNAPPY elsewhere. */
  compression?: Compression;
  /** Type profile. Default `portable`. */
  types?: TypeProfile;
  /** How each table lands in the lake. Default `hive` (Iceberg tables are being built: docs/iceberg.md). */
  tableFormat?: TableFormat;
  /** ±infinity dates and timestamps. Default `error` for `portable`, `keep` for `native`. */
  infinity?: InfinityPolicy;
  /**
   * After a successful commit, committed runs of each table beyond the newest `keepRuns` are deleted, once
   * they have been out of the newest `keepRuns` for `retentionGraceMinutes` (queries may still read them).
   * Default: keep every run.
   */
  keepRuns?: number;
  /** Default 60. */
  retentionGraceMinutes?: number;
  /**
   * The largest share of a table's rows (0 to 1) one run may delete (`deletes: "keyset"`); a run that would
   * delete more stops before committing, saying how many. Default 0.1; 1 lets any run go on.
   */
  maxDeleteShare?: number;
  /**
   * Iceberg tables: after committing, compact each table that holds at least this many position delete files
   * (lambdas/engine/iceberg/compact-table.ts), as `pgsip compact` would. Default: never.
   */
  compactAtDeleteFiles?: number;
  /** Target size of a row group, in bytes of column data held before encoding. Default 16 MiB. */
  rowGroupBytes?: number;
  /** A shard starts a new part file once the current one reaches this many bytes. Default 1 GiB. */
  partBytes?: number;
  /** Postgres `statement_timeout` for each shard's read, in ms. Default 14 min (Lambda stops at 15). */
  statementTimeoutMs?: number;
  /** Postgres `lock_timeout`: how long a shard waits for its table lock behind DDL, in ms. Default 10 s. */
  lockTimeoutMs?: number;
  /** Commit removes this table's uncommitted runs planned longer ago than this. Default 48 h. */
  sweepAfterHours?: number;
  /**
   * A snapshot exported with `pg_export_snapshot()` by a transaction the caller keeps open for the whole run:
   * Plan and every shard import it, so all tables and shards read one moment. Without it, the execution holds
   * one itself (`holdSnapshot`).
   */
  snapshot?: string;
  /**
   * Whether the execution holds one snapshot for the whole run (lambdas/engine/hold-snapshot.ts): holder
   * functions keep a transaction open, handing it over before their time runs out, and Plan and every shard
   * import it, so all tables and shards read one moment however long the run takes. false: each shard reads a
   * snapshot of its own (`pgsip run --no-snapshot`), and key-less tables are not split. Default true.
   */
  holdSnapshot?: boolean;
  /**
   * Tables left out of `tables` (names or patterns, the same syntax). An entry that removes nothing is an error.
   * `tables` itself may hold patterns: `public.*`, `sales_*.orders` (lambdas/engine/selection/table-patterns.ts).
   */
  excludeTables?: string[];
  /** Columns left out, `schema.table.column` (parts may be globs). An entry that names no column is an error. */
  excludeColumns?: string[];
  /** Columns written as the hex HMAC-SHA-256 of their text under the deployment's hash key, `schema.table.column`. */
  hashColumns?: string[];
  /**
   * With `snapshot` and incremental tables: what the snapshot's holder read just before taking it
   * (lambdas/engine/incremental/horizon.ts). Without it, Plan reads it itself before its own snapshot.
   */
  horizon?: RunHorizon;
  /**
   * Tables read incrementally, by table name (any quoting): only rows whose cursor column is at or past the
   * table's watermark. A table without a committed run gets a full run first.
   */
  incremental?: Record<string, IncrementalSpec>;
  /** Read every incremental table whole this time (a full run starts a new chain). Default false. */
  full?: boolean;
  /**
   * Iceberg tables: the partition spec of a table, by table name (any quoting), as Iceberg's `PARTITIONED BY`
   * reads: `day(created_at), identity(region), bucket(16, id)` (docs/iceberg.md, "Partitioning"). A table not
   * named is unpartitioned. A spec other than the table's current one evolves it; old files keep theirs.
   */
  partitionBy?: Record<string, string>;
  /**
   * The deployment schedule that started the run (set by the schedule itself): Commit reports the run's
   * success under it, which the schedule's freshness alarm watches.
   */
  schedule?: string;
}

/** How one table is read incrementally. */
export interface IncrementalSpec {
  /** A column whose value the database sets on insert (append-only) or on every change: an integer, numeric, date or timestamp. */
  cursor: string;
  /** Re-read rows whose cursor is this many seconds before the watermark (date and timestamp cursors). Default 0. */
  lookbackSeconds?: number;
  /**
   * `keyset`: each incremental run also reads the table's primary keys in its snapshot and removes from the
   * Iceberg table the rows whose key is gone (docs/iceberg.md, "Deletes"). Iceberg tables only. Default: rows
   * deleted at the source stay until the next full run.
   */
  deletes?: DeleteTracking;
}

export const DELETE_TRACKING = ['keyset'] as const;
export type DeleteTracking = (typeof DELETE_TRACKING)[number];

/** Read just before a run's snapshot (lambdas/engine/incremental/horizon.ts). Times are ISO UTC. */
export interface RunHorizon {
  /** When the oldest transaction open before the snapshot had started; null: unbounded (a prepared transaction). */
  openSince: string | null;
  /** Per incremental table, as the input names it: its greatest cursor a moment before the snapshot. */
  before: Record<string, CursorReading>;
}

export interface CursorReading {
  /** The greatest cursor (Postgres text form); null: no row had one. */
  through: string | null;
  /** A moment at or after the reading's snapshot. */
  at: string;
}

export const RUN_MODES = ['full', 'incremental'] as const;
export type RunMode = (typeof RUN_MODES)[number];

/**
 * A run of a table that has an incremental cursor, full or incremental (docs/architecture.md, "Incremental
 * runs"). Recorded in `_plan.json` and the manifest; the next run computes its range from these.
 */
export interface IncrementalPlan {
  mode: RunMode;
  cursor: string;
  /** `format_type` of the cursor column. */
  cursorType: string;
  /** The primary key readers deduplicate the runs on, keeping the newest run's row. */
  primaryKey: string[];
  lookbackSeconds: number;
  /** Inclusive lower bound of the cursor (Postgres text form); null: every row (a full run). */
  from: string | null;
  /** The greatest cursor in the run's snapshot; null: the table had none. */
  through: string | null;
  /** A moment at or after the run's snapshot was taken (Postgres's clock, ISO UTC). */
  snapshotAt: string;
  /** The greatest cursor a moment before the snapshot (RunHorizon.before); null when not read. */
  before: CursorReading | null;
  /** When the oldest transaction open at the snapshot had started (ISO UTC); null: unbounded or unknown. */
  openSince: string | null;
  /** The run whose watermark this one continues from; null for a full run. */
  continues: string | null;
  /** Why the run is full or where its range starts, in words. */
  reason: string;
  /** `keyset`: each shard also writes the keys of its range (ShardManifest.keyset), and Commit deletes the gone ones. */
  deletes?: DeleteTracking;
}

/**
 * The payloads the state machine hands each phase (built in lib/export-state-machine.ts); the local runner
 * builds the same from the same definition.
 */
export interface PlanEvent {
  input: ExecutionInput;
  /** The execution's name: the run id when the input names none. */
  executionName?: string;
  /** For the logs. */
  executionId?: string;
}

/**
 * What the Distributed Map's ItemSelector hands Export: one item of `_shards.json` (a shard task), with the
 * parent execution's id (for the logs) and the run's snapshot from Plan's output. A bare `ShardTask` (direct
 * invocations) is accepted too.
 */
export type ExportShardEvent = ShardTask | { task: ShardTask; executionId?: string; snapshot?: string | null; heldSnapshot?: string | null };

/**
 * What the holder function is given (lambdas/engine/hold-snapshot.ts). `hold`: one generation of the run's
 * snapshot holder, with the execution input; `release`: the execution is done with its snapshot.
 */
export interface HolderEvent {
  action: 'hold' | 'release';
  /** The execution whose snapshot this is (`$$.Execution.Name`). */
  executionName: string;
  /** hold: 0 for the first holder; each hand-over counts one. */
  generation?: number;
  /** hold: the execution input (its run id, incremental tables, whether to hold at all). */
  input?: ExecutionInput;
  /** For the logs. */
  executionId?: string;
}

/**
 * What a holder answers: `done` when no generation comes after it (the snapshot was released, or is not held
 * at all); otherwise the event of the next generation its loop runs (two loops alternate, so that each
 * successor is running before its predecessor lets go).
 */
export interface HolderResult {
  action: 'hold';
  done: boolean;
  generation: number;
  input?: ExecutionInput;
}

/** `_runs/_snapshots/<execution>/current.json`: the snapshot an execution's current holder holds. */
export interface HeldSnapshotDocument {
  version: 1;
  execution: string;
  runId: string;
  /** What the first holder exported: the moment the run reads, recorded by every shard as its snapshot. */
  origin: string;
  /** 0 for the first holder; each hand-over counts one. */
  generation: number;
  /** The id to import now: this generation's own export of the same moment. */
  snapshot: string;
  /** When this generation lets go at the latest (ISO UTC); its successor takes over shortly before. */
  deadline: string;
  /** Read just before the first holder took the snapshot; null without incremental tables. */
  horizon: RunHorizon | null;
}

/** Commit reads the run's tables from `_runs/<runId>/_run.json`, so its payload is just the run. */
export interface CommitEvent {
  runId: string;
  executionId?: string;
}

/** Output options fixed at Plan time, so every shard of a run writes alike. */
export interface ExportOptions {
  compression: Compression;
  rowGroupBytes: number;
  partBytes: number;
  statementTimeoutMs: number;
  lockTimeoutMs: number;
  sweepAfterHours: number;
  types: TypeProfile;
  infinity: InfinityPolicy;
  /** null: keep every committed run. */
  keepRuns: number | null;
  retentionGraceMinutes: number;
  /** Plans written before table formats are `hive`. */
  tableFormat: TableFormat;
  /** The largest share of a table's rows one run may delete (ExecutionInput.maxDeleteShare). */
  maxDeleteShare: number;
  /** ExecutionInput.compactAtDeleteFiles; null: never. */
  compactAtDeleteFiles: number | null;
}

/**
 * A shard's range [lo, hi) (docs/architecture.md, "Shard planning"). `null` is unbounded, so the first and last
 * shards cover every row. A bound is the key's Postgres text form (one key column), the text forms of the key
 * columns in key order (a composite key, compared as a row value), or a block number (page ranges of `ctid`).
 */
export interface KeyRange {
  lo: RangeBound;
  hi: RangeBound;
}

export type RangeBound = string | string[] | null;

/** A column the shards split on: its name and `format_type`. */
export interface SplitColumn {
  name: string;
  pgType: string;
}

/**
 * How a table's shards divide it. `key`: ranges of the primary key, one column or a row value of several, of
 * any type with a default btree order. `pages`: `ctid` page ranges, for tables without a primary key, only when
 * the run reads one shared snapshot (every shard must read the same one). `whole`: one shard.
 */
export type SplitPlan = { by: 'key'; columns: SplitColumn[] } | { by: 'pages' } | { by: 'whole' };

/** One unit of work for Export: a key range of one table. */
export interface ShardTask {
  runId: string;
  /** The table as its canonical quoted name, e.g. `public."Weird Table"`. */
  table: string;
  /** The table's run folder relative to the destination root, e.g. `public/orders/run=2026...`. */
  runDir: string;
  shard: number;
  shardCount: number;
  range: KeyRange;
  /**
   * The run's snapshot, when it reads one: the id the caller holds (ExecutionInput.snapshot), or the one the
   * execution's first holder exported (`heldSnapshot`). Recorded in the shard manifest: one moment, one id.
   */
  snapshot?: string;
  /** The execution whose holder serves the snapshot: the shard imports whichever generation holds it now. */
  heldSnapshot?: string;
}

/**
 * What Plan hands to the Map, small whatever the run's size: where the shard list is (`items`, read by the
 * Distributed Map's ItemReader), how many shards run at once (its MaxConcurrencyPath) and the snapshot every
 * shard imports (its ItemSelector).
 */
export interface PlanResult {
  runId: string;
  tableCount: number;
  shardCount: number;
  /** The S3 object (or, locally, the file) holding the JSON array of this run's shard tasks. */
  items: ObjectAddress;
  concurrency: number;
  /** The moment every shard reads (ShardTask.snapshot), or null: each shard reads its own. */
  snapshot: string | null;
  /** The execution whose holder serves that snapshot (ShardTask.heldSnapshot), or null: the caller holds it. */
  heldSnapshot: string | null;
}

/** Where an object of a destination is, as Step Functions' ItemReader names it. */
export interface ObjectAddress {
  bucket: string;
  key: string;
}

/** `_runs/<runId>/_run.json`: the tables of one run, written by Plan and read by Commit. */
export interface RunPlan {
  version: 1;
  runId: string;
  /** The schedule that started the run (ExecutionInput.schedule). */
  schedule?: string;
  tables: PlannedTableRef[];
  shardCount: number;
  plannedAt: string;
}

export interface PlannedTableRef {
  table: string;
  runDir: string;
  shardCount: number;
}

/** What the catalog says about a column, before mapping. Domains are already resolved to their base type. */
export interface CatalogColumn {
  name: string;
  /** `format_type(atttypid, atttypmod)` of the declared type, e.g. `numeric(12,2)`, `public.mood`, `text[]`. */
  pgType: string;
  /** Effective type OID: the domain's base type for a domain, the declared type otherwise. */
  typeOid: number;
  typmod: number;
  /** Element type OID when `typeOid` is an array type (domains resolved), else null. */
  elemTypeOid: number | null;
  nullable: boolean;
}

/** How a column of the source is read and what it becomes in Parquet; recorded in `_plan.json`. */
export interface ColumnPlan extends CatalogColumn {
  /** A readable Parquet type, e.g. `DECIMAL(12,2)`, `TIMESTAMP(MICROS,UTC)`, `LIST<STRING>`. */
  parquetType: string;
  /** For date and timestamp columns (and arrays of them): what ±infinity becomes. */
  infinity?: InfinityPolicy;
  /** Written as the hex HMAC-SHA-256 of its text (`hashColumns`); its parquetType is STRING. */
  hashed?: boolean;
  /** Iceberg tables: the column's field id, written on its Parquet column (and a list's element id). */
  fieldId?: number;
  elementId?: number;
}

/** What Plan decided about a table's Iceberg side (TablePlan.iceberg). */
export interface IcebergTablePlan {
  /** The table's location, an absolute URI (`s3://bucket/prefix/schema/table`, `file:///...`). */
  location: string;
  /** The schema the run's files are written with (its ids are the table's, lambdas/engine/iceberg/iceberg-schema.ts). */
  schema: IcebergSchema;
  /** Highest field id the table has given, this schema's included. */
  lastColumnId: number;
  /** The metadata file Plan read the table's schema from; null for a new table. */
  base: string | null;
  /** Columns added, dropped or widened against the table's current schema. */
  changes: string[];
  /** Columns a `--full` run replaced by new ones (new field ids): their type changed in a way Iceberg cannot evolve. */
  replaced?: string[];
  /** The partition spec the run's files are written with (the table's, or a new one it evolves to). */
  spec: PartitionSpec;
  /** Highest partition field id the table has given, this spec's included. */
  lastPartitionId: number;
}

/** `_plan.json`: everything Export and Commit need to know about one table in one run. */
export interface TablePlan {
  version: 1;
  runId: string;
  table: string;
  schema: string;
  name: string;
  runDir: string;
  columns: ColumnPlan[];
  /** The key the shards split on when it is one column (of any type), else null. */
  splitKey: SplitColumn | null;
  /** How the shards divide the table. Absent in plans written before it: by `splitKey`, or whole. */
  split?: SplitPlan;
  /** Why the table has fewer shards than asked for (`--shards N`, or what `auto` computed), when it has. */
  splitReason?: string;
  shards: ShardTask[];
  options: ExportOptions;
  plannedAt: string;
  /** Catalog row estimate (`pg_class.reltuples`), for progress only. */
  estimatedRows: number;
  /** Set for tables read with an incremental cursor (full or incremental); absent for plain full runs. */
  incremental?: IncrementalPlan;
  /** Columns of the table left out (`excludeColumns`): never selected, and not in `columns`. */
  excluded?: string[];
  /** Iceberg tables: the table's location and the run's schema. */
  iceberg?: IcebergTablePlan;
}

export interface PartEntry {
  /** Relative to the folder of the manifest that lists it. */
  path: string;
  rows: number;
  bytes: number;
  /** Iceberg tables: the part's column metrics, as its manifest entry carries them. */
  metrics?: PartMetrics;
  /**
   * Partitioned Iceberg tables: the part's partition, one value per spec field in spec order, in JSON
   * (lambdas/engine/iceberg/partition-json.ts): every row of the part is in it.
   */
  partition?: PartitionJson;
}

/** A partition tuple in JSON: numbers for int and date, strings of digits for long, timestamps and decimals, base64 for binary. */
export type PartitionJson = (string | number | boolean | null)[];

/**
 * A data file's Iceberg metrics in JSON (lambdas/engine/iceberg/model.ts DataFileMetrics): counts by field id,
 * bounds as base64 of their single-value serialization, and the row groups' start offsets.
 */
export interface PartMetrics {
  columnSizes: Record<string, number>;
  valueCounts: Record<string, number>;
  nullValueCounts: Record<string, number>;
  nanValueCounts: Record<string, number>;
  lowerBounds: Record<string, string>;
  upperBounds: Record<string, string>;
  splitOffsets: number[];
}

/** `_shards/<n>.json`: what one shard wrote; its presence means the shard finished. */
export interface ShardManifest {
  version: 1;
  runId: string;
  table: string;
  shard: number;
  range: KeyRange;
  attempt: string;
  rows: number;
  bytes: number;
  /** Paths relative to the run folder. */
  parts: PartEntry[];
  /**
   * What Postgres said about the range in the same snapshot the rows were read from: its row count and the
   * sum of its split key (null unless an integer key). `pgsip verify` recomputes both from the Parquet files.
   */
  checksum: ShardChecksum;
  /** The exported snapshot the shard read from, or null for a snapshot of its own. */
  snapshot: string | null;
  seconds: number;
  /**
   * With `deletes: "keyset"`: the primary keys of the shard's whole range in the same snapshot, one per line
   * (each key column's text, UTF-8 as hex, joined by `,`), gzip: the path relative to the run folder and how many.
   */
  keyset?: { path: string; keys: number };
}

export interface ShardChecksum {
  rows: number;
  keySum: string | null;
}

/** The run manifest `_manifest.json` (docs/architecture.md, "Contracts"). Readers trust it, never a listing. */
export interface RunManifest {
  version: 1;
  table: string;
  runId: string;
  rows: number;
  bytes: number;
  /** `infinity`: on date and timestamp columns, what ±infinity became (see InfinityPolicy). */
  columns: { name: string; pgType: string; parquetType: string; nullable: boolean; infinity?: InfinityPolicy }[];
  parts: PartEntry[];
  shards: { shard: number; range: KeyRange; rows: number; checksum: ShardChecksum; parts: string[] }[];
  /** The column whose sum each shard's checksum holds: an integer split key written unchanged, else null. */
  splitKey: string | null;
  /**
   * `snapshot`: every shard read the same exported snapshot, so the table is one moment. `per-shard`: each
   * shard read its own consistent snapshot (`holdSnapshot: false`, `--no-snapshot`).
   */
  consistency: 'snapshot' | 'per-shard';
  compression: string;
  /** The type profile the parts were written with. Manifests of pgsip 0.1 have none: they are `native`. */
  types: TypeProfile;
  /** `full`: the table whole. `incremental`: the rows whose cursor was in `incremental`'s range. */
  mode: RunMode;
  incremental?: IncrementalPlan;
  startedAt: string;
  committedAt: string;
  writer: string;
  /** Columns of the table left out of the parts (`excludeColumns`). */
  excluded?: string[];
  /** Columns written as the hex HMAC-SHA-256 of their text (`hashColumns`). */
  hashed?: string[];
  /**
   * Iceberg tables: how the run's schema changed the table's (columns added, dropped, widened, or replaced by
   * a `--full` run), as its snapshot summary also says (`pgsip.schema-changes`). Absent when it did not.
   */
  schemaChanges?: string[];
  /** With `deletes: "keyset"`: the shards' key files (ShardManifest.keyset), relative to the run folder. */
  keysets?: string[];
  /**
   * Iceberg tables, once the run is the table's snapshot (added to the manifest right after that commit): the
   * snapshot, and of an incremental run the table's rows it replaced with changed versions and, with
   * `deletes: "keyset"`, the rows it deleted; `rows` is what it added. As its snapshot summary says too.
   */
  iceberg?: { snapshotId: number; changed?: number; deleted?: number };
}

/** `<schema>/<table>/_latest.json`: the newest committed run of a table. */
export interface LatestPointer {
  version: 1;
  runId: string;
  /** The run manifest, relative to the table folder: `run=<runId>/_manifest.json`. */
  manifest: string;
  /** When the run was planned: `_latest.json` never moves to a run planned earlier than the one it names. */
  plannedAt: string;
  committedAt: string;
  /**
   * Every committed run that together makes up the table now, oldest first: the last full run, then each
   * incremental run after it. Deduplicated on the primary key, keeping the row of the newest run, they are
   * the table as of the newest run's snapshot (deletes aside). A full run's list is itself.
   */
  runs: RunRef[];
}

export interface RunRef {
  runId: string;
  /** Relative to the table folder, as `manifest` above. */
  manifest: string;
  mode: RunMode;
}

/** What Export returns to the Map (discarded by the state machine; useful in logs and execution history). */
export interface ShardResult {
  table: string;
  shard: number;
  rows: number;
  bytes: number;
  parts: number;
  seconds: number;
}

/** What the engine's Commit phase answers: every table it committed, with its manifest's address. */
export interface CommitResult {
  runId: string;
  /** The schedule that started the run, if one did (RunPlan.schedule). */
  schedule?: string;
  tables: CommittedTable[];
}

/**
 * What the Commit Task answers Step Functions, and so the execution's output: counts only, the same size for
 * one table or thousands (a state's output is capped at 256 KiB). Each table's details are in its
 * `_manifest.json`; `pgsip run` prints them from the engine's `CommitResult`.
 */
export interface CommitOutput {
  runId: string;
  tables: number;
  rows: number;
  bytes: number;
  parts: number;
  /** Tables per catalog outcome (`{ "created": 2, "unchanged": 1 }`), when a catalog is configured. */
  catalog?: Partial<Record<NonNullable<CommittedTable['catalog']>['outcome'], number>>;
}

export interface CommittedTable {
  table: string;
  manifest: string;
  rows: number;
  bytes: number;
  parts: number;
  /** For tables read with a cursor: full or incremental, and why (IncrementalPlan). */
  incremental?: { mode: RunMode; from: string | null; reason: string };
  /** Set when a catalog is configured: the catalog table and what registering did (see CatalogOutcome). */
  catalog?: { table: string; outcome: 'created' | 'updated' | 'unchanged' | 'kept-newer' | 'not-latest' | 'incremental-not-registered' };
  /** Iceberg tables: the snapshot the run committed (or found committed), and the metadata file naming it. */
  iceberg?: IcebergCommit;
}

/** What committing a run to its Iceberg table did. */
export interface IcebergCommit {
  /**
   * `committed`: this Commit made the snapshot; `unchanged`: an earlier Commit of the run had; `kept-newer`: a
   * run planned later is already the table's current snapshot, so this one is not added (`snapshotId` is that).
   */
  outcome: 'committed' | 'unchanged' | 'kept-newer';
  snapshotId: number;
  operation: 'append' | 'overwrite';
  /** The table's metadata file after the commit. */
  metadata: string;
  /** With `keepRuns`: the snapshots retention expired after the commit, and the run folders it deleted. */
  expired?: { snapshots: number; runs: string[] };
  /** An incremental run's commit: rows of the table it replaced with changed versions (an upsert). */
  changed?: number;
  /** With `deletes: "keyset"`: rows of the table it deleted because the source no longer holds their key. */
  deleted?: number;
  /**
   * With `compactAtDeleteFiles`: the compaction that followed the commit, or why it did not take (the run is
   * committed either way; `pgsip compact` can be run again).
   */
  compacted?: { rewrittenFiles: number; removedDeleteFiles: number; addedFiles: number; snapshotId: number } | { error: string };
}
