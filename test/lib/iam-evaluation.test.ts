/**
 * Least privilege, by evaluation: the synthesized stack's policies (identity, bucket, key, topic and trust
 * policies, intrinsics resolved by test/support/iam-template.ts) are asked request by request, by an IAM
 * evaluation engine (test/support/iam-simulation.ts), what each principal may and may not do. The matrix below
 * is the specification; test/lib/pgsip-stack.test.ts checks the statements' shapes, this checks what they mean.
 *
 * Keys come from the engine's own layout (lambdas/engine/run/layout.ts), so a row is a key pgsip really
 * writes. Context keys are the ones AWS would send: the simulator fills in none.
 *
 * What this cannot show: that S3 makes its own KMS call with the caller's rights (the S3 row and the KMS row
 * are evaluated apart, and `kms:ViaService` is what the S3 call would carry); which context S3 gives the
 * s3:ListBucket check it makes when a GetObject misses (both forms are rows); anything decided outside these
 * policies (SCPs, RCPs, VPC endpoint policies, the external secret's own resource policy and key).
 */
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { describe, expect, it } from 'vitest';
import {
  failedHolderKey,
  heldSnapshotKey,
  latestKey,
  manifestKey,
  partName,
  planKey,
  positionDeletesName,
  releasedSnapshotKey,
  runDirOf,
  runPlanKey,
  shardListKey,
  shardManifestKey,
  successKey,
} from '../../lambdas/engine/run/layout';
import { metadataFileKey, VERSION_HINT } from '../../lambdas/engine/iceberg/file-system-catalog';
import { keysetPath } from '../../lambdas/engine/incremental/keyset';
import { buildApp } from '../../lib/pgsip-app';
import { loadConfig } from '../../lib/pgsip-config';
import { REPO_ROOT } from '../../lib/pgsip-function';
import { propsFromConfig, type PgsipStack, type PgsipStackProps } from '../../lib/pgsip-stack';
import { evaluate, type Outcome, policyVocabulary, type RequestPrincipal } from '../support/iam-simulation';
import { IamTemplate, type Json, type NamedPolicy, type PolicyDocument, TEST_ENVIRONMENT } from '../support/iam-template';

const EXAMPLE = propsFromConfig(loadConfig(join(REPO_ROOT, 'pgsip.config.example.json')));
const { account: ACCOUNT, region: REGION } = TEST_ENVIRONMENT;
const OTHER_ACCOUNT = '210987654321';

// One run of two tables, one of them with a name that needs a hashed folder (`analytics/page_views-<hash>`).
const RUN_ID = '20250101T020000Z-a1b2c3';
const ORDERS = runDirOf('public', 'orders', RUN_ID);
const PAGE_VIEWS = runDirOf('analytics', 'Page Views', RUN_ID);
const PART = `${ORDERS}/${partName(3, 0, '0a1b2c3d')}`;
// The execution whose holders hold the run's snapshot: its held-snapshot files (`_runs/_snapshots/<execution>/`).
const EXECUTION = '0f1e2d3c-4b5a-4697-8887-a9b8c7d6e5f4';
const HELD = heldSnapshotKey(EXECUTION);
const RELEASED = releasedSnapshotKey(EXECUTION);
const FAILED = failedHolderKey(EXECUTION);
// An Iceberg table's files (lambdas/engine/iceberg/file-system-catalog.ts, commit-table.ts).
const ICEBERG_METADATA = metadataFileKey('public/orders', 3);
const ICEBERG_HINT = `public/orders/${VERSION_HINT}`;
const ICEBERG_DELETES = `${ORDERS}/${positionDeletesName('5f0c1d2e')}`;
const KEYSET = `${ORDERS}/${keysetPath(3, '0a1b2c3d')}`;
const COMPACTED = `public/orders/run=_compact-20261208T010000Z-0a1b2c/${partName(0, 0, '0a1b2c3d')}`;
const ICEBERG_MANIFEST = 'public/orders/metadata/6d4090a1-df5c-48a5-ab91-96e5d608bab0-m0.avro';

type Who = 'Plan' | 'Export' | 'Commit' | 'Holder' | 'Failure' | 'StateMachine' | 'Scheduler' | 'OtherAccountAdmin' | `${string}.amazonaws.com`;

type FunctionKind = 'plan' | 'export' | 'commit' | 'holder' | 'failure';

/** What a row asks about, resolved against each synthesized stack (ARNs follow the logical ids). */
type Target =
  | { readonly kind: 'object'; readonly key: string } // a key in the export bucket, relative to the bucket
  | { readonly kind: 'bucket' }
  | { readonly kind: 'accessLog'; readonly key: string }
  | { readonly kind: 'kmsKey' | 'topic' | 'secret' | 'stateMachine' }
  /** An ARN of the deployment's own state machine's executions or Map Runs: `<name>` stands for its name. */
  | { readonly kind: 'states'; readonly arn: string }
  | { readonly kind: 'function'; readonly fn: FunctionKind }
  | { readonly kind: 'logStream'; readonly fn: FunctionKind } // a stream of the function's own log group
  | { readonly kind: 'role'; readonly of: FunctionKind | 'stateMachine' | 'scheduler' }
  | { readonly kind: 'arn'; readonly arn: string };

/** Context keys on top of the defaults of the action (see `defaultContext`); `null` removes a default. */
type Context = Readonly<Record<string, string | readonly string[] | null>>;

interface Row {
  readonly who: Who;
  readonly does: string;
  readonly on: Target;
  readonly with?: Context;
  readonly expect: Outcome;
}

const under = (key: string): Target => ({ kind: 'object', key: `exports/${key}` });
const outside = (key: string): Target => ({ kind: 'object', key });
const BUCKET: Target = { kind: 'bucket' };
const KEY: Target = { kind: 'kmsKey' };
const TOPIC: Target = { kind: 'topic' };
const SECRET: Target = { kind: 'secret' };
const fn = (f: FunctionKind): Target => ({ kind: 'function', fn: f });
const logsOf = (f: FunctionKind): Target => ({ kind: 'logStream', fn: f });
const role = (of: FunctionKind | 'stateMachine' | 'scheduler'): Target => ({ kind: 'role', of });
const arn = (value: string): Target => ({ kind: 'arn', arn: value });
const glueArn = (resource: string): Target => arn(`arn:aws:glue:${REGION}:${ACCOUNT}:${resource}`);
const GLUE_CATALOG = glueArn('catalog');

// Contexts. S3 writes carry the SSE headers the handlers send on PutObject and CreateMultipartUpload
// (PGSIP_KMS_KEY_ID is the key ARN); UploadPart and CompleteMultipartUpload carry none.
const NO_SSE: Context = { 's3:x-amz-server-side-encryption': null, 's3:x-amz-server-side-encryption-aws-kms-key-id': null };
const NO_TLS: Context = { 'aws:SecureTransport': 'false' };
const VIA_S3: Context = { 'kms:ViaService': `s3.${REGION}.amazonaws.com` };
const VIA_SECRETS: Context = { 'kms:ViaService': `secretsmanager.${REGION}.amazonaws.com` };
const prefix = (p: string): Context => ({ 's3:prefix': p });
const ALARM = `arn:aws:cloudwatch:${REGION}:${ACCOUNT}:alarm:Pgsip-ExecutionFailed`;
const FROM_ALARM: Context = { 'aws:SourceAccount': ACCOUNT, 'aws:SourceArn': ALARM };
const FROM_OTHER_ACCOUNT: Context = { 'aws:SourceAccount': OTHER_ACCOUNT, 'aws:SourceArn': `arn:aws:cloudwatch:${REGION}:${OTHER_ACCOUNT}:alarm:theirs` };
const OTHER_KEY = `arn:aws:kms:${REGION}:${ACCOUNT}:key/99999999-0000-4000-8000-999999999999`;
const OTHER_FUNCTION = `arn:aws:lambda:${REGION}:${ACCOUNT}:function:someone-elses`;
/** Stands for the deployment's own state machine ARN in a row's context (rows are written before synthesis). */
const THIS_STATE_MACHINE = '<this state machine>';
/** Step Functions ARNs of this deployment's executions, Map Runs and Map children (`<name>`: the state machine's name). */
const states = (resource: string): Target => ({ kind: 'states', arn: `arn:aws:states:${REGION}:${ACCOUNT}:${resource}` });
const RUN_EXECUTION = states(`execution:<name>:${EXECUTION}`);
const MAP_RUN = states(`mapRun:<name>/ExportShards:7d1e4c02-9f3a-4d51-8e0b-3c2a1f0e9d8c`);
const MAP_CHILD = states(`execution:<name>/ExportShards:5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d`);
const OTHER_STATE_MACHINE = `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:someone-elses`;

const ALLOWED: Outcome = 'Allowed';
const DENIED: Outcome = 'ImplicitlyDenied'; // no policy allows it
const REFUSED: Outcome = 'ExplicitlyDenied'; // a Deny statement (bucket or topic policy) refuses it

