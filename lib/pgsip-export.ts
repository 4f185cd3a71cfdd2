/**
 * `PgsipExport`: everything one pgsip deployment needs, as a construct for any CDK stack — the SSE-KMS export
 * bucket (with an access-log bucket), the Plan/Export/Commit/holder functions with one least-privilege role each,
 * the export state machine, schedules, alarms and a dashboard, and optionally a Glue catalog. Props take CDK
 * objects (an `ISecret`, an `IVpc`, an existing `IBucket`/`IKey`/`ITopic`), each documented with its default
 * and validated before anything is built (`validateExportProps`). `PgsipStack` maps the JSON config onto it.
 */
import { ArnFormat, Aws, Duration, RemovalPolicy, Stack, TimeZone, Token } from 'aws-cdk-lib';
import { type ISecurityGroup, SecurityGroup, SubnetType } from 'aws-cdk-lib/aws-ec2';
import { AnyPrincipal, Effect, Policy, PolicyStatement, ServicePrincipal, type IGrantable } from 'aws-cdk-lib/aws-iam';
import { type IKey, Key } from 'aws-cdk-lib/aws-kms';
import { BlockPublicAccess, Bucket, BucketEncryption, type IBucket, ObjectOwnership } from 'aws-cdk-lib/aws-s3';
import { Schedule, ScheduleExpression, ScheduleTargetInput } from 'aws-cdk-lib/aws-scheduler';
import { StepFunctionsStartExecution } from 'aws-cdk-lib/aws-scheduler-targets';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { METRIC_NAMESPACE } from '../lambdas/shared/metric-names';
import { KEY_CLASSES, type KeyClass, keyPattern } from './export-key-classes';
import { ExportStateMachine } from './export-state-machine';
import { PgsipFunction } from './pgsip-function';
import { PgsipMonitoring } from './pgsip-monitoring';
import { acknowledgeNagFindings } from './pgsip-nag';
import { scheduleDescription, scheduleInput } from './schedule-selection';
import { type PgsipExportProps, validateExportProps } from './pgsip-export-props';

export type { PgsipExportProps };

export const DEFAULT_CONNECTION_BUDGET = 4;
export const DEFAULT_EXPORT_PREFIX = 'exports';

export class PgsipExport extends Construct {
  public readonly key: IKey;
  public readonly bucket: IBucket;
  /** The bucket the created export bucket logs access to; none with `existingBucketObj`. */
  public readonly accessLogsBucket?: Bucket;
  public readonly databaseSecret: ISecret;
  /** The functions' security groups (the created one unless `securityGroups` was given); none outside a VPC. */
  public readonly securityGroups: ISecurityGroup[] = [];
  public readonly exportPrefix: string;
  /** `s3://<bucket>/<prefix>`: what the functions receive as PGSIP_DEST. */
  public readonly destination: string;
  public readonly planFunction: PgsipFunction;
  public readonly exportFunction: PgsipFunction;
  public readonly commitFunction: PgsipFunction;
  /** Holds each run's one snapshot for the whole run (lambdas/engine/hold-snapshot.ts). */
  public readonly holderFunction: PgsipFunction;
  /** After a failed run, finds the error that ended it (a failed shard's own) for the execution to fail with. */
  public readonly failureFunction: PgsipFunction;
  public readonly exportStateMachine: ExportStateMachine;
  public readonly schedules: Schedule[] = [];
  public readonly monitoring: PgsipMonitoring;

