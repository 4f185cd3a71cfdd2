/**
 * The incremental row of `pgsip bench` (bin/local/bench/incremental-run.ts), on a small table: its figures are
 * counted, not estimated. Bytes from Postgres pass through the counting relay, bytes from the lake through the
 * counting destination, and the runs it measures are real runs whose upserts and deletes it checks.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { measureIncremental } from '../../bin/local/bench/incremental-run';
import { type RunningPostgres, startEmbeddedPostgres } from '../../bin/local/embedded-postgres';

let postgres: RunningPostgres;
let work: string;

beforeAll(async () => {
  postgres = await startEmbeddedPostgres();
  work = await mkdtemp(join(tmpdir(), 'pgsip-bench-incremental-'));
}, 120_000);

afterAll(async () => {
  await postgres?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

it('measures a full and an incremental run of a mutable Iceberg table: bytes from Postgres and from the lake, files written', async () => {
  const figures = await measureIncremental({ url: postgres.url, rows: 20_000, work, log: () => {} });
  expect(figures).toMatchObject({ rows: 20_000, changed: 200, deleted: 20 });
  // The full run reads every row from Postgres (well over 100 bytes each in this shape) and nothing of the lake
  // but run documents; the incremental run reads its 1% of the rows, its keyset, and the table's key columns.
  expect(figures.full.postgresBytes).toBeGreaterThan(20_000 * 100);
  expect(figures.full.rowsRead).toBe(20_000);
  expect(figures.incremental.rowsRead).toBeGreaterThanOrEqual(200);
  expect(figures.incremental.postgresBytes).toBeLessThan(figures.full.postgresBytes / 10);
  expect(figures.incremental.lakeBytes).toBeGreaterThan(figures.full.lakeBytes);
  expect(figures.full.filesWritten).toBeGreaterThan(0);
  expect(figures.incremental.filesWritten).toBeGreaterThan(0);
  expect(figures.shareOfFullBytes).toBeCloseTo((figures.incremental.postgresBytes + figures.incremental.lakeBytes) / (figures.full.postgresBytes + figures.full.lakeBytes), 10);
}, 180_000);
