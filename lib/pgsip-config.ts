/**
 * The deployment configuration: one typed, documented JSON file (`pgsip.config.example.json` is the example;
 * pass yours with `npx cdk deploy -c config=pgsip.config.json`). Every field is optional, so an empty file
 * synthesizes a self-contained stack. Validation is strict: an unknown or malformed field fails synth with
 * one line naming it (`config network.subnetIds[1]: must look like subnet-0123abcd, got "x"`).
 *
 * Everything here is plain ids and ARNs: the stack never does a context lookup, so synth needs no
 * credentials.
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { TABLE_BUCKET_ARN } from '../lambdas/shared/s3-tables-names';
import { COMPRESSIONS, DELETE_TRACKING, INFINITY_POLICIES, type IncrementalSpec, TABLE_FORMATS, type TableFormat, TYPE_PROFILES } from '../lambdas/engine/contracts';
import { ConfigError } from '../lambdas/engine/errors';

export { ConfigError };
import { parseTableName, quoteTable } from '../lambdas/engine/postgres/table-name';
import { hasWildcard } from '../lambdas/engine/selection/name-pattern';
import { canonicalTablePattern, SCHEDULE_INPUT_MAX_BYTES, scheduleInput, type ScheduleRunOptions, scheduleSelection } from './schedule-selection';

/**
 * One scheduled group of tables: one EventBridge Scheduler schedule, one execution per firing. Its run options
 * (`tables`, `shards`, `incremental`, ...) are `ScheduleRunOptions` (lib/schedule-selection.ts), what its
 * execution input is made of.
 */
export interface ScheduleConfig extends ScheduleRunOptions {
  /** An EventBridge Scheduler expression: `cron(0 2 * * ? *)`, `rate(6 hours)`. */
  readonly expression: string;
  /** IANA time zone for a `cron(...)` expression. @default 'UTC' */
  readonly timeZone?: string;
  /**
   * Hours after which the schedule, when no run it started has committed all its tables, raises its freshness
   * alarm (a little more than the schedule's interval). 1 to 168. Omit for no freshness alarm.
   */
  readonly freshnessHours?: number;
  /** Whether the schedule fires (false creates it disabled). @default true */
  readonly enabled?: boolean;
}

export interface PgsipConfig {
  /** CloudFormation stack name. @default 'Pgsip' */
  readonly stackName?: string;
  readonly database?: {
    /** Complete ARN of a Secrets Manager secret in RDS's JSON shape. @default - a placeholder secret is created */
    readonly secretArn?: string;
    /** Connection budget: the Distributed Map's MaxConcurrency (one connection per running shard). @default 4 */
    readonly connectionBudget?: number;
    /** `verify-full` (TLS, certificate and host name checked), `require` (TLS, not verified), `off`. @default 'verify-full' */
    readonly tls?: 'verify-full' | 'require' | 'off';
    /** PEM file of CA certificates shipped with every function (e.g. the RDS global bundle), relative to the config file. */
    readonly caBundleFile?: string;
    /**
     * The database endpoint, for a secret that does not hold it (an RDS-managed master-user secret holds only
     * `username` and `password`). A field both the secret and the config name must agree. @default - the secret's
     */
    readonly host?: string;
    /** @default - the secret's `port`, else 5432 */
    readonly port?: number;
    /** @default - the secret's `dbname`, else `postgres` */
    readonly dbname?: string;
  };
  readonly network?: {
    readonly vpcId: string;
    /** Private subnets (with a NAT gateway or VPC endpoints for S3 and Secrets Manager). */
    readonly subnetIds: readonly string[];
    /** Security groups of the functions; the database's group must admit them on its port. */
    readonly securityGroupIds: readonly string[];
  };
  readonly storage?: {
    /** Key prefix under which runs are written. @default 'exports' */
    readonly exportPrefix?: string;
    /** Import an existing bucket instead of creating one (it must already be SSE-KMS with `kmsKeyArn`). */
    readonly bucketName?: string;
    /** Import an existing customer-managed KMS key instead of creating one. */
    readonly kmsKeyArn?: string;
  };
  readonly schedules?: readonly ScheduleConfig[];
  readonly alarms?: {
    /** An existing SNS topic for alarm notifications. @default - a topic is created */
    readonly topicArn?: string;
    /** E-mail addresses subscribed to the created topic. */
    readonly emails?: readonly string[];
  };
  /** Timeout of one execution, in hours (1 to 24). @default 6 */
  readonly runTimeoutHours?: number;
  /** How tables land in the lake when a run or schedule names none: `iceberg` or `hive` (docs/iceberg.md). @default 'hive' */
  readonly tableFormat?: TableFormat;
  /**
   * Committed runs kept per table; older ones are deleted once they have been out of the newest `keepRuns` for
   * `graceMinutes`. @default - every run is kept
   */
  readonly retention?: { readonly keepRuns: number; readonly graceMinutes?: number };
  /**
   * Register each committed table in this Glue database (Commit creates or updates one table per exported
   * table). `createDatabase`: Commit creates the database on its first commit if it does not exist (the stack
   * does not own it: it outlives `cdk destroy`, and a redeploy never fails on it). @default - no catalog
   */
  readonly catalog?: { readonly glueDatabase: string; readonly createDatabase?: boolean };
  /**
   * Keep Iceberg tables in this Amazon S3 Tables table bucket (`arn:aws:s3tables:<region>:<account>:bucket/<name>`),
   * a namespace per Postgres schema (docs/iceberg.md, "Amazon S3 Tables"): Plan creates each table, Export
   * writes its files to the table's own storage, Commit commits it with S3 Tables' version token. Folder
   * (`hive`) runs are unaffected. @default - Iceberg tables by path under the export prefix, or in `catalog`
   */
  readonly tableBucketArn?: string;
}


