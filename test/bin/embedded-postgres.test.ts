/**
 * The embedded Postgres of `pgsip demo`, the benchmark and the tests: it starts (as root too: this machine and
 * CI run as root, where initdb and the server run as an unprivileged user), and when the server cannot start
 * the failure is one line naming why, which the CLI prints as `pgsip: ...`. Running from an install root's
 * Postgres user cannot enter is covered by test/bin/package.test.ts (a 0700 folder).
 */
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { startEmbeddedPostgres } from '../../bin/local/embedded-postgres';

describe('the embedded Postgres', () => {
  it('starts, answers, and leaves nothing behind at stop', { timeout: 120_000 }, async () => {
    const postgres = await startEmbeddedPostgres();
    try {
      const client = new pg.Client(postgres.url);
      await client.connect();
      const { rows } = await client.query<{ one: number }>('SELECT 1 AS one');
      await client.end();
      expect(rows[0].one).toBe(1);
    } finally {
      await postgres.stop();
    }
    expect(existsSync(dirname(postgres.dataDir))).toBe(false);
  });

  it('fails in one line naming why when the server cannot start', { timeout: 120_000 }, async () => {
    const error = await startEmbeddedPostgres({ settings: { shared_buffers: 'lots' } }).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(error).toBeInstanceOf(Error);
    expect(error!.message).toMatch(/^could not start the embedded Postgres: the server exited before it was ready \(.*invalid value for parameter "shared_buffers": "lots"/);
    expect(error!.message).not.toContain('\n');
  });
});
