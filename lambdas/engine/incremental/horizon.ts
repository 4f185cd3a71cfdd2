/**
 * What a run's incremental bookkeeping needs from just before its snapshot is taken (watermark.ts):
 *
 * - `before`: each incremental table's greatest cursor, read a moment before the snapshot (`at`: a time at or
 *   after that read), so the next run can usually start from here rather than from the run before;
 * - `openSince`: when the oldest transaction still open had started, read after `before` and before the
 *   snapshot. A transaction open at the snapshot may commit rows later whose cursor is older than the run's
 *   greatest (a sequence value or `now()` it took before the snapshot); it began at or after `openSince`.
 *
 * Read before the snapshot, not inside it: a transaction that commits between the snapshot and a read inside
 * it would be missed, and its rows are invisible to the snapshot. One that starts after this read started
 * after `openSince`, which is all the rule needs. Between the two reads pgsip waits `settleMs` (default 1 s),
 * so that only transactions open longer than that hold the next run's start back past `before`.
 *
 * Other sessions' `xact_start` is visible only to superusers and members of `pg_read_all_stats`; without it
 * every session would look idle, so incremental runs refuse to start. Prepared (two-phase) transactions have
 * no start time: while one exists, `openSince` is unbounded (null) and the next run is full.
 */
import type pg from 'pg';
import type { RunHorizon } from '../contracts';
import { InputError, TableLockedError } from '../errors';
import { quoteIdent } from '../postgres/table-name';

/** ISO UTC with microseconds, as every time in incremental plans is written: comparable as text. */
export const ISO_UTC = `'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'`;

export const DEFAULT_SETTLE_MS = 1000;

/** How long a cursor reading waits for a table's lock: the run's default lock_timeout (plan-run.ts). */
export const DEFAULT_LOCK_TIMEOUT_MS = 10_000;

export interface HorizonTable {
  /** The key `before` is recorded under: the table as the run's input names it. */
  key: string;
  /** Safe to put in SQL: quoted from a parsed name. */
  quoted: string;
  cursor: string;
}

/** Reads the horizon on `client`, outside any transaction of its own (each statement its own snapshot). */
export async function readHorizon(client: pg.Client, tables: readonly HorizonTable[], settleMs = DEFAULT_SETTLE_MS, lockTimeoutMs = DEFAULT_LOCK_TIMEOUT_MS): Promise<RunHorizon> {
  const allowed = await client.query<{ ok: string; user: string }>(
    `SELECT pg_has_role(current_user, 'pg_read_all_stats', 'MEMBER')::text AS ok, current_user AS user`,
  );
  if (allowed.rows[0].ok !== 'true') {
    throw new InputError(
      `incremental runs need to see other sessions' open transactions: GRANT pg_read_all_stats TO ${quoteIdent(allowed.rows[0].user)} (pg_stat_activity hides their start times otherwise)`,
    );
  }
  // Cursor values print alike for every reader of the plan: ISO dates, timestamps with their offset.
  await client.query(`SET DateStyle = 'ISO, YMD'`);
  await client.query(`SET TimeZone = 'UTC'`);
  // A table held by DDL fails the reading as it would fail Plan (plan-failure.ts), instead of waiting for ever.
  await client.query(`SET lock_timeout = ${Math.trunc(lockTimeoutMs)}`);
  const before: RunHorizon['before'] = {};
  for (const t of tables) {
    try {
      const read = await client.query<{ through: string | null; at: string }>(
        `SELECT max(${quoteIdent(t.cursor)})::text AS through, to_char(clock_timestamp() AT TIME ZONE 'UTC', ${ISO_UTC}) AS at FROM ${t.quoted}`,
      );
      before[t.key] = read.rows[0];
    } catch (error) {
      const code = (error as { code?: string }).code ?? '';
      if (code === '55P03') {
        throw new TableLockedError(`table ${t.quoted} is locked by another session: no lock within lock_timeout (${lockTimeoutMs} ms) to read its cursor; run again once it is done`, { cause: error });
      }
      // A table or cursor that is not there (or cannot be compared) is refused by Plan, naming both; no reading.
      if (!['42P01', '42703', '42883', '3F000'].includes(code)) throw error;
    }
  }
  await client.query('RESET lock_timeout');
  if (tables.length > 0 && settleMs > 0) await new Promise((ok) => setTimeout(ok, settleMs));
  const prepared = await client.query<{ n: string }>(`SELECT count(*)::text AS n FROM pg_prepared_xacts WHERE database = current_database()`);
  if (prepared.rows[0].n !== '0') return { openSince: null, before };
  // pgsip's own sessions only read (`pgsip <run> …`); every other client backend of this database counts,
  // idle-in-transaction ones included: a transaction may take a sequence value or now() long before it writes.
  const since = await client.query<{ since: string }>(
    `SELECT to_char(min(s) AT TIME ZONE 'UTC', ${ISO_UTC}) AS since FROM (
       SELECT xact_start AS s FROM pg_stat_activity
        WHERE xact_start IS NOT NULL AND pid <> pg_backend_pid() AND datname = current_database()
          AND backend_type = 'client backend' AND application_name NOT LIKE 'pgsip %'
       UNION ALL SELECT statement_timestamp()) open`,
  );
  return { openSince: since.rows[0].since, before };
}
