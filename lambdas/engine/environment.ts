/**
 * What the engine needs from whoever runs it. Lambda builds one from its environment variables and Secrets
 * Manager; the CLI builds one from its flags. The engine itself knows nothing about either.
 */
import type pg from 'pg';
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

export interface EngineEnvironment {
  destination: Destination;
  /** Opens a connection to the source; `applicationName` shows up in pg_stat_activity. */
  connect(applicationName: string): Promise<pg.Client>;
  log: EngineLog;
  onProgress?(progress: ShardProgress): void;
}

export const silentLog: EngineLog = { info() {}, warn() {}, error() {} };
