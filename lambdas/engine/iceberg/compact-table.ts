/**
 * Compaction of an Iceberg table (docs/iceberg.md, "Compaction"): the data files that rows were deleted from,
 * and the small ones, rewritten into fresh files holding only their live rows, committed as one `replace`
 * snapshot that also drops the delete files no remaining data file needs. Readers see the same rows before and
 * after; the files behind them are fewer and hold no deleted row.
 *
 * - Exact: values are copied as the physical values the files store (parquet/physical-reader.ts), never
 *   through a JS form that could change one, into files written by the same part writer as a run's, under the
 *   same schema (field ids, types) as the files they replace. Files are only merged with files of the same
 *   partition spec, partition and file schema.
 * - Which files: every live data file with a position delete against it, and the files smaller than 3/4 of the
 *   target size where a partition has two or more of them. A lone small file without deletes stays.
 * - One commit through the catalog, as a run's (commit-table.ts): it is a compare-and-swap, and a table that
 *   moved on meanwhile (a run committed new deletes against a file being rewritten) is read again and compacted
 *   again from the start; what the lost attempt wrote is removed. The new files live in a folder of their own,
 *   `run=_compact-<id>/`, which retention deletes like a run's once no kept snapshot names its files.
 * - The snapshot carries `pgsip.compaction` (its id), never `pgsip.run-id`: it is no run. An incremental run
 *   planned before it goes on on top of it; a run finds the rows it replaces in the rewritten files. It
 *   carries the newest run's `pgsip.planned-at` forward, so that a run planned earlier than that one is still
 *   kept out once that run's snapshot has expired.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { SchemaElement } from 'hyparquet';
import type { Compression, PartEntry } from '../contracts';
import type { Destination } from '../destinations/destination';
import type { EngineLog } from '../environment';
import { CommitError, InputError } from '../errors';
import { PartSequence } from '../parquet/part-sequence';
import { openPhysicalFile, type PhysicalFile } from '../parquet/physical-reader';
import { columnValuesOf, physicalBytes } from '../parquet/physical-values';
import { newRunId } from '../run/layout';
import type { MetricsColumn } from './data-file-metrics';
import type { IcebergCatalog, IcebergTableRef } from './iceberg-catalog';
import { objectUri } from './iceberg-catalog';
import { icebergTypeOf } from './iceberg-schema';
import { decodeManifest, decodeManifestList, encodeManifest, encodeManifestList } from './manifest-avro';
import type { DataFile, IcebergType, ManifestEntry, ManifestFile, Snapshot, TableMetadata } from './model';
import { dataFileMetricsOf } from './part-metrics';
import { readDeletedPositions } from './previous-versions';
import { liveEntries, type LiveEntry, manifestFileOf, partitionText, specWithTypes } from './snapshot-files';
import { readTableFile, tableKeyResolver } from './table-files';
import { currentSchema, currentSnapshot, newSnapshotId, PLANNED_AT_SUMMARY_KEY, snapshotSummary, succeeding, withSnapshot } from './table-metadata';

/** Read-decide-write rounds before a compaction that keeps meeting other commits gives up. */
const ATTEMPTS = 5;

/** Summary key naming the compaction that made a snapshot. */
export const COMPACTION_SUMMARY_KEY = 'pgsip.compaction';

export interface CompactionOptions {
  /**
   * Size the rewritten files are cut at; a data file under 3/4 of it is small.
   * @default 512 MiB (Iceberg's `write.target-file-size-bytes`)
   */
  targetFileBytes?: number;
  /**
   * Column data a rewritten file holds per row group before it is encoded.
   * @default 16 MiB (a run's `rowGroupBytes`)
   */
  rowGroupBytes?: number;
  /** Decide and report, write nothing. */
  dryRun?: boolean;
  /** The time a killed compaction's folder is judged by. @default - now */
  now?: Date;
  /** Rewrite nothing when the files to rewrite hold more bytes than this (outcome `too-large`). @default - no limit */
  maxRewriteBytes?: number;
  /** Epoch milliseconds: a rewrite still going then stops (CommitError), nothing committed. @default - none */
  deadline?: number;
  /** Leave the table as it is while its current snapshot counts fewer delete files than this. @default - 0 */
  atDeleteFiles?: number;
}

