/**
 * Selection and masking from the command line: `pgsip run` with patterns, exclusions, hashed columns and the
 * hash key from a file or PGSIP_HASH_KEY (through the local state machine), the same flags as `pgsip start`'s
 * execution input, and the `pgsip` process itself, whose output never shows the key.
 */
import { execFile } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningPostgres, startEmbeddedPostgres } from '../../bin/local/embedded-postgres';
import { type DuckDB, openDuckDB, readManifest } from '../../bin/local/duckdb-reader';
import { runExport } from '../../bin/commands/run';
import { executionInput } from '../../bin/commands/start';

const CLI = fileURLToPath(new URL('../../bin/pgsip.js', import.meta.url));
const KEY = 'cli-hash-key-0123456789-abcdefgh';

let postgres: RunningPostgres;
let duck: DuckDB;
let work: string;

async function sql(text: string): Promise<pg.QueryResult> {
  const client = new pg.Client(postgres.url);
  await client.connect();
  try {
    return await client.query(text);
  } finally {
    await client.end();
  }
}

const run = (dest: string, extra: Partial<Parameters<typeof runExport>[0]>) =>
  runExport({ databaseUrl: postgres.url, tables: 'crm.*', dest, shards: '2', concurrency: '2', compression: 'uncompressed', quiet: true, ...extra }, () => {});

async function filesUnder(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
  } catch {
    return [];
  }
}

beforeAll(async () => {
  [postgres, duck] = await Promise.all([startEmbeddedPostgres(), openDuckDB()]);
  work = await mkdtemp(join(tmpdir(), 'pgsip-run-selection-'));
  await sql(`
    CREATE SCHEMA crm;
    CREATE TABLE crm.contacts (id bigint PRIMARY KEY, email text, phone text, secret text);
    INSERT INTO crm.contacts SELECT g, 'contact' || g || '@example.org', '+33 6 ' || g, 'hunter' || g FROM generate_series(1, 200) g;
    CREATE TABLE crm.deals (id bigint PRIMARY KEY, contact_email text, value integer);
    INSERT INTO crm.deals SELECT g, 'contact' || (g % 200 + 1) || '@example.org', g FROM generate_series(1, 500) g;
    CREATE TABLE crm.scratch (id integer);
    CREATE VIEW crm.contact_view AS SELECT id FROM crm.contacts;`);
});

