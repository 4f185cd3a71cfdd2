/**
 * `pgsip bench`: pgsip side by side with Postgres's own COPY rate, on the orders table of docs/architecture.md ("Measured").
 *
 * In one run, against one Postgres (embedded unless --database-url is given):
 * 1. `COPY (SELECT ...) TO STDOUT (FORMAT binary)` received and thrown away: the ceiling (the fastest of three
 *    passes after a warm-up one, so that every contender reads a warm cache);
 * 2. `pgsip run --shards 1 --concurrency 1` as a child process: one shard, start-up included (after a warm-up
 *    run on a one-row table, which leaves the compiled CLI and the synthesized state machine cached, as they
 *    are for every run after the first one following an install or an edit);
 * 3. `pgsip run` with the default shards and concurrency;
 * 4. the naive baseline: a node-postgres cursor feeding parquetjs-lite (skip it with --skip-naive);
 * 5. two more shapes (shape-tables.ts), each against its own COPY measured the same way: a 1,000-column table
 *    (--skip-wide), and huge values, a 100 MB bytea, a 50 MB text and a 20 MB jsonb among 10,000 rows, whose
 *    figure is the peak RSS (--skip-huge).
 * Each line gives rows/s, the ratio to COPY's rate and peak RSS; the same goes to a JSON file.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { snappyImplementation } from '../../lambdas/engine/parquet/codecs';
import { copyToNowhere } from '../local/bench/copy-to-nowhere';
import { type IncrementalFigures, measureIncremental } from '../local/bench/incremental-run';
import { measureLambdaShaped } from '../local/bench/lambda-shaped';
import { BENCH_TABLE, createOrdersTable } from '../local/bench/orders-table';
import { createHugeTable, createWideTable, HUGE_LARGEST_BYTES, HUGE_ROWS, HUGE_TABLE, WIDE_COLUMNS, WIDE_TABLE } from '../local/bench/shape-tables';
import { measureChild } from '../local/bench/measure';
import { startEmbeddedPostgres, type RunningPostgres } from '../local/embedded-postgres';
import { formatBytes, formatCount } from '../local/progress';
import { parsePositive } from './run';

export interface BenchOptions {
  rows: string;
  databaseUrl?: string;
  json: string;
  skipNaive?: boolean;
  /** Leave out the Lambda-shaped rows (bundled Export on the Lambda runtime's Node, pinned to one CPU). */
  skipLambda?: boolean;
  /** Leave out the 1,000-column table. */
  skipWide?: boolean;
  /** Rows of the 1,000-column table. */
  wideRows?: string;
  /** Leave out the huge-values table. */
  skipHuge?: boolean;
  keepTable?: boolean;
  /** Leave out the incremental row (a mutable Iceberg table: a full run, then 1% changed and 0.1% deleted). */
  skipIncremental?: boolean;
  /** Rows of the incremental row's table. */
  incrementalRows?: string;
}

export interface BenchResult {
  name: string;
  rows: number;
  seconds: number;
  rowsPerSecond: number;
  /** This contender's rate over COPY's rate (equal to COPY's time over this contender's time), COPY measured the same way. */
  ratioToCopy: number;
  /**
   * Which COPY the ratio is to: the unpinned one, the one received on CPU 0 with Postgres on CPU 1, or the
   * COPY of this row's own table (the wide and huge shapes).
   */
  ceiling?: 'copy' | 'pinned-copy' | 'table-copy';
  /** The table of this row, when it is not the orders table. */
  table?: string;
  /** For the Lambda-shaped rows: the whole fresh process, cold start included. */
  processSeconds?: number;
  peakRssMB: number | null;
}

export interface BenchReport {
  measuredAt: string;
  /** Load averages (1 min) when the bench started and ended: other work on the machine skews every figure. */
  machine: { cpus: number; cpuModel: string; memoryGB: number; node: string; postgres: string; snappy: string; loadBefore: number; loadAfter: number };
  table: string;
  rows: number;
  tableBytes: number;
  results: BenchResult[];
  /** The incremental row: a full run and an incremental run of one mutable Iceberg table, side by side. */
  incremental?: IncrementalFigures;
}

const here = dirname(fileURLToPath(import.meta.url));
const PGSIP = resolve(here, '..', 'pgsip.js');
const NAIVE = resolve(here, '..', 'local', 'bench', 'naive-export.ts');

