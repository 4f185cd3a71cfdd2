/**
 * Where each file of a run lives, relative to the destination root. One place, so that Plan, Export, Commit
 * and readers agree:
 *
 * (`<schema>` and `<table>` as `pathSegment` spells them)
 *
 *   <schema>/<table>/run=<runId>/_plan.json              the plan (columns, types, ranges)
 *   <schema>/<table>/run=<runId>/part-<shard>-<seq>-<attempt>.parquet
 *   <schema>/<table>/run=<runId>/_shards/<shard>.json    a finished shard (written create-only)
 *   <schema>/<table>/run=<runId>/_manifest.json          the run manifest: readers start here
 *   <schema>/<table>/run=<runId>/_SUCCESS                written last
 *   <schema>/<table>/_latest.json                        the newest committed run of the table
 *   _runs/<runId>/_run.json                              the run's tables (Plan -> Commit)
 *   _runs/<runId>/_shards.json                           the run's shard tasks, a JSON array (Plan -> the Map)
 *   _runs/_snapshots/<execution>/current.json           the snapshot an execution's holder holds (held-snapshot.ts)
 *   _runs/_snapshots/<execution>/released               written when the execution is done with it
 *   _runs/_snapshots/<execution>/failed                 a holder that failed says why, for Plan and shards waiting on it
 *
 * A run id starts with a letter or digit, so `_runs/_snapshots/` is never a run's folder.
 *
 * `_runs/` starts with `_` so that Hive-style readers (Athena, Spark) never take it for data.
 */
import { InputError } from '../errors';
import { createHash } from 'node:crypto';

const RUN_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$/;

export function checkRunId(runId: string): string {
  if (!RUN_ID.test(runId)) {
    throw new InputError(`bad run id ${JSON.stringify(runId)}: use 1-80 letters, digits, '.', '_' or '-'`);
  }
  return runId;
}

/** The run id of an execution: the input's, else the execution's name made a run id, else a fresh one. */
export function runIdOf(input: { runId?: string }, executionName: string | undefined): string {
  return checkRunId(input.runId ?? (executionName ? executionName.replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 80) : newRunId()));
}

/** A fresh run id: sortable by time, unique by its random tail (a timestamp alone collides). */
export function newRunId(now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `${stamp}-${Math.random().toString(16).slice(2, 8)}`;
}

/**
 * The folder name of a schema or table. A plain name (lower-case ASCII letters, digits and `_`: what Postgres
 * folds an unquoted identifier to) is used as it is. Any other name becomes a readable lower-case form, `-`,
 * and the first 8 hex digits of the SHA-256 of the exact name: `"Weird Table"` → `weird_table-<hash>`, `"Sales"`
 * → `sales-<hash>`. So two names never share a folder (not even on a case-insensitive file system, where
 * `Sales` and `sales` would), and paths hold no `%`, space or non-ASCII character, which S3 tooling and
 * Hadoop's S3A handle badly. The exact name is in every plan and manifest.
 */
export function pathSegment(name: string): string {
  if (/^[a-z0-9_]+$/.test(name)) return name;
  const readable =
    name
      .normalize('NFKD')
      .toLowerCase()
      .replace(/[^a-z0-9_]+/g, '_')
      .replace(/^_+|_+$/g, '')
      .slice(0, 48) || 'name';
  return withNameHash(readable, name);
}

/** `<readable>-<first 8 hex digits of the SHA-256 of the exact name>`: two names never share it. */
function withNameHash(readable: string, name: string): string {
  return `${readable}-${createHash('sha256').update(name, 'utf8').digest('hex').slice(0, 8)}`;
}

export const tableDir = (schema: string, name: string) => `${pathSegment(schema)}/${pathSegment(name)}`;
export const runDirOf = (schema: string, name: string, runId: string) => `${tableDir(schema, name)}/run=${runId}`;
export const planKey = (runDir: string) => `${runDir}/_plan.json`;
export const runPlanKey = (runId: string) => `_runs/${runId}/_run.json`;
export const shardListKey = (runId: string) => `_runs/${runId}/_shards.json`;
const heldSnapshotDir = (execution: string) => `_runs/_snapshots/${executionSegment(execution)}`;
export const heldSnapshotKey = (execution: string) => `${heldSnapshotDir(execution)}/current.json`;
export const releasedSnapshotKey = (execution: string) => `${heldSnapshotDir(execution)}/released`;
export const failedHolderKey = (execution: string) => `${heldSnapshotDir(execution)}/failed`;

/**
 * The key part of an execution name: the name itself when it is plain ASCII (Step Functions' own and a local
 * run's are), else a readable form with a hash of the exact name, as `pathSegment` does, so two names never meet.
 */
export function executionSegment(name: string): string {
  if (name === '') throw new InputError('an execution name is empty');
  if (/^[A-Za-z0-9_-][A-Za-z0-9._-]{0,79}$/.test(name)) return name;
  return withNameHash(name.replace(/[^A-Za-z0-9_-]+/g, '-').slice(0, 48) || 'execution', name);
}
export const shardManifestKey = (runDir: string, shard: number) => `${runDir}/_shards/${pad(shard, 5)}.json`;
export const manifestKey = (runDir: string) => `${runDir}/_manifest.json`;
export const successKey = (runDir: string) => `${runDir}/_SUCCESS`;
export const latestKey = (runDir: string) => `${runDir.slice(0, runDir.lastIndexOf('/'))}/_latest.json`;
export const partName = (shard: number, seq: number, attempt: string) => `part-${pad(shard, 5)}-${pad(seq, 4)}-${attempt}.parquet`;
/** An Iceberg position-delete file a commit of the run writes (lambdas/engine/iceberg/position-deletes.ts). */
export const positionDeletesName = (commitId: string) => `deletes-${commitId}.parquet`;
export const PART_PATTERN = /^part-\d{5}-\d{4}-[0-9a-f]+\.parquet$/;

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}