export const DEFAULT_TARGET_FILE_BYTES = 512 * 1024 * 1024;
const DEFAULT_ROW_GROUP_BYTES = 16 * 1024 * 1024;

export interface CompactionEnvironment {
  destination: Destination;
  catalog: IcebergCatalog;
  log: EngineLog;
  /** Called after each rewritten data file, for progress on long compactions. */
  onFile?: (done: number, of: number) => void;
}

export interface CompactionResult {
  table: string;
  /** `unchanged`: nothing to rewrite. `planned`: a dry run's decision. `too-large`: over `maxRewriteBytes`. */
  outcome: 'compacted' | 'unchanged' | 'planned' | 'too-large';
  /** Bytes of the data files to rewrite. */
  rewriteBytes: number;
  /** Data files rewritten, and the delete files dropped with them. */
  rewrittenFiles: number;
  removedDeleteFiles: number;
  /** Files written, the live rows they hold, and the deleted rows they no longer carry. */
  addedFiles: number;
  rows: number;
  droppedRows: number;
  /** Live data files and delete files of the table before. */
  dataFiles: number;
  deleteFiles: number;
  compaction?: string;
  snapshotId?: number;
  metadata?: string;
  /** Folders of compactions that never committed (killed), removed first. */
  removedOrphans: string[];
}

/** A data file chosen for rewriting, with its footer. */
interface Chosen {
  live: LiveEntry;
  file: PhysicalFile;
  deleted: Set<number>;
}

/** Files rewritten together: one partition spec, one partition, one file schema. */
interface Group {
  specId: number;
  partition: DataFile['partition'];
  files: Chosen[];
}

/** The Iceberg column of each of a file's top-level columns, by the field ids the file carries. */
function metricsColumnsOfFile(columns: SchemaElement[][], path: string): MetricsColumn[] {
  return columns.map((schema, leafIndex) => {
    const fieldId = schema[0].field_id;
    const leafId = schema[schema.length - 1].field_id;
    if (fieldId === undefined || (schema.length > 1 && leafId === undefined)) {
      throw new CommitError(`${path}: column "${schema[0].name}" has no Iceberg field id; pgsip rewrites only files of an Iceberg table's schema`);
    }
    let type: IcebergType;
    try {
      type = icebergTypeOf(schema, schema[0].name);
    } catch (error) {
      throw new CommitError(`${path}: ${(error as Error).message.split('; ')[0]}; pgsip rewrites only the types it writes`);
    }
    if (typeof type !== 'string') type = { ...type, 'element-id': leafId! };
    return { fieldId, type, leafIndex };
  });
}

/** What makes two files' rows writable into one file: the same columns, types, annotations and field ids. */
function fileSchemaText(file: PhysicalFile): string {
  return JSON.stringify([file.columns, file.keyValue['iceberg.schema'] ?? null]);
}

function compressionOf(file: PhysicalFile, path: string): Compression {
  const codec = file.codec ?? 'UNCOMPRESSED';
  if (codec !== 'SNAPPY' && codec !== 'ZSTD' && codec !== 'UNCOMPRESSED') throw new CommitError(`${path} is compressed with ${codec}; pgsip writes SNAPPY, ZSTD or none`);
  return codec;
}

/**
 * Compacts one Iceberg table through its catalog. `ref` names it as a run's plan would (its location the
 * catalog's: an S3 Tables warehouse, else the folder under the destination).
 */
