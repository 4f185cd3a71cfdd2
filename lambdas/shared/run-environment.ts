/**
 * What every pgsip function needs, from its environment variables: the destination and a log. Commit needs
 * nothing more (it never touches the database), so its bundle carries no Postgres driver, secret client or
 * CA bundle; Plan and Export extend this in lambda-environment.ts.
 *
 * - `PGSIP_DEST`: `s3://bucket/prefix` where runs are written (required).
 * - `PGSIP_S3_ENDPOINT`, `PGSIP_KMS_KEY_ID`: an S3-compatible endpoint (path-style); the KMS key for SSE-KMS.
 * - `PGSIP_TABLE_BUCKET_ARN`: an Amazon S3 Tables table bucket; Iceberg tables are kept there
 *   (s3-tables-catalog.ts): Plan creates them, Export writes their files, Commit commits them.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import { openDestination } from '../engine/destinations/open-destination';
import type { EngineLog, RunEnvironment } from '../engine/environment';
import { InputError } from '../engine/errors';
import { logger } from './logger';
import { S3TablesCatalog } from './s3-tables-catalog';

export type LogTarget = Pick<Logger, 'info' | 'warn' | 'error'>;

/** A required environment variable, or one line naming it. */
export function requiredVariable(env: NodeJS.ProcessEnv, name: string): string {
  const value = env[name];
  if (!value) throw new InputError(`environment variable ${name} is not set`);
  return value;
}

export function engineLog(log: LogTarget): EngineLog {
  return {
    info: (message, fields) => log.info(message, { ...fields }),
    warn: (message, fields) => log.warn(message, { ...fields }),
    error: (message, fields) => log.error(message, { ...fields }),
  };
}

export function createRunEnvironment(env: NodeJS.ProcessEnv = process.env, log: LogTarget = logger): RunEnvironment {
  return {
    destination: openDestination(requiredVariable(env, 'PGSIP_DEST'), { s3Endpoint: env.PGSIP_S3_ENDPOINT, kmsKeyId: env.PGSIP_KMS_KEY_ID }),
    log: engineLog(log),
    ...(env.PGSIP_TABLE_BUCKET_ARN ? { icebergCatalog: new S3TablesCatalog({ tableBucketArn: env.PGSIP_TABLE_BUCKET_ARN, s3Endpoint: env.PGSIP_S3_ENDPOINT }) } : {}),
  };
}
