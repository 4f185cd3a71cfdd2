/**
 * The five functions as `cdk deploy` would ship them: the app synthesized with real esbuild bundling (no
 * Docker), each function's asset folder in the cloud assembly, its handler, runtime, memory and environment.
 * Environment values that are CloudFormation references (the bucket, the key, the secret) are resolved with
 * values the caller supplies for each logical id, since there is no account to resolve them in.
 */
import { App } from 'aws-cdk-lib';
import { join } from 'node:path';
import { buildApp } from '../../../lib/pgsip-app';
import type { PgsipStackProps } from '../../../lib/pgsip-stack';

export interface DeployedFunction {
  logicalId: string;
  assetDir: string;
  handler: string;
  runtime: string;
  memorySize: number;
  /** As in the template: strings, or CloudFormation intrinsics. */
  environment: Record<string, unknown>;
}

export interface DeployedApp {
  plan: DeployedFunction;
  export: DeployedFunction;
  commit: DeployedFunction;
  holder: DeployedFunction;
  failure: DeployedFunction;
  template: { Resources: Record<string, { Type: string; Properties?: Record<string, unknown>; Metadata?: Record<string, unknown> }> };
  /** Logical ids of the resources the environments refer to. */
  ids: { bucket: string; key: string; secret?: string };
}

export function synthesizeDeployedApp(outdir: string, props: PgsipStackProps = {}): DeployedApp {
  const app = new App({ outdir, context: { 'aws:cdk:enable-asset-metadata': true } });
  const stack = buildApp(app, props);
  const assembly = app.synth();
  const template = assembly.getStackArtifact(stack.artifactId).template as DeployedApp['template'];
  const describe = (construct: { node: { defaultChild?: unknown } }): DeployedFunction => {
    const logicalId = stack.getLogicalId(construct.node.defaultChild as never);
    const resource = template.Resources[logicalId];
    const properties = resource.Properties as { Handler: string; Runtime: string; MemorySize: number; Environment?: { Variables?: Record<string, unknown> } };
    return {
      logicalId,
      assetDir: join(outdir, String(resource.Metadata?.['aws:asset:path'])),
      handler: properties.Handler,
      runtime: properties.Runtime,
      memorySize: properties.MemorySize,
      environment: properties.Environment?.Variables ?? {},
    };
  };
  const logicalId = (construct: { node: { defaultChild?: unknown } }) => stack.getLogicalId(construct.node.defaultChild as never);
  return {
    plan: describe(stack.planFunction),
    export: describe(stack.exportFunction),
    commit: describe(stack.commitFunction),
    holder: describe(stack.holderFunction),
    failure: describe(stack.export.failureFunction),
    template,
    ids: {
      bucket: logicalId(stack.bucket as never),
      key: logicalId(stack.key as never),
      secret: props.databaseSecretArn ? undefined : logicalId(stack.databaseSecret as never),
    },
  };
}

/**
 * A function's environment with `Ref`, `Fn::GetAtt` and `Fn::Join` resolved: `values` maps a logical id to
 * what `Ref` gives, `attributes` maps `<logicalId>.<attribute>` to what `Fn::GetAtt` gives. Anything else is
 * refused, naming it.
 */
export function resolveEnvironment(environment: Record<string, unknown>, values: Record<string, string>, attributes: Record<string, string> = {}): Record<string, string> {
  const resolve = (value: unknown, where: string): string => {
    if (typeof value === 'string') return value;
    const v = value as Record<string, unknown>;
    if (typeof v?.Ref === 'string' && v.Ref in values) return values[v.Ref];
    if (Array.isArray(v?.['Fn::GetAtt'])) {
      const name = (v['Fn::GetAtt'] as string[]).join('.');
      if (name in attributes) return attributes[name];
    }
    if (Array.isArray(v?.['Fn::Join'])) {
      const [separator, parts] = v['Fn::Join'] as [string, unknown[]];
      return parts.map((p, i) => resolve(p, `${where}[${i}]`)).join(separator);
    }
    throw new Error(`${where}: cannot resolve ${JSON.stringify(value)} without an account`);
  };
  return Object.fromEntries(Object.entries(environment).map(([k, v]) => [k, resolve(v, k)]));
}
