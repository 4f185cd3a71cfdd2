/**
 * The pgsip state machine. One Parallel state, `Run`, with two branches: the export (Plan -> ExportShards, a
 * Distributed Map of ExportShard -> Commit -> Release) and the snapshot holders (two loops of Hold that take
 * turns, lambdas/engine/hold-snapshot.ts), which hold the run's one snapshot until Release says the export is
 * done with it. Any failure is caught on `Run`: ReleaseAfterFailure lets the holders go, DescribeFailure finds
 * the error that ended the run (a failed shard's own, naming its table and shard), and the execution fails
 * with it (`RunFailed`).
 *
 * Every state's output stays small whatever the run's size (Step Functions caps each at 256 KiB, and an
 * oversized output fails the execution with an error no Catch sees): Plan answers where the shard list is,
 * shards answer nothing, Commit answers counts (test/lib/state-payloads.test.ts builds the largest of each).
 *
 * The state names are a contract: the local runner (aws-local-stepfunctions) serves each Task by its state
 * name, and executes the very definition this construct synthesizes (see `state-machine-definition.ts`).
 */
import { Aws, Duration, Fn, Names, RemovalPolicy } from 'aws-cdk-lib';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, RetentionDays, type LogGroupProps } from 'aws-cdk-lib/aws-logs';
import {
  Choice,
  Condition,
  DefinitionBody,
  DistributedMap,
  Errors,
  Fail,
  JitterType,
  JsonPath,
  LogLevel,
  Map as InlineMap,
  Parallel,
  Pass,
  S3JsonItemReader,
  StateMachine,
  StateMachineType,
  Succeed,
  TaskInput,
  Timeout,
  type RetryProps,
} from 'aws-cdk-lib/aws-stepfunctions';
import { LambdaInvoke } from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';

/** State names; the local runner overrides Tasks by these. */
export const STATE_NAMES = {
  run: 'Run',
  plan: 'Plan',
  exportShards: 'ExportShards',
  exportShard: 'ExportShard',
  commit: 'Commit',
  release: 'Release',
  holders: 'Holders',
  holdSnapshot: 'HoldSnapshot',
  hold: 'Hold',
  holdAgain: 'HoldAgain',
  held: 'Held',
  releaseAfterFailure: 'ReleaseAfterFailure',
  describeFailure: 'DescribeFailure',
  runFailed: 'RunFailed',
} as const;

/**
 * Transient Lambda service errors, retried on every Task. Spelled out rather than left to `LambdaInvoke`'s
 * default, which omits `Lambda.TooManyRequestsException` (throttling: likely with a wide fan-out) and
 * `Lambda.ClientExecutionTimeoutException` (the invoke call itself timed out). `Lambda.Unknown` is what Step
 * Functions reports when no error type came back at all (docs/architecture.md, "Errors").
 */
export const LAMBDA_TRANSIENT_ERRORS: readonly string[] = [
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.TooManyRequestsException',
  'Lambda.ClientExecutionTimeoutException',
  'Lambda.Unknown',
];

/**
 * How a function that was killed reaches Step Functions: a timeout as `Sandbox.Timedout`, an out-of-memory
 * kill as `Runtime.OutOfMemory` or `Runtime.ExitError` (not `Lambda.Unknown`, which older documentation
 * said). Tried once more: a second attempt may meet a less loaded source or a warmer container, while a shard
 * too large for 15 minutes or for its memory fails again soon after, under the same name, instead of three
 * more times.
 */
export const LAMBDA_KILLED_ERRORS: readonly string[] = ['Sandbox.Timedout', 'Runtime.OutOfMemory', 'Runtime.ExitError'];

/** The `name` of the error an Export shard throws when a fresh attempt may succeed (lambdas/engine/errors.ts). */
export const SHARD_RETRYABLE_ERROR = 'ShardRetryableError';

/** Backoff shared by every retrier: 2 s, 4 s (x2), at most 3 retries, full jitter so shards do not stampede. */
const RETRY_BACKOFF: Omit<RetryProps, 'errors'> = {
  interval: Duration.seconds(2),
  backoffRate: 2,
  maxAttempts: 3,
  jitterStrategy: JitterType.FULL,
};

/** The retriers every Task has: transient service errors three times, a killed function once. */
function addLambdaRetries(task: LambdaInvoke): void {
  task.addRetry({ errors: [...LAMBDA_TRANSIENT_ERRORS], ...RETRY_BACKOFF });
  task.addRetry({ errors: [...LAMBDA_KILLED_ERRORS], ...RETRY_BACKOFF, maxAttempts: 1 });
}

/**
 * Every Task gets an explicit timeout: AWS defaults to about three years, but the States Language spec (and so
 * the local interpreter) to 60 s, which would fail any shard that takes a minute locally. Lambda's own
 * 15-minute cap ends a deployed task first; this bounds a local run's shard one minute later.
 */
export const TASK_TIMEOUT = Timeout.duration(Duration.minutes(16));

