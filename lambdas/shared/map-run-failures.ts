/**
 * The failed shards of an execution, from Step Functions: each shard is a child execution of the export's
 * Distributed Map, and a failed child keeps the shard's own error and cause (the parent only learns
 * `States.ExceedToleratedFailureThreshold`). Used by the DescribeFailure function (lambdas/failure/handler.ts)
 * and by `pgsip status` (bin/commands/status.ts).
 *
 * Calls, and what IAM must allow: `states:ListMapRuns` on the execution
 * (`arn:aws:states:<region>:<account>:execution:<stateMachine>:<name>`), `states:ListExecutions` on each Map Run
 * (`...:mapRun:<stateMachine>/<label>:<id>`) and `states:DescribeExecution` on each child execution described
 * (`...:execution:<stateMachine>/<label>:<id>`).
 */
import {
  DescribeExecutionCommand,
  type ExecutionListItem,
  ListExecutionsCommand,
  ListMapRunsCommand,
  type SFNClient,
} from '@aws-sdk/client-sfn';
import { causeLine, type FailedShard, type FailedShards, type FailedShardSource, type FailedShardStatus } from '../engine/run-failure';

/** Only `send` is used, so tests can hand in a mocked client. */
export type SfnSender = Pick<SFNClient, 'send'>;

export interface FailedShardsOptions {
  /** How many shards to describe (one DescribeExecution each). Default 20. */
  limit?: number;
}

/** Listed in this order: the shards that failed on their own before those a failure stopped. */
const STATUSES: readonly FailedShardStatus[] = ['FAILED', 'TIMED_OUT', 'ABORTED'];

/** The most a list call returns per page. */
const PAGE = 1000;

/** A bound on the pages of one listing: a Map Run holds at most 10,000 shards (contracts.ts), 10 pages. */
const MAX_PAGES = 100;

/**
 * The failed shards of an execution, from all its Map Runs (a redriven execution may have several). Every
 * child that did not succeed is listed, so the counts are exact and the first failure is found (listings come
 * newest first); only the first `limit` are described.
 */
export async function failedShards(client: SfnSender, executionArn: string, options: FailedShardsOptions = {}): Promise<FailedShards> {
  const limit = Math.max(0, options.limit ?? 20);
  const mapRunArns = await listMapRuns(client, executionArn);
  const byStatus = new Map<FailedShardStatus, ExecutionListItem[]>(STATUSES.map((s) => [s, []]));
  for (const mapRunArn of mapRunArns) {
    for (const status of STATUSES) byStatus.get(status)!.push(...(await listChildren(client, mapRunArn, status)).filter((c) => c.executionArn));
  }
  const counts = { failed: byStatus.get('FAILED')!.length, timedOut: byStatus.get('TIMED_OUT')!.length, aborted: byStatus.get('ABORTED')!.length };
  const failures = [...byStatus.get('FAILED')!, ...byStatus.get('TIMED_OUT')!];
  const pool = (failures.length > 0 ? failures : byStatus.get('ABORTED')!).sort(firstStoppedFirst);
  const shards: FailedShard[] = [];
  for (const child of pool.slice(0, limit)) shards.push(await describeChild(client, child));
  return { shards, total: pool.length, counts };
}

/** `failedShards` as the engine's `FailedShardSource` (lambdas/engine/run-failure.ts). */
export function failedShardSource(client: SfnSender): FailedShardSource {
  return { failedShards: (executionArn, options) => failedShards(client, executionArn, options) };
}

async function listMapRuns(client: SfnSender, executionArn: string): Promise<string[]> {
  const arns: string[] = [];
  let nextToken: string | undefined;
  for (let page = 0; page < MAX_PAGES; page++) {
    const r = await client.send(new ListMapRunsCommand({ executionArn, maxResults: PAGE, nextToken }));
    for (const run of r.mapRuns ?? []) if (run.mapRunArn) arns.push(run.mapRunArn);
    nextToken = r.nextToken;
    if (!nextToken) break;
  }
  return arns;
}

async function listChildren(client: SfnSender, mapRunArn: string, statusFilter: FailedShardStatus): Promise<ExecutionListItem[]> {
  const children: ExecutionListItem[] = [];
  let nextToken: string | undefined;
  for (let page = 0; page < MAX_PAGES; page++) {
    const r = await client.send(new ListExecutionsCommand({ mapRunArn, statusFilter, maxResults: PAGE, nextToken }));
    children.push(...(r.executions ?? []));
    nextToken = r.nextToken;
    if (!nextToken) break;
  }
  return children;
}

function firstStoppedFirst(a: ExecutionListItem, b: ExecutionListItem): number {
  const at = a.stopDate?.getTime() ?? Number.MAX_SAFE_INTEGER;
  const bt = b.stopDate?.getTime() ?? Number.MAX_SAFE_INTEGER;
  return at - bt || (a.executionArn ?? '').localeCompare(b.executionArn ?? '');
}

async function describeChild(client: SfnSender, child: ExecutionListItem): Promise<FailedShard> {
  const d = await client.send(new DescribeExecutionCommand({ executionArn: child.executionArn }));
  const status = (STATUSES as readonly string[]).includes(d.status ?? '') ? (d.status as FailedShardStatus) : (child.status as FailedShardStatus);
  return {
    ...shardOf(d.input),
    status,
    error: d.error || null,
    cause: causeLine(d.cause),
    childExecutionArn: child.executionArn!,
  };
}

/**
 * Table and shard from a child's input: `{ task: ShardTask, executionId, snapshot, heldSnapshot }` (the Map's
 * ItemSelector, lib/export-state-machine.ts) or a bare ShardTask. Only these fields leave this function.
 */
function shardOf(input: string | undefined): Pick<FailedShard, 'table' | 'shard' | 'shardCount'> {
  const none = { table: null, shard: null, shardCount: null };
  if (!input) return none;
  try {
    const parsed = JSON.parse(input) as { task?: unknown } | null;
    const task = (parsed && typeof parsed === 'object' && parsed.task && typeof parsed.task === 'object' ? parsed.task : parsed) as {
      table?: unknown;
      shard?: unknown;
      shardCount?: unknown;
    } | null;
    if (!task || typeof task !== 'object') return none;
    return {
      table: typeof task.table === 'string' && task.table.length <= 1024 ? task.table : null,
      shard: Number.isInteger(task.shard) ? (task.shard as number) : null,
      shardCount: Number.isInteger(task.shardCount) ? (task.shardCount as number) : null,
    };
  } catch {
    return none;
  }
}
