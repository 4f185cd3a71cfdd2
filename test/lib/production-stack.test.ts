/**
 * The production stack as the example config deploys it: VPC placement, schedules, alarms, dashboard, topic,
 * imported storage, the CA bundle, and cdk-nag (AwsSolutionsChecks) with no unacknowledged finding.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { AwsSolutionsChecks } from 'cdk-nag';
import { afterAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../lib/pgsip-app';
import { loadConfig } from '../../lib/pgsip-config';
import { REPO_ROOT } from '../../lib/pgsip-function';
import { RUNBOOK } from '../../lib/pgsip-monitoring';
import { propsFromConfig, type PgsipStack, type PgsipStackProps } from '../../lib/pgsip-stack';
import { definitionFromTemplate } from '../../lib/state-machine-definition';

type Json = any;
const EXAMPLE = propsFromConfig(loadConfig(join(REPO_ROOT, 'pgsip.config.example.json')));

function synth(props: PgsipStackProps) {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = buildApp(app, props);
  const template = Template.fromStack(stack);
  return { app, stack, template, json: template.toJSON() as Json };
}

const logicalId = (stack: PgsipStack, c: { node: { defaultChild?: unknown } }) => stack.getLogicalId(c.node.defaultChild as any);

function nagViolations(app: App) {
  return new AwsSolutionsChecks().validateScope(app).violations.map((v) => `${v.ruleName} ${v.violatingResources.map((r) => r.constructPath).join(',')}`);
}

describe('production stack (example config)', () => {
  const { app, stack, template, json } = synth(EXAMPLE);
  const fns = [stack.planFunction, stack.exportFunction, stack.commitFunction, stack.export.holderFunction].map((f) => logicalId(stack, f));
  const [planId, , commitId] = fns;
  /** The functions that connect to the database: all but Commit. */
  const connecting = fns.filter((id) => id !== commitId);
  const machineId = logicalId(stack, stack.exportStateMachine.stateMachine);
  const topicId = logicalId(stack, stack.monitoring.topic as any);

  it('runs every function in the configured private subnets and security group, with ENI rights', () => {
    for (const id of fns) {
      expect(json.Resources[id].Properties.VpcConfig).toEqual({
        SubnetIds: ['subnet-0123456789abcdef0', 'subnet-0fedcba9876543210'],
        SecurityGroupIds: ['sg-0123456789abcdef0'],
      });
      const role = json.Resources[id].Properties.Role['Fn::GetAtt'][0];
      const statements = Object.values<Json>(json.Resources)
        .filter((r) => r.Type === 'AWS::IAM::Policy' && r.Properties.Roles.some((x: Json) => x.Ref === role))
        .flatMap((r) => r.Properties.PolicyDocument.Statement);
      expect(statements).toContainEqual(expect.objectContaining({ Action: expect.arrayContaining(['ec2:CreateNetworkInterface']), Resource: '*' }));
    }
    // Plan, Export and the holder read the configured secret; Commit never connects to the database.
    expect(connecting).toHaveLength(3);
    for (const id of connecting) {
      expect(json.Resources[id].Properties.Environment.Variables.PGSIP_DB_SECRET_ARN).toBe(
        'arn:aws:secretsmanager:eu-west-1:123456789012:secret:pgsip/source-AbCdEf',
      );
    }
    expect(json.Resources[commitId].Properties.Environment.Variables.PGSIP_DB_SECRET_ARN).toBeUndefined();
    // Imported by id: no VPC, subnet or security group is created, and nothing was looked up.
    template.resourceCountIs('AWS::EC2::VPC', 0);
    template.resourceCountIs('AWS::EC2::SecurityGroup', 0);
  });

  it('runs the Distributed Map at the connection budget (Plan caps each run at it), with the run timeout', () => {
    const { definition } = definitionFromTemplate(json);
    // Inside Run's export branch (Plan -> ExportShards -> Commit -> Release).
    const exportBranch = (definition.States as Json).Run.Branches[0].States;
    expect(exportBranch.ExportShards.MaxConcurrencyPath).toBe('$.concurrency');
    expect(json.Resources[planId].Properties.Environment.Variables.PGSIP_CONNECTION_BUDGET).toBe('8');
    expect(definition.TimeoutSeconds).toBe(6 * 3600);
  });

  it('has one EventBridge Scheduler schedule per table group, starting the state machine with the documented input', () => {
    template.resourceCountIs('AWS::Scheduler::Schedule', 2);
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'cron(0 2 * * ? *)',
      ScheduleExpressionTimezone: 'UTC',
      State: 'ENABLED',
      FlexibleTimeWindow: { Mode: 'OFF' },
      Target: Match.objectLike({
        Arn: { Ref: machineId },
        Input: JSON.stringify({ tables: ['"public"."orders"', '"public"."customers"'], schedule: 'nightly', shards: 'auto', compression: 'SNAPPY' }),
        RetryPolicy: { MaximumRetryAttempts: 3, MaximumEventAgeInSeconds: 3600 },
      }),
    });
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'rate(1 hour)',
      Target: Match.objectLike({
        Input: JSON.stringify({ tables: ['"analytics"."Page Views"'], schedule: 'hourly-events', shards: 4, incremental: { '"analytics"."Page Views"': { cursor: 'viewed_at', lookbackSeconds: 600 } } }),
      }),
    });
    // The scheduler's role may start this state machine and nothing else.
    const schedule = Object.values<Json>(json.Resources).find((r) => r.Type === 'AWS::Scheduler::Schedule');
    const roleId = schedule.Properties.Target.RoleArn['Fn::GetAtt'][0];
    const statements = Object.values<Json>(json.Resources)
      .filter((r) => r.Type === 'AWS::IAM::Policy' && r.Properties.Roles.some((x: Json) => x.Ref === roleId))
      .flatMap((r) => r.Properties.PolicyDocument.Statement);
    expect(statements).toEqual([{ Action: 'states:StartExecution', Effect: 'Allow', Resource: { Ref: machineId } }]);
  });

  const alarms = () => Object.entries<Json>(json.Resources).filter(([, r]) => r.Type === 'AWS::CloudWatch::Alarm');
  const alarm = (prefix: string) => {
    const found = alarms().filter(([id]) => id.startsWith(`Monitoring${prefix}`));
    expect(found.length, prefix).toBeGreaterThan(0);
    return found.map(([, r]) => r.Properties);
  };

  it('alarms on executions failed, timed out, aborted and throttled', () => {
    for (const [prefix, metric] of [
      ['ExecutionFailed', 'ExecutionsFailed'],
      ['ExecutionTimedOut', 'ExecutionsTimedOut'],
      ['ExecutionAborted', 'ExecutionsAborted'],
      ['ExecutionThrottled', 'ExecutionThrottled'],
    ]) {
      const [p] = alarm(prefix);
      expect(p).toMatchObject({ Namespace: 'AWS/States', MetricName: metric, Threshold: 1, ComparisonOperator: 'GreaterThanOrEqualToThreshold' });
      expect(p.Dimensions).toEqual([{ Name: 'StateMachineArn', Value: { Ref: machineId } }]);
    }
  });

  it('alarms on Lambda errors and throttles of each function, and on Export duration near its timeout', () => {
    for (const kind of ['Plan', 'Export', 'Commit', 'Holder']) {
      expect(alarm(`${kind}Errors`)[0]).toMatchObject({ Namespace: 'AWS/Lambda', MetricName: 'Errors' });
      expect(alarm(`${kind}Throttles`)[0]).toMatchObject({ Namespace: 'AWS/Lambda', MetricName: 'Throttles' });
    }
    expect(alarm('ExportNearTimeout')[0]).toMatchObject({
      Namespace: 'AWS/Lambda',
      MetricName: 'Duration',
      Statistic: 'Maximum',
      Threshold: 720_000,
      ComparisonOperator: 'GreaterThanThreshold',
    });
  });

  it('alarms on freshness, one alarm per schedule: no run of it committed all its tables within its interval (missing data breaches)', () => {
    const fresh = alarm('Freshness');
    expect(fresh).toHaveLength(2);
    const nightly = fresh.find((p) => p.Dimensions.some((d: Json) => d.Value === 'nightly'));
    expect(nightly).toMatchObject({
      Namespace: 'pgsip',
      MetricName: 'ScheduleCommitted',
      Statistic: 'Sum',
      Period: 3600,
      EvaluationPeriods: 26,
      DatapointsToAlarm: 26,
      Threshold: 1,
      ComparisonOperator: 'LessThanThreshold',
      TreatMissingData: 'breaching',
    });
    expect(nightly.Dimensions).toEqual([
      { Name: 'schedule', Value: 'nightly' },
      { Name: 'service', Value: 'Pgsip' },
    ]);
    expect(fresh.find((p) => p.Dimensions.some((d: Json) => d.Value === 'hourly-events')).EvaluationPeriods).toBe(3);
  });

  it('sends every alarm to the SNS topic, each with its runbook line', () => {
    // Executions 4, errors and throttles of 5 functions, Export near its timeout, 2 freshness (one per schedule).
    expect(alarms()).toHaveLength(4 + 10 + 1 + 2);
    for (const [id, a] of alarms()) {
      expect(a.Properties.AlarmActions, id).toEqual([{ Ref: topicId }]);
      expect(a.Properties.AlarmDescription, id).toMatch(/^pgsip Pgsip: /);
    }
    expect(alarm('ExecutionFailed')[0].AlarmDescription).toContain(RUNBOOK.ExecutionFailed);
  });

  it('encrypts the alarm topic with the stack key (CloudWatch may use it) and subscribes the on-call e-mail', () => {
    const keyId = logicalId(stack, stack.key as any);
    template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: { 'Fn::GetAtt': [keyId, 'Arn'] } });
    template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'oncall@example.com', TopicArn: { Ref: topicId } });
    template.hasResourceProperties('AWS::KMS::Key', {
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({ Principal: { Service: 'cloudwatch.amazonaws.com' }, Action: ['kms:Decrypt', 'kms:GenerateDataKey*'] }),
        ]),
      },
    });
  });

  it('has a dashboard over executions, Lambda health and the per-table metrics the handlers emit', () => {
    template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
    const body = JSON.stringify(Object.values<Json>(json.Resources).find((r) => r.Type === 'AWS::CloudWatch::Dashboard').Properties.DashboardBody);
    for (const metric of ['ExecutionsFailed', 'ShardRows', 'ShardBytes', 'ShardRowsPerSecond', 'ShardSeconds', 'ShardFailures', 'TableCommitted', 'ScheduleCommitted']) {
      expect(body).toContain(metric);
    }
  });

  it('verifies TLS by default with the bundled RDS CAs, so no CA file and no warning are needed', () => {
    // What the functions then trust is tested in test/lambdas/shared (Node's roots plus the RDS root CAs).
    for (const id of connecting) {
      expect(json.Resources[id].Properties.Environment.Variables).toMatchObject({ PGSIP_DB_TLS: 'verify-full' });
    }
    for (const id of fns) expect(json.Resources[id].Properties.Environment.Variables.PGSIP_DB_CA_FILE).toBeUndefined();
    expect(Annotations.fromStack(stack).findWarning('*', Match.stringLikeRegexp('CA'))).toEqual([]);
  });

  it('tells Plan, Export and Commit (not the holder) the S3 Tables table bucket when one is configured, and none otherwise', () => {
    const tableBucketArn = 'arn:aws:s3tables:eu-west-1:123456789012:bucket/pgsip-lake';
    const { json: withBucket } = synth({ ...EXAMPLE, tableBucketArn });
    const [plan, exporter, commit, holder] = fns.map((id) => withBucket.Resources[id].Properties.Environment.Variables.PGSIP_TABLE_BUCKET_ARN);
    expect([plan, exporter, commit, holder]).toEqual([tableBucketArn, tableBucketArn, tableBucketArn, undefined]);
    for (const id of fns) expect(json.Resources[id].Properties.Environment.Variables.PGSIP_TABLE_BUCKET_ARN).toBeUndefined();
  });

  it('tells only Commit to register tables in the Glue database and to create it if missing; the stack owns no database (a redeploy after destroy cannot fail on it)', () => {
    template.resourceCountIs('AWS::Glue::Database', 0);
    const variables = json.Resources[commitId].Properties.Environment.Variables;
    expect([variables.PGSIP_GLUE_DATABASE, variables.PGSIP_GLUE_CREATE_DATABASE]).toEqual(['pgsip_lake', 'true']);
    for (const id of connecting) expect(json.Resources[id].Properties.Environment.Variables.PGSIP_GLUE_DATABASE).toBeUndefined();
    const { json: existing } = synth({ ...EXAMPLE, catalog: { glueDatabase: 'their_lake' } });
    expect(existing.Resources[commitId].Properties.Environment.Variables.PGSIP_GLUE_CREATE_DATABASE).toBeUndefined();
    // Nothing in the stack is both fixed-named and retained: the next deploy after `cdk destroy` never meets
    // a leftover of the last one (the log group's name ends with the stack's id, so it is new each time).
    const retainedWithFixedName = Object.entries<Json>(json.Resources).filter(([, r]) => {
      if (r.DeletionPolicy !== 'Retain') return false;
      const props = r.Properties ?? {};
      return Object.entries(props).some(([k, v]) => /Name$/.test(k) && k !== 'KeyName' && typeof v === 'string');
    });
    expect(retainedWithFixedName.map(([id]) => id)).toEqual([]);
  });

  it('passes cdk-nag AwsSolutionsChecks with every finding acknowledged', () => {
    expect(nagViolations(app)).toEqual([]);
  });
});

