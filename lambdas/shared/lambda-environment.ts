/**
 * The engine's environment inside Lambda, from the function's environment variables:
 *
 * - `PGSIP_DEST`: `s3://bucket/prefix` where runs are written (required).
 * - `PGSIP_DB_SECRET_ARN`: a Secrets Manager secret in RDS's JSON shape (`host`, `port`, `dbname`,
 *   `username`, `password`), read once per container and again after an authentication failure (rotation).
 * - `DATABASE_URL`: instead of a secret, for development only.
 * - `PGSIP_S3_ENDPOINT`, `PGSIP_KMS_KEY_ID`: an S3-compatible endpoint; the KMS key for SSE-KMS writes.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { connect, type ConnectionTarget, targetFromUrl } from '../engine/connection';
import type { EngineEnvironment } from '../engine/environment';
import { ConnectionError } from '../engine/errors';
import { openDestination } from '../engine/destinations/open-destination';

export const logger = new Logger({ serviceName: 'pgsip' });

let environment: EngineEnvironment | undefined;
let cachedTarget: ConnectionTarget | undefined;

export function lambdaEnvironment(): EngineEnvironment {
  if (environment) return environment;
  environment = {
    destination: openDestination(required('PGSIP_DEST'), {
      s3Endpoint: process.env.PGSIP_S3_ENDPOINT,
      kmsKeyId: process.env.PGSIP_KMS_KEY_ID,
    }),
    connect: async (applicationName) => {
      try {
        return await connect(await target(false), { applicationName });
      } catch (error) {
        // A rotated password fails authentication (SQLSTATE 28P01): read the secret again, once.
        const code = ((error as Error).cause as { code?: string } | undefined)?.code;
        if (!(error instanceof ConnectionError) || code !== '28P01' || !process.env.PGSIP_DB_SECRET_ARN) throw error;
        logger.warn('authentication failed; re-reading the database secret');
        return connect(await target(true), { applicationName });
      }
    },
    log: {
      info: (message, fields) => logger.info(message, { ...fields }),
      warn: (message, fields) => logger.warn(message, { ...fields }),
      error: (message, fields) => logger.error(message, { ...fields }),
    },
  };
  return environment;
}

async function target(refresh: boolean): Promise<ConnectionTarget> {
  if (cachedTarget && !refresh) return cachedTarget;
  const secretArn = process.env.PGSIP_DB_SECRET_ARN;
  if (!secretArn) {
    cachedTarget = targetFromUrl(required('DATABASE_URL'));
    return cachedTarget;
  }
  const client = new SecretsManagerClient({});
  const out = await client.send(new GetSecretValueCommand({ SecretId: secretArn }));
  const secret = JSON.parse(out.SecretString ?? '{}') as Record<string, string | number | undefined>;
  for (const field of ['host', 'username', 'password'] as const) {
    if (!secret[field]) throw new ConnectionError(`database secret ${secretArn} has no "${field}"`);
  }
  cachedTarget = {
    host: String(secret.host),
    port: Number(secret.port ?? 5432),
    database: String(secret.dbname ?? 'postgres'),
    user: String(secret.username),
    password: String(secret.password),
    // TLS with certificate verification unless the operator turned it off explicitly.
    ssl: process.env.PGSIP_DB_TLS === 'off' ? false : { rejectUnauthorized: process.env.PGSIP_DB_TLS !== 'no-verify' },
  };
  return cachedTarget;
}

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`environment variable ${name} is not set`);
  return value;
}
