/**
 * One moment for the whole run, held by the state machine itself (lambdas/engine/hold-snapshot.ts), run
 * locally through the definition the CDK app deploys. Writers move money between two tables without pause
 * while a multi-table, multi-shard run goes on for several holder lifetimes (holders of 2 s, shards whose
 * connections are slow to open), so the snapshot is handed over several times; the exported tables must still
 * be one moment: the total is what it always is, the ledger agrees with the balances, every row once.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DuckDB, openDuckDB, sqlString } from '../../bin/local/duckdb-reader';
import { type RunningPostgres, startEmbeddedPostgres } from '../../bin/local/embedded-postgres';
import { runLocally } from '../../bin/local/local-runner';
import type { RunManifest } from '../../lambdas/engine/contracts';
import { LocalFolderDestination } from '../../lambdas/engine/destinations/local-folder';
import { silentLog } from '../../lambdas/engine/environment';
import { connect, targetFromUrl } from '../../lambdas/engine/postgres/connection';
import { queryRows, sessionsLike } from '../support/postgres-queries';

const ACCOUNTS = 20_000;
const START = 1_000;
const TOTAL = 2 * ACCOUNTS * START;

let postgres: RunningPostgres;
let duck: DuckDB;
let work: string;

const sql = <T extends pg.QueryResultRow = pg.QueryResultRow>(text: string) => queryRows<T>(postgres.url, text);

/** Transfers from bank.a to bank.b, each with its ledger row, in one transaction each, until stopped. */
function transfers(): { stop(): Promise<number> } {
  let running = true;
  let done = 0;
  const loop = (async () => {
    const client = new pg.Client({ connectionString: postgres.url, application_name: 'bank' });
    await client.connect();
    let i = 0;
    while (running) {
      i++;
      const from = 1 + ((i * 7919) % ACCOUNTS);
      const to = 1 + ((i * 104729) % ACCOUNTS);
      const amount = 1 + (i % 5);
      await client.query('BEGIN');
      await client.query('UPDATE bank.a SET balance = balance - $1 WHERE id = $2', [amount, from]);
      await client.query('UPDATE bank.b SET balance = balance + $1 WHERE id = $2', [amount, to]);
      await client.query('INSERT INTO bank.ledger (amount) VALUES ($1)', [amount]);
      await client.query('COMMIT');
      done++;
    }
    await client.end();
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return done;
    },
  };
}

/** Every holder session seen while `watch` runs: their names say which generation held the snapshot. */
function watchHolders(runId: string): { stop(): Promise<Set<string>> } {
  const seen = new Set<string>();
  let watching = true;
  const loop = (async () => {
    const client = new pg.Client(postgres.url);
    await client.connect();
    while (watching) {
      const rows = await client.query<{ name: string; state: string }>(
        `SELECT application_name AS name, state FROM pg_stat_activity WHERE application_name LIKE $1`,
        [`pgsip ${runId} holder %`],
      );
      for (const r of rows.rows) seen.add(`${r.name} (${r.state})`);
      await new Promise((ok) => setTimeout(ok, 20));
    }
    await client.end();
  })();
  return {
    async stop() {
      watching = false;
      await loop;
      return seen;
    },
  };
}

beforeAll(async () => {
  postgres = await startEmbeddedPostgres();
  duck = await openDuckDB();
  work = await mkdtemp(join(tmpdir(), 'pgsip-moment-'));
  await sql(`
    CREATE SCHEMA bank;
    CREATE TABLE bank.a (id int PRIMARY KEY, balance bigint NOT NULL);
    CREATE TABLE bank.b (id int PRIMARY KEY, balance bigint NOT NULL);
    CREATE TABLE bank.ledger (id bigserial PRIMARY KEY, amount bigint NOT NULL);
    INSERT INTO bank.a SELECT g, ${START} FROM generate_series(1, ${ACCOUNTS}) g;
    INSERT INTO bank.b SELECT g, ${START} FROM generate_series(1, ${ACCOUNTS}) g;
    ANALYZE bank.a; ANALYZE bank.b;`);
}, 120_000);

