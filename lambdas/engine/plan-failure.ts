/**
 * What a failed Plan says when Postgres stopped one of its reads: a table that stayed locked past lock_timeout
 * (`TableLockedError`, naming the table and, when Postgres shows it, the session holding the lock) or a read
 * past statement_timeout (`StatementTimeoutError`). Anything else passes through unchanged.
 */
import type pg from 'pg';
import { StatementTimeoutError, TableLockedError } from './errors';

export interface PlanFailureContext {
  /** The table Plan was reading (as the input names it, or quoted once resolved); null before the first. */
  table: string | null;
  lockTimeoutMs: number;
  statementTimeoutMs: number;
}

/**
 * Locks that conflict with the ACCESS SHARE lock every read takes: only ACCESS EXCLUSIVE (ALTER TABLE, DROP,
 * TRUNCATE, VACUUM FULL, CLUSTER, REINDEX of the table, LOCK TABLE). A session waiting for one queues behind it.
 */
const HOLDERS = `
  SELECT l.pid::text AS pid, l.mode, l.granted::text AS granted, coalesce(a.application_name, '') AS application, coalesce(a.state, '') AS state
    FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
   WHERE l.locktype = 'relation' AND l.relation = to_regclass($1) AND l.pid <> pg_backend_pid()
     AND l.mode = 'AccessExclusiveLock'
   ORDER BY l.granted DESC, l.pid
   LIMIT 3`;

export async function explainPlanFailure(error: unknown, client: pg.Client, context: PlanFailureContext): Promise<unknown> {
  const code = (error as { code?: string })?.code;
  const where = context.table === null ? 'planning' : `table ${context.table}`;
  if (code === '55P03') {
    const holders = context.table === null ? '' : await lockHolders(client, context.table);
    return new TableLockedError(
      `${where} is locked by another session${holders}: no lock within lock_timeout (${context.lockTimeoutMs} ms); run again once it is done`,
      { cause: error },
    );
  }
  if (code === '57014' && /statement timeout/i.test((error as Error).message ?? '')) {
    return new StatementTimeoutError(`${where}: planning took longer than statement_timeout (${context.statementTimeoutMs} ms)`, { cause: error });
  }
  return error;
}

/** ` (pid 123, AccessExclusiveLock, "psql", idle in transaction)`: who holds or queues for the lock, or nothing when Postgres does not say. */
async function lockHolders(client: pg.Client, table: string): Promise<string> {
  try {
    // The failed statement aborted Plan's transaction; the question is asked outside it.
    await client.query('ROLLBACK');
    await client.query(`SET statement_timeout = 5000`);
    const result = await client.query<{ pid: string; mode: string; granted: string; application: string; state: string }>(HOLDERS, [table]);
    if (result.rows.length === 0) return '';
    const described = result.rows.map((r) =>
      [`pid ${r.pid}`, r.granted === 'true' ? r.mode : `waiting for ${r.mode}`, r.application ? JSON.stringify(r.application) : '', r.state].filter(Boolean).join(', '),
    );
    return ` (${described.join('; ')})`;
  } catch {
    return '';
  }
}
