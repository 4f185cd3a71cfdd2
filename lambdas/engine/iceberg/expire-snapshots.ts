/**
 * Retention of an Iceberg table (docs/iceberg.md, "Retention"): the snapshots older than the newest `keepRuns`
 * runs' (a compaction's snapshot does not count as a run) are expired once they have been out of them for the
 * grace period, and then only the files no
 * kept snapshot references are deleted, as Iceberg's own `ExpireSnapshots` does:
 *
 * 1. One commit through the catalog removes the expired snapshots from the table metadata (and their
 *    snapshot-log entries). It is a compare-and-swap like any other: a table that moved on meanwhile is left
 *    as it is, and the next commit expires again. Nothing is deleted before this commit.
 * 2. Then the files of the expired snapshots that no kept snapshot still references: their manifest lists,
 *    their manifests, and the run folders all of whose data and delete files are unreferenced (a full run's
 *    overwrite unreferences the whole table; an append keeps every earlier file live). A run folder goes
 *    `_SUCCESS` first and its plan last (run/retention.ts), so a deletion cut short leaves an uncommitted
 *    run that the sweep removes. A run folder some of whose files are still referenced is kept whole.
 *
 * A table whose storage refuses deletes (S3 Tables: IcebergCatalog.filesRemovedBy) has only the run
 * documents of expired runs deleted here; its own files are left to the catalog's removal of unreferenced files.
 *
 * Old metadata files (`v<N>.metadata.json`) are kept, as Iceberg Java keeps them by default: they are small,
 * and the metadata log names them. A snapshot leaves the newest `keepRuns` when the `keepRuns`-th snapshot
 * after it is committed; that moment, not its own commit, starts its grace period (the rule of folder
 * retention, so a query that started on the snapshot can finish). The current snapshot is always kept.
 */
import type { Destination } from '../destinations/destination';
import type { EngineLog } from '../environment';
import { deleteCommittedRun } from '../run/retention';
import type { IcebergCatalog, IcebergTableRef } from './iceberg-catalog';
import { decodeManifest, decodeManifestList } from './manifest-avro';
import type { ManifestFile, Snapshot, TableMetadata } from './model';
import { readTableFile, tableKeyResolver } from './table-files';
import { currentSnapshot, RUN_ID_SUMMARY_KEY, succeeding } from './table-metadata';

export interface SnapshotExpiryOptions {
  keepRuns: number;
  graceMinutes: number;
  now?: Date;
}

export interface ExpiredSnapshots {
  /** Snapshots removed from the table's metadata. */
  snapshots: number;
  /** Run folders deleted, by run id. */
  runs: string[];
  /** Manifests and manifest lists deleted. */
  metadataFiles: number;
}

export interface SnapshotExpiryEnvironment {
  destination: Destination;
  catalog: IcebergCatalog;
  log: EngineLog;
}

/** The snapshots retention no longer keeps, oldest last; the current snapshot never. */
export function snapshotsToExpire(metadata: TableMetadata, options: SnapshotExpiryOptions): Snapshot[] {
  const now = (options.now ?? new Date()).getTime();
  const current = currentSnapshot(metadata);
  const newestFirst = [...metadata.snapshots].sort((a, b) => b['sequence-number'] - a['sequence-number']);
  // Runs are what keepRuns counts: a compaction's snapshot (pgsip's or the catalog's) is not one of them, and
  // is kept while fewer than keepRuns runs were committed after it.
  const isRun = (s: Snapshot) => s.summary[RUN_ID_SUMMARY_KEY] !== undefined;
  const expired: Snapshot[] = [];
  for (let i = 0; i < newestFirst.length; i++) {
    const snapshot = newestFirst[i];
    if (snapshot['snapshot-id'] === current?.['snapshot-id']) continue;
    const newerRuns = newestFirst.slice(0, i).filter(isRun).map((s) => s['timestamp-ms']).sort((a, b) => a - b);
    if (newerRuns.length < options.keepRuns) continue;
    // When it dropped out of the newest keepRuns: the keepRuns-th run committed after it.
    const retiredAt = newerRuns[options.keepRuns - 1];
    if (now - retiredAt >= options.graceMinutes * 60_000) expired.push(snapshot);
  }
  return expired;
}

