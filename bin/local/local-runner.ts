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

export interface LocalRunOptions {
  input: ExecutionInput;
  environment: EngineEnvironment;
  /** The Distributed Map's MaxConcurrency, as `cdk deploy` would set it: the database's connection budget. */
  concurrency: number;
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

/** Lambda's `lambda:invoke` integration wraps the function's answer as `{ Payload }`. */
function asLambdaTask<I, O>(handler: (event: I) => Promise<O>) {
  return async (input: unknown) => ({ Payload: (await handler((input as LambdaInvokeInput).Payload as I)) as unknown });
}

export async function runLocally(options: LocalRunOptions): Promise<LocalRunResult> {
  const { definition, taskFunctions } = await cachedSynthesizeDefinition({ concurrency: options.concurrency });
  const env = options.environment;
  let plan: PlanResult | undefined;
  // Each Task is served by the engine phase its Lambda handler wraps; the handlers' Lambda-only parts (Powertools
  // logs and metrics, Secrets Manager) have no part in a local run.
  const handlers: Record<string, (input: unknown) => Promise<{ Payload: unknown }>> = {
    Plan: asLambdaTask(async (event: PlanEvent) => (plan = await planRun(event, env))),
    ExportShard: asLambdaTask((event: ExportShardEvent) => exportShard(shardTaskOf(event), env)),
    Commit: asLambdaTask((event: CommitEvent) => commitRun(event, env)),
  };
  const unserved = Object.keys(taskFunctions).filter((state) => !(state in handlers));
  if (unserved.length > 0) throw new Error(`the state machine has Task states with no local handler: ${unserved.join(', ')}`);

  // The interpreter annotates the definition it is given (e.g. QueryLanguage); it gets a copy, so that what
  // this function reports as having run is exactly what was synthesized.
  const machine = new StateMachine(structuredClone(definition) as unknown as ConstructorParameters<typeof StateMachine>[0], {
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
