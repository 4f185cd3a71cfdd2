/**
 * The real path for type tests: a table in Postgres → catalog columns → mappings → `COPY (SELECT ...) TO STDOUT
 * (FORMAT binary)` → BinaryCopyParser → builders → the Parquet part writer → a local file → DuckDB.
 */
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { mkdtemp, rm, stat, open, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { BinaryCopyParser } from '../../lambdas/engine/postgres/binary-copy-parser';
import type { ObjectWriter } from '../../lambdas/engine/destinations/destination';
import { createHyparquetPartWriter } from '../../lambdas/engine/parquet/hyparquet-part-writer';
import type { CatalogColumn, Compression } from '../../lambdas/engine/contracts';
import type { ColumnMapping } from '../../lambdas/engine/columns/column-mapping';
import { mapColumn } from '../../lambdas/engine/columns/map-column';
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

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** A client whose results are the raw Postgres text of every value (no type parsing at all). */
export async function rawClient(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, types: { getTypeParser: () => (value: string) => value } });
  await client.connect();
  await client.query(`SET IntervalStyle = iso_8601; SET TimeZone = 'UTC'; SET extra_float_digits = 1`);
  return client;
}

/** What the planner reads from the catalog, domains resolved to their base type (also for array elements). */
export async function catalogColumns(client: pg.Client, table: string): Promise<CatalogColumn[]> {
  const { rows } = await client.query<{
    name: string;
    pgtype: string;
    typeoid: string;
    typmod: string;
    elemoid: string | null;
    notnull: string;
  }>(
    `SELECT a.attname AS name,
            format_type(a.atttypid, a.atttypmod) AS pgtype,
            CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE a.atttypid END AS typeoid,
            CASE WHEN t.typtype = 'd' AND a.atttypmod = -1 THEN t.typtypmod ELSE a.atttypmod END AS typmod,
            CASE WHEN b.typcategory = 'A' AND b.typelem <> 0
                 THEN CASE WHEN e.typtype = 'd' THEN e.typbasetype ELSE e.oid END END AS elemoid,
            a.attnotnull AS notnull
       FROM pg_attribute a
       JOIN pg_type t ON t.oid = a.atttypid
       JOIN pg_type b ON b.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE a.atttypid END
       LEFT JOIN pg_type e ON e.oid = b.typelem
      WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped
      ORDER BY a.attnum`,
    [table],
  );
  return rows.map((r) => ({
    name: r.name,
    pgType: r.pgtype,
    typeOid: Number(r.typeoid),
    typmod: Number(r.typmod),
    elemTypeOid: r.elemoid === null ? null : Number(r.elemoid),
    nullable: r.notnull !== 't',
  }));
}

export interface ExportResult {
  file: string;
  mappings: ColumnMapping[];
  rows: number;
  bytes: number;
  rowGroups: number;
  sink: FileObjectWriter;
}

/** Exports `SELECT <mapped columns> FROM table [ORDER BY ...]` into `file`, cutting a row group every N rows. */
export async function exportTable(
  client: pg.Client,
  table: string,
  file: string,
  options: {
    orderBy?: string;
    /** Cut a row group every N rows (exactly when `sliceBytes` is small). */
    rowGroupRows?: number;
    /** Feed the parser slices of this many bytes: rows straddle pushes and group sizes come out exact. */
    sliceBytes?: number;
    compression?: Compression;
    metadata?: Record<string, string>;
  } = {},
): Promise<ExportResult> {
  const mappings = (await catalogColumns(client, table)).map(mapColumn);
  const builders = mappings.map((m) => m.newBuilder());
  const select = mappings.map((m) => m.select(quoteIdent(m.plan.name))).join(', ');
  const order = options.orderBy ? ` ORDER BY ${options.orderBy}` : '';
  const sink = new FileObjectWriter(file);
  const writer = createHyparquetPartWriter({
    columns: mappings,
    compression: options.compression ?? 'SNAPPY',
    sink,
    metadata: options.metadata,
  });
  const parser = new BinaryCopyParser(builders);
  const groupRows = options.rowGroupRows ?? 100_000;
  let taken = 0;
  let rowGroups = 0;
  const flush = async () => {
    const rows = parser.rows - taken;
    if (rows === 0) return;
    taken = parser.rows;
    rowGroups++;
    await writer.writeRowGroup(
      builders.map((b) => b.take()),
      rows,
    );
  };
  try {
    const stream = client.query(copyTo(`COPY (SELECT ${select} FROM ${table}${order}) TO STDOUT (FORMAT binary)`));
    const slice = options.sliceBytes ?? Infinity;
    for await (const chunk of stream) {
      const buf = chunk as Buffer;
      for (let at = 0; at < buf.length; at += slice) {
        parser.push(slice === Infinity ? buf : buf.subarray(at, at + slice));
        if (parser.rows - taken >= groupRows) await flush();
      }
    }
    parser.finish();
    await flush();
    const bytes = await writer.finish();
    return { file, mappings, rows: parser.rows, bytes, rowGroups, sink };
  } catch (error) {
    await writer.abort();
    throw error;
  }
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
