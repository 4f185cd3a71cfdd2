/**
 * Runs that never committed (crashed, failed, abandoned) leave parts behind. Once such a run is older than
 * the sweep age — long past any retry or resume, and past the state machine's own timeout — its folder is
 * removed. Committed runs are never touched: Commit already removed their strays.
 */
import type { Destination } from '../destinations/destination';
import { RunDocumentError } from '../errors';
import { readDocument } from './documents';
import { planKey, successKey } from './layout';

export interface SweptRun {
  runDir: string;
  runId: string;
  plannedAt: string;
  objects: number;
}

/** Default age after which an uncommitted run is abandoned: two days. */
export const DEFAULT_SWEEP_AFTER_HOURS = 48;

/**
 * Sweeps uncommitted runs under `prefix` (a table folder such as `public/orders/`, or '' for everything)
 * planned more than `olderThanHours` ago. With `dryRun`, reports without deleting.
 */
export async function sweepAbandonedRuns(
  destination: Destination,
  prefix: string,
  olderThanHours: number,
  options: {
    dryRun?: boolean;
    now?: Date;
    keepRunId?: string;
    /** A run folder left alone because its plan cannot be read (another pgsip version's, or damaged). */
    onSkip?: (runDir: string, reason: string) => void;
  } = {},
): Promise<SweptRun[]> {
  const cutoff = (options.now ?? new Date()).getTime() - olderThanHours * 3600_000;
  const plans = (await destination.list(prefix)).filter((k) => k.endsWith('/_plan.json'));
  const swept: SweptRun[] = [];
  for (const key of plans) {
    const runDir = key.slice(0, -'/_plan.json'.length);
    if ((await destination.size(successKey(runDir))) !== null) continue;
    let plan;
    try {
      plan = await readDocument(destination, 'plan', planKey(runDir));
    } catch (error) {
      // Not ours to judge: a newer pgsip's run, or a damaged plan. Left in place, and said so.
      if (!(error instanceof RunDocumentError)) throw error;
      options.onSkip?.(runDir, error.message);
      continue;
    }
    if (!plan) continue;
    if (plan.runId === options.keepRunId || !(Date.parse(plan.plannedAt) < cutoff)) continue;
    const objects = await destination.list(`${runDir}/`);
    // The plan goes last, so an interrupted sweep is found and finished by the next one.
    const ordered = [...objects.filter((k) => k !== key), key];
    if (!options.dryRun) await destination.delete(ordered);
    swept.push({ runDir, runId: plan.runId, plannedAt: plan.plannedAt, objects: objects.length });
  }
  return swept;
}
