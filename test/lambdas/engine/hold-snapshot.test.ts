/**
 * The snapshot holders, engine calls against a real Postgres and a real folder destination: a hand-over from
 * one generation to the next keeps the moment; a shard that reads the file just before a hand-over imports the
 * successor's id; a holder that fails tells whoever waits on it, under its own error's name and message; a
 * retried first holder refuses to take a second moment; a holder nobody releases lets go on its own.
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
import { ConnectionError, PgsipError, SnapshotGoneError, TableLockedError } from '../../../lambdas/engine/errors';
import { holdSnapshot, releaseSnapshot } from '../../../lambdas/engine/hold-snapshot';
import { planRun } from '../../../lambdas/engine/plan-run';
import { connect, targetFromUrl } from '../../../lambdas/engine/postgres/connection';
import { awaitHeldSnapshot, beginOnHeldSnapshot, readHeldSnapshot } from '../../../lambdas/engine/run/held-snapshot';
import { failedHolderKey, heldSnapshotKey } from '../../../lambdas/engine/run/layout';
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

/** A session holding ACCESS EXCLUSIVE on `table` until `release()`, named `migration` in pg_stat_activity. */
async function lockTable(table: string): Promise<{ release(): Promise<void> }> {
  const holder = new pg.Client({ connectionString: postgres.url, application_name: 'migration' });
  await holder.connect();
  await holder.query(`BEGIN; LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`);
  return {
    async release() {
      await holder.query('ROLLBACK');
      await holder.end();
    },
  };
}

/** An environment whose holders cannot connect: `connect` throws `error`. */
const failingToConnect = (name: string, error: Error) =>
  environment(name, {
    connect: async () => {
      throw error;
    },
  });