/** The example deployment (pgsip.config.example.json): existing secret, VPC, schedules, created key, bucket and topic. */
const MATRIX: readonly Row[] = [
  // Plan: creates each table's plan and the run's table and shard lists; reads back a plan or table list only
  // after its create-only write found one; reads the execution's held snapshot, which it waits for (missing
  // until the first holder publishes it, hence the listing), and writes none of it; reads the secret.
  { who: 'Plan', does: 's3:PutObject', on: under(planKey(ORDERS)), expect: ALLOWED },
  { who: 'Plan', does: 's3:PutObject', on: under(planKey(PAGE_VIEWS)), expect: ALLOWED },
  { who: 'Plan', does: 's3:GetObject', on: under(planKey(ORDERS)), expect: ALLOWED },
  { who: 'Plan', does: 's3:PutObject', on: under(runPlanKey(RUN_ID)), expect: ALLOWED },
  { who: 'Plan', does: 's3:GetObject', on: under(runPlanKey(RUN_ID)), expect: ALLOWED },
  { who: 'Plan', does: 's3:PutObject', on: under(shardListKey(RUN_ID)), expect: ALLOWED },
  { who: 'Plan', does: 's3:GetObject', on: under(shardListKey(RUN_ID)), expect: DENIED },
  { who: 'Plan', does: 's3:PutObject', on: under(PART), expect: DENIED },
  { who: 'Plan', does: 's3:PutObject', on: under(shardManifestKey(ORDERS, 3)), expect: DENIED },
  { who: 'Plan', does: 's3:PutObject', on: under(manifestKey(ORDERS)), expect: DENIED },
  { who: 'Plan', does: 's3:PutObject', on: under(successKey(ORDERS)), expect: DENIED },
  { who: 'Plan', does: 's3:PutObject', on: under(latestKey(ORDERS)), expect: DENIED },
  { who: 'Plan', does: 's3:DeleteObject', on: under(planKey(ORDERS)), expect: DENIED },
  { who: 'Plan', does: 's3:GetObject', on: under(HELD), expect: ALLOWED },
  { who: 'Plan', does: 's3:GetObject', on: under(RELEASED), expect: ALLOWED },
  { who: 'Plan', does: 's3:GetObject', on: under(FAILED), expect: ALLOWED },
  { who: 'Plan', does: 's3:PutObject', on: under(HELD), expect: DENIED },
  { who: 'Plan', does: 's3:PutObject', on: under(RELEASED), expect: DENIED },
  { who: 'Plan', does: 's3:PutObject', on: under(FAILED), expect: DENIED },
  { who: 'Plan', does: 's3:DeleteObject', on: under(HELD), expect: DENIED },
  { who: 'Plan', does: 's3:ListBucket', on: BUCKET, with: prefix(`exports/_runs/_snapshots/${EXECUTION}/`), expect: ALLOWED },
  { who: 'Plan', does: 's3:ListBucket', on: BUCKET, with: prefix(`exports/${ORDERS}/`), expect: ALLOWED },
  { who: 'Plan', does: 's3:ListBucket', on: BUCKET, expect: ALLOWED }, // the check behind a missing key's 404
  { who: 'Plan', does: 's3:ListBucket', on: BUCKET, with: prefix('other/'), expect: DENIED },
  { who: 'Plan', does: 's3:ListBucket', on: BUCKET, with: prefix('exports-old/'), expect: DENIED },
  { who: 'Plan', does: 'secretsmanager:GetSecretValue', on: SECRET, expect: ALLOWED },
  { who: 'Plan', does: 'secretsmanager:DescribeSecret', on: SECRET, expect: DENIED },
  { who: 'Plan', does: 'kms:GenerateDataKey', on: KEY, with: VIA_S3, expect: ALLOWED },
  { who: 'Plan', does: 'kms:Decrypt', on: KEY, with: VIA_S3, expect: ALLOWED },
  { who: 'Plan', does: 'kms:GenerateDataKey', on: KEY, expect: DENIED }, // called directly, not by S3
  { who: 'Plan', does: 'kms:Encrypt', on: KEY, with: VIA_S3, expect: DENIED },
  // The example's secret is not the stack's: the stack key is no business of Secrets Manager here.
  { who: 'Plan', does: 'kms:Decrypt', on: KEY, with: VIA_SECRETS, expect: DENIED },

  // Export: reads its table's plan, the execution's held snapshot and its shard's manifest (missing until a
  // first attempt finishes, hence the listing), writes parts (PutObject or a multipart upload it may abort) and
  // its shard manifest. It reads no Parquet, commits nothing, releases nothing, deletes nothing.
  { who: 'Export', does: 's3:GetObject', on: under(planKey(ORDERS)), expect: ALLOWED },
  { who: 'Export', does: 's3:PutObject', on: under(PART), expect: ALLOWED }, // PutObject, CreateMultipartUpload
  { who: 'Export', does: 's3:PutObject', on: under(PART), with: NO_SSE, expect: ALLOWED }, // UploadPart, CompleteMultipartUpload
  { who: 'Export', does: 's3:PutObject', on: under(`${PAGE_VIEWS}/${partName(0, 12, 'ffee0011')}`), expect: ALLOWED },
  { who: 'Export', does: 's3:AbortMultipartUpload', on: under(PART), expect: ALLOWED },
  { who: 'Export', does: 's3:GetObject', on: under(shardManifestKey(ORDERS, 3)), expect: ALLOWED },
  { who: 'Export', does: 's3:PutObject', on: under(shardManifestKey(ORDERS, 3)), expect: ALLOWED },
  { who: 'Export', does: 's3:GetObject', on: under(HELD), expect: ALLOWED },
  { who: 'Export', does: 's3:GetObject', on: under(RELEASED), expect: ALLOWED },
  { who: 'Export', does: 's3:GetObject', on: under(FAILED), expect: ALLOWED },
  { who: 'Export', does: 's3:ListBucket', on: BUCKET, with: prefix(`exports/${ORDERS}/`), expect: ALLOWED },
  // The check S3 makes when a GetObject misses (404 rather than 403) is granted without s3:prefix; so is a
  // listing that names no prefix at all (key names only): the cost docs/operations.md states.
  { who: 'Export', does: 's3:ListBucket', on: BUCKET, expect: ALLOWED },
  { who: 'Export', does: 's3:ListBucket', on: BUCKET, with: prefix('other/'), expect: DENIED },
  { who: 'Export', does: 's3:ListBucket', on: BUCKET, with: prefix('exports-old/'), expect: DENIED },
  { who: 'Export', does: 's3:PutObject', on: under(successKey(ORDERS)), expect: DENIED },
  { who: 'Export', does: 's3:PutObject', on: under(manifestKey(ORDERS)), expect: DENIED },
  { who: 'Export', does: 's3:PutObject', on: under(latestKey(ORDERS)), expect: DENIED },
  { who: 'Export', does: 's3:PutObject', on: under(planKey(ORDERS)), expect: DENIED },
  { who: 'Export', does: 's3:PutObject', on: under(shardListKey(RUN_ID)), expect: DENIED },
  { who: 'Export', does: 's3:PutObject', on: under(HELD), expect: DENIED },
  { who: 'Export', does: 's3:PutObject', on: under(RELEASED), expect: DENIED },
  { who: 'Export', does: 's3:GetObject', on: under(PART), expect: DENIED },
  { who: 'Export', does: 's3:GetObject', on: under(runPlanKey(RUN_ID)), expect: DENIED },
  { who: 'Export', does: 's3:DeleteObject', on: under(PART), expect: DENIED },
  { who: 'Export', does: 's3:DeleteObject', on: under(shardManifestKey(ORDERS, 3)), expect: DENIED },
  { who: 'Export', does: 's3:DeleteObject', on: under(planKey(ORDERS)), expect: DENIED },
  { who: 'Export', does: 's3:DeleteObject', on: under(HELD), expect: DENIED },
  { who: 'Export', does: 'secretsmanager:GetSecretValue', on: SECRET, expect: ALLOWED },
  { who: 'Export', does: 'secretsmanager:DescribeSecret', on: SECRET, expect: DENIED },
  { who: 'Export', does: 'kms:GenerateDataKey', on: KEY, with: VIA_S3, expect: ALLOWED },
  { who: 'Export', does: 'kms:Decrypt', on: KEY, with: VIA_S3, expect: ALLOWED }, // reads, and CompleteMultipartUpload
  { who: 'Export', does: 'kms:Decrypt', on: KEY, with: { 'kms:ViaService': 's3.us-east-1.amazonaws.com' }, expect: DENIED },
  { who: 'Export', does: 'kms:Decrypt', on: KEY, with: VIA_SECRETS, expect: DENIED },

  // Commit: reads the run's table list, plans, shard manifests, markers and pointers (some missing, hence the
  // listing); writes the run manifest, _SUCCESS and _latest.json; deletes only inside run folders (strays,
  // abandoned runs, whose plan goes last). No database.
  { who: 'Commit', does: 's3:GetObject', on: under(runPlanKey(RUN_ID)), expect: ALLOWED },
  { who: 'Commit', does: 's3:GetObject', on: under(planKey(ORDERS)), expect: ALLOWED },
  { who: 'Commit', does: 's3:GetObject', on: under(shardManifestKey(ORDERS, 3)), expect: ALLOWED },
  { who: 'Commit', does: 's3:GetObject', on: under(successKey(ORDERS)), expect: ALLOWED }, // HeadObject: committed already?
  { who: 'Commit', does: 's3:GetObject', on: under(manifestKey(ORDERS)), expect: ALLOWED },
  { who: 'Commit', does: 's3:GetObject', on: under(latestKey(ORDERS)), expect: ALLOWED },
  { who: 'Commit', does: 's3:PutObject', on: under(manifestKey(ORDERS)), expect: ALLOWED },
  { who: 'Commit', does: 's3:PutObject', on: under(successKey(ORDERS)), expect: ALLOWED },
  { who: 'Commit', does: 's3:PutObject', on: under(latestKey(ORDERS)), expect: ALLOWED },
  { who: 'Commit', does: 's3:PutObject', on: under(latestKey(PAGE_VIEWS)), expect: ALLOWED },
  { who: 'Commit', does: 's3:ListBucket', on: BUCKET, with: prefix(`exports/${ORDERS}/`), expect: ALLOWED },
  { who: 'Commit', does: 's3:ListBucket', on: BUCKET, with: prefix('exports/public/orders/'), expect: ALLOWED }, // the sweep
  { who: 'Commit', does: 's3:ListBucket', on: BUCKET, with: prefix('other/'), expect: DENIED },
  { who: 'Commit', does: 's3:DeleteObject', on: under(PART), expect: ALLOWED },
  { who: 'Commit', does: 's3:DeleteObject', on: under(shardManifestKey(ORDERS, 3)), expect: ALLOWED },
  { who: 'Commit', does: 's3:DeleteObject', on: under(planKey(ORDERS)), expect: ALLOWED },
  { who: 'Commit', does: 's3:DeleteObject', on: under(latestKey(ORDERS)), expect: DENIED },
  { who: 'Commit', does: 's3:DeleteObject', on: under(runPlanKey(RUN_ID)), expect: DENIED },
  { who: 'Commit', does: 's3:DeleteObject', on: under(shardListKey(RUN_ID)), expect: DENIED },
  { who: 'Commit', does: 's3:DeleteObject', on: outside(`other/${PART}`), expect: DENIED },
  { who: 'Commit', does: 's3:PutObject', on: under(PART), expect: DENIED },
  { who: 'Commit', does: 's3:PutObject', on: under(planKey(ORDERS)), expect: DENIED },
  { who: 'Commit', does: 's3:PutObject', on: under(shardManifestKey(ORDERS, 3)), expect: DENIED },
  { who: 'Commit', does: 's3:PutObject', on: under(runPlanKey(RUN_ID)), expect: DENIED },
  { who: 'Commit', does: 's3:PutObject', on: under(shardListKey(RUN_ID)), expect: DENIED },
  // The held snapshot is the holders' and its readers': Commit neither reads, releases nor removes it.
  { who: 'Commit', does: 's3:GetObject', on: under(HELD), expect: DENIED },
  { who: 'Commit', does: 's3:PutObject', on: under(HELD), expect: DENIED },
  { who: 'Commit', does: 's3:PutObject', on: under(RELEASED), expect: DENIED },
  { who: 'Commit', does: 's3:DeleteObject', on: under(HELD), expect: DENIED },
  { who: 'Commit', does: 'secretsmanager:GetSecretValue', on: SECRET, expect: DENIED },
  // The catalog (the example's `catalog.glueDatabase`): Commit reads, creates and updates tables of that one
  // database. Glue checks a table action on the catalog, the database and the table; each must be allowed.
  ...(['glue:GetTable', 'glue:CreateTable', 'glue:UpdateTable'] as const).flatMap((does): Row[] => [
    { who: 'Commit', does, on: GLUE_CATALOG, expect: ALLOWED },
    { who: 'Commit', does, on: glueArn('database/pgsip_lake'), expect: ALLOWED },
    { who: 'Commit', does, on: glueArn('table/pgsip_lake/public_orders'), expect: ALLOWED },
    { who: 'Commit', does, on: glueArn('database/finance'), expect: DENIED },
    { who: 'Commit', does, on: glueArn('table/finance/ledger'), expect: DENIED },
    { who: 'Plan', does, on: glueArn('table/pgsip_lake/public_orders'), expect: DENIED },
    { who: 'Export', does, on: glueArn('table/pgsip_lake/public_orders'), expect: DENIED },
    { who: 'Holder', does, on: glueArn('table/pgsip_lake/public_orders'), expect: DENIED },
  ]),
  { who: 'Commit', does: 'glue:DeleteTable', on: glueArn('table/pgsip_lake/public_orders'), expect: DENIED },
  // `catalog.createDatabase`: Commit creates that one database on its first commit if it is missing (the
  // stack does not own it), no other.
  { who: 'Commit', does: 'glue:CreateDatabase', on: GLUE_CATALOG, expect: ALLOWED },
  { who: 'Commit', does: 'glue:CreateDatabase', on: glueArn('database/pgsip_lake'), expect: ALLOWED },
  { who: 'Commit', does: 'glue:CreateDatabase', on: glueArn('database/finance'), expect: DENIED },
  { who: 'Commit', does: 'glue:DeleteDatabase', on: glueArn('database/pgsip_lake'), expect: DENIED },
  { who: 'Plan', does: 'glue:CreateDatabase', on: glueArn('database/pgsip_lake'), expect: DENIED },
  { who: 'Commit', does: 'glue:UpdateDatabase', on: glueArn('database/pgsip_lake'), expect: DENIED },
  { who: 'Commit', does: 'glue:GetTables', on: glueArn('database/pgsip_lake'), expect: DENIED },
  { who: 'Commit', does: 'glue:GetTable', on: arn(`arn:aws:glue:us-east-1:${ACCOUNT}:table/pgsip_lake/public_orders`), expect: DENIED },
  { who: 'Commit', does: 'kms:GenerateDataKey', on: KEY, with: VIA_S3, expect: ALLOWED },
  { who: 'Commit', does: 'kms:Decrypt', on: KEY, with: VIA_S3, expect: ALLOWED },
  { who: 'Commit', does: 'kms:Decrypt', on: KEY, with: VIA_SECRETS, expect: DENIED },

  // Holder (Hold, Release and ReleaseAfterFailure): reads the database (the secret); publishes the snapshot it
  // holds, reads its predecessor's, writes the release and a failure, and reads them back (missing until
  // written, hence the listing). Held-snapshot files only: no run, plan, part or manifest, and no deletes.
  { who: 'Holder', does: 's3:GetObject', on: under(HELD), expect: ALLOWED },
  { who: 'Holder', does: 's3:PutObject', on: under(HELD), expect: ALLOWED },
  { who: 'Holder', does: 's3:GetObject', on: under(RELEASED), expect: ALLOWED },
  { who: 'Holder', does: 's3:PutObject', on: under(RELEASED), expect: ALLOWED },
  { who: 'Holder', does: 's3:GetObject', on: under(FAILED), expect: ALLOWED },
  { who: 'Holder', does: 's3:PutObject', on: under(FAILED), expect: ALLOWED },
  { who: 'Holder', does: 's3:ListBucket', on: BUCKET, with: prefix(`exports/_runs/_snapshots/${EXECUTION}/`), expect: ALLOWED },
  { who: 'Holder', does: 's3:ListBucket', on: BUCKET, expect: ALLOWED }, // the check behind a missing key's 404
  { who: 'Holder', does: 's3:ListBucket', on: BUCKET, with: prefix('other/'), expect: DENIED },
  { who: 'Holder', does: 's3:ListBucket', on: BUCKET, with: prefix('exports-old/'), expect: DENIED },
  { who: 'Holder', does: 's3:DeleteObject', on: under(HELD), expect: DENIED },
  { who: 'Holder', does: 's3:DeleteObject', on: under(RELEASED), expect: DENIED },
  { who: 'Holder', does: 's3:GetObject', on: under(PART), expect: DENIED },
  { who: 'Holder', does: 's3:PutObject', on: under(PART), expect: DENIED },
  { who: 'Holder', does: 's3:GetObject', on: under(planKey(ORDERS)), expect: DENIED },
  { who: 'Holder', does: 's3:PutObject', on: under(planKey(ORDERS)), expect: DENIED },
  { who: 'Holder', does: 's3:GetObject', on: under(runPlanKey(RUN_ID)), expect: DENIED },
  { who: 'Holder', does: 's3:PutObject', on: under(runPlanKey(RUN_ID)), expect: DENIED },
  { who: 'Holder', does: 's3:GetObject', on: under(shardListKey(RUN_ID)), expect: DENIED },
  { who: 'Holder', does: 's3:PutObject', on: under(shardListKey(RUN_ID)), expect: DENIED },
  { who: 'Holder', does: 's3:GetObject', on: under(shardManifestKey(ORDERS, 3)), expect: DENIED },
  { who: 'Holder', does: 's3:PutObject', on: under(shardManifestKey(ORDERS, 3)), expect: DENIED },
  { who: 'Holder', does: 's3:PutObject', on: under(manifestKey(ORDERS)), expect: DENIED },
  { who: 'Holder', does: 's3:PutObject', on: under(successKey(ORDERS)), expect: DENIED },
  { who: 'Holder', does: 's3:PutObject', on: under(latestKey(ORDERS)), expect: DENIED },
  { who: 'Holder', does: 'secretsmanager:GetSecretValue', on: SECRET, expect: ALLOWED },
  { who: 'Holder', does: 'secretsmanager:DescribeSecret', on: SECRET, expect: DENIED },
  { who: 'Holder', does: 'kms:GenerateDataKey', on: KEY, with: VIA_S3, expect: ALLOWED },
  { who: 'Holder', does: 'kms:Decrypt', on: KEY, with: VIA_S3, expect: ALLOWED },
  { who: 'Holder', does: 'kms:GenerateDataKey', on: KEY, expect: DENIED }, // called directly, not by S3
  { who: 'Holder', does: 'kms:Decrypt', on: KEY, with: VIA_SECRETS, expect: DENIED },
  { who: 'Holder', does: 'lambda:InvokeFunction', on: fn('holder'), expect: DENIED },
  { who: 'Holder', does: 'states:StartExecution', on: { kind: 'stateMachine' }, expect: DENIED },

  // Iceberg tables (lambdas/engine/iceberg/): Plan reads a table's current metadata (its schema's field ids);
  // Commit reads, writes and removes metadata files, manifests and manifest lists of tables, nothing else new.
  { who: 'Plan', does: 's3:GetObject', on: under(ICEBERG_METADATA), expect: ALLOWED },
  { who: 'Plan', does: 's3:GetObject', on: under(ICEBERG_HINT), expect: ALLOWED },
  { who: 'Plan', does: 's3:PutObject', on: under(ICEBERG_METADATA), expect: DENIED },
  { who: 'Commit', does: 's3:GetObject', on: under(ICEBERG_METADATA), expect: ALLOWED },
  { who: 'Commit', does: 's3:PutObject', on: under(ICEBERG_METADATA), expect: ALLOWED },
  { who: 'Commit', does: 's3:PutObject', on: under(ICEBERG_HINT), expect: ALLOWED },
  { who: 'Commit', does: 's3:PutObject', on: under(ICEBERG_MANIFEST), expect: ALLOWED },
  { who: 'Commit', does: 's3:DeleteObject', on: under(ICEBERG_MANIFEST), expect: ALLOWED },
  // An incremental run's commit (an upsert) reads parts' key and cursor columns and the table's position
  // deletes, and writes those of the rows it replaces (lambdas/engine/iceberg/previous-versions.ts), in run
  // folders only.
  { who: 'Commit', does: 's3:GetObject', on: under(PART), expect: ALLOWED },
  { who: 'Commit', does: 's3:PutObject', on: under(ICEBERG_DELETES), expect: ALLOWED },
  { who: 'Commit', does: 's3:GetObject', on: under(ICEBERG_DELETES), expect: ALLOWED },
  { who: 'Commit', does: 's3:PutObject', on: outside(`other/${ICEBERG_DELETES}`), expect: DENIED },
  { who: 'Export', does: 's3:PutObject', on: under(ICEBERG_DELETES), expect: DENIED },
  { who: 'Export', does: 's3:GetObject', on: under(ICEBERG_DELETES), expect: DENIED },
  // deletes "keyset": Export writes its range's keys, Commit reads them (and, as strays, deletes them).
  { who: 'Export', does: 's3:PutObject', on: under(KEYSET), expect: ALLOWED },
  { who: 'Export', does: 's3:AbortMultipartUpload', on: under(KEYSET), expect: ALLOWED },
  { who: 'Export', does: 's3:GetObject', on: under(KEYSET), expect: DENIED },
  { who: 'Commit', does: 's3:GetObject', on: under(KEYSET), expect: ALLOWED },
  { who: 'Commit', does: 's3:PutObject', on: under(KEYSET), expect: DENIED },
  { who: 'Commit', does: 's3:DeleteObject', on: under(KEYSET), expect: ALLOWED },
  { who: 'Plan', does: 's3:GetObject', on: under(KEYSET), expect: DENIED },
  // compactAtDeleteFiles: Commit writes compacted data files in `run=_compact-*` folders, which no run's can be,
  // never a run's parts; it reads them as it reads parts, and removes those of a compaction that lost a race.
  { who: 'Commit', does: 's3:PutObject', on: under(COMPACTED), expect: ALLOWED },
  { who: 'Commit', does: 's3:AbortMultipartUpload', on: under(COMPACTED), expect: ALLOWED },
  { who: 'Commit', does: 's3:GetObject', on: under(COMPACTED), expect: ALLOWED },
  { who: 'Commit', does: 's3:DeleteObject', on: under(COMPACTED), expect: ALLOWED },
  { who: 'Commit', does: 's3:PutObject', on: under(PART), expect: DENIED },
  { who: 'Commit', does: 's3:PutObject', on: outside(`other/${COMPACTED}`), expect: DENIED },
  { who: 'Plan', does: 's3:PutObject', on: under(COMPACTED), expect: DENIED },
  { who: 'Export', does: 's3:PutObject', on: outside(`other/${KEYSET}`), expect: DENIED },
  { who: 'Plan', does: 's3:GetObject', on: under(PART), expect: DENIED },
  { who: 'Commit', does: 's3:PutObject', on: outside(`other/${ICEBERG_METADATA}`), expect: DENIED },
  { who: 'Export', does: 's3:PutObject', on: under(ICEBERG_METADATA), expect: DENIED },
  { who: 'Export', does: 's3:GetObject', on: under(ICEBERG_METADATA), expect: DENIED },
  { who: 'Holder', does: 's3:GetObject', on: under(ICEBERG_METADATA), expect: DENIED },
  { who: 'Failure', does: 's3:GetObject', on: under(ICEBERG_METADATA), expect: DENIED },

  // Failure (DescribeFailure): reads the execution's Map Runs and their failed children, of this state machine
  // only; it stops, starts or redrives nothing, and touches neither the bucket, the key nor the database.
  { who: 'Failure', does: 'states:ListMapRuns', on: RUN_EXECUTION, expect: ALLOWED },
  { who: 'Failure', does: 'states:ListExecutions', on: MAP_RUN, expect: ALLOWED },
  { who: 'Failure', does: 'states:DescribeExecution', on: MAP_CHILD, expect: ALLOWED },
  { who: 'Failure', does: 'states:ListMapRuns', on: arn(`arn:aws:states:${REGION}:${ACCOUNT}:execution:someone-elses:${EXECUTION}`), expect: DENIED },
  { who: 'Failure', does: 'states:ListExecutions', on: arn(`arn:aws:states:${REGION}:${ACCOUNT}:mapRun:someone-elses/Map:7d1e4c02-9f3a-4d51-8e0b-3c2a1f0e9d8c`), expect: DENIED },
  { who: 'Failure', does: 'states:DescribeExecution', on: arn(`arn:aws:states:${REGION}:${ACCOUNT}:execution:someone-elses/Map:5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d`), expect: DENIED },
  { who: 'Failure', does: 'states:GetExecutionHistory', on: RUN_EXECUTION, expect: DENIED },
  { who: 'Failure', does: 'states:StopExecution', on: RUN_EXECUTION, expect: DENIED },
  { who: 'Failure', does: 'states:RedriveExecution', on: RUN_EXECUTION, expect: DENIED },
  { who: 'Failure', does: 'states:StartExecution', on: { kind: 'stateMachine' }, expect: DENIED },
  { who: 'Failure', does: 's3:GetObject', on: under(shardManifestKey(ORDERS, 3)), expect: DENIED },
  { who: 'Failure', does: 's3:ListBucket', on: BUCKET, with: prefix('exports/'), expect: DENIED },
  { who: 'Failure', does: 'secretsmanager:GetSecretValue', on: SECRET, expect: DENIED },
  { who: 'Failure', does: 'kms:Decrypt', on: KEY, with: VIA_S3, expect: DENIED },
  { who: 'Failure', does: 'logs:PutLogEvents', on: logsOf('failure'), expect: ALLOWED },
  { who: 'Failure', does: 'logs:PutLogEvents', on: logsOf('export'), expect: DENIED },
  // The others do not read executions.
  { who: 'Export', does: 'states:DescribeExecution', on: MAP_CHILD, expect: DENIED },
  { who: 'Holder', does: 'states:ListMapRuns', on: RUN_EXECUTION, expect: DENIED },

  // Each function logs to its own log group only.
  { who: 'Plan', does: 'logs:CreateLogStream', on: logsOf('plan'), expect: ALLOWED },
  { who: 'Plan', does: 'logs:PutLogEvents', on: logsOf('plan'), expect: ALLOWED },
  { who: 'Export', does: 'logs:PutLogEvents', on: logsOf('export'), expect: ALLOWED },
  { who: 'Commit', does: 'logs:PutLogEvents', on: logsOf('commit'), expect: ALLOWED },
  { who: 'Holder', does: 'logs:CreateLogStream', on: logsOf('holder'), expect: ALLOWED },
  { who: 'Holder', does: 'logs:PutLogEvents', on: logsOf('holder'), expect: ALLOWED },
  { who: 'Export', does: 'logs:PutLogEvents', on: logsOf('plan'), expect: DENIED },
  { who: 'Commit', does: 'logs:PutLogEvents', on: logsOf('export'), expect: DENIED },
  { who: 'Holder', does: 'logs:PutLogEvents', on: logsOf('export'), expect: DENIED },
  { who: 'Plan', does: 'logs:PutLogEvents', on: logsOf('holder'), expect: DENIED },

  // The state machine: the Distributed Map's ItemReader reads the run's shard list (SSE-KMS, so Decrypt via
  // S3); it invokes its four functions and starts its own child executions, nothing else.
  { who: 'StateMachine', does: 's3:GetObject', on: under(shardListKey(RUN_ID)), expect: ALLOWED },
  { who: 'StateMachine', does: 'kms:Decrypt', on: KEY, with: VIA_S3, expect: ALLOWED },
  { who: 'StateMachine', does: 'kms:GenerateDataKey', on: KEY, with: VIA_S3, expect: DENIED },
  { who: 'StateMachine', does: 's3:GetObject', on: under(runPlanKey(RUN_ID)), expect: DENIED },
  { who: 'StateMachine', does: 's3:GetObject', on: under(planKey(ORDERS)), expect: DENIED },
  { who: 'StateMachine', does: 's3:GetObject', on: under(HELD), expect: DENIED },
  { who: 'StateMachine', does: 's3:PutObject', on: under(shardListKey(RUN_ID)), expect: DENIED },
  { who: 'StateMachine', does: 's3:ListBucket', on: BUCKET, with: prefix('exports/_runs/'), expect: DENIED },
  { who: 'StateMachine', does: 'lambda:InvokeFunction', on: fn('plan'), expect: ALLOWED },
  { who: 'StateMachine', does: 'lambda:InvokeFunction', on: fn('export'), expect: ALLOWED },
  { who: 'StateMachine', does: 'lambda:InvokeFunction', on: fn('commit'), expect: ALLOWED },
  { who: 'StateMachine', does: 'lambda:InvokeFunction', on: fn('holder'), expect: ALLOWED },
  { who: 'StateMachine', does: 'lambda:InvokeFunction', on: fn('failure'), expect: ALLOWED },
  { who: 'StateMachine', does: 'lambda:InvokeFunction', on: arn(OTHER_FUNCTION), expect: DENIED },
  { who: 'StateMachine', does: 'states:StartExecution', on: { kind: 'stateMachine' }, expect: ALLOWED },
  { who: 'StateMachine', does: 'states:StartExecution', on: arn(OTHER_STATE_MACHINE), expect: DENIED },
  { who: 'StateMachine', does: 'secretsmanager:GetSecretValue', on: SECRET, expect: DENIED },
  { who: 'Scheduler', does: 'states:StartExecution', on: { kind: 'stateMachine' }, expect: ALLOWED },
  { who: 'Scheduler', does: 'states:StartExecution', on: arn(OTHER_STATE_MACHINE), expect: DENIED },

  // Nobody writes outside the prefix (a sibling `exports-old/` included), without TLS, or under another
  // encryption or key. A put naming aws:kms without a key gets the bucket default, the stack key.
  { who: 'Plan', does: 's3:PutObject', on: outside(`other/${planKey(ORDERS)}`), expect: DENIED },
  { who: 'Plan', does: 's3:PutObject', on: outside(`exports-old/${planKey(ORDERS)}`), expect: DENIED },
  { who: 'Export', does: 's3:PutObject', on: outside(`other/${PART}`), expect: DENIED },
  { who: 'Export', does: 's3:PutObject', on: outside(`exports-old/${PART}`), expect: DENIED },
  { who: 'Commit', does: 's3:PutObject', on: outside(`other/${successKey(ORDERS)}`), expect: DENIED },
  { who: 'Commit', does: 's3:PutObject', on: outside(latestKey(`exports-old/${ORDERS}`)), expect: DENIED },
  { who: 'Holder', does: 's3:PutObject', on: outside(HELD), expect: DENIED },
  { who: 'Holder', does: 's3:PutObject', on: outside(`exports-old/${HELD}`), expect: DENIED },
  { who: 'Holder', does: 's3:GetObject', on: outside(`other/${HELD}`), expect: DENIED },
  { who: 'Plan', does: 's3:PutObject', on: under(planKey(ORDERS)), with: NO_TLS, expect: REFUSED },
  { who: 'Export', does: 's3:PutObject', on: under(PART), with: NO_TLS, expect: REFUSED },
  { who: 'Export', does: 's3:GetObject', on: under(planKey(ORDERS)), with: NO_TLS, expect: REFUSED },
  { who: 'Commit', does: 's3:DeleteObject', on: under(PART), with: NO_TLS, expect: REFUSED },
  { who: 'Commit', does: 's3:ListBucket', on: BUCKET, with: { ...prefix(`exports/${ORDERS}/`), ...NO_TLS }, expect: REFUSED },
  { who: 'Holder', does: 's3:PutObject', on: under(HELD), with: NO_TLS, expect: REFUSED },
  { who: 'Plan', does: 's3:GetObject', on: under(HELD), with: NO_TLS, expect: REFUSED },
  { who: 'StateMachine', does: 's3:GetObject', on: under(shardListKey(RUN_ID)), with: { 's3:TlsVersion': '1.1' }, expect: REFUSED },
  { who: 'Plan', does: 's3:PutObject', on: under(planKey(ORDERS)), with: { 's3:x-amz-server-side-encryption': 'AES256', 's3:x-amz-server-side-encryption-aws-kms-key-id': null }, expect: REFUSED },
  { who: 'Export', does: 's3:PutObject', on: under(PART), with: { 's3:x-amz-server-side-encryption': 'AES256', 's3:x-amz-server-side-encryption-aws-kms-key-id': null }, expect: REFUSED },
  { who: 'Export', does: 's3:PutObject', on: under(PART), with: { 's3:x-amz-server-side-encryption-aws-kms-key-id': OTHER_KEY }, expect: REFUSED },
  { who: 'Holder', does: 's3:PutObject', on: under(HELD), with: { 's3:x-amz-server-side-encryption': 'AES256', 's3:x-amz-server-side-encryption-aws-kms-key-id': null }, expect: REFUSED },
  { who: 'Holder', does: 's3:PutObject', on: under(RELEASED), with: { 's3:x-amz-server-side-encryption-aws-kms-key-id': OTHER_KEY }, expect: REFUSED },
  { who: 'Commit', does: 's3:PutObject', on: under(successKey(ORDERS)), with: { 's3:x-amz-server-side-encryption': 'aws:kms:dsse' }, expect: REFUSED },
  { who: 'Commit', does: 's3:PutObject', on: under(successKey(ORDERS)), with: { 's3:x-amz-server-side-encryption-aws-kms-key-id': null }, expect: ALLOWED },

  // Another account, even with every right in its own account, gets nothing from the bucket, key or topic.
  { who: 'OtherAccountAdmin', does: 's3:GetObject', on: under(planKey(ORDERS)), expect: DENIED },
  { who: 'OtherAccountAdmin', does: 's3:PutObject', on: under(PART), expect: DENIED },
  { who: 'OtherAccountAdmin', does: 's3:GetObject', on: under(HELD), expect: DENIED },
  { who: 'OtherAccountAdmin', does: 's3:ListBucket', on: BUCKET, with: prefix('exports/'), expect: DENIED },
  { who: 'OtherAccountAdmin', does: 'kms:Decrypt', on: KEY, with: VIA_S3, expect: DENIED },
  { who: 'OtherAccountAdmin', does: 'sns:Publish', on: TOPIC, expect: DENIED },
  { who: 'OtherAccountAdmin', does: 'sts:AssumeRole', on: role('export'), expect: DENIED },

  // Alarms: CloudWatch alarms of this account may publish to the (KMS-encrypted) topic and use the key for
  // it; another account's alarms, other services and the account's own roles may not.
  { who: 'cloudwatch.amazonaws.com', does: 'sns:Publish', on: TOPIC, with: FROM_ALARM, expect: ALLOWED },
  { who: 'cloudwatch.amazonaws.com', does: 'sns:Publish', on: TOPIC, with: FROM_OTHER_ACCOUNT, expect: DENIED },
  { who: 'cloudwatch.amazonaws.com', does: 'sns:Publish', on: TOPIC, with: { ...FROM_ALARM, 'aws:SourceArn': `arn:aws:cloudwatch:us-east-1:${ACCOUNT}:alarm:x` }, expect: DENIED },
  { who: 'cloudwatch.amazonaws.com', does: 'sns:Publish', on: TOPIC, with: { ...FROM_ALARM, ...NO_TLS }, expect: REFUSED },
  { who: 'events.amazonaws.com', does: 'sns:Publish', on: TOPIC, with: { 'aws:SourceAccount': ACCOUNT, 'aws:SourceArn': `arn:aws:events:${REGION}:${ACCOUNT}:rule/x` }, expect: DENIED },
  { who: 'Commit', does: 'sns:Publish', on: TOPIC, expect: DENIED },
  { who: 'cloudwatch.amazonaws.com', does: 'kms:GenerateDataKey', on: KEY, with: { 'aws:SourceAccount': ACCOUNT }, expect: ALLOWED },
  { who: 'cloudwatch.amazonaws.com', does: 'kms:Decrypt', on: KEY, with: { 'aws:SourceAccount': ACCOUNT }, expect: ALLOWED },
  { who: 'cloudwatch.amazonaws.com', does: 'kms:GenerateDataKey', on: KEY, with: { 'aws:SourceAccount': OTHER_ACCOUNT }, expect: DENIED },

  // Server access logs: S3's log delivery may write the export bucket's logs, under their prefix only.
  { who: 'logging.s3.amazonaws.com', does: 's3:PutObject', on: { kind: 'accessLog', key: 'export-bucket/2025-01-01-02-00-00-ABCDEF' }, with: { ...NO_SSE, 'aws:SourceAccount': ACCOUNT }, expect: ALLOWED },
  { who: 'logging.s3.amazonaws.com', does: 's3:PutObject', on: { kind: 'accessLog', key: 'elsewhere/2025-01-01-02-00-00-ABCDEF' }, with: { ...NO_SSE, 'aws:SourceAccount': ACCOUNT }, expect: DENIED },

  // Trust: Lambda may assume the function roles, Step Functions (this account's state machines) the state
  // machine role, the Scheduler (this account's default group) its role; none the others'.
  { who: 'lambda.amazonaws.com', does: 'sts:AssumeRole', on: role('plan'), expect: ALLOWED },
  { who: 'lambda.amazonaws.com', does: 'sts:AssumeRole', on: role('export'), expect: ALLOWED },
  { who: 'lambda.amazonaws.com', does: 'sts:AssumeRole', on: role('commit'), expect: ALLOWED },
  { who: 'lambda.amazonaws.com', does: 'sts:AssumeRole', on: role('holder'), expect: ALLOWED },
  { who: 'lambda.amazonaws.com', does: 'sts:AssumeRole', on: role('failure'), expect: ALLOWED },
  { who: 'states.amazonaws.com', does: 'sts:AssumeRole', on: role('failure'), with: { 'aws:SourceAccount': ACCOUNT, 'aws:SourceArn': THIS_STATE_MACHINE }, expect: DENIED },
  { who: 'lambda.amazonaws.com', does: 'sts:AssumeRole', on: role('stateMachine'), expect: DENIED },
  { who: 'states.amazonaws.com', does: 'sts:AssumeRole', on: role('stateMachine'), with: { 'aws:SourceAccount': ACCOUNT, 'aws:SourceArn': THIS_STATE_MACHINE }, expect: ALLOWED },
  { who: 'states.amazonaws.com', does: 'sts:AssumeRole', on: role('stateMachine'), with: { 'aws:SourceAccount': OTHER_ACCOUNT, 'aws:SourceArn': `arn:aws:states:${REGION}:${OTHER_ACCOUNT}:stateMachine:theirs` }, expect: DENIED },
  { who: 'states.amazonaws.com', does: 'sts:AssumeRole', on: role('plan'), with: { 'aws:SourceAccount': ACCOUNT, 'aws:SourceArn': THIS_STATE_MACHINE }, expect: DENIED },
  { who: 'states.amazonaws.com', does: 'sts:AssumeRole', on: role('export'), with: { 'aws:SourceAccount': ACCOUNT, 'aws:SourceArn': THIS_STATE_MACHINE }, expect: DENIED },
  { who: 'states.amazonaws.com', does: 'sts:AssumeRole', on: role('holder'), with: { 'aws:SourceAccount': ACCOUNT, 'aws:SourceArn': THIS_STATE_MACHINE }, expect: DENIED },
  { who: 'scheduler.amazonaws.com', does: 'sts:AssumeRole', on: role('scheduler'), with: { 'aws:SourceAccount': ACCOUNT, 'aws:SourceArn': `arn:aws:scheduler:${REGION}:${ACCOUNT}:schedule-group/default` }, expect: ALLOWED },
  { who: 'scheduler.amazonaws.com', does: 'sts:AssumeRole', on: role('commit'), with: { 'aws:SourceAccount': ACCOUNT, 'aws:SourceArn': `arn:aws:scheduler:${REGION}:${ACCOUNT}:schedule-group/default` }, expect: DENIED },
];

