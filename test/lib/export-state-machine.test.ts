import { App, Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { Code, Function as LambdaFunction, Runtime } from 'aws-cdk-lib/aws-lambda';
import { describe, expect, it } from 'vitest';
import { ExportStateMachine, type ExportStateMachineProps } from '../../lib/export-state-machine';
import { definitionFromTemplate } from '../../lib/state-machine-definition';
import { allStates } from '../support/definition-states';

type State = Record<string, any>;

function synth(props: Partial<ExportStateMachineProps> = {}) {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new Stack(app, 'Test');
  const fn = (id: string) =>
    new LambdaFunction(stack, id, {
      runtime: Runtime.NODEJS_24_X,
      handler: 'index.handler',
      code: Code.fromInline('exports.handler = async (e) => e;'),
    });
  const construct = new ExportStateMachine(stack, 'Machine', {
    planFunction: fn('PlanFn'),
    exportFunction: fn('ExportFn'),
    commitFunction: fn('CommitFn'),
    holderFunction: fn('HolderFn'),
    failureFunction: fn('FailureFn'),
    ...props,
  });
  const template = Template.fromStack(stack);
  const { definition, taskFunctions } = definitionFromTemplate(template.toJSON());
  const logicalId = (id: string) => stack.getLogicalId(stack.node.findChild(id).node.defaultChild as any);
  return { construct, template, definition: definition as State, taskFunctions, logicalId };
}

const TRANSIENT = [
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.TooManyRequestsException',
  'Lambda.ClientExecutionTimeoutException',
  'Lambda.Unknown',
];
/** What a killed function reaches Step Functions as (a timeout, an out-of-memory kill): retried once. */
const KILLED = ['Sandbox.Timedout', 'Runtime.OutOfMemory', 'Runtime.ExitError'];
const BACKOFF = { IntervalSeconds: 2, MaxAttempts: 3, BackoffRate: 2, JitterStrategy: 'FULL' };
const LAMBDA_RETRIES = [
  { ErrorEquals: TRANSIENT, ...BACKOFF },
  { ErrorEquals: KILLED, ...BACKOFF, MaxAttempts: 1 },
];


describe('ExportStateMachine', () => {
  const { construct, template, definition, taskFunctions, logicalId } = synth({});
  const top = definition.States as Record<string, State>;
  const run = top.Run;
  const [exportBranch, holderBranch] = (run?.Branches ?? []) as State[];
  const states = allStates(definition);

  it('runs one Parallel state, Run, and on any failure ReleaseAfterFailure -> DescribeFailure -> RunFailed; nothing else at the top level', () => {
    expect(definition.StartAt).toBe('Run');
    expect(Object.keys(top).sort()).toEqual(['DescribeFailure', 'ReleaseAfterFailure', 'Run', 'RunFailed']);
    expect(run.Type).toBe('Parallel');
    expect(run.End).toBe(true);
    expect(run.Next).toBeUndefined();
    // The run's result is the export branch's (Commit's, through Release).
    expect(run.OutputPath).toBe('$[0]');
    expect(run.ResultPath).toBeUndefined();
    expect(run.Branches).toHaveLength(2);
    // No ResultPath: the error ({ Error, Cause }) is what ReleaseAfterFailure and RunFailed see.
    expect(run.Catch).toEqual([{ ErrorEquals: ['States.ALL'], Next: 'ReleaseAfterFailure' }]);
    expect(run.Retry).toBeUndefined();
  });

  it('runs Plan -> ExportShards -> Commit -> Release in the export branch, in that order, and nothing else', () => {
    expect(exportBranch.StartAt).toBe('Plan');
    expect(Object.keys(exportBranch.States)).toEqual(['Plan', 'ExportShards', 'Commit', 'Release']);
    expect(states.Plan.Next).toBe('ExportShards');
    expect(states.ExportShards.Next).toBe('Commit');
    expect(states.Commit.Next).toBe('Release');
    expect(states.Release.End).toBe(true);
  });

  it('runs Holders -> HoldSnapshot (Hold -> HoldAgain, back to Hold or Held) in the holder branch, and nothing else', () => {
    expect(holderBranch.StartAt).toBe('Holders');
    expect(Object.keys(holderBranch.States)).toEqual(['Holders', 'HoldSnapshot']);
    expect(states.Holders.Next).toBe('HoldSnapshot');
    expect(states.HoldSnapshot.End).toBe(true);
    const processor = states.HoldSnapshot.ItemProcessor;
    expect(processor.StartAt).toBe('Hold');
    expect(Object.keys(processor.States)).toEqual(['Hold', 'HoldAgain', 'Held']);
    expect(states.Hold.Next).toBe('HoldAgain');
    // Every state, nested ones included: the names the local runner serves Tasks by.
    expect(Object.keys(states).sort()).toEqual(
      ['Commit', 'DescribeFailure', 'ExportShard', 'ExportShards', 'Held', 'Hold', 'HoldAgain', 'HoldSnapshot', 'Holders', 'Plan', 'Release', 'ReleaseAfterFailure', 'Run', 'RunFailed'].sort(),
    );
  });

  it('maps the tasks to the right functions, by state name', () => {
    expect(taskFunctions).toEqual({
      Plan: logicalId('PlanFn'),
      ExportShard: logicalId('ExportFn'),
      Commit: logicalId('CommitFn'),
      Hold: logicalId('HolderFn'),
      Release: logicalId('HolderFn'),
      ReleaseAfterFailure: logicalId('HolderFn'),
      DescribeFailure: logicalId('FailureFn'),
    });
    const tasks = Object.entries(states).filter(([, s]) => s.Type === 'Task').map(([name]) => name);
    expect(tasks.sort()).toEqual(Object.keys(taskFunctions).sort());
    for (const name of tasks) expect(states[name].Resource, name).toBe('arn:aws:states:::lambda:invoke');
  });

  it('lets the state machine invoke exactly its five functions (any version or alias), and no other', () => {
    const policies = Object.values(template.findResources('AWS::IAM::Policy'));
    const invoke = policies
      .flatMap((p) => p.Properties.PolicyDocument.Statement as State[])
      .filter((s) => [s.Action].flat().some((a: string) => a.startsWith('lambda:')));
    expect(invoke.flatMap((s) => [s.Action].flat())).toEqual(invoke.map(() => 'lambda:InvokeFunction'));
    const invoked = new Set(invoke.flatMap((s) => [s.Resource].flat()).map((r) => JSON.stringify(r).match(/"Fn::GetAtt":\["(\w+)","Arn"\]/)?.[1]));
    expect([...invoked].sort()).toEqual([logicalId('PlanFn'), logicalId('ExportFn'), logicalId('CommitFn'), logicalId('HolderFn'), logicalId('FailureFn')].sort());
  });

  it('Plan receives the whole input, the execution name and id, and outputs its Payload', () => {
    expect(states.Plan.Type).toBe('Task');
    expect(states.Plan.Resource).toBe('arn:aws:states:::lambda:invoke');
    expect(states.Plan.Parameters.Payload).toEqual({
      'input.$': '$',
      'executionName.$': '$$.Execution.Name',
      'executionId.$': '$$.Execution.Id',
    });
    expect(states.Plan.OutputPath).toBe('$.Payload');
  });

  it('ExportShards is a Distributed Map reading the shard list Plan wrote, at the concurrency Plan says, results discarded', () => {
    const map = states.ExportShards;
    expect(map.Type).toBe('Map');
    expect(map.ItemProcessor.ProcessorConfig).toEqual({ Mode: 'DISTRIBUTED', ExecutionType: 'STANDARD' });
    expect(map.ItemReader).toEqual({
      Resource: 'arn:aws:states:::s3:getObject',
      ReaderConfig: { InputType: 'JSON' },
      Parameters: { 'Bucket.$': '$.items.bucket', 'Key.$': '$.items.key' },
    });
    expect(map.ItemsPath).toBeUndefined();
    expect(map.MaxConcurrencyPath).toBe('$.concurrency');
    expect(map.MaxConcurrency).toBeUndefined();
    expect(map.ResultPath).toBeNull();
    expect(map.ResultWriter).toBeUndefined();
    // Zero tolerated failures: absent (the service default) or 0.
    expect(map.ToleratedFailurePercentage ?? 0).toBe(0);
    expect(map.ToleratedFailureCount ?? 0).toBe(0);
  });

  it('ExportShards wraps each shard task with the parent execution id, the snapshot and the execution holding it (ItemSelector)', () => {
    expect(states.ExportShards.ItemSelector).toEqual({
      'task.$': '$$.Map.Item.Value',
      'executionId.$': '$$.Execution.Id',
      'snapshot.$': '$.snapshot',
      'heldSnapshot.$': '$.heldSnapshot',
    });
  });

  it('ExportShard invokes the export function with the item and outputs nothing, so the Map gathers no results (aws-cdk#24799)', () => {
    const processor = states.ExportShards.ItemProcessor;
    expect(processor.StartAt).toBe('ExportShard');
    expect(Object.keys(processor.States)).toEqual(['ExportShard']);
    const task = processor.States.ExportShard;
    expect(task.Parameters['Payload.$']).toBe('$');
    // OutputPath null: the child's output is {}, whatever Export answers.
    expect(task).toHaveProperty('OutputPath', null);
    expect(task.ResultSelector).toBeUndefined();
    expect(task.End).toBe(true);
  });

  it('retries transient Lambda errors (TooManyRequests, ClientExecutionTimeout included), a killed function once, and ShardRetryableError on ExportShard', () => {
    const retry = states.ExportShard.Retry as State[];
    expect(retry).toEqual([...LAMBDA_RETRIES, { ErrorEquals: ['ShardRetryableError'], ...BACKOFF }]);
  });

  it('retries the same Lambda errors, without ShardRetryableError, on Plan, Commit, Hold, Release, ReleaseAfterFailure and DescribeFailure', () => {
    for (const name of ['Plan', 'Commit', 'Hold', 'Release', 'ReleaseAfterFailure', 'DescribeFailure']) {
      expect(states[name].Retry, name).toEqual(LAMBDA_RETRIES);
    }
  });

  it('gives every Task an explicit 16-minute timeout (the local interpreter would default to 60 s)', () => {
    const tasks = Object.entries(states).filter(([, s]) => s.Type === 'Task');
    expect(tasks).toHaveLength(7);
    for (const [name, task] of tasks) expect(task.TimeoutSeconds, name).toBe(960);
  });

  it('Commit receives the run id (its tables are in the run folder) and outputs its Payload', () => {
    expect(states.Commit.Parameters.Payload).toEqual({
      'runId.$': '$.runId',
      'executionId.$': '$$.Execution.Id',
    });
    expect(states.Commit.OutputPath).toBe('$.Payload');
  });

  it("Release, after Commit, tells the holder function the execution is done, and passes Commit's result on (ResultPath null)", () => {
    const release = states.Release;
    expect(release.Parameters).toEqual({
      FunctionName: expect.stringContaining(logicalId('HolderFn')),
      Payload: { action: 'release', 'executionName.$': '$$.Execution.Name' },
    });
    expect(release.ResultPath).toBeNull();
    expect(release.OutputPath).toBeUndefined();
    expect(release.ResultSelector).toBeUndefined();
    expect(release.Catch).toBeUndefined();
  });

  it('Holders hands two generations (0 and 1) and the execution input explicitly to HoldSnapshot', () => {
    expect(states.Holders).toEqual({
      Type: 'Pass',
      Parameters: { generations: [0, 1], 'input.$': '$' },
      Next: 'HoldSnapshot',
    });
  });

  it('HoldSnapshot is an inline Map running both generations at once, each with the input, its output discarded (Run outputs only Commit\'s)', () => {
    const map = states.HoldSnapshot;
    expect(map.Type).toBe('Map');
    expect(map.ItemProcessor.ProcessorConfig).toEqual({ Mode: 'INLINE' });
    expect(map.ItemsPath).toBe('$.generations');
    expect(map.ItemReader).toBeUndefined();
    expect(map.ItemSelector).toEqual({ 'generation.$': '$$.Map.Item.Value', 'input.$': '$.input' });
    expect(map.MaxConcurrency).toBe(2);
    expect(map.MaxConcurrencyPath).toBeUndefined();
    expect(map.OutputPath).toBeNull();
    expect(map.ResultPath).toBeUndefined();
  });

  it('Hold invokes the holder function with its generation, the input and the execution, and outputs its Payload', () => {
    const hold = states.Hold;
    expect(hold.Parameters).toEqual({
      FunctionName: expect.stringContaining(logicalId('HolderFn')),
      Payload: {
        action: 'hold',
        'generation.$': '$.generation',
        'input.$': '$.input',
        'executionName.$': '$$.Execution.Name',
        'executionId.$': '$$.Execution.Id',
      },
    });
    expect(hold.OutputPath).toBe('$.Payload');
    expect(hold.ResultPath).toBeUndefined();
    expect(hold.Catch).toBeUndefined();
  });

  it("HoldAgain ends the loop when Hold answers done, and otherwise holds again with Hold's answer (the next generation)", () => {
    expect(states.HoldAgain).toEqual({
      Type: 'Choice',
      Choices: [{ Variable: '$.done', BooleanEquals: true, Next: 'Held' }],
      Default: 'Hold',
    });
    expect(states.Held).toEqual({ Type: 'Succeed' });
  });

  it('ReleaseAfterFailure lets the holders go, keeps the error as its output, and goes on to DescribeFailure even if it fails itself', () => {
    const release = states.ReleaseAfterFailure;
    expect(release.Type).toBe('Task');
    expect(release.Parameters).toEqual({
      FunctionName: expect.stringContaining(logicalId('HolderFn')),
      Payload: { action: 'release', 'executionName.$': '$$.Execution.Name' },
    });
    expect(release.ResultPath).toBeNull();
    expect(release.OutputPath).toBeUndefined();
    expect(release.Next).toBe('DescribeFailure');
    expect(release.Catch).toEqual([{ ErrorEquals: ['States.ALL'], ResultPath: null, Next: 'DescribeFailure' }]);
  });

  it('DescribeFailure hands the caught error and the execution to the failure function, whose { Error, Cause } the run fails with (the caught one if it fails)', () => {
    const describe = states.DescribeFailure;
    expect(describe.Type).toBe('Task');
    expect(describe.Parameters).toEqual({
      FunctionName: expect.stringContaining(logicalId('FailureFn')),
      Payload: { 'caught.$': '$', 'executionId.$': '$$.Execution.Id' },
    });
    expect(describe.OutputPath).toBe('$.Payload');
    expect(describe.ResultPath).toBeUndefined();
    expect(describe.Next).toBe('RunFailed');
    expect(describe.Catch).toEqual([{ ErrorEquals: ['States.ALL'], ResultPath: null, Next: 'RunFailed' }]);
    expect(states.RunFailed).toEqual({ Type: 'Fail', ErrorPath: '$.Error', CausePath: '$.Cause' });
  });

  it('is a STANDARD machine with tracing, a 6 h timeout, and ALL-level logs without execution data', () => {
    expect(definition.TimeoutSeconds).toBe(6 * 3600);
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      StateMachineType: 'STANDARD',
      TracingConfiguration: { Enabled: true },
      LoggingConfiguration: {
        Level: 'ALL',
        IncludeExecutionData: false,
        Destinations: [
          { CloudWatchLogsLogGroup: { LogGroupArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^MachineLogs'), 'Arn'] } } },
        ],
      },
    });
    template.hasResource('AWS::Logs::LogGroup', {
      Properties: { RetentionInDays: 90 },
      DeletionPolicy: 'Retain',
    });
    expect(construct.stateMachine).toBeDefined();
  });

  it("logs under /aws/vendedlogs/states/ (no entry in the account's 5,120-character log resource policy), named anew by each stack creation", () => {
    const [group] = Object.values(template.findResources('AWS::Logs::LogGroup')) as State[];
    const name = group.Properties.LogGroupName;
    // '/aws/vendedlogs/states/<construct path>-' then the stack id's UUID: a group kept after `cdk destroy`
    // cannot collide with the next deployment's.
    expect(name['Fn::Join'][0]).toBe('');
    const [prefix, uuid] = name['Fn::Join'][1];
    expect(prefix).toMatch(/^\/aws\/vendedlogs\/states\/[A-Za-z0-9-]+-$/);
    expect(uuid).toEqual({ 'Fn::Select': [2, { 'Fn::Split': ['/', { Ref: 'AWS::StackId' }] }] });
    // CloudWatch Logs: at most 512 characters of [.\-_/#A-Za-z0-9]; a stack id's UUID is 36 of them.
    expect(prefix.length + 36).toBeLessThanOrEqual(512);
    expect(prefix).toMatch(/^[.\-_/#A-Za-z0-9]+$/);
    expect(construct.stateMachine).toBeDefined();
  });

  it('lets the state machine start its own child executions (Distributed Map)', () => {
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([Match.objectLike({ Action: 'states:StartExecution', Effect: 'Allow' })]),
      },
    });
  });

  it('honours a custom timeout and includeExecutionData', () => {
    const { definition: d, template: t } = synth({ timeout: Duration.hours(1), includeExecutionData: true });
    expect(d.TimeoutSeconds).toBe(3600);
    t.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      LoggingConfiguration: Match.objectLike({ IncludeExecutionData: true }),
    });
  });
});
