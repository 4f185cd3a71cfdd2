/**
 * The deployable pgsip stack (`bin/app.ts`): a thin stack that maps the JSON config (`pgsip-config.ts`) onto
 * the `PgsipExport` construct (lib/pgsip-export.ts), importing by plain id what the config names (VPC,
 * subnets, security groups, bucket, key, topic, secret: never a lookup), and creating the placeholder secret
 * when it names none. The construct's id is `Default`, which CDK leaves out of logical ids, so a deployed
 * stack keeps every resource across the move to the construct.
 */
import { Annotations, CfnOutput, Duration, Fn, RemovalPolicy, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import { SecurityGroup, Subnet, Vpc } from 'aws-cdk-lib/aws-ec2';
import { type IKey, Key } from 'aws-cdk-lib/aws-kms';
import { Bucket, type IBucket } from 'aws-cdk-lib/aws-s3';
import { type ISecret, Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Topic } from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';
import type { PgsipConfig, ScheduleConfig } from './pgsip-config';
import { DEFAULT_CONNECTION_BUDGET, DEFAULT_EXPORT_PREFIX, PgsipExport } from './pgsip-export';

export const DEFAULT_CONCURRENCY = DEFAULT_CONNECTION_BUDGET;
export { DEFAULT_EXPORT_PREFIX };

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

  /** The database endpoint when the secret lacks it (`database.host`, `port`, `dbname`). @default - the secret's */
  readonly databaseHost?: string;
  /** @default - the secret's `port`, else 5432 */
  readonly databasePort?: number;
  /** @default - the secret's `dbname`, else `postgres` */
  readonly databaseName?: string;

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

  /** How tables land in the lake when a run names none (`tableFormat` in the config). @default 'hive' */
  readonly tableFormat?: PgsipConfig['tableFormat'];

  /** Committed runs kept per table (Commit deletes older ones after the grace period). @default - keep every run */
  readonly retention?: PgsipConfig['retention'];

  /**
   * Commit registers each committed table in this Glue database (`glue:GetTable`, `CreateTable`, `UpdateTable`
   * on its tables only); `createDatabase`: Commit creates it on its first commit if missing. @default - no catalog
   */
  readonly catalog?: PgsipConfig['catalog'];

  /** Keep Iceberg tables in this S3 Tables table bucket (`tableBucketArn` in the config). @default - none */
  readonly tableBucketArn?: PgsipConfig['tableBucketArn'];
}

/** Maps a validated config file onto stack props. */
export function propsFromConfig(config: PgsipConfig): PgsipStackProps {
  const props: PgsipStackProps = {
    stackName: config.stackName,
    concurrency: config.database?.connectionBudget,
    databaseSecretArn: config.database?.secretArn,
    databaseTls: config.database?.tls,
    databaseHost: config.database?.host,
    databasePort: config.database?.port,
    databaseName: config.database?.dbname,
    caBundleFile: config.database?.caBundleFile,
    network: config.network,
    exportPrefix: config.storage?.exportPrefix,
    bucketName: config.storage?.bucketName,
    kmsKeyArn: config.storage?.kmsKeyArn,
    schedules: config.schedules,
    alarms: config.alarms,
    runTimeoutHours: config.runTimeoutHours,
    tableFormat: config.tableFormat,
    retention: config.retention,
    catalog: config.catalog,
    tableBucketArn: config.tableBucketArn,
  };
  return Object.fromEntries(Object.entries(props).filter(([, v]) => v !== undefined)) as PgsipStackProps;
}

/**
 * Everything one pgsip deployment needs, from a config file. Environment-agnostic: synthesizes with no AWS
 * credentials and no context lookups (a VPC is imported from plain ids).
 */
export class PgsipStack extends Stack {
  /** The construct that holds everything; the properties below are its. */
  public readonly export: PgsipExport;