/** The defaults (`{}`): the stack creates the secret, encrypted with the stack key, usable through Secrets Manager. */
const CREATED_SECRET_MATRIX: readonly Row[] = [
  { who: 'Plan', does: 'secretsmanager:GetSecretValue', on: SECRET, expect: ALLOWED },
  { who: 'Export', does: 'secretsmanager:GetSecretValue', on: SECRET, expect: ALLOWED },
  { who: 'Holder', does: 'secretsmanager:GetSecretValue', on: SECRET, expect: ALLOWED },
  { who: 'Commit', does: 'secretsmanager:GetSecretValue', on: SECRET, expect: DENIED },
  // No catalog configured: Commit has no Glue rights at all.
  { who: 'Commit', does: 'glue:GetTable', on: glueArn('table/pgsip_lake/public_orders'), expect: DENIED },
  { who: 'Commit', does: 'glue:CreateTable', on: glueArn('table/pgsip_lake/public_orders'), expect: DENIED },
  { who: 'Commit', does: 'glue:CreateDatabase', on: glueArn('database/pgsip_lake'), expect: DENIED },
  { who: 'Plan', does: 'secretsmanager:DescribeSecret', on: SECRET, expect: DENIED },
  { who: 'Plan', does: 'kms:Decrypt', on: KEY, with: VIA_SECRETS, expect: ALLOWED },
  { who: 'Export', does: 'kms:Decrypt', on: KEY, with: VIA_SECRETS, expect: ALLOWED },
  { who: 'Holder', does: 'kms:Decrypt', on: KEY, with: VIA_SECRETS, expect: ALLOWED },
  { who: 'Commit', does: 'kms:Decrypt', on: KEY, with: VIA_SECRETS, expect: DENIED },
  { who: 'StateMachine', does: 'kms:Decrypt', on: KEY, with: VIA_SECRETS, expect: DENIED },
  { who: 'Plan', does: 'kms:GenerateDataKey', on: KEY, with: VIA_SECRETS, expect: DENIED },
  { who: 'Export', does: 'kms:Decrypt', on: KEY, with: { 'kms:ViaService': 'secretsmanager.us-east-1.amazonaws.com' }, expect: DENIED },
  { who: 'Export', does: 'kms:Decrypt', on: KEY, expect: DENIED }, // called directly
  // The S3 side is the same as the example's.
  { who: 'Plan', does: 's3:PutObject', on: under(planKey(ORDERS)), expect: ALLOWED },
  { who: 'Export', does: 's3:PutObject', on: under(successKey(ORDERS)), expect: DENIED },
  { who: 'Commit', does: 's3:PutObject', on: under(successKey(ORDERS)), expect: ALLOWED },
  { who: 'Holder', does: 's3:PutObject', on: under(HELD), expect: ALLOWED },
  { who: 'Holder', does: 's3:PutObject', on: under(PART), expect: DENIED },
];

