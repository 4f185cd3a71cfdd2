/**
 * The PgsipExport construct in a user's own stack: the minimal props synthesize a complete, cdk-nag-clean
 * deployment; existing VPC, bucket, key and topic are used, not duplicated; the objects users wire further
 * are exposed; a wrong prop fails in the constructor with one line naming it.
 */
import { App, Duration, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { SecurityGroup, SubnetType, Vpc } from 'aws-cdk-lib/aws-ec2';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Bucket } from 'aws-cdk-lib/aws-s3';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { PgsipExport, type PgsipExportProps } from '../../lib/index';

const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf';

function userStack() {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new Stack(app, 'UserStack', { env: { account: '123456789012', region: 'eu-west-1' } });
  return { app, stack, databaseSecret: Secret.fromSecretCompleteArn(stack, 'Db', SECRET_ARN) };
}

const violations = (app: App) =>
  new AwsSolutionsChecks().validateScope(app).violations.map((v) => `${v.ruleName} ${v.violatingResources.map((r) => r.constructPath).join(',')}`);

describe('PgsipExport', () => {
  it('builds a whole deployment from the database secret alone, with nothing for cdk-nag to report', () => {
    const { app, stack, databaseSecret } = userStack();
    const pgsip = new PgsipExport(stack, 'Export', { databaseSecret });
    const template = Template.fromStack(stack);
    // Plan, Export, Commit, the snapshot holder and the failure describer.
    template.resourceCountIs('AWS::Lambda::Function', 5);
    template.resourceCountIs('AWS::StepFunctions::StateMachine', 1);
    template.resourceCountIs('AWS::KMS::Key', 1);
    template.resourceCountIs('AWS::S3::Bucket', 2);
    template.resourceCountIs('AWS::SNS::Topic', 1);
    template.resourceCountIs('AWS::Scheduler::Schedule', 0);
    expect(pgsip.exportPrefix).toBe('exports');
    expect(pgsip.stateMachine).toBe(pgsip.exportStateMachine.stateMachine);
    for (const fn of [pgsip.planFunction, pgsip.exportFunction, pgsip.holderFunction]) {
      expect(stack.resolve(fn.node.defaultChild && (fn.node.defaultChild as { environment?: unknown }).environment)).toMatchObject({ variables: { PGSIP_DB_SECRET_ARN: SECRET_ARN } });
    }
    app.synth();
    expect(violations(app)).toEqual([]);
  });

  it('uses the VPC, bucket, key and topic it is given, and creates a security group for the functions when none is', () => {
    const { app, stack, databaseSecret } = userStack();
    const vpc = new Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 1, subnetConfiguration: [{ name: 'app', subnetType: SubnetType.PRIVATE_WITH_EGRESS }, { name: 'edge', subnetType: SubnetType.PUBLIC }] });
    const key = new Key(stack, 'TheirKey', { enableKeyRotation: true });
    const bucket = new Bucket(stack, 'TheirLake', { encryptionKey: key, enforceSSL: true });
    const topic = new Topic(stack, 'TheirAlarms');
    const pgsip = new PgsipExport(stack, 'Export', { databaseSecret, vpc, existingBucketObj: bucket, existingKeyObj: key, existingAlarmTopicObj: topic, connectionBudget: 8, runTimeout: Duration.hours(2) });
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::KMS::Key', 1);
    template.resourceCountIs('AWS::S3::Bucket', 1);
    template.resourceCountIs('AWS::SNS::Topic', 1);
    expect(pgsip.bucket).toBe(bucket);
    expect(pgsip.key).toBe(key);
    expect(pgsip.alarmTopic).toBe(topic);
    expect(pgsip.securityGroups).toHaveLength(1);
    expect(pgsip.securityGroups[0]).toBeInstanceOf(SecurityGroup);
    const fns = template.findResources('AWS::Lambda::Function');
    for (const fn of Object.values(fns)) {
      expect((fn.Properties as { VpcConfig?: { SubnetIds: unknown[]; SecurityGroupIds: unknown[] } }).VpcConfig?.SecurityGroupIds).toEqual([
        stack.resolve((pgsip.securityGroups[0] as SecurityGroup).securityGroupId),
      ]);
    }
    const machine = Object.values(template.findResources('AWS::StepFunctions::StateMachine'))[0].Properties as { DefinitionString: unknown };
    // The run timeout closes the definition: `..."TimeoutSeconds":7200}`.
    expect(JSON.stringify(stack.resolve(machine.DefinitionString))).toContain('\\"TimeoutSeconds\\":7200}');
    // The user's own bucket and topic are the user's: cdk-nag judges them as it would anywhere; pgsip's own
    // resources raise nothing.
    app.synth();
    expect(violations(app).filter((v) => v.includes('/Export/'))).toEqual([]);
  });

  const cases: [string, (p: PgsipExportProps) => PgsipExportProps, RegExp][] = [
    ['a missing databaseSecret', (p) => ({ ...p, databaseSecret: undefined as never }), /^PgsipExport props\.databaseSecret: is required/],
    ['a zero connectionBudget', (p) => ({ ...p, connectionBudget: 0 }), /^PgsipExport props\.connectionBudget: must be an integer from 1 to/],
    ['a bad exportPrefix', (p) => ({ ...p, exportPrefix: '/lake/' }), /^PgsipExport props\.exportPrefix: /],
    ['a run timeout over a day', (p) => ({ ...p, runTimeout: Duration.hours(30) }), /^PgsipExport props\.runTimeout: must be an integer from 1 to 24, got 30/],
    ['e-mails beside an existing topic', (p) => ({ ...p, existingAlarmTopicObj: {} as never, alarmEmails: ['a@b.co'] }), /^PgsipExport props\.alarmEmails: cannot be combined with existingAlarmTopicObj/],
    ['subnets without a VPC', (p) => ({ ...p, vpcSubnets: { subnetType: SubnetType.PRIVATE_ISOLATED } }), /^PgsipExport props\.vpcSubnets: needs vpc/],
    ['an unqualified schedule table', (p) => ({ ...p, schedules: [{ name: 'n', tables: ['orders'], expression: 'rate(1 hour)' }] }), /^PgsipExport props\.schedules\[0\]\.tables\[0\]: must be schema-qualified/],
    ['a bad alarm e-mail', (p) => ({ ...p, alarmEmails: ['oncall'] }), /^PgsipExport props\.alarmEmails\[0\]: must look like an e-mail address/],
  ];
  for (const [what, change, message] of cases) {
    it(`refuses ${what} in the constructor, naming the prop`, () => {
      const { stack, databaseSecret } = userStack();
      expect(() => new PgsipExport(stack, 'Export', change({ databaseSecret }))).toThrow(message);
    });
  }
});
