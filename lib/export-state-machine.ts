/**
 * The pgsip state machine: Plan -> ExportShards (Distributed Map of ExportShard) -> Commit.
 *
 * The state names are a contract: the local runner (aws-local-stepfunctions) serves each Task by its state
 * name, and executes the very definition this construct synthesizes (see `state-machine-definition.ts`).
 */
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, RetentionDays, type LogGroupProps } from 'aws-cdk-lib/aws-logs';
import {
  DefinitionBody,
  DistributedMap,
  JitterType,
  JsonPath,
  LogLevel,
  StateMachine,
  StateMachineType,
  TaskInput,
  Timeout,
  type RetryProps,
} from 'aws-cdk-lib/aws-stepfunctions';
import { LambdaInvoke } from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';

/** State names; the local runner overrides Tasks by these. */
export const STATE_NAMES = {
  plan: 'Plan',
  exportShards: 'ExportShards',
  exportShard: 'ExportShard',
  commit: 'Commit',
} as const;

/**
 * Transient Lambda service errors, retried on every Task. Spelled out rather than left to `LambdaInvoke`'s
 * default, which omits `Lambda.TooManyRequestsException` (throttling: likely with a wide fan-out).
 * `Lambda.Unknown` is what a function timeout or out-of-memory surfaces as.
 */
export const LAMBDA_TRANSIENT_ERRORS: readonly string[] = [
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.TooManyRequestsException',
  'Lambda.Unknown',
];

/** The `name` of the error an Export shard throws when a fresh attempt may succeed (lambdas/engine/errors.ts). */
export const SHARD_RETRYABLE_ERROR = 'ShardRetryableError';

/** Backoff shared by every retrier: 2 s, 4 s (x2), at most 3 retries, full jitter so shards do not stampede. */
const RETRY_BACKOFF: Omit<RetryProps, 'errors'> = {
  interval: Duration.seconds(2),
  backoffRate: 2,
  maxAttempts: 3,
  jitterStrategy: JitterType.FULL,
};

/**
 * Every Task gets an explicit timeout: AWS defaults to about three years, but the States Language spec (and so
 * the local interpreter) to 60 s, which would fail any shard that takes a minute locally. Lambda's own
 * 15-minute cap ends a deployed task first; this bounds a local run's shard one minute later.
 */
export const TASK_TIMEOUT = Timeout.duration(Duration.minutes(16));

export interface ExportStateMachineProps {
  /** Plan: execution input -> `{ runId, tables, shards }` (`PlanResult` in lambdas/engine/contracts.ts). */
  readonly planFunction: IFunction;

  /** Export: one `ShardTask` -> Parquet parts and a shard manifest on the destination. */
  readonly exportFunction: IFunction;

  /** Commit: `{ runId, tables }` -> run manifests and `_SUCCESS` per table. */
  readonly commitFunction: IFunction;

  /**
   * How many shards run at once: the Distributed Map's MaxConcurrency. Each running shard holds one database
   * connection, so this is the connection budget pgsip may take from the source. Must be a positive integer
   * (0 would mean "unlimited" to Step Functions).
   *
   * @default 4
   */
  readonly maxConcurrency?: number;

  /**
   * Timeout of a whole execution.
   *
   * @default Duration.hours(6)
   */
  readonly timeout?: Duration;

  /**
   * Whether execution logs include state input and output. Payloads carry table names and key ranges, not
   * table data, but they are still facts about the source database, so this is off unless asked for.
   *
   * @default false
   */
  readonly includeExecutionData?: boolean;

  /**
   * Overrides for the execution log group (merged over the defaults).
   *
   * @default - retention RetentionDays.THREE_MONTHS, removal policy RETAIN
   */
  readonly logGroupProps?: LogGroupProps;
}

/**
 * Plan -> ExportShards (Distributed Map, one child execution per shard) -> Commit, as a STANDARD state
 * machine with X-Ray tracing and every event logged (level ALL) to its own log group.
 */
export class ExportStateMachine extends Construct {
  public readonly stateMachine: StateMachine;
  public readonly logGroup: LogGroup;

