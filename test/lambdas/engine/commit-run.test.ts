/**
 * Commit, in-process: what it refuses and what it points `_latest.json` at.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningPostgres, startEmbeddedPostgres } from '../../../bin/local/embedded-postgres';
import { commitRun } from '../../../lambdas/engine/commit-run';
import { connect, targetFromUrl } from '../../../lambdas/engine/postgres/connection';
import type { PlanResult } from '../../../lambdas/engine/contracts';
import { LocalFolderDestination } from '../../../lambdas/engine/destinations/local-folder';
import { readShardList } from '../../../lambdas/engine/run/documents';
import { type EngineEnvironment, silentLog } from '../../../lambdas/engine/environment';
import { exportShard } from '../../../lambdas/engine/export-shard';
import { planRun } from '../../../lambdas/engine/plan-run';

let postgres: RunningPostgres;
let work: string;
let env: EngineEnvironment;

beforeAll(async () => {
  postgres = await startEmbeddedPostgres();
  work = await mkdtemp(join(tmpdir(), 'pgsip-commit-'));
  const target = targetFromUrl(postgres.url);
  env = { destination: new LocalFolderDestination(work), connect: (name) => connect(target, { applicationName: name }), log: silentLog };
  const client = new pg.Client(postgres.url);
  await client.connect();
  await client.query(`CREATE TABLE public.t (id bigint PRIMARY KEY); INSERT INTO public.t SELECT generate_series(1, 300);`);
  await client.end();
});
afterAll(async () => {
  await postgres?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

const plan = (runId: string) => planRun({ input: { tables: ['public.t'], shards: 3, runId } }, env);
const commit = (p: PlanResult) => commitRun({ runId: p.runId }, env);
const shards = (p: PlanResult) => readShardList(env.destination, p.items);
const latest = async () => JSON.parse((await env.destination.get('public/t/_latest.json'))!.toString()) as { runId: string };

describe('commit', () => {
  it('refuses a run with a shard that did not finish, and commits nothing', async () => {
    const p = await plan('unfinished');
    const tasks = await shards(p);
    await exportShard(tasks[0], env);
    await exportShard(tasks[2], env);
    await expect(commit(p)).rejects.toThrow('table "public"."t": shard 1 of 3 did not finish; nothing committed');
    expect(await env.destination.get('public/t/run=unfinished/_manifest.json')).toBeNull();
    expect(await env.destination.get('public/t/run=unfinished/_SUCCESS')).toBeNull();
  });

  it('keeps _latest.json on the newest planned run when an older run commits after it', async () => {
    const older = await plan('older');
    await new Promise((ok) => setTimeout(ok, 5));
    const newer = await plan('newer');
    for (const task of [...(await shards(older)), ...(await shards(newer))]) await exportShard(task, env);
    await commit(newer);
    expect((await latest()).runId).toBe('newer');
    await commit(older);
    expect((await latest()).runId).toBe('newer');
    expect(await env.destination.get('public/t/run=older/_SUCCESS')).not.toBeNull();
  });
});