  constructor(scope: Construct, id: string, props: PgsipExportProps) {
    super(scope, id);
    const { exportPrefix, connectionBudget: concurrency, schedules } = validateExportProps(props);
    // Server access logs are delivered under a bucket policy (not ACLs, which BUCKET_OWNER_ENFORCED forbids),
    // whatever cdk.json says: set before any child exists.
    this.node.setContext('@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy', true);
    this.exportPrefix = exportPrefix;

    // Storage ------------------------------------------------------------------------------------------
    if (props.existingKeyObj) {
      this.key = props.existingKeyObj;
    } else {
      this.key = new Key(this, 'Key', {
        description: 'pgsip: encrypts exported Parquet files, the database secret and the alarm topic',
        enableKeyRotation: true,
        removalPolicy: RemovalPolicy.RETAIN,
      });
    }
    // A key created in this app (by pgsip or by you) also encrypts the alarm topic: CloudWatch must be able to
    // use it. An imported key's policy is not ours to change; the topic then stays SSE-less but TLS-only.
    const ownKey = this.key instanceof Key ? this.key : undefined;
    if (ownKey && !props.existingAlarmTopicObj) {
      ownKey.addToResourcePolicy(
        new PolicyStatement({
          principals: [new ServicePrincipal('cloudwatch.amazonaws.com')],
          actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
          resources: ['*'],
          conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
        }),
      );
    }

    if (props.existingBucketObj) {
      this.bucket = props.existingBucketObj;
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
        lifecycleRules: [
          { id: 'AbortIncompleteMultipartUploads', abortIncompleteMultipartUploadAfter: Duration.days(7) },
          // Each execution leaves its held snapshot's few bytes behind (lambdas/engine/run/layout.ts); nothing
          // reads them once it has ended.
          { id: 'ExpireHeldSnapshotFiles', prefix: `${exportPrefix}/_runs/_snapshots/`, expiration: Duration.days(7) },
        ],
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

    this.databaseSecret = props.databaseSecret;

    // Network ------------------------------------------------------------------------------------------
    let network: ConstructorParameters<typeof PgsipFunction>[2]['network'];
    if (props.vpc) {
      if (props.securityGroups) {
        this.securityGroups = [...props.securityGroups];
      } else {
        const group = new SecurityGroup(this, 'FunctionsSecurityGroup', {
          vpc: props.vpc,
          description: 'pgsip functions: allow this group on the database port',
          allowAllOutbound: true,
        });
        this.securityGroups = [group];
      }
      network = {
        vpc: props.vpc,
        vpcSubnets: props.vpcSubnets ?? { subnetType: SubnetType.PRIVATE_WITH_EGRESS },
        securityGroups: this.securityGroups,
      };
    }

    // Functions -----------------------------------------------------------------------------------------
    this.destination = `s3://${this.bucket.bucketName}/${exportPrefix}`;
    const environment: Record<string, string> = {
      PGSIP_DEST: this.destination,
      PGSIP_DB_SECRET_ARN: this.databaseSecret.secretArn,
      PGSIP_KMS_KEY_ID: this.key.keyArn,
      PGSIP_DB_TLS: props.databaseTls ?? 'verify-full',
      ...(props.databaseHost !== undefined ? { PGSIP_DB_HOST: props.databaseHost } : {}),
      ...(props.databasePort !== undefined ? { PGSIP_DB_PORT: Token.asString(props.databasePort) } : {}),
      ...(props.databaseName !== undefined ? { PGSIP_DB_NAME: props.databaseName } : {}),
      POWERTOOLS_SERVICE_NAME: Stack.of(this).stackName,
      POWERTOOLS_METRICS_NAMESPACE: METRIC_NAMESPACE,
    };
    const common = { network, caBundleFile: props.caBundleFile };
    // The table bucket is Plan's, Export's and Commit's business only.
    const tableBucket: Record<string, string> = props.tableBucketArn ? { PGSIP_TABLE_BUCKET_ARN: props.tableBucketArn } : {};
    // Plan also learns the deployment's limits: the connection budget (the most shards a run may export at
    // once) and the codec of runs that name none (ZSTD: node:zlib in every Lambda Node runtime pgsip targets).
    this.planFunction = new PgsipFunction(this, 'PlanFunction', {
      kind: 'plan',
      ...common,
      environment: {
        ...environment,
        ...tableBucket,
        PGSIP_CONNECTION_BUDGET: String(concurrency),
        PGSIP_DEFAULT_COMPRESSION: 'ZSTD',
        ...(props.tableFormat ? { PGSIP_DEFAULT_TABLE_FORMAT: props.tableFormat } : {}),
        ...(props.retention
          ? { PGSIP_KEEP_RUNS: String(props.retention.keepRuns), PGSIP_RETENTION_GRACE_MINUTES: String(props.retention.graceMinutes ?? 60) }
          : {}),
      },
    });
    this.exportFunction = new PgsipFunction(this, 'ExportFunction', { kind: 'export', ...common, environment: { ...environment, ...tableBucket } });
    // Commit never connects to the database: no secret, no TLS settings.
    const { PGSIP_DB_SECRET_ARN: _secret, PGSIP_DB_TLS: _tls, PGSIP_DB_HOST: _host, PGSIP_DB_PORT: _port, PGSIP_DB_NAME: _name, ...commitEnvironment } = environment;
    this.commitFunction = new PgsipFunction(this, 'CommitFunction', {
      kind: 'commit',
      ...common,
      caBundleFile: undefined,
      environment: {
        ...commitEnvironment,
        ...tableBucket,
        ...(props.catalog ? { PGSIP_GLUE_DATABASE: props.catalog.glueDatabase } : {}),
        ...(props.catalog?.createDatabase ? { PGSIP_GLUE_CREATE_DATABASE: 'true' } : {}),
      },
    });
    this.holderFunction = new PgsipFunction(this, 'HolderFunction', { kind: 'holder', ...common, environment });
    // The failure function reads only Step Functions' record of the execution: no bucket, key or secret. It
    // runs where the others run (in the VPC, when there is one: it then needs a route to Step Functions, an
    // interface endpoint or NAT; without one the run fails with the Map's own error instead).
    this.failureFunction = new PgsipFunction(this, 'FailureFunction', {
      kind: 'failure',
      network,
      environment: { POWERTOOLS_SERVICE_NAME: environment.POWERTOOLS_SERVICE_NAME, POWERTOOLS_METRICS_NAMESPACE: METRIC_NAMESPACE },
    });

    // Least privilege by key class (lib/export-key-classes.ts; docs/operations.md, "What gets deployed"), evaluated
    // request by request in test/lib/iam-evaluation.test.ts.
    const keys = Object.fromEntries(Object.keys(KEY_CLASSES).map((k) => [k, keyPattern(exportPrefix, k as KeyClass)])) as Record<KeyClass, string>;

    // Plan: reads the catalog; creates each table's `_plan.json` and the run's table and shard lists (it reads
    // a plan or table list only after a create-only write found one); reads the held snapshot it imports.
    this.grantSecretValue(this.planFunction);
    this.grantObjects(this.planFunction, ['s3:GetObject', 's3:PutObject'], [keys.plan, keys.runPlan]);
    this.grantObjects(this.planFunction, ['s3:PutObject'], [keys.shardList]);
    this.grantObjects(this.planFunction, ['s3:GetObject'], [keys.heldSnapshot]);
    // Iceberg tables: the current schema, whose field ids the run's files carry.
    this.grantObjects(this.planFunction, ['s3:GetObject'], [keys.icebergMetadata]);
    this.grantKey(this.planFunction);

    // Export: reads its table's plan and its shard's manifest (present when an earlier attempt finished),
    // writes Parquet parts (multipart, which it may abort) and the shard manifest. It reads no Parquet and
    // deletes nothing.
    this.grantSecretValue(this.exportFunction);
    this.grantObjects(this.exportFunction, ['s3:GetObject'], [keys.plan, keys.heldSnapshot]);
    this.grantObjects(this.exportFunction, ['s3:PutObject', 's3:AbortMultipartUpload'], [keys.part]);
    this.grantObjects(this.exportFunction, ['s3:GetObject', 's3:PutObject'], [keys.shardManifest]);
    // deletes "keyset": the keys of the shard's range (lambdas/engine/incremental/keyset.ts), written as they stream.
    this.grantObjects(this.exportFunction, ['s3:PutObject', 's3:AbortMultipartUpload'], [keys.keyset]);
    this.grantKey(this.exportFunction);

    // Commit: reads the run's table list, plans and shard manifests; writes the run manifest, `_SUCCESS` and
    // `_latest.json`; deletes only inside run folders (parts of failed attempts, abandoned runs). No database.
    this.grantObjects(this.commitFunction, ['s3:GetObject'], [keys.runPlan, keys.plan, keys.shardManifest]);
    this.grantObjects(this.commitFunction, ['s3:GetObject', 's3:PutObject'], [keys.manifest, keys.success, keys.latest]);
    this.grantObjects(this.commitFunction, ['s3:DeleteObject'], [keys.runFolder]);
    // Iceberg tables: the metadata, manifests and manifest lists of each commit (and those of an attempt that
    // lost a race, removed). An incremental run's commit (an upsert) reads the key and cursor columns of the
    // table's parts whose key bounds overlap its own (ranged GETs), reads the table's position deletes (rows
    // already gone) and writes those deleting the rows it replaces (lambdas/engine/iceberg/previous-versions.ts).
    this.grantObjects(this.commitFunction, ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'], [keys.icebergMetadata]);
    this.grantObjects(this.commitFunction, ['s3:GetObject'], [keys.part]);
    this.grantObjects(this.commitFunction, ['s3:GetObject', 's3:PutObject'], [keys.positionDeletes]);
    // deletes "keyset": the shards' keysets, to find the keys gone at the source.
    this.grantObjects(this.commitFunction, ['s3:GetObject'], [keys.keyset]);
    // compactAtDeleteFiles: the compacted data files, in folders no run can have (`run=_compact-*`), written
    // multipart; those of a compaction that lost a race are removed (runFolder).
    this.grantObjects(this.commitFunction, ['s3:PutObject', 's3:AbortMultipartUpload'], [keys.compactedPart]);
    this.grantKey(this.commitFunction);

    // Holder: reads the database (the horizon, then one snapshot it exports) and writes and reads only the
    // held-snapshot files of executions; Release is the same function.
    this.grantSecretValue(this.holderFunction);
    this.grantObjects(this.holderFunction, ['s3:GetObject', 's3:PutObject'], [keys.heldSnapshot]);
    this.grantKey(this.holderFunction);

    // Catalog: Commit reads, creates and updates the tables of one Glue database, nothing else of the catalog.
    // Glue authorizes a table action on the catalog, the database and the table together. With
    // `createDatabase`, Commit creates the database on its first commit rather than the stack: a database the
    // stack created would either be dropped with the stack (and every table users query with it) or, retained,
    // make the next deployment fail with AlreadyExists.
    if (props.catalog) {
      const database = props.catalog.glueDatabase;
      const arn = (resource: string) => Stack.of(this).formatArn({ service: 'glue', resource, arnFormat: ArnFormat.NO_RESOURCE_NAME });
      this.commitFunction.addToRolePolicy(
        new PolicyStatement({
          actions: ['glue:GetTable', 'glue:CreateTable', 'glue:UpdateTable'],
          resources: [arn('catalog'), arn(`database/${database}`), arn(`table/${database}/*`)],
        }),
      );
      if (props.catalog.createDatabase) {
        this.commitFunction.addToRolePolicy(
          new PolicyStatement({ actions: ['glue:CreateDatabase'], resources: [arn('catalog'), arn(`database/${database}`)] }),
        );
      }
    }

    // S3 Tables (docs/iceberg.md, "Amazon S3 Tables"): Plan creates a table's namespace and the table, and reads
    // its metadata location (the warehouse its files go to) and current metadata; Export writes the table's
    // data files; Commit reads the table (its metadata, manifests, and the parts an incremental run re-reads),
    // writes its manifests, delete and metadata files, and swaps the metadata location. The table storage is
    // S3 Tables' own: its objects are authorized by s3tables:GetTableData and PutTableData on the table, not by
    // s3: actions. Tables are named by id in ARNs, hence `table/*` of this one bucket. Nothing deletes a table.
    if (props.tableBucketArn) {
      const tables = `${props.tableBucketArn}/table/*`;
      this.planFunction.addToRolePolicy(
        new PolicyStatement({ actions: ['s3tables:CreateNamespace', 's3tables:CreateTable'], resources: [props.tableBucketArn] }),
      );
      this.planFunction.addToRolePolicy(
        new PolicyStatement({ actions: ['s3tables:GetTableMetadataLocation', 's3tables:GetTableData'], resources: [tables] }),
      );
      this.exportFunction.addToRolePolicy(new PolicyStatement({ actions: ['s3tables:PutTableData'], resources: [tables] }));
      this.commitFunction.addToRolePolicy(
        new PolicyStatement({
          actions: ['s3tables:GetTableMetadataLocation', 's3tables:UpdateTableMetadataLocation', 's3tables:GetTableData', 's3tables:PutTableData'],
          resources: [tables],
        }),
      );
    }

    // Listing, limited to the prefix, for those that read keys that may be missing (a shard manifest not yet
    // written, an uncommitted run's _SUCCESS, a table's first _latest.json, a held snapshot not yet published,
    // a release not yet written): without s3:ListBucket S3 answers
    // such a GetObject with 403 instead of 404, and the engine reads "missing" from the 404. Commit also lists
    // run folders (stray parts, the sweep). `IfExists` because that implicit check carries no s3:prefix; a
    // real listing must stay under the prefix.
    for (const fn of [this.planFunction, this.exportFunction, this.commitFunction, this.holderFunction]) {
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
      holderFunction: this.holderFunction,
      failureFunction: this.failureFunction,
      timeout: props.runTimeout ?? Duration.hours(6),
    });
    const stateMachine = this.exportStateMachine.stateMachine;
    // The failure function reads the execution's Map Runs and their failed child executions, of this state
    // machine only. A policy of its own (not the role's default one, which the function depends on), so that
    // naming the state machine here does not make it depend on itself through its definition.
    const states = (resource: string, name: string) =>
      Stack.of(this).formatArn({ service: 'states', resource, resourceName: name, arnFormat: ArnFormat.COLON_RESOURCE_NAME });
    new Policy(this, 'FailureFunctionReadsExecutions', {
      roles: [this.failureFunction.role!],
      statements: [
        new PolicyStatement({ actions: ['states:ListMapRuns'], resources: [states('execution', `${stateMachine.stateMachineName}:*`)] }),
        new PolicyStatement({ actions: ['states:ListExecutions'], resources: [states('mapRun', `${stateMachine.stateMachineName}/*`)] }),
        new PolicyStatement({ actions: ['states:DescribeExecution'], resources: [states('execution', `${stateMachine.stateMachineName}/*`)] }),
      ],
    });
    // The Distributed Map reads the run's shard list itself (ItemReader), through S3 only.
    this.grantObjects(stateMachine, ['s3:GetObject'], [keys.shardList]);
    this.grantKey(stateMachine, ['kms:Decrypt']);

    for (const s of schedules) {
      const input = scheduleInput(s);
      this.schedules.push(
        new Schedule(this, `Schedule-${s.name}`, {
          description: scheduleDescription(s),
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
      functions: { plan: this.planFunction, export: this.exportFunction, commit: this.commitFunction, holder: this.holderFunction, failure: this.failureFunction },
      exportTimeout: this.exportFunction.timeout ?? Duration.minutes(15),
      service: Stack.of(this).stackName,
      schedules,
      topic: props.existingAlarmTopicObj,
      emails: props.alarmEmails ?? [],
      key: props.existingAlarmTopicObj ? undefined : ownKey,
    });

    acknowledgeNagFindings(this, {
      exportPrefix,
      glueDatabase: props.catalog?.glueDatabase,
      tableBucketArn: props.tableBucketArn,
    });
  }

  /** The topic alarms notify. */
  get alarmTopic(): ITopic {
    return this.monitoring.topic;
  }

  /** The export state machine (start executions on it; the schedules do). */
  get stateMachine() {
    return this.exportStateMachine.stateMachine;
  }

  /** Object actions on keys matching `pattern` (under the prefix), nothing else: no ACLs, tagging or retention. */
  private grantObjects(grantee: IGrantable, actions: string[], patterns: string[]): void {
    grantee.grantPrincipal.addToPrincipalPolicy(new PolicyStatement({ actions, resources: patterns.map((p) => this.bucket.arnForObjects(p)) }));
  }

  /**
   * The database secret's value, and nothing else (no DescribeSecret, which `grantRead` adds).
   */
  private grantSecretValue(grantee: IGrantable): void {
    grantee.grantPrincipal.addToPrincipalPolicy(new PolicyStatement({ actions: ['secretsmanager:GetSecretValue'], resources: [this.databaseSecret.secretArn] }));
    // A secret encrypted with a customer-managed key it knows (one created in this app): Decrypt on that key,
    // through Secrets Manager only. An imported secret's key is unknown here (docs/operations.md says to grant it).
    const secretKey = this.databaseSecret.encryptionKey;
    if (secretKey) {
      grantee.grantPrincipal.addToPrincipalPolicy(
        new PolicyStatement({
          actions: ['kms:Decrypt'],
          resources: [secretKey.keyArn],
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


