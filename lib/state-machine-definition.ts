/**
 * One definition, two runtimes. The state machine that `cdk deploy` ships and the one the local runner
 * (aws-local-stepfunctions) executes must be the same ASL, not a hand-written copy that drifts. So the local
 * runner does not describe the flow itself: it synthesizes the CDK app in process (`synthesizeDefinition`,
 * through the same `buildApp` as bin/app.ts) and takes the `DefinitionString` out of the CloudFormation
 * template (`definitionFromTemplate`), with the CloudFormation references to the Lambda functions replaced by
 * deterministic placeholder ARNs. A test synthesizes with the real CDK CLI and checks both agree.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { buildApp } from './pgsip-app';
import { REPO_ROOT } from './pgsip-function';
import type { PgsipStackProps } from './pgsip-stack';

export const PLACEHOLDER_PARTITION = 'aws';
export const PLACEHOLDER_REGION = 'local';
export const PLACEHOLDER_ACCOUNT = '000000000000';
const FUNCTION_ARN_PREFIX = `arn:${PLACEHOLDER_PARTITION}:lambda:${PLACEHOLDER_REGION}:${PLACEHOLDER_ACCOUNT}:function:`;

/** The placeholder ARN that stands for the Lambda function with this logical id in a local definition. */
export function placeholderFunctionArn(logicalId: string): string {
  return `${FUNCTION_ARN_PREFIX}${logicalId}`;
}

export interface LocalDefinition {
  /** The ASL, JSON-parsed, with intrinsics resolved to placeholders. */
  definition: Record<string, unknown>;
  /** Task state name -> logical id of the Lambda function it invokes (nested Map/Parallel states included). */
  taskFunctions: Record<string, string>;
}

type CfnResources = Record<string, { Type?: string } | undefined>;

const PSEUDO_PARAMETERS: Record<string, string> = {
  'AWS::Partition': PLACEHOLDER_PARTITION,
  'AWS::Region': PLACEHOLDER_REGION,
  'AWS::AccountId': PLACEHOLDER_ACCOUNT,
  'AWS::URLSuffix': 'amazonaws.com',
};

/**
 * Extracts the state machine definition from a synthesized CloudFormation template.
 *
 * The template must hold exactly one `AWS::StepFunctions::StateMachine`. Its `DefinitionString` (a string or
 * an `Fn::Join`) may reference `Fn::GetAtt [<Lambda function>, Arn]`, which becomes
 * `arn:aws:lambda:local:000000000000:function:<logicalId>`, and the pseudo parameters `AWS::Partition`
 * (`aws`), `AWS::Region` (`local`), `AWS::AccountId` (`000000000000`) and `AWS::URLSuffix`. Any other
 * intrinsic throws, naming it: a definition that refers to something the local runner cannot stand in for
 * must not be silently approximated.
 */
export function definitionFromTemplate(template: object): LocalDefinition {
  const resources = ((template as { Resources?: CfnResources }).Resources ?? {}) as CfnResources;
  const machines = Object.entries(resources).filter(([, r]) => r?.Type === 'AWS::StepFunctions::StateMachine');
  if (machines.length !== 1) {
    throw new Error(
      `expected exactly one AWS::StepFunctions::StateMachine in the template, found ${machines.length}` +
        (machines.length ? ` (${machines.map(([id]) => id).join(', ')})` : ''),
    );
  }
  const [machineId, machine] = machines[0];
  const properties = (machine as { Properties?: Record<string, unknown> }).Properties ?? {};
  if (properties.DefinitionString === undefined) {
    throw new Error(`state machine ${machineId} has no DefinitionString (Definition/DefinitionS3Location are not supported)`);
  }
  if (properties.DefinitionSubstitutions !== undefined) {
    throw new Error(`state machine ${machineId} uses DefinitionSubstitutions, which the local runner does not resolve`);
  }
  const text = resolveIntrinsics(properties.DefinitionString, resources, `${machineId}.DefinitionString`);
  if (typeof text !== 'string') {
    throw new Error(`${machineId}.DefinitionString does not resolve to a string`);
  }
  const definition = JSON.parse(text) as Record<string, unknown>;
  const taskFunctions: Record<string, string> = {};
  collectTaskFunctions(definition, taskFunctions, 'States');
  return { definition, taskFunctions };
}

