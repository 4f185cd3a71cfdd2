/**
 * A committed run becomes one snapshot of its Iceberg table (docs/iceberg.md, "Commits"): a full run an
 * `overwrite` (its parts are the table; every file live before is listed as deleted), an incremental run an
 * `append` (its parts join the table's). The run's Parquet parts stay where the run wrote them, in the run
 * folder inside the table's location; this adds the manifest, the manifest list and the table metadata that
 * name them, then asks the catalog to swap its pointer (iceberg-catalog.ts).
 *
 * Exactly once: every snapshot's summary names its run (`pgsip.run-id`); a Commit that finds its run in the
 * table's history changes nothing. Two commits at once: the catalog's compare-and-swap lets one win; the
 * other reads the table again and decides again: a full run planned before the snapshot now current keeps
 * the newer one (`kept-newer`), an incremental run whose table moved on since it was planned fails loudly (its
 * rows were read from a watermark the other run also read from), anything else is re-applied on the new base.
 */
import { randomUUID } from 'node:crypto';
import type { IcebergCommit, PartMetrics, RunManifest, TablePlan } from '../contracts';
import type { Destination } from '../destinations/destination';
import type { EngineLog } from '../environment';
import { CommitError, InternalError } from '../errors';
import { positionDeletesName } from '../run/layout';
import type { IcebergCatalog, IcebergTableRef, LoadedTable } from './iceberg-catalog';
import { objectUri } from './iceberg-catalog';
import { decodeManifest, decodeManifestList, encodeManifest, encodeManifestList } from './manifest-avro';
import { dataFileMetricsOf } from './part-metrics';
import { writePositionDeletes } from './position-deletes';
import { rereadRows, type RowIdentity } from './reread-rows';
import { readTableFile, tableKeyResolver } from './table-files';
import type { DataFile, ManifestEntry, ManifestFile, Snapshot, TableMetadata } from './model';
import {
  currentSchema,
  currentSnapshot,
  newSnapshotId,
  newTableMetadata,
  PLANNED_AT_SUMMARY_KEY,
  RUN_ID_SUMMARY_KEY,
  snapshotOfRun,
  snapshotSummary,
  succeeding,
  UNPARTITIONED,
  withCurrentSchema,
  withSnapshot,
} from './table-metadata';

/** Read-decide-write rounds before a commit that keeps meeting other commits gives up. */
const ATTEMPTS = 5;

export interface IcebergCommitEnvironment {
  destination: Destination;
  catalog: IcebergCatalog;
  log: EngineLog;
}

/** The table a plan's run lands in. */
export function tableRefOf(plan: TablePlan): IcebergTableRef {
  if (!plan.iceberg) throw new InternalError(`${plan.runDir}: the plan has no Iceberg table`);
  return { table: plan.table, dir: plan.runDir.replace(/\/run=[^/]+$/, ''), location: plan.iceberg.location, schema: plan.schema, name: plan.name };
}

/** A part of the run as a data file of the table. */
function dataFileOf(path: string, part: RunManifest['parts'][number]): DataFile {
  const metrics: PartMetrics | undefined = part.metrics;
  if (!metrics) throw new CommitError(`${path}: the part has no Iceberg metrics (was it written by a run planned for another table format?)`);
  return {
    content: 0,
    file_path: path,
    file_format: 'PARQUET',
    partition: {},
    record_count: part.rows,
    file_size_in_bytes: part.bytes,
    ...dataFileMetricsOf(metrics),
    split_offsets: metrics.splitOffsets,
    sort_order_id: 0,
    referenced_data_file: null,
  };
}

