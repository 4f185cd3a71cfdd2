/**
 * The IAM of a synthesized template, as concrete policy documents: CloudFormation intrinsics resolved against
 * one made-up environment, and for every role its identity policies and trust policy, for every bucket, key
 * and topic its resource policy. What an evaluation engine needs, which takes no `Fn::Join` or `Ref`
 * (test/support/iam-simulation.ts, test/lib/iam-evaluation.test.ts).
 *
 * Anything it cannot turn into a concrete value fails loudly, naming the resource and the path: a policy
 * evaluated with a piece silently dropped would prove nothing. So do IAM features it does not model (managed
 * policy ARNs, permission boundaries, users and groups, resource policies of other services): an evaluation
 * that ignores a policy attached to the principal or the resource would answer for a different stack.
 */

/** JSON as a template holds it. */
export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

/** A policy document with every intrinsic resolved (statement contents are left to the evaluation engine). */
export interface PolicyDocument {
  readonly Version?: string;
  readonly Statement: readonly { readonly [key: string]: Json }[];
}

export interface NamedPolicy {
  /** The logical id of the resource that holds it (`PlanFunctionRoleDefaultPolicyC7C34436`, `Role.Policies[0]`). */
  readonly name: string;
  readonly policy: PolicyDocument;
}

export interface RoleIam {
  readonly logicalId: string;
  readonly name: string;
  readonly arn: string;
  /** Every identity policy attached to the role: AWS::IAM::Policy / ManagedPolicy / RolePolicy and inline `Policies`. */
  readonly identityPolicies: readonly NamedPolicy[];
  /** `AssumeRolePolicyDocument`: the role's resource policy for sts:AssumeRole. */
  readonly trustPolicy: PolicyDocument;
}

/** Where the template is imagined to be deployed: every pseudo parameter and generated name comes from here. */
export interface TemplateEnvironment {
  readonly account: string;
  readonly region: string;
  readonly partition: string;
  readonly stackName: string;
}

export const TEST_ENVIRONMENT = { account: '123456789012', region: 'eu-west-1', partition: 'aws' } as const;

interface CfnResource {
  readonly Type: string;
  readonly Properties?: { readonly [key: string]: Json };
}

interface CfnTemplate {
  readonly Resources: { readonly [logicalId: string]: CfnResource };
}

/** Resource policies of services this helper does not collect: their presence would change the answers. */
const UNMODELLED_POLICY_TYPES = /^AWS::(Lambda::Permission|SecretsManager::ResourcePolicy|SQS::QueuePolicy|Logs::ResourcePolicy|Events::EventBusPolicy|ECR::RepositoryPolicy|S3::AccessPoint|S3::MultiRegionAccessPointPolicy|S3Express::BucketPolicy|IAM::User|IAM::Group|IAM::UserToGroupAddition)$/;

export class IamTemplate {
  readonly environment: TemplateEnvironment;
  /** By logical id of the AWS::IAM::Role. */
  readonly roles: ReadonlyMap<string, RoleIam>;
  /** Bucket ARN -> its AWS::S3::BucketPolicy (also the policy of every object ARN under it). */
  readonly bucketPolicies: ReadonlyMap<string, PolicyDocument>;
  /** Key ARN -> its KeyPolicy. */
  readonly keyPolicies: ReadonlyMap<string, PolicyDocument>;
  /** Topic ARN -> its AWS::SNS::TopicPolicy. */
  readonly topicPolicies: ReadonlyMap<string, PolicyDocument>;

  private readonly resources: CfnTemplate['Resources'];

