/**
 * `pgsip status`: where a deployed export stands. With `--execution ARN`, one execution: its status and, while
 * the Distributed Map runs, shards succeeded/running/failed out of the total (`--follow` keeps printing until
 * it ends); once it failed, one line per failed shard with the shard's own error (lambdas/shared/map-run-failures.ts).
 * With `--state-machine ARN`, the most recent executions. Control plane only (Step Functions API).
 */
import {
  DescribeExecutionCommand,
  DescribeMapRunCommand,
  type DescribeExecutionCommandOutput,
  ListExecutionsCommand,
  ListMapRunsCommand,
  SFNClient,
} from '@aws-sdk/client-sfn';
import { InputError } from '../../lambdas/engine/errors';
import { causeLine, describeShard } from '../../lambdas/engine/run-failure';
import { failedShards } from '../../lambdas/shared/map-run-failures';
import { formatBytes } from '../local/progress';

/** Only `send` is used, so tests can hand in a mocked client. */
export type SfnLike = Pick<SFNClient, 'send'>;

export interface StatusOptions {
  execution?: string;
  stateMachine?: string;
  follow?: boolean;
  /** Seconds between polls when following. */
  interval?: string;
}

export interface StatusDeps {
  client?: SfnLike;
  out?: (line: string) => void;
  err?: (line: string) => void;
  sleep?: (ms: number) => Promise<void>;
}

const ARN = /^arn:aws[a-z-]*:states:([a-z0-9-]+):\d{12}:(stateMachine|execution):.+$/;

/** A Step Functions ARN, checked; its region picks the client's region when none is configured. */
export function checkArn(flag: string, value: string | undefined, kind: 'stateMachine' | 'execution'): string {
  const m = value ? ARN.exec(value) : null;
  if (!value || !m || m[2] !== kind) {
    throw new InputError(`${flag} must be a Step Functions ${kind === 'execution' ? 'execution' : 'state machine'} ARN (arn:aws:states:<region>:<account>:${kind}:...), got ${JSON.stringify(value ?? '')}`);
  }
  return value;
}

export function clientFor(arn: string): SFNClient {
  const region = process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? ARN.exec(arn)?.[1];
  return new SFNClient({ region });
}

export function parseInterval(value: string | undefined): number {
  const n = Number(value ?? '5');
  if (!Number.isFinite(n) || n <= 0) throw new InputError(`--interval must be a positive number of seconds (got ${JSON.stringify(value)})`);
  return n * 1000;
}

/** `ExportShards: 5/8 shards succeeded, 2 running, 1 pending` or undefined before the Map starts. */
export async function shardProgress(client: SfnLike, executionArn: string): Promise<string | undefined> {
  const runs = await client.send(new ListMapRunsCommand({ executionArn }));
  const mapRunArn = runs.mapRuns?.[0]?.mapRunArn;
  if (!mapRunArn) return undefined;
  const run = await client.send(new DescribeMapRunCommand({ mapRunArn }));
  const c = run.itemCounts;
  if (!c) return undefined;
  const parts = [`${c.succeeded ?? 0}/${c.total ?? 0} shards succeeded`];
  if (c.running) parts.push(`${c.running} running`);
  if (c.pending) parts.push(`${c.pending} pending`);
  if (c.failed) parts.push(`${c.failed} failed`);
  if (c.timedOut) parts.push(`${c.timedOut} timed out`);
  if (c.aborted) parts.push(`${c.aborted} aborted`);
  return parts.join(', ');
}

/** One line per execution state: `<name> RUNNING 42 s: 5/8 shards succeeded, 2 running`. */
export function describeLine(e: DescribeExecutionCommandOutput, progress: string | undefined, now = new Date()): string {
  const end = e.stopDate ?? now;
  const seconds = e.startDate ? Math.round((end.getTime() - e.startDate.getTime()) / 1000) : 0;
  return `${e.name} ${e.status} ${seconds} s${progress ? `: ${progress}` : ''}`;
}

/** The final word on an ended execution: its output (SUCCEEDED) or one line with its error and cause. */
export function outcome(e: DescribeExecutionCommandOutput): { ok: boolean; line: string } {
  if (e.status === 'SUCCEEDED') return { ok: true, line: summarizeOutput(e.output) };
  // A Lambda error's cause is JSON ({"errorType","errorMessage",...}): the message is the useful part.
  const cause = causeLine(e.cause, 2000);
  return { ok: false, line: `execution ${e.name} ${e.status}${e.error ? `: ${e.error}` : ''}${cause ? `: ${cause}` : ''}` };
}

/** Failed shards `pgsip status` lists one by one; the rest are counted. */
export const FAILED_SHARD_LINES = 20;

/**
 * The failed shards of an ended execution, one line each with the shard's own error (at most
 * `FAILED_SHARD_LINES`, then how many more), and how many shards the failure stopped. A lookup that fails
 * (no permission for the child executions) is one line saying so: the execution's own error still follows.
 */
