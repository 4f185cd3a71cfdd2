/**
 * The JSON files pgsip writes beside the Parquet — `_plan.json`, `_shards/<n>.json`, `_manifest.json`,
 * `_latest.json` — and the one way to read each back. Everything read from a destination was written by some
 * version of pgsip, possibly another one, or changed by hand since: a reader checks the format `version`
 * first (refusing one it does not know, with a message that says so) and then the shape, field by field,
 * instead of trusting a cast. The schemas are checked against the interfaces in contracts.ts by the compiler.
 *
 * Validation uses valibot: a few kilobytes in the Lambda bundles, where a full schema library would be
 * hundreds (see docs/architecture.md, "Dependencies").
 */
import * as v from 'valibot';
import {
  COMPRESSIONS,
  INFINITY_POLICIES,
  RUN_MODES,
  TABLE_FORMATS,
  DELETE_TRACKING,
  TYPE_PROFILES,
  type HeldSnapshotDocument,
  type LatestPointer,
  type RunManifest,
  type ObjectAddress,
  type RunPlan,
  type ShardManifest,
  type ShardTask,
  type TablePlan,
} from '../contracts';
import type { Destination } from '../destinations/destination';
import type { IcebergPrimitive, IcebergType, PartitionTransform } from '../iceberg/model';
import { RunDocumentError } from '../errors';

/** The format version this pgsip writes and reads, for every document. */
export const DOCUMENT_VERSION = 1;

const count = v.pipe(v.number(), v.integer(), v.minValue(0));
const bound = v.nullable(v.union([v.string(), v.pipe(v.array(v.string()), v.minLength(2))]));
const range = v.object({ lo: bound, hi: bound });
const splitColumn = v.object({ name: v.string(), pgType: v.string() });
const countsById = v.record(v.string(), count);
const boundsById = v.record(v.string(), v.string());
const partMetrics = v.object({
  columnSizes: countsById,
  valueCounts: countsById,
  nullValueCounts: countsById,
  nanValueCounts: countsById,
  lowerBounds: boundsById,
  upperBounds: boundsById,
  splitOffsets: v.array(count),
});
const partitionJson = v.array(v.union([v.string(), v.number(), v.boolean(), v.null()]));
const part = v.object({ path: v.string(), rows: count, bytes: count, metrics: v.optional(partMetrics), partition: v.optional(partitionJson) });

/** Iceberg types in a schema pgsip wrote (model.ts): primitives by name, lists as objects. */
const icebergType: v.GenericSchema<unknown, IcebergType> = v.union([
  v.pipe(
    v.string(),
    v.check((t) => /^(boolean|int|long|float|double|date|timestamp|timestamptz|string|binary|decimal\(\d+, \d+\))$/.test(t), 'an Iceberg primitive type pgsip writes'),
    v.transform((t) => t as IcebergPrimitive),
  ),
  v.object({ type: v.literal('list'), 'element-id': count, 'element-required': v.boolean(), element: v.lazy(() => icebergType) }),
]);
const icebergSchema = v.object({
  type: v.literal('struct'),
  'schema-id': count,
  fields: v.array(v.object({ id: count, name: v.string(), required: v.boolean(), type: icebergType, doc: v.optional(v.string()) })),
});
/** A partition spec (model.ts): transforms as partition-transforms.ts writes them. */
const partitionSpec = v.object({
  'spec-id': count,
  fields: v.array(
    v.object({
      name: v.string(),
      transform: v.pipe(
        v.string(),
        v.check((t) => /^(identity|year|month|day|hour|bucket\[\d+\]|truncate\[\d+\])$/.test(t), 'a partition transform pgsip writes'),
        v.transform((t) => t as PartitionTransform),
      ),
      'source-id': count,
      'field-id': count,
    }),
  ),
});
const checksum = v.object({ rows: count, keySum: v.nullable(v.string()) });
const version = v.literal(DOCUMENT_VERSION);

const shardTask = v.object({
  runId: v.string(),
  table: v.string(),
  runDir: v.string(),
  shard: count,
  shardCount: count,
  range,
  snapshot: v.optional(v.string()),
  heldSnapshot: v.optional(v.string()),
});

const incrementalPlan = v.object({
  mode: v.picklist(RUN_MODES),
  cursor: v.string(),
  cursorType: v.string(),
  primaryKey: v.array(v.string()),
  lookbackSeconds: count,
  from: v.nullable(v.string()),
  through: v.nullable(v.string()),
  snapshotAt: v.string(),
  before: v.nullable(v.object({ through: v.nullable(v.string()), at: v.string() })),
  openSince: v.nullable(v.string()),
  continues: v.nullable(v.string()),
  reason: v.string(),
  deletes: v.optional(v.picklist(DELETE_TRACKING)),
});