  /** `template` is what `Template.fromStack(stack).toJSON()` returns. */
  constructor(template: unknown, environment: TemplateEnvironment) {
    this.environment = environment;
    this.resources = asTemplate(template).Resources;

    for (const [id, r] of Object.entries(this.resources)) {
      if (UNMODELLED_POLICY_TYPES.test(r.Type)) {
        throw new Error(`iam-template: ${id} is a ${r.Type}, which this helper does not model; evaluations would ignore it`);
      }
    }

    const attached = new Map<string, NamedPolicy[]>();
    const attach = (roleId: string, policy: NamedPolicy) => {
      if (this.resources[roleId]?.Type !== 'AWS::IAM::Role') {
        throw new Error(`iam-template: ${policy.name} is attached to ${roleId}, which is not a role of this template`);
      }
      attached.set(roleId, [...(attached.get(roleId) ?? []), policy]);
    };
    const bucketPolicies = new Map<string, PolicyDocument>();
    const keyPolicies = new Map<string, PolicyDocument>();
    const topicPolicies = new Map<string, PolicyDocument>();

    for (const [id, r] of Object.entries(this.resources)) {
      const p = r.Properties ?? {};
      switch (r.Type) {
        case 'AWS::IAM::Policy':
        case 'AWS::IAM::ManagedPolicy': {
          for (const field of ['Users', 'Groups']) {
            if (p[field] !== undefined) throw new Error(`iam-template: ${id} is attached to ${field}, which this helper does not model`);
          }
          const policy = { name: id, policy: this.document(p.PolicyDocument, `${id}.PolicyDocument`) };
          for (const [i, role] of list(p.Roles ?? []).entries()) attach(refTarget(role, `${id}.Roles[${i}]`), policy);
          break;
        }
        case 'AWS::IAM::RolePolicy':
          attach(refTarget(p.RoleName, `${id}.RoleName`), { name: id, policy: this.document(p.PolicyDocument, `${id}.PolicyDocument`) });
          break;
        case 'AWS::S3::BucketPolicy':
          bucketPolicies.set(this.getAtt(refTarget(p.Bucket, `${id}.Bucket`), 'Arn'), this.document(p.PolicyDocument, `${id}.PolicyDocument`));
          break;
        case 'AWS::KMS::Key':
          keyPolicies.set(this.getAtt(id, 'Arn'), this.document(p.KeyPolicy, `${id}.KeyPolicy`));
          break;
        case 'AWS::SNS::TopicPolicy': {
          const policy = this.document(p.PolicyDocument, `${id}.PolicyDocument`);
          for (const [i, topic] of list(p.Topics).entries()) topicPolicies.set(this.ref(refTarget(topic, `${id}.Topics[${i}]`)), policy);
          break;
        }
      }
    }

    const roles = new Map<string, RoleIam>();
    for (const [id, r] of Object.entries(this.resources)) {
      if (r.Type !== 'AWS::IAM::Role') continue;
      const p = r.Properties ?? {};
      // Their documents are not in the template: an evaluation without them would be of another role.
      if (p.ManagedPolicyArns !== undefined) throw new Error(`iam-template: role ${id} has ManagedPolicyArns, whose documents are not in the template`);
      if (p.PermissionsBoundary !== undefined) throw new Error(`iam-template: role ${id} has a PermissionsBoundary, which this helper does not model`);
      const inline = list(p.Policies ?? []).map((entry, i) => {
        const path = `${id}.Policies[${i}]`;
        if (!isObject(entry)) throw new Error(`iam-template: ${path} is not an object`);
        return { name: `${id}.Policies[${i}]`, policy: this.document(entry.PolicyDocument, `${path}.PolicyDocument`) };
      });
      roles.set(id, {
        logicalId: id,
        name: this.ref(id),
        arn: this.getAtt(id, 'Arn'),
        identityPolicies: [...inline, ...(attached.get(id) ?? [])],
        trustPolicy: this.document(p.AssumeRolePolicyDocument, `${id}.AssumeRolePolicyDocument`),
      });
    }

    this.roles = roles;
    this.bucketPolicies = bucketPolicies;
    this.keyPolicies = keyPolicies;
    this.topicPolicies = topicPolicies;
  }

  /** The role a Lambda function or state machine runs as (its `Role` / `RoleArn` property). */
  roleOf(logicalId: string): RoleIam {
    const r = this.resource(logicalId);
    const roleRef = r.Type === 'AWS::Lambda::Function' ? r.Properties?.Role : r.Type === 'AWS::StepFunctions::StateMachine' ? r.Properties?.RoleArn : undefined;
    if (roleRef === undefined) throw new Error(`iam-template: ${logicalId} (${r.Type}) names no role`);
    const roleId = getAttTarget(roleRef, `${logicalId}.Role`);
    const role = this.roles.get(roleId);
    if (!role) throw new Error(`iam-template: ${logicalId} runs as ${roleId}, which is not a role of this template`);
    return role;
  }

  /**
   * The resource policy AWS evaluates with a request on `arn`: the bucket policy for the bucket and its
   * objects, the key policy, the topic policy, a role's trust policy; undefined when the resource has none
   * in this template.
   */
  resourcePolicyFor(arn: string): PolicyDocument | undefined {
    const s3 = /^(arn:[^:]+:s3:::[^/]+)(\/.*)?$/.exec(arn);
    if (s3) return this.bucketPolicies.get(s3[1]);
    const role = [...this.roles.values()].find((r) => r.arn === arn);
    if (role) return role.trustPolicy;
    return this.keyPolicies.get(arn) ?? this.topicPolicies.get(arn);
  }