  constructor(scope: Construct, id: string, props: PgsipStackProps = {}) {
    super(scope, id, props);
    let key: IKey | undefined;
    if (props.kmsKeyArn) {
      key = Key.fromKeyArn(this, 'Key', props.kmsKeyArn);
    } else if (!props.databaseSecretArn) {
      // The placeholder secret is encrypted with the export key, so the key comes first (same settings as the
      // one the construct would create).
      key = new Key(this, 'Key', {
        description: 'pgsip: encrypts exported Parquet files, the database secret and the alarm topic',
        enableKeyRotation: true,
        removalPolicy: RemovalPolicy.RETAIN,
      });
    }
    let databaseSecret: ISecret;
    if (props.databaseSecretArn) {
      databaseSecret = Secret.fromSecretCompleteArn(this, 'DatabaseSecret', props.databaseSecretArn);
    } else {
      const placeholder = new Secret(this, 'DatabaseSecret', {
        description: 'pgsip: source database credentials (placeholder: set host, port, dbname, username)',
        encryptionKey: key,
        generateSecretString: {
          secretStringTemplate: JSON.stringify({ engine: 'postgres', host: '', port: 5432, dbname: '', username: '' }),
          generateStringKey: 'password',
          excludePunctuation: true,
          passwordLength: 32,
        },
        removalPolicy: RemovalPolicy.RETAIN,
      });
      Validations.of(placeholder).acknowledge({
        id: 'AwsSolutions-SMG4',
        reason:
          'A placeholder created only when no secret ARN is configured; production points database.secretArn at the ' +
          'RDS-managed secret, which RDS rotates. The functions re-read the secret after an authentication failure.',
      });
      databaseSecret = placeholder;
    }
    const bucket: IBucket | undefined = props.bucketName ? Bucket.fromBucketAttributes(this, 'ExportBucket', { bucketName: props.bucketName, encryptionKey: key }) : undefined;

    let network: Pick<ConstructorParameters<typeof PgsipExport>[2], 'vpc' | 'vpcSubnets' | 'securityGroups'> = {};
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
        securityGroups: props.network.securityGroupIds.map((sg, i) => SecurityGroup.fromSecurityGroupId(this, `SecurityGroup${i}`, sg, { mutable: false })),
      };
    }

    this.export = new PgsipExport(this, 'Default', {
      databaseSecret,
      connectionBudget: props.concurrency,
      databaseTls: props.databaseTls,
      databaseHost: props.databaseHost,
      databasePort: props.databasePort,
      databaseName: props.databaseName,
      caBundleFile: props.caBundleFile,
      ...network,
      existingBucketObj: bucket,
      existingKeyObj: key,
      exportPrefix: props.exportPrefix,
      schedules: props.schedules,
      existingAlarmTopicObj: props.alarms?.topicArn ? Topic.fromTopicArn(this, 'AlarmTopic', props.alarms.topicArn) : undefined,
      alarmEmails: props.alarms?.emails,
      runTimeout: props.runTimeoutHours === undefined ? undefined : Duration.hours(props.runTimeoutHours),
      retention: props.retention,
      catalog: props.catalog,
      tableBucketArn: props.tableBucketArn,
      tableFormat: props.tableFormat,
    });

    const stateMachine = this.export.exportStateMachine.stateMachine;
    new CfnOutput(this, 'StateMachineArn', {
      description: 'Start an export: npx pgsip start --state-machine <this> --tables public.orders',
      value: stateMachine.stateMachineArn,
    });
    new CfnOutput(this, 'BucketName', { value: this.export.bucket.bucketName });
    new CfnOutput(this, 'Destination', { description: 'Where runs are written', value: this.export.destination });
    new CfnOutput(this, 'AlarmTopicArn', { value: this.export.alarmTopic.topicArn });
  }

  get key() { return this.export.key; }
  get bucket() { return this.export.bucket; }
  get accessLogsBucket() { return this.export.accessLogsBucket; }
  get databaseSecret() { return this.export.databaseSecret; }
  get exportPrefix() { return this.export.exportPrefix; }
  get destination() { return this.export.destination; }
  get planFunction() { return this.export.planFunction; }
  get exportFunction() { return this.export.exportFunction; }
  get commitFunction() { return this.export.commitFunction; }
  get holderFunction() { return this.export.holderFunction; }
  get exportStateMachine() { return this.export.exportStateMachine; }
  get schedules() { return this.export.schedules; }
  get monitoring() { return this.export.monitoring; }
}

export type { ScheduleConfig, PgsipConfig };
