/**
 * The snapshot holders, engine calls against a real Postgres and a real folder destination: a hand-over from
 * one generation to the next keeps the moment; a shard that reads the file just before a hand-over imports the
 * successor's id; a holder that fails tells whoever waits on it; a retried first holder refuses to take a
 * second moment; a holder nobody releases lets go on its own.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningPostgres, startEmbeddedPostgres } from '../../../bin/local/embedded-postgres';
import type { ExecutionInput, HeldSnapshotDocument } from '../../../lambdas/engine/contracts';
import { LocalFolderDestination } from '../../../lambdas/engine/destinations/local-folder';
import { type EngineEnvironment, silentLog } from '../../../lambdas/engine/environment';
import { holdSnapshot, releaseSnapshot } from '../../../lambdas/engine/hold-snapshot';
import { connect, targetFromUrl } from '../../../lambdas/engine/postgres/connection';
import { awaitHeldSnapshot, beginOnHeldSnapshot, readHeldSnapshot } from '../../../lambdas/engine/run/held-snapshot';
import { heldSnapshotKey } from '../../../lambdas/engine/run/layout';
import { queryRows, sessionsLike } from '../../support/postgres-queries';

let postgres: RunningPostgres;
let work: string;
const input: ExecutionInput = { tables: ['public.t'], runId: 'h' };

function environment(name: string, extra: Partial<EngineEnvironment> = {}): EngineEnvironment {
  const target = targetFromUrl(postgres.url);
  return {
    destination: new LocalFolderDestination(join(work, name)),
    connect: (applicationName) => connect(target, { applicationName }),
    log: silentLog,
    tuning: { snapshotPollMs: 50 },
    ...extra,
  };
}

const sql = <T extends pg.QueryResultRow = pg.QueryResultRow>(text: string) => queryRows<T>(postgres.url, text);

/** The holder sessions of run h, once they are `expected` (a backend just closed takes a moment to leave). */
const holderSessions = (expected: string[] = []) => sessionsLike(postgres.url, 'pgsip h holder %', expected);

/** Reads `SELECT count(*)` of public.t in the held snapshot, on a connection of its own. */
async function countInHeldSnapshot(env: EngineEnvironment, execution: string): Promise<{ n: number; held: HeldSnapshotDocument }> {
  const client = await env.connect('reader');
  try {
    const held = await beginOnHeldSnapshot(client, env.destination, execution, { pollMs: 50 });
    const n = Number((await client.query<{ n: string }>('SELECT count(*)::text AS n FROM public.t')).rows[0].n);
    await client.query('COMMIT');
    return { n, held };
  } finally {
    await client.end();
  }
}

beforeAll(async () => {
  postgres = await startEmbeddedPostgres();
  work = await mkdtemp(join(tmpdir(), 'pgsip-holder-'));
  await sql('CREATE TABLE public.t (id int PRIMARY KEY); INSERT INTO public.t SELECT generate_series(1, 100)');
}, 120_000);

