/** Commit: verify every shard of every table, then write manifests and `_SUCCESS`. */
import type { CommitResult } from '../engine/contracts';
import { type CommitEvent, commitRun } from '../engine/commit-run';
import type { EngineEnvironment } from '../engine/environment';
import { lambdaEnvironment } from '../shared/lambda-environment';

export function createCommitHandler(environment: () => EngineEnvironment) {
  return async (event: CommitEvent): Promise<CommitResult> => commitRun(event, environment());
}

export const handler = createCommitHandler(lambdaEnvironment);
