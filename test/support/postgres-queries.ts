/** Queries tests run on the source beside pgsip, each on a connection of its own. */
import pg from 'pg';

export async function queryRows<T extends pg.QueryResultRow = pg.QueryResultRow>(url: string, text: string): Promise<T[]> {
  const client = new pg.Client(url);
  await client.connect();
  try {
    return (await client.query<T>(text)).rows;
  } finally {
    await client.end();
  }
}

/**
 * The `application_name`s of sessions matching `pattern` (SQL LIKE), sorted, once they are `expected`, or
 * whatever they are after `ms`: a backend whose client just closed takes a moment to leave pg_stat_activity.
 */
export async function sessionsLike(url: string, pattern: string, expected: readonly string[] = [], ms = 5000): Promise<string[]> {
  const until = Date.now() + ms;
  for (;;) {
    const rows = await queryRows<{ name: string }>(url, `SELECT application_name AS name FROM pg_stat_activity WHERE application_name LIKE '${pattern.replace(/'/g, "''")}' ORDER BY 1`);
    const names = rows.map((r) => r.name);
    if (JSON.stringify(names) === JSON.stringify(expected) || Date.now() > until) return names;
    await new Promise((ok) => setTimeout(ok, 100));
  }
}
