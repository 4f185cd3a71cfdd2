/**
 * Faults a run meets on the way, each with a real cause: a table locked by another session (Plan and a shard),
 * a shard's backend terminated mid-COPY, a shard that keeps failing, Ctrl-C on a running `pgsip run`, and a
 * destination that runs out of space. Each ends either with every row exactly once, or with one line naming
 * what failed, no pgsip session left in Postgres and no unfinished file on the destination.
 */
import { execFile, spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runExport } from '../../bin/commands/run';
import { type DuckDB, openDuckDB, sqlString } from '../../bin/local/duckdb-reader';
import { type RunningPostgres, startEmbeddedPostgres } from '../../bin/local/embedded-postgres';
import { runLocally } from '../../bin/local/local-runner';
import type { RunManifest } from '../../lambdas/engine/contracts';
import { LocalFolderDestination } from '../../lambdas/engine/destinations/local-folder';
import { silentLog } from '../../lambdas/engine/environment';
import { connect, targetFromUrl } from '../../lambdas/engine/postgres/connection';
import { failedHolderKey } from '../../lambdas/engine/run/layout';
import { queryRows, sessionsLike } from '../support/postgres-queries';

const CLI = fileURLToPath(new URL('../../bin/pgsip.js', import.meta.url));
const EVENTS = 1_000_000;

let postgres: RunningPostgres;
let duck: DuckDB;
let work: string;

const sql = <T extends pg.QueryResultRow = pg.QueryResultRow>(text: string) => queryRows<T>(postgres.url, text);

/** A session holding ACCESS EXCLUSIVE on `table` until `release()`, named `migration` in pg_stat_activity. */
async function lockTable(table: string): Promise<{ release(): Promise<void> }> {
  const holder = new pg.Client({ connectionString: postgres.url, application_name: 'migration' });
  await holder.connect();
  await holder.query(`BEGIN; LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`);
  let released = false;
  return {
    async release() {
      if (released) return;
      released = true;
      await holder.query('ROLLBACK');
      await holder.end();
    },
  };
}

/** pgsip's sessions still in Postgres, after waiting up to `ms` for them to end. */
const pgsipSessions = (ms = 5000) => sessionsLike(postgres.url, 'pgsip %', [], ms);

async function unfinishedFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true }).catch(() => [] as string[]);
  return entries.map(String).filter((f) => /\.tmp-[0-9a-f]{8}$/.test(f));
}

/** Rows and distinct ids through the manifest, and rows through a glob of the folder (strays would show). */
async function exported(manifestPath: string) {
  const manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as RunManifest;
  const files = manifest.parts.map((p) => sqlString(join(dirname(manifestPath), p.path))).join(', ');
  const [fromManifest] = await duck.query(`SELECT count(*)::INT AS n, count(DISTINCT id)::INT AS k FROM read_parquet([${files}])`);
  const [fromGlob] = await duck.query(`SELECT count(*)::INT AS n FROM read_parquet(${sqlString(join(dirname(manifestPath), '*.parquet'))})`);
  return { manifestRows: manifest.rows, rows: fromManifest.n, distinct: fromManifest.k, globbed: fromGlob.n };
}

const localEnvironment = (dest: string, connectVia?: (name: string, open: () => Promise<pg.Client>) => Promise<pg.Client>) => {
  const target = targetFromUrl(postgres.url);
  const open = (name: string) => connect(target, { applicationName: name });
  return {
    destination: new LocalFolderDestination(dest),
    connect: (name: string) => (connectVia ? connectVia(name, () => open(name)) : open(name)),
    log: silentLog,
  };
};

beforeAll(async () => {
  [postgres, duck] = await Promise.all([startEmbeddedPostgres(), openDuckDB()]);
  work = await mkdtemp(join(tmpdir(), 'pgsip-faults-'));
  await sql(`
    CREATE TABLE public.small (id bigint PRIMARY KEY, v text);
    INSERT INTO public.small SELECT g, 'v' || g FROM generate_series(1, 1000) g;
    CREATE TABLE public.events (id bigint PRIMARY KEY, body text);
    INSERT INTO public.events SELECT g, repeat(md5(g::text), 4) FROM generate_series(1, ${EVENTS}) g;
    ANALYZE public.small, public.events;`);
});

