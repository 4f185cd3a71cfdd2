import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { buildApp, propsFromContext } from '../../lib/pgsip-app';
import type { PgsipStack, PgsipStackProps } from '../../lib/pgsip-stack';
import { LAMBDA_NODE_MAJOR } from '../../lib/pgsip-function';
import { definitionFromTemplate } from '../../lib/state-machine-definition';

type Json = any;

function synth(props: PgsipStackProps = {}) {
  // Bundling skipped: these tests look at the template, not the code asset.
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = buildApp(app, props);
  const template = Template.fromStack(stack);
  return { stack, template, json: template.toJSON() as Json };
}

function logicalIdOf(stack: PgsipStack, construct: { node: { defaultChild?: unknown } }): string {
  return stack.getLogicalId(construct.node.defaultChild as any);
}

/** Every statement of every policy attached to the role of `fn` (inline default policy and managed policies). */
function roleStatements(json: Json, functionLogicalId: string): Json[] {
  const roleRef = json.Resources[functionLogicalId].Properties.Role['Fn::GetAtt'][0];
  const statements: Json[] = [];
  for (const r of Object.values<Json>(json.Resources)) {
    if (r.Type === 'AWS::IAM::Policy' && r.Properties.Roles.some((x: Json) => x.Ref === roleRef)) {
      statements.push(...r.Properties.PolicyDocument.Statement);
    }
  }
  return statements;
}

const asList = <T>(x: T | T[]): T[] => (Array.isArray(x) ? x : [x]);

