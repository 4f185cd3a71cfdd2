/**
 * What the engine needs from whoever runs it. Lambda builds one from its environment variables and Secrets
 * Manager; the CLI builds one from its flags. The engine itself knows nothing about either.
 */
import type pg from 'pg';
import type { TableCatalog } from './catalog/table-catalog';
import type { Compression, ExecutionInput } from './contracts';
import type { IcebergCatalog } from './iceberg/iceberg-catalog';
import type { Destination } from './destinations/destination';

export interface EngineLog {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

export interface ShardProgress {
  runId: string;
  table: string;
  shard: number;
  shardCount: number;
  rows: number;
  /** Parquet bytes written so far. */
  bytes: number;
  state: 'started' | 'running' | 'done' | 'skipped';
}

/**
 * Seams for tests that need what production leaves to the data: row groups cut at an exact row count, and the
 * COPY stream read in small slices (so rows straddle reads, as they do across network chunks). Unset in
 * production; the shard pipeline is the same either way.
 */
export interface ExportTuning {
  /** Also close a row group after this many rows (production closes them by `rowGroupBytes` only). */
  rowGroupRows?: number;
  /** Hand the COPY parser each network chunk in slices of at most this many bytes. */
  readSliceBytes?: number;
  /** The pause between an incremental run's cursor readings and its open-transaction reading (default 1 s). */
  horizonSettleMs?: number;
  /** How often snapshot holders look for their successor or the release (default: a tenth of their lifetime, at most 1 s). */
  snapshotPollMs?: number;
}

/** What Commit needs: the destination, a log and the catalog if one is configured. It never connects to the source. */
export interface RunEnvironment {
  destination: Destination;
  log: EngineLog;
  /** Where Commit registers each committed table; none: nothing is registered. */
  catalog?: TableCatalog;
  /**
   * Where Iceberg tables' current metadata is found and swapped (lambdas/engine/iceberg/iceberg-catalog.ts);
   * none: each table by its path (`metadata/version-hint.text`).
   */
  icebergCatalog?: IcebergCatalog;
}

/** What Plan and Export need: the destination, the source and the deployment's limits. */
export interface EngineEnvironment extends RunEnvironment {
  /** Opens a connection to the source; `applicationName` shows up in pg_stat_activity. */
  connect(applicationName: string): Promise<pg.Client>;
  /**
   * Shards the source may serve at once (connections pgsip may hold): what a run's concurrency defaults to and
   * may not exceed. Unset: no cap beyond the run's own `concurrency` (the CLI's `--concurrency` is the budget).
   */
  connectionBudget?: number;
  /** The codec of runs that name none (ZSTD on Lambda, SNAPPY elsewhere). */
  defaultCompression?: Compression;
  /** The deployment's retention, for runs that name none. */
  runDefaults?: Pick<ExecutionInput, 'keepRuns' | 'retentionGraceMinutes' | 'tableFormat'>;
  /**
   * How long one snapshot holder holds the run's snapshot before a successor takes it over
   * (lambdas/engine/hold-snapshot.ts): `PGSIP_SNAPSHOT_HOLDER_SECONDS`. Default 360.
   */
  snapshotHolderSeconds?: number;
  /** Aborted when whoever runs the engine stops the run (the local runner): long waits end on it. */
  signal?: AbortSignal;
  onProgress?(progress: ShardProgress): void;
  tuning?: ExportTuning;
  /**
   * The key of hashed columns (`hashColumns`; lambdas/engine/selection/hash-key.ts): the database secret's
   * `hashKey` on Lambda, `--hash-key-file` or `PGSIP_HASH_KEY` on the CLI. Unset: a run that hashes fails.
   */
  hashKey?: () => Promise<Uint8Array>;
}

export const silentLog: EngineLog = { info() {}, warn() {}, error() {} };
