/**
 * Commit's environment: run-environment.ts (destination, log) plus the catalog it registers tables in. Kept
 * apart so only Commit's bundle carries the Glue client.
 *
 * - `PGSIP_GLUE_DATABASE`: the Glue database of the committed tables; unset, nothing is registered.
 */
import type { RunEnvironment } from '../engine/environment';
import { GlueCatalog } from './glue-catalog';
import { createRunEnvironment, type LogTarget } from './run-environment';
import { logger } from './logger';

export function createCommitEnvironment(env: NodeJS.ProcessEnv = process.env, log: LogTarget = logger): RunEnvironment {
  const base = createRunEnvironment(env, log);
  return env.PGSIP_GLUE_DATABASE ? { ...base, catalog: new GlueCatalog({ database: env.PGSIP_GLUE_DATABASE }) } : base;
}

let environment: RunEnvironment | undefined;

/** The container's environment: built on first use, reused by every later invocation. */
export function commitEnvironment(): RunEnvironment {
  environment ??= createCommitEnvironment();
  return environment;
}