afterAll(async () => {
  duck?.close();
  await postgres?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('a locked table', () => {
  it('fails Plan within lock_timeout with one line naming the table and the session holding it', async () => {
    const lock = await lockTable('public.small');
    const dest = join(work, 'locked-plan');
    const started = Date.now();
    try {
      const error = (await runExport({ databaseUrl: postgres.url, tables: 'public.small', dest, shards: '2', concurrency: '2', compression: 'snappy', quiet: true }, () => {}).catch(
        (e: unknown) => e,
      )) as Error;
      const seconds = (Date.now() - started) / 1000;
      expect(error.name).toBe('TableLockedError');
      expect(error.message).toMatch(
        /^table "public"\."small" is locked by another session \(pid \d+, AccessExclusiveLock, "migration", idle in transaction\): no lock within lock_timeout \(10000 ms\); run again once it is done$/,
      );
      // lock_timeout is 10 s; the bound is generous for a loaded machine.
      expect(seconds).toBeGreaterThanOrEqual(9);
      expect(seconds).toBeLessThan(25);
    } finally {
      await lock.release();
    }
    expect(await readdir(dest).catch(() => [])).toEqual([]);
    expect(await pgsipSessions()).toEqual([]);
  });

  // The cursor is read by the run's first snapshot holder, before its snapshot; Plan waits for that holder. When
  // the reading fails, two tasks fail: the holder, with TableLockedError, and Plan, which finds the holder's
  // `failed` and raises the holder's error again. The run ends with whichever reaches the state machine first,
  // so both must say the same: one case as it comes, then each order forced.
  it('fails an incremental run within lock_timeout too, where its cursor is read before the snapshot', async () => {
    const lock = await lockTable('public.small');
    try {
      const error = (await runExport(
        { databaseUrl: postgres.url, tables: 'public.small', dest: join(work, 'locked-cursor'), shards: '1', concurrency: '1', compression: 'snappy', incremental: 'id', quiet: true },
        () => {},
      ).catch((e: unknown) => e)) as Error;
      expect(error.name).toBe('TableLockedError');
      expect(error.message).toBe('table "public"."small" is locked by another session: no lock within lock_timeout (10000 ms) to read its cursor; run again once it is done');
    } finally {
      await lock.release();
    }
    expect(await pgsipSessions()).toEqual([]);
  });

  it.each([
    // Plan never sees `failed` (hidden from every reader), so the holder's own failure ends the run.
    ["the holder's own failure reaches the state machine first", 'holder-first'],
    // The holder's task does not end until the run has stopped (its connection's close waits for the runner to
    // drop it), so Plan's, raised from what the holder wrote, ends the run.
    ["Plan's, raised from the holder's, reaches the state machine first", 'plan-first'],
  ] as const)('fails an incremental run within lock_timeout when %s', async (_, order) => {
    const runId = `locked-cursor-${order}`;
    const dest = join(work, runId);
    const base = localEnvironment(dest, async (name, open) => {
      const client = await open();
      if (order === 'plan-first' && name === `pgsip ${runId} holder 0`) {
        client.end = (() => new Promise<void>((ok) => client.once('end', () => ok()))) as typeof client.end;
      }
      return client;
    });
    const destination = Object.create(base.destination) as typeof base.destination;
    destination.get = async (key: string) => (order === 'holder-first' && key === failedHolderKey(runId) ? null : base.destination.get(key));
    const holderFailed: string[] = [];
    destination.put = async (key: string, body: string | Uint8Array) => {
      if (key === failedHolderKey(runId)) holderFailed.push(String(body));
      return base.destination.put(key, body);
    };
    destination.putIfAbsent = async (key: string, body: string | Uint8Array) => {
      if (key === failedHolderKey(runId)) holderFailed.push(String(body));
      return base.destination.putIfAbsent(key, body);
    };
    const lock = await lockTable('public.small');
    try {
      const error = (await runLocally({
        input: { tables: ['public.small'], shards: 1, concurrency: 1, runId, lockTimeoutMs: 1000, incremental: { 'public.small': { cursor: 'id' } } },
        executionName: runId,
        environment: { ...base, destination },
      }).catch((e: unknown) => e)) as Error;
      expect(error.name).toBe('TableLockedError');
      expect(error.message).toBe('table "public"."small" is locked by another session: no lock within lock_timeout (1000 ms) to read its cursor; run again once it is done');
      // Whose error it is: the holder's carries Postgres's lock timeout; Plan's, the snapshot it could not read.
      const cause = error.cause as { code?: string; name?: string; message?: string };
      if (order === 'holder-first') expect(cause.code).toBe('55P03');
      else expect([cause.name, cause.message]).toEqual(['SnapshotGoneError', expect.stringMatching(/^the snapshot of execution locked-cursor-plan-first cannot be read: its holder failed: holder 0: TableLockedError: /)]);
    } finally {
      await lock.release();
    }
    expect(holderFailed).toHaveLength(1);
    expect(await pgsipSessions()).toEqual([]);
  });

  it('in a shard is retried with backoff and the run succeeds once the lock is gone', async () => {
    const held: { lock?: ReturnType<typeof lockTable> } = {};
    const connections: string[] = [];
    const failures: string[] = [];
    const dest = join(work, 'locked-shard');
    // The lock is taken when the first shard connects (after Plan) and released when a shard connects again.
    const environment = localEnvironment(dest, async (name, open) => {
      if (name.includes(' #')) {
        const again = connections.includes(name);
        connections.push(name);
        if (again) await (await held.lock)?.release();
        else await (held.lock ??= lockTable('public.small'));
      }
      return open();
    });
    try {
      const result = await runLocally({
        input: { tables: ['public.small'], shards: 2, concurrency: 2, runId: 'locked-shard', lockTimeoutMs: 200 },
        executionName: 'locked-shard',
        environment,
        onRetryableFailure: (error, attempt) => failures.push(`${attempt}: ${error.message}`),
      });
      expect(result.commit.tables[0].rows).toBe(1000);
    } finally {
      await (await held.lock)?.release();
    }
    expect(failures[0]).toMatch(/^1: table "public"\."small" shard [01]: no lock on the table within lock_timeout \(200 ms\); is DDL running\?$/);
    expect(await exported(join(dest, 'public', 'small', 'run=locked-shard', '_manifest.json'))).toEqual({ manifestRows: 1000, rows: 1000, distinct: 1000, globbed: 1000 });
  });

  it('a shard that never gets its lock ends the run with one line naming table, shard, cause and attempts', async () => {
    const held: { lock?: ReturnType<typeof lockTable> } = {};
    const dest = join(work, 'locked-for-good');
    const environment = localEnvironment(dest, async (name, open) => {
      if (name.includes(' #')) await (held.lock ??= lockTable('public.small'));
      return open();
    });
    try {
      const error = (await runLocally({
        input: { tables: ['public.small'], shards: 2, concurrency: 2, runId: 'locked-for-good', lockTimeoutMs: 100 },
        executionName: 'locked-for-good',
        environment,
      }).catch((e: unknown) => e)) as Error;
      expect(error.name).toBe('ShardRetryableError');
      // Three retries after the first attempt (lib/export-state-machine.ts), then the run fails.
      expect(error.message).toMatch(/^table "public"\."small" shard [01]: no lock on the table within lock_timeout \(100 ms\); is DDL running\? \(gave up after 4 attempts\)$/);
    } finally {
      await (await held.lock)?.release();
    }
    expect(await pgsipSessions()).toEqual([]);
    expect(await unfinishedFiles(dest)).toEqual([]);
    expect((await readdir(dest, { recursive: true })).map(String).filter((f) => f.endsWith('_manifest.json') || f.endsWith('_SUCCESS'))).toEqual([]);
  });
});

describe('a terminated backend', () => {
  it('mid-COPY is retried by the state machine, and the run has every row exactly once', async () => {
    const dest = join(work, 'terminated');
    const lines: string[] = [];
    const watcher = new pg.Client(postgres.url);
    await watcher.connect();
    let terminated: number | null = null;
    let watching = true;
    // pg_terminate_backend on shard #1's session as soon as its COPY runs, as an operator or a failover would.
    const watch = (async () => {
      while (watching && terminated === null) {
        const found = await watcher.query<{ pid: number }>(
          `SELECT pid FROM pg_stat_activity WHERE application_name = 'pgsip terminated public.events #1' AND query LIKE 'COPY%' AND state = 'active'`,
        );
        if (found.rows.length > 0) {
          terminated = found.rows[0].pid;
          await watcher.query('SELECT pg_terminate_backend($1)', [terminated]);
        } else await new Promise((ok) => setTimeout(ok, 5));
      }
    })();
    try {
      const summary = await runExport(
        { databaseUrl: postgres.url, tables: 'public.events', dest, shards: '4', concurrency: '2', compression: 'snappy', runId: 'terminated' },
        (line) => lines.push(line),
      );
      expect(summary.commit.tables[0].rows).toBe(EVENTS);
    } finally {
      watching = false;
      await watch;
      await watcher.end();
    }
    expect(terminated).not.toBeNull();
    const retried = lines.filter((l) => l.includes('attempt 1 failed'));
    expect(retried).toHaveLength(1);
    expect(retried[0]).toMatch(/^ {2}attempt 1 failed: table "public"\."events" shard 1: (terminating connection due to administrator command \(SQLSTATE 57P01\)|connection lost)/);
    const result = await exported(join(dest, 'public', 'events', 'run=terminated', '_manifest.json'));
    expect(result).toEqual({ manifestRows: EVENTS, rows: EVENTS, distinct: EVENTS, globbed: EVENTS });
    expect(await unfinishedFiles(dest)).toEqual([]);
  });
});

describe('pgsip run interrupted with Ctrl-C', () => {
  it('stops its shards, leaves no backend and no unfinished file, says how to resume, and resumes exactly once', async () => {
    const dest = join(work, 'interrupted');
    const args = ['run', '--tables', 'public.events', '--dest', dest, '--shards', '16', '--concurrency', '2', '--run-id', 'ctrl-c'];
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, DATABASE_URL: postgres.url, PGSIP_FAULT: '' } });
    let stderr = '';
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const exited = new Promise<{ code: number | null; signal: string | null }>((ok) => child.once('exit', (code, signal) => ok({ code, signal })));
    // Interrupted once a shard has finished, while others are reading.
    await new Promise<void>((ok) =>
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
        if (/shard \d+\/16: done/.test(stderr)) ok();
      }),
    );
    child.kill('SIGINT');
    const outcome = await exited;
    expect(outcome).toEqual({ code: 130, signal: null });
    expect(stdout).toBe('');
    const last = stderr.trim().split('\n').at(-1);
    expect(last).toMatch(/^pgsip: run ctrl-c interrupted \(SIGINT\): \d+ of 16 shards had finished and are kept; to resume, run the same command with --run-id ctrl-c$/);
    expect(await pgsipSessions()).toEqual([]);
    expect(await unfinishedFiles(dest)).toEqual([]);

    const again = await new Promise<{ code: number; stderr: string }>((ok) =>
      execFile(process.execPath, [CLI, ...args, '--quiet'], { env: { ...process.env, DATABASE_URL: postgres.url, PGSIP_FAULT: '' } }, (error, _out, err) =>
        ok({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stderr: err }),
      ),
    );
    expect(again).toEqual({ code: 0, stderr: '' });
    const result = await exported(join(dest, 'public', 'events', 'run=ctrl-c', '_manifest.json'));
    expect(result).toEqual({ manifestRows: EVENTS, rows: EVENTS, distinct: EVENTS, globbed: EVENTS });
  });
});