/** The live data files of the current snapshot, with the sequence numbers they were added with. */
async function liveEntries(destination: Destination, snapshot: Snapshot | null, keyOf: (uri: string) => string): Promise<ManifestEntry[]> {
  if (!snapshot) return [];
  const list = await readTableFile(destination, snapshot['manifest-list'], keyOf);
  const live: ManifestEntry[] = [];
  for (const manifest of decodeManifestList(list)) {
    if (manifest.content !== 0) continue;
    const { entries } = decodeManifest(await readTableFile(destination, manifest.manifest_path, keyOf));
    for (const entry of entries) {
      if (entry.status === 2) continue;
      // An ADDED entry inherits its sequence numbers from the manifest that added it.
      live.push({
        ...entry,
        snapshot_id: entry.snapshot_id ?? manifest.added_snapshot_id,
        sequence_number: entry.sequence_number ?? manifest.sequence_number,
        file_sequence_number: entry.file_sequence_number ?? manifest.sequence_number,
      });
    }
  }
  return live;
}

function manifestFileOf(path: string, length: number, entries: ManifestEntry[], snapshotId: number, sequenceNumber: number, content: 0 | 1 = 0): ManifestFile {
  const sum = (status: number) => entries.filter((e) => e.status === status);
  const rows = (list: ManifestEntry[]) => list.reduce((n, e) => n + e.data_file.record_count, 0);
  const live = entries.filter((e) => e.status !== 2).map((e) => e.sequence_number ?? sequenceNumber);
  return {
    manifest_path: path,
    manifest_length: length,
    partition_spec_id: UNPARTITIONED['spec-id'],
    content,
    sequence_number: sequenceNumber,
    min_sequence_number: live.length > 0 ? Math.min(...live) : sequenceNumber,
    added_snapshot_id: snapshotId,
    added_files_count: sum(1).length,
    existing_files_count: sum(0).length,
    deleted_files_count: sum(2).length,
    added_rows_count: rows(sum(1)),
    existing_rows_count: rows(sum(0)),
    deleted_rows_count: rows(sum(2)),
    partitions: [],
  };
}

export interface IcebergRun {
  plan: TablePlan;
  manifest: RunManifest;
}

/**
 * Commits a committed run to its Iceberg table, once. `keyOf` turns a URI this destination wrote back into
 * its key (a table's files name each other by URI).
 */
