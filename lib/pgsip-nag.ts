/**
 * cdk-nag (AwsSolutionsChecks) acknowledgements, each with its reason. Acknowledged through CDK's own
 * `Validations.of(construct).acknowledge`, one finding at a time (cdk-nag 3 style), so a new wildcard that
 * nobody reasoned about still fails the cdk-nag tests (test/lib/production-stack.test.ts) and `cdk synth`.
 *
 * IAM5 (wildcards) is decided per resource string, as cdk-nag flattens it (`<Logical.Arn>/exports/*`):
 * only the shapes listed in `WILDCARD_REASONS` are acknowledged, and `Resource::*` only for the actions
 * AWS offers no resource-level permission for.
 */
import { Aspects, Stack, Validations } from 'aws-cdk-lib';
import { CfnPolicy } from 'aws-cdk-lib/aws-iam';
import type { Construct, IConstruct } from 'constructs';
import { KEY_CLASSES, type KeyClass, keyPattern } from './export-key-classes';

/** Actions AWS only authorizes on `Resource: "*"`. */
const STAR_ONLY_ACTIONS: Record<string, string> = {
  'xray:PutTraceSegments': 'X-Ray tracing',
  'xray:PutTelemetryRecords': 'X-Ray tracing',
  'xray:GetSamplingRules': 'X-Ray tracing',
  'xray:GetSamplingTargets': 'X-Ray tracing',
  'logs:CreateLogDelivery': 'Step Functions log delivery (CloudWatch Logs vended logs)',
  'logs:GetLogDelivery': 'Step Functions log delivery (CloudWatch Logs vended logs)',
  'logs:UpdateLogDelivery': 'Step Functions log delivery (CloudWatch Logs vended logs)',
  'logs:DeleteLogDelivery': 'Step Functions log delivery (CloudWatch Logs vended logs)',
  'logs:ListLogDeliveries': 'Step Functions log delivery (CloudWatch Logs vended logs)',
  'logs:PutResourcePolicy': 'Step Functions log delivery (CloudWatch Logs vended logs)',
  'logs:DescribeResourcePolicies': 'Step Functions log delivery (CloudWatch Logs vended logs)',
  'logs:DescribeLogGroups': 'Step Functions log delivery (CloudWatch Logs vended logs)',
  'ec2:CreateNetworkInterface': 'Lambda VPC attachment (ENIs are created by Lambda, named at run time)',
  'ec2:DescribeNetworkInterfaces': 'Lambda VPC attachment (Describe* has no resource-level permissions)',
  'ec2:DescribeSubnets': 'Lambda VPC attachment (Describe* has no resource-level permissions)',
  'ec2:DeleteNetworkInterface': 'Lambda VPC attachment (ENIs are created by Lambda, named at run time)',
  'ec2:AssignPrivateIpAddresses': 'Lambda VPC attachment (ENIs are created by Lambda, named at run time)',
  'ec2:UnassignPrivateIpAddresses': 'Lambda VPC attachment (ENIs are created by Lambda, named at run time)',
};

/** Wildcard resources pgsip needs, by shape of the flattened resource, with the reason. */
function wildcardReason(resource: string, actions: string[], targets: NagTargets): string | undefined {
  const { exportPrefix, glueDatabase, tableBucketArn } = targets;
  if (resource === '*') {
    const unexplained = actions.filter((a) => !(a in STAR_ONLY_ACTIONS));
    if (unexplained.length > 0) return undefined;
    return `Resource "*" is required by AWS for ${[...new Set(actions.map((a) => STAR_ONLY_ACTIONS[a]))].join('; ')}`;
  }
  if (actions.every((a) => a.startsWith('s3:'))) {
    const keyClass = (Object.keys(KEY_CLASSES) as KeyClass[]).find((k) => resource.endsWith(`/${keyPattern(exportPrefix, k)}`));
    if (keyClass) {
      return `one class of keys under the export prefix, ${KEY_CLASSES[keyClass].what} (${keyPattern(exportPrefix, keyClass)}); tables, runs and parts are named at run time`;
    }
  }
  if (actions.every((a) => a === 'lambda:InvokeFunction') && /^<\w*(Plan|Export|Commit|Holder|Failure)Function[0-9A-F]{8}\.Arn>:\*$/.test(resource)) {
    return 'the state machine invokes its own five functions, any version or alias of them (CDK LambdaInvoke grant)';
  }
  if (glueDatabase && actions.every((a) => CATALOG_ACTIONS.has(a)) && resource.endsWith(`:glue:<AWS::Region>:<AWS::AccountId>:table/${glueDatabase}/*`)) {
    return `the tables of the one Glue database Commit registers exports in (${glueDatabase}); their names follow the exported tables`;
  }
  if (tableBucketArn && actions.every((a) => a.startsWith('s3tables:')) && resource === `${tableBucketArn}/table/*`) {
    return `the tables of the one S3 Tables table bucket Iceberg tables are kept in (${tableBucketArn}); S3 Tables names them by ids it assigns`;
  }
  if (actions.every((a) => a.startsWith('states:')) && resource.includes(':execution:')) {
    return 'Distributed Map child executions of this state machine, named by Step Functions at run time';
  }
  if (actions.every((a) => a === 'states:ListExecutions') && /:mapRun:<\w+\.Name>\/\*$/.test(resource)) {
    return "the Map Runs of this state machine's executions (the failure function lists their failed children), named by Step Functions at run time";
  }
  return undefined;
}

