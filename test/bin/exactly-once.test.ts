/**
 * Exactly once under crashes and retries. A real `pgsip run` process is killed (SIGKILL: no cleanup) at each
 * fault point, then run again with the same run id; the result is checked from the manifest with DuckDB
 * (count and distinct key equal the source), never from a listing, and re-checked with `pgsip verify`.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DuckDB, openDuckDB, sqlString } from '../../bin/local/duckdb-reader';
import { type RunningPostgres, startEmbeddedPostgres } from '../../bin/local/embedded-postgres';
import type { RunManifest } from '../../lambdas/engine/contracts';
import { readIcebergTable } from '../support/icebird-local';

const CLI = fileURLToPath(new URL('../../bin/pgsip.js', import.meta.url));
const ROWS = 20_000;

interface Outcome {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

function pgsip(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Outcome> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env: { ...process.env, PGSIP_FAULT: '', ...env }, timeout: 120_000 }, (error, stdout, stderr) => {
      const e = error as (Error & { code?: number; signal?: string }) | null;
      resolve({ code: e ? (e.code ?? null) : 0, signal: e?.signal ?? null, stdout, stderr });
    });
  });
}

let postgres: RunningPostgres;
let duck: DuckDB;
let work: string;

beforeAll(async () => {
  [postgres, duck] = await Promise.all([startEmbeddedPostgres(), openDuckDB()]);
  work = await mkdtemp(join(tmpdir(), 'pgsip-once-'));
  const client = new pg.Client(postgres.url);
  await client.connect();
  await client.query(`CREATE TABLE public.events (id bigint PRIMARY KEY, body text);
    INSERT INTO public.events SELECT g * 3 - 5000, repeat('x', g % 50) FROM generate_series(1, ${ROWS}) g;`);
  await client.end();
});

afterAll(async () => {
  duck?.close();
  await postgres?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

async function exported(dest: string, runId: string) {
  const manifestPath = join(dest, 'public', 'events', `run=${runId}`, '_manifest.json');
  const manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as RunManifest;
  const files = manifest.parts.map((p) => sqlString(join(dirname(manifestPath), p.path))).join(', ');
  const [fromManifest] = await duck.query(`SELECT count(*)::INT AS n, count(DISTINCT id)::INT AS k FROM read_parquet([${files}])`);
  // A reader who globs the folder instead of reading the manifest must not see strays of dead attempts either.
  const [fromGlob] = await duck.query(`SELECT count(*)::INT AS n FROM read_parquet(${sqlString(join(dirname(manifestPath), '*.parquet'))})`);
  return { manifest, rows: fromManifest.n, distinct: fromManifest.k, globbed: fromGlob.n };
}

const run = (dest: string, runId: string, env: NodeJS.ProcessEnv = {}, extra: string[] = []) =>
  pgsip(['run', '--tables', 'public.events', '--dest', dest, '--shards', '4', '--concurrency', '2', '--run-id', runId, '--quiet', ...extra], {
    DATABASE_URL: postgres.url,
    ...env,
  });

describe('a run killed at any moment and run again ends with every row exactly once', () => {
  it.each(['after-plan', 'after-read:1', 'after-part:2', 'after-shard-manifest:0', 'before-commit', 'after-run-manifest'])(
    'killed %s',
    async (fault) => {
      const dest = join(work, fault.replace(/:/g, '-'));
      const runId = `crash-${fault.replace(/:/g, '-')}`;
      const crashed = await run(dest, runId, { PGSIP_FAULT: fault });
      expect(crashed.stderr + crashed.stdout).toBe('');
      expect(crashed.signal).toBe('SIGKILL');
      await expect(stat(join(dest, 'public', 'events', `run=${runId}`, '_SUCCESS'))).rejects.toThrow();

      const again = await run(dest, runId);
      expect(again.stderr).toBe('');
      expect(again.code).toBe(0);
      const result = await exported(dest, runId);
      expect(result).toMatchObject({ rows: ROWS, distinct: ROWS, globbed: ROWS });
      expect(result.manifest.rows).toBe(ROWS);
      // Nor a temporary file of a write the kill cut short: Commit removes them.
      expect((await readdir(dest, { recursive: true })).map(String).filter((f) => /\.tmp-[0-9a-f]{8}$/.test(f))).toEqual([]);

      const verified = await pgsip(['verify', '--dest', dest, '--run-id', runId]);
      expect(verified.stderr).toBe('');
      expect(verified.code).toBe(0);
      expect(verified.stdout).toContain(`verified "public"."events" run ${runId}: 20,000 rows`);
    },
  );

  it.each(['before-iceberg-commit', 'after-iceberg-commit'])('killed %s, an Iceberg table takes the run as one snapshot, once', async (fault) => {
    const dest = join(work, `iceberg-${fault}`);
    const runId = `crash-${fault}`;
    const crashed = await run(dest, runId, { PGSIP_FAULT: fault }, ['--table-format', 'iceberg']);
    expect(crashed.stderr + crashed.stdout).toBe('');
    expect(crashed.signal).toBe('SIGKILL');
    const again = await run(dest, runId, {}, ['--table-format', 'iceberg']);
    expect(again.stderr).toBe('');
    expect(again.code).toBe(0);
    const table = join(dest, 'public', 'events');
    const hint = Number(await readFile(join(table, 'metadata', 'version-hint.text'), 'utf8'));
    const metadata = JSON.parse(await readFile(join(table, 'metadata', `v${hint}.metadata.json`), 'utf8')) as { snapshots: { summary: Record<string, string> }[] };
    expect(metadata.snapshots.map((s) => s.summary['pgsip.run-id'])).toEqual([runId]);
    const ids = (await readIcebergTable(table)).map((r) => r.id);
    expect({ rows: ids.length, distinct: new Set(ids.map(String)).size }).toEqual({ rows: ROWS, distinct: ROWS });
    expect(JSON.parse(await readFile(join(table, '_latest.json'), 'utf8'))).toMatchObject({ runId });
    // The run manifest names the snapshot, whichever Commit made it.
    const manifest = JSON.parse(await readFile(join(table, `run=${runId}`, '_manifest.json'), 'utf8')) as { iceberg?: unknown };
    expect(manifest.iceberg).toEqual({ snapshotId: (metadata as unknown as { 'current-snapshot-id': number })['current-snapshot-id'] });
  });

  it('a shard that fails after writing a part is retried by the state machine, and its first attempt leaves nothing', async () => {
    const dest = join(work, 'retry');
    const outcome = await run(dest, 'retried', { PGSIP_FAULT: 'after-part:3:fail' });
    expect(outcome.code).toBe(0);
    const result = await exported(dest, 'retried');
    expect(result).toMatchObject({ rows: ROWS, distinct: ROWS, globbed: ROWS });
    expect(result.manifest.parts).toHaveLength(4);
  });

  it('re-running a committed run changes nothing', async () => {
    const dest = join(work, 'twice');
    expect((await run(dest, 'twice')).code).toBe(0);
    const first = await exported(dest, 'twice');
    expect((await run(dest, 'twice')).code).toBe(0);
    const second = await exported(dest, 'twice');
    expect(second.manifest).toEqual(first.manifest);
  });
});

describe('pgsip verify', () => {
  it('catches a part that was truncated or removed after the run committed', async () => {
    const dest = join(work, 'tampered');
    expect((await run(dest, 'tampered')).code).toBe(0);
    const { manifest } = await exported(dest, 'tampered');
    const part = join(dest, 'public', 'events', 'run=tampered', manifest.parts[1].path);
    await rm(part);
    const outcome = await pgsip(['verify', '--dest', dest, '--run-id', 'tampered']);
    expect(outcome.code).toBe(1);
    expect(outcome.stderr.trim()).toBe(`pgsip: ${join(dest, 'public', 'events', 'run=tampered')}: part ${manifest.parts[1].path} is missing`);
  });
});
