/**
 * One IAM request evaluated by @cloud-copilot/iam-simulate (AGPL-3.0, a test-only devDependency that no
 * bundle includes), and the checks the engine does not make itself.
 *
 * What the engine does not do, and so what this file insists on:
 * - it fills in no context key: every request states the ones AWS would send (`aws:SecureTransport`, ...);
 * - context keys that do not apply to the action are dropped silently: they are returned, and callers assert
 *   there are none;
 * - a `*` in the requested resource turns one answer into several: requests name concrete ARNs, or fail here;
 * - a misspelled action, condition operator or condition key inside a policy is not reported, the statement
 *   just never matches: `policyVocabularyProblems` checks every policy the test reads.
 */
import { getDenialReasons, getGrantReasons, runSimulation, typeForContextKey } from '@cloud-copilot/iam-simulate';
import type { Json, NamedPolicy, PolicyDocument } from './iam-template';

export type Outcome = 'Allowed' | 'ImplicitlyDenied' | 'ExplicitlyDenied';

/** Who asks: a role (with the identity policies attached to it) or a service principal (none). */
export interface RequestPrincipal {
  /** A role ARN, or a service principal as a bare name (`cloudwatch.amazonaws.com`). */
  readonly arn: string;
  readonly identityPolicies: readonly NamedPolicy[];
}

export interface IamRequest {
  readonly principal: RequestPrincipal;
  readonly action: string;
  /** A concrete ARN. */
  readonly resource: string;
  /** The account that owns the resource (S3 ARNs carry none; an empty one would read as cross-account). */
  readonly resourceAccount: string;
  readonly context: Readonly<Record<string, string | readonly string[]>>;
  /** The resource's policy (bucket, key, topic, trust policy), if it has one. */
  readonly resourcePolicy: PolicyDocument | undefined;
}

export interface Evaluation {
  readonly outcome: Outcome;
  /** Context keys the engine ignored because they do not apply to the action: a request that is not the one meant. */
  readonly ignoredContextKeys: readonly string[];
  /** Which statements granted or denied, for a failure message. */
  readonly reasons: string;
}

export async function evaluate(request: IamRequest): Promise<Evaluation> {
  if (request.resource.includes('*')) throw new Error(`iam-simulation: ${request.resource}: name one resource, not a pattern`);
  if (!request.resourceAccount) throw new Error(`iam-simulation: ${request.resource}: the resource's account is required`);
  const result = await runSimulation(
    {
      request: {
        principal: request.principal.arn,
        action: request.action,
        resource: { resource: request.resource, accountId: request.resourceAccount },
        contextVariables: Object.fromEntries(Object.entries(request.context).map(([k, v]) => [k, typeof v === 'string' ? v : [...v]])),
      },
      identityPolicies: request.principal.identityPolicies.map((p) => ({ name: p.name, policy: p.policy })),
      serviceControlPolicies: [],
      resourceControlPolicies: [],
      resourcePolicy: request.resourcePolicy,
    },
    { simulationMode: 'Strict' },
  );
  if (result.resultType === 'error') throw new Error(`iam-simulation: ${request.action} on ${request.resource}: ${JSON.stringify(result.errors)}`);
  if (result.resultType !== 'single') throw new Error(`iam-simulation: ${request.action} on ${request.resource}: expected one answer, got ${result.resultType}`);
  const analysis = result.result.analysis;
  const reasons = analysis.result === 'Allowed' ? getGrantReasons(analysis) : getDenialReasons(analysis);
  return { outcome: result.overallResult as Outcome, ignoredContextKeys: result.result.ignoredContextKeys ?? [], reasons: JSON.stringify(reasons) };
}

/** Condition operators IAM knows (each also with `IfExists`, and the string/ARN/... ones under `ForAnyValue:`/`ForAllValues:`). */
const CONDITION_OPERATORS = new Set([
  'StringEquals', 'StringNotEquals', 'StringEqualsIgnoreCase', 'StringNotEqualsIgnoreCase', 'StringLike', 'StringNotLike',
  'NumericEquals', 'NumericNotEquals', 'NumericLessThan', 'NumericLessThanEquals', 'NumericGreaterThan', 'NumericGreaterThanEquals',
  'DateEquals', 'DateNotEquals', 'DateLessThan', 'DateLessThanEquals', 'DateGreaterThan', 'DateGreaterThanEquals',
  'Bool', 'BinaryEquals', 'IpAddress', 'NotIpAddress', 'ArnEquals', 'ArnLike', 'ArnNotEquals', 'ArnNotLike',
]);

function knownOperator(operator: string): boolean {
  if (operator === 'Null') return true;
  const base = operator.replace(/^(ForAnyValue|ForAllValues):/, '').replace(/IfExists$/, '');
  return CONDITION_OPERATORS.has(base);
}

const asList = (value: Json | undefined): Json[] => (value === undefined ? [] : Array.isArray(value) ? value : [value]);

export interface Vocabulary {
  /** Misspelled or unknown actions, operators and condition keys, one line each: a statement that can never match. */
  readonly problems: readonly string[];
  /** Actions with a `*` (`s3:*`, `kms:GenerateDataKey*`): not checked one by one, so the caller names the ones it expects. */
  readonly wildcardActions: readonly string[];
}

/** Every action, condition operator and condition key of `policies`, checked against the engine's own IAM data. */
export async function policyVocabulary(policies: readonly NamedPolicy[]): Promise<Vocabulary> {
  const problems: string[] = [];
  const wildcardActions = new Set<string>();
  const checkedActions = new Map<string, boolean>();
  for (const { name, policy } of policies) {
    for (const [i, statement] of policy.Statement.entries()) {
      const where = `${name} Statement[${i}]`;
      for (const action of [...asList(statement.Action), ...asList(statement.NotAction)]) {
        if (typeof action !== 'string') {
          problems.push(`${where}: action ${JSON.stringify(action)} is not a string`);
        } else if (action.includes('*')) {
          wildcardActions.add(action);
        } else {
          if (!checkedActions.has(action)) checkedActions.set(action, await actionExists(action));
          if (!checkedActions.get(action)) problems.push(`${where}: unknown action ${action}`);
        }
      }
      const condition = statement.Condition;
      if (condition === undefined) continue;
      if (typeof condition !== 'object' || condition === null || Array.isArray(condition)) {
        problems.push(`${where}: Condition is not an object`);
        continue;
      }
      for (const [operator, keys] of Object.entries(condition)) {
        if (!knownOperator(operator)) problems.push(`${where}: unknown condition operator ${operator}`);
        if (typeof keys !== 'object' || keys === null || Array.isArray(keys)) {
          problems.push(`${where}: ${operator} does not map keys to values`);
          continue;
        }
        for (const key of Object.keys(keys)) {
          try {
            await typeForContextKey(key);
          } catch {
            problems.push(`${where}: unknown condition key ${key}`);
          }
        }
      }
    }
  }
  return { problems, wildcardActions: [...wildcardActions].sort() };
}

/** Whether the engine's IAM data knows `service:Action`: a request for it is refused only when it does not. */
async function actionExists(action: string): Promise<boolean> {
  const account = '123456789012';
  const result = await runSimulation(
    {
      request: { principal: `arn:aws:iam::${account}:role/probe`, action, resource: { resource: '*', accountId: account }, contextVariables: {} },
      identityPolicies: [],
      serviceControlPolicies: [],
      resourceControlPolicies: [],
    },
    { simulationMode: 'Strict' },
  );
  return !(result.resultType === 'error' && ['invalid.action', 'invalid.service'].includes(result.errors.message));
}