/** Flattens a CloudFormation reference exactly as cdk-nag 3 does (utils/flatten-cfn-reference). */
export function flattenCfnReference(reference: unknown): string {
  const visit = (node: unknown): string => {
    if (node === undefined) return '';
    if (typeof node === 'string') return node.replace(/\${/g, '<').replace(/}/g, '>');
    const n = node as Record<string, unknown>;
    if (n['Fn::Join']) {
      const [delimiter, items] = n['Fn::Join'] as [string, unknown[]];
      return items.map(visit).join(delimiter);
    }
    if (n['Fn::Sub']) return visit(n['Fn::Sub']);
    if (n['Fn::GetAtt']) {
      const [resource, attribute] = n['Fn::GetAtt'] as [unknown, unknown];
      return `<${visit(resource)}.${visit(attribute)}>`;
    }
    if (n['Fn::ImportValue']) return visit(n['Fn::ImportValue']);
    if (n.Ref) return `<${visit(n.Ref)}>`;
    return JSON.stringify(node);
  };
  return visit(reference);
}

const asList = <T>(x: T | T[] | undefined): T[] => (x === undefined ? [] : Array.isArray(x) ? x : [x]);

const CATALOG_ACTIONS = new Set(['glue:GetTable', 'glue:CreateTable', 'glue:UpdateTable']);

interface NagTargets {
  readonly exportPrefix: string;
  /** The Glue database Commit registers tables in, if any. */
  readonly glueDatabase?: string;
  /** The S3 Tables table bucket Iceberg tables are kept in, if any. */
  readonly tableBucketArn?: string;
}

/**
 * Acknowledges the findings pgsip's own resources raise, with their reasons, under `scope` (the PgsipExport
 * construct) only: a policy of the app around it is judged as cdk-nag judges it.
 */
export function acknowledgeNagFindings(scope: Construct, targets: NagTargets): void {
  const stack = Stack.of(scope);
  // IAM5: every wildcard resource in every policy under the scope, one acknowledgement each, or none. Decided
  // in an aspect, i.e. at synth time, on the final policies: a statement added after the constructor is
  // judged too.
  Aspects.of(scope).add({
    visit(construct: IConstruct) {
      if (construct instanceof CfnPolicy) acknowledgeWildcards(stack, construct, targets);
    },
  });
}

function acknowledgeWildcards(stack: Stack, construct: CfnPolicy, targets: NagTargets): void {
  const document = stack.resolve(construct.policyDocument) as { Statement?: { Effect: string; Action: string | string[]; Resource: unknown }[] };
  // A finding id covers every statement of the policy with that resource: acknowledge it only when each
  // of them has a reason, so an unexplained wildcard cannot hide behind an explained one.
  const reasons = new Map<string, (string | undefined)[]>();
  for (const statement of document.Statement ?? []) {
    if (statement.Effect !== 'Allow') continue;
    const actions = asList(statement.Action);
    for (const resource of asList(statement.Resource).map(flattenCfnReference)) {
      if (!resource.includes('*')) continue;
      reasons.set(resource, [...(reasons.get(resource) ?? []), wildcardReason(resource, actions, targets)]);
    }
  }
  for (const [resource, list] of reasons) {
    if (list.some((r) => r === undefined)) continue;
    Validations.of(construct).acknowledge({ id: `AwsSolutions-IAM5[Resource::${resource}]`, reason: [...new Set(list)].join('; ') });
  }
  }
