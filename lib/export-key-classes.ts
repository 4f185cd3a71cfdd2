/**
 * The classes of keys pgsip writes under the export prefix (lambdas/engine/run/layout.ts), as IAM resource
 * patterns. Each function's role is granted only the classes it reads, writes or deletes (lib/pgsip-stack.ts);
 * cdk-nag's wildcard findings are acknowledged per class (lib/pgsip-nag.ts); test/lib/iam-evaluation.test.ts
 * evaluates the result request by request. An IAM `*` matches across `/`.
 */
export const KEY_CLASSES = {
  plan: { pattern: '*/run=*/_plan.json', what: "a table's run plan" },
  runPlan: { pattern: '_runs/*/_run.json', what: "a run's table list" },
  shardList: { pattern: '_runs/*/_shards.json', what: "a run's shard list (the Distributed Map's items)" },
  part: { pattern: '*/run=*/part-*.parquet', what: 'Parquet parts' },
  shardManifest: { pattern: '*/run=*/_shards/*.json', what: 'shard manifests' },
  manifest: { pattern: '*/run=*/_manifest.json', what: 'run manifests' },
  success: { pattern: '*/run=*/_SUCCESS', what: 'commit markers' },
  latest: { pattern: '*/_latest.json', what: "a table's latest-run pointer" },
  heldSnapshot: { pattern: '_runs/_snapshots/*', what: "an execution's held snapshot (current.json, released, failed)" },
  runFolder: { pattern: '*/run=*/*', what: 'anything inside a run folder (Commit deletes strays and abandoned runs)' },
  positionDeletes: { pattern: '*/run=*/deletes-*.parquet', what: "an Iceberg table's position deletes (the rows incremental runs replaced)" },
  keyset: { pattern: '*/run=*/_keyset/*', what: "a shard's keyset (the primary keys of its range, for deletes \"keyset\")" },
  compactedPart: { pattern: '*/run=_compact-*/part-*.parquet', what: "an Iceberg table's compacted data files (compactAtDeleteFiles)" },
  icebergMetadata: { pattern: '*/metadata/*', what: "an Iceberg table's metadata, manifests and manifest lists" },
} as const;

export type KeyClass = keyof typeof KEY_CLASSES;

/** `<prefix>/<pattern>` of a key class. */
export function keyPattern(exportPrefix: string, keyClass: KeyClass): string {
  return `${exportPrefix}/${KEY_CLASSES[keyClass].pattern}`;
}