describe('cdk-nag', () => {
  it('passes with the defaults (placeholder secret, no VPC, no schedules)', () => {
    expect(nagViolations(synth({}).app)).toEqual([]);
  });

  it('passes with an imported bucket, key and alarm topic', () => {
    const { app, template, json } = synth({
      ...EXAMPLE,
      bucketName: 'my-lake',
      kmsKeyArn: 'arn:aws:kms:eu-west-1:123456789012:key/0b1d2c3e-4f50-6172-8394-a5b6c7d8e9f0',
      alarms: { topicArn: 'arn:aws:sns:eu-west-1:123456789012:oncall' },
    });
    expect(nagViolations(app)).toEqual([]);
    template.resourceCountIs('AWS::S3::Bucket', 0);
    template.resourceCountIs('AWS::KMS::Key', 0);
    template.resourceCountIs('AWS::SNS::Topic', 0);
    const actions = Object.values<Json>(json.Resources).filter((r) => r.Type === 'AWS::CloudWatch::Alarm').map((r) => r.Properties.AlarmActions);
    for (const a of actions) expect(a).toEqual(['arn:aws:sns:eu-west-1:123456789012:oncall']);
    const env = Object.values<Json>(json.Resources).find((r) => r.Type === 'AWS::Lambda::Function' && r.Properties.Environment.Variables.PGSIP_DEST).Properties.Environment.Variables;
    expect(env.PGSIP_KMS_KEY_ID).toBe('arn:aws:kms:eu-west-1:123456789012:key/0b1d2c3e-4f50-6172-8394-a5b6c7d8e9f0');
    expect(JSON.stringify(env.PGSIP_DEST)).toContain('s3://my-lake/exports');
  });

  it('still reports a wildcard nobody reasoned about (acknowledgements are per finding, not blanket)', () => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = buildApp(app, {});
    stack.exportFunction.addToRolePolicy(new PolicyStatement({ actions: ['s3:GetObject'], resources: ['*'] }));
    stack.commitFunction.addToRolePolicy(new PolicyStatement({ actions: ['s3:GetObject'], resources: [stack.bucket.arnForObjects('*')] }));
    app.synth();
    const violations = nagViolations(app);
    expect(violations).toContainEqual(expect.stringMatching(/^AwsSolutions-IAM5\[Resource::\*\] Pgsip\/Default\/ExportFunctionRole/));
    expect(violations).toContainEqual(expect.stringMatching(/^AwsSolutions-IAM5\[Resource::<ExportBucket[0-9A-F]+\.Arn>\/\*\] Pgsip\/Default\/CommitFunctionRole/));
  });
});

