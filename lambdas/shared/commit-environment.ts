/**
 * Commit's environment: run-environment.ts (destination, log) plus the catalog it registers tables in. Kept
 * apart so only Commit's bundle carries the Glue client.
 *
 * - `PGSIP_GLUE_DATABASE`: the Glue database of the committed tables; unset, nothing is registered.
 * - `PGSIP_GLUE_CREATE_DATABASE`: `true` creates that database on the first commit if it does not exist.
 *
 * With a Glue database, Iceberg tables are committed through Glue (glue-iceberg-catalog.ts); without one, each
 * is found by its path.
 */
import type { RunEnvironment } from '../engine/environment';
import { GlueCatalog } from './glue-catalog';
import { GlueIcebergCatalog } from './glue-iceberg-catalog';
import { createRunEnvironment, type LogTarget } from './run-environment';
import { logger } from './logger';

export function createCommitEnvironment(env: NodeJS.ProcessEnv = process.env, log: LogTarget = logger): RunEnvironment {
  const base = createRunEnvironment(env, log);
  if (!env.PGSIP_GLUE_DATABASE) return base;
  const createDatabase = env.PGSIP_GLUE_CREATE_DATABASE === 'true';
  return {
    ...base,
    // Folder tables are registered as Parquet tables; Iceberg tables are committed through Glue itself.
    catalog: new GlueCatalog({ database: env.PGSIP_GLUE_DATABASE, createDatabase }),
    // A table bucket keeps its own catalog: Glue then registers folder tables only.
    icebergCatalog: base.icebergCatalog ?? new GlueIcebergCatalog({ database: env.PGSIP_GLUE_DATABASE, destination: base.destination, createDatabase }),
  };
}

let environment: RunEnvironment | undefined;

/** The container's environment: built on first use, reused by every later invocation. */
export function commitEnvironment(): RunEnvironment {
  environment ??= createCommitEnvironment();
  return environment;
}