const planSchema: v.GenericSchema<unknown, TablePlan> = v.object({
  version,
  runId: v.string(),
  table: v.string(),
  schema: v.string(),
  name: v.string(),
  runDir: v.string(),
  columns: v.array(
    v.object({
      name: v.string(),
      pgType: v.string(),
      typeOid: count,
      typmod: v.pipe(v.number(), v.integer()),
      elemTypeOid: v.nullable(count),
      nullable: v.boolean(),
      parquetType: v.string(),
      infinity: v.optional(v.picklist(INFINITY_POLICIES)),
      hashed: v.optional(v.boolean()),
      fieldId: v.optional(count),
      elementId: v.optional(count),
    }),
  ),
  splitKey: v.nullable(splitColumn),
  split: v.optional(
    v.variant('by', [
      v.object({ by: v.literal('key'), columns: v.pipe(v.array(splitColumn), v.minLength(1)) }),
      v.object({ by: v.literal('pages') }),
      v.object({ by: v.literal('whole') }),
    ]),
  ),
  splitReason: v.optional(v.string()),
  shards: v.array(shardTask),
  options: v.object({
    compression: v.picklist(COMPRESSIONS),
    rowGroupBytes: count,
    partBytes: count,
    statementTimeoutMs: count,
    lockTimeoutMs: count,
    sweepAfterHours: v.number(),
    // Plans of pgsip 0.1 predate type profiles and retention: they wrote what `native` writes, kept every run.
    types: v.optional(v.picklist(TYPE_PROFILES), 'native'),
    infinity: v.optional(v.picklist(INFINITY_POLICIES), 'keep'),
    keepRuns: v.optional(v.nullable(v.pipe(v.number(), v.integer(), v.minValue(1))), null),
    retentionGraceMinutes: v.optional(v.number(), 60),
    // Plans written before table formats are of folder tables.
    tableFormat: v.optional(v.picklist(TABLE_FORMATS), 'hive'),
    maxDeleteShare: v.optional(v.pipe(v.number(), v.minValue(0), v.maxValue(1)), 0.1),
    compactAtDeleteFiles: v.optional(v.nullable(v.pipe(v.number(), v.integer(), v.minValue(1))), null),
  }),
  plannedAt: v.string(),
  estimatedRows: v.number(),
  incremental: v.optional(incrementalPlan),
  excluded: v.optional(v.array(v.string())),
  iceberg: v.optional(
    v.object({
      location: v.string(),
      schema: icebergSchema,
      lastColumnId: count,
      base: v.nullable(v.string()),
      changes: v.array(v.string()),
      replaced: v.optional(v.array(v.string())),
      spec: partitionSpec,
      lastPartitionId: count,
    }),
  ),
});

const shardManifestSchema: v.GenericSchema<ShardManifest> = v.object({
  version,
  runId: v.string(),
  table: v.string(),
  shard: count,
  range,
  attempt: v.string(),
  rows: count,
  bytes: count,
  parts: v.array(part),
  checksum,
  snapshot: v.nullable(v.string()),
  seconds: v.number(),
  keyset: v.optional(v.object({ path: v.string(), keys: count })),
});

const runManifestSchema: v.GenericSchema<unknown, RunManifest> = v.object({
  version,
  table: v.string(),
  runId: v.string(),
  rows: count,
  bytes: count,
  columns: v.array(
    v.object({ name: v.string(), pgType: v.string(), parquetType: v.string(), nullable: v.boolean(), infinity: v.optional(v.picklist(INFINITY_POLICIES)) }),
  ),
  parts: v.array(part),
  shards: v.array(v.object({ shard: count, range, rows: count, checksum, parts: v.array(v.string()) })),
  splitKey: v.nullable(v.string()),
  consistency: v.picklist(['snapshot', 'per-shard']),
  compression: v.string(),
  types: v.optional(v.picklist(TYPE_PROFILES), 'native'),
  // Manifests before incremental runs are of full runs.
  mode: v.optional(v.picklist(RUN_MODES), 'full'),
  incremental: v.optional(incrementalPlan),
  startedAt: v.string(),
  committedAt: v.string(),
  writer: v.string(),
  excluded: v.optional(v.array(v.string())),
  hashed: v.optional(v.array(v.string())),
  schemaChanges: v.optional(v.array(v.string())),
  keysets: v.optional(v.array(v.string())),
  iceberg: v.optional(v.object({ snapshotId: v.number(), changed: v.optional(v.number()), deleted: v.optional(v.number()) })),
});

const runRef = v.object({ runId: v.string(), manifest: v.string(), mode: v.picklist(RUN_MODES) });

