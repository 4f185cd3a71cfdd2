/**
 * The real path for type tests: a table in Postgres, exported by the engine phases that ship (Plan, one Export
 * shard, Commit) into a local folder, read back by independent readers. Nothing here re-implements the
 * export: the seams it uses are the engine's own (`ExportTuning`).
 */
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { parquetMetadata } from 'hyparquet';
import { mkdtemp, open, readFile, rm, stat, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import pg from 'pg';
import { commitRun } from '../../lambdas/engine/commit-run';
import type { Compression, InfinityPolicy, RunManifest, TypeProfile } from '../../lambdas/engine/contracts';
import type { ObjectWriter } from '../../lambdas/engine/destinations/destination';
import { LocalFolderDestination } from '../../lambdas/engine/destinations/local-folder';
import { type EngineEnvironment, silentLog } from '../../lambdas/engine/environment';
import { exportShard } from '../../lambdas/engine/export-shard';
import { planRun } from '../../lambdas/engine/plan-run';
import { connect, targetFromUrl } from '../../lambdas/engine/postgres/connection';
import { quoteIdent } from '../../lambdas/engine/postgres/table-name';
import { parseDocument, readShardList } from '../../lambdas/engine/run/documents';
import { afterAll, beforeAll } from 'vitest';
import { type RunningPostgres, startEmbeddedPostgres } from '../../bin/local/embedded-postgres';

/** A file written in place (tests only: no temp file + rename). */
export class FileObjectWriter implements ObjectWriter {
  private handle: Promise<FileHandle>;
  private size = 0;
  readonly chunks: number[] = [];
  closed = false;
  aborted = false;

  constructor(readonly path: string) {
    this.handle = open(path, 'w');
  }

  async write(chunk: Uint8Array): Promise<void> {
    const fh = await this.handle;
    await fh.write(chunk);
    this.size += chunk.length;
    this.chunks.push(chunk.length);
  }

  async close(): Promise<number> {
    await (await this.handle).close();
    this.closed = true;
    return this.size;
  }

  async abort(): Promise<void> {
    await (await this.handle).close();
    await rm(this.path, { force: true });
    this.aborted = true;
  }
}

export { quoteIdent };

/** A client whose results are the raw Postgres text of every value (no type parsing at all). */
export async function rawClient(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, types: { getTypeParser: () => (value: string) => value } });
  await client.connect();
  await client.query(`SET IntervalStyle = iso_8601; SET TimeZone = 'UTC'; SET extra_float_digits = 1`);
  return client;
}

export interface ExportOptions {
  /** Cut a row group every N rows (exact when `sliceBytes` is small enough that a slice holds at most one row). */
  rowGroupRows?: number;
  /** Feed the COPY parser slices of this many bytes: rows straddle reads. */
  sliceBytes?: number;
  compression?: Compression;
  types?: TypeProfile;
  infinity?: InfinityPolicy;
}

export interface ExportResult {
  /** The run's one Parquet part. */
  file: string;
  rows: number;
  rowGroups: number;
  manifest: RunManifest;
}

let runs = 0;

/** The engine environment a test export runs in: the fixture's Postgres, a folder destination, the given seams. */
function environment(fx: RoundTripFixture, options: ExportOptions): EngineEnvironment {
  const target = targetFromUrl(fx.db.url);
  return {
    destination: new LocalFolderDestination(join(fx.tmp.dir, 'lake')),
    connect: (name) => connect(target, { applicationName: name }),
    log: silentLog,
    tuning: { rowGroupRows: options.rowGroupRows, readSliceBytes: options.sliceBytes },
  };
}

/**
 * Exports `table` exactly as a run does, through the engine phases that ship: Plan (catalog, mapping,
 * planner), one Export shard (binary COPY, parser, builders, Parquet writer) and Commit, into a local folder.
 * Returns the run's single part file, which the tests read back with independent readers.
 */
export async function exportTable(fx: RoundTripFixture, table: string, options: ExportOptions = {}): Promise<ExportResult> {
  const env = environment(fx, options);
  const runId = `types-${++runs}`;
  const plan = await planRun({ input: { tables: [table], shards: 1, runId, compression: options.compression, types: options.types, infinity: options.infinity } }, env);
  for (const task of await readShardList(env.destination, plan.items)) await exportShard(task, env);
  const committed = await commitRun({ runId }, env);
  const manifestPath = committed.tables[0].manifest;
  const manifest = parseDocument('manifest', await readFile(manifestPath), manifestPath);
  if (manifest.parts.length !== 1) throw new Error(`expected one part, the run wrote ${manifest.parts.length}`);
  const file = join(dirname(manifestPath), manifest.parts[0].path);
  const bytes = await readFile(file);
  const rowGroups = parquetMetadata(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)).row_groups.length;
  return { file, rows: manifest.rows, rowGroups, manifest };
}