export interface ExportStateMachineProps {
  /**
   * Plan: execution input -> `{ runId, items, concurrency, snapshot, ... }` (`PlanResult` in
   * lambdas/engine/contracts.ts); it writes the shard list the Map reads to `items`.
   */
  readonly planFunction: IFunction;

  /** Export: one `ShardTask` -> Parquet parts and a shard manifest on the destination. */
  readonly exportFunction: IFunction;

  /** Commit: `{ runId }` -> run manifests and `_SUCCESS` per table of the run. */
  readonly commitFunction: IFunction;

  /**
   * The snapshot holder: `{ action: 'hold', generation, input, executionName }` holds the run's snapshot for
   * one lifetime and answers the next generation of its loop; `{ action: 'release', executionName }` lets
   * every holder go (`HolderEvent` in lambdas/engine/contracts.ts).
   */
  readonly holderFunction: IFunction;

  /**
   * After a failure: `{ caught: { Error, Cause }, executionId }` -> `{ Error, Cause }`, the error the execution
   * fails with. A failed shard ends the Distributed Map with `States.ExceedToleratedFailureThreshold`, its own
   * error kept in its child execution; this function finds it there (`RunFailureEvent` in
   * lambdas/engine/run-failure.ts).
   */
  readonly failureFunction: IFunction;

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
   * @default - retention RetentionDays.THREE_MONTHS, removal policy RETAIN, and a name under
   * `/aws/vendedlogs/states/` unique to the stack's creation
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
    addLambdaRetries(plan);

    // A child's output is nothing (`{}`): a Distributed Map gathers its children's outputs into its own even
    // with `ResultPath: null` (aws-cdk#24799), and past 256 KiB the execution fails with
    // `States.DataLimitExceeded`, which no Catch sees. Export's result is in its log; Commit reads the shard
    // manifests.
    const exportShard = new LambdaInvoke(this, STATE_NAMES.exportShard, {
      stateName: STATE_NAMES.exportShard,
      lambdaFunction: props.exportFunction,
      payload: TaskInput.fromJsonPathAt('$'),
      outputPath: JsonPath.DISCARD,
      retryOnServiceExceptions: false,
      taskTimeout: TASK_TIMEOUT,
    });
    addLambdaRetries(exportShard);
    exportShard.addRetry({ errors: [SHARD_RETRYABLE_ERROR], ...RETRY_BACKOFF });