export async function commitToIcebergTable(run: IcebergRun, env: IcebergCommitEnvironment): Promise<IcebergCommit> {
  const { plan, manifest } = run;
  const iceberg = plan.iceberg;
  if (!iceberg) throw new InternalError(`${plan.runDir}: the plan has no Iceberg table`);
  const ref = tableRefOf(plan);
  const keyOf = tableKeyResolver(env.destination, ref);
  const operation: IcebergCommit['operation'] = manifest.mode === 'incremental' ? 'append' : 'overwrite';

  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    const base: LoadedTable | null = await env.catalog.load(ref);
    const done = base && snapshotOfRun(base.metadata, plan.runId);
    if (base && done) {
      return { outcome: 'unchanged', snapshotId: done['snapshot-id'], operation: done.summary.operation === 'append' ? 'append' : 'overwrite', metadata: base.metadataLocation };
    }
    const head = base ? currentSnapshot(base.metadata) : null;
    const headPlannedAt = head?.summary[PLANNED_AT_SUMMARY_KEY];
    if (base && head && headPlannedAt !== undefined && headPlannedAt > plan.plannedAt) {
      env.log.warn('a run planned later is the table\'s current snapshot: this run is not added to the Iceberg table', { table: plan.table, runId: plan.runId, current: head.summary[RUN_ID_SUMMARY_KEY] });
      return { outcome: 'kept-newer', snapshotId: head['snapshot-id'], operation, metadata: base.metadataLocation };
    }
    if (operation === 'append' && (base?.metadataLocation ?? null) !== iceberg.base && base && head) {
      throw new CommitError(
        `table ${plan.table}: run ${head.summary[RUN_ID_SUMMARY_KEY] ?? head['snapshot-id']} was committed to the Iceberg table after run ${plan.runId} was planned, so this run's rows were read from an older watermark; run again (a new run reads from the new one)`,
      );
    }
    checkSchemaIds(base?.metadata ?? null, plan);

    const start = base?.metadata ?? newTableMetadata({ location: iceberg.location, schema: iceberg.schema, lastColumnId: iceberg.lastColumnId });
    const withSchema = withCurrentSchema(start, iceberg.schema, iceberg.lastColumnId);
    const snapshotId = newSnapshotId(withSchema);
    const sequenceNumber = withSchema['last-sequence-number'] + 1;
    const commitId = randomUUID();
    const schema = currentSchema(withSchema);
    const added: ManifestEntry[] = manifest.parts.map((part) => ({
      status: 1,
      snapshot_id: snapshotId,
      sequence_number: null,
      file_sequence_number: null,
      data_file: dataFileOf(objectUri(env.destination, `${plan.runDir}/${part.path}`), part),
    }));
    const previous = base ? await liveEntries(env.destination, head, keyOf) : [];
    const removed: ManifestEntry[] = operation === 'overwrite' ? previous.map((e) => ({ ...e, status: 2, snapshot_id: snapshotId })) : [];

    const written: string[] = [];
    // Rows an incremental run read again are deleted from its own files in the same snapshot (reread-rows.ts):
    // a position delete applies to data of its own sequence number.
    let deletes: DataFile | null = null;
    if (operation === 'append' && previous.length > 0) {
      const reread = await rereadRows(added.map((e) => e.data_file), previous.map((e) => e.data_file), rowIdentity(plan), { destination: env.destination, keyOf, table: plan.table });
      if (reread.size > 0) {
        const key = `${plan.runDir}/${positionDeletesName(commitId)}`;
        written.push(key);
        deletes = await writePositionDeletes(reread, { destination: env.destination, key, uri: objectUri(env.destination, key), compression: plan.options.compression });
        env.log.info('rows read again are deleted from the run\'s files', { table: plan.table, runId: plan.runId, rows: deletes.record_count });
      }
    }

    const writeManifest = async (entries: ManifestEntry[], n: number, content: 'data' | 'deletes' = 'data'): Promise<ManifestFile> => {
      const bytes = encodeManifest(entries, { schema, spec: UNPARTITIONED, content });
      const key = `${ref.dir}/metadata/${commitId}-m${n}.avro`;
      await env.destination.put(key, bytes);
      written.push(key);
      return manifestFileOf(objectUri(env.destination, key), bytes.byteLength, entries, snapshotId, sequenceNumber, content === 'data' ? 0 : 1);
    };
    const manifests: ManifestFile[] = [await writeManifest(added, 0)];
    if (removed.length > 0) manifests.push(await writeManifest(removed, 1));
    if (deletes) manifests.push(await writeManifest([{ status: 1, snapshot_id: snapshotId, sequence_number: null, file_sequence_number: null, data_file: deletes }], 2, 'deletes'));
    if (operation === 'append' && head) {
      // The table's manifests carry over as they are: their files stay live.
      manifests.push(...decodeManifestList(await readTableFile(env.destination, head['manifest-list'], keyOf)));
    }
    const listKey = `${ref.dir}/metadata/snap-${snapshotId}-${attempt}-${commitId}.avro`;
    await env.destination.put(listKey, encodeManifestList(manifests, { snapshotId, parentSnapshotId: head?.['snapshot-id'] ?? null, sequenceNumber }));
    written.push(listKey);

    const bytes = (list: ManifestEntry[]) => list.reduce((n, e) => n + e.data_file.file_size_in_bytes, 0);
    const records = (list: ManifestEntry[]) => list.reduce((n, e) => n + e.data_file.record_count, 0);
    // A full run's snapshot no longer lists the table's delete files: they go with the files they deleted from.
    const parentDeletes = operation === 'overwrite' && head ? { removedDeleteFiles: Number(head.summary['total-delete-files'] ?? 0), removedPositionDeletes: Number(head.summary['total-position-deletes'] ?? 0) } : {};
    const snapshotOperation: Snapshot['summary']['operation'] = deletes ? 'overwrite' : operation === 'overwrite' && previous.length === 0 ? 'append' : operation;
    const snapshot: Snapshot = {
      'snapshot-id': snapshotId,
      ...(head ? { 'parent-snapshot-id': head['snapshot-id'] } : {}),
      'sequence-number': sequenceNumber,
      'timestamp-ms': Date.now(),
      'manifest-list': objectUri(env.destination, listKey),
      summary: snapshotSummary(
        snapshotOperation,
        {
          addedFiles: added.length,
          addedRecords: records(added),
          addedBytes: bytes(added),
          deletedFiles: removed.length,
          deletedRecords: records(removed),
          removedBytes: bytes(removed),
          ...(deletes ? { addedDeleteFiles: 1, addedPositionDeletes: deletes.record_count } : {}),
          ...parentDeletes,
        },
        head,
        { [RUN_ID_SUMMARY_KEY]: plan.runId, [PLANNED_AT_SUMMARY_KEY]: plan.plannedAt },
      ),
      'schema-id': schema['schema-id'],
    };
    const next: TableMetadata = succeeding(withSnapshot(withSchema, snapshot), base ? { location: base.metadataLocation, metadata: base.metadata } : null);
    const answer = await env.catalog.commit(ref, base, next);
    if (answer.committed) {
      env.log.info('committed to the Iceberg table', { table: plan.table, runId: plan.runId, snapshotId, operation: snapshot.summary.operation, catalog: env.catalog.name, metadata: answer.metadataLocation });
      return { outcome: 'committed', snapshotId, operation, metadata: answer.metadataLocation };
    }
    env.log.warn('the Iceberg table moved on while committing: reading it again', { table: plan.table, runId: plan.runId, attempt, reason: answer.reason });
    // What this attempt wrote is named by nothing: removed where the destination allows it.
    await env.destination.delete(written).catch(() => {});
  }
  throw new CommitError(`table ${plan.table}: the Iceberg table kept moving on under ${ATTEMPTS} attempts to commit run ${plan.runId}; commit it again (pgsip run --run-id ${plan.runId})`);
}