afterAll(async () => {
  duck?.close();
  await postgres?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('pgsip run: selection and masking', () => {
  it('exports a pattern minus exclusions, leaves out and hashes columns with the key from --hash-key-file, and writes the key nowhere', async () => {
    const dest = join(work, 'file-key');
    const keyFile = join(work, 'hash.key');
    await writeFile(keyFile, `${KEY}\n`);
    const summary = await run(dest, {
      runId: 'masked',
      excludeTables: 'crm.scratch',
      excludeColumns: 'crm.contacts.secret',
      hashColumns: 'crm.contacts.email,crm.contacts.phone,crm.deals.contact_email',
      hashKeyFile: keyFile,
    });
    expect(summary.commit.tables.map((t) => t.table)).toEqual(['"crm"."contacts"', '"crm"."deals"']);
    const contacts = await readManifest(summary.commit.tables[0].manifest);
    expect(contacts.manifest.columns.map((c) => c.name)).toEqual(['id', 'email', 'phone']);
    expect(contacts.manifest).toMatchObject({ excluded: ['secret'], hashed: ['email', 'phone'] });
    const rows = await duck.query(`SELECT id::INT AS id, email, phone FROM ${contacts.source} ORDER BY id`);
    const hmac = (v: string) => createHmac('sha256', KEY).update(v).digest('hex');
    expect(rows[0]).toEqual({ id: 1, email: hmac('contact1@example.org'), phone: hmac('+33 6 1') });
    const deals = await readManifest(summary.commit.tables[1].manifest);
    const joined = await duck.query(`SELECT count(*)::INT AS n FROM ${deals.source} d JOIN ${contacts.source} c ON c.email = d.contact_email`);
    expect(joined[0].n).toBe(500);
    for (const file of await filesUnder(dest)) {
      const body = await readFile(file, 'latin1');
      expect(body.includes(KEY), file).toBe(false);
      expect(body.includes('contact1@example.org'), file).toBe(false);
      expect(body.includes('hunter1'), file).toBe(false);
    }
  });

  it('takes the key from PGSIP_HASH_KEY, giving the same hashes as the same key from a file', async () => {
    process.env.PGSIP_HASH_KEY = KEY;
    try {
      const summary = await run(join(work, 'env-key'), { tables: 'crm.contacts', hashColumns: 'crm.contacts.email' });
      const { source } = await readManifest(summary.commit.tables[0].manifest);
      const [row] = await duck.query(`SELECT email FROM ${source} WHERE id = 1`);
      expect(row.email).toBe(createHmac('sha256', KEY).update('contact1@example.org').digest('hex'));
    } finally {
      delete process.env.PGSIP_HASH_KEY;
    }
  });

  it('refuses, before exporting anything and without showing a key: no key, a short key, an unreadable key file, an empty list', async () => {
    const dest = join(work, 'refused');
    await expect(run(dest, { hashColumns: 'crm.contacts.email' })).rejects.toThrow(
      'table "crm"."contacts", column "email" is to be hashed but no hash key is configured (pgsip run: --hash-key-file or PGSIP_HASH_KEY',
    );
    const short = join(work, 'short.key');
    await writeFile(short, 'tiny-key');
    await expect(run(dest, { hashColumns: 'crm.contacts.email', hashKeyFile: short })).rejects.toThrow(
      `the hash key from --hash-key-file ${short} is 8 bytes; hashing needs at least 16`,
    );
    await expect(run(dest, { hashColumns: 'crm.contacts.email', hashKeyFile: join(work, 'nope.key') })).rejects.toThrow(`cannot read --hash-key-file ${join(work, 'nope.key')}: ENOENT`);
    await expect(run(dest, { excludeColumns: ' ' })).rejects.toThrow('--exclude-columns names nothing');
    await expect(run(dest, { excludeColumns: 'crm.contacts' })).rejects.toThrow('bad "excludeColumns" entry "crm.contacts": expected schema.table.column');
    await expect(run(dest, { tables: 'crm.nothing_*' })).rejects.toThrow(/^table pattern "crm.nothing_\*" matches no table/);
    expect((await filesUnder(dest)).filter((f) => f.endsWith('_manifest.json') || f.endsWith('_SUCCESS'))).toEqual([]);
  });

  it('pgsip start sends the same selection as execution input', () => {
    expect(
      executionInput({
        stateMachine: 'arn:aws:states:eu-west-1:123456789012:stateMachine:P',
        tables: 'crm.*,public."Weird*"',
        excludeTables: 'crm.scratch',
        excludeColumns: 'crm.contacts.secret',
        hashColumns: 'crm.*.email,crm.deals.contact_email',
      }),
    ).toEqual({
      tables: ['crm.*', 'public."Weird*"'],
      shards: 'auto',
      excludeTables: ['crm.scratch'],
      excludeColumns: ['crm.contacts.secret'],
      hashColumns: ['crm.*.email', 'crm.deals.contact_email'],
    });
  });

  it('the pgsip process takes the flags, and neither its output nor its files show the key', { timeout: 240_000 }, async () => {
    const dest = join(work, 'process');
    const args = [CLI, 'run', '--tables', 'crm.*', '--exclude-tables', 'crm.scratch', '--exclude-columns', 'crm.contacts.secret', '--hash-columns', 'crm.*.*email', '--dest', dest, '--run-id', 'process'];
    const outcome = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, args, { env: { ...process.env, DATABASE_URL: postgres.url, PGSIP_HASH_KEY: KEY }, timeout: 240_000 }, (error, stdout, stderr) =>
        resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });
    expect(outcome.stderr).not.toMatch(/^pgsip: /m);
    expect(outcome.code).toBe(0);
    expect(outcome.stdout).toMatch(/^run process: 2 table\(s\)/);
    expect(outcome.stdout + outcome.stderr).not.toContain(KEY);
    const files = await filesUnder(dest);
    expect(files.some((f) => f.endsWith('_SUCCESS'))).toBe(true);
    for (const file of files) expect((await readFile(file, 'latin1')).includes(KEY), file).toBe(false);
    const help = await new Promise<string>((resolve) => execFile(process.execPath, [CLI, 'run', '--help'], (_, stdout) => resolve(stdout)));
    for (const flag of ['--exclude-tables', '--exclude-columns', '--hash-columns', '--hash-key-file']) expect(help).toContain(flag);
  });
});
