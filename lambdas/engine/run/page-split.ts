/**
 * Page ranges (`ctid`, lambdas/engine/postgres/page-ranges.ts) read each row once only if every shard of the
 * table read the same snapshot: an UPDATE between two snapshots moves a row to another page. Plan refuses to
 * resume such a table on another snapshot once some of its shards have finished, and Commit refuses shards of
 * one table that read different snapshots.
 */
import type { ShardManifest, TablePlan } from '../contracts';
import type { Destination } from '../destinations/destination';
import { CommitError, InputError } from '../errors';
import { splitOf } from '../postgres/split-predicate';
import { readDocument } from './documents';

/** Plan, reusing a recorded plan: may its page-split shards be finished under `snapshot`? */
export async function checkPageSplitResume(plan: TablePlan, snapshot: string | undefined, destination: Destination): Promise<void> {
  if (splitOf(plan).by !== 'pages') return;
  if (!snapshot) {
    throw new InputError(`run ${plan.runId} of ${plan.table} was split by page ranges, which need the run's one snapshot, and this execution holds none: start a new run id`);
  }
  const finished = (await destination.list(`${plan.runDir}/_shards/`)).filter((k) => k.endsWith('.json'));
  if (finished.length === 0 || finished.length >= plan.shards.length) return;
  const first = await readDocument(destination, 'shard', finished[0]);
  if (first && first.snapshot !== snapshot) {
    throw new InputError(
      `run ${plan.runId} of ${plan.table} was split by page ranges and ${finished.length} of its ${plan.shards.length} shards read snapshot ${first.snapshot ?? '(none)'}, which has ended; the rest cannot read another one without reading moved rows twice or not at all: start a new run id`,
    );
  }
}

/** Commit: the shards of a page-split table all read one snapshot. */
export function checkPageSplitSnapshot(plan: TablePlan, shards: ShardManifest[]): void {
  if (splitOf(plan).by !== 'pages' || shards.length <= 1) return;
  const snapshots = new Set(shards.map((s) => s.snapshot));
  if (snapshots.size !== 1 || shards[0].snapshot === null) {
    throw new CommitError(`table ${plan.table}: its page-range shards read different snapshots (${[...snapshots].join(', ')}), so rows moved between them could be missing or doubled; nothing committed: start a new run id`);
  }
}