export async function compactTable(ref: IcebergTableRef, env: CompactionEnvironment, options: CompactionOptions = {}): Promise<CompactionResult> {
  const target = options.targetFileBytes ?? DEFAULT_TARGET_FILE_BYTES;
  const rowGroupBytes = options.rowGroupBytes ?? DEFAULT_ROW_GROUP_BYTES;
  if (!(target > 0)) throw new InputError(`the target file size must be positive (got ${target})`);
  const keyOf = tableKeyResolver(env.destination, ref);

  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    const base = await env.catalog.load(ref);
    if (!base) throw new InputError(`table ${ref.table}: no Iceberg table at ${ref.location} (${env.catalog.name}); nothing to compact`);
    const head = currentSnapshot(base.metadata);
    // The summary's count, before any manifest is read.
    if (Number(head?.summary['total-delete-files'] ?? 0) < (options.atDeleteFiles ?? 0)) {
      return { table: ref.table, outcome: 'unchanged', rewrittenFiles: 0, removedDeleteFiles: 0, addedFiles: 0, rows: 0, droppedRows: 0, dataFiles: Number(head?.summary['total-data-files'] ?? 0), deleteFiles: Number(head?.summary['total-delete-files'] ?? 0), removedOrphans: [], rewriteBytes: 0 };
    }
    const data = await liveEntries(env.destination, head, keyOf, 'data');
    const deleteFiles = await liveEntries(env.destination, head, keyOf, 'deletes');
    const removedOrphans = options.dryRun || attempt > 1 ? [] : await removeOrphanCompactions(ref, base.metadata, env, keyOf, options.now ?? new Date());
    const result: CompactionResult = { table: ref.table, outcome: 'unchanged', rewrittenFiles: 0, removedDeleteFiles: 0, addedFiles: 0, rows: 0, droppedRows: 0, dataFiles: data.length, deleteFiles: deleteFiles.length, removedOrphans, rewriteBytes: 0 };
    if (!head) return result;

    // Which data files each delete file deletes from: it can go once every one of them is rewritten. A position
    // delete applies to a file of its own spec and partition added no later than itself (spec, "Scan Planning"):
    // only those positions are dropped, as every reader drops them.
    const dataOf = new Map(data.map((d) => [d.entry.data_file.file_path, d]));
    const deletedBy = new Map<string, Set<number>>();
    const targetsOf = new Map<string, string[]>();
    for (const d of deleteFiles) {
      const positions = await readDeletedPositions([d.entry.data_file], { destination: env.destination, keyOf });
      targetsOf.set(d.entry.data_file.file_path, [...positions.keys()]);
      for (const [path, set] of positions) {
        const target = dataOf.get(path);
        const applies =
          target !== undefined &&
          target.specId === d.specId &&
          partitionText(target.entry.data_file.partition) === partitionText(d.entry.data_file.partition) &&
          (target.entry.sequence_number ?? 0) <= (d.entry.sequence_number ?? 0);
        if (!applies) continue;
        if (!deletedBy.has(path)) deletedBy.set(path, new Set());
        for (const p of set) deletedBy.get(path)!.add(p);
      }
    }

    const groups = new Map<string, Group>();
    for (const live of data) {
      const df = live.entry.data_file;
      const deleted = deletedBy.get(df.file_path) ?? new Set<number>();
      if (deleted.size === 0 && df.file_size_in_bytes >= target * 0.75) continue;
      const file = await openPhysicalFile(env.destination, keyOf(df.file_path), df.file_size_in_bytes);
      const key = `${live.specId}:${partitionText(df.partition)}:${fileSchemaText(file)}`;
      if (!groups.has(key)) groups.set(key, { specId: live.specId, partition: df.partition, files: [] });
      groups.get(key)!.files.push({ live, file, deleted });
    }
    const chosen = [...groups.values()].filter((g) => g.files.length > 1 || g.files.some((f) => f.deleted.size > 0));
    const rewritten = new Set(chosen.flatMap((g) => g.files.map((f) => f.live.entry.data_file.file_path)));
    const livePaths = new Set(data.map((d) => d.entry.data_file.file_path));
    // A delete file goes when nothing it deletes from stays live.
    const droppedDeletes = deleteFiles.filter((d) => targetsOf.get(d.entry.data_file.file_path)!.every((p) => rewritten.has(p) || !livePaths.has(p)));
    const chosenFiles = chosen.flatMap((g) => g.files);
    result.rewrittenFiles = chosenFiles.length;
    result.removedDeleteFiles = droppedDeletes.length;
    result.droppedRows = chosenFiles.reduce((n, f) => n + f.deleted.size, 0);
    result.rows = chosenFiles.reduce((n, f) => n + f.live.entry.data_file.record_count, 0) - result.droppedRows;
    result.rewriteBytes = chosenFiles.reduce((n, f) => n + f.live.entry.data_file.file_size_in_bytes, 0);
    if (chosenFiles.length === 0 && droppedDeletes.length === 0) return result;
    if (options.dryRun) return { ...result, outcome: 'planned' };
    if (options.maxRewriteBytes !== undefined && result.rewriteBytes > options.maxRewriteBytes) return { ...result, outcome: 'too-large' };

    const compaction = `compact-${newRunId()}`;
    // `_`: no run id starts with one (layout.ts), so no run's folder is ever a compaction's, nor its IAM class.
    const runDir = `${ref.dir}/run=_${compaction}`;
    const written: string[] = [];
    const added: { file: DataFile; specId: number }[] = [];
    let done = 0;
    // Once the catalog has been asked to swap, what was written may be the table's: never deleted after that
    // on an error (a swap can take and still fail to answer; a killed compaction's files are removed later).
    const state = { swapping: false };
    let attempted: { committed: boolean; snapshotId: number; metadata?: string };
    try {
      for (const [index, group] of chosen.entries()) {
        // In the order the rows were added: the rewritten file reads like the files it replaces, one after another.
        group.files.sort((a, b) => (a.live.entry.file_sequence_number ?? 0) - (b.live.entry.file_sequence_number ?? 0) || (a.live.entry.data_file.file_path < b.live.entry.data_file.file_path ? -1 : 1));
        const parts = await rewriteGroup(group, { destination: env.destination, runDir, shard: index, target, rowGroupBytes, compaction, deadline: options.deadline, table: ref.table, onFile: () => env.onFile?.(++done, chosenFiles.length) });
        for (const part of parts) {
          const key = `${runDir}/${part.path}`;
          written.push(key);
          if (part.rows === 0) continue;
          added.push({ specId: group.specId, file: dataFileOfPart(objectUri(env.destination, key), part, group.partition) });
        }
      }
      attempted = await commitReplace({ base, head, data, deleteFiles, rewritten, droppedDeletes, added, compaction, ref, env, keyOf, written, state });
    } catch (error) {
      // Named by nothing yet: removed where the destination allows it.
      if (!state.swapping) await env.destination.delete(written).catch(() => {});
      throw error;
    }
    // A swap answered as lost may still have taken (a request retried after it succeeded): the table says.
    const landed = attempted.committed ? attempted.metadata : await landedAt(ref, env.catalog, attempted.snapshotId);
    if (landed !== undefined) {
      // Parts of groups whose rows were all deleted were written empty, and are named by nothing.
      const empty = written.filter((key) => key.startsWith(`${runDir}/`) && !added.some((a) => a.file.file_path === objectUri(env.destination, key)) && /\/part-[^/]+\.parquet$/.test(key));
      if (empty.length > 0) await env.destination.delete(empty).catch(() => {});
      env.log.info('compacted the Iceberg table', { table: ref.table, compaction, snapshotId: attempted.snapshotId, rewrittenFiles: result.rewrittenFiles, removedDeleteFiles: result.removedDeleteFiles, addedFiles: added.length });
      return { ...result, outcome: 'compacted', addedFiles: added.length, compaction, snapshotId: attempted.snapshotId, metadata: landed };
    }
    env.log.warn('the Iceberg table moved on while compacting: compacting it again', { table: ref.table, attempt });
    await env.destination.delete(written).catch(() => {});
  }
  throw new CommitError(`table ${ref.table}: the Iceberg table kept moving on under ${ATTEMPTS} attempts to compact it; compact it again when runs are not committing`);
}