describe('database CA bundle', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgsip-ca-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('ships the configured PEM file with the functions that connect and points PGSIP_DB_CA_FILE at it', { timeout: 120_000 }, () => {
    // A stand-in file with the PEM markers: what is tested is the copy, not the certificate.
    const pem = join(dir, 'ca.pem');
    writeFileSync(pem, '-----BEGIN CERTIFICATE-----\ntest-only\n-----END CERTIFICATE-----\n');
    const outdir = join(dir, 'out');
    // Real bundling (the afterBundling hook runs), with asset paths recorded as the CDK CLI would.
    const app = new App({ outdir, context: { 'aws:cdk:enable-asset-metadata': true } });
    const stack = buildApp(app, { caBundleFile: pem });
    const assembly = app.synth();
    const template = assembly.getStackArtifact(stack.artifactId).template;
    // Plan, Export and the holder.
    const functions = Object.values<Json>(template.Resources).filter((r) => r.Type === 'AWS::Lambda::Function' && r.Properties.Environment.Variables.PGSIP_DB_SECRET_ARN);
    expect(functions).toHaveLength(3);
    for (const fn of functions) {
      expect(fn.Properties.Environment.Variables.PGSIP_DB_CA_FILE).toBe('/var/task/db-ca.pem');
      const copied = join(outdir, fn.Metadata['aws:asset:path'], 'db-ca.pem');
      expect(existsSync(copied), copied).toBe(true);
      expect(readFileSync(copied, 'utf8')).toContain('test-only');
    }
  });
});
