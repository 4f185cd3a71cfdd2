/**
 * Selection and masking through the phases that ship (Plan, every Export shard, Commit), against a real
 * Postgres, the Parquet read back with DuckDB: which tables a pattern exports, which columns are left out, and
 * what a hashed column holds.
 */
import { createHmac } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningPostgres, startEmbeddedPostgres } from '../../../../bin/local/embedded-postgres';
import { type DuckDB, openDuckDB, readManifest } from '../../../../bin/local/duckdb-reader';
import { verifyRun } from '../../../../bin/commands/verify';
import { commitRun } from '../../../../lambdas/engine/commit-run';
import type { ExecutionInput, RunManifest, TablePlan } from '../../../../lambdas/engine/contracts';
import { LocalFolderDestination } from '../../../../lambdas/engine/destinations/local-folder';
import { type EngineEnvironment, silentLog } from '../../../../lambdas/engine/environment';
import { InputError } from '../../../../lambdas/engine/errors';
import { exportShard } from '../../../../lambdas/engine/export-shard';
import { planRun } from '../../../../lambdas/engine/plan-run';
import { connect, targetFromUrl } from '../../../../lambdas/engine/postgres/connection';
import { parseDocument, readDocument, readShardList } from '../../../../lambdas/engine/run/documents';

const KEY = 'selection-test-key-0123456789abcdef';
const OTHER_KEY = 'another-key-of-enough-bytes-000000';

let postgres: RunningPostgres;
let duck: DuckDB;
let work: string;
let runs = 0;

async function sql(text: string, values: unknown[] = []): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: postgres.url, types: { getTypeParser: () => (v: string) => v } });
  await client.connect();
  try {
    return await client.query(text, values);
  } finally {
    await client.end();
  }
}

function environment(dest: string, key: string | null = KEY): EngineEnvironment {
  const target = targetFromUrl(postgres.url);
  return {
    destination: new LocalFolderDestination(dest),
    connect: (name) => connect(target, { applicationName: name }),
    log: silentLog,
    ...(key === null ? {} : { hashKey: async () => new TextEncoder().encode(key) }),
  };
}

interface Exported {
  runId: string;
  dest: string;
  tables: string[];
  manifests: Map<string, { path: string; manifest: RunManifest; source: string }>;
}

/** Plan, every shard, Commit: one whole run into a fresh folder (or `dest`). */
async function exportRun(input: Omit<ExecutionInput, 'runId'>, options: { key?: string | null; dest?: string; runId?: string } = {}): Promise<Exported> {
  const runId = options.runId ?? `sel-${++runs}`;
  const dest = options.dest ?? join(work, runId);
  const env = environment(dest, options.key === undefined ? KEY : options.key);
  const plan = await planRun({ input: { shards: 1, compression: 'UNCOMPRESSED', ...input, runId } }, env);
  for (const task of await readShardList(env.destination, plan.items)) await exportShard(task, env);
  const committed = await commitRun({ runId }, env);
  const manifests = new Map<string, { path: string; manifest: RunManifest; source: string }>();
  for (const t of committed.tables) manifests.set(t.table, { path: t.manifest, ...(await readManifest(t.manifest)) });
  return { runId, dest, tables: committed.tables.map((t) => t.table), manifests };
}

/** Only planned: the tables Plan recorded for the run. */
async function plannedTables(input: Omit<ExecutionInput, 'runId'>): Promise<string[]> {
  const runId = `plan-${++runs}`;
  const env = environment(join(work, runId));
  await planRun({ input: { shards: 1, ...input, runId } }, env);
  const run = await readDocument(env.destination, 'run', `_runs/${runId}/_run.json`);
  return run!.tables.map((t) => t.table);
}

const hmac = (key: string, text: string) => createHmac('sha256', key).update(text, 'utf8').digest('hex');