/** The latest `pgsip.planned-at` of the table's snapshots (runs', and compactions' carrying theirs). */
function newestPlannedAt(metadata: TableMetadata): string | undefined {
  return metadata.snapshots
    .map((s) => s.summary[PLANNED_AT_SUMMARY_KEY])
    .filter((t): t is string => t !== undefined)
    .sort()
    .at(-1);
}

/** The metadata location of the table if `snapshotId` is one of its snapshots now, else undefined. */
async function landedAt(ref: IcebergTableRef, catalog: IcebergCatalog, snapshotId: number): Promise<string | undefined> {
  const now = await catalog.load(ref);
  return now && now.metadata.snapshots.some((s) => s['snapshot-id'] === snapshotId) ? now.metadataLocation : undefined;
}

/**
 * A compaction folder is left alone this long after its compaction started (by the clock of the host that
 * named it): it may still be under way, however large the table or skewed that clock.
 */
const ORPHAN_AFTER_HOURS = 7 * 24;

/**
 * The folders of compactions that never committed (a process killed between writing its files and its
 * commit): `run=_compact-<time>-<id>/` folders older than a week none of whose files any snapshot of the table
 * names (every snapshot's manifests are read: a compaction's snapshot may have expired while its files are
 * still live). Not where the table's storage refuses deletes (S3 Tables removes unreferenced files itself).
 */
