/**
 * The one function that turns settings into the pgsip stack. `bin/app.ts` (what `cdk synth`/`cdk deploy`
 * run) and `synthesizeDefinition` (what the local runner executes) both go through `buildApp`, so the
 * state machine a local run executes is the one that gets deployed.
 */
import type { App } from 'aws-cdk-lib';
import type { Node } from 'constructs';
import { loadConfig } from './pgsip-config';
import { PgsipStack, propsFromConfig, type PgsipStackProps } from './pgsip-stack';

export const DEFAULT_STACK_NAME = 'Pgsip';

/** Adds the pgsip stack to `app`; the construct id and stack name are `props.stackName` (default `Pgsip`). */
export function buildApp(app: App, props: PgsipStackProps = {}): PgsipStack {
  const stackName = props.stackName ?? DEFAULT_STACK_NAME;
  return new PgsipStack(app, stackName, { ...props, stackName });
}

/**
 * Reads the stack settings from CDK context: `-c config=<file>` loads a config file (`pgsip-config.ts`,
 * example `pgsip.config.example.json`), and the single keys override it, e.g.
 * `npx cdk deploy -c config=pgsip.config.json -c concurrency=8`.
 * Keys: `config` (path), `concurrency` (positive integer), `exportPrefix`, `databaseSecretArn`, `stackName`.
 */
export function propsFromContext(node: Node): PgsipStackProps {
  const configPath = node.tryGetContext('config') as unknown;
  if (configPath !== undefined && (typeof configPath !== 'string' || configPath === '')) {
    throw new Error(`context config must be the path of a config file, got ${JSON.stringify(configPath)}`);
  }
  const props: { -readonly [K in keyof PgsipStackProps]: PgsipStackProps[K] } = configPath ? { ...propsFromConfig(loadConfig(configPath)) } : {};
  const concurrency = node.tryGetContext('concurrency') as unknown;
  if (concurrency !== undefined) {
    const n = typeof concurrency === 'number' ? concurrency : Number(String(concurrency).trim());
    if (!Number.isInteger(n) || n < 1 || (typeof concurrency === 'string' && concurrency.trim() === '')) {
      throw new Error(`context concurrency must be a positive integer, got ${JSON.stringify(concurrency)}`);
    }
    props.concurrency = n;
  }
  for (const key of ['exportPrefix', 'databaseSecretArn', 'stackName'] as const) {
    const value = node.tryGetContext(key) as unknown;
    if (value === undefined) continue;
    if (typeof value !== 'string' || value === '') {
      throw new Error(`context ${key} must be a non-empty string, got ${JSON.stringify(value)}`);
    }
    props[key] = value;
  }
  return props;
}