async function filesUnder(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

beforeAll(async () => {
  [postgres, duck] = await Promise.all([startEmbeddedPostgres(), openDuckDB()]);
  work = await mkdtemp(join(tmpdir(), 'pgsip-selection-'));
  await sql(`
    CREATE SCHEMA shop;
    CREATE SCHEMA other;
    CREATE TABLE shop.users (
      id bigint PRIMARY KEY, email text, password_hash text, name varchar(40), tags text[], ip inet, active boolean,
      u uuid, code char(6));
    INSERT INTO shop.users
    SELECT g, CASE WHEN g % 10 = 0 THEN NULL ELSE 'user' || g || '@example.com' END, 'pbkdf2$' || md5(g::text), 'Ünïcødé ' || g,
           CASE WHEN g % 7 = 0 THEN NULL ELSE ARRAY['t' || g, NULL, 'x,y'] END, ('10.0.' || (g % 256) || '.1')::inet, g % 2 = 0,
           md5(g::text)::uuid, 'c' || (g % 100)
      FROM generate_series(1, 300) g;
    CREATE TABLE shop.orders (id bigint PRIMARY KEY, user_email text, amount numeric(10,2));
    INSERT INTO shop.orders SELECT g, 'user' || (g % 300 + 1) || '@example.com', g * 1.25 FROM generate_series(1, 900) g;
    CREATE TABLE shop."Mixed Case" (k integer PRIMARY KEY);
    INSERT INTO shop."Mixed Case" VALUES (1), (2);
    CREATE TABLE shop."*" (x integer);
    CREATE TABLE shop.events (id bigint, at date, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
    CREATE TABLE shop.events_2024 PARTITION OF shop.events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
    CREATE TABLE shop.events_2025 PARTITION OF shop.events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
    INSERT INTO shop.events SELECT g, date '2024-06-01' + g FROM generate_series(1, 400) g;
    CREATE VIEW shop.user_names AS SELECT id, name FROM shop.users;
    CREATE MATERIALIZED VIEW shop.order_totals AS SELECT sum(amount) AS total FROM shop.orders;
    CREATE TABLE other.users (id integer PRIMARY KEY);
    CREATE TABLE other.audit_log (id integer);
    CREATE TABLE other.blobs (id integer PRIMARY KEY, b bytea);
    INSERT INTO other.blobs VALUES (1, '\\x00ff10'::bytea), (2, 'abc'::bytea), (3, NULL);
    ANALYZE;`);
});

afterAll(async () => {
  duck?.close();
  await postgres?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('table patterns', () => {
  it('public.*-style patterns export every table of the schema and nothing else: no view, matview, partition or other schema', async () => {
    expect(await plannedTables({ tables: ['shop.*'] })).toEqual(['"shop"."*"', '"shop"."Mixed Case"', '"shop"."events"', '"shop"."orders"', '"shop"."users"']);
    const run = await exportRun({ tables: ['shop.*'], excludeTables: ['shop."*"'] });
    expect(run.tables).toEqual(['"shop"."Mixed Case"', '"shop"."events"', '"shop"."orders"', '"shop"."users"']);
    // The partitioned parent once, with its partitions' rows.
    const events = run.manifests.get('"shop"."events"')!;
    expect(events.manifest.rows).toBe(400);
    const [counted] = await duck.query(`SELECT count(*)::INT AS n, count(DISTINCT id)::INT AS d FROM ${events.source}`);
    expect(counted).toEqual({ n: 400, d: 400 });
  });

  it('globs on the table and the schema part, never matching Postgres’s own schemas; quoted * is a literal name', async () => {
    expect(await plannedTables({ tables: ['shop.user*'] })).toEqual(['"shop"."users"']);
    expect(await plannedTables({ tables: ['*.users'] })).toEqual(['"other"."users"', '"shop"."users"']);
    expect(await plannedTables({ tables: ['shop."*"'] })).toEqual(['"shop"."*"']);
    const everything = await plannedTables({ tables: ['*.*'], excludeTables: ['shop.*'] });
    expect(everything).toEqual(['"other"."audit_log"', '"other"."blobs"', '"other"."users"']);
  });

  it('keeps the order of the entries, lists a table named and matched once, and exports views and partitions only when named', async () => {
    expect(await plannedTables({ tables: ['shop.users', 'shop.user_names', 'shop.order_totals', 'shop.events_2024', 'shop.*'], excludeTables: ['shop."*"', 'shop."Mixed Case"'] })).toEqual([
      '"shop"."users"',
      '"shop"."user_names"',
      '"shop"."order_totals"',
      '"shop"."events_2024"',
      '"shop"."events"',
      '"shop"."orders"',
    ]);
    expect(await plannedTables({ tables: ['shop.users', 'shop.orders'], excludeTables: ['shop.orders'] })).toEqual(['"shop"."users"']);
  });

  it('refuses a pattern that matches nothing and an exclusion that removes nothing, naming them', async () => {
    const refused = async (input: Omit<ExecutionInput, 'runId'>) => {
      const error = await plannedTables(input).then(() => null, (e: unknown) => e as Error);
      expect(error).toBeInstanceOf(InputError);
      return error!.message;
    };
    expect(await refused({ tables: ['shop.nope*'] })).toBe(
      'table pattern "shop.nope*" matches no table (patterns match ordinary and partitioned tables; name a view, materialized view, foreign table or partition to export it)',
    );
    expect(await refused({ tables: ['shop.user_n*'] })).toMatch(/^table pattern "shop.user_n\*" matches no table/);
    expect(await refused({ tables: ['shop.*'], excludeTables: ['other.*'] })).toBe('"excludeTables" entry "other.*" removes no table of this run\'s selection');
    expect(await refused({ tables: ['shop.*'], excludeTables: ['shop.nope'] })).toBe(
      '"excludeTables" entry "shop.nope" names no table: "shop.nope" does not exist (or is not visible to this user)',
    );
    expect(await refused({ tables: ['shop.*'], excludeTables: ['other.users'] })).toBe('"excludeTables" entry "other.users" removes no table of this run\'s selection');
    expect(await refused({ tables: ['other.*'], excludeTables: ['other.*'] })).toBe('"excludeTables" leaves no table to export');
    expect(await refused({ tables: ['shop.users', 'shop.*', 'shop.users'] })).toBe('table "shop"."users" is listed twice');
    expect(await refused({ tables: ['*'] })).toBe('bad table pattern "*": a pattern must name its schema (e.g. public.*)');
    expect(await refused({ tables: ['shop.nope', 'shop.*'] })).toBe('table "shop.nope" does not exist (or is not visible to this user)');
  });

  it('checks the SELECT privilege of every table a pattern matches, naming the one it may not read', async () => {
    await sql(`CREATE ROLE narrow LOGIN PASSWORD 'narrow-pw'; GRANT USAGE ON SCHEMA other TO narrow; GRANT SELECT ON other.users TO narrow;`);
    const url = new URL(postgres.url);
    url.username = 'narrow';
    url.password = 'narrow-pw';
    const target = targetFromUrl(url.toString());
    const env: EngineEnvironment = { destination: new LocalFolderDestination(join(work, 'narrow')), connect: (name) => connect(target, { applicationName: name }), log: silentLog };
    await expect(planRun({ input: { tables: ['other.*'], runId: 'narrow' } }, env)).rejects.toThrow('permission denied: this user may not SELECT from "other.audit_log"');
    await expect(planRun({ input: { tables: ['other.*'], excludeTables: ['other.audit_log', 'other.blobs'], runId: 'narrow-2' } }, env)).resolves.toMatchObject({ tableCount: 1 });
  });
});

describe('excluded columns', () => {
  it('are absent from the Parquet, the plan and the manifest’s columns, and listed as excluded', async () => {
    const run = await exportRun({ tables: ['shop.users', 'shop.orders'], excludeColumns: ['shop.users.password_hash', 'shop.*.amount'] });
    const users = run.manifests.get('"shop"."users"')!;
    expect(users.manifest.columns.map((c) => c.name)).toEqual(['id', 'email', 'name', 'tags', 'ip', 'active', 'u', 'code']);
    expect(users.manifest.excluded).toEqual(['password_hash']);
    expect(users.manifest.hashed).toBeUndefined();
    // Without Hive partitioning, DuckDB would add a `run` column from the `run=<id>` folder.
    const described = await duck.query(`DESCRIBE SELECT * FROM ${users.source.replace(/\)$/, ', hive_partitioning = false)')}`);
    expect(described.map((r) => r.column_name)).toEqual(['id', 'email', 'name', 'tags', 'ip', 'active', 'u', 'code']);
    const plan = parseDocument('plan', await readFile(join(dirname(users.path), '_plan.json')), 'plan') as TablePlan;
    expect(plan.excluded).toEqual(['password_hash']);
    expect(plan.columns.map((c) => c.name)).not.toContain('password_hash');
    // Not one byte of the excluded values in any file of the run (parts are uncompressed here).
    const { rows } = await sql(`SELECT password_hash FROM shop.users`);
    for (const file of await filesUnder(run.dest)) {
      const body = await readFile(file, 'latin1');
      for (const r of rows.slice(0, 20)) expect(body.includes(r.password_hash as string), file).toBe(false);
    }
    const orders = run.manifests.get('"shop"."orders"')!;
    expect(orders.manifest.columns.map((c) => c.name)).toEqual(['id', 'user_email']);
    expect(orders.manifest.excluded).toEqual(['amount']);
  });

  it('refuses an entry that names no column, excluding every column of a table, and a column both excluded and hashed', async () => {
    await expect(plannedTables({ tables: ['shop.users'], excludeColumns: ['shop.users.pasword_hash'] })).rejects.toThrow(
      '"excludeColumns" entry "shop.users.pasword_hash" names no column of the tables this run exports',
    );
    // A column of a table the run does not export names nothing either.
    await expect(plannedTables({ tables: ['shop.users'], excludeColumns: ['shop.orders.amount'] })).rejects.toThrow(
      '"excludeColumns" entry "shop.orders.amount" names no column of the tables this run exports',
    );
    await expect(plannedTables({ tables: ['shop."Mixed Case"'], excludeColumns: ['shop."Mixed Case".k'] })).rejects.toThrow(
      '"excludeColumns" removes every column of "shop"."Mixed Case"',
    );
    await expect(plannedTables({ tables: ['shop.users'], excludeColumns: ['shop.users.email'], hashColumns: ['shop.users.email'] })).rejects.toThrow(
      'column "email" of "shop"."users" is both excluded ("shop.users.email") and hashed ("shop.users.email"): choose one',
    );
  });

  it('may take the split key: shards still split on it in Postgres, the checksums keep their row counts and drop the key sum', async () => {
    const run = await exportRun({ tables: ['shop.orders'], shards: 3, excludeColumns: ['shop.orders.id'] });
    const { manifest, source } = run.manifests.get('"shop"."orders"')!;
    expect(manifest.shards).toHaveLength(3);
    expect(manifest.splitKey).toBeNull();
    expect(manifest.shards.map((s) => s.checksum.keySum)).toEqual([null, null, null]);
    expect(manifest.shards.reduce((n, s) => n + s.checksum.rows, 0)).toBe(900);
    const [counted] = await duck.query(`SELECT count(*)::INT AS n, count(DISTINCT user_email)::INT AS e FROM ${source}`);
    expect(counted).toEqual({ n: 900, e: 300 });
    await expect(verifyRun({ dest: run.dest, runId: run.runId }, () => {})).resolves.toHaveLength(1);
  });
});

describe('hashed columns', () => {
  it('hold the hex HMAC-SHA-256 of Postgres’s text of each value, NULL kept, the plain value nowhere', async () => {
    const run = await exportRun({ tables: ['shop.users'], shards: 2, hashColumns: ['shop.users.email', 'shop.users.tags', 'shop.users.ip', 'shop.users.active', 'shop.users.code'] });
    const { manifest, source, path } = run.manifests.get('"shop"."users"')!;
    expect(manifest.hashed).toEqual(['email', 'tags', 'ip', 'active', 'code']);
    expect(manifest.columns.find((c) => c.name === 'email')).toEqual({ name: 'email', pgType: 'text', parquetType: 'STRING', nullable: true });
    expect(manifest.columns.find((c) => c.name === 'tags')).toMatchObject({ pgType: 'text[]', parquetType: 'STRING' });
    const plan = parseDocument('plan', await readFile(join(dirname(path), '_plan.json')), 'plan') as TablePlan;
    expect(plan.columns.filter((c) => c.hashed).map((c) => c.name)).toEqual(['email', 'tags', 'ip', 'active', 'code']);

    const described = await duck.query(`DESCRIBE SELECT email, tags, ip, active, code FROM ${source}`);
    expect(described.map((r) => r.column_type)).toEqual(['VARCHAR', 'VARCHAR', 'VARCHAR', 'VARCHAR', 'VARCHAR']);
    const exported = await duck.query(`SELECT id::VARCHAR AS id, email, tags, ip, active, code FROM ${source} ORDER BY id`);
    const source_ = await sql(`SELECT id::text, email::text, tags::text, ip::text, active::text, code::text FROM shop.users ORDER BY id`);
    expect(exported).toHaveLength(300);
    const expected = source_.rows.map((r) => {
      const h = (v: string | null) => (v === null ? null : hmac(KEY, v));
      return { id: r.id, email: h(r.email), tags: h(r.tags), ip: h(r.ip), active: h(r.active), code: h(r.code) };
    });
    expect(exported).toEqual(expected);
    expect(exported.find((r) => r.id === '10')!.email).toBeNull();
    for (const r of exported) for (const k of ['email', 'tags', 'ip', 'active', 'code'] as const) if (r[k] !== null) expect(r[k]).toMatch(/^[0-9a-f]{64}$/);

    // Never the plain value, in any file of the run (uncompressed parts: pages, dictionaries and statistics
    // would show it), and never the key.
    const plain = source_.rows.slice(0, 50).flatMap((r) => [r.email, r.tags].filter((v): v is string => v !== null));
    for (const file of await filesUnder(run.dest)) {
      const body = await readFile(file, 'latin1');
      for (const value of plain) expect(body.includes(value), `${file} holds ${value}`).toBe(false);
      expect(body.includes(KEY), file).toBe(false);
    }
  });

  it('hash bytea as its hex text whatever the server’s bytea_output', async () => {
    await sql(`ALTER DATABASE postgres SET bytea_output = 'escape'`);
    try {
      const run = await exportRun({ tables: ['other.blobs'], hashColumns: ['other.blobs.b'] });
      const rows = await duck.query(`SELECT id, b FROM ${run.manifests.get('"other"."blobs"')!.source} ORDER BY id`);
      expect(rows).toEqual([
        { id: 1, b: hmac(KEY, '\\x00ff10') },
        { id: 2, b: hmac(KEY, '\\x616263') },
        { id: 3, b: null },
      ]);
    } finally {
      await sql(`ALTER DATABASE postgres RESET bytea_output`);
    }
  });

  it('are identical in two runs and join across tables hashed with the same key; another key gives other values', async () => {
    const input = { tables: ['shop.users', 'shop.orders'], hashColumns: ['shop.*.*email'] };
    const first = await exportRun(input);
    const second = await exportRun({ ...input, shards: 3 });
    const other = await exportRun(input, { key: OTHER_KEY });
    const emails = async (run: Exported) => duck.query(`SELECT id::VARCHAR AS id, email FROM ${run.manifests.get('"shop"."users"')!.source} ORDER BY id`);
    expect(await emails(second)).toEqual(await emails(first));
    const [a, c] = [await emails(first), await emails(other)];
    expect(c.filter((r, i) => r.email !== null && r.email === a[i].email)).toEqual([]);

    const users = first.manifests.get('"shop"."users"')!.source;
    const orders = first.manifests.get('"shop"."orders"')!.source;
    const joined = await duck.query(`SELECT count(*)::INT AS n FROM ${orders} o JOIN ${users} u ON u.email = o.user_email`);
    const expected = await sql(`SELECT count(*)::int AS n FROM shop.orders o JOIN shop.users u ON u.email = o.user_email`);
    expect(joined[0].n).toBe(Number(expected.rows[0].n));
    expect(joined[0].n).toBeGreaterThan(700);
  });

  it('are STRING in the native profile too, and may hash the split key (the key sum is then left out)', async () => {
    const run = await exportRun({ tables: ['shop.users'], shards: 3, types: 'native', hashColumns: ['shop.users.u', 'shop.users.id'] });
    const { manifest, source } = run.manifests.get('"shop"."users"')!;
    expect(manifest.types).toBe('native');
    expect(manifest.columns.find((c) => c.name === 'u')).toMatchObject({ pgType: 'uuid', parquetType: 'STRING' });
    expect(manifest.shards).toHaveLength(3);
    expect(manifest.splitKey).toBeNull();
    expect(manifest.shards.every((s) => s.checksum.keySum === null)).toBe(true);
    const rows = await duck.query(`SELECT id, u FROM ${source}`);
    const src = await sql(`SELECT id::text, u::text FROM shop.users`);
    expect(new Set(rows.map((r) => `${r.id}|${r.u}`))).toEqual(new Set(src.rows.map((r) => `${hmac(KEY, r.id)}|${hmac(KEY, r.u)}`)));
    await expect(verifyRun({ dest: run.dest, runId: run.runId }, () => {})).resolves.toHaveLength(1);
  });

  it('need a key: Plan refuses without one before writing anything, and so does Export, naming table and column', async () => {
    const dest = join(work, 'no-key');
    await expect(planRun({ input: { tables: ['shop.users'], hashColumns: ['shop.users.email'], runId: 'no-key' } }, environment(dest, null))).rejects.toThrow(
      'table "shop"."users", column "email" is to be hashed but no hash key is configured',
    );
    await expect(readdir(dest)).rejects.toThrow(/ENOENT/);
    await expect(planRun({ input: { tables: ['shop.users'], hashColumns: ['shop.users.email'], runId: 'short-key' } }, environment(dest, 'short'))).rejects.toThrow(
      'table "shop"."users", column "email" is to be hashed: the hash key is 5 bytes; hashing needs at least 16',
    );
    // Planned with a key, exported by an environment without one.
    const plan = await planRun({ input: { tables: ['shop.users'], hashColumns: ['shop.users.email'], runId: 'key-lost' } }, environment(dest));
    const [task] = await readShardList(new LocalFolderDestination(dest), plan.items);
    await expect(exportShard(task, environment(dest, null))).rejects.toThrow('table "shop"."users", column "email" is to be hashed but no hash key is configured');
  });

  it('are part of the plan a resumed run must match: other hashed or excluded columns under the same run id are refused', async () => {
    const dest = join(work, 'resume');
    await planRun({ input: { tables: ['shop.users'], hashColumns: ['shop.users.email'], runId: 'resume' } }, environment(dest));
    await expect(planRun({ input: { tables: ['shop.users'], runId: 'resume' } }, environment(dest))).rejects.toThrow(
      'run resume of "shop"."users" was planned with other excluded or hashed columns; resume it with the same ones, or start a new run id',
    );
    await expect(
      planRun({ input: { tables: ['shop.users'], hashColumns: ['shop.users.email'], excludeColumns: ['shop.users.name'], runId: 'resume' } }, environment(dest)),
    ).rejects.toThrow('was planned with other excluded or hashed columns');
    await expect(planRun({ input: { tables: ['shop.users'], hashColumns: ['shop.users.email'], runId: 'resume' } }, environment(dest))).resolves.toMatchObject({ tableCount: 1 });
  });
});
