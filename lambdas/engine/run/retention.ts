/**
 * Retention: committed runs of a table beyond the newest `keepRuns` are deleted, but only once they have been
 * out of the newest `keepRuns` for the grace period, so that a query that started while a run was current
 * (through `_latest.json`, a catalog table, a path someone copied) can finish reading it. A run leaves the
 * newest `keepRuns` when the `keepRuns`-th run planned after it commits; that moment, not the run's own
 * commit, starts its grace period. Runs are ordered by when they were planned, as `_latest.json` is.
 *
 * Uncommitted runs are the sweep's (sweep.ts), never touched here. A run is deleted `_SUCCESS` first, so that
 * a deletion cut short leaves an uncommitted run (which the sweep later removes), never a committed run with
 * parts missing; its plan goes last, as in the sweep.
 */
import type { Destination } from '../destinations/destination';
import { RunDocumentError } from '../errors';
import { readDocument } from './documents';
import { manifestKey, planKey, successKey } from './layout';

export interface RetiredRun {
  runId: string;
  runDir: string;
  objects: number;
}

export interface RetentionOptions {
  keepRuns: number;
  graceMinutes: number;
  now?: Date;
  /** Runs that must stay whatever their age (the one committing, those `_latest.json` names). */
  protect?: ReadonlySet<string>;
  /** A run folder left alone because its manifest cannot be read. */
  onSkip?: (runDir: string, reason: string) => void;
}

/** Deletes the committed runs under `tableFolder` (e.g. `public/orders/`) that retention no longer keeps. */
export async function retireOldRuns(destination: Destination, tableFolder: string, options: RetentionOptions): Promise<RetiredRun[]> {
  const now = (options.now ?? new Date()).getTime();
  const committed: { runId: string; runDir: string; plannedAt: string; committedAt: string }[] = [];
  for (const key of await destination.list(tableFolder)) {
    if (!key.endsWith('/_SUCCESS')) continue;
    const runDir = key.slice(0, -'/_SUCCESS'.length);
    // Only run folders directly in this table's folder.
    if (runDir.slice(tableFolder.length).includes('/')) continue;
    try {
      const manifest = await readDocument(destination, 'manifest', manifestKey(runDir));
      if (!manifest) continue;
      committed.push({ runId: manifest.runId, runDir, plannedAt: manifest.startedAt, committedAt: manifest.committedAt });
    } catch (error) {
      if (!(error instanceof RunDocumentError)) throw error;
      options.onSkip?.(runDir, error.message);
    }
  }
  committed.sort((a, b) => (a.plannedAt < b.plannedAt ? 1 : a.plannedAt > b.plannedAt ? -1 : 0));

  const retired: RetiredRun[] = [];
  for (let i = options.keepRuns; i < committed.length; i++) {
    const run = committed[i];
    if (options.protect?.has(run.runId)) continue;
    // When this run dropped out of the newest keepRuns: the keepRuns-th commit among the runs planned after it.
    const newer = committed.slice(0, i).map((r) => Date.parse(r.committedAt)).sort((a, b) => a - b);
    const retiredAt = newer[options.keepRuns - 1];
    if (!(now - retiredAt >= options.graceMinutes * 60_000)) continue;
    retired.push({ runId: run.runId, runDir: run.runDir, objects: await deleteCommittedRun(destination, run.runDir) });
  }
  return retired;
}

/**
 * Deletes a committed run's folder: `_SUCCESS` first (a deletion cut short leaves an uncommitted run, which
 * the sweep removes), its plan last. Answers how many objects it held.
 */
export async function deleteCommittedRun(destination: Destination, runDir: string): Promise<number> {
  const objects = await destination.list(`${runDir}/`);
  const success = successKey(runDir);
  const plan = planKey(runDir);
  await destination.delete([success]);
  await destination.delete(objects.filter((k) => k !== success && k !== plan));
  await destination.delete([plan]);
  return objects.length;
}