// Iceberg tables in an S3 Tables table bucket (the example plus `tableBucketArn`). S3 Tables names a table
// by an id it assigns, in ARNs; its objects (data, metadata) are authorized as s3tables:GetTableData and
// PutTableData on the table.
const TABLE_BUCKET = `arn:aws:s3tables:${REGION}:${ACCOUNT}:bucket/pgsip-lake`;
const S3_TABLE = arn(`${TABLE_BUCKET}/table/0f1e2d3c-4b5a-4697-8887-a9b8c7d6e5f4`);
const OTHER_BUCKET_TABLE = arn(`arn:aws:s3tables:${REGION}:${ACCOUNT}:bucket/finance/table/11111111-2222-4333-8444-555555555555`);
const S3_TABLES_MATRIX: readonly Row[] = [
  // Plan: creates the namespace and the table, reads where its files go and its current metadata.
  { who: 'Plan', does: 's3tables:CreateNamespace', on: arn(TABLE_BUCKET), expect: ALLOWED },
  { who: 'Plan', does: 's3tables:CreateTable', on: arn(TABLE_BUCKET), expect: ALLOWED },
  { who: 'Plan', does: 's3tables:GetTableMetadataLocation', on: S3_TABLE, expect: ALLOWED },
  { who: 'Plan', does: 's3tables:GetTableData', on: S3_TABLE, expect: ALLOWED },
  { who: 'Plan', does: 's3tables:PutTableData', on: S3_TABLE, expect: DENIED },
  { who: 'Plan', does: 's3tables:UpdateTableMetadataLocation', on: S3_TABLE, expect: DENIED },
  // Export: writes the table's data files, and nothing else of S3 Tables.
  { who: 'Export', does: 's3tables:PutTableData', on: S3_TABLE, expect: ALLOWED },
  { who: 'Export', does: 's3tables:GetTableData', on: S3_TABLE, expect: DENIED },
  { who: 'Export', does: 's3tables:UpdateTableMetadataLocation', on: S3_TABLE, expect: DENIED },
  { who: 'Export', does: 's3tables:CreateTable', on: arn(TABLE_BUCKET), expect: DENIED },
  // Commit: reads and writes the table's files, swaps its metadata location; creates nothing, deletes nothing.
  { who: 'Commit', does: 's3tables:GetTableMetadataLocation', on: S3_TABLE, expect: ALLOWED },
  { who: 'Commit', does: 's3tables:UpdateTableMetadataLocation', on: S3_TABLE, expect: ALLOWED },
  { who: 'Commit', does: 's3tables:GetTableData', on: S3_TABLE, expect: ALLOWED },
  { who: 'Commit', does: 's3tables:PutTableData', on: S3_TABLE, expect: ALLOWED },
  { who: 'Commit', does: 's3tables:CreateTable', on: arn(TABLE_BUCKET), expect: DENIED },
  { who: 'Commit', does: 's3tables:DeleteTable', on: S3_TABLE, expect: DENIED },
  { who: 'Commit', does: 's3tables:PutTablePolicy', on: S3_TABLE, expect: DENIED },
  { who: 'Plan', does: 's3tables:DeleteNamespace', on: arn(TABLE_BUCKET), expect: DENIED },
  { who: 'Plan', does: 's3tables:PutTableBucketPolicy', on: arn(TABLE_BUCKET), expect: DENIED },
  // Another table bucket's tables: nobody.
  { who: 'Commit', does: 's3tables:UpdateTableMetadataLocation', on: OTHER_BUCKET_TABLE, expect: DENIED },
  { who: 'Export', does: 's3tables:PutTableData', on: OTHER_BUCKET_TABLE, expect: DENIED },
  { who: 'Plan', does: 's3tables:CreateTable', on: arn(`arn:aws:s3tables:${REGION}:${ACCOUNT}:bucket/finance`), expect: DENIED },
  // Neither the holder nor the failure function touches S3 Tables.
  { who: 'Holder', does: 's3tables:GetTableData', on: S3_TABLE, expect: DENIED },
  { who: 'Failure', does: 's3tables:GetTableMetadataLocation', on: S3_TABLE, expect: DENIED },
];