describe('PgsipStack', () => {
  const { stack, template, json } = synth();
  const keyId = logicalIdOf(stack, stack.key);
  const bucketId = logicalIdOf(stack, stack.bucket);
  const functions = {
    plan: logicalIdOf(stack, stack.planFunction),
    export: logicalIdOf(stack, stack.exportFunction),
    commit: logicalIdOf(stack, stack.commitFunction),
    holder: logicalIdOf(stack, stack.export.holderFunction),
    failure: logicalIdOf(stack, stack.export.failureFunction),
  };

  it('has a rotating KMS key, retained', () => {
    template.hasResource('AWS::KMS::Key', { Properties: { EnableKeyRotation: true }, DeletionPolicy: 'Retain' });
  });

  it('encrypts the bucket with aws:kms under the stack key, with a bucket key, and blocks public access', () => {
    template.hasResource('AWS::S3::Bucket', {
      DeletionPolicy: 'Retain',
      Properties: {
        BucketEncryption: {
          ServerSideEncryptionConfiguration: [
            {
              BucketKeyEnabled: true,
              ServerSideEncryptionByDefault: {
                SSEAlgorithm: 'aws:kms',
                KMSMasterKeyID: { 'Fn::GetAtt': [keyId, 'Arn'] },
              },
            },
          ],
        },
        PublicAccessBlockConfiguration: {
          BlockPublicAcls: true,
          BlockPublicPolicy: true,
          IgnorePublicAcls: true,
          RestrictPublicBuckets: true,
        },
        LifecycleConfiguration: {
          Rules: [
            Match.objectLike({ AbortIncompleteMultipartUpload: { DaysAfterInitiation: 7 }, Status: 'Enabled' }),
            // Each execution's held-snapshot files (a few bytes) outlive it; nothing reads them once it has ended.
            { Id: 'ExpireHeldSnapshotFiles', Prefix: 'exports/_runs/_snapshots/', ExpirationInDays: 7, Status: 'Enabled' },
          ],
        },
        VersioningConfiguration: Match.absent(),
        LoggingConfiguration: { DestinationBucketName: { Ref: Match.stringLikeRegexp('^AccessLogsBucket') }, LogFilePrefix: 'export-bucket/' },
      },
    });
  });

  it('delivers access logs to a private, TLS-only, SSE-S3 bucket under a bucket policy', () => {
    template.resourceCountIs('AWS::S3::Bucket', 2);
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
      PublicAccessBlockConfiguration: Match.objectLike({ BlockPublicAcls: true, RestrictPublicBuckets: true }),
      OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
    });
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: Match.stringLikeRegexp('^AccessLogsBucket') },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          Match.objectLike({ Effect: 'Allow', Principal: { Service: 'logging.s3.amazonaws.com' }, Action: 's3:PutObject' }),
        ]),
      },
    });
  });

  it('denies puts that ask for another encryption or another KMS key', () => {
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: bucketId },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Sid: 'DenyOtherEncryption',
            Effect: 'Deny',
            Action: 's3:PutObject',
            Condition: {
              StringNotEquals: { 's3:x-amz-server-side-encryption': 'aws:kms' },
              Null: { 's3:x-amz-server-side-encryption': 'false' },
            },
          }),
          Match.objectLike({
            Sid: 'DenyOtherKmsKey',
            Effect: 'Deny',
            Action: 's3:PutObject',
            Condition: {
              StringNotEquals: { 's3:x-amz-server-side-encryption-aws-kms-key-id': { 'Fn::GetAtt': [keyId, 'Arn'] } },
              Null: { 's3:x-amz-server-side-encryption-aws-kms-key-id': 'false' },
            },
          }),
        ]),
      },
    });
  });

  it('denies every request to the bucket that is not over TLS (1.2 or newer)', () => {
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: bucketId },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Action: 's3:*',
            Principal: { AWS: '*' },
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
          Match.objectLike({
            Effect: 'Deny',
            Action: 's3:*',
            Condition: { NumericLessThan: { 's3:TlsVersion': 1.2 } },
          }),
        ]),
      },
    });
  });

  it('runs every function on nodejs24.x (the major the bundle tests run), ARM64, traced, with its own log group', () => {
    const fns = template.findResources('AWS::Lambda::Function');
    expect(Object.keys(fns).sort()).toEqual(Object.values(functions).sort());
    for (const [id, fn] of Object.entries<Json>(fns)) {
      const runtime = /^nodejs(\d+)\.x$/.exec(fn.Properties.Runtime);
      expect(runtime, `${id} runtime ${fn.Properties.Runtime}`).not.toBeNull();
      expect(Number(runtime![1]), id).toBe(LAMBDA_NODE_MAJOR);
      expect(fn.Properties.Architectures).toEqual(['arm64']);
      expect(fn.Properties.TracingConfig).toEqual({ Mode: 'Active' });
      expect(fn.Properties.Handler).toBe('index.handler');
      expect(fn.Properties.LoggingConfig.LogGroup).toEqual({ Ref: expect.stringMatching(/LogGroup/) });
    }
    // One per function, and the state machine's.
    template.resourcePropertiesCountIs('AWS::Logs::LogGroup', { RetentionInDays: 90 }, 6);
  });

  it('sizes Export for one vCPU and the Lambda maximum timeout, Plan and Commit smaller, the holder small but as long as Lambda allows', () => {
    const props = (id: string) => json.Resources[id].Properties;
    expect([props(functions.export).MemorySize, props(functions.export).Timeout]).toEqual([1769, 900]);
    expect([props(functions.plan).MemorySize, props(functions.plan).Timeout]).toEqual([512, 300]);
    expect([props(functions.commit).MemorySize, props(functions.commit).Timeout]).toEqual([512, 900]);
    // A holder mostly waits: one lifetime for its turn, one holding the snapshot.
    expect([props(functions.holder).MemorySize, props(functions.holder).Timeout]).toEqual([256, 900]);
    // The failure function makes a few Step Functions reads after a failed run.
    expect([props(functions.failure).MemorySize, props(functions.failure).Timeout]).toEqual([256, 60]);
  });

  it('gives every function the destination, the KMS key, Powertools names and source maps; Plan, Export and the holder the database; Plan the limits', () => {
    const secretId = logicalIdOf(stack, stack.databaseSecret as any);
    const common = {
      PGSIP_DEST: { 'Fn::Join': ['', ['s3://', { Ref: bucketId }, '/exports']] },
      // The handlers ask for SSE-KMS with this key on every write (the bucket policy refuses other keys).
      PGSIP_KMS_KEY_ID: { 'Fn::GetAtt': [keyId, 'Arn'] },
      POWERTOOLS_SERVICE_NAME: 'Pgsip',
      POWERTOOLS_METRICS_NAMESPACE: 'pgsip',
      NODE_OPTIONS: '--enable-source-maps',
    };
    const database = { PGSIP_DB_SECRET_ARN: { Ref: secretId }, PGSIP_DB_TLS: 'verify-full' };
    const variables = (id: string) => json.Resources[id].Properties.Environment.Variables;
    expect(variables(functions.plan)).toEqual({ ...common, ...database, PGSIP_CONNECTION_BUDGET: '4', PGSIP_DEFAULT_COMPRESSION: 'ZSTD' });
    expect(variables(functions.export)).toEqual({ ...common, ...database });
    expect(variables(functions.commit)).toEqual(common);
    expect(variables(functions.holder)).toEqual({ ...common, ...database });
    // The failure function touches neither the bucket, the key nor the database.
    expect(variables(functions.failure)).toEqual({ POWERTOOLS_SERVICE_NAME: 'Pgsip', POWERTOOLS_METRICS_NAMESPACE: 'pgsip', NODE_OPTIONS: '--enable-source-maps' });
    for (const id of Object.values(functions)) expect(json.Resources[id].Properties.VpcConfig).toBeUndefined();
  });

  it('creates a placeholder secret in the RDS shape, encrypted with the stack key, when no ARN is given', () => {
    template.hasResourceProperties('AWS::SecretsManager::Secret', {
      KmsKeyId: { 'Fn::GetAtt': [keyId, 'Arn'] },
      GenerateSecretString: Match.objectLike({
        GenerateStringKey: 'password',
        SecretStringTemplate: Match.serializedJson(
          Match.objectLike({ host: Match.anyValue(), port: 5432, dbname: Match.anyValue(), username: Match.anyValue() }),
        ),
      }),
    });
  });

  describe('least privilege', () => {
    const s3Statements = (fn: string) =>
      roleStatements(json, fn).filter((s) => asList(s.Action).some((a: string) => a.startsWith('s3:')));
    const actions = (fn: string) => roleStatements(json, fn).flatMap((s) => asList<string>(s.Action));
    const keys = (...patterns: string[]) => {
      const arns = patterns.map((p) => ({ 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucketId, 'Arn'] }, `/exports/${p}`]] }));
      return arns.length === 1 ? arns[0] : arns;
    };
    const s3Grants = (fn: string) =>
      s3Statements(fn).map((s) => ({ actions: asList<string>(s.Action).sort(), resource: s.Resource, condition: s.Condition }));

    it('gives each function exactly its S3 actions, under the export prefix only', () => {
      // Listing (which also makes S3 answer 404, not 403, for a missing key) stays under the prefix.
      const list = {
        actions: ['s3:ListBucket'],
        resource: { 'Fn::GetAtt': [bucketId, 'Arn'] },
        condition: { StringLikeIfExists: { 's3:prefix': ['exports/*'] } },
      };
      // By key class (test/lib/iam-evaluation.test.ts evaluates what these allow and deny, request by request).
      // Plan lists too: it waits for a held snapshot that may not be published yet.
      expect(s3Grants(functions.plan)).toEqual([
        { actions: ['s3:GetObject', 's3:PutObject'], resource: keys('*/run=*/_plan.json', '_runs/*/_run.json'), condition: undefined },
        { actions: ['s3:PutObject'], resource: keys('_runs/*/_shards.json'), condition: undefined },
        { actions: ['s3:GetObject'], resource: keys('_runs/_snapshots/*'), condition: undefined },
        // Iceberg tables: the current schema's field ids.
        { actions: ['s3:GetObject'], resource: keys('*/metadata/*'), condition: undefined },
        list,
      ]);
      expect(s3Grants(functions.export)).toEqual([
        { actions: ['s3:GetObject'], resource: keys('*/run=*/_plan.json', '_runs/_snapshots/*'), condition: undefined },
        { actions: ['s3:AbortMultipartUpload', 's3:PutObject'], resource: keys('*/run=*/part-*.parquet'), condition: undefined },
        { actions: ['s3:GetObject', 's3:PutObject'], resource: keys('*/run=*/_shards/*.json'), condition: undefined },
        // deletes "keyset": the keys of the shard's range.
        { actions: ['s3:AbortMultipartUpload', 's3:PutObject'], resource: keys('*/run=*/_keyset/*'), condition: undefined },
        list,
      ]);
      expect(s3Grants(functions.commit)).toEqual([
        { actions: ['s3:GetObject'], resource: keys('_runs/*/_run.json', '*/run=*/_plan.json', '*/run=*/_shards/*.json'), condition: undefined },
        { actions: ['s3:GetObject', 's3:PutObject'], resource: keys('*/run=*/_manifest.json', '*/run=*/_SUCCESS', '*/_latest.json'), condition: undefined },
        { actions: ['s3:DeleteObject'], resource: keys('*/run=*/*'), condition: undefined },
        // Iceberg tables: each commit's metadata, manifests and manifest list (a lost attempt's removed).
        { actions: ['s3:DeleteObject', 's3:GetObject', 's3:PutObject'], resource: keys('*/metadata/*'), condition: undefined },
        // Incremental Iceberg commits: the parts' key and cursor columns read, the rows read again deleted by position.
        { actions: ['s3:GetObject'], resource: keys('*/run=*/part-*.parquet'), condition: undefined },
        { actions: ['s3:GetObject', 's3:PutObject'], resource: keys('*/run=*/deletes-*.parquet'), condition: undefined },
        { actions: ['s3:GetObject'], resource: keys('*/run=*/_keyset/*'), condition: undefined },
        // compactAtDeleteFiles: compacted data files, only in `run=_compact-*` folders.
        { actions: ['s3:AbortMultipartUpload', 's3:PutObject'], resource: keys('*/run=_compact-*/part-*.parquet'), condition: undefined },
        list,
      ]);
      // The holder (Hold and Release) reads and writes the held-snapshot files of executions, nothing else.
      expect(s3Grants(functions.holder)).toEqual([
        { actions: ['s3:GetObject', 's3:PutObject'], resource: keys('_runs/_snapshots/*'), condition: undefined },
        list,
      ]);
    });

    it('never grants s3 actions on Resource "*", ACLs or bucket policy changes, and deletes only to Commit', () => {
      for (const [kind, fn] of Object.entries(functions)) {
        for (const s of s3Statements(fn)) {
          expect(asList(s.Resource), `${kind}: ${JSON.stringify(s)}`).not.toContain('*');
        }
        const granted = actions(fn);
        for (const forbidden of ['s3:*', 's3:DeleteObject*', 's3:DeleteBucket', 's3:PutObject*', 's3:PutObjectAcl', 's3:PutBucketPolicy']) {
          expect(granted, `${kind} has ${forbidden}`).not.toContain(forbidden);
        }
        const deletes = s3Statements(fn).filter((st) => asList<string>(st.Action).some((a) => a.startsWith('s3:Delete')));
        if (kind === 'commit') {
          // Commit sweeps parts of abandoned attempts and abandoned runs, inside run folders, and removes an
          // Iceberg commit attempt's files that lost a race, inside tables' metadata folders.
          expect(deletes.map((st) => [asList<string>(st.Action).filter((a) => a.startsWith('s3:Delete')), st.Resource])).toEqual([
            [['s3:DeleteObject'], keys('*/run=*/*')],
            [['s3:DeleteObject'], keys('*/metadata/*')],
          ]);
        } else {
          expect(deletes, kind).toEqual([]);
        }
      }
    });

    it('lets Plan, Export and the holder read the database secret, and not Commit', () => {
      const secretRead = (fn: string) =>
        roleStatements(json, fn).filter((s) => asList<string>(s.Action).includes('secretsmanager:GetSecretValue'));
      const secretId = logicalIdOf(stack, stack.databaseSecret as any);
      for (const fn of [functions.plan, functions.export, functions.holder]) {
        expect(secretRead(fn).map((s) => s.Resource), fn).toEqual([{ Ref: secretId }]);
      }
      expect(secretRead(functions.commit)).toEqual([]);
      expect(actions(functions.commit).filter((a) => a.startsWith('secretsmanager:'))).toEqual([]);
    });

    it('lets every function use the stack key only through S3 (and the placeholder secret through Secrets Manager); the failure function not at all', () => {
      expect(roleStatements(json, functions.failure).filter((s) => asList<string>(s.Action).some((a) => a.startsWith('kms:')))).toEqual([]);
      for (const [kind, fn] of Object.entries(functions)) {
        if (kind === 'failure') continue;
        const kms = roleStatements(json, fn).filter((s) => asList<string>(s.Action).some((a) => a.startsWith('kms:')));
        const viaS3 = kms.filter((s) => JSON.stringify(s.Condition).includes('s3.'));
        expect(viaS3.map((s) => asList<string>(s.Action).sort()), kind).toEqual([['kms:Decrypt', 'kms:GenerateDataKey']]);
        expect(viaS3[0].Condition, kind).toEqual({
          StringEquals: { 'kms:ViaService': { 'Fn::Join': ['', ['s3.', { Ref: 'AWS::Region' }, '.amazonaws.com']] } },
        });
        const viaSecrets = kms.filter((s) => JSON.stringify(s.Condition).includes('secretsmanager.'));
        expect(viaSecrets.map((s) => s.Action), kind).toEqual(kind === 'commit' ? [] : ['kms:Decrypt']);
        for (const s of kms) {
          expect(s.Resource, kind).toEqual({ 'Fn::GetAtt': [keyId, 'Arn'] });
          expect(asList<string>(s.Action), kind).not.toContain('kms:Encrypt');
          expect(asList<string>(s.Action).some((a) => a.includes('*')), kind).toBe(false);
        }
      }
    });

    it('gives each function its own role with no managed policies, logging only to its own log group', () => {
      const roles = new Set(Object.values(functions).map((id) => json.Resources[id].Properties.Role['Fn::GetAtt'][0]));
      expect(roles.size).toBe(5);
      for (const role of roles) expect(json.Resources[role].Properties.ManagedPolicyArns).toBeUndefined();
      for (const [kind, fn] of Object.entries(functions)) {
        const logs = roleStatements(json, fn).filter((s) => asList<string>(s.Action).some((a) => a.startsWith('logs:')));
        expect(logs.map((s) => s.Resource), kind).toEqual([{ 'Fn::GetAtt': [expect.stringMatching(new RegExp(`^${kind[0].toUpperCase()}${kind.slice(1)}FunctionLogGroup`)), 'Arn'] }]);
      }
    });

    it('lets the state machine invoke only its five functions (and start its own Map children)', () => {
      const machine = Object.values<Json>(json.Resources).find((r) => r.Type === 'AWS::StepFunctions::StateMachine');
      const roleId = machine.Properties.RoleArn['Fn::GetAtt'][0];
      const statements = Object.values<Json>(json.Resources)
        .filter((r) => r.Type === 'AWS::IAM::Policy' && r.Properties.Roles.some((x: Json) => x.Ref === roleId))
        .flatMap((r) => r.Properties.PolicyDocument.Statement);
      const invoke = statements.filter((s) => asList<string>(s.Action).some((a) => a.startsWith('lambda:')));
      const invoked = invoke.flatMap((s) => asList<Json>(s.Resource)).map((r) => JSON.stringify(r));
      for (const r of invoked) expect(r).toMatch(/"(PlanFunction|ExportFunction|CommitFunction|HolderFunction|FailureFunction)[0-9A-F]{8}"/);
      // Each of the five, itself and any version or alias of it.
      const named = (r: string) => Object.values(functions).find((id) => r.includes(`"${id}"`));
      expect(new Set(invoked.map(named))).toEqual(new Set(Object.values(functions)));
      expect(invoked).toHaveLength(10);
      expect(invoke.flatMap((s) => asList<string>(s.Action))).toEqual(invoke.map(() => 'lambda:InvokeFunction'));
      for (const s of statements) {
        if (asList(s.Resource).includes('*')) {
          expect(asList<string>(s.Action).every((a) => a.startsWith('xray:') || a.startsWith('logs:')), JSON.stringify(s)).toBe(true);
        }
      }
    });
  });

  it('wires the state machine to the five functions, its concurrency from Plan (which knows the budget, default 4)', () => {
    const { definition, taskFunctions } = definitionFromTemplate(json);
    expect(taskFunctions).toEqual({
      Plan: functions.plan,
      ExportShard: functions.export,
      Commit: functions.commit,
      Hold: functions.holder,
      Release: functions.holder,
      ReleaseAfterFailure: functions.holder,
      DescribeFailure: functions.failure,
    });
    const exportBranch = (definition.States as Json).Run.Branches[0].States;
    expect(exportBranch.ExportShards.MaxConcurrencyPath).toBe('$.concurrency');
    expect(json.Resources[functions.plan].Properties.Environment.Variables.PGSIP_CONNECTION_BUDGET).toBe('4');
  });

  it('outputs the state machine ARN, the bucket name and the destination', () => {
    template.hasOutput('StateMachineArn', { Value: { Ref: logicalIdOf(stack, stack.exportStateMachine.stateMachine) } });
    template.hasOutput('BucketName', { Value: { Ref: bucketId } });
    template.hasOutput('Destination', { Value: { 'Fn::Join': ['', ['s3://', { Ref: bucketId }, '/exports']] } });
  });

  it('honours concurrency, exportPrefix, stackName and an existing secret', () => {
    const arn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:pgsip/source-AbCdEf';
    const other = synth({ concurrency: 9, exportPrefix: 'lake/pg', databaseSecretArn: arn, stackName: 'PgsipTest' });
    expect(other.stack.stackName).toBe('PgsipTest');
    other.template.resourceCountIs('AWS::SecretsManager::Secret', 0);
    const planFn = logicalIdOf(other.stack, other.stack.planFunction);
    expect(other.json.Resources[planFn].Properties.Environment.Variables.PGSIP_CONNECTION_BUDGET).toBe('9');
    const exportFn = logicalIdOf(other.stack, other.stack.exportFunction);
    const statements = roleStatements(other.json, exportFn);
    // The secret's value, not its description; and no key grant for a secret the stack did not create.
    expect(statements).toContainEqual(expect.objectContaining({ Action: 'secretsmanager:GetSecretValue', Resource: arn }));
    expect(statements.filter((st) => JSON.stringify(st.Condition ?? {}).includes('secretsmanager.'))).toEqual([]);
    const bucketRef = logicalIdOf(other.stack, other.stack.bucket);
    expect(statements).toContainEqual(
      expect.objectContaining({
        Action: ['s3:PutObject', 's3:AbortMultipartUpload'],
        Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucketRef, 'Arn'] }, '/lake/pg/*/run=*/part-*.parquet']] },
      }),
    );
    expect(other.json.Resources[exportFn].Properties.Environment.Variables.PGSIP_DB_SECRET_ARN).toBe(arn);
  });

  it('rejects a bad exportPrefix or concurrency', () => {
    for (const exportPrefix of ['', '/exports', 'exports/', 'a//b', 'a/../b', 'a*b']) {
      expect(() => synth({ exportPrefix }), exportPrefix).toThrow(/exportPrefix/);
    }
    for (const concurrency of [0, 1.5, -2]) {
      expect(() => synth({ concurrency })).toThrow(/^PgsipExport props\.connectionBudget: must be an integer from 1 to/);
    }
  });
});

describe('propsFromContext', () => {
  const read = (context: Record<string, unknown>) => propsFromContext(new App({ context }).node);

  it('reads the documented keys, with -c strings parsed', () => {
    expect(read({})).toEqual({});
    expect(read({ concurrency: '8', exportPrefix: 'lake', databaseSecretArn: 'arn:x', stackName: 'S' })).toEqual({
      concurrency: 8,
      exportPrefix: 'lake',
      databaseSecretArn: 'arn:x',
      stackName: 'S',
    });
    expect(read({ concurrency: 3 })).toEqual({ concurrency: 3 });
  });

  it('rejects a concurrency that is not a positive integer, naming it', () => {
    for (const concurrency of ['', 'abc', '0', '2.5', -1]) {
      expect(() => read({ concurrency }), String(concurrency)).toThrow(/context concurrency/);
    }
  });
});
