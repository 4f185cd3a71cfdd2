/**
 * Where each file of a run lives, relative to the destination root. One place, so that Plan, Export, Commit
 * and readers agree:
 *
 *   <schema>/<table>/run=<runId>/_plan.json              the plan (columns, types, ranges)
 *   <schema>/<table>/run=<runId>/part-<shard>-<seq>-<attempt>.parquet
 *   <schema>/<table>/run=<runId>/_shards/<shard>.json    a finished shard (written create-only)
 *   <schema>/<table>/run=<runId>/_manifest.json          the run manifest: readers start here
 *   <schema>/<table>/run=<runId>/_SUCCESS                written last
 *   <schema>/<table>/_latest.json                        the newest committed run of the table
 */
import { InputError } from '../errors';
import { tablePath } from '../postgres/table-name';

const RUN_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$/;

export function checkRunId(runId: string): string {
  if (!RUN_ID.test(runId)) {
    throw new InputError(`bad run id ${JSON.stringify(runId)}: use 1-80 letters, digits, '.', '_' or '-'`);
  }
  return runId;
}

/** A fresh run id: sortable by time, unique by its random tail (a timestamp alone collides). */
export function newRunId(now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `${stamp}-${Math.random().toString(16).slice(2, 8)}`;
}

export const tableDir = (schema: string, name: string) => tablePath(schema, name);
export const runDirOf = (schema: string, name: string, runId: string) => `${tableDir(schema, name)}/run=${runId}`;
export const planKey = (runDir: string) => `${runDir}/_plan.json`;
export const shardManifestKey = (runDir: string, shard: number) => `${runDir}/_shards/${pad(shard, 5)}.json`;
export const manifestKey = (runDir: string) => `${runDir}/_manifest.json`;
export const successKey = (runDir: string) => `${runDir}/_SUCCESS`;
export const latestKey = (runDir: string) => `${runDir.slice(0, runDir.lastIndexOf('/'))}/_latest.json`;
export const partName = (shard: number, seq: number, attempt: string) => `part-${pad(shard, 5)}-${pad(seq, 4)}-${attempt}.parquet`;
export const PART_PATTERN = /^part-\d{5}-\d{4}-[0-9a-f]+\.parquet$/;

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}
