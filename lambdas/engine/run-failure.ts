/**
 * What a failed run tells the person who started it. A shard that fails ends the export's Distributed Map with
 * `States.ExceedToleratedFailureThreshold`, and the shard's own error stays in its child execution; without
 * help the execution fails saying only that the Map failed. `describeRunFailure` finds the failed shard (through
 * a `FailedShardSource`: on AWS, the Map Run's child executions, lambdas/shared/map-run-failures.ts) and answers
 * the error the execution fails with: the shard's own error name, and a cause that starts with its table and
 * shard. Any other error passes through unchanged, and so does this one when the shards cannot be looked up:
 * the original error is never lost for want of a better one.
 *
 * Nothing here knows Lambda or Step Functions' API: the DescribeFailure function (lambdas/failure/handler.ts)
 * and `pgsip status` (bin/commands/status.ts) bring the source.
 */
import type { EngineLog } from './environment';

/** The status of a child execution that did not succeed. */
export type FailedShardStatus = 'FAILED' | 'TIMED_OUT' | 'ABORTED';

/** One shard whose child execution did not succeed. Never carries the child's input, only what it names. */
export interface FailedShard {
  /** The table (canonical quoted name), from the child's input; null when the input could not be read. */
  table: string | null;
  shard: number | null;
  shardCount: number | null;
  status: FailedShardStatus;
  /** The child's error name (`ShardRetryableError`, `Sandbox.Timedout`, ...); null when it has none. */
  error: string | null;
  /** The child's cause as one line (`causeLine`); empty when it has none. */
  cause: string;
  childExecutionArn: string;
}

export interface FailedShards {
  /**
   * At most `limit` shards, the first to stop first: the failed and timed-out ones, or, only when there are
   * none, the aborted ones (a failure stops the shards still running; those did not fail on their own).
   */
  shards: FailedShard[];
  /** How many shards `shards` was taken from (more than `shards.length` when the limit cut the list). */
  total: number;
  /** Child executions of the execution's Map Runs, per status. */
  counts: { failed: number; timedOut: number; aborted: number };
}

/** Where the failed shards of an execution are found. */
export interface FailedShardSource {
  failedShards(executionArn: string, options?: { limit?: number }): Promise<FailedShards>;
}

/**
 * What DescribeFailure is given: the error `Run` caught, whole (`$`: a Catch's `{ Error, Cause }`; handed over
 * as one object because a path to a field that is absent would fail the state with `States.Runtime`, which no
 * Catch sees), and `$$.Execution.Id`.
 */
export interface RunFailureEvent {
  caught: { Error?: string; Cause?: string };
  executionId: string;
}

/** The error the execution fails with (RunFailed's ErrorPath and CausePath). */
export interface RunFailure {
  Error: string;
  Cause: string;
}

/**
 * Map-level errors that hide the error of the item that caused them. `States.ItemReaderFailed` and
 * `States.ResultWriterFailed` are the Map's own (its item list, its result file): their cause says it all.
 */
export const MAP_ERRORS_HIDING_SHARDS: readonly string[] = ['States.ExceedToleratedFailureThreshold'];

/** Step Functions keeps at most this many characters of an execution's cause (ExecutionFailedEventDetails). */
export const CAUSE_LIMIT = 32_768;

/** Step Functions keeps at most this many characters of an error name. */
export const ERROR_LIMIT = 256;

/**
 * The part of Lambda's message that only identifies the invocation: `RequestId: <id> Error: ` (timeouts and
 * out-of-memory kills, `Task timed out after 900.00 seconds`, `Runtime exited with error: signal: killed`) or
 * the older `<time> <id> ` form.
 */
const LAMBDA_MESSAGE_PREFIX = /^(?:RequestId: [0-9A-Fa-f-]+ Error: |\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z [0-9A-Fa-f-]{36} )/;

/**
 * A cause as one line. A Lambda error's cause is JSON (`{"errorType","errorMessage","trace"}`, or for a timeout
 * `{"errorType":"Sandbox.Timedout","errorMessage":"RequestId: ... Error: Task timed out after 900.00 seconds"}`):
 * its message is the useful part, without the request id. Anything else: its first non-empty line.
 */
