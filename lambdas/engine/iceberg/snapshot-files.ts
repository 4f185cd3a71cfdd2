/**
 * What a snapshot of a table holds, as the commits that build on it read it (commit-table.ts, compact-table.ts):
 * its live data and delete files with the sequence numbers they were added with, the partition specs they were
 * written with, and the manifest-list entry of a manifest written for a new snapshot.
 */
import type { Destination } from '../destinations/destination';
import { decodeManifest, decodeManifestList, type PartitionResultType, partitionResultTypes, partitionSummaries, typedPartitionFields } from './manifest-avro';
import type { DataFile, IcebergField, IcebergSchema, ManifestEntry, ManifestFile, PartitionSpec, Snapshot, TableMetadata } from './model';
import { serializeValue } from './single-value';
import { readTableFile } from './table-files';

/** A live data file of the table, and the partition spec it was written with. */
export interface LiveEntry {
  entry: ManifestEntry;
  specId: number;
}

/** The live data files of the current snapshot, with the sequence numbers they were added with. */
export async function liveEntries(destination: Destination, snapshot: Snapshot | null, keyOf: (uri: string) => string, content: 'data' | 'deletes' = 'data'): Promise<LiveEntry[]> {
  if (!snapshot) return [];
  const list = await readTableFile(destination, snapshot['manifest-list'], keyOf);
  const live: LiveEntry[] = [];
  for (const manifest of decodeManifestList(list)) {
    if (manifest.content !== (content === 'data' ? 0 : 1)) continue;
    const { entries } = decodeManifest(await readTableFile(destination, manifest.manifest_path, keyOf));
    for (const entry of entries) {
      if (entry.status === 2) continue;
      // An ADDED entry inherits its sequence numbers from the manifest that added it.
      live.push({
        entry: {
          ...entry,
          snapshot_id: entry.snapshot_id ?? manifest.added_snapshot_id,
          sequence_number: entry.sequence_number ?? manifest.sequence_number,
          file_sequence_number: entry.file_sequence_number ?? manifest.sequence_number,
        },
        specId: manifest.partition_spec_id,
      });
    }
  }
  return live;
}

/** A partition spec with the result type of each field. */
export interface SpecWithTypes {
  spec: PartitionSpec;
  types: PartitionResultType[];
}

/**
 * A spec of the table with its fields' result types. A source column of an older spec may since have been
 * dropped from the current schema: it is looked up in every schema the table has had.
 */
export function specWithTypes(metadata: TableMetadata, spec: PartitionSpec): SpecWithTypes {
  const byId = new Map<number, IcebergField>();
  for (const s of metadata.schemas) for (const f of s.fields) byId.set(f.id, f);
  const every: IcebergSchema = { type: 'struct', 'schema-id': metadata['current-schema-id'], fields: [...byId.values()] };
  return { spec, types: partitionResultTypes(every, spec) };
}

export function manifestFileOf(path: string, length: number, entries: ManifestEntry[], snapshotId: number, sequenceNumber: number, content: 0 | 1, spec: SpecWithTypes): ManifestFile {
  const sum = (status: number) => entries.filter((e) => e.status === status);
  const rows = (list: ManifestEntry[]) => list.reduce((n, e) => n + e.data_file.record_count, 0);
  const live = entries.filter((e) => e.status !== 2).map((e) => e.sequence_number ?? sequenceNumber);
  return {
    manifest_path: path,
    manifest_length: length,
    partition_spec_id: spec.spec['spec-id'],
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
    // Per partition field, the range of values the manifest's files hold: engines skip manifests by it.
    partitions: partitionSummaries(entries, typedPartitionFields(spec.spec, spec.types), (v, t) => serializeValue(t, v)),
  };
}


/** A partition tuple as text, to group files by (bigints and bytes spelled out: JSON takes neither). */
export function partitionText(partition: DataFile['partition']): string {
  return JSON.stringify(partition, (_, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v));
}