/** A synthesized stack, as the evaluation sees it. */
interface Deployment {
  readonly iam: IamTemplate;
  /** The roles of the stack and a stranger; Scheduler only where the config has schedules. */
  readonly principals: Readonly<Partial<Record<Exclude<Who, `${string}.amazonaws.com`>, RequestPrincipal>>>;
  readonly roles: Readonly<Partial<Record<Extract<Target, { kind: 'role' }>['of'], string>>>;
  readonly arns: {
    readonly bucket: string;
    readonly accessLogs?: string;
    readonly key: string;
    readonly topic: string;
    readonly secret: string;
    readonly stateMachine: string;
    readonly stateMachineName: string;
    readonly functions: Readonly<Record<FunctionKind, string>>;
    readonly logGroups: Readonly<Record<FunctionKind, string>>;
  };
}

function deploy(props: PgsipStackProps, change?: (stack: PgsipStack) => void): Deployment {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = buildApp(app, props);
  change?.(stack);
  const json = Template.fromStack(stack).toJSON() as { Resources: Record<string, { Type: string; Properties?: Record<string, Json> }> };
  const iam = new IamTemplate(json, { ...TEST_ENVIRONMENT, stackName: stack.stackName });
  const id = (c: { node: { defaultChild?: unknown } }) => stack.getLogicalId(c.node.defaultChild as Parameters<PgsipStack['getLogicalId']>[0]);
  const fnIds = {
    plan: id(stack.planFunction),
    export: id(stack.exportFunction),
    commit: id(stack.commitFunction),
    holder: id(stack.export.holderFunction),
    failure: id(stack.export.failureFunction),
  };
  const machineId = id(stack.exportStateMachine.stateMachine);
  const schedule = Object.values(json.Resources).find((r) => r.Type === 'AWS::Scheduler::Schedule');
  const schedulerRoleId = (schedule?.Properties?.Target as { RoleArn?: { 'Fn::GetAtt'?: [string, string] } } | undefined)?.RoleArn?.['Fn::GetAtt']?.[0];
  const logGroupOf = (fnId: string) => {
    const logging = json.Resources[fnId].Properties?.LoggingConfig as { LogGroup?: Json } | undefined;
    const name = logging?.LogGroup === undefined ? undefined : iam.resolve(logging.LogGroup, `${fnId}.LoggingConfig.LogGroup`);
    if (typeof name !== 'string') throw new Error(`${fnId} names no log group`);
    return name;
  };
  const asPrincipal = (r: RequestPrincipal): RequestPrincipal => ({ arn: r.arn, identityPolicies: r.identityPolicies });
  const plan = iam.roleOf(fnIds.plan);
  const exp = iam.roleOf(fnIds.export);
  const commit = iam.roleOf(fnIds.commit);
  const holder = iam.roleOf(fnIds.holder);
  const failure = iam.roleOf(fnIds.failure);
  const machine = iam.roleOf(machineId);
  const scheduler = schedulerRoleId === undefined ? undefined : iam.roles.get(schedulerRoleId);
  const everything = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] };
  return {
    iam,
    principals: {
      Plan: asPrincipal(plan),
      Export: asPrincipal(exp),
      Commit: asPrincipal(commit),
      Holder: asPrincipal(holder),
      Failure: asPrincipal(failure),
      StateMachine: asPrincipal(machine),
      ...(scheduler ? { Scheduler: asPrincipal(scheduler) } : {}),
      OtherAccountAdmin: { arn: `arn:aws:iam::${OTHER_ACCOUNT}:role/admin`, identityPolicies: [{ name: 'their AdministratorAccess', policy: everything }] },
    },
    roles: { plan: plan.arn, export: exp.arn, commit: commit.arn, holder: holder.arn, failure: failure.arn, stateMachine: machine.arn, ...(scheduler ? { scheduler: scheduler.arn } : {}) },
    arns: {
      bucket: iam.getAtt(id(stack.bucket), 'Arn'),
      accessLogs: stack.accessLogsBucket ? iam.getAtt(id(stack.accessLogsBucket), 'Arn') : undefined,
      key: iam.getAtt(id(stack.key), 'Arn'),
      topic: iam.ref(id(stack.monitoring.topic)),
      secret: props.databaseSecretArn ?? iam.ref(id(stack.databaseSecret)),
      stateMachine: iam.ref(machineId),
      stateMachineName: iam.getAtt(machineId, 'Name'),
      functions: Object.fromEntries(Object.entries(fnIds).map(([kind, fnId]) => [kind, iam.getAtt(fnId, 'Arn')])) as Record<FunctionKind, string>,
      logGroups: Object.fromEntries(Object.entries(fnIds).map(([kind, fnId]) => [kind, logGroupOf(fnId)])) as Record<FunctionKind, string>,
    },
  };
}

