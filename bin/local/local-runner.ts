/**
 * Runs an export on this machine through the very state machine the CDK app deploys.
 *
 * The run's snapshot is held as on AWS: the definition's holder loops run here as Tasks, each holder one engine
 * call with its own connection (lambdas/engine/hold-snapshot.ts), so a local run is one moment the same way.
 *
 * The definition is not written twice: it comes out of synthesizing the CDK app in-process (bundling skipped,
 * the result cached by a hash of everything it depends on), and `aws-local-stepfunctions` executes it. Each
 * Lambda Task is served by the engine phase its handler wraps (Plan, Export, Commit), given an engine
 * environment built from the CLI's flags instead of Lambda's environment variables and Secrets Manager. Any
 * Task state without a local handler is an error, so a run can never reach out to AWS by accident.
 */
import './polyfills';
import { StateMachine } from 'aws-local-stepfunctions';
import type pg from 'pg';
import { commitOutput, commitRun } from '../../lambdas/engine/commit-run';
import type { CommitEvent, CommitResult, ExecutionInput, ExportShardEvent, HolderEvent, PlanEvent, PlanResult } from '../../lambdas/engine/contracts';
import type { EngineEnvironment } from '../../lambdas/engine/environment';
import { exportShard, shardTaskOf } from '../../lambdas/engine/export-shard';
import { planRun } from '../../lambdas/engine/plan-run';
import { describeRunFailure, type RunFailureEvent } from '../../lambdas/engine/run-failure';
import { snapshotHolder } from '../../lambdas/engine/hold-snapshot';
import { removeHeldSnapshot } from '../../lambdas/engine/run/held-snapshot';
import { InterruptedError, ShardRetryableError } from '../../lambdas/engine/errors';
import { dropConnection } from '../../lambdas/engine/postgres/connection';
import { cachedSynthesizeDefinition } from './definition-cache';
import { serveItemReaders } from './item-readers';

export interface LocalRunOptions {
  input: ExecutionInput;
  /** Its `connectionBudget` caps the run's concurrency, as a deployment's does. */
  environment: EngineEnvironment;
  /** The execution's name (Plan's default run id). */
  executionName: string;
  /**
   * Stops the run when aborted (`pgsip run` aborts it on SIGINT and SIGTERM, the reason being the signal's
   * name): the execution is aborted, every connection the run opened is closed (so Postgres ends its
   * backends at once), running shards abandon their unfinished parts, and no task starts after that.
   * `runLocally` then rejects with an `InterruptedError` once the tasks in flight have settled.
   */
  signal?: AbortSignal;
  /** Told of each shard attempt that failed with a `ShardRetryableError` (the state machine may try it again). */
  onRetryableFailure?(error: Error, attempt: number): void;
}

export interface LocalRunResult {
  plan: PlanResult;
  commit: CommitResult;
  /** The Amazon States Language definition that ran, exactly as synthesized. */
  definition: Record<string, unknown>;
}

type LambdaInvokeInput = { FunctionName: string; Payload: unknown };

/** How long a stopped run waits for its tasks in flight (each sees its connection closed) before it returns. */
const SETTLE_MS = 15_000;

/**
 * Lambda's `lambda:invoke` integration wraps the function's answer as `{ Payload }`; `after` is what the
 * runner adds before the next state sees it (the items of an ItemReader, item-readers.ts).
 */
function asLambdaTask<I, O>(handler: (event: I) => Promise<O>, after?: (payload: unknown) => Promise<unknown>) {
  return async (input: unknown) => {
    const payload: unknown = await handler((input as LambdaInvokeInput).Payload as I);
    return { Payload: after ? await after(payload) : payload };
  };
}

/**
 * The tasks of one local run and the connections they opened, so that a run that stops (interrupted, or
 * failed while other shards were still running) ends them all before it returns: the interpreter abandons a
 * Map's other items when one fails, but their handlers would go on, and items still queued would even start.
 */