const latestSchema: v.GenericSchema<unknown, LatestPointer> = v.pipe(
  v.object({
    // pgsip 0.1 wrote `_latest.json` without a version; its shape is version 1's.
    version: v.optional(version, DOCUMENT_VERSION),
    runId: v.string(),
    manifest: v.string(),
    plannedAt: v.string(),
    committedAt: v.string(),
    runs: v.optional(v.pipe(v.array(runRef), v.minLength(1))),
  }),
  // Pointers before incremental runs name one full run, which is the whole table.
  v.transform((p) => ({ ...p, runs: p.runs ?? [{ runId: p.runId, manifest: p.manifest, mode: 'full' as const }] })),
);

const runPlanSchema: v.GenericSchema<RunPlan> = v.object({
  version,
  runId: v.string(),
  schedule: v.optional(v.string()),
  tables: v.array(v.object({ table: v.string(), runDir: v.string(), shardCount: count })),
  shardCount: count,
  plannedAt: v.string(),
});

const cursorReading = v.object({ through: v.nullable(v.string()), at: v.string() });

const heldSnapshotSchema: v.GenericSchema<HeldSnapshotDocument> = v.object({
  version,
  execution: v.string(),
  runId: v.string(),
  origin: v.string(),
  generation: count,
  snapshot: v.string(),
  deadline: v.string(),
  horizon: v.nullable(v.object({ openSince: v.nullable(v.string()), before: v.record(v.string(), cursorReading) })),
});

/** `_runs/<runId>/_shards.json` is what Step Functions' ItemReader reads: a bare array, so it has no version field. */
export const shardListSchema = v.array(shardTask);

const KINDS = {
  plan: { what: 'run plan', schema: planSchema },
  run: { what: 'run table list', schema: runPlanSchema },
  shards: { what: 'shard list', schema: shardListSchema },
  shard: { what: 'shard manifest', schema: shardManifestSchema },
  manifest: { what: 'run manifest', schema: runManifestSchema },
  latest: { what: 'latest-run pointer', schema: latestSchema },
  heldSnapshot: { what: 'held snapshot', schema: heldSnapshotSchema },
} as const;

export type DocumentKind = keyof typeof KINDS;
type DocumentOf<K extends DocumentKind> = v.InferOutput<(typeof KINDS)[K]['schema']>;

/** Parses one document; `where` names it in errors (its location). */
export function parseDocument<K extends DocumentKind>(kind: K, body: Uint8Array | string, where: string): DocumentOf<K> {
  const { what, schema } = KINDS[kind];
  let json: unknown;
  try {
    json = JSON.parse(typeof body === 'string' ? body : Buffer.from(body).toString('utf8'));
  } catch (error) {
    throw new RunDocumentError(`${where} is not a ${what}: not valid JSON (${(error as Error).message.split('\n')[0]})`, { cause: error });
  }
  const found = typeof json === 'object' && json !== null ? (json as { version?: unknown }).version : undefined;
  if (found !== undefined && found !== DOCUMENT_VERSION) {
    throw new RunDocumentError(
      `${where} is a ${what} of format version ${JSON.stringify(found)}; this pgsip reads version ${DOCUMENT_VERSION} (it was written by another pgsip version: use that one, or export again)`,
    );
  }
  const parsed = v.safeParse(schema, json);
  if (!parsed.success) {
    const issue = parsed.issues[0];
    const path = issue.path?.map((p) => String(p.key)).join('.') || '(the document)';
    throw new RunDocumentError(`${where} is not a valid ${what}: ${path}: ${issue.message}`);
  }
  return parsed.output as DocumentOf<K>;
}

/** Reads a document from the destination: null when there is none, an error when it is not a valid one. */
export async function readDocument<K extends DocumentKind>(destination: Destination, kind: K, key: string): Promise<DocumentOf<K> | null> {
  const body = await destination.get(key);
  return body === null ? null : parseDocument(kind, body, destination.location(key));
}

/** The text pgsip writes for a document (indented: people read manifests). */
export function serializeDocument(document: TablePlan | ShardManifest | RunManifest | LatestPointer | RunPlan | HeldSnapshotDocument | v.InferOutput<typeof shardListSchema>): string {
  return JSON.stringify(document, null, 2);
}

/**
 * The shard tasks of a run, read from where Plan's result says they are (`PlanResult.items`): what the
 * Distributed Map's ItemReader reads on AWS, and what the local runner and tests read through here.
 */
export async function readShardList(destination: Destination, address: ObjectAddress): Promise<ShardTask[]> {
  const key = destination.keyAt(address);
  if (key === null) throw new RunDocumentError(`the shard list ${address.bucket}/${address.key} is not in ${destination.root}`);
  const list = await readDocument(destination, 'shards', key);
  if (!list) throw new RunDocumentError(`no shard list at ${destination.location(key)}: was this run planned?`);
  return list;
}