/** The metadata without `expired`: their snapshots and snapshot-log entries gone, as the next version of `base`. */
export function withoutSnapshots(base: { metadata: TableMetadata; location: string }, expired: Snapshot[], now: number): TableMetadata {
  const gone = new Set(expired.map((s) => s['snapshot-id']));
  const metadata: TableMetadata = {
    ...base.metadata,
    'last-updated-ms': Math.max(now, base.metadata['last-updated-ms']),
    snapshots: base.metadata.snapshots.filter((s) => !gone.has(s['snapshot-id'])),
    'snapshot-log': base.metadata['snapshot-log'].filter((e) => !gone.has(e['snapshot-id'])),
  };
  return succeeding(metadata, base);
}

/** Expires what retention no longer keeps of the table; null when nothing is due (or the table moved on). */
export async function expireSnapshots(ref: IcebergTableRef, env: SnapshotExpiryEnvironment, options: SnapshotExpiryOptions): Promise<ExpiredSnapshots | null> {
  const base = await env.catalog.load(ref);
  if (!base) return null;
  const expired = snapshotsToExpire(base.metadata, options);
  if (expired.length === 0) return null;
  const keyOf = tableKeyResolver(env.destination, ref);
  const gone = new Set(expired.map((s) => s['snapshot-id']));
  const kept = base.metadata.snapshots.filter((s) => !gone.has(s['snapshot-id']));

  // What the snapshots reference, read before anything changes (a manifest is read once, however many
  // snapshots list it).
  const manifestsOf = new Map<string, ManifestFile[]>();
  const filesOf = new Map<string, { path: string; live: boolean }[]>();
  const walk = async (snapshot: Snapshot) => {
    const list = decodeManifestList(await readTableFile(env.destination, snapshot['manifest-list'], keyOf));
    manifestsOf.set(snapshot['manifest-list'], list);
    for (const m of list) {
      if (filesOf.has(m.manifest_path)) continue;
      const { entries } = decodeManifest(await readTableFile(env.destination, m.manifest_path, keyOf));
      filesOf.set(m.manifest_path, entries.map((e) => ({ path: e.data_file.file_path, live: e.status !== 2 })));
    }
  };
  for (const s of base.metadata.snapshots) await walk(s);
  const keptLists = new Set(kept.map((s) => s['manifest-list']));
  const keptManifests = new Set(kept.flatMap((s) => manifestsOf.get(s['manifest-list'])!.map((m) => m.manifest_path)));
  const keptFiles = new Set([...keptManifests].flatMap((m) => filesOf.get(m)!.filter((f) => f.live).map((f) => f.path)));

  const answer = await env.catalog.commit(ref, base, withoutSnapshots({ metadata: base.metadata, location: base.metadataLocation }, expired, Date.now()));
  if (!answer.committed) {
    env.log.warn('the Iceberg table moved on while expiring snapshots: left for the next commit', { table: ref.table, reason: answer.reason });
    return null;
  }

  // Run folders of the expired snapshots' files, each deleted only if none of its files is still referenced.
  const runDirOf = (uri: string): string | null => {
    const m = /^(.*\/run=[^/]+)\/[^/]+$/.exec(keyOf(uri));
    return m ? m[1] : null;
  };
  const expiredManifests = new Set(expired.flatMap((s) => manifestsOf.get(s['manifest-list'])!.map((m) => m.manifest_path)));
  const candidateDirs = new Set<string>();
  for (const m of expiredManifests) for (const f of filesOf.get(m)!) if (!keptFiles.has(f.path)) candidateDirs.add(runDirOf(f.path) ?? '');
  candidateDirs.delete('');
  for (const f of keptFiles) candidateDirs.delete(runDirOf(f) ?? '');
  const runs: string[] = [];
  for (const dir of [...candidateDirs].sort()) {
    await deleteCommittedRun(env.destination, dir);
    runs.push(dir.slice(dir.lastIndexOf('/run=') + '/run='.length));
  }
  const metadataFiles = [
    ...expired.map((s) => s['manifest-list']).filter((l) => !keptLists.has(l)),
    ...[...expiredManifests].filter((m) => !keptManifests.has(m)),
  ];
  await env.destination.delete(metadataFiles.map(keyOf));
  env.log.info('expired Iceberg snapshots past retention', {
    table: ref.table,
    keepRuns: options.keepRuns,
    snapshots: expired.length,
    runs: expired.map((s) => s.summary[RUN_ID_SUMMARY_KEY]).filter((r): r is string => r !== undefined),
    runFolders: runs.length,
    ...(env.catalog.filesRemovedBy ? { filesLeftTo: env.catalog.filesRemovedBy } : {}),
  });
  return { snapshots: expired.length, runs, metadataFiles: metadataFiles.length };
}
