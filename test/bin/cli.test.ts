/**
 * The `pgsip` command as a user runs it: a child process, its exit code, stdout and stderr.
 */
import { existsSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, type RunningPostgres, startEmbeddedPostgres } from '../../bin/local/embedded-postgres';

const CLI = fileURLToPath(new URL('../../bin/pgsip.js', import.meta.url));

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
  seconds: number;
}

function pgsip(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Outcome> {
  const started = Date.now();
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env: { ...process.env, DATABASE_URL: '', ...env }, timeout: 240_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr, seconds: (Date.now() - started) / 1000 });
    });
  });
}

async function filesUnder(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir, { recursive: true })).map(String);
  } catch {
    return [];
  }
}

let postgres: RunningPostgres;
let work: string;

beforeAll(async () => {
  postgres = await startEmbeddedPostgres();
  work = await mkdtemp(join(tmpdir(), 'pgsip-cli-'));
  const client = new pg.Client(postgres.url);
  await client.connect();
  await client.query(`CREATE TABLE public.orders (id bigint PRIMARY KEY, note text);
                      INSERT INTO public.orders SELECT g, 'n' || g FROM generate_series(1, 1000) g;
                      CREATE TABLE public.secret (id bigint PRIMARY KEY);
                      CREATE ROLE reader LOGIN PASSWORD 'reader-pw';
                      CREATE TABLE public.prices (id bigint PRIMARY KEY, v numeric(10,2));
                      INSERT INTO public.prices VALUES (1, 1.5), (2, 'NaN'), (3, 2);`);
  await client.end();
});

