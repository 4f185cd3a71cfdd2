/**
 * Page ranges (`ctid`, lambdas/engine/postgres/page-ranges.ts) read each row once only if every shard of the
 * table read the same snapshot: an UPDATE between two snapshots moves a row to another page. A run resumed on
 * a new snapshot (the first one ended with its holder) therefore reads such a table again from the start:
 * Plan drops the shard manifests of the earlier snapshot (their parts become strays, which Commit removes),
 * and Commit refuses shards of one table that read different snapshots.
 */
import type { ShardManifest, TablePlan } from '../contracts';
import type { Destination } from '../destinations/destination';
import type { EngineLog } from '../environment';
import { CommitError, InputError } from '../errors';
import { splitOf } from '../postgres/split-predicate';
import { readDocument } from './documents';

/**
 * Plan, reusing a recorded plan: makes the finished shards of a page-split table agree with `snapshot`. A
 * complete set read under one snapshot stays; otherwise every shard manifest of another snapshot is removed,
 * so those shards are read again under this one.
 */
export async function resumePageSplit(plan: TablePlan, snapshot: string | undefined, destination: Destination, log: EngineLog): Promise<void> {
  if (splitOf(plan).by !== 'pages') return;
  if (!snapshot) {
    throw new InputError(`run ${plan.runId} of ${plan.table} was split by page ranges, which need the run's one snapshot, and this execution holds none: start a new run id`);
  }
  const keys = (await destination.list(`${plan.runDir}/_shards/`)).filter((k) => k.endsWith('.json'));
  if (keys.length === 0) return;
  const read = await Promise.all(keys.map((k) => readDocument(destination, 'shard', k)));
  const snapshots = new Set(read.map((m) => m?.snapshot ?? null));
  if (read.length >= plan.shards.length && snapshots.size === 1 && !snapshots.has(null)) return;
  const stale = keys.filter((_, i) => read[i]?.snapshot !== snapshot);
  if (stale.length === 0) return;
  await destination.delete(stale);
  log.warn('page-split shards read again on this run\'s snapshot', { table: plan.table, runId: plan.runId, shards: stale.length, of: plan.shards.length });
}

/** Commit: the shards of a page-split table all read one snapshot. */
export function checkPageSplitSnapshot(plan: TablePlan, shards: ShardManifest[]): void {
  if (splitOf(plan).by !== 'pages' || shards.length <= 1) return;
  const snapshots = new Set(shards.map((s) => s.snapshot));
  if (snapshots.size !== 1 || shards[0].snapshot === null) {
    throw new CommitError(`table ${plan.table}: its page-range shards read different snapshots (${[...snapshots].join(', ')}), so rows moved between them could be missing or doubled; nothing committed: start a new run id`);
  }
}