export async function runBench(options: BenchOptions, out: (line: string) => void, err: (line: string) => void): Promise<BenchReport> {
  const rows = parsePositive('--rows', options.rows);
  const loadBefore = loadavg()[0];
  let postgres: RunningPostgres | null = null;
  let url = options.databaseUrl;
  if (!url) {
    err('pgsip bench: starting an embedded Postgres...');
    postgres = await startEmbeddedPostgres();
    url = postgres.url;
  }
  const work = await mkdtemp(join(tmpdir(), 'pgsip-bench-'));
  try {
    const client = new pg.Client(url);
    await client.connect();
    let tableBytes = 0;
    let version = '';
    try {
      const existing = await client.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${BENCH_TABLE}`).catch(() => null);
      if (options.keepTable && existing && Number(existing.rows[0].n) === rows) {
        err(`pgsip bench: reusing ${BENCH_TABLE} (${formatCount(rows)} rows)`);
      } else {
        err(`pgsip bench: creating ${BENCH_TABLE} with ${formatCount(rows)} rows...`);
        const t = Date.now();
        await createOrdersTable(client, rows);
        err(`pgsip bench: table ready in ${((Date.now() - t) / 1000).toFixed(1)} s`);
      }
      tableBytes = Number((await client.query<{ b: string }>(`SELECT pg_total_relation_size('${BENCH_TABLE}')::text AS b`)).rows[0].b);
      version = (await client.query<{ v: string }>(`SELECT current_setting('server_version') AS v`)).rows[0].v;
    } finally {
      await client.end();
    }

    const results: BenchResult[] = [];
    const add = (name: string, seconds: number, peakRssBytes: number | null, ceiling?: { seconds: number; kind: 'copy' | 'pinned-copy' | 'table-copy' }, extra: Partial<BenchResult> = {}) => {
      const copySeconds = ceiling?.seconds ?? results[0]?.seconds;
      const counted = extra.rows ?? rows;
      const result: BenchResult = {
        name,
        rows: counted,
        seconds: round(seconds, 3),
        rowsPerSecond: Math.round(counted / seconds),
        ratioToCopy: copySeconds ? round(copySeconds / seconds, 3) : 1,
        peakRssMB: peakRssBytes === null ? null : round(peakRssBytes / 1024 / 1024, 1),
        ...(ceiling ? { ceiling: ceiling.kind } : {}),
        ...extra,
      };
      results.push(result);
      out(line(result));
    };

    // The ceiling is the fastest of three passes after a warm-up: one pass alone swung from 1.9 to 3.0 s on a
    // shared 2-core machine, which would flatter every ratio below it.
    err(`pgsip bench: COPY to nowhere (warm-up, then the best of ${COPY_PASSES})...`);
    await copyToNowhere(url, BENCH_TABLE, rows);
    let best = Infinity;
    for (let i = 0; i < COPY_PASSES; i++) best = Math.min(best, await copyToNowhere(url, BENCH_TABLE, rows));
    add('postgres COPY binary -> /dev/null', best, null);

    // One-time costs of a fresh install (compiling the CLI, synthesizing the CDK app: seconds, hundreds of MB)
    // are paid here, not in the figures.
    err('pgsip bench: warm-up runs (compile the CLI, synthesize the state machine)...');
    await withClient(url, (c) => c.query(`DROP TABLE IF EXISTS ${WARMUP_TABLE}; CREATE TABLE ${WARMUP_TABLE} (id int PRIMARY KEY); INSERT INTO ${WARMUP_TABLE} VALUES (1)`));
    await measureChild(process.execPath, [
      PGSIP, 'run', '--database-url', url, '--tables', WARMUP_TABLE, '--dest', join(work, 'warm-up'), '--shards', '1', '--quiet',
    ]);
    await withClient(url, (c) => c.query(`DROP TABLE ${WARMUP_TABLE}`));

    const run = async (name: string, shards: string, concurrency: string, table = BENCH_TABLE, expected = rows, ceiling?: { seconds: number; kind: 'table-copy' }) => {
      err(`pgsip bench: ${name}...`);
      const dest = join(work, name.replace(/[^a-z0-9]+/gi, '-'));
      const m = await measureChild(process.execPath, [
        PGSIP, 'run', '--database-url', url!, '--tables', table, '--dest', dest,
        '--shards', shards, '--concurrency', concurrency, '--quiet',
      ]);
      const exported = /(\d[\d,]*) rows/.exec(m.stdout)?.[1]?.replace(/,/g, '');
      if (Number(exported) !== expected) throw new Error(`${name} exported ${exported} rows, expected ${expected}: ${m.stdout.trim()}`);
      add(name, m.seconds, m.peakRssBytes, ceiling, table === BENCH_TABLE ? {} : { rows: expected, table });
      await rm(dest, { recursive: true, force: true });
    };
    await run('pgsip run, 1 shard', '1', '1');
    await run('pgsip run, default shards', 'auto', '4');

    // Other shapes, each against the COPY of its own table (best of COPY_PASSES after a warm-up).
    const shape = async (table: string, expected: number, label: string, create: (c: pg.Client) => Promise<void>) => {
      err(`pgsip bench: creating ${table} (${label})...`);
      await withClient(url!, create);
      await copyToNowhere(url!, table, expected);
      let copy = Infinity;
      for (let i = 0; i < COPY_PASSES; i++) copy = Math.min(copy, await copyToNowhere(url!, table, expected));
      add(`postgres COPY binary -> /dev/null, ${label}`, copy, null, { seconds: copy, kind: 'table-copy' }, { rows: expected, table });
      await run(`pgsip run, 1 shard, ${label}`, '1', '1', table, expected, { seconds: copy, kind: 'table-copy' });
      await withClient(url!, (c) => c.query(`DROP TABLE ${table}`));
    };
    if (!options.skipWide) {
      const wideRows = parsePositive('--wide-rows', options.wideRows ?? '20000');
      await shape(WIDE_TABLE, wideRows, `${WIDE_COLUMNS} columns`, (c) => createWideTable(c, wideRows));
    }
    if (!options.skipHuge) {
      await shape(HUGE_TABLE, HUGE_ROWS, 'huge values', createHugeTable);
      const huge = results[results.length - 1];
      const bound = 256 + (2 * HUGE_LARGEST_BYTES) / 1024 / 1024;
      out(`  huge values: a 100 MB bytea, a 50 MB text and a 20 MB jsonb among ${formatCount(HUGE_ROWS)} rows; peak RSS ${huge.peakRssMB ?? '-'} MB (docs/performance.md's bound: 256 MB + twice the largest value = ${bound} MB)`);
    }

    if (!options.skipNaive) {
      err('pgsip bench: naive baseline (pg cursor + parquetjs-lite; slow)...');
      const m = await measureChild(process.execPath, ['--import', 'tsx', NAIVE, url, BENCH_TABLE, join(work, 'naive.parquet')]);
      if (Number(m.stdout.trim()) !== rows) throw new Error(`the naive baseline exported ${m.stdout.trim()} rows, expected ${rows}`);
      add('naive: pg cursor + parquetjs-lite', m.seconds, m.peakRssBytes);
    }

    if (!options.skipLambda) {
      const lambda = await measureLambdaShaped({ url, table: BENCH_TABLE, rows, work, postgresDataDir: postgres?.dataDir ?? null, passes: COPY_PASSES, log: err });
      const pinned = { seconds: lambda.ceilingSeconds, kind: 'pinned-copy' as const };
      add(`COPY binary, receiver on CPU 0${lambda.pinned ? ', server on CPU 1' : ''}`, lambda.ceilingSeconds, null, pinned);
      for (const r of lambda.results) add(`${r.name} (Node ${lambda.node}, 1 CPU)`, r.seconds, r.peakRssBytes, pinned, { processSeconds: round(r.processSeconds, 3) });
    }

    let incremental: IncrementalFigures | undefined;
    if (!options.skipIncremental) {
      const incrementalRows = parsePositive('--incremental-rows', options.incrementalRows ?? '10000000');
      incremental = await measureIncremental({ url, rows: incrementalRows, work, log: err });
      for (const l of incrementalLines(incremental)) out(l);
    }

    const report: BenchReport = {
      measuredAt: new Date().toISOString(),
      machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? '?', memoryGB: round(totalmem() / 1024 ** 3, 1), node: process.version, postgres: version, snappy: snappyImplementation, loadBefore: round(loadBefore, 2), loadAfter: round(loadavg()[0], 2) },
      table: BENCH_TABLE,
      rows,
      tableBytes,
      results,
      ...(incremental ? { incremental } : {}),
    };
    await mkdir(dirname(resolve(options.json)), { recursive: true });
    await writeFile(resolve(options.json), `${JSON.stringify(report, null, 2)}\n`);
    out(`load average ${report.machine.loadBefore} before, ${report.machine.loadAfter} after (${report.machine.cpus} cpus); written to ${resolve(options.json)}`);
    return report;
  } finally {
    await rm(work, { recursive: true, force: true });
    await postgres?.stop();
  }
}