class RunTasks {
  private readonly clients = new Set<pg.Client>();
  private readonly inFlight = new Set<Promise<unknown>>();
  /** ExportShard attempts per shard, and the attempt count of each error a shard gave up with. */
  private readonly attempts = new Map<string, number>();
  private readonly attemptsOf = new WeakMap<object, number>();
  private stopped = false;
  /** Aborted when the run stops: the engine's long waits (snapshot holders, Plan waiting for one) end on it. */
  private readonly stopping = new AbortController();
  /** Every error a task threw while the run went on, newest last: the execution's failure names one of them. */
  private readonly failures: Error[] = [];
  finishedShards = 0;
  readonly environment: EngineEnvironment;

  constructor(
    environment: EngineEnvironment,
    private readonly onRetryableFailure?: (error: Error, attempt: number) => void,
  ) {
    this.environment = {
      // Holders look for their successor and the release often: a local run ends as soon as Commit is done.
      ...environment,
      tuning: { snapshotPollMs: 100, ...environment.tuning },
      signal: this.stopping.signal,
      connect: async (applicationName) => {
        if (this.stopped) throw new InterruptedError('the run is stopping');
        const client = await environment.connect(applicationName);
        if (this.stopped) {
          dropConnection(client);
          throw new InterruptedError('the run is stopping');
        }
        this.clients.add(client);
        client.once('end', () => this.clients.delete(client));
        return client;
      },
    };
  }

  /** A Task handler that refuses to start once the run stops (a Retry's next attempt, a queued Map item). */
  serve(handler: (input: unknown) => Promise<{ Payload: unknown }>, shard?: (input: unknown) => string) {
    return async (input: unknown) => {
      if (this.stopped) throw new InterruptedError('the run is stopping');
      const key = shard?.(input);
      const attempt = key === undefined ? 0 : (this.attempts.get(key) ?? 0) + 1;
      if (key !== undefined) this.attempts.set(key, attempt);
      const task = handler(input);
      this.inFlight.add(task);
      try {
        const result = await task;
        if (key !== undefined) this.finishedShards++;
        return result;
      } catch (error) {
        if (typeof error === 'object' && error !== null && !this.stopped) this.failures.push(error as Error);
        if (key !== undefined && typeof error === 'object' && error !== null) {
          this.attemptsOf.set(error, attempt);
          if (!this.stopped && (error as Error).name === 'ShardRetryableError') this.onRetryableFailure?.(error as Error, attempt);
        }
        throw error;
      } finally {
        this.inFlight.delete(task);
      }
    };
  }

  /** Closes every connection of the run, then waits (a bounded time) for the tasks in flight to settle. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.stopping.abort();
    for (const client of this.clients) dropConnection(client);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.inFlight]),
      new Promise<void>((ok) => {
        timer = setTimeout(ok, SETTLE_MS);
        timer.unref();
      }),
    ]);
    clearTimeout(timer);
  }

  /**
   * The error pgsip raised that ended the run. A failure is caught on the `Run` state (the snapshot is
   * released), so the execution ends in `RunFailed` with the error's name and message only: this finds the
   * error object they came from.
   */
  culprit(error: Error): Error {
    const caught = this.failures.filter((f) => f.name === error.name && f.message === error.message).pop();
    return caught ?? error;
  }

  /** A shard that kept failing says how often it was tried. */
  explain(error: Error): Error {
    const attempts = this.attemptsOf.get(error);
    if (error.name === 'ShardRetryableError' && attempts !== undefined && attempts > 1) {
      return new ShardRetryableError(`${error.message} (gave up after ${attempts} attempts)`, { cause: error });
    }
    return error;
  }
}