export async function failedShardLines(client: SfnLike, executionArn: string, limit = FAILED_SHARD_LINES): Promise<string[]> {
  try {
    const found = await failedShards(client, executionArn, { limit });
    const lines = found.shards.map((s) => `  ${clip(describeShard(s), 500)}`);
    if (found.total > found.shards.length) lines.push(`  and ${found.total - found.shards.length} more`);
    const failures = found.counts.failed + found.counts.timedOut;
    if (failures > 0 && found.counts.aborted > 0) lines.push(`  ${found.counts.aborted} other shard(s) stopped unfinished when the run failed`);
    return lines;
  } catch (error) {
    const e = error as Error;
    return [`  (failed shards could not be listed: ${e?.name ?? 'Error'}: ${causeLine(e?.message, 300)})`];
  }
}

/**
 * Commit's result as one line (and a line per table when it lists them). Two shapes: the counts Commit answers
 * now (`{ runId, tables: 3, rows, bytes, parts, runManifest?, catalog? }`), and the per-table list of earlier
 * versions (`{ runId, tables: [{ table, rows, parts, manifest }] }`), which executions of an older stack still hold.
 */
export function summarizeOutput(output: string | undefined): string {
  try {
    const result = JSON.parse(output ?? '{}') as {
      runId?: string;
      tables?: unknown;
      rows?: unknown;
      bytes?: unknown;
      parts?: unknown;
      runManifest?: unknown;
      catalog?: unknown;
    };
    if (typeof result.tables === 'number') {
      const parts = [`${result.tables} table(s)`, `${num(result.rows)} rows`];
      if (typeof result.parts === 'number') parts.push(`${result.parts} part(s)`);
      if (typeof result.bytes === 'number') parts.push(formatBytes(result.bytes));
      const lines = [`run ${result.runId}: ${parts.join(', ')}`];
      if (result.catalog && typeof result.catalog === 'object') {
        const outcomes = Object.entries(result.catalog as Record<string, unknown>).map(([k, v]) => `${num(v)} ${k}`);
        if (outcomes.length > 0) lines.push(`  catalog: ${outcomes.join(', ')}`);
      }
      if (typeof result.runManifest === 'string') lines.push(`  run manifest: ${result.runManifest}`);
      return lines.join('\n');
    }
    if (Array.isArray(result.tables)) {
      const tables = result.tables as { table: string; rows: number; parts: number; manifest: string }[];
      const lines = [`run ${result.runId}: ${tables.length} table(s), ${tables.reduce((s, t) => s + (t.rows ?? 0), 0)} rows`];
      for (const t of tables) lines.push(`  ${t.table}: ${t.rows} rows, ${t.parts} part(s) -> ${t.manifest}`);
      return lines.join('\n');
    }
    return output ?? '';
  } catch {
    return output ?? '';
  }
}

const num = (v: unknown) => (typeof v === 'number' ? v : 0);

const clip = (line: string, max: number) => (line.length <= max ? line : `${line.slice(0, max - 1)}…`);

/** Polls an execution until it ends, printing a line whenever its state or progress changes. */
export async function followExecution(
  client: SfnLike,
  executionArn: string,
  deps: { err: (line: string) => void; sleep: (ms: number) => Promise<void>; intervalMs: number },
): Promise<DescribeExecutionCommandOutput> {
  let last = '';
  for (;;) {
    const e = await client.send(new DescribeExecutionCommand({ executionArn }));
    const progress = e.status === 'RUNNING' ? await shardProgress(client, executionArn) : undefined;
    const key = `${e.status} ${progress ?? ''}`;
    if (key !== last) {
      deps.err(describeLine(e, progress));
      last = key;
    }
    if (e.status !== 'RUNNING' && e.status !== 'PENDING_REDRIVE') return e;
    await deps.sleep(deps.intervalMs);
  }
}

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function runStatus(options: StatusOptions, deps: StatusDeps = {}): Promise<void> {
  const out = deps.out ?? ((l: string) => process.stdout.write(`${l}\n`));
  const err = deps.err ?? ((l: string) => process.stderr.write(`${l}\n`));
  if (options.execution && options.stateMachine) throw new InputError('pass either --execution or --state-machine, not both');
  if (options.execution) {
    const arn = checkArn('--execution', options.execution, 'execution');
    const client = deps.client ?? clientFor(arn);
    const e = options.follow
      ? await followExecution(client, arn, { err, sleep: deps.sleep ?? defaultSleep, intervalMs: parseInterval(options.interval) })
      : await client.send(new DescribeExecutionCommand({ executionArn: arn }));
    if (!options.follow) out(describeLine(e, e.status === 'RUNNING' ? await shardProgress(client, arn) : undefined));
    if (e.status === 'RUNNING') return;
    const result = outcome(e);
    if (!result.ok) {
      // After the execution's own line, the shards that failed with their own errors; its error ends the command.
      for (const line of await failedShardLines(client, arn)) out(line);
      throw new Error(result.line);
    }
    out(result.line);
    return;
  }
  if (options.stateMachine) {
    const arn = checkArn('--state-machine', options.stateMachine, 'stateMachine');
    const client = deps.client ?? clientFor(arn);
    const list = await client.send(new ListExecutionsCommand({ stateMachineArn: arn, maxResults: 10 }));
    const executions = list.executions ?? [];
    if (executions.length === 0) out('no executions');
    for (const e of executions) {
      out(`${e.startDate?.toISOString() ?? ''} ${e.status} ${e.name} ${e.executionArn}`);
    }
    return;
  }
  throw new InputError('pass --execution ARN (one execution) or --state-machine ARN (recent executions)');
}