async function removeOrphanCompactions(ref: IcebergTableRef, metadata: TableMetadata, env: CompactionEnvironment, keyOf: (uri: string) => string, when: Date): Promise<string[]> {
  if (env.catalog.filesRemovedBy) return [];
  const prefix = `${ref.dir}/run=_compact-`;
  const byFolder = new Map<string, string[]>();
  for (const key of await env.destination.list(prefix)) {
    const folder = key.slice(0, key.indexOf('/', prefix.length));
    if (!byFolder.has(folder)) byFolder.set(folder, []);
    byFolder.get(folder)!.push(key);
  }
  const now = when.getTime();
  const old = [...byFolder.keys()].filter((folder) => {
    const stamp = /run=_compact-(\d{8}T\d{6}Z)-/.exec(folder)?.[1];
    const at = stamp ? Date.parse(`${stamp.slice(0, 4)}-${stamp.slice(4, 6)}-${stamp.slice(6, 8)}T${stamp.slice(9, 11)}:${stamp.slice(11, 13)}:${stamp.slice(13, 15)}Z`) : NaN;
    return Number.isFinite(at) && now - at > ORPHAN_AFTER_HOURS * 3600_000;
  });
  if (old.length === 0) return [];
  const named = new Set<string>();
  const seen = new Set<string>();
  for (const snapshot of metadata.snapshots) {
    for (const manifest of decodeManifestList(await readTableFile(env.destination, snapshot['manifest-list'], keyOf))) {
      if (seen.has(manifest.manifest_path)) continue;
      seen.add(manifest.manifest_path);
      for (const entry of decodeManifest(await readTableFile(env.destination, manifest.manifest_path, keyOf)).entries) named.add(keyOf(entry.data_file.file_path));
    }
  }
  const orphans = old.filter((folder) => byFolder.get(folder)!.every((key) => !named.has(key)));
  for (const folder of orphans) await env.destination.delete(byFolder.get(folder)!);
  if (orphans.length > 0) env.log.warn('removed the files of compactions that never committed', { table: ref.table, folders: orphans });
  return orphans;
}

/** A rewritten part as a data file of the table, in the partition of the files it replaces. */
function dataFileOfPart(path: string, part: PartEntry, partition: DataFile['partition']): DataFile {
  if (!part.metrics) throw new CommitError(`${path}: the rewritten file has no metrics`);
  return {
    content: 0,
    file_path: path,
    file_format: 'PARQUET',
    partition,
    record_count: part.rows,
    file_size_in_bytes: part.bytes,
    ...dataFileMetricsOf(part.metrics),
    split_offsets: part.metrics.splitOffsets,
    sort_order_id: 0,
    referenced_data_file: null,
  };
}

