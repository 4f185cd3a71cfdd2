/**
 * The largest deployment config the tests synthesize: a VPC, an existing bucket, key and alarm topic, a Glue
 * catalog, an S3 Tables table bucket, retention, and 50 schedules of 40 long table names each with freshness alarms (and incremental
 * tables), so that what grows with a deployment's size (resources, schedule inputs and descriptions) is
 * checked against CloudFormation's and EventBridge Scheduler's limits (test/lib/aws-rules.test.ts).
 */
import type { PgsipConfig } from '../../lib/pgsip-config';

export const LARGEST_SCHEDULES = 50;
export const LARGEST_TABLES_PER_SCHEDULE = 40;

/** `warehouse_eu_central_01.customer_lifetime_value_snapshot_0001`: 60-odd characters, as real schemas have. */
export function longTableName(schedule: number, table: number): string {
  return `warehouse_eu_central_${String(schedule).padStart(2, '0')}.customer_lifetime_value_snapshot_${String(table).padStart(4, '0')}`;
}

export function largestConfig(): PgsipConfig {
  return {
    stackName: 'PgsipLargest',
    database: {
      secretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:pgsip/source-AbCdEf',
      connectionBudget: 64,
      tls: 'verify-full',
    },
    network: {
      vpcId: 'vpc-0123456789abcdef0',
      subnetIds: ['subnet-0123456789abcdef0', 'subnet-0fedcba9876543210', 'subnet-0aaaabbbbccccdddd'],
      securityGroupIds: ['sg-0123456789abcdef0'],
    },
    storage: {
      exportPrefix: 'lake/exports',
      bucketName: 'existing-lake-bucket-eu-west-1',
      kmsKeyArn: 'arn:aws:kms:eu-west-1:123456789012:key/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0',
    },
    schedules: Array.from({ length: LARGEST_SCHEDULES }, (_, s) => {
      const tables = Array.from({ length: LARGEST_TABLES_PER_SCHEDULE }, (_, t) => longTableName(s, t));
      return {
        name: `nightly-warehouse-group-${String(s).padStart(2, '0')}`,
        tables,
        expression: `cron(${s % 60} 2 * * ? *)`,
        timeZone: 'Europe/Berlin',
        shards: 'auto' as const,
        compression: 'ZSTD' as const,
        freshnessHours: 26,
        excludeColumns: ['*.*.ssn'],
        // A few incremental tables per schedule: their specs ride in the schedule's input too.
        incremental: Object.fromEntries(tables.slice(0, 8).map((t) => [t, { cursor: 'updated_at', lookbackSeconds: 600 }])),
      };
    }),
    alarms: { topicArn: 'arn:aws:sns:eu-west-1:123456789012:data-platform-alarms' },
    runTimeoutHours: 12,
    retention: { keepRuns: 14, graceMinutes: 120 },
    catalog: { glueDatabase: 'warehouse_lake', createDatabase: true },
    tableBucketArn: 'arn:aws:s3tables:eu-west-1:123456789012:bucket/warehouse-lake',
  };
}
