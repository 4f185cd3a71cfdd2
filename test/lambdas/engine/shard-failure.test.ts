/**
 * A failed shard's error is a contract: its `name` decides whether the state machine retries it (the ASL
 * matches names, not classes), and its message must name the table and shard. The Postgres errors here are
 * real ones, raised by a real server.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningPostgres, startEmbeddedPostgres } from '../../../bin/local/embedded-postgres';
import { LocalFolderDestination } from '../../../lambdas/engine/destinations/local-folder';
import { exportShard } from '../../../lambdas/engine/export-shard';
import { silentLog } from '../../../lambdas/engine/environment';
import * as errors from '../../../lambdas/engine/errors';
import { planRun } from '../../../lambdas/engine/plan-run';
import { connect, targetFromUrl } from '../../../lambdas/engine/postgres/connection';
import { explainShardFailure } from '../../../lambdas/engine/shard-failure';
import { readShardList } from '../../../lambdas/engine/run/documents';
import { SHARD_RETRYABLE_ERROR } from '../../../lib/export-state-machine';
import { synthesizeDefinition } from '../../../lib/state-machine-definition';
import { allStates } from '../../support/definition-states';

let postgres: RunningPostgres;
const context = { table: '"public"."t"', shard: 3, statementTimeoutMs: 100, lockTimeoutMs: 100 };

/** The error a real server raises for `sql` (run after `setup`, on a fresh connection). */
async function serverError(sql: string, setup = ''): Promise<unknown> {
  const client = new pg.Client(postgres.url);
  client.on('error', () => {});
  await client.connect();
  try {
    if (setup) await client.query(setup);
    await client.query(sql);
    throw new Error(`expected ${sql} to fail`);
  } catch (error) {
    return error;
  } finally {
    await client.end().catch(() => {});
  }
}

beforeAll(async () => {
  postgres = await startEmbeddedPostgres();
  const client = new pg.Client(postgres.url);
  await client.connect();
  await client.query(`CREATE TABLE public.t (id int PRIMARY KEY); CREATE ROLE nobody LOGIN PASSWORD 'x'`);
  await client.end();
});
afterAll(async () => {
  await postgres?.stop();
});

describe('error names are literal and form one hierarchy', () => {
  it('every error class pgsip exports is a PgsipError whose name is its class name', () => {
    const classes = Object.entries(errors).filter(([, v]) => typeof v === 'function') as [string, new (...a: never[]) => Error][];
    expect(classes.length).toBeGreaterThan(10);
    for (const [exported, Class] of classes) {
      const instance = exported === 'ConfigError' ? new errors.ConfigError('f', 'p') : exported === 'ValueRefusedError' ? new errors.ValueRefusedError('c', 'd') : new (Class as unknown as new (m: string) => Error)('m');
      expect(instance, exported).toBeInstanceOf(errors.PgsipError);
      expect(instance.name, exported).toBe(exported);
    }
  });

  it('the state machine retries exactly the error Export raises for transient faults', () => {
    expect(new errors.ShardRetryableError('x').name).toBe(SHARD_RETRYABLE_ERROR);
    const { definition } = synthesizeDefinition();
    // The tasks are nested: Run's branches, the Maps' processors.
    const states = allStates(definition);
    const retriedBy = (name: string) => (states[name].Retry as { ErrorEquals: string[] }[]).flatMap((r) => r.ErrorEquals);
    const retried = retriedBy('ExportShard');
    expect(retried).toContain(SHARD_RETRYABLE_ERROR);
    // Nothing that a retry cannot fix is retried.
    for (const name of ['ValueRefusedError', 'SchemaChangedError', 'StatementTimeoutError', 'CountMismatchError', 'InputError', 'SourceError', 'InterruptedError']) {
      expect(retried).not.toContain(name);
    }
    // Only ExportShard retries ShardRetryableError; every Task retries Lambda's transient errors.
    const tasks = Object.keys(states).filter((name) => states[name].Type === 'Task');
    expect(tasks.filter((name) => retriedBy(name).includes(SHARD_RETRYABLE_ERROR))).toEqual(['ExportShard']);
    // Plan is retried on Lambda's transient errors only: a locked table fails the run at once (errors.ts).
    expect(retriedBy('Plan')).not.toContain(new errors.TableLockedError('x').name);
    // A holder that lost the snapshot is not retried either: the snapshot it held is gone.
    expect(retriedBy('Hold')).not.toContain(new errors.SnapshotGoneError('x').name);
  });
});