  /** Any template value with every intrinsic resolved; throws naming `path` on one it cannot resolve. */
  resolve(value: Json, path = 'value'): Json {
    if (Array.isArray(value)) return value.map((v, i) => this.resolve(v, `${path}[${i}]`));
    if (!isObject(value)) return value;
    const keys = Object.keys(value);
    if (keys.length === 1 && (keys[0] === 'Ref' || keys[0].startsWith('Fn::'))) return this.intrinsic(keys[0], value[keys[0]], path);
    return Object.fromEntries(keys.map((k) => [k, this.resolve(value[k], `${path}.${k}`)]));
  }

  /** What `{ Ref: logicalId }` evaluates to once deployed (names generated from the logical id). */
  ref(logicalId: string): string {
    const pseudo = this.pseudoParameter(logicalId);
    if (pseudo !== undefined) return pseudo;
    const r = this.resource(logicalId);
    switch (r.Type) {
      case 'AWS::S3::Bucket':
        return this.explicitName(r, 'BucketName') ?? `${this.environment.stackName}-${logicalId}`.toLowerCase();
      case 'AWS::IAM::Role':
        return this.explicitName(r, 'RoleName') ?? `${this.environment.stackName}-${logicalId}`.slice(0, 64);
      case 'AWS::Lambda::Function':
        return this.explicitName(r, 'FunctionName') ?? `${this.environment.stackName}-${logicalId}`.slice(0, 64);
      case 'AWS::KMS::Key':
        return keyIdFor(logicalId);
      case 'AWS::Logs::LogGroup':
        return this.explicitName(r, 'LogGroupName') ?? `${this.environment.stackName}-${logicalId}`;
      case 'AWS::SNS::Topic':
        return this.arn('sns', this.explicitName(r, 'TopicName') ?? `${this.environment.stackName}-${logicalId}`);
      case 'AWS::StepFunctions::StateMachine':
        return this.arn('states', `stateMachine:${this.explicitName(r, 'StateMachineName') ?? logicalId}`);
      case 'AWS::SecretsManager::Secret':
        // Secrets Manager appends 6 random characters to the name in the ARN.
        return this.arn('secretsmanager', `secret:${this.explicitName(r, 'Name') ?? logicalId}-AbCdEf`);
      default:
        throw new Error(`iam-template: cannot resolve { Ref: ${logicalId} } of a ${r.Type}`);
    }
  }

  /** What `{ "Fn::GetAtt": [logicalId, attribute] }` evaluates to once deployed. */
  getAtt(logicalId: string, attribute: string): string {
    const r = this.resource(logicalId);
    const { partition } = this.environment;
    switch (`${r.Type}.${attribute}`) {
      case 'AWS::S3::Bucket.Arn':
        return `arn:${partition}:s3:::${this.ref(logicalId)}`;
      case 'AWS::IAM::Role.Arn':
        return `arn:${partition}:iam::${this.environment.account}:role/${this.ref(logicalId)}`;
      case 'AWS::Lambda::Function.Arn':
        return this.arn('lambda', `function:${this.ref(logicalId)}`);
      case 'AWS::KMS::Key.Arn':
        return this.arn('kms', `key/${this.ref(logicalId)}`);
      case 'AWS::KMS::Key.KeyId':
        return this.ref(logicalId);
      case 'AWS::Logs::LogGroup.Arn':
        // CloudFormation's LogGroup Arn ends in `:*` (it covers the group's streams).
        return this.arn('logs', `log-group:${this.ref(logicalId)}:*`);
      case 'AWS::SNS::Topic.TopicArn':
        return this.ref(logicalId);
      case 'AWS::StepFunctions::StateMachine.Arn':
        return this.ref(logicalId);
      case 'AWS::StepFunctions::StateMachine.Name':
        return this.explicitName(r, 'StateMachineName') ?? logicalId;
      default:
        throw new Error(`iam-template: cannot resolve { "Fn::GetAtt": [${logicalId}, ${attribute}] } of a ${r.Type}`);
    }
  }

  private document(value: Json | undefined, path: string): PolicyDocument {
    if (value === undefined) throw new Error(`iam-template: ${path} is missing`);
    const resolved = this.resolve(value, path);
    if (!isObject(resolved) || !Array.isArray(resolved.Statement) || !resolved.Statement.every(isObject)) {
      throw new Error(`iam-template: ${path} is not a policy document with a Statement list: ${JSON.stringify(resolved)}`);
    }
    return { ...(typeof resolved.Version === 'string' ? { Version: resolved.Version } : {}), Statement: resolved.Statement };
  }

