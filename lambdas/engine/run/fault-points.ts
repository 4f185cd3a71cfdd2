/**
 * Named places where tests crash pgsip on purpose, to prove that a run killed at any moment and run again
 * ends with every row exactly once. Inert unless `PGSIP_FAULT` names the point:
 *
 *   PGSIP_FAULT=<point>[:<shard>][:kill|:fail]
 *
 * `kill` (the default) ends the process with SIGKILL on the spot: no cleanup, no finally blocks, as when a
 * Lambda times out or a laptop loses power. `fail` throws a ShardRetryableError once per process, as a
 * transient fault would, so the state machine's Retry runs the shard again.
 */
import { ShardRetryableError } from '../errors';

export type FaultPoint =
  | 'after-plan' // every _plan.json written, before any shard starts
  | 'after-read' // a shard read all its rows, before its last part is written
  | 'after-part' // a shard wrote a part, before its manifest
  | 'after-shard-manifest' // a shard's manifest is written, before it returns
  | 'before-commit' // Commit was called, nothing committed yet
  | 'after-run-manifest' // `_manifest.json` written, `_SUCCESS` not yet
  | 'before-iceberg-commit' // the run is committed to its folders, its Iceberg snapshot not yet
  | 'after-iceberg-commit'; // the Iceberg snapshot is committed, the table's `_latest.json` not moved yet

const failed = new Set<string>();

export function faultPoint(point: FaultPoint, shard?: number): void {
  const spec = process.env.PGSIP_FAULT;
  if (!spec) return;
  const [name, ...rest] = spec.split(':');
  if (name !== point) return;
  const mode = rest.includes('fail') ? 'fail' : 'kill';
  const wanted = rest.find((r) => /^\d+$/.test(r));
  if (wanted !== undefined && shard !== undefined && Number(wanted) !== shard) return;
  if (mode === 'kill') process.kill(process.pid, 'SIGKILL');
  const key = `${point}:${shard ?? ''}`;
  if (failed.has(key)) return;
  failed.add(key);
  throw new ShardRetryableError(`injected fault at ${point}${shard === undefined ? '' : ` (shard ${shard})`}`);
}
