/**
 * Runs an export on this machine through the very state machine the CDK app deploys.
 *
 * The definition is not written twice: it comes out of synthesizing the CDK app in-process (bundling skipped,
 * the result cached by a hash of everything it depends on), and `aws-local-stepfunctions` executes it. Each
 * Lambda Task is served by the engine phase its handler wraps (Plan, Export, Commit), given an engine
 * environment built from the CLI's flags instead of Lambda's environment variables and Secrets Manager. Any
 * Task state without a local handler is an error, so a run can never reach out to AWS by accident.
 */
import './polyfills';
import { StateMachine } from 'aws-local-stepfunctions';
import { commitRun } from '../../lambdas/engine/commit-run';
import type { CommitEvent, CommitResult, ExecutionInput, ExportShardEvent, PlanEvent, PlanResult } from '../../lambdas/engine/contracts';
import type { EngineEnvironment } from '../../lambdas/engine/environment';
import { exportShard, shardTaskOf } from '../../lambdas/engine/export-shard';
import { planRun } from '../../lambdas/engine/plan-run';
import { cachedSynthesizeDefinition } from './definition-cache';
import { serveItemReaders } from './item-readers';

export interface LocalRunOptions {
  input: ExecutionInput;
  /** Its `connectionBudget` caps the run's concurrency, as a deployment's does. */
  environment: EngineEnvironment;
  /** The execution's name (Plan's default run id). */
  executionName: string;
}

export interface LocalRunResult {
  plan: PlanResult;
  commit: CommitResult;
  /** The Amazon States Language definition that ran, exactly as synthesized. */
  definition: Record<string, unknown>;
}

type LambdaInvokeInput = { FunctionName: string; Payload: unknown };

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

export async function runLocally(options: LocalRunOptions): Promise<LocalRunResult> {
  const { definition, taskFunctions } = await cachedSynthesizeDefinition();
  const env = options.environment;
  const { interpreted, afterTask } = serveItemReaders(definition, env.destination);
  let plan: PlanResult | undefined;
  // Each Task is served by the engine phase its Lambda handler wraps; the handlers' Lambda-only parts (Powertools
  // logs and metrics, Secrets Manager) have no part in a local run.
  const handlers: Record<string, (input: unknown) => Promise<{ Payload: unknown }>> = {
    Plan: asLambdaTask(async (event: PlanEvent) => (plan = await planRun(event, env)), afterTask.Plan),
    ExportShard: asLambdaTask((event: ExportShardEvent) => exportShard(shardTaskOf(event), env), afterTask.ExportShard),
    Commit: asLambdaTask((event: CommitEvent) => commitRun(event, env), afterTask.Commit),
  };
  const unserved = [...Object.keys(taskFunctions), ...Object.keys(afterTask)].filter((state) => !(state in handlers));
  if (unserved.length > 0) throw new Error(`the state machine has Task states with no local handler: ${unserved.join(', ')}`);

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
  try {
    const commit = (await execution.result) as unknown as CommitResult;
    return { plan: plan!, commit, definition };
  } catch (error) {
    throw rootCause(error);
  }
}

/** The interpreter wraps a task's error once in an `ExecutionError`; the user wants the one pgsip raised. */
function rootCause(error: unknown): Error {
  const e = error as Error & { cause?: unknown };
  if (e?.name === 'ExecutionError' && e.cause instanceof Error) return e.cause;
  return e instanceof Error ? e : new Error(String(error));
}
