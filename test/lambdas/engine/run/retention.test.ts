/**
 * Retention through the real phases: a run's Commit deletes the table's committed runs beyond the newest
 * `keepRuns`, only once they have been out of the newest for the grace period; uncommitted runs and the run
 * `_latest.json` names are never touched.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningPostgres, startEmbeddedPostgres } from '../../../../bin/local/embedded-postgres';
import { commitRun } from '../../../../lambdas/engine/commit-run';
import type { ExecutionInput } from '../../../../lambdas/engine/contracts';
import { LocalFolderDestination } from '../../../../lambdas/engine/destinations/local-folder';
import { type EngineEnvironment, silentLog } from '../../../../lambdas/engine/environment';
import { exportShard } from '../../../../lambdas/engine/export-shard';
import { planRun } from '../../../../lambdas/engine/plan-run';
import { connect, targetFromUrl } from '../../../../lambdas/engine/postgres/connection';
import { readDocument, readShardList } from '../../../../lambdas/engine/run/documents';
import { retireOldRuns } from '../../../../lambdas/engine/run/retention';

let postgres: RunningPostgres;
let work: string;
let env: EngineEnvironment;

async function run(runId: string, options: Partial<ExecutionInput> = {}, commit = true): Promise<void> {
  const plan = await planRun({ input: { tables: ['public.t'], shards: 1, runId, ...options } }, env);
  for (const task of await readShardList(env.destination, plan.items)) await exportShard(task, env);
  if (commit) await commitRun({ runId }, env);
}

const runsOnDisk = async () =>
  [...new Set((await env.destination.list('public/t/')).filter((k) => k.includes('/run=')).map((k) => k.split('/')[2]))].sort();
const committed = async () => (await env.destination.list('public/t/')).filter((k) => k.endsWith('/_SUCCESS')).map((k) => k.split('/')[2]).sort();

beforeAll(async () => {
  postgres = await startEmbeddedPostgres();
  work = await mkdtemp(join(tmpdir(), 'pgsip-retention-'));
  const target = targetFromUrl(postgres.url);
  env = { destination: new LocalFolderDestination(work), connect: (name) => connect(target, { applicationName: name }), log: silentLog };
  const client = new pg.Client(postgres.url);
  await client.connect();
  await client.query(`CREATE TABLE public.t (id bigint PRIMARY KEY); INSERT INTO public.t SELECT generate_series(1, 100);`);
  await client.end();
});
afterAll(async () => {
  await postgres?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('retention', () => {
  it('keeps every run by default', async () => {
    await run('a1');
    await run('a2');
    await run('a3');
    expect(await committed()).toEqual(['run=a1', 'run=a2', 'run=a3']);
  });

  it('deletes committed runs beyond the newest keepRuns once past the grace period, never an uncommitted one', async () => {
    await run('b0-unfinished', {}, false);
    await run('b1', { keepRuns: 2, retentionGraceMinutes: 0 });
    // a1, a2, a3 and b1 committed: with keepRuns 2 and no grace, b1's commit keeps a3 and b1.
    expect(await committed()).toEqual(['run=a3', 'run=b1']);
    expect(await runsOnDisk()).toEqual(['run=a3', 'run=b0-unfinished', 'run=b1']);
    expect((await readDocument(env.destination, 'latest', 'public/t/_latest.json'))?.runId).toBe('b1');
  });

  it('keeps a run that left the newest only now, for the readers still on it, and deletes it after the grace period', async () => {
    await run('c1', { keepRuns: 2, retentionGraceMinutes: 60 });
    // a3 just dropped out of the newest two (b1, c1): a query that began on a3 may still be reading it.
    expect(await committed()).toEqual(['run=a3', 'run=b1', 'run=c1']);
    // What that reader holds: a3's manifest, and every part it lists, at the size it lists.
    const manifest = await readDocument(env.destination, 'manifest', 'public/t/run=a3/_manifest.json');
    expect(manifest?.rows).toBe(100);
    for (const part of manifest!.parts) expect(await env.destination.size(`public/t/run=a3/${part.path}`)).toBe(part.bytes);
    const early = await retireOldRuns(env.destination, 'public/t/', { keepRuns: 2, graceMinutes: 60, now: new Date(Date.now() + 59 * 60_000) });
    expect(early).toEqual([]);
    const late = await retireOldRuns(env.destination, 'public/t/', { keepRuns: 2, graceMinutes: 60, now: new Date(Date.now() + 61 * 60_000) });
    expect(late.map((r) => r.runId)).toEqual(['a3']);
    expect(await committed()).toEqual(['run=b1', 'run=c1']);
  });

  it('refuses a keepRuns that is not a whole number of at least 1', async () => {
    await expect(planRun({ input: { tables: ['public.t'], keepRuns: 0 } }, env)).rejects.toThrow('"keepRuns" must be a whole number of at least 1 (got 0)');
  });
});
