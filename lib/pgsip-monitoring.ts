/**
 * Alarms (to one SNS topic) and a CloudWatch dashboard for a pgsip deployment. Every alarm's description says
 * what fired and what to do; docs/operations.md has the longer runbook.
 */
import { Aws, Duration } from 'aws-cdk-lib';
import {
  Alarm,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  MathExpression,
  Metric,
  TextWidget,
  TreatMissingData,
  type IMetric,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { AnyPrincipal, Effect, PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import type { IStateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { Topic, type ITopic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import { METRIC_NAMESPACE, METRICS } from '../lambdas/shared/metric-names';
import type { ScheduleConfig } from './pgsip-config';

export interface PgsipMonitoringProps {
  readonly stateMachine: IStateMachine;
  readonly functions: { plan: IFunction; export: IFunction; commit: IFunction; holder: IFunction; failure: IFunction };
  readonly exportTimeout: Duration;
  /** The `service` dimension of pgsip's own metrics (the stack name). */
  readonly service: string;
  readonly schedules: readonly ScheduleConfig[];
  /** Send alarms here instead of a created topic. */
  readonly topic?: ITopic;
  /** Subscribed to the created topic. */
  readonly emails?: readonly string[];
  /** Encrypts a created topic. */
  readonly key?: IKey;
}

/** Alarm ids -> the runbook line in its description. Exported for the docs test. */
export const RUNBOOK = {
  ExecutionFailed: 'An export execution failed. Open the execution in the Step Functions console, find the failed state and its error (one line naming table, column or host); fix and start again with the same runId to reuse finished shards.',
  ExecutionTimedOut: 'An execution exceeded runTimeoutHours. Check ShardSeconds on the dashboard; raise the connection budget, shard more (shards) or raise runTimeoutHours.',
  ExecutionAborted: 'An execution was stopped by someone or something (StopExecution). Check CloudTrail for who; re-run if it was not intended.',
  ExecutionThrottled: 'Step Functions throttled state transitions or StartExecution. Spread the schedules apart or request a quota increase.',
  LambdaErrors: 'A pgsip function threw. Search its log group for level ERROR (executionId, table and shard are on every line); retries may already have recovered, check the execution.',
  LambdaThrottles: 'Lambda throttled a pgsip function (account or reserved concurrency). Lower the connection budget or raise the Lambda concurrency quota; the state machine retries with backoff.',
  ExportNearTimeout: 'An Export shard ran for more than 80% of the Lambda maximum (15 min). Use more shards per table (shards) before one hits the limit and fails as Sandbox.Timedout.',
  Freshness: "No run of this schedule committed all its tables within its expected interval. Check that the schedule is enabled and its executions (failed? not started?), then the other alarms; pgsip status --execution <arn> names a failed run's table and shard.",
} as const;

export class PgsipMonitoring extends Construct {
  public readonly topic: ITopic;
  public readonly alarms: Alarm[] = [];
  public readonly dashboard: Dashboard;

  constructor(scope: Construct, id: string, props: PgsipMonitoringProps) {
    super(scope, id);

    if (props.topic) {
      this.topic = props.topic;
    } else {
      const topic = new Topic(this, 'AlarmTopic', {
        displayName: `pgsip alarms (${props.service})`,
        masterKey: props.key,
        enforceSSL: true,
      });
      if (!props.key) {
        // An imported key may not trust CloudWatch; without one the topic stays SSE-less but TLS-only.
        topic.addToResourcePolicy(
          new PolicyStatement({
            effect: Effect.DENY,
            principals: [new AnyPrincipal()],
            actions: ['sns:Publish'],
            resources: [topic.topicArn],
            conditions: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        );
      }
      // A topic policy replaces SNS's default one, which let the account publish: with only the TLS deny above,
      // nothing could publish and no alarm would ever notify anyone. CloudWatch alarms of this account may.
      topic.addToResourcePolicy(
        new PolicyStatement({
          sid: 'CloudWatchAlarmsPublish',
          principals: [new ServicePrincipal('cloudwatch.amazonaws.com')],
          actions: ['sns:Publish'],
          resources: [topic.topicArn],
          conditions: {
            StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID },
            ArnLike: { 'aws:SourceArn': `arn:${Aws.PARTITION}:cloudwatch:${Aws.REGION}:${Aws.ACCOUNT_ID}:alarm:*` },
          },
        }),
      );
      for (const email of props.emails ?? []) topic.addSubscription(new EmailSubscription(email));
      this.topic = topic;
    }
    const action = new SnsAction(this.topic);
    const alarm = (alarmId: string, metric: IMetric, runbook: string, options: Partial<{ threshold: number; evaluationPeriods: number; datapointsToAlarm: number; comparisonOperator: ComparisonOperator; treatMissingData: TreatMissingData }> = {}) => {
      const a = new Alarm(this, alarmId, {
        alarmDescription: `pgsip ${props.service}: ${runbook}`,
        metric,
        threshold: options.threshold ?? 1,
        evaluationPeriods: options.evaluationPeriods ?? 1,
        datapointsToAlarm: options.datapointsToAlarm,
        comparisonOperator: options.comparisonOperator ?? ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: options.treatMissingData ?? TreatMissingData.NOT_BREACHING,
      });
      a.addAlarmAction(action);
      this.alarms.push(a);
      return a;
    };

    const period = Duration.minutes(5);
    const sm = props.stateMachine;
    alarm('ExecutionFailed', sm.metricFailed({ period, statistic: 'Sum' }), RUNBOOK.ExecutionFailed);
    alarm('ExecutionTimedOut', sm.metricTimedOut({ period, statistic: 'Sum' }), RUNBOOK.ExecutionTimedOut);
    alarm('ExecutionAborted', sm.metricAborted({ period, statistic: 'Sum' }), RUNBOOK.ExecutionAborted);
    alarm('ExecutionThrottled', sm.metricThrottled({ period, statistic: 'Sum' }), RUNBOOK.ExecutionThrottled);

    for (const [kind, fn] of Object.entries(props.functions)) {
      const name = kind[0].toUpperCase() + kind.slice(1);
      alarm(`${name}Errors`, fn.metricErrors({ period, statistic: 'Sum' }), RUNBOOK.LambdaErrors);
      alarm(`${name}Throttles`, fn.metricThrottles({ period, statistic: 'Sum' }), RUNBOOK.LambdaThrottles);
    }
    alarm(
      'ExportNearTimeout',
      props.functions.export.metricDuration({ period, statistic: 'Maximum' }),
      RUNBOOK.ExportNearTimeout,
      { threshold: Math.round(props.exportTimeout.toMilliseconds() * 0.8), comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD },
    );

    // Freshness, one alarm per schedule (not per table: the stack must not grow with the tables, and a
    // pattern's tables are only known at run time): ScheduleCommitted (Commit emits 1 when a run the schedule
    // started has committed every table it selected; a run commits all its tables or fails) summed per hour;
    // the alarm fires when every one of the last `freshnessHours` hours had none. No data is breaching.
    for (const s of props.schedules) {
      // A disabled schedule commits nothing on purpose: no freshness alarm for it.
      if (s.freshnessHours === undefined || s.enabled === false) continue;
      alarm(
        `Freshness-${s.name}`,
        new Metric({
          namespace: METRIC_NAMESPACE,
          metricName: METRICS.scheduleCommitted,
          dimensionsMap: { service: props.service, schedule: s.name },
          statistic: 'Sum',
          period: Duration.hours(1),
        }),
        `${RUNBOOK.Freshness} Schedule ${s.name}, expected within ${s.freshnessHours} h.`,
        {
          threshold: 1,
          comparisonOperator: ComparisonOperator.LESS_THAN_THRESHOLD,
          evaluationPeriods: s.freshnessHours,
          datapointsToAlarm: s.freshnessHours,
          treatMissingData: TreatMissingData.BREACHING,
        },
      );
    }

    // Dashboard ----------------------------------------------------------------------------------------
    const search = (metricName: string, statistic: string, label: string, dimension = 'table', seconds = 300) =>
      new MathExpression({
        expression: `SEARCH('{${METRIC_NAMESPACE},service,${dimension}} MetricName="${metricName}" service="${props.service}"', '${statistic}', ${seconds})`,
        label,
        period: Duration.seconds(seconds),
      });
    this.dashboard = new Dashboard(this, 'Dashboard', { dashboardName: `${props.service}-pgsip`, defaultInterval: Duration.days(7) });
    this.dashboard.addWidgets(
      new TextWidget({
        markdown: `# pgsip ${props.service}\nExecutions, shards and freshness. Alarms notify the SNS topic; runbook: docs/operations.md.`,
        width: 24,
        height: 2,
      }),
    );
    this.dashboard.addWidgets(
      new GraphWidget({
        title: 'Executions',
        left: [
          sm.metricStarted({ period, statistic: 'Sum' }),
          sm.metricSucceeded({ period, statistic: 'Sum' }),
          sm.metricFailed({ period, statistic: 'Sum' }),
          sm.metricTimedOut({ period, statistic: 'Sum' }),
          sm.metricAborted({ period, statistic: 'Sum' }),
          sm.metricThrottled({ period, statistic: 'Sum' }),
        ],
        width: 12,
      }),
      new GraphWidget({
        title: 'Lambda errors and throttles',
        left: Object.values(props.functions).flatMap((fn) => [fn.metricErrors({ period }), fn.metricThrottles({ period })]),
        width: 12,
      }),
    );
    this.dashboard.addWidgets(
      new GraphWidget({ title: 'Rows exported per table', left: [search(METRICS.shardRows, 'Sum', '')], width: 8 }),
      new GraphWidget({ title: 'Parquet bytes per table', left: [search(METRICS.shardBytes, 'Sum', '')], width: 8 }),
      new GraphWidget({ title: 'Rows/s per shard (average) per table', left: [search(METRICS.shardRowsPerSecond, 'Average', '')], width: 8 }),
    );
    this.dashboard.addWidgets(
      new GraphWidget({ title: 'Shard seconds (max) per table', left: [search(METRICS.shardSeconds, 'Maximum', '')], width: 8 }),
      new GraphWidget({ title: 'Shard failures per table', left: [search(METRICS.shardFailures, 'Sum', '')], width: 8 }),
      new GraphWidget({
        title: 'Export duration vs timeout (ms)',
        left: [props.functions.export.metricDuration({ period, statistic: 'Maximum' })],
        leftAnnotations: [{ value: props.exportTimeout.toMilliseconds(), label: 'timeout' }],
        width: 8,
      }),
    );
    // Searches, not a metric per table: the dashboard's size does not grow with the tables either.
    this.dashboard.addWidgets(
      new GraphWidget({ title: 'Commits per table (daily)', left: [search(METRICS.tableCommitted, 'Sum', '', 'table', 86_400)], width: 12 }),
      new GraphWidget({ title: 'Complete runs per schedule (hourly)', left: [search(METRICS.scheduleCommitted, 'Sum', '', 'schedule', 3600)], width: 12 }),
    );
  }
}
