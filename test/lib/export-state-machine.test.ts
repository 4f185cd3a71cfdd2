import { App, Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { Code, Function as LambdaFunction, Runtime } from 'aws-cdk-lib/aws-lambda';
import { describe, expect, it } from 'vitest';
import { ExportStateMachine, type ExportStateMachineProps } from '../../lib/export-state-machine';
import { definitionFromTemplate } from '../../lib/state-machine-definition';

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
  'Lambda.Unknown',
];
const BACKOFF = { IntervalSeconds: 2, MaxAttempts: 3, BackoffRate: 2, JitterStrategy: 'FULL' };

describe('ExportStateMachine', () => {
  const { construct, template, definition, taskFunctions, logicalId } = synth({});
  const states = definition.States as Record<string, State>;

  it('runs Plan -> ExportShards -> Commit, in that order, and nothing else at the top level', () => {
    expect(definition.StartAt).toBe('Plan');
    expect(Object.keys(states).sort()).toEqual(['Commit', 'ExportShards', 'Plan']);
    expect(states.Plan.Next).toBe('ExportShards');
    expect(states.ExportShards.Next).toBe('Commit');
    expect(states.Commit.End).toBe(true);
  });

  it('maps the tasks to the right functions, by state name', () => {
    expect(taskFunctions).toEqual({
      Plan: logicalId('PlanFn'),
      ExportShard: logicalId('ExportFn'),
      Commit: logicalId('CommitFn'),
    });
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

  it('ExportShards wraps each shard task with the parent execution id (ItemSelector), for the logs', () => {
    expect(states.ExportShards.ItemSelector).toEqual({ 'task.$': '$$.Map.Item.Value', 'executionId.$': '$$.Execution.Id', 'snapshot.$': '$.snapshot' });
  });

  it('ExportShard invokes the export function with the item and outputs its Payload', () => {
    const processor = states.ExportShards.ItemProcessor;
    expect(processor.StartAt).toBe('ExportShard');
    expect(Object.keys(processor.States)).toEqual(['ExportShard']);
    const task = processor.States.ExportShard;
    expect(task.Parameters['Payload.$']).toBe('$');
    expect(task.OutputPath).toBe('$.Payload');
    expect(task.End).toBe(true);
  });

  it('retries transient Lambda errors (TooManyRequests included) and ShardRetryableError on ExportShard', () => {
    const retry = states.ExportShards.ItemProcessor.States.ExportShard.Retry as State[];
    expect(retry).toEqual([
      { ErrorEquals: TRANSIENT, ...BACKOFF },
      { ErrorEquals: ['ShardRetryableError'], ...BACKOFF },
    ]);
  });

  it('retries the same transient list, without ShardRetryableError, on Plan and Commit', () => {
    for (const name of ['Plan', 'Commit']) {
      expect(states[name].Retry).toEqual([{ ErrorEquals: TRANSIENT, ...BACKOFF }]);
    }
  });

  it('gives every Task an explicit 16-minute timeout (the local interpreter would default to 60 s)', () => {
    const tasks = [states.Plan, states.ExportShards.ItemProcessor.States.ExportShard, states.Commit];
    expect(tasks.map((t) => t.TimeoutSeconds)).toEqual([960, 960, 960]);
  });

  it('Commit receives the run id (its tables are in the run folder) and outputs its Payload', () => {
    expect(states.Commit.Parameters.Payload).toEqual({
      'runId.$': '$.runId',
      'executionId.$': '$$.Execution.Id',
    });
    expect(states.Commit.OutputPath).toBe('$.Payload');
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
