/**
 * The deployable pgsip stack: an SSE-KMS export bucket (with an access-log bucket), the database secret, the
 * Plan/Export/Commit functions with one least-privilege role each, the export state machine, schedules,
 * alarms and a dashboard. Settings: `PgsipStackProps`, normally from the config file (`pgsip-config.ts`).
 */
import { Annotations, ArnFormat, Aws, CfnOutput, Duration, Fn, RemovalPolicy, Stack, TimeZone, type StackProps } from 'aws-cdk-lib';
import { SecurityGroup, Subnet, Vpc } from 'aws-cdk-lib/aws-ec2';
import { AnyPrincipal, Effect, PolicyStatement, ServicePrincipal, type IGrantable } from 'aws-cdk-lib/aws-iam';
import { Key, type IKey } from 'aws-cdk-lib/aws-kms';
import { CfnDatabase } from 'aws-cdk-lib/aws-glue';
import {
  BlockPublicAccess,
  Bucket,
  BucketEncryption,
  ObjectOwnership,
  type IBucket,
} from 'aws-cdk-lib/aws-s3';
import { Schedule, ScheduleExpression, ScheduleTargetInput } from 'aws-cdk-lib/aws-scheduler';
import { StepFunctionsStartExecution } from 'aws-cdk-lib/aws-scheduler-targets';
import { Secret, type ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import { METRIC_NAMESPACE } from '../lambdas/shared/metric-names';
import { KEY_CLASSES, type KeyClass, keyPattern } from './export-key-classes';
import { ExportStateMachine } from './export-state-machine';
import type { PgsipConfig, ScheduleConfig } from './pgsip-config';
import { PgsipFunction } from './pgsip-function';
import { PgsipMonitoring } from './pgsip-monitoring';
import { acknowledgeNagFindings } from './pgsip-nag';

export const DEFAULT_CONCURRENCY = 4;
export const DEFAULT_EXPORT_PREFIX = 'exports';

export interface PgsipStackProps extends StackProps {
  /**
   * How many shards export at once (the Distributed Map's MaxConcurrency): the number of database
   * connections pgsip may hold against the source. A positive integer.
   *
   * @default 4
   */
  readonly concurrency?: number;

  /**
   * Key prefix in the export bucket under which every run is written, without leading or trailing slash.
   * The functions may only touch keys under it.
   *
   * @default 'exports'
   */
  readonly exportPrefix?: string;

  /**
   * Complete ARN (with the 6-character suffix Secrets Manager appends) of the secret holding the source
   * database credentials, in the JSON shape RDS uses: `{ "host", "port", "dbname", "username", "password" }`.
   * For example `arn:aws:secretsmanager:eu-west-1:123456789012:secret:pgsip/source-AbCdEf`.
   * If that secret is encrypted with a customer managed KMS key, grant the functions kms:Decrypt on it too.
   *
   * @default - a placeholder secret is created in the stack, encrypted with the stack's key, with a generated
   * password and empty connection fields; fill it in after the first deploy.
   */
  readonly databaseSecretArn?: string;

  /** TLS to the database (PGSIP_DB_TLS). @default 'verify-full' */
  readonly databaseTls?: 'verify-full' | 'require' | 'off';

  /** Absolute path of a PEM CA bundle shipped with every function (PGSIP_DB_CA_FILE). @default - none */
  readonly caBundleFile?: string;

  /** Runs the functions in these private subnets and security groups. @default - not in a VPC */
  readonly network?: PgsipConfig['network'];

  /** Import an existing bucket (SSE-KMS with `kmsKeyArn`) instead of creating one. */
  readonly bucketName?: string;

  /** Import an existing customer-managed key instead of creating one. */
  readonly kmsKeyArn?: string;

  /** One EventBridge Scheduler schedule per group; freshness alarms per table. @default - none */
  readonly schedules?: readonly ScheduleConfig[];

  /** Where alarms notify. @default - a new topic without subscriptions */
  readonly alarms?: PgsipConfig['alarms'];

  /** @default 6 */
  readonly runTimeoutHours?: number;

  /** Committed runs kept per table (Commit deletes older ones after the grace period). @default - keep every run */
  readonly retention?: PgsipConfig['retention'];

  /**
   * Commit registers each committed table in this Glue database (`glue:GetTable`, `CreateTable`, `UpdateTable`
   * on its tables only); `createDatabase` creates it. @default - no catalog
   */
  readonly catalog?: PgsipConfig['catalog'];
}

/** Maps a validated config file onto stack props. */
export function propsFromConfig(config: PgsipConfig): PgsipStackProps {
  const props: PgsipStackProps = {
    stackName: config.stackName,
    concurrency: config.database?.connectionBudget,
    databaseSecretArn: config.database?.secretArn,
    databaseTls: config.database?.tls,
    caBundleFile: config.database?.caBundleFile,
    network: config.network,
    exportPrefix: config.storage?.exportPrefix,
    bucketName: config.storage?.bucketName,
    kmsKeyArn: config.storage?.kmsKeyArn,
    schedules: config.schedules,
    alarms: config.alarms,
    runTimeoutHours: config.runTimeoutHours,
    retention: config.retention,
    catalog: config.catalog,
  };
  return Object.fromEntries(Object.entries(props).filter(([, v]) => v !== undefined)) as PgsipStackProps;
}

/**
 * Everything one pgsip deployment needs. Environment-agnostic: synthesizes with no AWS credentials and no
 * context lookups (a VPC is imported from plain ids).
 */
export class PgsipStack extends Stack {
  public readonly key: IKey;
  public readonly bucket: IBucket;
  public readonly accessLogsBucket?: Bucket;
  public readonly databaseSecret: ISecret;
  /** True when the stack created a placeholder secret (encrypted with the stack key). */
  private readonly createdSecret: boolean;
  public readonly exportPrefix: string;
  /** `s3://<bucket>/<prefix>`: what the functions receive as PGSIP_DEST. */
  public readonly destination: string;
  public readonly planFunction: PgsipFunction;
  public readonly exportFunction: PgsipFunction;
  public readonly commitFunction: PgsipFunction;
  public readonly exportStateMachine: ExportStateMachine;
  public readonly schedules: Schedule[] = [];
  public readonly monitoring: PgsipMonitoring;
  /** The Glue database Commit registers tables in, when the stack created it. */
  public readonly glueDatabase?: CfnDatabase;

  constructor(scope: Construct, id: string, props: PgsipStackProps = {}) {
    super(scope, id, props);
    // Server access logs are delivered under a bucket policy (not ACLs, which BUCKET_OWNER_ENFORCED forbids),
    // whatever cdk.json says: set before any child exists.
    this.node.setContext('@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy', true);

    const exportPrefix = validatePrefix(props.exportPrefix ?? DEFAULT_EXPORT_PREFIX);
    const concurrency = props.concurrency ?? DEFAULT_CONCURRENCY;
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      throw new Error(`PgsipStack: concurrency must be a positive integer, got ${concurrency}`);
    }
    this.exportPrefix = exportPrefix;

    // Storage ------------------------------------------------------------------------------------------
    if (props.kmsKeyArn) {
      this.key = Key.fromKeyArn(this, 'Key', props.kmsKeyArn);
    } else {
      const key = new Key(this, 'Key', {
        description: 'pgsip: encrypts exported Parquet files, the database secret and the alarm topic',
        enableKeyRotation: true,
        removalPolicy: RemovalPolicy.RETAIN,
      });
      // Alarm notifications go to an SNS topic encrypted with this key: CloudWatch must be able to use it.
      key.addToResourcePolicy(
        new PolicyStatement({
          principals: [new ServicePrincipal('cloudwatch.amazonaws.com')],
          actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
          resources: ['*'],
          conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
        }),
      );
      this.key = key;
    }

    if (props.bucketName) {
      this.bucket = Bucket.fromBucketAttributes(this, 'ExportBucket', { bucketName: props.bucketName, encryptionKey: this.key });
    } else {
      this.accessLogsBucket = new Bucket(this, 'AccessLogsBucket', {
        // S3 server access logs can only be delivered to an SSE-S3 bucket.
        encryption: BucketEncryption.S3_MANAGED,
        enforceSSL: true,
        minimumTLSVersion: 1.2,
        blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
        objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
        lifecycleRules: [{ id: 'ExpireAccessLogs', expiration: Duration.days(365) }],
        removalPolicy: RemovalPolicy.RETAIN,
      });
      const bucket = new Bucket(this, 'ExportBucket', {
        encryption: BucketEncryption.KMS,
        encryptionKey: this.key,
        bucketKeyEnabled: true,
        enforceSSL: true,
        minimumTLSVersion: 1.2,
        blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
        objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
        versioned: false,
        serverAccessLogsBucket: this.accessLogsBucket,
        serverAccessLogsPrefix: 'export-bucket/',
        lifecycleRules: [{ id: 'AbortIncompleteMultipartUploads', abortIncompleteMultipartUploadAfter: Duration.days(7) }],
        removalPolicy: RemovalPolicy.RETAIN,
      });
      // Nothing lands in the bucket under another encryption or another key. A put that names no encryption
      // gets the bucket default (this key, bucket key on); the handlers always name it (PGSIP_KMS_KEY_ID).
      // The conditions only bite when the header is present, because UploadPart requests of a multipart
      // upload never carry it (the encryption is fixed by CreateMultipartUpload).
      bucket.addToResourcePolicy(
        new PolicyStatement({
          sid: 'DenyOtherEncryption',
          effect: Effect.DENY,
          principals: [new AnyPrincipal()],
          actions: ['s3:PutObject'],
          resources: [bucket.arnForObjects('*')],
          conditions: {
            StringNotEquals: { 's3:x-amz-server-side-encryption': 'aws:kms' },
            Null: { 's3:x-amz-server-side-encryption': 'false' },
          },
        }),
      );
      bucket.addToResourcePolicy(
        new PolicyStatement({
          sid: 'DenyOtherKmsKey',
          effect: Effect.DENY,
          principals: [new AnyPrincipal()],
          actions: ['s3:PutObject'],
          resources: [bucket.arnForObjects('*')],
          conditions: {
            StringNotEquals: { 's3:x-amz-server-side-encryption-aws-kms-key-id': this.key.keyArn },
            Null: { 's3:x-amz-server-side-encryption-aws-kms-key-id': 'false' },
          },
        }),
      );
      this.bucket = bucket;
    }

    this.createdSecret = props.databaseSecretArn === undefined;
    this.databaseSecret = props.databaseSecretArn
      ? Secret.fromSecretCompleteArn(this, 'DatabaseSecret', props.databaseSecretArn)
      : new Secret(this, 'DatabaseSecret', {
          description: 'pgsip: source database credentials (placeholder: set host, port, dbname, username)',
          encryptionKey: this.key,
          generateSecretString: {
            secretStringTemplate: JSON.stringify({ engine: 'postgres', host: '', port: 5432, dbname: '', username: '' }),
            generateStringKey: 'password',
            excludePunctuation: true,
            passwordLength: 32,
          },
          removalPolicy: RemovalPolicy.RETAIN,
        });

    // Network (plain ids, never a lookup) --------------------------------------------------------------
    let network: ConstructorParameters<typeof PgsipFunction>[2]['network'];
    if (props.network) {
      // The subnets are given explicitly, so the VPC's zone list is never consulted (an unresolved list token
      // keeps this lookup-free).
      const vpc = Vpc.fromVpcAttributes(this, 'Vpc', { vpcId: props.network.vpcId, availabilityZones: Fn.getAzs() });
      Annotations.of(vpc).acknowledgeWarning(
        '@aws-cdk/aws-ec2:vpcAttributeIsListTokenavailabilityZones',
        'the functions are given their subnets explicitly; nothing selects subnets from this VPC',
      );
      network = {
        vpc,
        vpcSubnets: {
          subnets: props.network.subnetIds.map((s, i) => {
            const subnet = Subnet.fromSubnetId(this, `Subnet${i}`, s);
            Annotations.of(subnet).acknowledgeWarning('@aws-cdk/aws-ec2:noSubnetRouteTableId', 'pgsip never reads route tables');
            return subnet;
          }),
        },
        securityGroups: props.network.securityGroupIds.map((sg, i) =>
          SecurityGroup.fromSecurityGroupId(this, `SecurityGroup${i}`, sg, { mutable: false }),
        ),
      };
    }

    // Functions -----------------------------------------------------------------------------------------
    this.destination = `s3://${this.bucket.bucketName}/${exportPrefix}`;
    const environment: Record<string, string> = {
      PGSIP_DEST: this.destination,
      PGSIP_DB_SECRET_ARN: this.databaseSecret.secretArn,
      PGSIP_KMS_KEY_ID: this.key.keyArn,
      PGSIP_DB_TLS: props.databaseTls ?? 'verify-full',
      POWERTOOLS_SERVICE_NAME: this.stackName,
      POWERTOOLS_METRICS_NAMESPACE: METRIC_NAMESPACE,
    };
    const common = { network, caBundleFile: props.caBundleFile };
    // Plan also learns the deployment's limits: the connection budget (the most shards a run may export at
    // once) and the codec of runs that name none (ZSTD: node:zlib in every Lambda Node runtime pgsip targets).
    this.planFunction = new PgsipFunction(this, 'PlanFunction', {
      kind: 'plan',
      ...common,
      environment: {
        ...environment,
        PGSIP_CONNECTION_BUDGET: String(concurrency),
        PGSIP_DEFAULT_COMPRESSION: 'ZSTD',
        ...(props.retention
          ? { PGSIP_KEEP_RUNS: String(props.retention.keepRuns), PGSIP_RETENTION_GRACE_MINUTES: String(props.retention.graceMinutes ?? 60) }
          : {}),
      },
    });
    this.exportFunction = new PgsipFunction(this, 'ExportFunction', { kind: 'export', ...common, environment });
    // Commit never connects to the database: no secret, no TLS settings.
    const { PGSIP_DB_SECRET_ARN: _secret, PGSIP_DB_TLS: _tls, ...commitEnvironment } = environment;
    this.commitFunction = new PgsipFunction(this, 'CommitFunction', {
      kind: 'commit',
      ...common,
      caBundleFile: undefined,
      environment: { ...commitEnvironment, ...(props.catalog ? { PGSIP_GLUE_DATABASE: props.catalog.glueDatabase } : {}) },
    });

    // Least privilege by key class (lib/export-key-classes.ts; docs/operations.md, "What gets deployed"), evaluated
    // request by request in test/lib/iam-evaluation.test.ts.
    const keys = Object.fromEntries(Object.keys(KEY_CLASSES).map((k) => [k, keyPattern(exportPrefix, k as KeyClass)])) as Record<KeyClass, string>;

    // Plan: reads the catalog; creates each table's `_plan.json` and the run's table and shard lists. It reads
    // a plan or table list only after a create-only write found one, so it needs no listing.
    this.grantSecretValue(this.planFunction);
    this.grantObjects(this.planFunction, ['s3:GetObject', 's3:PutObject'], [keys.plan, keys.runPlan]);
    this.grantObjects(this.planFunction, ['s3:PutObject'], [keys.shardList]);
    this.grantKey(this.planFunction);

    // Export: reads its table's plan and its shard's manifest (present when an earlier attempt finished),
    // writes Parquet parts (multipart, which it may abort) and the shard manifest. It reads no Parquet and
    // deletes nothing.
    this.grantSecretValue(this.exportFunction);
    this.grantObjects(this.exportFunction, ['s3:GetObject'], [keys.plan]);
    this.grantObjects(this.exportFunction, ['s3:PutObject', 's3:AbortMultipartUpload'], [keys.part]);
    this.grantObjects(this.exportFunction, ['s3:GetObject', 's3:PutObject'], [keys.shardManifest]);
    this.grantKey(this.exportFunction);

    // Commit: reads the run's table list, plans and shard manifests; writes the run manifest, `_SUCCESS` and
    // `_latest.json`; deletes only inside run folders (parts of failed attempts, abandoned runs). No database.
    this.grantObjects(this.commitFunction, ['s3:GetObject'], [keys.runPlan, keys.plan, keys.shardManifest]);
    this.grantObjects(this.commitFunction, ['s3:GetObject', 's3:PutObject'], [keys.manifest, keys.success, keys.latest]);
    this.grantObjects(this.commitFunction, ['s3:DeleteObject'], [keys.runFolder]);
    this.grantKey(this.commitFunction);

    // Catalog: Commit reads, creates and updates the tables of one Glue database, nothing else of the catalog.
    // Glue authorizes a table action on the catalog, the database and the table together.
    if (props.catalog) {
      const database = props.catalog.glueDatabase;
      if (props.catalog.createDatabase) {
        this.glueDatabase = new CfnDatabase(this, 'GlueDatabase', {
          catalogId: this.account,
          databaseInput: { name: database, description: `Tables pgsip exports from Postgres (stack ${this.stackName})` },
        });
        // Kept with the data it describes: deleting the stack must not drop the tables Athena users query.
        this.glueDatabase.applyRemovalPolicy(RemovalPolicy.RETAIN);
      }
      const arn = (resource: string) => this.formatArn({ service: 'glue', resource, arnFormat: ArnFormat.NO_RESOURCE_NAME });
      this.commitFunction.addToRolePolicy(
        new PolicyStatement({
          actions: ['glue:GetTable', 'glue:CreateTable', 'glue:UpdateTable'],
          resources: [arn('catalog'), arn(`database/${database}`), arn(`table/${database}/*`)],
        }),
      );
    }

    // Listing, limited to the prefix, for the two that read keys that may be missing (a shard manifest not yet
    // written, an uncommitted run's _SUCCESS, a table's first _latest.json): without s3:ListBucket S3 answers
    // such a GetObject with 403 instead of 404, and the engine reads "missing" from the 404. Commit also lists
    // run folders (stray parts, the sweep). `IfExists` because that implicit check carries no s3:prefix; a
    // real listing must stay under the prefix.
    for (const fn of [this.exportFunction, this.commitFunction]) {
      fn.addToRolePolicy(
        new PolicyStatement({
          actions: ['s3:ListBucket'],
          resources: [this.bucket.bucketArn],
          conditions: { StringLikeIfExists: { 's3:prefix': [`${exportPrefix}/*`] } },
        }),
      );
    }

    // Orchestration -------------------------------------------------------------------------------------
    this.exportStateMachine = new ExportStateMachine(this, 'ExportStateMachine', {
      planFunction: this.planFunction,
      exportFunction: this.exportFunction,
      commitFunction: this.commitFunction,
      timeout: Duration.hours(props.runTimeoutHours ?? 6),
    });
    const stateMachine = this.exportStateMachine.stateMachine;
    // The Distributed Map reads the run's shard list itself (ItemReader), through S3 only.
    this.grantObjects(stateMachine, ['s3:GetObject'], [keys.shardList]);
    this.grantKey(stateMachine, ['kms:Decrypt']);

    for (const s of props.schedules ?? []) {
      const input: Record<string, unknown> = { tables: s.tables };
      if (s.shards !== undefined) input.shards = s.shards;
      if (s.concurrency !== undefined) input.concurrency = s.concurrency;
      if (s.types !== undefined) input.types = s.types;
      if (s.infinity !== undefined) input.infinity = s.infinity;
      if (s.keepRuns !== undefined) input.keepRuns = s.keepRuns;
      if (s.incremental !== undefined) input.incremental = { ...s.incremental };
      if (s.compression !== undefined) input.compression = s.compression;
      for (const key of ['excludeTables', 'excludeColumns', 'hashColumns'] as const) if (s[key] !== undefined) input[key] = s[key];
      this.schedules.push(
        new Schedule(this, `Schedule-${s.name}`, {
          description: `pgsip: export ${s.tables.join(', ')}`,
          schedule: ScheduleExpression.expression(s.expression, s.timeZone ? TimeZone.of(s.timeZone) : undefined),
          enabled: s.enabled ?? true,
          target: new StepFunctionsStartExecution(stateMachine, {
            input: ScheduleTargetInput.fromObject(input),
            retryAttempts: 3,
            maxEventAge: Duration.hours(1),
          }),
        }),
      );
    }

    // Observability -------------------------------------------------------------------------------------
    this.monitoring = new PgsipMonitoring(this, 'Monitoring', {
      stateMachine,
      functions: { plan: this.planFunction, export: this.exportFunction, commit: this.commitFunction },
      exportTimeout: this.exportFunction.timeout ?? Duration.minutes(15),
      service: this.stackName,
      schedules: props.schedules ?? [],
      alarms: props.alarms,
      key: props.kmsKeyArn ? undefined : this.key,
    });

    new CfnOutput(this, 'StateMachineArn', {
      description: 'Start an export: npx pgsip start --state-machine <this> --tables public.orders',
      value: stateMachine.stateMachineArn,
    });
    new CfnOutput(this, 'BucketName', { value: this.bucket.bucketName });
    new CfnOutput(this, 'Destination', { description: 'Where runs are written', value: this.destination });
    new CfnOutput(this, 'AlarmTopicArn', { value: this.monitoring.topic.topicArn });

    acknowledgeNagFindings(this, {
      exportPrefix,
      glueDatabase: props.catalog?.glueDatabase,
      createdSecret: props.databaseSecretArn ? undefined : this.databaseSecret,
    });
  }

  /** Object actions on keys matching `pattern` (under the prefix), nothing else: no ACLs, tagging or retention. */
  private grantObjects(grantee: IGrantable, actions: string[], patterns: string[]): void {
    grantee.grantPrincipal.addToPrincipalPolicy(new PolicyStatement({ actions, resources: patterns.map((p) => this.bucket.arnForObjects(p)) }));
  }

  /**
   * The database secret's value, and nothing else (no DescribeSecret, which `grantRead` adds); a secret this
   * stack created is encrypted with the stack key, usable for that only through Secrets Manager.
   */
  private grantSecretValue(grantee: IGrantable): void {
    grantee.grantPrincipal.addToPrincipalPolicy(new PolicyStatement({ actions: ['secretsmanager:GetSecretValue'], resources: [this.databaseSecret.secretArn] }));
    if (this.createdSecret) {
      grantee.grantPrincipal.addToPrincipalPolicy(
        new PolicyStatement({
          actions: ['kms:Decrypt'],
          resources: [this.key.keyArn],
          conditions: { StringEquals: { 'kms:ViaService': `secretsmanager.${Aws.REGION}.amazonaws.com` } },
        }),
      );
    }
  }

  /**
   * The key, through S3 only: data keys for SSE-KMS writes (GenerateDataKey), and Decrypt for reads and for
   * completing multipart uploads. No kms:Encrypt/ReEncrypt, and not usable outside S3.
   */
  private grantKey(grantee: IGrantable, actions = ['kms:GenerateDataKey', 'kms:Decrypt']): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({
        actions,
        resources: [this.key.keyArn],
        conditions: { StringEquals: { 'kms:ViaService': `s3.${Aws.REGION}.amazonaws.com` } },
      }),
    );
  }
}

function validatePrefix(prefix: string): string {
  if (!/^[A-Za-z0-9!_.'()=-]+(\/[A-Za-z0-9!_.'()=-]+)*$/.test(prefix) || prefix.split('/').some((p) => p === '.' || p === '..')) {
    throw new Error(
      `PgsipStack: exportPrefix must be one or more '/'-separated segments of letters, digits and !_.'()=- ` +
        `without leading or trailing '/', got ${JSON.stringify(prefix)}`,
    );
  }
  return prefix;
}
