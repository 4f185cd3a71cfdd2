/**
 * The incremental row of `pgsip bench`: what an incremental run of a mutable Iceberg table costs beside a full
 * run of the same table. The table is the orders shape (orders-table.ts) plus an `updated_at` cursor, N rows
 * (10 million by default); the full run is the first run of `--incremental updated_at --deletes keyset`
 * (a first run is full); then 1% of the rows are updated and 0.1% deleted, spread evenly over the key range
 * (every 100th and every 1,000th id: no file and no row group is spared, the hardest case for the statistics
 * that narrow what is read), and the incremental run upserts the changed rows and deletes the gone ones.
 *
 * Each run is measured in this process, the way `pgsip run` runs: its time, the bytes Postgres sent it
 * (through a counting relay, counting-proxy.ts), the bytes it read from the lake (through a counting
 * destination, counting-destination.ts: data, delete, manifest and run files), and the files it wrote.
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { runExport, type RunSummary } from '../../commands/run';
import { CountingDestination } from './counting-destination';
import { countingProxy } from './counting-proxy';
import { createOrdersShape } from './orders-table';

export const MUTABLE_TABLE = 'public.bench_mutable';

export interface RunFigures {
  seconds: number;
  /** Bytes Postgres sent the run. */
  postgresBytes: number;
  /** Bytes the run read from the destination. */
  lakeBytes: number;
  /** Files the run added to the destination, and their bytes. */
  filesWritten: number;
  bytesWritten: number;
  rowsRead: number;
}

export interface IncrementalFigures {
  table: string;
  rows: number;
  changed: number;
  deleted: number;
  full: RunFigures;
  incremental: RunFigures;
  /** The incremental run's bytes read (Postgres and lake) over the full run's. */
  shareOfFullBytes: number;
}

/** Every file under a folder with its size. */
async function filesUnder(folder: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  const walk = async (dir: string) => {
    for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) await walk(path);
      else out.set(path, (await stat(path)).size);
    }
  };
  await walk(folder);
  return out;
}

export async function measureIncremental(options: { url: string; rows: number; work: string; log: (line: string) => void }): Promise<IncrementalFigures> {
  const { rows, log } = options;
  const client = new pg.Client(options.url);
  await client.connect();
  const proxy = await countingProxy(options.url);
  const dest = join(options.work, 'incremental-lake');
  try {
    log(`pgsip bench: creating ${MUTABLE_TABLE} with ${rows.toLocaleString('en-US')} rows...`);
    await createOrdersShape(client, MUTABLE_TABLE, rows, { updatedAt: true });

    const measure = async (): Promise<{ figures: RunFigures; summary: RunSummary }> => {
      const before = await filesUnder(dest);
      const fromServer = proxy.bytesFromServer;
      let lake: CountingDestination | null = null;
      const started = process.hrtime.bigint();
      const summary = await runExport(
        { databaseUrl: proxy.url, tables: MUTABLE_TABLE, dest, shards: 'auto', concurrency: '4', compression: 'snappy', quiet: true, tableFormat: 'iceberg', incremental: 'updated_at', deletes: 'keyset' } as never,
        () => {},
        undefined,
        { destination: (d) => (lake = new CountingDestination(d)) },
      );
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const after = await filesUnder(dest);
      const added = [...after].filter(([path]) => !before.has(path));
      return {
        summary,
        figures: {
          seconds,
          postgresBytes: proxy.bytesFromServer - fromServer,
          lakeBytes: (lake as CountingDestination | null)?.bytesRead ?? 0,
          filesWritten: added.length,
          bytesWritten: added.reduce((n, [, size]) => n + size, 0),
          rowsRead: summary.commit.tables.reduce((n, t) => n + t.rows, 0),
        },
      };
    };

    log('pgsip bench: incremental table, full run (the first run of --incremental updated_at --deletes keyset)...');
    const full = await measure();
    if (full.figures.rowsRead !== rows) throw new Error(`the full run read ${full.figures.rowsRead} rows, expected ${rows}`);
    const changed = (await client.query(`UPDATE ${MUTABLE_TABLE} SET amount = amount + 1, note = 'changed', updated_at = clock_timestamp() WHERE id % 100 = 37`)).rowCount ?? 0;
    const deleted = (await client.query(`DELETE FROM ${MUTABLE_TABLE} WHERE id % 1000 = 501`)).rowCount ?? 0;
    await client.query(`VACUUM ANALYZE ${MUTABLE_TABLE}`);
    log(`pgsip bench: incremental table, ${changed.toLocaleString('en-US')} rows updated and ${deleted.toLocaleString('en-US')} deleted; the incremental run...`);
    const incremental = await measure();
    const iceberg = incremental.summary.commit.tables[0]?.iceberg;
    if (iceberg?.changed !== changed || iceberg?.deleted !== deleted) {
      throw new Error(`the incremental run replaced ${iceberg?.changed} changed rows and deleted ${iceberg?.deleted}; expected ${changed} and ${deleted}`);
    }
    const read = (f: RunFigures) => f.postgresBytes + f.lakeBytes;
    return { table: MUTABLE_TABLE, rows, changed, deleted, full: full.figures, incremental: incremental.figures, shareOfFullBytes: read(incremental.figures) / read(full.figures) };
  } finally {
    await proxy.close();
    await client.query(`DROP TABLE IF EXISTS ${MUTABLE_TABLE}`).catch(() => {});
    await client.end();
  }
}