export function causeLine(cause: string | null | undefined, maxLength = CAUSE_LIMIT): string {
  if (!cause) return '';
  let text = cause;
  try {
    const parsed = JSON.parse(cause) as { errorMessage?: unknown } | null;
    if (parsed && typeof parsed === 'object' && typeof parsed.errorMessage === 'string' && parsed.errorMessage.trim()) text = parsed.errorMessage;
  } catch {
    // not JSON
  }
  const line = text.split('\n').map((l) => l.trim()).find((l) => l.length > 0) ?? '';
  return truncate(line.replace(LAMBDA_MESSAGE_PREFIX, ''), maxLength);
}

/** `table "public"."orders" shard 3`, or the child execution's name when its input could not be read. */
export function shardLabel(s: FailedShard): string {
  if (s.table !== null && s.shard !== null) return `table ${s.table} shard ${s.shard}`;
  if (s.table !== null) return `table ${s.table}`;
  return `shard execution ${s.childExecutionArn.slice(s.childExecutionArn.lastIndexOf(':') + 1)}`;
}

/**
 * What happened to the shard, without repeating its label: pgsip's shard errors already start with
 * `table X shard N: ` (lambdas/engine/shard-failure.ts). A child without a cause says how it ended.
 */
export function shardCause(s: FailedShard): string {
  const label = `${shardLabel(s)}: `;
  const cause = s.cause.startsWith(label) ? s.cause.slice(label.length) : s.cause;
  if (cause) return cause;
  if (s.status === 'TIMED_OUT') return 'timed out';
  if (s.status === 'ABORTED') return 'stopped before it finished (aborted)';
  return s.error ? '' : 'failed';
}

/** One line per shard: `table "public"."orders" shard 3: ShardRetryableError: connection lost ...`. */
export function describeShard(s: FailedShard): string {
  const cause = shardCause(s);
  return `${shardLabel(s)}: ${[s.error, cause].filter((p) => p).join(': ')}`;
}

export interface RunFailureDeps {
  source: FailedShardSource;
  log?: Pick<EngineLog, 'info' | 'warn'>;
}

/**
 * The error the execution fails with: for a Map failure that hides its shards, the first failed shard's error
 * name and `table X shard N: <its cause>` (with how many failed and where to see them all); otherwise, or when
 * the shards cannot be looked up, the caught error unchanged.
 */
export async function describeRunFailure(event: RunFailureEvent, deps: RunFailureDeps): Promise<RunFailure> {
  const caught = event.caught ?? {};
  const unchanged: RunFailure = { Error: caught.Error ?? '', Cause: caught.Cause ?? '' };
  if (!MAP_ERRORS_HIDING_SHARDS.includes(unchanged.Error) || !event.executionId) return unchanged;

  let found: FailedShards;
  try {
    found = await deps.source.failedShards(event.executionId, { limit: 1 });
  } catch (error) {
    const e = error as Error;
    deps.log?.warn('failed shards could not be looked up; the execution fails with the Map error', {
      errorName: e?.name,
      errorMessage: e?.message,
    });
    return unchanged;
  }
  const first = found.shards[0];
  if (!first) {
    deps.log?.warn('the Map failed but no failed shard was found; the execution fails with the Map error', { counts: found.counts });
    return unchanged;
  }

  const failures = found.counts.failed + found.counts.timedOut;
  const more =
    found.total > 1
      ? ` (${found.total} shards ${failures > 0 ? 'failed' : 'were stopped'}; pgsip status --execution ${event.executionId} lists them)`
      : '';
  const head = `${shardLabel(first)}: ${shardCause(first) || first.error || first.status.toLowerCase()}`;
  const result: RunFailure = {
    Error: truncate(first.error ?? unchanged.Error, ERROR_LIMIT),
    Cause: truncate(head, CAUSE_LIMIT - more.length) + more,
  };
  deps.log?.info('run failure described', {
    error: result.Error,
    table: first.table ?? undefined,
    shard: first.shard ?? undefined,
    status: first.status,
    failedShards: found.total,
    childExecutionArn: first.childExecutionArn,
  });
  return result;
}

/** At most `max` characters (UTF-16 units, never more characters than that), `…` marking a cut. */
function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  let cut = text.slice(0, Math.max(0, max - 1));
  // Do not leave half of a surrogate pair behind.
  if (/[\uD800-\uDBFF]$/.test(cut)) cut = cut.slice(0, -1);
  return `${cut}…`;
}
