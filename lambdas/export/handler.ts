/** Export: one shard task in, the shard's counts out. A thin shell over the engine. */
import type { ShardResult, ShardTask } from '../engine/contracts';
import type { EngineEnvironment } from '../engine/environment';
import { exportShard } from '../engine/export-shard';
import { lambdaEnvironment, logger } from '../shared/lambda-environment';

export function createExportHandler(environment: () => EngineEnvironment) {
  return async (task: ShardTask): Promise<ShardResult> => exportShard(task, environment());
}

const exportHandler = createExportHandler(lambdaEnvironment);

export const handler = async (task: ShardTask): Promise<ShardResult> => {
  // Every log line of this invocation says which run and shard it belongs to.
  logger.appendKeys({ runId: task.runId, table: task.table, shard: task.shard });
  try {
    return await exportHandler(task);
  } finally {
    logger.removeKeys(['runId', 'table', 'shard']);
  }
};
