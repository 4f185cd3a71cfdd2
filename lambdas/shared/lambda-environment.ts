/**
 * The environment of Plan and Export inside Lambda: run-environment.ts (destination, log) plus the source,
 * from the function's environment variables:
 *
 * - `PGSIP_DB_SECRET_ARN`: a Secrets Manager secret in RDS's JSON shape (`host`, `port`, `dbname`,
 *   `username`, `password`), read once per container and again after an authentication failure (SQLSTATE
 *   28P01: the password was rotated since the container read it).
 * - `PGSIP_DB_HOST`, `PGSIP_DB_PORT`, `PGSIP_DB_NAME`: the endpoint, for a secret that does not hold it (an
 *   RDS-managed master-user secret holds only `username` and `password`). A field both name must agree.
 * - `DATABASE_URL`: instead of a secret, for development only.
 * - `PGSIP_DB_TLS`: `verify-full` (default: TLS, certificate chain and host name verified), `require` (TLS
 *   without verification), `off`. Applies to the secret; a `DATABASE_URL` says `sslmode` itself.
 * - `PGSIP_DB_CA_FILE`: PEM file of CA certificates to verify the server with (the stack copies the config's
 *   `caBundleFile` there). Without it, `verify-full` trusts Node's public roots plus the Amazon RDS root CAs
 *   of every region, commercial, GovCloud and China (lambdas/engine/postgres/rds-root-certificates.ts, from
 *   AWS's published bundles by bin/refresh-rds-certificates.ts), so RDS and Aurora verify as they are.
 * - `PGSIP_CONNECTION_BUDGET`: shards a run may export at once (Plan).
 * - `PGSIP_KEEP_RUNS`, `PGSIP_RETENTION_GRACE_MINUTES`: the deployment's retention, for runs that name none (Plan).
 * - `PGSIP_DEFAULT_TABLE_FORMAT`: `iceberg` or `hive`, for runs that name none (Plan).
 * - `PGSIP_SNAPSHOT_HOLDER_SECONDS`: how long one snapshot holder holds before a successor takes over
 *   (lambdas/engine/hold-snapshot.ts; default 360, at most 420).
 * - `PGSIP_DEFAULT_COMPRESSION`: the codec of runs that name none (Plan); ZSTD falls back to SNAPPY, with a
 *   warning, on a runtime without node:zlib zstd.
 *
 * The key of hashed columns is the secret's `hashKey` field (a string of at least 16 bytes), read each time a
 * phase needs it; without a secret, `PGSIP_HASH_KEY`.
 */
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type pg from 'pg';
import { guardConnect } from '../engine/postgres/connection-guard';
import { RDS_ROOT_CERTIFICATES } from '../engine/postgres/rds-root-certificates';
import { connect as pgConnect, type ConnectionTarget, type ConnectOptions, targetFromUrl } from '../engine/postgres/connection';
import { COMPRESSIONS, type Compression, TABLE_FORMATS, type TableFormat } from '../engine/contracts';
import type { EngineEnvironment } from '../engine/environment';
import { ConnectionError, InputError } from '../engine/errors';
import { compressionAvailable } from '../engine/parquet/codecs';
import { snapshotHolderSeconds } from '../engine/hold-snapshot';
import { hashKeyFromText, MIN_HASH_KEY_BYTES } from '../engine/selection/hash-key';
import { logger } from './logger';
import { createRunEnvironment, type LogTarget, requiredVariable } from './run-environment';

export { logger };

export interface LambdaEnvironmentDeps {
  env?: NodeJS.ProcessEnv;
  /** Only `send(GetSecretValueCommand)` is used. */
  secrets?: Pick<SecretsManagerClient, 'send'>;
  connect?: (target: ConnectionTarget, options: ConnectOptions) => Promise<pg.Client>;
  readFile?: (path: string) => string;
  logger?: LogTarget;
}

/** SQLSTATE 28P01 (invalid_password) under a ConnectionError: what a rotated password looks like. */
export function isAuthenticationFailure(error: unknown): boolean {
  const code = ((error as Error)?.cause as { code?: string } | undefined)?.code;
  return error instanceof ConnectionError && code === '28P01';
}