/**
 * Runs the same export expecting it to fail: returns the error and every file the failed shard left visible
 * in its run folder (a refused value must leave nothing but the plan).
 */
export async function exportFailure(fx: RoundTripFixture, table: string, options: ExportOptions = {}): Promise<{ error: unknown; written: string[] }> {
  const env = environment(fx, options);
  const runId = `types-${++runs}`;
  const plan = await planRun({ input: { tables: [table], shards: 1, runId, types: options.types, infinity: options.infinity } }, env);
  const [task] = await readShardList(env.destination, plan.items);
  const error = await exportShard(task, env).then(
    () => null,
    (e: unknown) => e,
  );
  const written = (await env.destination.list(`${task.runDir}/`)).map((k) => k.slice(task.runDir.length + 1));
  return { error, written };
}

export interface Duck {
  connection: DuckDBConnection;
  /** Rows as objects of JS values (cast in SQL to VARCHAR for exact comparisons). */
  all(sql: string): Promise<Record<string, unknown>[]>;
  close(): void;
}

export async function openDuck(): Promise<Duck> {
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  await connection.run(`SET TimeZone = 'UTC'`);
  return {
    connection,
    async all(sql) {
      const reader = await connection.runAndReadAll(sql);
      return reader.getRowObjectsJS() as Record<string, unknown>[];
    },
    close() {
      connection.closeSync();
      instance.closeSync();
    },
  };
}

export async function tempDir(): Promise<{ dir: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'pgsip-types-'));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

export async function fileSize(path: string): Promise<number> {
  return (await stat(path)).size;
}

/** SQL string literal for DuckDB/Postgres. */
export function sqlString(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

/**
 * Compares one column, row by row (rows matched on `key`), between a Postgres expression and a DuckDB
 * expression that both yield text (or NULL). Returns the mismatches, empty when equal.
 */
export async function compareColumn(
  client: pg.Client,
  duck: Duck,
  args: { table: string; file: string; key: string; pg: string; duck: string; normalize?: (duck: string) => string },
): Promise<{ key: string; pg: string | null; duck: string | null }[]> {
  const pgRows = (await client.query<{ k: string; v: string | null }>(
    `SELECT (${quoteIdent(args.key)})::text AS k, (${args.pg})::text AS v FROM ${args.table} ORDER BY ${quoteIdent(args.key)}`,
  )).rows;
  const duckRows = await duck.all(
    `SELECT CAST(${quoteIdent(args.key)} AS VARCHAR) AS k, CAST(${args.duck} AS VARCHAR) AS v
       FROM read_parquet(${sqlString(args.file)}) ORDER BY ${quoteIdent(args.key)}`,
  );
  const mismatches: { key: string; pg: string | null; duck: string | null }[] = [];
  if (pgRows.length !== duckRows.length) {
    mismatches.push({ key: '(row count)', pg: String(pgRows.length), duck: String(duckRows.length) });
    return mismatches;
  }
  for (let i = 0; i < pgRows.length; i++) {
    const p = pgRows[i];
    const d = duckRows[i];
    const dv = d.v === null || d.v === undefined ? null : args.normalize ? args.normalize(String(d.v)) : String(d.v);
    if (p.k !== String(d.k) || p.v !== dv) mismatches.push({ key: p.k, pg: p.v, duck: dv });
  }
  return mismatches;
}

export interface RoundTripFixture {
  db: RunningPostgres;
  client: pg.Client;
  duck: Duck;
  tmp: { dir: string; remove(): Promise<void> };
}

/**
 * One test file's world: an embedded Postgres, a raw client to it, DuckDB and a temporary folder, started in
 * beforeAll and torn down in afterAll. Fields are filled in once beforeAll has run.
 */
export function useRoundTripFixture(): RoundTripFixture {
  const fx = {} as RoundTripFixture;
  beforeAll(async () => {
    [fx.db, fx.duck, fx.tmp] = await Promise.all([startEmbeddedPostgres(), openDuck(), tempDir()]);
    fx.client = await rawClient(fx.db.url);
  });
  afterAll(async () => {
    await fx.client?.end();
    fx.duck?.close();
    await fx.db?.stop();
    await fx.tmp?.remove();
  });
  return fx;
}