describe('a failed shard names what happened', () => {
  it('a terminated backend (failover, pg_terminate_backend) is retryable, naming table and shard', async () => {
    const error = await serverError('SELECT pg_terminate_backend(pg_backend_pid())');
    // node-postgres's DatabaseError is named 'error': it must not pass as already classified.
    expect((error as Error).name).toBe('error');
    const explained = explainShardFailure(error, context);
    expect(explained.name).toBe('ShardRetryableError');
    expect(explained.message).toMatch(/^table "public"\."t" shard 3: terminating connection due to administrator command \(SQLSTATE 57P01\)$/);
  });

  it('a lock not granted within lock_timeout is retryable and says so', async () => {
    const holder = new pg.Client(postgres.url);
    await holder.connect();
    await holder.query('BEGIN; LOCK TABLE public.t IN ACCESS EXCLUSIVE MODE');
    try {
      const error = await serverError('SELECT count(*) FROM public.t', 'SET lock_timeout = 100');
      const explained = explainShardFailure(error, context);
      expect(explained.name).toBe('ShardRetryableError');
      expect(explained.message).toBe('table "public"."t" shard 3: no lock on the table within lock_timeout (100 ms); is DDL running?');
    } finally {
      await holder.end();
    }
  });

  it('a read past statement_timeout is not retried (it would time out again)', async () => {
    const error = await serverError('SELECT pg_sleep(5)', 'SET statement_timeout = 100');
    const explained = explainShardFailure(error, context);
    expect(explained.name).toBe('StatementTimeoutError');
    expect(explained.message).toMatch(/^table "public"\."t" shard 3: reading took longer than statement_timeout \(100 ms\)/);
  });

  it('a permission the source refuses is a SourceError with its SQLSTATE', async () => {
    const url = postgres.url.replace('postgres:pgsip-local@', 'nobody:x@');
    const client = new pg.Client(url);
    await client.connect();
    const error = await client.query('SELECT * FROM public.t').then(
      () => null,
      (e: unknown) => e,
    );
    await client.end();
    const explained = explainShardFailure(error, context);
    expect(explained.name).toBe('SourceError');
    expect(explained.message).toBe('table "public"."t" shard 3: permission denied for table t (SQLSTATE 42501)');
  });

  it('a socket reset and a connection node-postgres saw end are retryable', () => {
    const reset = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET', syscall: 'read' });
    expect(explainShardFailure(reset, context).name).toBe('ShardRetryableError');
    expect(explainShardFailure(new Error('Connection terminated unexpectedly'), context).name).toBe('ShardRetryableError');
  });

  it('a full disk names the path; a throttled destination is retryable, a forbidden one is not', () => {
    const full = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', syscall: 'write', path: '/lake/public/t/part-1.parquet' });
    const explained = explainShardFailure(full, context);
    expect(explained.name).toBe('DestinationError');
    expect(explained.message).toBe('table "public"."t" shard 3: cannot write /lake/public/t/part-1.parquet: ENOSPC (no space left on the device)');
    const slowDown = Object.assign(new Error('Please reduce your request rate.'), { name: 'SlowDown', $metadata: { httpStatusCode: 503 } });
    expect(explainShardFailure(slowDown, context).name).toBe('ShardRetryableError');
    const denied = Object.assign(new Error('Access Denied'), { name: 'AccessDenied', $metadata: { httpStatusCode: 403 } });
    expect(explainShardFailure(denied, context).message).toBe('table "public"."t" shard 3: the destination answered AccessDenied (HTTP 403): Access Denied');
  });

  it('a refused value learns the table; pgsip errors pass unchanged', () => {
    const refused = explainShardFailure(new errors.ValueRefusedError('price', 'NaN cannot be stored'), context);
    expect(refused.name).toBe('ValueRefusedError');
    expect(refused.message).toBe('table "public"."t", column "price": NaN cannot be stored');
    const changed = new errors.SchemaChangedError('table "public"."t": column "c" was added');
    expect(explainShardFailure(changed, context)).toBe(changed);
  });
});

describe('what Export itself raises', () => {
  it('NaN in a numeric(10,2) column is a ValueRefusedError naming table and column, and nothing is recorded', async () => {
    const client = new pg.Client(postgres.url);
    await client.connect();
    await client.query(`CREATE TABLE public.prices (id int PRIMARY KEY, "Price ü" numeric(10,2)); INSERT INTO public.prices VALUES (1, 1.5), (2, 'NaN')`);
    await client.end();
    const work = await mkdtemp(join(tmpdir(), 'pgsip-failure-'));
    try {
      const target = targetFromUrl(postgres.url);
      const env = { destination: new LocalFolderDestination(work), connect: (name: string) => connect(target, { applicationName: name }), log: silentLog };
      const plan = await planRun({ input: { tables: ['public.prices'], shards: 1, runId: 'nan' } }, env);
      const [task] = await readShardList(env.destination, plan.items);
      const error = await exportShard(task, env).then(
        () => null,
        (e: unknown) => e as errors.ValueRefusedError,
      );
      expect(error?.name).toBe('ValueRefusedError');
      expect(error?.column).toBe('Price ü');
      expect(error?.message).toBe(
        'table "public"."prices", column "Price ü": numeric value NaN cannot be stored in Parquet DECIMAL(10,2); only unconstrained numeric columns (exported as text) keep NaN and infinities',
      );
      expect(await env.destination.list('public/prices/run=nan/')).toEqual(['public/prices/run=nan/_plan.json']);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });
});