function resolveIntrinsics(value: unknown, resources: CfnResources, where: string): unknown {
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return value;
  if (Array.isArray(value)) {
    return value.map((v, i) => resolveIntrinsics(v, resources, `${where}[${i}]`));
  }
  if (value === null || typeof value !== 'object') {
    throw new Error(`${where}: unexpected value ${JSON.stringify(value)}`);
  }
  const keys = Object.keys(value);
  const obj = value as Record<string, unknown>;
  if (keys.length === 1 && (keys[0] === 'Ref' || keys[0].startsWith('Fn::'))) {
    const fn = keys[0];
    const arg = obj[fn];
    if (fn === 'Fn::Join') {
      if (!Array.isArray(arg) || arg.length !== 2 || typeof arg[0] !== 'string' || !Array.isArray(arg[1])) {
        throw new Error(`${where}: malformed Fn::Join ${JSON.stringify(arg)}`);
      }
      const parts = (arg[1] as unknown[]).map((part, i) => {
        const resolved = resolveIntrinsics(part, resources, `${where}.Fn::Join[${i}]`);
        if (typeof resolved !== 'string') throw new Error(`${where}: Fn::Join part ${i} is not a string`);
        return resolved;
      });
      return parts.join(arg[0]);
    }
    if (fn === 'Ref' && typeof arg === 'string' && arg in PSEUDO_PARAMETERS) {
      return PSEUDO_PARAMETERS[arg];
    }
    if (fn === 'Fn::GetAtt') {
      const [logicalId, attribute] = Array.isArray(arg) ? arg : typeof arg === 'string' ? splitOnce(arg) : [];
      if (attribute === 'Arn' && typeof logicalId === 'string' && resources[logicalId]?.Type === 'AWS::Lambda::Function') {
        return placeholderFunctionArn(logicalId);
      }
    }
    throw new Error(
      `${where}: cannot resolve ${fn} ${JSON.stringify(arg)} for a local run ` +
        `(only Fn::GetAtt of a Lambda function's Arn and the pseudo parameters ${Object.keys(PSEUDO_PARAMETERS).join(', ')} are supported)`,
    );
  }
  // A plain object: CloudFormation only allows intrinsics here, but resolve members anyway.
  return Object.fromEntries(keys.map((k) => [k, resolveIntrinsics(obj[k], resources, `${where}.${k}`)]));
}

function splitOnce(s: string): [string, string] {
  const i = s.indexOf('.');
  return i < 0 ? [s, ''] : [s.slice(0, i), s.slice(i + 1)];
}

/** Walks States, Map ItemProcessor/Iterator and Parallel Branches, recording which function each Task calls. */
function collectTaskFunctions(scope: Record<string, unknown>, out: Record<string, string>, where: string): void {
  const states = scope.States;
  if (states === null || typeof states !== 'object') {
    throw new Error(`${where}: no States object`);
  }
  for (const [name, raw] of Object.entries(states as Record<string, unknown>)) {
    const state = raw as Record<string, unknown>;
    if (state.Type === 'Task') {
      const fn = taskFunction(state);
      if (fn !== undefined) {
        if (name in out && out[name] !== fn) {
          throw new Error(`state name ${name} is used by two Tasks invoking different functions (${out[name]}, ${fn})`);
        }
        out[name] = fn;
      }
    } else if (state.Type === 'Map') {
      const processor = (state.ItemProcessor ?? state.Iterator) as Record<string, unknown> | undefined;
      if (processor) collectTaskFunctions(processor, out, `${where}.${name}`);
    } else if (state.Type === 'Parallel' && Array.isArray(state.Branches)) {
      state.Branches.forEach((branch, i) =>
        collectTaskFunctions(branch as Record<string, unknown>, out, `${where}.${name}.Branches[${i}]`),
      );
    }
  }
}

function taskFunction(state: Record<string, unknown>): string | undefined {
  const params = state.Parameters as Record<string, unknown> | undefined;
  const candidates = [params?.FunctionName, state.Resource];
  for (const c of candidates) {
    if (typeof c === 'string' && c.startsWith(FUNCTION_ARN_PREFIX)) {
      // Drop a `:qualifier` (version or alias) if one follows the logical id.
      return c.slice(FUNCTION_ARN_PREFIX.length).split(':')[0];
    }
  }
  return undefined;
}

/** The context of cdk.json: feature flags there change what the app synthesizes, so both sides need it. */
function cdkJsonContext(): Record<string, unknown> {
  const path = join(REPO_ROOT, 'cdk.json');
  if (!existsSync(path)) return {};
  const json = JSON.parse(readFileSync(path, 'utf8')) as { context?: Record<string, unknown> };
  return json.context ?? {};
}

/**
 * Synthesizes the pgsip stack in process, exactly as `bin/app.ts` would for these props (same `buildApp`,
 * same cdk.json context), and returns its definition. Lambda bundling is skipped (`aws:cdk:bundling-stacks`
 * empty), which changes asset hashes but not the definition, and keeps this fast enough for the CLI.
 */
export function synthesizeDefinition(props: PgsipStackProps = {}): LocalDefinition {
  const outdir = mkdtempSync(join(tmpdir(), 'pgsip-synth-'));
  try {
    const app = new App({
      outdir,
      context: { ...cdkJsonContext(), 'aws:cdk:bundling-stacks': [] },
    });
    const stack = buildApp(app, props);
    const template = app.synth().getStackArtifact(stack.artifactId).template as object;
    return definitionFromTemplate(template);
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}