function resourceArn(d: Deployment, target: Target): string {
  switch (target.kind) {
    case 'object':
      return `${d.arns.bucket}/${target.key}`;
    case 'bucket':
      return d.arns.bucket;
    case 'accessLog':
      if (!d.arns.accessLogs) throw new Error('this stack has no access-log bucket');
      return `${d.arns.accessLogs}/${target.key}`;
    case 'kmsKey':
      return d.arns.key;
    case 'topic':
      return d.arns.topic;
    case 'secret':
      return d.arns.secret;
    case 'stateMachine':
      return d.arns.stateMachine;
    case 'states':
      return target.arn.replace('<name>', d.arns.stateMachineName);
    case 'function':
      return d.arns.functions[target.fn];
    case 'logStream':
      return `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:${d.arns.logGroups[target.fn]}:log-stream:2025/01/01/[$LATEST]0123456789abcdef`;
    case 'role': {
      // A row about a role the stack does not have would be denied for nothing and prove nothing.
      const roleArn = d.roles[target.of];
      if (!roleArn) throw new Error(`this stack has no ${target.of} role`);
      return roleArn;
    }
    case 'arn':
      return target.arn;
  }
}

/**
 * The context AWS sends with the request: TLS always (the simulator assumes nothing); for S3 the TLS version,
 * and on a put the SSE headers the handlers send; for the log delivery the bucket it delivers for.
 */