/** Writes the live rows of a group's files into new parts, a row group of about `rowGroupBytes` at a time. */
async function rewriteGroup(
  group: Group,
  options: { destination: Destination; runDir: string; shard: number; target: number; rowGroupBytes: number; compaction: string; deadline: number | undefined; table: string; onFile: () => void },
): Promise<PartEntry[]> {
  const first = group.files[0];
  const firstPath = first.live.entry.data_file.file_path;
  const columns = first.file.columns;
  const parts = new PartSequence({
    destination: options.destination,
    runDir: options.runDir,
    shard: options.shard,
    attempt: randomBytes(4).toString('hex'),
    columns: columns.map((schema) => ({ schema })),
    compression: compressionOf(first.file, firstPath),
    // Iceberg tables are written with the portable profile: V1 pages, which every engine reads.
    pageVersion: 1,
    partBytes: options.target,
    metadata: {
      [COMPACTION_SUMMARY_KEY]: options.compaction,
      ...(first.file.keyValue['iceberg.schema'] ? { 'iceberg.schema': first.file.keyValue['iceberg.schema'] } : {}),
    },
    icebergColumns: metricsColumnsOfFile(columns, firstPath),
  });
  let held: unknown[][] = columns.map(() => []);
  let rows = 0;
  let bytes = 0;
  const flush = async () => {
    if (rows === 0) return;
    const values = held.map((v, i) => columnValuesOf(columns[i], v));
    held = columns.map(() => []);
    const n = rows;
    rows = 0;
    bytes = 0;
    await parts.writeRowGroup(values, n);
  };
  try {
    for (const { file, deleted } of group.files) {
      let position = 0;
      for (let g = 0; g < file.rowGroups.length; g++) {
        if (options.deadline !== undefined && Date.now() > options.deadline) {
          throw new CommitError(`table ${options.table}: the compaction ran out of time before its commit; nothing committed (run pgsip compact, which has no deadline)`);
        }
        const values = await file.readRowGroup(g);
        const count = file.rowGroups[g];
        for (let r = 0; r < count; r++, position++) {
          if (deleted.has(position)) continue;
          for (let c = 0; c < columns.length; c++) {
            const v = values[c][r];
            held[c].push(v);
            bytes += physicalBytes(v);
          }
          rows++;
          if (bytes >= options.rowGroupBytes) await flush();
        }
      }
      options.onFile();
    }
    await flush();
    return await parts.finish();
  } catch (error) {
    await parts.abandon();
    throw error;
  }
}

interface ReplaceCommit {
  base: { metadata: TableMetadata; metadataLocation: string; version: string };
  head: Snapshot;
  data: LiveEntry[];
  deleteFiles: LiveEntry[];
  rewritten: Set<string>;
  droppedDeletes: LiveEntry[];
  added: { file: DataFile; specId: number }[];
  compaction: string;
  ref: IcebergTableRef;
  env: CompactionEnvironment;
  keyOf: (uri: string) => string;
  /** Keys written, for removal if the commit does not take. */
  written: string[];
  /** Set once the catalog is asked to swap. */
  state: { swapping: boolean };
}