const WARMUP_TABLE = 'public.bench_warmup';
const COPY_PASSES = 3;

async function withClient<T>(url: string, use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client(url);
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}

function line(r: BenchResult): string {
  return [
    r.name.padEnd(56),
    `${formatCount(r.rowsPerSecond).padStart(10)} rows/s`,
    `${r.seconds.toFixed(2).padStart(7)} s`,
    `ratio ${r.ratioToCopy.toFixed(2)}`,
    `peak RSS ${r.peakRssMB === null ? '-' : `${r.peakRssMB.toFixed(0)} MB`}`,
    ...(r.processSeconds !== undefined ? [`(process ${r.processSeconds.toFixed(2)} s with cold start)`] : []),
  ].join('  ');
}

/** The incremental row: each run's time, bytes read from Postgres and from the lake, files written. */
function incrementalLines(f: IncrementalFigures): string[] {
  const run = (name: string, r: IncrementalFigures['full']) =>
    [
      name.padEnd(56),
      `${r.seconds.toFixed(2).padStart(7)} s`,
      `read ${formatBytes(r.postgresBytes)} from Postgres, ${formatBytes(r.lakeBytes)} from the lake`,
      `wrote ${r.filesWritten} files (${formatBytes(r.bytesWritten)})`,
    ].join('  ');
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
  return [
    run(`iceberg full run, ${formatCount(f.rows)}-row mutable table`, f.full),
    run(`iceberg incremental run, ${formatCount(f.changed)} changed, ${formatCount(f.deleted)} deleted`, f.incremental),
    `  incremental vs full: ${pct(f.shareOfFullBytes)} of the bytes read, ${pct(f.incremental.seconds / f.full.seconds)} of the time (changes spread evenly over the keys: every 100th id updated, every 1,000th deleted)`,
  ];
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