type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const show = (v: unknown) => JSON.stringify(v);

function object(v: unknown, field: string, keys: readonly string[]): Obj {
  if (!isObj(v)) throw new ConfigError(field, `must be an object, got ${show(v)}`);
  for (const k of Object.keys(v)) {
    if (k === '$schema' || k === '//' || k.startsWith('_comment')) continue;
    if (!keys.includes(k)) throw new ConfigError(field ? `${field}.${k}` : k, `unknown field (known: ${keys.join(', ')})`);
  }
  return v;
}

function str(v: unknown, field: string, pattern?: RegExp, shape?: string): string {
  if (typeof v !== 'string' || v === '') throw new ConfigError(field, `must be a non-empty string, got ${show(v)}`);
  if (pattern && !pattern.test(v)) throw new ConfigError(field, `must look like ${shape}, got ${show(v)}`);
  return v;
}

function int(v: unknown, field: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new ConfigError(field, `must be an integer from ${min} to ${max}, got ${show(v)}`);
  }
  return v;
}

function list(v: unknown, field: string, min = 1): unknown[] {
  if (!Array.isArray(v) || v.length < min) throw new ConfigError(field, `must be a list of at least ${min} item(s), got ${show(v)}`);
  return v;
}

/** A schedule's `incremental`: cursor (and lookback) per table of the schedule, keyed like `tables`. */
function incrementalTables(v: unknown, field: string, tables: readonly string[]): Record<string, IncrementalSpec> {
  if (!isObj(v)) throw new ConfigError(field, `must be an object of table: { cursor, lookbackSeconds }, got ${show(v)}`);
  const out: Record<string, IncrementalSpec> = {};
  for (const [name, raw] of Object.entries(v)) {
    const table = canonicalTable(name, `${field}[${show(name)}]`);
    if (!tables.includes(table)) throw new ConfigError(`${field}[${show(name)}]`, `is not one of the schedule's tables`);
    const spec = object(raw, `${field}[${show(name)}]`, ['cursor', 'lookbackSeconds', 'deletes']);
    out[table] = {
      cursor: str(spec.cursor, `${field}[${show(name)}].cursor`),
      ...(spec.lookbackSeconds !== undefined ? { lookbackSeconds: int(spec.lookbackSeconds, `${field}[${show(name)}].lookbackSeconds`, 0, 30 * 86_400) } : {}),
      ...(spec.deletes !== undefined ? { deletes: oneOf(spec.deletes, `${field}[${show(name)}].deletes`, DELETE_TRACKING) } : {}),
    };
  }
  return out;
}

/** A schedule's `partitionBy`: a partition spec per table of the schedule, keyed like `tables` (checked against the columns when a run is planned). */
function partitionedTables(v: unknown, field: string, tables: readonly string[]): Record<string, string> {
  if (!isObj(v)) throw new ConfigError(field, `must be an object of table: "day(created_at), identity(region)", got ${show(v)}`);
  const out: Record<string, string> = {};
  for (const [name, spec] of Object.entries(v)) {
    const table = canonicalTable(name, `${field}[${show(name)}]`);
    if (!tables.includes(table)) throw new ConfigError(`${field}[${show(name)}]`, `is not one of the schedule's tables`);
    out[table] = str(spec, `${field}[${show(name)}]`);
  }
  return out;
}

function bool(v: unknown, field: string): boolean {
  if (typeof v !== 'boolean') throw new ConfigError(field, `must be true or false, got ${show(v)}`);
  return v;
}

