/**
 * `PgsipExport`'s props, validated before anything is built: one error naming the prop
 * (`PgsipExport props.connectionBudget: must be an integer from 1 to 10000, got 0`). The rules are the config
 * file's (lib/pgsip-config.ts), applied to the same fields, so a construct and a config file accept the same
 * values and canonicalize table names alike.
 */
import { Duration, Token } from 'aws-cdk-lib';
import type { ISecurityGroup, IVpc, SubnetSelection } from 'aws-cdk-lib/aws-ec2';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import { ConfigError } from '../lambdas/engine/errors';
import { type PgsipConfig, validateConfig, type ScheduleConfig } from './pgsip-config';

const SUBJECT = 'PgsipExport props.';

export interface PgsipExportProps {
  /**
   * The source database's credentials, in the JSON shape RDS uses: `{ "host", "port", "dbname", "username",
   * "password" }` (and `hashKey` for runs that hash columns). Plan and Export may read its value, nothing else
   * may. A secret created in this app with a customer-managed key gets `kms:Decrypt` on that key through
   * Secrets Manager; for an imported secret encrypted with your own key, grant that yourself.
   */
  readonly databaseSecret: ISecret;

  /**
   * The database's host, for a secret that does not hold it: an RDS-managed master-user secret
   * (`ManageMasterUserPassword`) holds only `username` and `password`. E.g. `instance.dbInstanceEndpointAddress`.
   * A field the secret holds too must have the same value there (else the first connection fails, naming both).
   *
   * @default - the secret's `host`
   */
  readonly databaseHost?: string;

  /** The database's port, for a secret that does not hold it. @default - the secret's `port`, else 5432 */
  readonly databasePort?: number;

  /** The database to export from, for a secret that does not name it. @default - the secret's `dbname`, else `postgres` */
  readonly databaseName?: string;

  /**
   * The most shards a run exports at once, i.e. the connections pgsip may hold against the source: each
   * run's concurrency defaults to it and may not exceed it. 1 to 10,000.
   *
   * @default 4
   */
  readonly connectionBudget?: number;

  /**
   * TLS to the database: `verify-full` (certificate and host name, trusting Node's roots plus the Amazon RDS
   * root CAs), `require` (encrypted, unverified) or `off`.
   *
   * @default 'verify-full'
   */
  readonly databaseTls?: 'verify-full' | 'require' | 'off';

  /**
   * Absolute path of a PEM CA bundle shipped with every function that connects, replacing the default trust.
   *
   * @default - Node's roots plus the Amazon RDS root CAs
   */
  readonly caBundleFile?: string;

  /**
   * Runs the functions in this VPC (they must reach the database, S3, Secrets Manager and, with a catalog,
   * Glue: endpoints or NAT).
   *
   * @default - not in a VPC
   */
  readonly vpc?: IVpc;

  /** The functions' subnets in `vpc`. @default - the VPC's private subnets with egress */
  readonly vpcSubnets?: SubnetSelection;

  /**
   * The functions' security groups in `vpc`; allow them on the database's port.
   *
   * @default - one security group with all outbound traffic allowed (`securityGroups` exposes it)
   */
  readonly securityGroups?: readonly ISecurityGroup[];

  /**
   * An existing bucket for the exports, SSE-KMS with `existingKeyObj`; pgsip cannot set its policy, so it
   * should block public access, deny non-TLS requests and log access, as the created one does.
   *
   * @default - a bucket is created: SSE-KMS with the key, TLS only, public access blocked, access logs
   */
  readonly existingBucketObj?: IBucket;

  /**
   * An existing customer-managed key for the bucket (required with `existingBucketObj`). A key created in
   * this app also encrypts the alarm topic (CloudWatch is allowed to use it); an imported one does not.
   *
   * @default - a key is created, rotation on, retained on deletion
   */
  readonly existingKeyObj?: IKey;

  /**
   * Key prefix under which every run is written, without leading or trailing `/`; the functions may touch
   * nothing else of the bucket.
   *
   * @default 'exports'
   */
  readonly exportPrefix?: string;

  /** One EventBridge Scheduler schedule per group, with optional freshness alarms. @default - none */
  readonly schedules?: readonly ScheduleConfig[];

  /** Send alarms to this existing topic. @default - a topic is created (`alarmTopic`) */
  readonly existingAlarmTopicObj?: ITopic;

  /** E-mail addresses subscribed to the created alarm topic (not with `existingAlarmTopicObj`). @default - none */
  readonly alarmEmails?: readonly string[];

  /** Timeout of one execution, 1 to 24 hours. @default Duration.hours(6) */
  readonly runTimeout?: Duration;

  /**
   * How tables land in the lake when a run names no `tableFormat`: `iceberg` (an Apache Iceberg table per
   * source table, each run one snapshot, committed through the Glue catalog when `catalog` is set) or `hive`
   * (a folder per run). docs/iceberg.md.
   *
   * @default 'hive'
   */
  readonly tableFormat?: 'iceberg' | 'hive';

  /**
   * Committed runs kept per table by default; older ones are deleted once out of the newest `keepRuns` for
   * `graceMinutes` (docs/export.md, "Retention").
   *
   * @default - every run is kept
   */
  readonly retention?: PgsipConfig['retention'];