export async function runLocally(options: LocalRunOptions): Promise<LocalRunResult> {
  const { definition, taskFunctions } = await cachedSynthesizeDefinition();
  const tasks = new RunTasks(options.environment, options.onRetryableFailure);
  const env = tasks.environment;
  const { interpreted, afterTask } = serveItemReaders(definition, env.destination);
  let plan: PlanResult | undefined;
  let committed: CommitResult | undefined;
  const shardOf = (input: unknown) => {
    const task = shardTaskOf((input as LambdaInvokeInput).Payload as ExportShardEvent);
    return `${task.runDir}#${task.shard}`;
  };
  // Each Task is served by the engine phase its Lambda handler wraps; the handlers' Lambda-only parts (Powertools
  // logs and metrics, Secrets Manager) have no part in a local run.
  const holder = tasks.serve(asLambdaTask((event: HolderEvent) => snapshotHolder(event, env)));
  const handlers: Record<string, (input: unknown) => Promise<{ Payload: unknown }>> = {
    Plan: tasks.serve(asLambdaTask(async (event: PlanEvent) => (plan = await planRun(event, env)), afterTask.Plan)),
    ExportShard: tasks.serve(asLambdaTask((event: ExportShardEvent) => exportShard(shardTaskOf(event), env), afterTask.ExportShard), shardOf),
    // The state machine sees what the Commit function answers (counts); the CLI prints the tables from the
    // engine's whole result.
    Commit: tasks.serve(asLambdaTask(async (event: CommitEvent) => commitOutput((committed = await commitRun(event, env))), afterTask.Commit)),
    // Hold, Release and ReleaseAfterFailure all invoke the holder function.
    Hold: holder,
    Release: holder,
    ReleaseAfterFailure: holder,
    // The interpreter runs the Distributed Map inline: a failed shard's own error reaches Run's Catch, so there
    // is no Map Run to look into and the caught error passes through (the source is never asked).
    DescribeFailure: tasks.serve(asLambdaTask((event: RunFailureEvent) => describeRunFailure(event, { source: { failedShards: async () => ({ shards: [], total: 0, counts: { failed: 0, timedOut: 0, aborted: 0 } }) } }))),
  };
  const unserved = [...Object.keys(taskFunctions), ...Object.keys(afterTask)].filter((state) => !(state in handlers));
  if (unserved.length > 0) throw new Error(`the state machine has Task states with no local handler: ${unserved.join(', ')}`);
  if (options.signal?.aborted) throw interrupted(options, tasks, plan);

  // The interpreter annotates the definition it is given (e.g. QueryLanguage); it gets a copy (with the
  // ItemReaders served), so that what this function reports as having run is exactly what was synthesized.
  const machine = new StateMachine(interpreted as unknown as ConstructorParameters<typeof StateMachine>[0], {
    // Validated when it was synthesized (definition-cache.ts).
    validationOptions: { checkArn: false, noValidate: true },
  });
  const startTime = new Date().toISOString();
  const execution = machine.run(options.input as never, {
    overrides: { taskResourceLocalHandlers: handlers as never },
    context: {
      Execution: {
        Id: `arn:aws:states:local:000000000000:execution:pgsip:${options.executionName}`,
        Name: options.executionName,
        StartTime: startTime,
        Input: options.input as never,
        RoleArn: 'arn:aws:iam::000000000000:role/pgsip-local',
      },
      StateMachine: { Id: 'arn:aws:states:local:000000000000:stateMachine:pgsip', Name: 'pgsip' },
    } as never,
  });
  const abort = () => execution.abort();
  options.signal?.addEventListener('abort', abort, { once: true });
  try {
    await execution.result;
    return { plan: plan!, commit: committed!, definition };
  } catch (error) {
    // Whatever ended the run, nothing of it goes on: connections closed, shards in flight settled.
    await tasks.stop();
    if (options.signal?.aborted) throw interrupted(options, tasks, plan);
    throw tasks.explain(tasks.culprit(rootCause(error)));
  } finally {
    options.signal?.removeEventListener('abort', abort);
    // The execution has ended and its holders have let go: its held-snapshot files have served.
    await removeHeldSnapshot(env.destination, options.executionName).catch(() => {});
  }
}

function interrupted(options: LocalRunOptions, tasks: RunTasks, plan: PlanResult | undefined): InterruptedError {
  const reason = options.signal?.reason;
  const runId = plan?.runId ?? options.input.runId ?? options.executionName;
  const what = typeof reason === 'string' ? ` (${reason})` : '';
  const progress = plan ? `${tasks.finishedShards} of ${plan.shardCount} shards had finished and are kept` : 'while planning';
  return new InterruptedError(`run ${runId} interrupted${what}: ${progress}; to resume, run the same command with --run-id ${runId}`);
}

/** The interpreter wraps a task's error once in an `ExecutionError`; the user wants the one pgsip raised. */
function rootCause(error: unknown): Error {
  const e = error as Error & { cause?: unknown };
  if (e?.name === 'ExecutionError' && e.cause instanceof Error) return e.cause;
  return e instanceof Error ? e : new Error(String(error));
}