function oneOf<T extends string>(v: unknown, field: string, values: readonly T[]): T {
  if (typeof v !== 'string' || !values.includes(v as T)) throw new ConfigError(field, `must be one of ${values.join(', ')}, got ${show(v)}`);
  return v as T;
}

const opt = <T>(o: Obj, key: string, f: (v: unknown) => T): T | undefined => (o[key] === undefined ? undefined : f(o[key]));

export const SECRET_ARN = /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+-[A-Za-z0-9]{6}$/;
const KMS_ARN = /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[0-9a-f-]{36}$/;
const SNS_ARN = /^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$/;
const SCHEDULE = /^(cron\(.+\)|rate\(\d+ (minute|minutes|hour|hours|day|days)\)|at\(.+\))$/;

/** Validates parsed JSON against `PgsipConfig`; `baseDir` resolves `caBundleFile`. */
export function validateConfig(raw: unknown, baseDir = process.cwd()): PgsipConfig {
  const root = object(raw, '', ['stackName', 'database', 'network', 'storage', 'schedules', 'alarms', 'runTimeoutHours', 'tableFormat', 'retention', 'catalog', 'tableBucketArn']);
  const config: { -readonly [K in keyof PgsipConfig]: PgsipConfig[K] } = {};
  config.stackName = opt(root, 'stackName', (v) => str(v, 'stackName', /^[A-Za-z][A-Za-z0-9-]{0,127}$/, 'a CloudFormation stack name'));
  if (root.database !== undefined) {
    const d = object(root.database, 'database', ['secretArn', 'connectionBudget', 'tls', 'caBundleFile', 'host', 'port', 'dbname']);
    config.database = {
      secretArn: opt(d, 'secretArn', (v) => str(v, 'database.secretArn', SECRET_ARN, 'arn:aws:secretsmanager:<region>:<account>:secret:<name>-AbCdEf (the complete ARN)')),
      connectionBudget: opt(d, 'connectionBudget', (v) => int(v, 'database.connectionBudget', 1, 10_000)),
      host: opt(d, 'host', (v) => str(v, 'database.host', /^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/, 'a host name or IP address (e.g. prod.cluster-abc.eu-west-1.rds.amazonaws.com)')),
      port: opt(d, 'port', (v) => int(v, 'database.port', 1, 65_535)),
      dbname: opt(d, 'dbname', (v) => str(v, 'database.dbname', /^.{1,63}$/u, 'a database name of at most 63 characters')),
      tls: opt(d, 'tls', (v) => oneOf(v, 'database.tls', ['verify-full', 'require', 'off'] as const)),
      caBundleFile: opt(d, 'caBundleFile', (v) => {
        const file = str(v, 'database.caBundleFile');
        const path = isAbsolute(file) ? file : resolve(baseDir, file);
        let text: string;
        try {
          text = readFileSync(path, 'utf8');
        } catch {
          throw new ConfigError('database.caBundleFile', `cannot read ${path}`);
        }
        if (!text.includes('-----BEGIN CERTIFICATE-----')) throw new ConfigError('database.caBundleFile', `${path} holds no PEM certificate`);
        return path;
      }),
    };
  }
  if (root.network !== undefined) {
    const n = object(root.network, 'network', ['vpcId', 'subnetIds', 'securityGroupIds']);
    config.network = {
      vpcId: str(n.vpcId, 'network.vpcId', /^vpc-[0-9a-f]{8,17}$/, 'vpc-0123abcd'),
      subnetIds: list(n.subnetIds, 'network.subnetIds').map((s, i) => str(s, `network.subnetIds[${i}]`, /^subnet-[0-9a-f]{8,17}$/, 'subnet-0123abcd')),
      securityGroupIds: list(n.securityGroupIds, 'network.securityGroupIds').map((s, i) =>
        str(s, `network.securityGroupIds[${i}]`, /^sg-[0-9a-f]{8,17}$/, 'sg-0123abcd'),
      ),
    };
  }
  if (root.storage !== undefined) {
    const s = object(root.storage, 'storage', ['exportPrefix', 'bucketName', 'kmsKeyArn']);
    config.storage = {
      exportPrefix: opt(s, 'exportPrefix', (v) => str(v, 'storage.exportPrefix', PREFIX, "'/'-separated segments of letters, digits and !_.'()=-")),
      bucketName: opt(s, 'bucketName', (v) => str(v, 'storage.bucketName', /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'an S3 bucket name')),
      kmsKeyArn: opt(s, 'kmsKeyArn', (v) => str(v, 'storage.kmsKeyArn', KMS_ARN, 'arn:aws:kms:<region>:<account>:key/<uuid>')),
    };
    if (config.storage.bucketName && !config.storage.kmsKeyArn) {
      throw new ConfigError('storage.kmsKeyArn', 'is required with storage.bucketName (the key the imported bucket is encrypted with)');
    }
  }
  if (root.schedules !== undefined) {
    const names = new Set<string>();
    config.schedules = list(root.schedules, 'schedules', 0).map((raw, i) => {
      const f = `schedules[${i}]`;
      const s = object(raw, f, ['name', 'tables', 'expression', 'timeZone', 'shards', 'concurrency', 'compression', 'types', 'tableFormat', 'infinity', 'keepRuns', 'freshnessHours', 'enabled', 'excludeTables', 'excludeColumns', 'hashColumns', 'incremental', 'partitionBy', 'holdSnapshot', 'compactAtDeleteFiles']);
      const name = str(s.name, `${f}.name`, /^[A-Za-z0-9_-]{1,40}$/, 'letters, digits, - and _ (at most 40)');
      if (names.has(name)) throw new ConfigError(`${f}.name`, `${show(name)} is used twice`);
      names.add(name);
      const tables = list(s.tables, `${f}.tables`).map((t, j) => canonicalTable(t, `${f}.tables[${j}]`));
      return {
        name,
        tables,
        expression: str(s.expression, `${f}.expression`, SCHEDULE, 'cron(0 2 * * ? *) or rate(6 hours)'),
        timeZone: opt(s, 'timeZone', (v) => str(v, `${f}.timeZone`, /^[A-Za-z_]+(\/[A-Za-z0-9_+-]+)*$/, 'an IANA time zone such as Europe/Paris')),
        shards: opt(s, 'shards', (v) => (v === 'auto' ? 'auto' : int(v, `${f}.shards`, 1, 10_000))),
        concurrency: opt(s, 'concurrency', (v) => int(v, `${f}.concurrency`, 1, 10_000)),
        compression: opt(s, 'compression', (v) => oneOf(v, `${f}.compression`, COMPRESSIONS)),
        types: opt(s, 'types', (v) => oneOf(v, `${f}.types`, TYPE_PROFILES)),
        tableFormat: opt(s, 'tableFormat', (v) => oneOf(v, `${f}.tableFormat`, TABLE_FORMATS)),
        infinity: opt(s, 'infinity', (v) => oneOf(v, `${f}.infinity`, INFINITY_POLICIES)),
        keepRuns: opt(s, 'keepRuns', (v) => int(v, `${f}.keepRuns`, 1, 10_000)),
        freshnessHours: opt(s, 'freshnessHours', (v) => int(v, `${f}.freshnessHours`, 1, 168)),
        enabled: opt(s, 'enabled', (v) => bool(v, `${f}.enabled`)),
        incremental: opt(s, 'incremental', (v) => incrementalTables(v, `${f}.incremental`, tables)),
        partitionBy: opt(s, 'partitionBy', (v) => partitionedTables(v, `${f}.partitionBy`, tables)),
        holdSnapshot: opt(s, 'holdSnapshot', (v) => bool(v, `${f}.holdSnapshot`)),
        compactAtDeleteFiles: opt(s, 'compactAtDeleteFiles', (v) => int(v, `${f}.compactAtDeleteFiles`, 1, 10_000)),
        ...scheduleSelection(s, f, canonicalTable),
      };
    });
  }
  const budget = config.database?.connectionBudget ?? 4;
  config.schedules?.forEach((s, i) => {
    if (s.concurrency !== undefined && s.concurrency > budget) {
      throw new ConfigError(`schedules[${i}].concurrency`, `${s.concurrency} is more than database.connectionBudget (${budget})`);
    }
    // CloudFormation would refuse it at deploy time, after everything else had been built.
    const bytes = Buffer.byteLength(JSON.stringify(scheduleInput(s)));
    if (bytes > SCHEDULE_INPUT_MAX_BYTES) {
      throw new ConfigError(
        `schedules[${i}]`,
        `its execution input is ${bytes.toLocaleString('en-US')} bytes, more than EventBridge Scheduler's ${SCHEDULE_INPUT_MAX_BYTES.toLocaleString('en-US')}: split the tables over two schedules, or select them with patterns (public.*)`,
      );
    }
  });
  if (root.alarms !== undefined) {
    const a = object(root.alarms, 'alarms', ['topicArn', 'emails']);
    config.alarms = {
      topicArn: opt(a, 'topicArn', (v) => str(v, 'alarms.topicArn', SNS_ARN, 'arn:aws:sns:<region>:<account>:<topic>')),
      emails: opt(a, 'emails', (v) => list(v, 'alarms.emails', 0).map((e, i) => str(e, `alarms.emails[${i}]`, /^[^@\s]+@[^@\s]+\.[^@\s]+$/, 'an e-mail address'))),
    };
    if (config.alarms.topicArn && config.alarms.emails?.length) {
      throw new ConfigError('alarms.emails', 'cannot be combined with alarms.topicArn (subscribe to the existing topic instead)');
    }
  }
  config.runTimeoutHours = opt(root, 'runTimeoutHours', (v) => int(v, 'runTimeoutHours', 1, 24));
  config.tableFormat = opt(root, 'tableFormat', (v) => oneOf(v, 'tableFormat', TABLE_FORMATS));
  if (root.retention !== undefined) {
    const r = object(root.retention, 'retention', ['keepRuns', 'graceMinutes']);
    config.retention = {
      keepRuns: int(r.keepRuns, 'retention.keepRuns', 1, 10_000),
      graceMinutes: opt(r, 'graceMinutes', (v) => int(v, 'retention.graceMinutes', 0, 7 * 24 * 60)),
    };
  }
  // What Iceberg tables cannot take (docs/iceberg.md), refused at synth rather than at every run.
  config.schedules?.forEach((s, i) => {
    if ((s.tableFormat ?? config.tableFormat) !== 'iceberg') return;
    if (s.types === 'native') throw new ConfigError(`schedules[${i}].types`, 'Iceberg tables take the portable types');
  });
  config.schedules?.forEach((s, i) => {
    const keyset = Object.entries(s.incremental ?? {}).find(([, spec]) => spec.deletes !== undefined);
    if (keyset && (s.tableFormat ?? config.tableFormat) !== 'iceberg') {
      throw new ConfigError(`schedules[${i}].incremental`, `deletes of ${keyset[0]}: removes rows from Iceberg tables, set tableFormat iceberg`);
    }
  });
  config.schedules?.forEach((s, i) => {
    if (s.compactAtDeleteFiles !== undefined && (s.tableFormat ?? config.tableFormat) !== 'iceberg') {
      throw new ConfigError(`schedules[${i}].compactAtDeleteFiles`, 'compacts Iceberg tables: set tableFormat iceberg');
    }
  });
  config.schedules?.forEach((s, i) => {
    if (s.partitionBy !== undefined && (s.tableFormat ?? config.tableFormat) !== 'iceberg') {
      throw new ConfigError(`schedules[${i}].partitionBy`, 'applies to Iceberg tables: set tableFormat iceberg');
    }
  });
  if (root.catalog !== undefined) {
    const c = object(root.catalog, 'catalog', ['glueDatabase', 'createDatabase']);
    // Glue database names: Athena takes lower-case letters, digits and `_` only, up to 255 characters.
    config.catalog = {
      glueDatabase: str(c.glueDatabase, 'catalog.glueDatabase', /^[a-z0-9_]{1,255}$/, 'lower-case letters, digits and _ (what Athena accepts)'),
      createDatabase: opt(c, 'createDatabase', (v) => bool(v, 'catalog.createDatabase')),
    };
  }
  config.tableBucketArn = opt(root, 'tableBucketArn', (v) =>
    str(v, 'tableBucketArn', TABLE_BUCKET_ARN, 'an S3 Tables table bucket ARN (arn:aws:s3tables:<region>:<account>:bucket/<name>)'),
  );
  return JSON.parse(JSON.stringify(config)) as PgsipConfig; // drops undefined members
}

const PREFIX = /^[A-Za-z0-9!_.'()=-]+(\/[A-Za-z0-9!_.'()=-]+)*$/;

/** `public.orders` -> `"public"."orders"`, the form Commit reports (and the freshness metric's dimension). */
function canonicalTable(v: unknown, field: string): string {
  const text = str(v, field);
  if (hasWildcard(text)) return canonicalTablePattern(text, field);
  let parsed;
  try {
    parsed = parseTableName(text);
  } catch (error) {
    throw new ConfigError(field, (error as Error).message);
  }
  if (parsed.schema === null) throw new ConfigError(field, `must be schema-qualified (e.g. public.${text}), got ${show(text)}`);
  return quoteTable(parsed);
}

/** Reads and validates a config file; any problem is one `ConfigError` line naming the file or field. */
export function loadConfig(path: string): PgsipConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new ConfigError('file', `cannot read ${path}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new ConfigError('file', `${path} is not valid JSON: ${(error as Error).message.split('\n')[0]}`);
  }
  return validateConfig(raw, dirname(resolve(path)));
}