  constructor(scope: Construct, id: string, props: ExportStateMachineProps) {
    super(scope, id);

    const maxConcurrency = props.maxConcurrency ?? 4;
    if (!Number.isInteger(maxConcurrency) || maxConcurrency < 1) {
      throw new Error(`ExportStateMachine: maxConcurrency must be a positive integer, got ${maxConcurrency}`);
    }

    // The payload wraps the execution input instead of passing `$` through, so Plan also learns the
    // execution name: the default runId when the input has none. Picking input fields one by one
    // (`"tables.$": "$.tables"`) would fail the state whenever an optional field such as runId is absent.
    // Plan therefore receives `{ input: ExecutionInput, executionName: string }`.
    const plan = new LambdaInvoke(this, STATE_NAMES.plan, {
      stateName: STATE_NAMES.plan,
      lambdaFunction: props.planFunction,
      payload: TaskInput.fromObject({
        input: JsonPath.entirePayload,
        executionName: JsonPath.stringAt('$$.Execution.Name'),
        executionId: JsonPath.stringAt('$$.Execution.Id'),
      }),
      outputPath: '$.Payload',
      retryOnServiceExceptions: false,
      taskTimeout: TASK_TIMEOUT,
    });
    plan.addRetry({ errors: [...LAMBDA_TRANSIENT_ERRORS], ...RETRY_BACKOFF });

    const exportShard = new LambdaInvoke(this, STATE_NAMES.exportShard, {
      stateName: STATE_NAMES.exportShard,
      lambdaFunction: props.exportFunction,
      payload: TaskInput.fromJsonPathAt('$'),
      outputPath: '$.Payload',
      retryOnServiceExceptions: false,
      taskTimeout: TASK_TIMEOUT,
    });
    exportShard.addRetry({ errors: [...LAMBDA_TRANSIENT_ERRORS], ...RETRY_BACKOFF });
    exportShard.addRetry({ errors: [SHARD_RETRYABLE_ERROR], ...RETRY_BACKOFF });

    // Items stay inline in the state (`$.shards`), no ItemReader: the local interpreter ignores ItemReader,
    // and Plan keeps the shard list small. Results are discarded: Commit reads the shard manifests on the
    // destination, and the Map's results could exceed the 256 KB state limit.
    // The ItemSelector wraps each shard task with the parent execution's id (a child execution of a
    // Distributed Map has its own), so every Export log line names the run's execution:
    // ExportShard receives `{ task: ShardTask, executionId: string }`.
    const exportShards = new DistributedMap(this, STATE_NAMES.exportShards, {
      stateName: STATE_NAMES.exportShards,
      itemsPath: '$.shards',
      itemSelector: {
        task: JsonPath.objectAt('$$.Map.Item.Value'),
        executionId: JsonPath.stringAt('$$.Execution.Id'),
      },
      maxConcurrency,
      // Any failed shard fails the run (0 is also the service default, so CDK does not render it).
      toleratedFailurePercentage: 0,
      resultPath: JsonPath.DISCARD,
    });
    exportShards.itemProcessor(exportShard);

    const commit = new LambdaInvoke(this, STATE_NAMES.commit, {
      stateName: STATE_NAMES.commit,
      lambdaFunction: props.commitFunction,
      payload: TaskInput.fromObject({
        runId: JsonPath.stringAt('$.runId'),
        tables: JsonPath.listAt('$.tables'),
        executionId: JsonPath.stringAt('$$.Execution.Id'),
      }),
      outputPath: '$.Payload',
      retryOnServiceExceptions: false,
      taskTimeout: TASK_TIMEOUT,
    });
    commit.addRetry({ errors: [...LAMBDA_TRANSIENT_ERRORS], ...RETRY_BACKOFF });

    this.logGroup = new LogGroup(this, 'Logs', {
      retention: RetentionDays.THREE_MONTHS,
      removalPolicy: RemovalPolicy.RETAIN,
      ...props.logGroupProps,
    });

    this.stateMachine = new StateMachine(this, 'Resource', {
      definitionBody: DefinitionBody.fromChainable(plan.next(exportShards).next(commit)),
      stateMachineType: StateMachineType.STANDARD,
      timeout: props.timeout ?? Duration.hours(6),
      tracingEnabled: true,
      logs: {
        destination: this.logGroup,
        level: LogLevel.ALL,
        includeExecutionData: props.includeExecutionData ?? false,
      },
    });
  }
}