/**
 * The run's files carry the field ids Plan gave its columns. If the table's current schema gives one of those
 * names another id now (a concurrent run added a column under the same id), committing would make readers
 * read the wrong column: refused.
 */
function checkSchemaIds(metadata: TableMetadata | null, plan: TablePlan): void {
  if (!metadata || !plan.iceberg) return;
  const now = new Map(currentSchema(metadata).fields.map((f) => [f.name, f.id]));
  const ids = new Map<number, string>();
  for (const s of metadata.schemas) for (const f of s.fields) ids.set(f.id, f.name);
  for (const field of plan.iceberg.schema.fields) {
    const id = now.get(field.name);
    const holder = ids.get(field.id);
    if ((id !== undefined && id !== field.id) || (holder !== undefined && holder !== field.name)) {
      throw new CommitError(
        `table ${plan.table}, column "${field.name}": the Iceberg table's schema changed since run ${plan.runId} was planned (field id ${field.id} is ${holder === undefined ? 'unknown' : `"${holder}"`} there); run again`,
      );
    }
  }
}

/** How a row of the run is recognized in the table: its primary key, and the cursor a re-read row shares. */
function rowIdentity(plan: TablePlan): RowIdentity {
  const fields = new Map((plan.iceberg?.schema.fields ?? []).map((f) => [f.name, f]));
  const field = (name: string) => {
    const f = fields.get(name);
    if (!f) throw new CommitError(`table ${plan.table}: column "${name}" is not in the run's Iceberg schema (excluded?)`);
    return f;
  };
  const incremental = plan.incremental;
  if (!incremental || incremental.primaryKey.length === 0) {
    throw new CommitError(`table ${plan.table}: an incremental run of an Iceberg table needs the table's primary key to recognize the rows it read again`);
  }
  return { key: incremental.primaryKey.map(field), cursor: field(incremental.cursor) };
}