afterAll(async () => {
  await postgres?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('pgsip run: failures are one clear line, a non-zero exit and nothing committed', () => {
  const wrongPassword = () => postgres.url.replace(':pgsip-local@', ':not-the-password@');
  const cases: [string, () => string, string, RegExp][] = [
    ['a missing table', () => postgres.url, 'public.orders,public.nope', /^pgsip: table "public\.nope" does not exist/],
    ['a hostile table name', () => postgres.url, 'public.orders;DROP TABLE public.orders', /^pgsip: bad table name "public\.orders;DROP TABLE public\.orders": unexpected ";"/],
    ['a name with a comment', () => postgres.url, 'public.orders--x', /^pgsip: bad table name "public\.orders--x": unexpected "-" at position 14$/],
    ['an unterminated quoted name', () => postgres.url, 'public."orders', /^pgsip: bad table name "public\.\\"orders": unterminated quoted identifier$/],
    ['a wrong password', wrongPassword, 'public.orders', /^pgsip: cannot connect to postgres@127\.0\.0\.1:\d+\/postgres: password authentication failed/],
  ];
  it.each(cases)('%s', async (_, url, tables, message) => {
    const dest = join(work, `fail-${Math.random().toString(16).slice(2)}`);
    const outcome = await pgsip(['run', '--database-url', url(), '--tables', tables, '--dest', dest, '--quiet']);
    expect(outcome.code).toBe(1);
    const lines = outcome.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(message);
    expect(outcome.seconds).toBeLessThan(60);
    expect(outcome.stderr).not.toContain('not-the-password');
    expect(outcome.stderr).not.toContain('pgsip-local');
    expect((await filesUnder(dest)).filter((f) => f.endsWith('_manifest.json') || f.endsWith('_SUCCESS'))).toEqual([]);
  });

  const more: [string, () => string, string, RegExp][] = [
    ['permission denied on the table', () => postgres.url.replace('postgres:pgsip-local@', 'reader:reader-pw@'), 'public.secret', /^pgsip: permission denied: this user may not SELECT from "public\.secret"$/],
    ['a value the mapping refuses', () => postgres.url, 'public.prices', /^pgsip: table "public"\."prices", column "v": .*NaN/i],
    ['TLS the server does not offer', () => `${postgres.url}?sslmode=verify-full`, 'public.orders', /^pgsip: cannot connect to postgres@127\.0\.0\.1:\d+\/postgres: The server does not support SSL connections$/],
  ];
  it.each(more)('%s', async (_, url, tables, message) => {
    const dest = join(work, `fail-${Math.random().toString(16).slice(2)}`);
    const outcome = await pgsip(['run', '--database-url', url(), '--tables', tables, '--dest', dest, '--quiet']);
    expect(outcome.code).toBe(1);
    expect(outcome.stderr.trim().split('\n')).toHaveLength(1);
    expect(outcome.stderr.trim()).toMatch(message);
    expect(outcome.seconds).toBeLessThan(60);
    expect((await filesUnder(dest)).filter((f) => f.endsWith('_manifest.json') || f.endsWith('_SUCCESS'))).toEqual([]);
  });

  it('a host that accepts but never answers is given up on after --connect-timeout', async () => {
    const silent = createServer(() => {});
    await new Promise<void>((ok) => silent.listen(0, '127.0.0.1', ok));
    const port = (silent.address() as AddressInfo).port;
    try {
      const outcome = await pgsip(['run', '--database-url', `postgres://u:p@127.0.0.1:${port}/db`, '--tables', 'a.b', '--dest', join(work, 'y'), '--connect-timeout', '2', '--quiet']);
      expect(outcome.code).toBe(1);
      expect(outcome.stderr.trim()).toBe(`pgsip: cannot connect to u@127.0.0.1:${port}/db: no answer within 2 s`);
      expect(outcome.seconds).toBeLessThan(30);
    } finally {
      silent.close();
    }
  });

  it('a column added between a crash and its re-run is detected, not mixed in', async () => {
    const dest = join(work, 'changed');
    const args = ['run', '--database-url', postgres.url, '--tables', 'public.orders', '--dest', dest, '--run-id', 'changing', '--quiet'];
    const crashed = await pgsip(args, { PGSIP_FAULT: 'after-plan' });
    expect(crashed.code).not.toBe(0);
    const client = new pg.Client(postgres.url);
    await client.connect();
    await client.query('ALTER TABLE public.orders ADD COLUMN added_later date');
    await client.end();
    try {
      const outcome = await pgsip(args);
      expect(outcome.code).toBe(1);
      expect(outcome.stderr.trim()).toBe(
        'pgsip: run changing of "public"."orders" was planned with other columns; the table changed since, so start a new run id',
      );
      expect(outcome.seconds).toBeLessThan(60);
      expect((await filesUnder(dest)).filter((f) => f.endsWith('_manifest.json') || f.endsWith('_SUCCESS'))).toEqual([]);
    } finally {
      const undo = new pg.Client(postgres.url);
      await undo.connect();
      await undo.query('ALTER TABLE public.orders DROP COLUMN added_later');
      await undo.end();
    }
  });

  it('a destination that cannot be written is named, and nothing is exported', async () => {
    const file = join(work, 'a-file');
    await writeFile(file, 'not a folder');
    const outcome = await pgsip(['run', '--database-url', postgres.url, '--tables', 'public.orders', '--dest', join(file, 'lake'), '--quiet']);
    expect(outcome.code).toBe(1);
    expect(outcome.stderr.trim()).toMatch(new RegExp(`^pgsip: cannot write to ${join(file, 'lake').replace(/[/.]/g, '\\$&')}: ENOTDIR`));
    expect(outcome.seconds).toBeLessThan(60);
  });

  it('a bad PGSIP_SNAPSHOT_HOLDER_SECONDS is refused in one line naming it, and nothing is exported', async () => {
    const dest = join(work, 'holder-seconds');
    const outcome = await pgsip(['run', '--database-url', postgres.url, '--tables', 'public.orders', '--dest', dest, '--quiet'], { PGSIP_SNAPSHOT_HOLDER_SECONDS: '900' });
    expect(outcome.code).toBe(1);
    expect(outcome.stderr.trim()).toBe('pgsip: PGSIP_SNAPSHOT_HOLDER_SECONDS must be a number of seconds more than 0 and at most 420 (got "900")');
    expect(existsSync(dest)).toBe(false);
  });

  it('an unreachable port fails fast, naming the host', async () => {
    const port = await freePort();
    const outcome = await pgsip(['run', '--database-url', `postgres://u:p@127.0.0.1:${port}/db`, '--tables', 'a.b', '--dest', join(work, 'x'), '--quiet']);
    expect(outcome.code).toBe(1);
    expect(outcome.stderr.trim()).toBe(`pgsip: cannot connect to u@127.0.0.1:${port}/db: connection refused (is Postgres running and listening there?)`);
    expect(outcome.seconds).toBeLessThan(60);
  });

  it('a usage error exits 2 and says what is missing', async () => {
    const outcome = await pgsip(['run', '--tables', 'a.b']);
    expect(outcome.code).toBe(2);
    expect(outcome.stderr).toContain("required option '--dest <dir|s3://bucket/prefix>' not specified");
  });
});

describe('pgsip run and demo succeed as documented', () => {
  it('run exports, reports progress on stderr and a summary on stdout, and exits 0', async () => {
    const dest = join(work, 'ok');
    const outcome = await pgsip(['run', '--tables', 'public.orders', '--dest', dest, '--shards', '3', '--run-id', 'cli-run'], { DATABASE_URL: postgres.url });
    expect(outcome.stderr).toContain('"public"."orders" shard 3/3: done');
    expect(outcome.code).toBe(0);
    expect(outcome.stdout).toMatch(/^run cli-run: 1 table\(s\), 3 shard\(s\), 1,000 rows/);
    expect(await filesUnder(join(dest, 'public', 'orders', 'run=cli-run'))).toEqual(
      expect.arrayContaining(['_manifest.json', '_SUCCESS', '_plan.json']),
    );
  });

  it('--help documents every option of run', async () => {
    const outcome = await pgsip(['run', '--help']);
    expect(outcome.code).toBe(0);
    for (const flag of ['--database-url', '--tables', '--dest', '--shards', '--concurrency', '--run-id', '--s3-endpoint', '--compression']) {
      expect(outcome.stdout).toContain(flag);
    }
  });

  it('demo starts its own Postgres, exports the sample shop and verifies it with DuckDB', async () => {
    const dest = join(work, 'demo');
    const outcome = await pgsip(['demo', '--rows', '5000', '--dest', dest]);
    expect(outcome.stderr).not.toMatch(/^pgsip: /m);
    expect(outcome.code).toBe(0);
    expect(outcome.stdout).toMatch(/verified shop\.customers: 500 rows; DuckDB agrees with Postgres/);
    expect(outcome.stdout).toMatch(/verified shop\.orders: 5,000 rows; DuckDB agrees with Postgres/);
  });
});
