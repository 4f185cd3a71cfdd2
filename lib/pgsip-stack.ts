/**
 * The deployable pgsip stack: an SSE-KMS export bucket, the database secret, the Plan/Export/Commit functions
 * with least-privilege grants, and the export state machine.
 */
import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import { Grant, type IGrantable } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import {
  BlockPublicAccess,
  Bucket,
  BucketEncryption,
  ObjectOwnership,
} from 'aws-cdk-lib/aws-s3';
import { Secret, type ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import { ExportStateMachine } from './export-state-machine';
import { PgsipFunction } from './pgsip-function';

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
}

/**
 * Everything one pgsip deployment needs. Environment-agnostic: synthesizes with no AWS credentials and no
 * context lookups.
 */
export class PgsipStack extends Stack {
  public readonly key: Key;
  public readonly bucket: Bucket;
  public readonly databaseSecret: ISecret;
  public readonly exportPrefix: string;
  /** `s3://<bucket>/<prefix>`: what the functions receive as PGSIP_DEST. */
  public readonly destination: string;
  public readonly planFunction: PgsipFunction;
  public readonly exportFunction: PgsipFunction;
  public readonly commitFunction: PgsipFunction;
  public readonly exportStateMachine: ExportStateMachine;

  constructor(scope: Construct, id: string, props: PgsipStackProps = {}) {
    super(scope, id, props);

    const exportPrefix = validatePrefix(props.exportPrefix ?? DEFAULT_EXPORT_PREFIX);
    const concurrency = props.concurrency ?? DEFAULT_CONCURRENCY;
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      throw new Error(`PgsipStack: concurrency must be a positive integer, got ${concurrency}`);
    }
    this.exportPrefix = exportPrefix;
    const objects = `${exportPrefix}/*`;

    this.key = new Key(this, 'Key', {
      description: 'pgsip: encrypts exported Parquet files and the database secret',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.bucket = new Bucket(this, 'ExportBucket', {
      encryption: BucketEncryption.KMS,
      encryptionKey: this.key,
      bucketKeyEnabled: true,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      versioned: false,
      lifecycleRules: [{ id: 'AbortIncompleteMultipartUploads', abortIncompleteMultipartUploadAfter: Duration.days(7) }],
      removalPolicy: RemovalPolicy.RETAIN,
    });

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

    this.destination = `s3://${this.bucket.bucketName}/${exportPrefix}`;
    const environment = {
      PGSIP_DEST: this.destination,
      PGSIP_DB_SECRET_ARN: this.databaseSecret.secretArn,
    };

    this.planFunction = new PgsipFunction(this, 'PlanFunction', { kind: 'plan', environment });
    this.exportFunction = new PgsipFunction(this, 'ExportFunction', { kind: 'export', environment });
    this.commitFunction = new PgsipFunction(this, 'CommitFunction', { kind: 'commit', environment });

    // Plan: reads the catalog, writes `_plan.json` per table.
    this.databaseSecret.grantRead(this.planFunction);
    this.bucket.grantRead(this.planFunction, objects);
    this.grantCreateObjects(this.planFunction, exportPrefix);

    // Export: reads its table's plan, writes Parquet parts (multipart) and its shard manifest.
    this.databaseSecret.grantRead(this.exportFunction);
    this.bucket.grantRead(this.exportFunction, objects);
    this.grantCreateObjects(this.exportFunction, exportPrefix);

    // Commit: reads plans and shard manifests, writes the run manifest and `_SUCCESS`, and is the one function
    // that may delete: parts left by failed or superseded attempts, under the prefix. No database access.
    this.bucket.grantRead(this.commitFunction, objects);
    this.grantCreateObjects(this.commitFunction, exportPrefix);
    Grant.addToPrincipal({
      grantee: this.commitFunction,
      actions: ['s3:DeleteObject'],
      resourceArns: [this.bucket.arnForObjects(`${exportPrefix}/*`)],
    });

    this.exportStateMachine = new ExportStateMachine(this, 'ExportStateMachine', {
      planFunction: this.planFunction,
      exportFunction: this.exportFunction,
      commitFunction: this.commitFunction,
      maxConcurrency: concurrency,
    });

    new CfnOutput(this, 'StateMachineArn', {
      description: 'Start an export: aws stepfunctions start-execution --state-machine-arn <this> --input \'{"tables":["public.orders"]}\'',
      value: this.exportStateMachine.stateMachine.stateMachineArn,
    });
    new CfnOutput(this, 'BucketName', { value: this.bucket.bucketName });
    new CfnOutput(this, 'Destination', { description: 'Where runs are written', value: this.destination });
  }

  /**
   * Create (and multipart-upload) objects under the prefix, nothing else: no delete, no ACLs, no tagging or
   * retention. Spelled out because `Bucket.grantPut` without the `@aws-cdk/aws-s3:grantWriteWithoutAcl` flag
   * grants `s3:PutObject*` (ACLs included). SSE-KMS writes need the key for data keys, and multipart
   * completion needs kms:Decrypt.
   */
  private grantCreateObjects(grantee: IGrantable, prefix: string): void {
    Grant.addToPrincipal({
      grantee,
      actions: ['s3:PutObject', 's3:AbortMultipartUpload'],
      resourceArns: [this.bucket.arnForObjects(`${prefix}/*`)],
    });
    this.key.grantEncryptDecrypt(grantee);
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