/** The `replace` snapshot, committed through the catalog; `committed: false` when the table moved on meanwhile. */
async function commitReplace(c: ReplaceCommit): Promise<{ committed: boolean; snapshotId: number; metadata?: string }> {
  const { base, head, env, ref } = c;
  const metadata = base.metadata;
  const snapshotId = newSnapshotId(metadata);
  const sequenceNumber = metadata['last-sequence-number'] + 1;
  const commitId = randomUUID();
  const schema = currentSchema(metadata);
  const specOf = (specId: number) => {
    const spec = metadata['partition-specs'].find((s) => s['spec-id'] === specId);
    if (!spec) throw new CommitError(`table ${ref.table}: a manifest names partition spec ${specId}, which the table metadata does not have`);
    return specWithTypes(metadata, spec);
  };
  let manifestCount = 0;
  const writeManifest = async (entries: ManifestEntry[], specId: number, content: 'data' | 'deletes'): Promise<ManifestFile> => {
    const spec = specOf(specId);
    const bytes = encodeManifest(entries, { schema, spec: spec.spec, partitionTypes: spec.types, content });
    const key = `${ref.dir}/metadata/${commitId}-m${manifestCount++}.avro`;
    await env.destination.put(key, bytes);
    c.written.push(key);
    return manifestFileOf(objectUri(env.destination, key), bytes.byteLength, entries, snapshotId, sequenceNumber, content === 'data' ? 0 : 1, spec);
  };
  const bySpec = async <T extends { specId: number }>(items: T[], entry: (item: T) => ManifestEntry, content: 'data' | 'deletes', into: ManifestFile[]) => {
    for (const specId of [...new Set(items.map((i) => i.specId))].sort((a, b) => a - b)) {
      into.push(await writeManifest(items.filter((i) => i.specId === specId).map(entry), specId, content));
    }
  };

  const removedData = c.data.filter((d) => c.rewritten.has(d.entry.data_file.file_path));
  const removedPaths = new Set([...c.rewritten, ...c.droppedDeletes.map((d) => d.entry.data_file.file_path)]);
  const manifests: ManifestFile[] = [];
  await bySpec(c.added, (a) => ({ status: 1, snapshot_id: snapshotId, sequence_number: null, file_sequence_number: null, data_file: a.file }), 'data', manifests);
  const gone = (e: LiveEntry): ManifestEntry => ({ ...e.entry, status: 2, snapshot_id: snapshotId });
  await bySpec(removedData, gone, 'data', manifests);
  await bySpec(c.droppedDeletes, gone, 'deletes', manifests);
  // The table's other manifests carry over as they are; one that lists a removed file is written again with
  // its other live files as EXISTING (their sequence numbers explicit, as the spec requires).
  for (const manifest of decodeManifestList(await readTableFile(env.destination, head['manifest-list'], c.keyOf))) {
    const { entries } = decodeManifest(await readTableFile(env.destination, manifest.manifest_path, c.keyOf));
    const live = entries.filter((e) => e.status !== 2);
    if (!live.some((e) => removedPaths.has(e.data_file.file_path))) {
      manifests.push(manifest);
      continue;
    }
    const kept = live
      .filter((e) => !removedPaths.has(e.data_file.file_path))
      .map((e): ManifestEntry => ({
        ...e,
        status: 0,
        snapshot_id: e.snapshot_id ?? manifest.added_snapshot_id,
        sequence_number: e.sequence_number ?? manifest.sequence_number,
        file_sequence_number: e.file_sequence_number ?? manifest.sequence_number,
      }));
    if (kept.length > 0) manifests.push(await writeManifest(kept, manifest.partition_spec_id, manifest.content === 1 ? 'deletes' : 'data'));
  }
  const listKey = `${ref.dir}/metadata/snap-${snapshotId}-1-${commitId}.avro`;
  await env.destination.put(listKey, encodeManifestList(manifests, { snapshotId, parentSnapshotId: head['snapshot-id'], sequenceNumber }));
  c.written.push(listKey);

  const sum = (files: DataFile[], f: (d: DataFile) => number) => files.reduce((n, d) => n + f(d), 0);
  const addedFiles = c.added.map((a) => a.file);
  const removedFiles = removedData.map((d) => d.entry.data_file);
  const droppedFiles = c.droppedDeletes.map((d) => d.entry.data_file);
  const plannedAt = newestPlannedAt(metadata);
  const snapshot: Snapshot = {
    'snapshot-id': snapshotId,
    'parent-snapshot-id': head['snapshot-id'],
    'sequence-number': sequenceNumber,
    'timestamp-ms': Date.now(),
    'manifest-list': objectUri(env.destination, listKey),
    summary: snapshotSummary(
      'replace',
      {
        addedFiles: addedFiles.length,
        addedRecords: sum(addedFiles, (d) => d.record_count),
        addedBytes: sum(addedFiles, (d) => d.file_size_in_bytes),
        deletedFiles: removedFiles.length,
        deletedRecords: sum(removedFiles, (d) => d.record_count),
        removedBytes: sum(removedFiles, (d) => d.file_size_in_bytes),
        removedDeleteFiles: droppedFiles.length,
        removedPositionDeletes: sum(droppedFiles, (d) => d.record_count),
      },
      head,
      {
        [COMPACTION_SUMMARY_KEY]: c.compaction,
        // The moment of the newest run the table holds, carried forward: a run planned before it must still find
        // it (commit-table.ts, kept-newer) after that run's own snapshot has expired.
        ...(plannedAt ? { [PLANNED_AT_SUMMARY_KEY]: plannedAt } : {}),
      },
    ),
    'schema-id': schema['schema-id'],
  };
  const next = succeeding(withSnapshot(metadata, snapshot), { location: base.metadataLocation, metadata });
  c.state.swapping = true;
  const answer = await env.catalog.commit(ref, base, next);
  return answer.committed ? { committed: true, snapshotId, metadata: answer.metadataLocation } : { committed: false, snapshotId };
}