function defaultContext(d: Deployment, row: Row): Record<string, string | readonly string[]> {
  const context: Record<string, string | readonly string[]> = { 'aws:SecureTransport': 'true' };
  if (row.does.startsWith('s3:')) context['s3:TlsVersion'] = '1.3';
  if (row.does === 's3:PutObject') {
    context['s3:x-amz-server-side-encryption'] = 'aws:kms';
    context['s3:x-amz-server-side-encryption-aws-kms-key-id'] = d.arns.key;
  }
  if (row.who === 'logging.s3.amazonaws.com') context['aws:SourceArn'] = d.arns.bucket;
  for (const [k, v] of Object.entries(row.with ?? {})) {
    if (v === null) delete context[k];
    else context[k] = v === THIS_STATE_MACHINE ? d.arns.stateMachine : v;
  }
  return context;
}

const label = (row: Row) => `${row.who} ${row.does} ${describeTarget(row.on)}${row.with ? ` ${JSON.stringify(row.with)}` : ''}`;

function describeTarget(t: Target): string {
  switch (t.kind) {
    case 'object':
      return t.key;
    case 'accessLog':
      return `access-logs:${t.key}`;
    case 'function':
      return `${t.fn} function`;
    case 'logStream':
      return `${t.fn} log stream`;
    case 'role':
      return `${t.of} role`;
    case 'arn':
    case 'states':
      return t.arn;
    default:
      return t.kind;
  }
}

interface Mismatch {
  readonly row: string;
  readonly problem: string;
  /** The statements that decided, as the engine reports them. */
  readonly reasons: string;
}

/** Every row whose answer is not the expected one, or whose request carried a key the engine ignored. */
async function mismatches(d: Deployment, matrix: readonly Row[]): Promise<Mismatch[]> {
  const found: Mismatch[] = [];
  for (const row of matrix) {
    const resource = resourceArn(d, row.on);
    const principal = row.who.endsWith('.amazonaws.com') ? { arn: row.who, identityPolicies: [] } : d.principals[row.who as keyof Deployment['principals']];
    if (!principal) throw new Error(`${label(row)}: this stack has no ${row.who} role`);
    const evaluation = await evaluate({
      principal,
      action: row.does,
      resource,
      resourceAccount: ACCOUNT,
      context: defaultContext(d, row),
      resourcePolicy: d.iam.resourcePolicyFor(resource),
    });
    if (evaluation.outcome !== row.expect) found.push({ row: label(row), problem: `expected ${row.expect}, got ${evaluation.outcome}`, reasons: evaluation.reasons });
    if (evaluation.ignoredContextKeys.length > 0) found.push({ row: label(row), problem: `context keys ignored: ${evaluation.ignoredContextKeys.join(', ')}`, reasons: '' });
  }
  return found;
}