  /**
   * Commit registers each committed table in this Glue database; with `createDatabase`, Commit creates the
   * database on its first commit if it does not exist (never deleted by pgsip: not a stack resource).
   *
   * @default - no catalog
   */
  readonly catalog?: PgsipConfig['catalog'];

  /**
   * Keep Iceberg tables in this Amazon S3 Tables table bucket, a namespace per Postgres schema: Plan creates
   * each table (`s3tables:CreateNamespace`, `CreateTable`), Export writes its files to the table's storage
   * (`PutTableData`), Commit commits it with S3 Tables' version token (`UpdateTableMetadataLocation`), all
   * on this bucket's tables only. docs/iceberg.md, "Amazon S3 Tables".
   *
   * @default - Iceberg tables by path under the export prefix, or in the Glue `catalog`
   */
  readonly tableBucketArn?: string;
}



/** Config-file fields and the props they are here. */
const FIELD_OF: readonly [RegExp, string][] = [
  [/^database\.connectionBudget/, 'connectionBudget'],
  [/^database\.caBundleFile/, 'caBundleFile'],
  [/^database\.tls/, 'databaseTls'],
  [/^database\.host/, 'databaseHost'],
  [/^database\.port/, 'databasePort'],
  [/^database\.dbname/, 'databaseName'],
  [/^storage\.exportPrefix/, 'exportPrefix'],
  [/^alarms\.emails/, 'alarmEmails'],
  [/^runTimeoutHours/, 'runTimeout'],
  [/^tableFormat/, 'tableFormat'],
];

function fail(field: string, problem: string): never {
  throw new ConfigError(field, problem, SUBJECT);
}

export interface ValidatedExportProps {
  exportPrefix: string;
  connectionBudget: number;
  /** Table names canonical (`"public"."orders"`), as the config file gives them. */
  schedules: ScheduleConfig[];
}

export function validateExportProps(props: PgsipExportProps): ValidatedExportProps {
  if (!props || typeof props !== 'object') fail('', 'must be an object with at least databaseSecret');
  if (!props.databaseSecret) fail('databaseSecret', 'is required: the ISecret holding the database credentials (e.g. Secret.fromSecretCompleteArn)');
  if ((props.vpcSubnets || props.securityGroups) && !props.vpc) fail(props.vpcSubnets ? 'vpcSubnets' : 'securityGroups', 'needs vpc');
  if (props.securityGroups && props.securityGroups.length === 0) fail('securityGroups', 'must hold at least one security group (or be left out to get one)');
  if (props.existingBucketObj && !props.existingKeyObj && !props.existingBucketObj.encryptionKey) {
    fail('existingKeyObj', 'is required with existingBucketObj (the customer-managed key the bucket is encrypted with)');
  }
  if (props.existingAlarmTopicObj && props.alarmEmails?.length) fail('alarmEmails', 'cannot be combined with existingAlarmTopicObj (subscribe to the existing topic instead)');
  let runTimeoutHours: number | undefined;
  if (props.runTimeout !== undefined) {
    if (!(props.runTimeout instanceof Duration) || Token.isUnresolved(props.runTimeout.toMinutes({ integral: false }))) fail('runTimeout', 'must be a Duration');
    const minutes = props.runTimeout.toMinutes();
    if (minutes % 60 !== 0) fail('runTimeout', `must be whole hours, got ${props.runTimeout.toHumanString()}`);
    runTimeoutHours = minutes / 60;
  }
  const raw = {
    database: {
      connectionBudget: props.connectionBudget,
      tls: props.databaseTls,
      caBundleFile: props.caBundleFile,
      // Tokens (an RDS instance's endpoint) are checked by CloudFormation, not here.
      host: props.databaseHost !== undefined && Token.isUnresolved(props.databaseHost) ? undefined : props.databaseHost,
      port: props.databasePort !== undefined && Token.isUnresolved(props.databasePort) ? undefined : props.databasePort,
      dbname: props.databaseName !== undefined && Token.isUnresolved(props.databaseName) ? undefined : props.databaseName,
    },
    storage: { exportPrefix: props.exportPrefix },
    schedules: props.schedules,
    alarms: props.alarmEmails ? { emails: props.alarmEmails } : undefined,
    runTimeoutHours,
    tableFormat: props.tableFormat,
    retention: props.retention,
    catalog: props.catalog,
    tableBucketArn: props.tableBucketArn !== undefined && Token.isUnresolved(props.tableBucketArn) ? undefined : props.tableBucketArn,
  };
  try {
    // Through JSON, as a config file arrives: drops undefined members, refuses what JSON cannot hold.
    const config = validateConfig(JSON.parse(JSON.stringify(raw)), '/');
    const exportPrefix = config.storage?.exportPrefix ?? 'exports';
    if (exportPrefix.split('/').some((p) => p === '.' || p === '..')) fail('exportPrefix', `must not hold "." or ".." segments, got ${JSON.stringify(exportPrefix)}`);
    return {
      exportPrefix,
      connectionBudget: config.database?.connectionBudget ?? 4,
      schedules: [...(config.schedules ?? [])],
    };
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    const mapped = FIELD_OF.find(([pattern]) => pattern.test(error.field));
    fail(mapped ? error.field.replace(mapped[0], mapped[1]) : error.field, error.problem);
  }
}