/** What a waiter threw (or what a call resolved to, to fail the expectations that follow). */
const caught = (promise: Promise<unknown>) => promise.then((value) => ({ resolved: value }) as unknown as Error, (error: unknown) => error as Error);

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
    // The holder sees its own document, not the test's edits below: taking the edited generation 1 for a
    // successor, it would let go (and its snapshot with it) at its next look, before the reader imports.
    let own: Buffer | null = null;
    const holderView = Object.create(env.destination) as typeof env.destination;
    holderView.put = async (key: string, body: string | Uint8Array) => {
      if (key === heldSnapshotKey('x2')) own = Buffer.from(body);
      return env.destination.put(key, body);
    };
    holderView.get = async (key: string) => (key === heldSnapshotKey('x2') && own ? own : env.destination.get(key));
    const holding = holdSnapshot({ action: 'hold', generation: 0, input, executionName: 'x2' }, { ...env, destination: holderView });
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
    // Released while it held: it never let go before.
    await expect(holding).resolves.toEqual({ action: 'hold', done: true, generation: 0 });
  });

  it('a holder that fails tells Plan and shards waiting on it why, at once, under its own error', { timeout: 60_000 }, async () => {
    const env = failingToConnect('failing', new ConnectionError('cannot connect to u@db:5432/app: connection refused'));
    await expect(holdSnapshot({ action: 'hold', generation: 0, input, executionName: 'x3' }, env)).rejects.toThrow(/connection refused/);
    const started = Date.now();
    const error = await caught(awaitHeldSnapshot(env.destination, 'x3', { pollMs: 50 }));
    expect(error).toBeInstanceOf(ConnectionError);
    expect([error.name, error.message]).toEqual(['ConnectionError', 'cannot connect to u@db:5432/app: connection refused']);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('a holder whose horizon reading meets a lock fails Plan with its TableLockedError naming the table, not SnapshotGoneError', { timeout: 60_000 }, async () => {
    const env = environment('locked', { tuning: { snapshotPollMs: 50, horizonSettleMs: 0 } });
    const incremental: ExecutionInput = { ...input, incremental: { 'public.t': { cursor: 'id' } }, lockTimeoutMs: 300 };
    const expected = 'table "public"."t" is locked by another session: no lock within lock_timeout (300 ms) to read its cursor; run again once it is done';
    const lock = await lockTable('public.t');
    try {
      // As the state machine runs them: the holder and Plan at once; Plan waits for the holder to publish.
      const [holder, plan] = await Promise.all([
        caught(holdSnapshot({ action: 'hold', generation: 0, input: incremental, executionName: 'x9' }, env)),
        caught(planRun({ input: incremental, executionName: 'x9' }, env)),
      ]);
      for (const error of [holder, plan]) {
        expect(error).toBeInstanceOf(TableLockedError);
        expect([error.name, error.message]).toEqual(['TableLockedError', expected]);
      }
      // A shard (or Plan run again) that comes later learns the same.
      const later = await caught(countInHeldSnapshot(env, 'x9'));
      expect([later.name, later.message]).toEqual(['TableLockedError', expected]);
      // What the holder wrote: its error's name and message, nothing more.
      expect(JSON.parse(String(await env.destination.get(failedHolderKey('x9'))))).toEqual({ generation: 0, name: 'TableLockedError', message: expected });
    } finally {
      await lock.release();
    }
    expect(await holderSessions()).toEqual([]);
  });

  it('a holder that fails under a name pgsip does not know passes that name on; names of the platform are not passed on', { timeout: 60_000 }, async () => {
    const env = failingToConnect('foreign', Object.assign(new Error('something odd happened'), { name: 'OddError' }));
    await expect(holdSnapshot({ action: 'hold', generation: 0, input, executionName: 'x10' }, env)).rejects.toThrow(/something odd/);
    const error = await caught(awaitHeldSnapshot(env.destination, 'x10', { pollMs: 50 }));
    expect(error).toBeInstanceOf(PgsipError);
    expect([error.name, error.message]).toEqual(['OddError', 'something odd happened']);

    // `States.*`, `Lambda.*` and the like are Step Functions' own: a reader must not be retried or caught as one.
    const platform = failingToConnect('platform', Object.assign(new Error('invoke timed out'), { name: 'Lambda.Unknown' }));
    await expect(holdSnapshot({ action: 'hold', generation: 0, input, executionName: 'x11' }, platform)).rejects.toThrow(/timed out/);
    const gone = await caught(awaitHeldSnapshot(platform.destination, 'x11', { pollMs: 50 }));
    expect(gone).toBeInstanceOf(SnapshotGoneError);
    expect(gone.message).toBe('the snapshot of execution x11 cannot be read: its holder failed: holder 0: Lambda.Unknown: invoke timed out');
  });

  it("a shard whose import fails after the next holder failed raises that holder's error", { timeout: 60_000 }, async () => {
    const env = failingToConnect('failed-takeover', new ConnectionError('cannot connect to u@db:5432/app: too many connections for role "u"'));
    // Generation 0's document, its deadline reached: generation 1 takes over at once, and cannot connect.
    await env.destination.put(heldSnapshotKey('x12'), JSON.stringify({ version: 1, execution: 'x12', runId: 'h', origin: '0000000F-0000FFFF-1', generation: 0, snapshot: '0000000F-0000FFFF-1', deadline: new Date().toISOString(), horizon: null }));
    await expect(holdSnapshot({ action: 'hold', generation: 1, input, executionName: 'x12' }, env)).rejects.toThrow(/too many connections/);
    const error = await caught(countInHeldSnapshot(environment('failed-takeover'), 'x12'));
    expect(error).toBeInstanceOf(ConnectionError);
    expect(error.message).toBe('cannot connect to u@db:5432/app: too many connections for role "u"');
  });

  it('an empty failed file, or one written by an earlier version, still fails its readers with SnapshotGoneError', async () => {
    const env = environment('earlier');
    await env.destination.put(failedHolderKey('x13'), '');
    const empty = await caught(awaitHeldSnapshot(env.destination, 'x13', { pollMs: 50 }));
    expect(empty).toBeInstanceOf(SnapshotGoneError);
    expect(empty.message).toMatch(/^the snapshot of execution x13 cannot be read: its holder failed/);
    await env.destination.put(failedHolderKey('x14'), 'holder 0: cannot connect to u@db:5432/app: connection refused');
    const error = await caught(awaitHeldSnapshot(env.destination, 'x14', { pollMs: 50 }));
    expect(error).toBeInstanceOf(SnapshotGoneError);
    expect(error.message).toBe('the snapshot of execution x14 cannot be read: its holder failed: holder 0: cannot connect to u@db:5432/app: connection refused');
  });

  it('a holder writes one line of its message and no password', { timeout: 60_000 }, async () => {
    const env = failingToConnect('secret', new Error('cannot use postgres://u:hunter2@db:5432/app\n  at a stack line'));
    await expect(holdSnapshot({ action: 'hold', generation: 0, input, executionName: 'x15' }, env)).rejects.toThrow();
    const written = String(await env.destination.get(failedHolderKey('x15')));
    expect(written).not.toContain('hunter2');
    expect(JSON.parse(written)).toEqual({ generation: 0, name: 'Error', message: 'cannot use postgres://u:***@db:5432/app' });
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
