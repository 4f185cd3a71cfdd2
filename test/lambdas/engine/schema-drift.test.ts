/**
 * A table that changes shape between Plan and Export must not produce a run that mixes two shapes: Export
 * refuses, naming the column, and re-planning the same run id refuses too.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type RunningPostgres, startEmbeddedPostgres } from '../../../bin/local/embedded-postgres';
import { connect, targetFromUrl } from '../../../lambdas/engine/postgres/connection';
import { LocalFolderDestination } from '../../../lambdas/engine/destinations/local-folder';
import { type EngineEnvironment, silentLog } from '../../../lambdas/engine/environment';
import { exportShard } from '../../../lambdas/engine/export-shard';
import { planRun } from '../../../lambdas/engine/plan-run';
import { readShardList } from '../../../lambdas/engine/run/documents';

let postgres: RunningPostgres;
let work: string;
let env: EngineEnvironment;

async function sql(text: string) {
  const client = new pg.Client(postgres.url);
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

beforeAll(async () => {
  postgres = await startEmbeddedPostgres();
  work = await mkdtemp(join(tmpdir(), 'pgsip-drift-'));
  const target = targetFromUrl(postgres.url);
  env = { destination: new LocalFolderDestination(work), connect: (name) => connect(target, { applicationName: name }), log: silentLog };
});
afterAll(async () => {
  await postgres?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});
beforeEach(async () => {
  await sql(`DROP TABLE IF EXISTS public.t; CREATE TABLE public.t (id bigint PRIMARY KEY, a text, b integer);
             INSERT INTO public.t SELECT g, 'x', g FROM generate_series(1, 100) g;`);
});

describe('a table that changes between Plan and Export', () => {
  it.each([
    ['ALTER TABLE public.t ADD COLUMN c date', 'column "c" was added after the run was planned'],
    ['ALTER TABLE public.t DROP COLUMN a', 'column "a" was dropped after the run was planned'],
    ['ALTER TABLE public.t ALTER COLUMN b TYPE bigint', 'column "b" changed type from integer to bigint after the run was planned'],
  ])('%s: Export refuses, naming the column, and writes nothing', async (ddl, message) => {
    const runId = `drift-${Math.random().toString(16).slice(2, 8)}`;
    const plan = await planRun({ input: { tables: ['public.t'], shards: 1, runId } }, env);
    await sql(ddl);
    const [task] = await readShardList(env.destination, plan.items);
    await expect(exportShard(task, env)).rejects.toThrow(`table "public"."t": ${message}`);
    const written = await env.destination.list(`public/t/run=${runId}/`);
    expect(written).toEqual([`public/t/run=${runId}/_plan.json`]);
  });

  it('re-planning a run id after the table changed is refused', async () => {
    await planRun({ input: { tables: ['public.t'], shards: 2, runId: 'replanned' } }, env);
    await sql('ALTER TABLE public.t ADD COLUMN c date');
    await expect(planRun({ input: { tables: ['public.t'], shards: 2, runId: 'replanned' } }, env)).rejects.toThrow(
      'run replanned of "public"."t" was planned with other columns; the table changed since, so start a new run id',
    );
  });
});
