import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { afterAll, describe, expect, it } from 'vitest';
import { buildApp, propsFromContext } from '../../lib/pgsip-app';
import { ConfigError, loadConfig, validateConfig } from '../../lib/pgsip-config';
import { REPO_ROOT } from '../../lib/pgsip-function';
import { propsFromConfig } from '../../lib/pgsip-stack';
import { scheduleInput } from '../../lib/schedule-selection';

const EXAMPLE = join(REPO_ROOT, 'pgsip.config.example.json');
const dir = mkdtempSync(join(tmpdir(), 'pgsip-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('config file', () => {
  it('loads the example, canonicalizing table names, and maps it onto stack props', () => {
    const config = loadConfig(EXAMPLE);
    expect(config.database?.connectionBudget).toBe(8);
    expect(config.schedules?.[0].tables).toEqual(['"public"."orders"', '"public"."customers"']);
    expect(config.schedules?.[1].tables).toEqual(['"analytics"."Page Views"']);
    const props = propsFromConfig(config);
    expect(props).toMatchObject({ stackName: 'Pgsip', concurrency: 8, exportPrefix: 'exports', runTimeoutHours: 6 });
    expect(props.network?.subnetIds).toHaveLength(2);
  });

  it('synthesizes the example with no context lookups (nothing missing, no credentials needed)', () => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    buildApp(app, propsFromConfig(loadConfig(EXAMPLE)));
    const assembly = app.synth();
    expect(assembly.manifest.missing ?? []).toEqual([]);
  });

  it('accepts an empty config: every field is optional', () => {
    expect(validateConfig({})).toEqual({});
  });

  const cases: [string, unknown, RegExp][] = [
    ['unknown top-level field', { stackname: 'x' }, /^config stackname: unknown field/],
    ['unknown nested field', { database: { secret: 'x' } }, /^config database\.secret: unknown field/],
    ['partial secret ARN', { database: { secretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:db' } }, /^config database\.secretArn: must look like/],
    ['zero connection budget', { database: { connectionBudget: 0 } }, /^config database\.connectionBudget: must be an integer from 1/],
    ['fractional budget', { database: { connectionBudget: 2.5 } }, /^config database\.connectionBudget:/],
    ['bad TLS mode', { database: { tls: 'prefer' } }, /^config database\.tls: must be one of verify-full, require, off/],
    ['missing CA file', { database: { caBundleFile: 'nope.pem' } }, /^config database\.caBundleFile: cannot read .*nope\.pem/],
    ['bad vpc id', { network: { vpcId: 'vpc-x', subnetIds: ['subnet-0123abcd'], securityGroupIds: ['sg-0123abcd'] } }, /^config network\.vpcId: must look like vpc-/],
    ['bad subnet id', { network: { vpcId: 'vpc-0123abcd', subnetIds: ['subnet-0123abcd', 'x'], securityGroupIds: ['sg-0123abcd'] } }, /^config network\.subnetIds\[1\]: must look like subnet-/],
    ['no security group', { network: { vpcId: 'vpc-0123abcd', subnetIds: ['subnet-0123abcd'], securityGroupIds: [] } }, /^config network\.securityGroupIds: must be a list of at least 1/],
    ['bad prefix', { storage: { exportPrefix: '/lake/' } }, /^config storage\.exportPrefix:/],
    ['bucket without key', { storage: { bucketName: 'my-lake' } }, /^config storage\.kmsKeyArn: is required with storage\.bucketName/],
    ['bad key ARN', { storage: { kmsKeyArn: 'alias/x' } }, /^config storage\.kmsKeyArn: must look like/],
    ['schedule without tables', { schedules: [{ name: 'n', tables: [], expression: 'rate(1 hour)' }] }, /^config schedules\[0\]\.tables: must be a list/],
    ['unqualified table', { schedules: [{ name: 'n', tables: ['orders'], expression: 'rate(1 hour)' }] }, /^config schedules\[0\]\.tables\[0\]: must be schema-qualified/],
    ['bad table name', { schedules: [{ name: 'n', tables: ['public.x;drop'], expression: 'rate(1 hour)' }] }, /^config schedules\[0\]\.tables\[0\]: bad table name/],
    ['bad expression', { schedules: [{ name: 'n', tables: ['a.b'], expression: 'every hour' }] }, /^config schedules\[0\]\.expression: must look like cron/],
    ['duplicate schedule', { schedules: [{ name: 'n', tables: ['a.b'], expression: 'rate(1 hour)' }, { name: 'n', tables: ['a.c'], expression: 'rate(1 hour)' }] }, /^config schedules\[1\]\.name: "n" is used twice/],
    ['freshness too long', { schedules: [{ name: 'n', tables: ['a.b'], expression: 'rate(1 hour)', freshnessHours: 200 }] }, /^config schedules\[0\]\.freshnessHours: must be an integer from 1 to 168/],
    ['bad shards', { schedules: [{ name: 'n', tables: ['a.b'], expression: 'rate(1 hour)', shards: 'many' }] }, /^config schedules\[0\]\.shards:/],
    ['a schedule concurrency over the connection budget', { database: { connectionBudget: 2 }, schedules: [{ name: 'n', tables: ['a.b'], expression: 'rate(1 hour)', concurrency: 3 }] }, /^config schedules\[0\]\.concurrency: 3 is more than database.connectionBudget \(2\)$/],
    ['bad e-mail', { alarms: { emails: ['oncall'] } }, /^config alarms\.emails\[0\]: must look like an e-mail address/],
    ['topic and e-mails', { alarms: { topicArn: 'arn:aws:sns:eu-west-1:123456789012:t', emails: ['a@b.co'] } }, /^config alarms\.emails: cannot be combined/],
    ['timeout too long', { runTimeoutHours: 48 }, /^config runTimeoutHours: must be an integer from 1 to 24/],
    ['an incremental table outside the schedule', { schedules: [{ name: 'n', tables: ['a.b'], expression: 'rate(1 hour)', incremental: { 'a.c': { cursor: 'id' } } }] }, /^config schedules\[0\]\.incremental\["a\.c"\]: is not one of the schedule's tables/],
    ['an incremental table without a cursor', { schedules: [{ name: 'n', tables: ['a.b'], expression: 'rate(1 hour)', incremental: { 'a.b': { lookbackSeconds: 5 } } }] }, /^config schedules\[0\]\.incremental\["a\.b"\]\.cursor: must be a non-empty string/],
    ['an upper-case Glue database', { catalog: { glueDatabase: 'Lake' } }, /^config catalog\.glueDatabase: must look like lower-case letters, digits and _/],
    ['a catalog without a database', { catalog: { createDatabase: true } }, /^config catalog\.glueDatabase: must be a non-empty string/],
    ['a non-boolean createDatabase', { catalog: { glueDatabase: 'lake', createDatabase: 'yes' } }, /^config catalog\.createDatabase: must be true or false/],
    ['deletes on a folder table', { schedules: [{ name: 'n', tables: ['a.b'], expression: 'rate(1 hour)', incremental: { 'a.b': { cursor: 'u', deletes: 'keyset' } } }] }, /^config schedules\[0\]\.incremental: deletes of "a"\."b": removes rows from Iceberg tables, set tableFormat iceberg$/],
    ['an unknown way of carrying deletes', { tableFormat: 'iceberg', schedules: [{ name: 'n', tables: ['a.b'], expression: 'rate(1 hour)', incremental: { 'a.b': { cursor: 'u', deletes: 'all' } } }] }, /^config schedules\[0\]\.incremental\["a\.b"\]\.deletes: must be one of keyset/],
    ['a table bucket that is not an S3 Tables ARN', { tableBucketArn: 's3://my-lake' }, /^config tableBucketArn: must look like an S3 Tables table bucket ARN/],
    ['a non-boolean holdSnapshot', { schedules: [{ name: 'n', tables: ['a.b'], expression: 'rate(1 hour)', holdSnapshot: 'no' }] }, /^config schedules\[0\]\.holdSnapshot: must be true or false/],
    ['not an object', [], /^config : must be an object/],
  ];
  for (const [what, raw, message] of cases) {
    it(`refuses ${what} with one line naming the field`, () => {
      let error: unknown;
      try {
        validateConfig(raw, dir);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as Error).message).toMatch(message);
      expect((error as Error).message).not.toContain('\n');
    });
  }

  it('names the file when it is missing or not JSON', () => {
    expect(() => loadConfig(join(dir, 'missing.json'))).toThrow(/^config file: cannot read .*missing\.json$/);
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{ "stackName": ');
    expect(() => loadConfig(bad)).toThrow(/^config file: .*bad\.json is not valid JSON/);
  });

  it('is read from -c config=<file>, single context keys overriding it', () => {
    const props = propsFromContext(new App({ context: { config: EXAMPLE, concurrency: '3' } }).node);
    expect(props.concurrency).toBe(3);
    expect(props.schedules).toHaveLength(2);
    expect(() => propsFromContext(new App({ context: { config: '' } }).node)).toThrow(/context config must be the path/);
  });

  it('fails `cdk synth` (bin/app.ts) with exactly one line naming the field', { timeout: 60_000 }, async () => {
    const file = join(dir, 'invalid.json');
    writeFileSync(file, JSON.stringify({ network: { vpcId: 'vpc-0123abcd', subnetIds: ['subnet-nope'], securityGroupIds: ['sg-0123abcd'] } }));
    const env = { ...process.env, CDK_CONTEXT_JSON: JSON.stringify({ config: file }), CDK_OUTDIR: join(dir, 'out') };
    const result = await promisify(execFile)('npx', ['tsx', 'bin/app.ts'], { cwd: REPO_ROOT, env }).then(
      () => ({ code: 0, stderr: '' }),
      (e: { code: number; stderr: string }) => ({ code: e.code, stderr: e.stderr }),
    );
    expect(result.code).toBe(1);
    const lines = result.stderr.split('\n').filter((l) => l && !l.startsWith('npm warn'));
    expect(lines).toEqual(['pgsip: config network.subnetIds[0]: must look like subnet-0123abcd, got "subnet-nope"']);
  });
});

describe('config file: schedule selection and masking', () => {
  const schedule = (extra: Record<string, unknown>) => ({ schedules: [{ name: 'n', tables: ['Public.*'], expression: 'rate(1 hour)', ...extra }] });

  it('takes table patterns, excludeTables, excludeColumns and hashColumns, and passes them into the schedule’s execution input', () => {
    const config = validateConfig(
      schedule({ excludeTables: ['public.audit_*', 'public.tmp'], excludeColumns: ['public.users.password_hash'], hashColumns: ['public.*.email', 'public."Users"."E-mail"'] }),
      dir,
    );
    expect(config.schedules?.[0]).toMatchObject({
      tables: ['"public".*'],
      excludeTables: ['"public".audit_*', '"public"."tmp"'],
      excludeColumns: ['public.users.password_hash'],
      hashColumns: ['public.*.email', 'public."Users"."E-mail"'],
    });
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const template = Template.fromStack(buildApp(app, propsFromConfig(config)));
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      Target: Match.objectLike({
        Input: JSON.stringify({
          tables: ['"public".*'],
          schedule: 'n',
          excludeTables: ['"public".audit_*', '"public"."tmp"'],
          excludeColumns: ['public.users.password_hash'],
          hashColumns: ['public.*.email', 'public."Users"."E-mail"'],
        }),
      }),
    });
  });

  it('passes holdSnapshot false into the schedule’s execution input, and leaves it out by default (one snapshot per run)', () => {
    const input = (extra: Record<string, unknown>) => {
      const config = validateConfig({ schedules: [{ name: 'n', tables: ['public.a'], expression: 'rate(1 hour)', ...extra }] }, dir);
      const template = Template.fromStack(buildApp(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), propsFromConfig(config)));
      const schedule = Object.values(template.findResources('AWS::Scheduler::Schedule'))[0] as { Properties: { Target: { Input: string } } };
      return JSON.parse(schedule.Properties.Target.Input) as Record<string, unknown>;
    };
    expect(input({ holdSnapshot: false })).toEqual({ tables: ['"public"."a"'], schedule: 'n', holdSnapshot: false });
    expect(input({ holdSnapshot: true })).toEqual({ tables: ['"public"."a"'], schedule: 'n' });
    expect(input({})).toEqual({ tables: ['"public"."a"'], schedule: 'n' });
  });

  it('watches freshness per schedule, so patterns and excludeTables go with freshnessHours: one alarm on ScheduleCommitted for the schedule', () => {
    const config = validateConfig(schedule({ freshnessHours: 3, excludeTables: ['public.audit_*'] }), dir);
    const template = Template.fromStack(buildApp(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), propsFromConfig(config)));
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm')).filter((a) => (a as { Properties: { MetricName?: string } }).Properties.MetricName === 'ScheduleCommitted');
    expect(alarms).toHaveLength(1);
    expect((alarms[0] as { Properties: { Dimensions: unknown[] } }).Properties.Dimensions).toEqual(expect.arrayContaining([{ Name: 'schedule', Value: 'n' }]));
  });

  it('describes a schedule within EventBridge Scheduler\'s 512 characters however many tables it names, saying how many it left out', () => {
    const tables = Array.from({ length: 16 }, (_, i) => `public.customer_lifetime_value_${String(i).padStart(4, '0')}`);
    const config = validateConfig({ schedules: [{ name: 'wide', tables, expression: 'rate(1 hour)' }] }, dir);
    const template = Template.fromStack(buildApp(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), propsFromConfig(config)));
    const [scheduled] = Object.values(template.findResources('AWS::Scheduler::Schedule')) as { Properties: { Description: string } }[];
    const description = scheduled.Properties.Description;
    expect(description.length).toBeLessThanOrEqual(512);
    expect(description).toMatch(/^pgsip schedule wide: "public"\."customer_lifetime_value_0000", .*… and \d+ more$/);
    const shown = description.split(': ')[1].split(', ').length - 1;
    expect(Number(/and (\d+) more$/.exec(description)![1])).toBe(16 - shown);
  });

  it("refuses, with one line naming the schedule, a schedule whose execution input is over EventBridge Scheduler's 8,192 bytes", () => {
    const tables = Array.from({ length: 150 }, (_, i) => `warehouse.customer_lifetime_value_snapshot_${String(i).padStart(4, '0')}`);
    expect(() => validateConfig({ schedules: [{ name: 'huge', tables, expression: 'rate(1 hour)' }] }, dir)).toThrow(
      /^config schedules\[0\]: its execution input is [\d,]+ bytes, more than EventBridge Scheduler's 8,192: split the tables over two schedules, or select them with patterns/,
    );
  });

  it('refuses at synth, naming the field, what Iceberg tables cannot take', () => {
    const iceberg = (extra: Record<string, unknown>, top: Record<string, unknown> = {}) => () =>
      validateConfig({ tableFormat: 'iceberg', ...top, schedules: [{ name: 'n', tables: ['public.a'], expression: 'rate(1 hour)', ...extra }] }, dir);
    expect(iceberg({ types: 'native' })).toThrow(/^config schedules\[0\]\.types: Iceberg tables take the portable types/);
    // Incremental schedules of Iceberg tables append (docs/iceberg.md, "Commits").
    expect(iceberg({ incremental: { 'public.a': { cursor: 'id' } } })()).toMatchObject({ schedules: [{ incremental: { '"public"."a"': { cursor: 'id' } } }] });
    // Partitioning is an Iceberg table's: a schedule of folders refuses it; the execution input carries it.
    expect(iceberg({ tableFormat: 'hive', partitionBy: { 'public.a': 'day(at)' } })).toThrow(/^config schedules\[0\]\.partitionBy: applies to Iceberg tables/);
    expect(iceberg({ partitionBy: { 'public.b': 'day(at)' } })).toThrow(/^config schedules\[0\]\.partitionBy\["public\.b"\]: is not one of the schedule's tables/);
    const partitioned = iceberg({ partitionBy: { 'public.a': 'day(at), bucket(8, id)' } })();
    expect(scheduleInput(partitioned.schedules![0]).partitionBy).toEqual({ '"public"."a"': 'day(at), bucket(8, id)' });
    // Scheduled compaction: each run of the schedule compacts its tables once they hold that many delete files.
    expect(scheduleInput(iceberg({ compactAtDeleteFiles: 20 })().schedules![0]).compactAtDeleteFiles).toBe(20);
    expect(iceberg({ tableFormat: 'hive', compactAtDeleteFiles: 20 })).toThrow(/^config schedules\[0\]\.compactAtDeleteFiles: compacts Iceberg tables: set tableFormat iceberg$/);
    expect(iceberg({ compactAtDeleteFiles: 0 })).toThrow(/^config schedules\[0\]\.compactAtDeleteFiles: must be/);
    // Retention of Iceberg tables is snapshot expiry (docs/iceberg.md, "Retention").
    expect(iceberg({ keepRuns: 3 }, { retention: { keepRuns: 2 } })()).toMatchObject({ retention: { keepRuns: 2 }, schedules: [{ keepRuns: 3 }] });
    // A schedule of folder tables in an Iceberg deployment keeps them.
    expect(iceberg({ tableFormat: 'hive', keepRuns: 3 })()).toMatchObject({ tableFormat: 'iceberg', schedules: [{ tableFormat: 'hive', keepRuns: 3 }] });
  });

  const refused: [string, Record<string, unknown>, RegExp][] = [
    ['a pattern without a schema', { tables: ['*'] }, /^config schedules\[0\]\.tables\[0\]: a pattern must name its schema \(e\.g\. public\.\*\), got "\*"$/],
    ['a malformed pattern', { tables: ['public.*;drop'] }, /^config schedules\[0\]\.tables\[0\]: bad table pattern "public\.\*;drop": unexpected ";"/],
    ['an empty excludeTables', { excludeTables: [] }, /^config schedules\[0\]\.excludeTables: must be a list of at least 1/],
    ['an unqualified exclusion', { excludeTables: ['tmp'] }, /^config schedules\[0\]\.excludeTables\[0\]: must be schema-qualified/],
    ['a two-part column', { hashColumns: ['public.users'] }, /^config schedules\[0\]\.hashColumns\[0\]: bad "hashColumns" entry "public\.users": expected schema\.table\.column$/],
    ['a non-string column', { excludeColumns: [3] }, /^config schedules\[0\]\.excludeColumns\[0\]: must be a non-empty string/],
  ];
  for (const [what, extra, message] of refused) {
    it(`refuses ${what} with one line naming the field`, () => {
      expect(() => validateConfig(schedule(extra), dir)).toThrow(ConfigError);
      expect(() => validateConfig(schedule(extra), dir)).toThrow(message);
    });
  }
});