  private intrinsic(name: string, argument: Json, path: string): Json {
    const fail = (why: string): never => {
      throw new Error(`iam-template: cannot resolve ${name} at ${path} (${why}): ${JSON.stringify(argument)}`);
    };
    switch (name) {
      case 'Ref':
        return typeof argument === 'string' ? this.ref(argument) : fail('not a logical id');
      case 'Fn::GetAtt': {
        const [id, attribute] = typeof argument === 'string' ? argument.split('.') : Array.isArray(argument) ? argument : [];
        return typeof id === 'string' && typeof attribute === 'string' ? this.getAtt(id, attribute) : fail('not [logicalId, attribute]');
      }
      case 'Fn::Join': {
        if (!Array.isArray(argument) || argument.length !== 2) return fail('not [separator, list]');
        const [separator, items] = [this.resolve(argument[0], `${path}[0]`), this.resolve(argument[1], `${path}[1]`)];
        if (typeof separator !== 'string' || !Array.isArray(items) || !items.every((i) => typeof i === 'string')) return fail('not strings');
        return items.join(separator);
      }
      case 'Fn::Split': {
        if (!Array.isArray(argument) || argument.length !== 2) return fail('not [separator, string]');
        const [separator, source] = [this.resolve(argument[0], `${path}[0]`), this.resolve(argument[1], `${path}[1]`)];
        if (typeof separator !== 'string' || typeof source !== 'string') return fail('not strings');
        return source.split(separator);
      }
      case 'Fn::Select': {
        if (!Array.isArray(argument) || argument.length !== 2) return fail('not [index, list]');
        const [index, items] = [this.resolve(argument[0], `${path}[0]`), this.resolve(argument[1], `${path}[1]`)];
        const i = typeof index === 'string' ? Number(index) : index;
        if (typeof i !== 'number' || !Array.isArray(items) || !(i >= 0 && i < items.length)) return fail('index out of the list');
        return items[i];
      }
      default:
        return fail('not modelled');
    }
  }

  private pseudoParameter(name: string): string | undefined {
    const { account, region, partition, stackName } = this.environment;
    const values: Record<string, string> = {
      'AWS::AccountId': account,
      'AWS::Region': region,
      'AWS::Partition': partition,
      'AWS::URLSuffix': 'amazonaws.com',
      'AWS::StackName': stackName,
    };
    return values[name];
  }

  private resource(logicalId: string): CfnResource {
    const r = this.resources[logicalId];
    if (!r) throw new Error(`iam-template: no resource ${logicalId} in the template`);
    return r;
  }

  private explicitName(r: CfnResource, property: string): string | undefined {
    const name = r.Properties?.[property];
    if (name === undefined) return undefined;
    const resolved = this.resolve(name, property);
    if (typeof resolved !== 'string') throw new Error(`iam-template: ${property} resolves to ${JSON.stringify(resolved)}, not a name`);
    return resolved;
  }

  private arn(service: string, resource: string): string {
    const { partition, region, account } = this.environment;
    return `arn:${partition}:${service}:${region}:${account}:${resource}`;
  }
}

/** A stable, UUID-shaped key id per logical id (KMS key ids are UUIDs). */
function keyIdFor(logicalId: string): string {
  let h = 0x811c9dc5;
  for (const c of logicalId) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193) >>> 0;
  const hex = h.toString(16).padStart(8, '0');
  return `${hex}-0000-4000-8000-${hex}${hex.slice(0, 4)}`;
}

function isObject(value: Json | undefined): value is { [key: string]: Json } {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function list(value: Json | undefined): Json[] {
  if (!Array.isArray(value)) throw new Error(`iam-template: expected a list, got ${JSON.stringify(value)}`);
  return value;
}

/** The logical id in `{ Ref: id }`; anything else (a name string, an import) cannot be tied to a resource. */
function refTarget(value: Json | undefined, path: string): string {
  if (isObject(value) && typeof value.Ref === 'string' && Object.keys(value).length === 1) return value.Ref;
  throw new Error(`iam-template: ${path} is not a { Ref } to a resource of this template: ${JSON.stringify(value)}`);
}

/** The logical id in `{ "Fn::GetAtt": [id, "Arn"] }`. */
function getAttTarget(value: Json | undefined, path: string): string {
  const att = isObject(value) ? value['Fn::GetAtt'] : undefined;
  if (Array.isArray(att) && typeof att[0] === 'string' && att[1] === 'Arn') return att[0];
  throw new Error(`iam-template: ${path} is not a { "Fn::GetAtt": [role, "Arn"] }: ${JSON.stringify(value)}`);
}

function asTemplate(template: unknown): CfnTemplate {
  if (typeof template !== 'object' || template === null || typeof (template as { Resources?: unknown }).Resources !== 'object') {
    throw new Error('iam-template: not a CloudFormation template (no Resources)');
  }
  return template as CfnTemplate;
}