    // The shard list is a file Plan wrote (`$.items`: bucket and key), read by the Map itself, so a run is not
    // bounded by the 256 KB state limit. How many shards run at once comes from Plan's result too
    // (`$.concurrency`: the run's concurrency, at most the deployment's connection budget), so one definition
    // serves every budget and every run option. Results are discarded: Commit reads the shard manifests.
    // The ItemSelector wraps each shard task with the parent execution's id (a child execution of a
    // Distributed Map has its own), the run's snapshot and the execution whose holders hold it:
    // ExportShard receives `{ task: ShardTask, executionId: string, snapshot: string | null, heldSnapshot: string | null }`.
    const exportShards = new DistributedMap(this, STATE_NAMES.exportShards, {
      stateName: STATE_NAMES.exportShards,
      itemReader: new S3JsonItemReader({
        bucketNamePath: JsonPath.stringAt('$.items.bucket'),
        key: JsonPath.stringAt('$.items.key'),
      }),
      itemSelector: {
        task: JsonPath.objectAt('$$.Map.Item.Value'),
        executionId: JsonPath.stringAt('$$.Execution.Id'),
        snapshot: JsonPath.stringAt('$.snapshot'),
        heldSnapshot: JsonPath.stringAt('$.heldSnapshot'),
      },
      maxConcurrencyPath: JsonPath.stringAt('$.concurrency'),
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
        executionId: JsonPath.stringAt('$$.Execution.Id'),
      }),
      outputPath: '$.Payload',
      retryOnServiceExceptions: false,
      taskTimeout: TASK_TIMEOUT,
    });
    addLambdaRetries(commit);

    // The holders learn from a file that the export is done with the snapshot (run/held-snapshot.ts); Commit's
    // result passes through as the run's.
    const releaseTask = (name: string) => {
      const task = new LambdaInvoke(this, name, {
        stateName: name,
        lambdaFunction: props.holderFunction,
        payload: TaskInput.fromObject({ action: 'release', executionName: JsonPath.stringAt('$$.Execution.Name') }),
        resultPath: JsonPath.DISCARD,
        retryOnServiceExceptions: false,
        taskTimeout: TASK_TIMEOUT,
      });
      addLambdaRetries(task);
      return task;
    };
    const release = releaseTask(STATE_NAMES.release);

    // Two loops take turns holding the snapshot: generations 0, 2, 4, ... and 1, 3, 5, ..., so the successor of
    // a holder is running (waiting for its turn) before that holder lets go. Each Hold answers the next event
    // of its loop, `done` once the snapshot is released (or not held at all: `holdSnapshot: false`).
    // The Pass hands the execution input on explicitly: inside a Map, the local interpreter gives
    // `$$.Execution.Input` as the iteration's own input (docs/architecture.md, "Traps").
    const holders = new Pass(this, STATE_NAMES.holders, {
      stateName: STATE_NAMES.holders,
      parameters: { generations: [0, 1], input: JsonPath.entirePayload },
    });
    const hold = new LambdaInvoke(this, STATE_NAMES.hold, {
      stateName: STATE_NAMES.hold,
      lambdaFunction: props.holderFunction,
      payload: TaskInput.fromObject({
        action: 'hold',
        generation: JsonPath.numberAt('$.generation'),
        input: JsonPath.objectAt('$.input'),
        executionName: JsonPath.stringAt('$$.Execution.Name'),
        executionId: JsonPath.stringAt('$$.Execution.Id'),
      }),
      outputPath: '$.Payload',
      retryOnServiceExceptions: false,
      taskTimeout: TASK_TIMEOUT,
    });
    addLambdaRetries(hold);
    const holdAgain = new Choice(this, STATE_NAMES.holdAgain, { stateName: STATE_NAMES.holdAgain })
      .when(Condition.booleanEquals('$.done', true), new Succeed(this, STATE_NAMES.held, { stateName: STATE_NAMES.held }))
      .otherwise(hold);
    const holdSnapshot = new InlineMap(this, STATE_NAMES.holdSnapshot, {
      stateName: STATE_NAMES.holdSnapshot,
      itemsPath: JsonPath.stringAt('$.generations'),
      itemSelector: { generation: JsonPath.numberAt('$$.Map.Item.Value'), input: JsonPath.objectAt('$.input') },
      maxConcurrency: 2,
      // Nothing of the holder branch is the run's result (and no copy of the input rides along in Run's output).
      outputPath: JsonPath.DISCARD,
    });
    holdSnapshot.itemProcessor(hold.next(holdAgain));

    // The run's result is the export branch's (Commit's); a failure in either branch stops both.
    const run = new Parallel(this, STATE_NAMES.run, { stateName: STATE_NAMES.run, outputPath: '$[0]' });
    run.branch(plan.next(exportShards).next(commit).next(release));
    run.branch(holders.next(holdSnapshot));
    const runFailed = new Fail(this, STATE_NAMES.runFailed, {
      stateName: STATE_NAMES.runFailed,
      errorPath: JsonPath.stringAt('$.Error'),
      causePath: JsonPath.stringAt('$.Cause'),
    });
    // The error that ended the run, made into one a user can act on: a failed shard's own error, naming its
    // table and shard, instead of the Map's `States.ExceedToleratedFailureThreshold`. It answers
    // `{ Error, Cause }` as it was given when there is nothing to add.
    const describeFailure = new LambdaInvoke(this, STATE_NAMES.describeFailure, {
      stateName: STATE_NAMES.describeFailure,
      lambdaFunction: props.failureFunction,
      // The caught error whole: a path to an absent field (`$.Cause`) would fail the state with States.Runtime.
      payload: TaskInput.fromObject({ caught: JsonPath.entirePayload, executionId: JsonPath.stringAt('$$.Execution.Id') }),
      outputPath: '$.Payload',
      retryOnServiceExceptions: false,
      taskTimeout: TASK_TIMEOUT,
    });
    addLambdaRetries(describeFailure);
    const releaseAfterFailure = releaseTask(STATE_NAMES.releaseAfterFailure);
    // If either fails, the execution still fails with the error that ended the run, not theirs.
    releaseAfterFailure.addCatch(describeFailure, { errors: [Errors.ALL], resultPath: JsonPath.DISCARD });
    describeFailure.addCatch(runFailed, { errors: [Errors.ALL], resultPath: JsonPath.DISCARD });
    run.addCatch(releaseAfterFailure.next(describeFailure).next(runFailed), { errors: [Errors.ALL] });

    // Under /aws/vendedlogs/states/: Step Functions then needs no entry in the account's CloudWatch Logs
    // resource policy, which is capped at 5,120 characters and fails CreateStateMachine once full. The name
    // ends with the stack's own id, so a log group kept (RETAIN) after `cdk destroy` never collides with the
    // next deployment's.
    const stackUuid = Fn.select(2, Fn.split('/', Aws.STACK_ID));
    this.logGroup = new LogGroup(this, 'Logs', {
      logGroupName: `/aws/vendedlogs/states/${Names.uniqueResourceName(this, { maxLength: 120, separator: '-' })}-${stackUuid}`,
      retention: RetentionDays.THREE_MONTHS,
      removalPolicy: RemovalPolicy.RETAIN,
      ...props.logGroupProps,
    });

    this.stateMachine = new StateMachine(this, 'Resource', {
      definitionBody: DefinitionBody.fromChainable(run),
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