/** Builds an engine environment; the Lambda handlers use the per-container singleton `lambdaEnvironment()`. */
export function createLambdaEnvironment(deps: LambdaEnvironmentDeps = {}): EngineEnvironment {
  const env = deps.env ?? process.env;
  const log = deps.logger ?? logger;
  const connectTo = deps.connect ?? pgConnect;
  const readFile = deps.readFile ?? ((path: string) => readFileSync(path, 'utf8'));
  let secrets = deps.secrets;
  let cachedTarget: ConnectionTarget | undefined;
  let ca: string | undefined;

  const required = (name: string): string => requiredVariable(env, name);

  // Replacing the trust store would drop the public roots, so the RDS CAs are added to Node's own.
  const defaultCas = (): string[] => [...rootCertificates, ...RDS_ROOT_CERTIFICATES];

  const caBundle = (): string | undefined => {
    const file = env.PGSIP_DB_CA_FILE;
    if (!file) return undefined;
    if (ca === undefined) {
      try {
        ca = readFile(file);
      } catch (error) {
        throw new ConnectionError(`cannot read the database CA bundle ${file}: ${(error as Error).message}`);
      }
    }
    return ca;
  };

  const tls = (): ConnectionTarget['ssl'] => {
    const mode = env.PGSIP_DB_TLS ?? 'verify-full';
    if (mode === 'off') return false;
    if (mode === 'require' || mode === 'no-verify') return { rejectUnauthorized: false };
    if (mode !== 'verify-full') throw new ConnectionError(`PGSIP_DB_TLS must be verify-full, require or off (got ${JSON.stringify(mode)})`);
    return { rejectUnauthorized: true, ca: caBundle() ?? defaultCas() };
  };

  const readSecret = async (secretArn: string): Promise<Record<string, string | number | undefined>> => {
    secrets ??= new SecretsManagerClient({});
    const out = await secrets.send(new GetSecretValueCommand({ SecretId: secretArn }));
    try {
      return JSON.parse(out.SecretString ?? '{}') as Record<string, string | number | undefined>;
    } catch {
      throw new ConnectionError(`database secret ${secretArn} is not JSON in RDS's shape (host, port, dbname, username, password)`);
    }
  };

  // The secret's `hashKey` field, read afresh each time it is asked for (once in Plan, once per shard that
  // hashes), so a changed key is used from the next run on, never kept by a warm container; without a secret,
  // PGSIP_HASH_KEY (development only, like DATABASE_URL). Never logged, never in a message.
  const hashKey = async (): Promise<Uint8Array> => {
    const secretArn = env.PGSIP_DB_SECRET_ARN;
    if (!secretArn) {
      if (!env.PGSIP_HASH_KEY) throw new InputError('no hash key: PGSIP_HASH_KEY is not set (and there is no database secret)');
      return hashKeyFromText(env.PGSIP_HASH_KEY, 'PGSIP_HASH_KEY');
    }
    const text = (await readSecret(secretArn)).hashKey;
    if (typeof text !== 'string' || text === '') throw new InputError(`the database secret ${secretArn} has no "hashKey" field (a string of at least ${MIN_HASH_KEY_BYTES} bytes)`);
    return hashKeyFromText(text, `the "hashKey" field of the database secret ${secretArn}`);
  };

  const target = async (refresh: boolean): Promise<ConnectionTarget> => {
    if (cachedTarget && !refresh) return cachedTarget;
    const secretArn = env.PGSIP_DB_SECRET_ARN;
    if (!secretArn) {
      const fromUrl = targetFromUrl(required('DATABASE_URL'));
      const bundle = fromUrl.ssl && fromUrl.ssl.rejectUnauthorized ? caBundle() : undefined;
      cachedTarget = bundle && fromUrl.ssl ? { ...fromUrl, ssl: { ...fromUrl.ssl, ca: bundle } } : fromUrl;
      return cachedTarget;
    }
    const secret = await readSecret(secretArn);
    for (const field of ['username', 'password'] as const) {
      if (!secret[field]) throw new ConnectionError(`database secret ${secretArn} has no "${field}"`);
    }
    const endpoint = endpointOf(secret, env, secretArn);
    cachedTarget = { ...endpoint, user: String(secret.username), password: String(secret.password), ssl: tls() };
    return cachedTarget;
  };

  return {
    ...createRunEnvironment(env, log),
    connectionBudget: connectionBudget(env),
    ...snapshotHolderSeconds(env),
    hashKey,
    defaultCompression: defaultCompression(env, log),
    runDefaults: {
      keepRuns: positiveVariable(env, 'PGSIP_KEEP_RUNS'),
      retentionGraceMinutes: positiveVariable(env, 'PGSIP_RETENTION_GRACE_MINUTES', 0),
      tableFormat: tableFormatVariable(env),
    },
    // Retries with backoff and jitter while Postgres says "not now". No breaker here: a container outlives
    // runs, and in AWS the Distributed Map failing on the first failed shard is what stops the fan-out.
    connect: guardConnect(
      async (applicationName) => {
        try {
          return await connectTo(await target(false), { applicationName });
        } catch (error) {
          // A rotated password fails authentication: read the secret again, once, and retry with it.
          if (!isAuthenticationFailure(error) || !env.PGSIP_DB_SECRET_ARN) throw error;
          log.warn('authentication failed; re-reading the database secret');
          return connectTo(await target(true), { applicationName });
        }
      },
      { breakAfter: Number.POSITIVE_INFINITY },
    ),
  };
}