afterAll(async () => {
  duck?.close();
  await postgres?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('one moment for the whole run, held by the state machine', () => {
  it('reads two tables in many shards as one moment across several holder hand-overs, while writers move money between them', { timeout: 180_000 }, async () => {
    const target = targetFromUrl(postgres.url);
    const dest = join(work, 'moment');
    const writers = transfers();
    const holders = watchHolders('moment');
    await new Promise((ok) => setTimeout(ok, 300));
    let result: Awaited<ReturnType<typeof runLocally>>;
    try {
      result = await runLocally({
        input: { tables: ['bank.a', 'bank.b', 'bank.ledger'], shards: 4, runId: 'moment', concurrency: 2 },
        executionName: 'moment.exec',
        environment: {
          destination: new LocalFolderDestination(dest),
          // A shard's connection takes a second to open (a far-away database): twelve shards two at a time
          // make the run outlast several 2-second holders.
          connect: async (name) => {
            if (name.includes('#')) await new Promise((ok) => setTimeout(ok, 1000));
            return connect(target, { applicationName: name });
          },
          log: silentLog,
          snapshotHolderSeconds: 2,
        },
      });
    } finally {
      const moved = await writers.stop();
      expect(moved).toBeGreaterThan(100);
    }
    const seen = await holders.stop();

    // Several generations held the snapshot, one after another, each named for the DBA.
    const generations = new Set([...seen].map((s) => Number(/holder (\d+)/.exec(s)![1])));
    expect(generations.size, [...seen].join(', ')).toBeGreaterThanOrEqual(3);

    const manifests: RunManifest[] = [];
    for (const t of result.commit.tables) manifests.push(JSON.parse(await readFile(t.manifest, 'utf8')) as RunManifest);
    for (const m of manifests) expect(m.consistency, m.table).toBe('snapshot');
    expect(result.plan.shardCount).toBeGreaterThanOrEqual(8);

    const files = (i: number) => `read_parquet(${sqlString(join(dest, 'bank', ['a', 'b', 'ledger'][i], 'run=moment', '*.parquet'))})`;
    const [a] = await duck.query(`SELECT count(*)::INT AS n, count(DISTINCT id)::INT AS k, sum(balance)::BIGINT AS s FROM ${files(0)}`);
    const [b] = await duck.query(`SELECT count(*)::INT AS n, count(DISTINCT id)::INT AS k, sum(balance)::BIGINT AS s FROM ${files(1)}`);
    const [ledger] = await duck.query(`SELECT count(*)::INT AS n, count(DISTINCT id)::INT AS k, coalesce(sum(amount), 0)::BIGINT AS s FROM ${files(2)}`);
    // Every account once; money neither made nor lost; the ledger holds exactly the transfers the balances show.
    expect(a).toMatchObject({ n: ACCOUNTS, k: ACCOUNTS });
    expect(b).toMatchObject({ n: ACCOUNTS, k: ACCOUNTS });
    expect(BigInt(a.s as bigint) + BigInt(b.s as bigint)).toBe(BigInt(TOTAL));
    expect(BigInt(b.s as bigint) - BigInt(ACCOUNTS * START)).toBe(BigInt(ledger.s as bigint));
    expect(ledger.n).toBe(ledger.k);
    expect(Number(ledger.n)).toBeGreaterThan(0);
    // ...and the ledger rows are exactly those the source held at that moment: ids 1..n, none later.
    const [range] = await duck.query(`SELECT min(id)::BIGINT AS lo, max(id)::BIGINT AS hi FROM ${files(2)}`);
    expect(range).toEqual({ lo: 1n, hi: BigInt(ledger.n as number) });

    // Nothing of the snapshot is left: no holder session, no held-snapshot file.
    expect(await sessionsLike(postgres.url, 'pgsip moment %')).toEqual([]);
    expect(await readdir(join(dest, '_runs')).then((d) => d.filter((n) => n === '_snapshots'))).toEqual([]);
  });

  it('with holdSnapshot false, reads a snapshot per shard and says so', { timeout: 60_000 }, async () => {
    const target = targetFromUrl(postgres.url);
    const result = await runLocally({
      input: { tables: ['bank.a'], shards: 2, runId: 'per-shard', holdSnapshot: false },
      executionName: 'per-shard.exec',
      environment: { destination: new LocalFolderDestination(join(work, 'per-shard')), connect: (name) => connect(target, { applicationName: name }), log: silentLog },
    });
    const manifest = JSON.parse(await readFile(result.commit.tables[0].manifest, 'utf8')) as RunManifest;
    expect(manifest.consistency).toBe('per-shard');
    expect(result.plan).toMatchObject({ snapshot: null, heldSnapshot: null });
  });
});
