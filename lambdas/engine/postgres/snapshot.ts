/**
 * One moment for a whole run. A transaction exports its snapshot and stays open; Plan and every shard start
 * their transactions with `SET TRANSACTION SNAPSHOT`, so they all see exactly what it saw. Only the import
 * needs the holder alive: once a shard has imported it, the shard keeps its view. The state machine's holders
 * do this for a run (lambdas/engine/hold-snapshot.ts); `holdSnapshot` here is for a caller that holds its own
 * and passes its id as the execution input's `snapshot`.
 */
import type pg from 'pg';
import { InputError, SnapshotGoneError } from '../errors';

const SNAPSHOT_ID = /^[0-9A-F]+-[0-9A-F]+(-[0-9]+)?$/i;

export function checkSnapshotId(id: string): string {
  if (!SNAPSHOT_ID.test(id)) throw new InputError(`bad snapshot id ${JSON.stringify(id)}: expected what pg_export_snapshot() returns`);
  return id;
}

/** Starts the read-only transaction every pgsip reader uses, on the run's snapshot when there is one. */
export async function beginReadOnly(client: pg.Client, snapshot: string | undefined): Promise<void> {
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  if (!snapshot) return;
  try {
    // Must come first in the transaction; the id was checked, and SET TRANSACTION SNAPSHOT takes no parameters.
    await client.query(`SET TRANSACTION SNAPSHOT '${checkSnapshotId(snapshot)}'`);
  } catch (error) {
    const e = error as { code?: string; message?: string };
    // 42704: `snapshot "…" does not exist` (its transaction ended; PG16+), 22023: an id Postgres cannot use
    // (older servers say this for a missing one too), 55000: its file was there but its transaction had just
    // ended ("could not import the requested snapshot").
    if (e.code === '42704' || e.code === '22023' || e.code === '55000') {
      throw new SnapshotGoneError(`the run's snapshot ${snapshot} is gone (the transaction holding it ended); run again with the same run id to continue on a new one`, { cause: error });
    }
    throw error;
  }
}

export interface HeldSnapshot {
  id: string;
  release(): Promise<void>;
}

/** Exports a snapshot from a transaction that stays open until `release()`. */
export async function holdSnapshot(client: pg.Client): Promise<HeldSnapshot> {
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  const result = await client.query<{ id: string }>('SELECT pg_export_snapshot() AS id');
  return {
    id: result.rows[0].id,
    async release() {
      await client.query('COMMIT').catch(() => {});
      await client.end().catch(() => {});
    },
  };
}