/** Every policy document the evaluation reads, named by where it comes from. */
function everyPolicy(d: Deployment): NamedPolicy[] {
  return [
    ...[...d.iam.roles.values()].flatMap((r) => [...r.identityPolicies, { name: `${r.logicalId} trust policy`, policy: r.trustPolicy }]),
    ...[...d.iam.bucketPolicies, ...d.iam.keyPolicies, ...d.iam.topicPolicies].map(([name, policy]) => ({ name, policy })),
  ];
}

const report = (found: readonly Mismatch[]) => found.map((m) => `${m.row}: ${m.problem} ${m.reasons}`);

describe('least privilege, by evaluation (example config)', () => {
  const example = deploy(EXAMPLE);

  it('reads policies whose every action, condition operator and condition key exists', async () => {
    const vocabulary = await policyVocabulary(everyPolicy(example));
    expect(vocabulary.problems).toEqual([]);
    // The only wildcards: the key policy's delegation to the account, CloudWatch's GenerateDataKey*, the TLS denies.
    expect(vocabulary.wildcardActions).toEqual(['kms:*', 'kms:GenerateDataKey*', 's3:*']);
  });

  it('finds the resource policies the matrix relies on, and a role behind every principal', () => {
    expect([...example.iam.bucketPolicies.keys()].sort()).toEqual([example.arns.accessLogs, example.arns.bucket].sort());
    expect([...example.iam.keyPolicies.keys()]).toEqual([example.arns.key]);
    expect([...example.iam.topicPolicies.keys()]).toEqual([example.arns.topic]);
    for (const name of ['Plan', 'Export', 'Commit', 'Holder', 'Failure', 'StateMachine', 'Scheduler'] as const) {
      expect(example.principals[name]?.identityPolicies.length, name).toBeGreaterThan(0);
    }
  });

  it(`answers every row of the matrix (${MATRIX.length} requests) as specified, with no context key ignored`, async () => {
    expect(report(await mismatches(example, MATRIX))).toEqual([]);
  });

  it('reports exactly the rows a widened grant breaks (the matrix can fail)', async () => {
    // One statement too many: Export may put anything under the prefix.
    const widened = deploy(EXAMPLE, (stack) => {
      stack.exportFunction.addToRolePolicy(new PolicyStatement({ actions: ['s3:PutObject'], resources: [stack.bucket.arnForObjects('exports/*')] }));
    });
    const broken = await mismatches(widened, MATRIX);
    expect(broken.map((m) => `${m.row}: ${m.problem}`)).toEqual([
      `Export s3:PutObject exports/${successKey(ORDERS)}: expected ImplicitlyDenied, got Allowed`,
      `Export s3:PutObject exports/${manifestKey(ORDERS)}: expected ImplicitlyDenied, got Allowed`,
      `Export s3:PutObject exports/${latestKey(ORDERS)}: expected ImplicitlyDenied, got Allowed`,
      `Export s3:PutObject exports/${planKey(ORDERS)}: expected ImplicitlyDenied, got Allowed`,
      `Export s3:PutObject exports/${shardListKey(RUN_ID)}: expected ImplicitlyDenied, got Allowed`,
      `Export s3:PutObject exports/${HELD}: expected ImplicitlyDenied, got Allowed`,
      `Export s3:PutObject exports/${RELEASED}: expected ImplicitlyDenied, got Allowed`,
      `Export s3:PutObject exports/${ICEBERG_DELETES}: expected ImplicitlyDenied, got Allowed`,
      `Export s3:PutObject exports/${ICEBERG_METADATA}: expected ImplicitlyDenied, got Allowed`,
    ]);
  });
});

describe('least privilege, by evaluation (Iceberg tables in an S3 Tables table bucket)', () => {
  const withTableBucket = deploy({ ...EXAMPLE, tableBucketArn: TABLE_BUCKET });

  it('reads policies whose every action, condition operator and condition key exists', async () => {
    expect((await policyVocabulary(everyPolicy(withTableBucket))).problems).toEqual([]);
  });

  it(`answers every row of the S3 Tables matrix (${S3_TABLES_MATRIX.length} requests) and of the example's as specified`, async () => {
    expect(report(await mismatches(withTableBucket, S3_TABLES_MATRIX))).toEqual([]);
    expect(report(await mismatches(withTableBucket, MATRIX))).toEqual([]);
  });

  it('grants no S3 Tables action where no table bucket is configured', async () => {
    const without = S3_TABLES_MATRIX.filter((r) => r.expect === ALLOWED).map((r) => ({ ...r, expect: DENIED }));
    expect(report(await mismatches(deploy(EXAMPLE), without))).toEqual([]);
  });
});

describe('least privilege, by evaluation (defaults: the stack creates the secret)', () => {
  const defaults = deploy({});

  it('reads policies whose every action, condition operator and condition key exists', async () => {
    const vocabulary = await policyVocabulary(everyPolicy(defaults));
    expect(vocabulary.problems).toEqual([]);
    // CDK's key policy statements for a secret encrypted with the key add kms:ReEncrypt*, via Secrets Manager only.
    expect(vocabulary.wildcardActions).toEqual(['kms:*', 'kms:GenerateDataKey*', 'kms:ReEncrypt*', 's3:*']);
  });

  it(`answers every row of the created-secret matrix (${CREATED_SECRET_MATRIX.length} requests) as specified`, async () => {
    expect(report(await mismatches(defaults, CREATED_SECRET_MATRIX))).toEqual([]);
  });
});

describe('the evaluation helpers refuse to prove nothing', () => {
  const doc = (statement: Record<string, Json>): PolicyDocument => ({ Version: '2012-10-17', Statement: [statement] });

  it('name a misspelled action, condition operator or condition key, which the engine would silently never match', async () => {
    const vocabulary = await policyVocabulary([
      { name: 'typos', policy: doc({ Effect: 'Allow', Action: ['s3:PutObjekt', 's3:Get*'], Resource: '*', Condition: { StringEqual: { 'aws:SourceAcount': 'x' } } }) },
    ]);
    expect(vocabulary.problems).toEqual([
      'typos Statement[0]: unknown action s3:PutObjekt',
      'typos Statement[0]: unknown condition operator StringEqual',
      'typos Statement[0]: unknown condition key aws:SourceAcount',
    ]);
    expect(vocabulary.wildcardActions).toEqual(['s3:Get*']);
  });

  it('return the context keys the engine ignored, and refuse a resource pattern', async () => {
    const request = {
      principal: { arn: `arn:aws:iam::${ACCOUNT}:role/r`, identityPolicies: [{ name: 'p', policy: doc({ Effect: 'Allow', Action: 's3:GetObject', Resource: '*' }) }] },
      action: 's3:GetObject',
      resource: 'arn:aws:s3:::b/k',
      resourceAccount: ACCOUNT,
      context: { 'aws:SecureTransport': 'true', 's3:prefix': 'k' },
      resourcePolicy: undefined,
    };
    expect(await evaluate(request)).toMatchObject({ outcome: 'Allowed', ignoredContextKeys: ['s3:prefix'] });
    await expect(evaluate({ ...request, resource: 'arn:aws:s3:::b/*' })).rejects.toThrow(/one resource, not a pattern/);
  });
});

describe('iam-template', () => {
  const template = (properties: Record<string, Json>) => ({
    Resources: {
      Role: { Type: 'AWS::IAM::Role', Properties: { AssumeRolePolicyDocument: { Version: '2012-10-17', Statement: [] } } },
      Policy: { Type: 'AWS::IAM::Policy', Properties: { Roles: [{ Ref: 'Role' }], PolicyDocument: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 's3:GetObject', ...properties }] } } },
    },
  });
  const env = { ...TEST_ENVIRONMENT, stackName: 'T' };

  it('resolves Join, Select, Split, GetAtt, Ref and pseudo parameters to concrete values', () => {
    const iam = new IamTemplate(
      template({ Resource: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':s3:::b-', { 'Fn::Select': [1, { 'Fn::Split': [':', { 'Fn::GetAtt': ['Role', 'Arn'] }] }] }, '/*']] } }),
      env,
    );
    expect(iam.roles.get('Role')?.identityPolicies[0].policy.Statement[0].Resource).toBe('arn:aws:s3:::b-aws/*');
  });

  it('fails loudly on an intrinsic or an attachment it cannot resolve, naming where', () => {
    expect(() => new IamTemplate(template({ Resource: { 'Fn::ImportValue': 'SharedBucketArn' } }), env)).toThrow(/Fn::ImportValue at Policy\.PolicyDocument\.Statement\[0\]\.Resource/);
    expect(() => new IamTemplate(template({ Resource: { Ref: 'BucketNameParameter' } }), env)).toThrow(/no resource BucketNameParameter/);
    const managed = template({ Resource: '*' });
    (managed.Resources.Role.Properties as Record<string, Json>).ManagedPolicyArns = ['arn:aws:iam::aws:policy/AdministratorAccess'];
    expect(() => new IamTemplate(managed, env)).toThrow(/ManagedPolicyArns/);
    const permission = { Resources: { ...template({ Resource: '*' }).Resources, P: { Type: 'AWS::Lambda::Permission', Properties: {} } } };
    expect(() => new IamTemplate(permission, env)).toThrow(/AWS::Lambda::Permission/);
  });
});
