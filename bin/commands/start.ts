/**
 * `pgsip start`: start an export on the deployed state machine and follow it until it ends. The execution
 * input is the documented one (`ExecutionInput` in lambdas/engine/contracts.ts); the execution is named after
 * the run id, so the run folders and the execution match. Exit 0 only when the execution SUCCEEDED.
 */
import { randomBytes } from 'node:crypto';
import { StartExecutionCommand } from '@aws-sdk/client-sfn';
import type { ExecutionInput } from '../../lambdas/engine/contracts';
import { InputError } from '../../lambdas/engine/errors';
import { checkRunId, newRunId } from '../../lambdas/engine/run/layout';
import { splitTableList } from '../../lambdas/engine/postgres/table-name';
import { checkTableSelection } from '../../lambdas/engine/selection/table-patterns';
import { parsePositive, parseShards, type SharedRunOptions, sharedRunInput } from './run';
import { checkArn, clientFor, failedShardLines, followExecution, outcome, parseInterval, type StatusDeps } from './status';

export interface StartOptions extends SharedRunOptions {
  stateMachine: string;
  tables: string;
  shards?: string;
  concurrency?: string;
  runId?: string;
  compression?: string;
  /** Do not follow: print the execution ARN and return. */
  wait?: boolean;
  interval?: string;
}

/** The execution input `pgsip start` sends (also what a schedule or a console user would send). */
export function executionInput(options: StartOptions): ExecutionInput {
  const tables = splitTableList(options.tables ?? '');
  if (tables.length === 0) throw new InputError('no tables: pass --tables schema.table[,schema.table...]');
  checkTableSelection({ tables }); // refuses a bad name or pattern here, before anything starts
  const input: ExecutionInput = { tables, shards: parseShards(options.shards ?? 'auto'), ...sharedRunInput(options, tables) };
  if (options.runId) input.runId = checkRunId(options.runId);
  if (options.concurrency !== undefined) input.concurrency = parsePositive('--concurrency', options.concurrency);
  if (options.compression) input.compression = options.compression.toUpperCase() as ExecutionInput['compression'];
  return input;
}

export async function runStart(options: StartOptions, deps: StatusDeps & { newName?: () => string } = {}): Promise<{ executionArn: string; status: string }> {
  const out = deps.out ?? ((l: string) => process.stdout.write(`${l}\n`));
  const err = deps.err ?? ((l: string) => process.stderr.write(`${l}\n`));
  const stateMachineArn = checkArn('--state-machine', options.stateMachine, 'stateMachine');
  const input = executionInput(options);
  const intervalMs = parseInterval(options.interval);
  // Without --run-id the execution name is a fresh run id, which Plan takes as the run id. With --run-id (to
  // resume a run: finished shards are skipped) the input carries it, and the execution gets a suffixed name,
  // since execution names cannot be reused for 90 days.
  const name = input.runId ? `${input.runId.slice(0, 73)}-${randomBytes(3).toString('hex')}` : (deps.newName ?? newRunId)();
  const client = deps.client ?? clientFor(stateMachineArn);
  const started = await client.send(new StartExecutionCommand({ stateMachineArn, name, input: JSON.stringify(input) }));
  const executionArn = started.executionArn!;
  err(`started ${executionArn}`);
  if (options.wait === false) {
    out(executionArn);
    return { executionArn, status: 'RUNNING' };
  }
  const e = await followExecution(client, executionArn, { err, sleep: deps.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms))), intervalMs });
  const result = outcome(e);
  if (!result.ok) {
    // Each failed shard with its own error, as `pgsip status` lists them; then the execution's one line.
    if (e.status === 'FAILED') for (const line of await failedShardLines(client, executionArn)) err(line);
    throw new Error(result.line);
  }
  out(result.line);
  return { executionArn, status: e.status ?? 'UNKNOWN' };
}
