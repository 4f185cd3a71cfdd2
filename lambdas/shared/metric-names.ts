/**
 * CloudWatch metrics the handlers emit (Powertools Metrics, embedded metric format) and the stack's alarms and
 * dashboard read. One list, so the two sides cannot drift.
 *
 * Dimensions: `service` (the stack name, from POWERTOOLS_SERVICE_NAME) on all; `table` (canonical quoted name)
 * on the per-table ones; `schedule` (the deployment schedule's name) on `ScheduleCommitted`. The shard number is NOT a dimension (a 64-shard table would make 64 custom metrics per
 * metric name); it is recorded as a property of each metric record, searchable in CloudWatch Logs Insights.
 */
export const METRIC_NAMESPACE = 'pgsip';

export const METRICS = {
  /** Export, per table: rows, Parquet bytes, seconds and rows/s of each finished shard. */
  shardRows: 'ShardRows',
  shardBytes: 'ShardBytes',
  shardSeconds: 'ShardSeconds',
  shardRowsPerSecond: 'ShardRowsPerSecond',
  /** Export, per table: a shard attempt that threw (retries included). */
  shardFailures: 'ShardFailures',
  /** Plan / Commit, per service: an invocation that threw. */
  planFailures: 'PlanFailures',
  commitFailures: 'CommitFailures',
  /** Holder, per service: a snapshot holder invocation that threw (the run it held for fails with it). */
  holderFailures: 'HolderFailures',
  /** Commit, per table: 1 for each committed run (the dashboard counts them), with its rows and bytes. */
  tableCommitted: 'TableCommitted',
  /**
   * Commit, per schedule: 1 when a run a schedule started has committed every one of its tables. The
   * schedule's freshness alarm watches it: one alarm per schedule, whatever its patterns match.
   */
  scheduleCommitted: 'ScheduleCommitted',
  committedRows: 'CommittedRows',
  committedBytes: 'CommittedBytes',
} as const;