// A tiny tmpfs as the destination, mounted in a user and mount namespace of the child's own (no root needed
// where unprivileged user namespaces are allowed; skipped where they are not).
const namespaces = process.platform === 'linux' && spawnSync('unshare', ['-rm', 'true']).status === 0;

describe.runIf(namespaces)('a destination out of space', () => {
  it('fails the shard with one line naming the file, and leaves no unfinished file', async () => {
    const dest = await mkdtemp(join(tmpdir(), 'pgsip-full-'));
    try {
      const script = [
        'mount -t tmpfs -o size=256k tmpfs "$0" || exit 99',
        '"$1" "$2" run --tables public.events --dest "$0" --shards 1 --run-id full --quiet',
        'echo "exit $?" >&2',
        'find "$0" -name "*.tmp-*" >&2',
      ].join('\n');
      const outcome = await new Promise<{ code: number; stderr: string }>((ok) =>
        execFile('unshare', ['-rm', 'sh', '-c', script, dest, process.execPath, CLI], { env: { ...process.env, DATABASE_URL: postgres.url, PGSIP_FAULT: '' } }, (error, _out, err) =>
          ok({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stderr: err }),
        ),
      );
      const lines = outcome.stderr.trim().split('\n');
      expect(lines).toEqual([
        expect.stringMatching(
          new RegExp(`^pgsip: table "public"\\."events" shard 0: cannot write ${dest.replace(/[/.]/g, '\\$&')}/public/events/run=full/part-00000-0000-[0-9a-f]{8}\\.parquet: ENOSPC \\(no space left on the device\\)$`),
        ),
        'exit 1',
      ]);
    } finally {
      await rm(dest, { recursive: true, force: true });
    }
    expect(await pgsipSessions()).toEqual([]);
  });
});