/**
 * Where the database is: the secret's `host`, `port` and `dbname`, completed by the deployment's
 * `PGSIP_DB_HOST`, `PGSIP_DB_PORT` and `PGSIP_DB_NAME`. Both may name a field only if they agree: which one
 * was meant cannot be guessed, and connecting to the wrong one must not happen quietly.
 */
function endpointOf(secret: Record<string, string | number | undefined>, env: NodeJS.ProcessEnv, secretArn: string): Pick<ConnectionTarget, 'host' | 'port' | 'database'> {
  const field = (name: 'host' | 'port' | 'dbname', variable: string, setting: string): string | undefined => {
    const fromSecret = secret[name] === undefined || secret[name] === '' ? undefined : String(secret[name]);
    const fromDeployment = env[variable] || undefined;
    if (fromSecret !== undefined && fromDeployment !== undefined && fromSecret !== fromDeployment) {
      throw new ConnectionError(
        `database secret ${secretArn} has "${name}" ${JSON.stringify(fromSecret)} but the deployment sets ${setting} ${JSON.stringify(fromDeployment)}; remove one of them`,
      );
    }
    return fromSecret ?? fromDeployment;
  };
  const host = field('host', 'PGSIP_DB_HOST', 'database.host');
  if (!host) {
    throw new ConnectionError(
      `database secret ${secretArn} has no "host", and the deployment sets no database.host (an RDS-managed master-user secret holds only username and password: set database.host, port and dbname in the config, or databaseHost in the construct's props)`,
    );
  }
  const port = Number(field('port', 'PGSIP_DB_PORT', 'database.port') ?? 5432);
  if (!Number.isInteger(port) || port < 1 || port > 65_535) throw new ConnectionError(`database port must be a whole number from 1 to 65535 (database secret ${secretArn} or database.port)`);
  return { host, port, database: field('dbname', 'PGSIP_DB_NAME', 'database.dbname') ?? 'postgres' };
}

/** `PGSIP_DEFAULT_TABLE_FORMAT`: how tables land when a run names no format (docs/iceberg.md). */
function tableFormatVariable(env: NodeJS.ProcessEnv): TableFormat | undefined {
  const text = env.PGSIP_DEFAULT_TABLE_FORMAT;
  if (text === undefined || text === '') return undefined;
  if (!(TABLE_FORMATS as readonly string[]).includes(text)) throw new InputError(`PGSIP_DEFAULT_TABLE_FORMAT must be one of ${TABLE_FORMATS.join(', ')} (got ${JSON.stringify(text)})`);
  return text as TableFormat;
}

/** A whole-number variable of at least `min`, or undefined when unset. */
function positiveVariable(env: NodeJS.ProcessEnv, name: string, min = 1): number | undefined {
  const text = env[name];
  if (text === undefined || text === '') return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < min) throw new InputError(`${name} must be a whole number of at least ${min} (got ${JSON.stringify(text)})`);
  return n;
}

function connectionBudget(env: NodeJS.ProcessEnv): number | undefined {
  return positiveVariable(env, 'PGSIP_CONNECTION_BUDGET');
}

/** The codec of runs that name none; said once per container, and never silently a slower one. */
function defaultCompression(env: NodeJS.ProcessEnv, log: LogTarget): Compression | undefined {
  const wanted = env.PGSIP_DEFAULT_COMPRESSION;
  if (wanted === undefined || wanted === '') return undefined;
  if (!(COMPRESSIONS as readonly string[]).includes(wanted)) {
    throw new InputError(`PGSIP_DEFAULT_COMPRESSION must be one of ${COMPRESSIONS.join(', ')} (got ${JSON.stringify(wanted)})`);
  }
  const compression = wanted as Compression;
  if (compressionAvailable(compression)) return compression;
  log.warn(`${compression} is not available on Node ${process.versions.node}; runs that name no compression use SNAPPY`);
  return 'SNAPPY';
}

let environment: EngineEnvironment | undefined;

/** The container's environment: built on first use, reused by every later invocation. */
export function lambdaEnvironment(): EngineEnvironment {
  environment ??= createLambdaEnvironment();
  return environment;
}