afterAll(async () => {
  await postgres?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('snapshot holders', () => {
  it('hand the snapshot over: generation 1 imports and re-exports it, generation 0 lets go, and both read one moment', { timeout: 60_000 }, async () => {
    const env = environment('handover', { snapshotHolderSeconds: 1 });
    const first = holdSnapshot({ action: 'hold', generation: 0, input, executionName: 'x1' }, env);
    const second = holdSnapshot({ action: 'hold', generation: 1, input, executionName: 'x1' }, env);
    const before = await countInHeldSnapshot(env, 'x1');
    await sql('INSERT INTO public.t SELECT generate_series(101, 150)');
    // Generation 0 hands over within its lifetime (1 s, successor at 0.75 s) and answers its loop's next.
    await expect(first).resolves.toEqual({ action: 'hold', done: false, generation: 2, input });
    const after = await countInHeldSnapshot(env, 'x1');
    expect(after.held).toMatchObject({ generation: 1, origin: before.held.origin });
    expect(after.held.snapshot).not.toBe(before.held.snapshot);
    expect([before.n, after.n]).toEqual([100, 100]);
    expect(await holderSessions(['pgsip h holder 1'])).toEqual(['pgsip h holder 1']);
    await releaseSnapshot({ action: 'release', executionName: 'x1' }, env);
    await expect(second).resolves.toEqual({ action: 'hold', done: true, generation: 1 });
    await sql('DELETE FROM public.t WHERE id > 100');
  });

  it('a reader that read the file just before a hand-over imports the successor it finds on reading again', { timeout: 60_000 }, async () => {
    const env = environment('race');
    const holding = holdSnapshot({ action: 'hold', generation: 0, input, executionName: 'x2' }, env);
    const live = await awaitHeldSnapshot(env.destination, 'x2', { pollMs: 50 });
    // The file names a generation whose transaction has ended; the real holder is published as the next one
    // at the moment the reader has read the file (between its reading and its import).
    const gone = { ...live, generation: 0, snapshot: '0000000F-0000FFFF-1' };
    const handedOver = { ...live, generation: 1 };
    await env.destination.put(heldSnapshotKey('x2'), JSON.stringify(gone));
    let reads = 0;
    const destination = Object.create(env.destination) as typeof env.destination;
    destination.get = async (key: string) => {
      const body = await env.destination.get(key);
      if (key === heldSnapshotKey('x2') && reads++ === 0) await env.destination.put(key, JSON.stringify(handedOver));
      return body;
    };
    const client = await env.connect('reader');
    try {
      const held = await beginOnHeldSnapshot(client, destination, 'x2', { pollMs: 50 });
      expect(held.generation).toBe(1);
      expect((await client.query('SELECT count(*)::text AS n FROM public.t')).rows[0].n).toBe('100');
    } finally {
      await client.end();
    }
    await releaseSnapshot({ action: 'release', executionName: 'x2' }, env);
    await holding;
  });

  it('a holder that fails tells Plan and shards waiting on it why, at once', { timeout: 60_000 }, async () => {
    const env = environment('failing', {
      connect: async () => {
        throw Object.assign(new Error('cannot connect to u@db:5432/app: connection refused'), { name: 'ConnectionError' });
      },
    });
    await expect(holdSnapshot({ action: 'hold', generation: 0, input, executionName: 'x3' }, env)).rejects.toThrow(/connection refused/);
    const started = Date.now();
    await expect(awaitHeldSnapshot(env.destination, 'x3', { pollMs: 50 })).rejects.toThrow(
      /^the snapshot of execution x3 cannot be read: its holder failed: holder 0: cannot connect to u@db:5432\/app: connection refused$/,
    );
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('a first holder run again after it published refuses to take a second moment', { timeout: 60_000 }, async () => {
    const env = environment('retried', { snapshotHolderSeconds: 1 });
    await env.destination.put(heldSnapshotKey('x4'), JSON.stringify({ version: 1, execution: 'x4', runId: 'h', origin: '3-1', generation: 0, snapshot: '3-1', deadline: new Date().toISOString(), horizon: null }));
    await expect(holdSnapshot({ action: 'hold', generation: 0, input, executionName: 'x4' }, env)).rejects.toThrow(/took the snapshot once already and ended/);
  });

  it('a generation retried after its successor took over goes on with the next of its loop, and one retried while it held fails', async () => {
    const env = environment('passed');
    const doc = (generation: number) => JSON.stringify({ version: 1, execution: 'x7', runId: 'h', origin: '3-1', generation, snapshot: '3-1', deadline: new Date(Date.now() + 60_000).toISOString(), horizon: null });
    await env.destination.put(heldSnapshotKey('x7'), doc(2));
    await expect(holdSnapshot({ action: 'hold', generation: 1, input, executionName: 'x7' }, env)).resolves.toEqual({ action: 'hold', done: false, generation: 3, input });
    await expect(holdSnapshot({ action: 'hold', generation: 2, input, executionName: 'x7' }, env)).rejects.toThrow(/took over once already and ended: the snapshot is gone/);
  });

  it('bounds its deadline by the time its invocation has left', { timeout: 60_000 }, async () => {
    const env = environment('bounded');
    const holding = holdSnapshot({ action: 'hold', generation: 0, input, executionName: 'x8' }, env, () => 45_000);
    const held = await awaitHeldSnapshot(env.destination, 'x8', { pollMs: 50 });
    // 45 s left, a 30 s margin after the deadline and 10 s to spare: a deadline about 5 s away, not 360 s.
    const ahead = Date.parse(held.deadline) - Date.now();
    expect(ahead).toBeGreaterThan(1000);
    expect(ahead).toBeLessThanOrEqual(5000);
    await releaseSnapshot({ action: 'release', executionName: 'x8' }, env);
    await holding;
  });

  it('a holder nobody releases and nobody succeeds lets go a margin after its deadline (an execution stopped from outside), and its loop ends loudly', { timeout: 60_000 }, async () => {
    const env = environment('abandoned', { snapshotHolderSeconds: 1 });
    const started = Date.now();
    await expect(holdSnapshot({ action: 'hold', generation: 0, input, executionName: 'x5' }, env)).resolves.toMatchObject({ done: false, generation: 2 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(1250);
    expect(await holderSessions()).toEqual([]);
    expect(await readHeldSnapshot(env.destination, 'x5')).toMatchObject({ generation: 0 });
    // The next of its loop finds the chain broken and says so (an execution still running would fail here).
    await expect(holdSnapshot({ action: 'hold', generation: 2, input, executionName: 'x5' }, env)).rejects.toThrow(/found holder 0 past its deadline and no holder 1: the snapshot is gone/);
  });

  it('holds nothing when the run asks for none or brings its own snapshot', async () => {
    const env = environment('none');
    await expect(holdSnapshot({ action: 'hold', generation: 0, input: { ...input, holdSnapshot: false }, executionName: 'x6' }, env)).resolves.toEqual({ action: 'hold', done: true, generation: 0 });
    await expect(holdSnapshot({ action: 'hold', generation: 1, input: { ...input, snapshot: '00000003-0000001B-1' }, executionName: 'x6' }, env)).resolves.toEqual({ action: 'hold', done: true, generation: 1 });
    expect(await readHeldSnapshot(env.destination, 'x6')).toBeNull();
  });
});
