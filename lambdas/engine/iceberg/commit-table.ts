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
import { liveEntries, type LiveEntry, manifestFileOf, partitionText, specWithTypes, type SpecWithTypes } from './snapshot-files';
import { objectUri } from './iceberg-catalog';
import { decodeManifestList, encodeManifest, encodeManifestList } from './manifest-avro';
import { dataFileMetricsOf } from './part-metrics';
import { writePositionDeletes } from './position-deletes';
import { previousVersions, readDeletedPositions, type RereadPositions, type RowIdentity } from './previous-versions';
import { readKeysets } from '../incremental/keyset';
import { readTableFile, tableKeyResolver } from './table-files';
import type { DataFile, ManifestEntry, ManifestFile, Snapshot, TableMetadata } from './model';
import { partitionFromJson } from './partition-json';
import {
  currentSchema,
  currentSnapshot,
  history,
  newSnapshotId,
  newTableMetadata,
  PLANNED_AT_SUMMARY_KEY,
  RUN_ID_SUMMARY_KEY,
  CHANGED_ROWS_SUMMARY_KEY,
  REREAD_ROWS_SUMMARY_KEY,
  DELETED_ROWS_SUMMARY_KEY,
  snapshotOfRun,
  snapshotSummary,
  succeeding,
  withPartitionSpec,
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

/** A part of the run as a data file of the table, in the partition the part records. */
function dataFileOf(path: string, part: RunManifest['parts'][number], spec: SpecWithTypes): DataFile {
  const metrics: PartMetrics | undefined = part.metrics;
  if (!metrics) throw new CommitError(`${path}: the part has no Iceberg metrics (was it written by a run planned for another table format?)`);
  if (spec.spec.fields.length > 0 && !part.partition) throw new CommitError(`${path}: the part records no partition, but the run writes partition spec ${spec.spec['spec-id']}`);
  return {
    content: 0,
    file_path: path,
    file_format: 'PARQUET',
    partition: part.partition ? partitionFromJson(part.partition, spec.spec, spec.types, path) : {},
    record_count: part.rows,
    file_size_in_bytes: part.bytes,
    ...dataFileMetricsOf(metrics),
    split_offsets: metrics.splitOffsets,
    sort_order_id: 0,
    referenced_data_file: null,
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
      // What the earlier Commit found, as its snapshot's summary keeps it.
      const count = (key: string, as: 'changed' | 'deleted') => (done.summary[key] === undefined ? {} : { [as]: Number(done.summary[key]) });
      return {
        outcome: 'unchanged',
        snapshotId: done['snapshot-id'],
        operation: done.summary.operation === 'append' || done.summary[CHANGED_ROWS_SUMMARY_KEY] !== undefined ? 'append' : 'overwrite',
        metadata: base.metadataLocation,
        ...count(CHANGED_ROWS_SUMMARY_KEY, 'changed'),
        ...count(DELETED_ROWS_SUMMARY_KEY, 'deleted'),
      };
    }
    const head = base ? currentSnapshot(base.metadata) : null;
    // The newest run in the table's history: a compaction's snapshot (compact-table.ts) may stand above it.
    const lastRun = base ? (history(base.metadata).find((s) => s.summary[PLANNED_AT_SUMMARY_KEY] !== undefined) ?? null) : null;
    const headPlannedAt = lastRun?.summary[PLANNED_AT_SUMMARY_KEY];
    if (base && head && lastRun && headPlannedAt !== undefined && headPlannedAt > plan.plannedAt) {
      env.log.warn('a run planned later is the table\'s current snapshot: this run is not added to the Iceberg table', { table: plan.table, runId: plan.runId, current: lastRun.summary[RUN_ID_SUMMARY_KEY] });
      return { outcome: 'kept-newer', snapshotId: head['snapshot-id'], operation, metadata: base.metadataLocation };
    }
    // An append continues from the watermark of the table as Plan saw it: a pgsip run committed since (or a
    // table that did not exist then) means this run's rows were read from an older watermark. Another writer's
    // commit (S3 Tables' or Glue's compaction, retention) changes no row's version: the run goes on, on the
    // new base.
    const movedByRun =
      base !== null &&
      (iceberg.base === null ||
        base.metadata.snapshots.some((s) => s.summary[RUN_ID_SUMMARY_KEY] !== undefined && s.summary[RUN_ID_SUMMARY_KEY] !== plan.runId && s['timestamp-ms'] >= Date.parse(plan.plannedAt)));
    if (operation === 'append' && (base?.metadataLocation ?? null) !== iceberg.base && base && head && movedByRun) {
      throw new CommitError(
        `table ${plan.table}: run ${head.summary[RUN_ID_SUMMARY_KEY] ?? head['snapshot-id']} was committed to the Iceberg table after run ${plan.runId} was planned, so this run's rows were read from an older watermark; run again (a new run reads from the new one)`,
      );
    }
    checkSchemaIds(base?.metadata ?? null, plan);
    checkSpec(base?.metadata ?? null, plan);

    const start = base?.metadata ?? newTableMetadata({ location: iceberg.location, schema: iceberg.schema, lastColumnId: iceberg.lastColumnId, spec: iceberg.spec });
    const withSchema = withPartitionSpec(withCurrentSchema(start, iceberg.schema, iceberg.lastColumnId), iceberg.spec, iceberg.lastPartitionId);
    const snapshotId = newSnapshotId(withSchema);
    const sequenceNumber = withSchema['last-sequence-number'] + 1;
    const commitId = randomUUID();
    const schema = currentSchema(withSchema);
    const runSpec = specWithTypes(withSchema, iceberg.spec);
    // Empty parts (a shard with no rows) carry the schema for folder readers; an Iceberg table needs no empty file.
    const addedParts = manifest.parts.filter((part) => part.rows > 0);
    const added: ManifestEntry[] = addedParts.map((part) => ({
      status: 1,
      snapshot_id: snapshotId,
      sequence_number: null,
      file_sequence_number: null,
      data_file: dataFileOf(objectUri(env.destination, `${plan.runDir}/${part.path}`), part, runSpec),
    }));
    const previous = base ? await liveEntries(env.destination, head, keyOf) : [];
    const removed: LiveEntry[] = operation === 'overwrite' ? previous.map((e) => ({ entry: { ...e.entry, status: 2, snapshot_id: snapshotId }, specId: e.specId })) : [];

    const written: string[] = [];
    // An incremental run is an upsert (previous-versions.ts): the rows of the table whose key the run holds
    // are its older versions, deleted by position in the same snapshot. A position delete applies to data of
    // an older or equal sequence number within its partition and spec: one delete file per partition of the
    // files it deletes from, listed in a delete manifest of their spec.
    const deletes: { file: DataFile; specId: number }[] = [];
    let upsert = { reread: 0, changed: 0, deleted: 0 };
    if (operation === 'append' && previous.length > 0) {
      // Equality deletes (another engine's) are refused where manifests are decoded (manifest-avro.ts).
      const deleteFiles = await liveEntries(env.destination, head, keyOf, 'deletes');
      let deletedBy: Map<string, Set<number>> | undefined;
      const deleted = async (path: string) => {
        deletedBy ??= await readDeletedPositions(deleteFiles.map((e) => e.entry.data_file), { destination: env.destination, keyOf });
        return deletedBy.get(path) ?? new Set<number>();
      };
      const identity = rowIdentity(plan);
      // `deletes: "keyset"`: the rows whose key the source no longer holds go too, found in the same pass over
      // the table's key columns, unless that is more of the table than the run may delete (a wrong keyset must
      // not empty a table).
      const keyset = plan.incremental?.deletes === 'keyset' && manifest.mode === 'incremental';
      const integerKey = identity.key.length === 1 && (identity.key[0].type === 'int' || identity.key[0].type === 'long');
      const source = keyset ? await readKeysets(env.destination, plan.runDir, manifest.keysets ?? [], integerKey) : undefined;
      const versions = await previousVersions(added.map((e) => e.data_file), previous.map((e) => e.entry.data_file), deleted, identity, { destination: env.destination, keyOf, table: plan.table }, source);
      upsert = { reread: versions.reread, changed: versions.changed, deleted: 0 };
      const gone = versions.gone;
      if (gone) {
        const share = gone.tableRows === 0 ? 0 : gone.rows / gone.tableRows;
        if (share > plan.options.maxDeleteShare) {
          const percent = (x: number) => `${Math.round(x * 1000) / 10}%`;
          throw new CommitError(
            `table ${plan.table}: the run would delete ${gone.rows} of the table's ${gone.tableRows} rows (${percent(share)}), more than maxDeleteShare allows (${percent(plan.options.maxDeleteShare)}): their keys are not in the source's keyset; nothing committed. If the source did lose them, start a new run with --max-delete-share ${Math.ceil(share * 100) / 100} (maxDeleteShare in the execution input; a resumed run keeps its planned share)`,
          );
        }
        for (const [path, positions] of gone.positions) {
          versions.positions.set(path, [...new Set([...(versions.positions.get(path) ?? []), ...positions])].sort((a, b) => a - b));
        }
        upsert.deleted = gone.rows;
      }
      const fileOf = new Map(previous.map((e) => [e.entry.data_file.file_path, { partition: e.entry.data_file.partition, specId: e.specId }]));
      const groups = new Map<string, { partition: DataFile['partition']; specId: number; positions: RereadPositions }>();
      for (const [path, positions] of versions.positions) {
        const file = fileOf.get(path);
        if (!file) throw new InternalError(`table ${plan.table}: rows to delete were found in ${path}, which is not a live file of the table`);
        const group = `${file.specId}:${partitionText(file.partition)}`;
        if (!groups.has(group)) groups.set(group, { partition: file.partition, specId: file.specId, positions: new Map() });
        groups.get(group)!.positions.set(path, positions);
      }
      for (const { partition, specId, positions } of groups.values()) {
        const key = `${plan.runDir}/${positionDeletesName(`${commitId}-${deletes.length}`)}`;
        written.push(key);
        deletes.push({ file: await writePositionDeletes(positions, { destination: env.destination, key, uri: objectUri(env.destination, key), compression: plan.options.compression, partition }), specId });
      }
      if (deletes.length > 0) {
        env.log.info('rows replaced or gone at the source are deleted from the table', { table: plan.table, runId: plan.runId, ...upsert });
      }
    }

    let manifestCount = 0;
    const writeManifest = async (entries: ManifestEntry[], spec: SpecWithTypes, content: 'data' | 'deletes' = 'data'): Promise<ManifestFile> => {
      const bytes = encodeManifest(entries, { schema, spec: spec.spec, partitionTypes: spec.types, content });
      const key = `${ref.dir}/metadata/${commitId}-m${manifestCount++}.avro`;
      await env.destination.put(key, bytes);
      written.push(key);
      return manifestFileOf(objectUri(env.destination, key), bytes.byteLength, entries, snapshotId, sequenceNumber, content === 'data' ? 0 : 1, spec);
    };
    const manifests: ManifestFile[] = [await writeManifest(added, runSpec)];
    // Files of earlier specs go in manifests of their own spec: one per spec, in spec order.
    const bySpec = async <T extends { specId: number }>(items: T[], entry: (item: T) => ManifestEntry, content: 'data' | 'deletes') => {
      for (const specId of [...new Set(items.map((i) => i.specId))].sort((a, b) => a - b)) {
        const spec = withSchema['partition-specs'].find((s) => s['spec-id'] === specId);
        if (!spec) throw new CommitError(`table ${plan.table}: a manifest names partition spec ${specId}, which the table metadata does not have`);
        manifests.push(await writeManifest(items.filter((i) => i.specId === specId).map(entry), specWithTypes(withSchema, spec), content));
      }
    };
    // The files a full run replaces, and the delete files of rows an incremental run replaces or that are gone.
    await bySpec(removed, (e) => e.entry, 'data');
    await bySpec(deletes, (d) => ({ status: 1, snapshot_id: snapshotId, sequence_number: null, file_sequence_number: null, data_file: d.file }), 'deletes');
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
    const snapshotOperation: Snapshot['summary']['operation'] = deletes.length > 0 ? 'overwrite' : operation === 'overwrite' && previous.length === 0 ? 'append' : operation;
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
          deletedRecords: records(removed.map((e) => e.entry)),
          removedBytes: bytes(removed.map((e) => e.entry)),
          ...(deletes.length > 0 ? { addedDeleteFiles: deletes.length, addedPositionDeletes: deletes.reduce((n, d) => n + d.file.record_count, 0) } : {}),
          ...parentDeletes,
        },
        head,
        {
          [RUN_ID_SUMMARY_KEY]: plan.runId,
          [PLANNED_AT_SUMMARY_KEY]: plan.plannedAt,
          ...(iceberg.changes.length > 0 ? { 'pgsip.schema-changes': iceberg.changes.join('; ') } : {}),
          // An upsert: how many of the run's rows replaced rows the table held, changed or only read again.
          ...(operation === 'append' ? { [CHANGED_ROWS_SUMMARY_KEY]: String(upsert.changed), [REREAD_ROWS_SUMMARY_KEY]: String(upsert.reread) } : {}),
          ...(plan.incremental?.deletes === 'keyset' && operation === 'append' ? { [DELETED_ROWS_SUMMARY_KEY]: String(upsert.deleted) } : {}),
        },
      ),
      'schema-id': schema['schema-id'],
    };
    const next: TableMetadata = succeeding(withSnapshot(withSchema, snapshot), base ? { location: base.metadataLocation, metadata: base.metadata } : null);
    const answer = await env.catalog.commit(ref, base, next);
    if (answer.committed) {
      env.log.info('committed to the Iceberg table', { table: plan.table, runId: plan.runId, snapshotId, operation: snapshot.summary.operation, catalog: env.catalog.name, metadata: answer.metadataLocation });
      return {
        outcome: 'committed',
        snapshotId,
        operation,
        metadata: answer.metadataLocation,
        ...(operation === 'append' ? { changed: upsert.changed } : {}),
        ...(plan.incremental?.deletes === 'keyset' && operation === 'append' ? { deleted: upsert.deleted } : {}),
      };
    }
    env.log.warn('the Iceberg table moved on while committing: reading it again', { table: plan.table, runId: plan.runId, attempt, reason: answer.reason });
    // What this attempt wrote is named by nothing, unless the swap took after all (a request retried after it
    // succeeded answers as lost; the next round then finds the run's snapshot): removed where the destination
    // allows it.
    const now = await env.catalog.load(ref);
    if (!now?.metadata.snapshots.some((s) => s['snapshot-id'] === snapshotId)) await env.destination.delete(written).catch(() => {});
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
  const replaced = new Set(plan.iceberg.replaced ?? []);
  for (const field of plan.iceberg.schema.fields) {
    const id = now.get(field.name);
    const holder = ids.get(field.id);
    // A column the run replaced has a new id the table does not know yet, its name still the old id's.
    const replacing = replaced.has(field.name) && holder === undefined;
    if ((id !== undefined && id !== field.id && !replacing) || (holder !== undefined && holder !== field.name)) {
      throw new CommitError(
        `table ${plan.table}, column "${field.name}": the Iceberg table's schema changed since run ${plan.runId} was planned (field id ${field.id} is ${holder === undefined ? 'unknown' : `"${holder}"`} there); run again`,
      );
    }
  }
}

/**
 * The run's files are written with the partition spec Plan chose. If the table meanwhile gained another spec
 * under the same id (a concurrent run evolved the partitioning), committing would misdescribe the files: refused.
 */
function checkSpec(metadata: TableMetadata | null, plan: TablePlan): void {
  const spec = plan.iceberg?.spec;
  if (!metadata || !spec) return;
  const same = metadata['partition-specs'].find((s) => s['spec-id'] === spec['spec-id']);
  if (same && JSON.stringify(same.fields) !== JSON.stringify(spec.fields)) {
    throw new CommitError(`table ${plan.table}: the Iceberg table's partition spec ${spec['spec-id']} changed since run ${plan.runId} was planned; run again`);
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
