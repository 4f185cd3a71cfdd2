/**
 * Every template and definition pgsip synthesizes, held to AWS's own rules by tools nobody here wrote:
 * cfn-lint (AWS's CloudFormation linter: resource schemas, limits such as the schedule description's 512
 * characters) over each template, asl-validator (the States Language's JSON schema and transition rules) over
 * each state machine definition, and CloudFormation's 500 resources per stack at the largest config.
 */
import { App, Duration, Stack } from 'aws-cdk-lib';
import { Vpc } from 'aws-cdk-lib/aws-ec2';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Bucket } from 'aws-cdk-lib/aws-s3';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Topic } from 'aws-cdk-lib/aws-sns';
import validator from 'asl-validator';
import { describe, expect, it } from 'vitest';
import { PgsipExport } from '../../lib/index';
import { buildApp } from '../../lib/pgsip-app';
import { loadConfig, validateConfig } from '../../lib/pgsip-config';
import { REPO_ROOT } from '../../lib/pgsip-function';
import { propsFromConfig, type PgsipStackProps } from '../../lib/pgsip-stack';
import { definitionFromTemplate } from '../../lib/state-machine-definition';
import { cfnLint } from '../support/cfn-lint';
import { LARGEST_SCHEDULES, largestConfig } from '../support/largest-config';

type Template = { Resources: Record<string, { Type: string; Properties?: Record<string, unknown> }> };

function stackTemplate(props: PgsipStackProps): Template {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = buildApp(app, props);
  return app.synth().getStackArtifact(stack.artifactId).template as Template;
}

/** The construct in a user's own stack, as test/lib/pgsip-export.test.ts builds it. */
function constructTemplate(build: (stack: Stack, databaseSecret: ReturnType<typeof Secret.fromSecretCompleteArn>) => void): Template {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new Stack(app, 'UserStack', { env: { account: '123456789012', region: 'eu-west-1' } });
  build(stack, Secret.fromSecretCompleteArn(stack, 'Db', 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf'));
  return app.synth().getStackArtifact(stack.artifactId).template as Template;
}

const TEMPLATES: Record<string, Template> = {
  placeholder: stackTemplate({}),
  example: stackTemplate(propsFromConfig(loadConfig(`${REPO_ROOT}/pgsip.config.example.json`))),
  largest: stackTemplate(propsFromConfig(validateConfig(largestConfig()))),
  'construct-minimal': constructTemplate((stack, databaseSecret) => new PgsipExport(stack, 'Export', { databaseSecret })),
  'construct-existing': constructTemplate((stack, databaseSecret) => {
    // The user's VPC, imported: its own resources are the user's template, not pgsip's.
    const vpc = Vpc.fromVpcAttributes(stack, 'Vpc', {
      vpcId: 'vpc-0123456789abcdef0',
      availabilityZones: ['eu-west-1a', 'eu-west-1b'],
      privateSubnetIds: ['subnet-0123456789abcdef0', 'subnet-0fedcba9876543210'],
    });
    const key = new Key(stack, 'TheirKey', { enableKeyRotation: true });
    const bucket = new Bucket(stack, 'TheirLake', { encryptionKey: key, enforceSSL: true });
    new PgsipExport(stack, 'Export', {
      databaseSecret,
      vpc,
      existingBucketObj: bucket,
      existingKeyObj: key,
      existingAlarmTopicObj: new Topic(stack, 'TheirAlarms'),
      connectionBudget: 8,
      runTimeout: Duration.hours(2),
      catalog: { glueDatabase: 'lake', createDatabase: true },
    });
  }),
};

/**
 * Warnings kept, each with its reason; anything else cfn-lint reports fails the test.
 */
const ACKNOWLEDGED_WARNINGS: Record<string, string> = {
  // CDK makes a function (and the state machine) DependsOn its role besides referencing it: the duplicate
  // ordering is harmless, and it is how CDK orders the role's policy before the function.
  W3005: "a DependsOn that a GetAtt already implies (CDK's own ordering of a role before its function)",
};

describe('cfn-lint (AWS CloudFormation Linter)', () => {
  const findings = cfnLint(TEMPLATES);

  it('reports no error on any synthesized template: placeholder secret, example config, the largest config, the construct', () => {
    expect(findings.filter((f) => f.level === 'Error').map((f) => `${f.template} ${f.rule} ${f.path}: ${f.message}`)).toEqual([]);
  });

  it('reports only the warnings acknowledged here, each with its reason', () => {
    const unexplained = findings.filter((f) => f.level !== 'Error' && !(f.rule in ACKNOWLEDGED_WARNINGS));
    expect(unexplained.map((f) => `${f.template} ${f.rule} ${f.path}: ${f.message}`)).toEqual([]);
  });

  it('would catch what it is here for: a schedule description over 512 characters is an error (E3033)', () => {
    const template = structuredClone(TEMPLATES.example);
    const schedule = Object.values(template.Resources).find((r) => r.Type === 'AWS::Scheduler::Schedule')!;
    schedule.Properties!.Description = 'x'.repeat(513);
    expect(cfnLint({ broken: template }).filter((f) => f.level === 'Error').map((f) => f.rule)).toContain('E3033');
  });
});

describe('asl-validator (Amazon States Language)', () => {
  it.each(Object.keys(TEMPLATES))('accepts the state machine definition of the %s template', (name) => {
    const { definition } = definitionFromTemplate(TEMPLATES[name]);
    const result = validator(structuredClone(definition), { checkPaths: true, checkArn: true });
    expect(result.errorsText()).toBe('');
    expect(result.isValid).toBe(true);
  });

  it('would catch a broken definition (a transition to a state that does not exist)', () => {
    const { definition } = definitionFromTemplate(TEMPLATES.placeholder);
    const broken = structuredClone(definition) as { States: Record<string, Record<string, unknown>> };
    broken.States.ReleaseAfterFailure.Next = 'Nowhere';
    expect(validator(broken, { checkPaths: true, checkArn: true }).isValid).toBe(false);
  });
});

describe('CloudFormation limits at scale', () => {
  const count = (t: Template, type?: string) => Object.values(t.Resources).filter((r) => !type || r.Type === type).length;

  it(`keeps the largest config (${LARGEST_SCHEDULES} schedules of 40 tables, VPC, catalog, existing storage) well under 500 resources`, () => {
    const resources = count(TEMPLATES.largest);
    expect(resources).toBeLessThan(200);
    // One schedule and one freshness alarm per schedule, whatever its tables.
    expect(count(TEMPLATES.largest, 'AWS::Scheduler::Schedule')).toBe(LARGEST_SCHEDULES);
    const freshness = Object.values(TEMPLATES.largest.Resources).filter(
      (r) => r.Type === 'AWS::CloudWatch::Alarm' && (r.Properties?.MetricName as string | undefined) === 'ScheduleCommitted',
    );
    expect(freshness).toHaveLength(LARGEST_SCHEDULES);
  });

  it('does not grow with the number of tables a schedule names', () => {
    const config = largestConfig();
    const fewer = { ...config, schedules: config.schedules!.map((s) => ({ ...s, tables: s.tables.slice(0, 1), incremental: undefined })) };
    expect(count(stackTemplate(propsFromConfig(validateConfig(fewer))))).toBe(count(TEMPLATES.largest));
  });
});
