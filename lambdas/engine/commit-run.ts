/**
 * Commit: a table's run becomes visible only when every planned shard finished exactly once and the numbers
 * agree. Order matters for readers: `_manifest.json`, then stray parts removed, then `_SUCCESS`, then the
 * table's `_latest.json`, then the catalog (if one is configured), so a catalog never shows a run that has not
 * committed. Committing an already committed run changes nothing on the destination, registers the table if it
 * was not (a Commit that failed at the catalog, redriven) and returns the same answer.
 */
import type { CatalogOutcome } from './catalog/table-catalog';
import { lakeLocation, lakeTable } from './catalog/lake-table';
import type { CommitEvent, CommitOutput, CommitResult, CommittedTable, IcebergCommit, LatestPointer, RunManifest, ShardManifest, TablePlan } from './contracts';
import type { RunEnvironment } from './environment';
import { CatalogError, CommitError, PgsipError, RunDocumentError } from './errors';
import { faultPoint } from './run/fault-points';
import { WRITER } from './version';
import { retireOldRuns } from './run/retention';
import { DEFAULT_SWEEP_AFTER_HOURS, sweepAbandonedRuns } from './run/sweep';
import { loadPlan } from './run/plan-store';
import { DOCUMENT_VERSION, readDocument, serializeDocument } from './run/documents';
import { checksumKeyOf, selectionOf } from './selection/column-rules';
import { checkPageSplitSnapshot } from './run/page-split';
import { commitToIcebergTable, tableRefOf } from './iceberg/commit-table';
import { compactTable } from './iceberg/compact-table';
import { expireSnapshots } from './iceberg/expire-snapshots';
import { icebergCatalogOf } from './iceberg/plan-iceberg-table';
import { tableDestinationOf } from './iceberg/table-storage';
import { checkRunId, latestKey, manifestKey, PART_PATTERN, runPlanKey, shardManifestKey, successKey } from './run/layout';


/**
 * `remainingMs`: what is left of the invocation (Lambda's `getRemainingTimeInMillis`), which bounds a
 * compaction after the commit (`compactAtDeleteFiles`).
 */
export async function commitRun(event: CommitEvent, env: RunEnvironment, remainingMs?: () => number): Promise<CommitResult> {
  faultPoint('before-commit');
  const runId = checkRunId(event.runId);
  const run = await readDocument(env.destination, 'run', runPlanKey(runId));
  if (!run) throw new RunDocumentError(`no table list at ${env.destination.location(runPlanKey(runId))}: was run ${runId} planned?`);
  const result: CommitResult = { runId, ...(run.schedule ? { schedule: run.schedule } : {}), tables: [] };
  for (const ref of run.tables) {
    const plan = await loadPlan(env.destination, ref.runDir);
    if (plan.runId !== event.runId) throw new CommitError(`${ref.runDir}: plan belongs to run ${plan.runId}, not ${event.runId}`);
    await commitPlannedTable(plan, { ...env, destination: tableDestinationOf(env, plan) }, result, remainingMs);
  }
  return result;
}

/**
 * One table of the run: its manifest and pointer, then its Iceberg snapshot or catalog table. `env` writes
 * the table's files where its catalog keeps them (lambdas/engine/iceberg/table-storage.ts).
 */
async function commitPlannedTable(plan: TablePlan, env: RunEnvironment, result: CommitResult, remainingMs?: () => number): Promise<void> {
  // A run committed earlier (a retried Commit) has its pointer read when the catalog needs it.
  const done = await committedManifest(plan, env);
  // An Iceberg table takes the run as one snapshot before `_latest.json` moves to it, so that a run whose
  // snapshot is not in the table is never the watermark the next incremental run reads from.
  let iceberg: CommittedTable['iceberg'];
  const toIceberg = plan.options.tableFormat === 'iceberg'
    ? async (m: RunManifest) => {
        faultPoint('before-iceberg-commit');
        iceberg = await commitToIcebergTable({ plan, manifest: m }, { destination: env.destination, catalog: icebergCatalogOf(env), log: env.log });
        faultPoint('after-iceberg-commit');
        // The manifest records the snapshot and what the upsert replaced and deleted, known only now (a manifest
        // written after the snapshot would leave a window where the sweep could take files a snapshot names).
        if (iceberg.outcome !== 'kept-newer') {
          const record: NonNullable<RunManifest['iceberg']> = { snapshotId: iceberg.snapshotId, ...(iceberg.changed !== undefined ? { changed: iceberg.changed } : {}), ...(iceberg.deleted !== undefined ? { deleted: iceberg.deleted } : {}) };
          if (JSON.stringify(m.iceberg ?? null) !== JSON.stringify(record)) await env.destination.put(manifestKey(plan.runDir), serializeDocument({ ...m, iceberg: record }));
        }
      }
    : undefined;
  let { manifest, latest } = done ? { manifest: done, latest: null as LatestPointer | null } : await commitTable(plan, env, toIceberg);
  if (done && toIceberg) {
    // A retried Commit: the snapshot (once), then the pointer (never moved backwards).
    await toIceberg(done);
    latest = await pointLatestAt(plan, done, env);
  }
  const committed: CommittedTable = {
    table: plan.table,
    manifest: env.destination.location(manifestKey(plan.runDir)),
    rows: manifest.rows,
    bytes: manifest.bytes,
    parts: manifest.parts.length,
    ...(manifest.incremental ? { incremental: { mode: manifest.incremental.mode, from: manifest.incremental.from, reason: manifest.incremental.reason } } : {}),
  };
  if (iceberg) {
    // The catalog that names Iceberg tables is the Iceberg catalog's business: no folder table registered.
    committed.iceberg = iceberg;
    if (plan.options.keepRuns !== null) {
      const expired = await expireSnapshots(tableRefOf(plan), { destination: env.destination, catalog: icebergCatalogOf(env), log: env.log }, {
        keepRuns: plan.options.keepRuns,
        graceMinutes: plan.options.retentionGraceMinutes,
      });
      if (expired) committed.iceberg.expired = { snapshots: expired.snapshots, runs: expired.runs };
    }
    if (plan.options.compactAtDeleteFiles !== null) {
      const compacted = await compactAfterCommit(plan, plan.options.compactAtDeleteFiles, env, remainingMs);
      if (compacted) committed.iceberg.compacted = compacted;
    }
  } else if (env.catalog) {
    committed.catalog = await registerTable(plan, manifest, env, latest);
  }
  result.tables.push(committed);
}

/**
 * `compactAtDeleteFiles`: the table compacted once it holds that many delete files. The run is committed
 * already, so a compaction that fails is reported (and logged) rather than failing the run: a retried Commit
 * would only try it again, and `pgsip compact` can.
 */
async function compactAfterCommit(plan: TablePlan, atDeleteFiles: number, env: RunEnvironment, remainingMs?: () => number): Promise<NonNullable<IcebergCommit['compacted']> | null> {
  try {
    // Smaller row groups than a shard's: Commit's memory is a quarter of Export's. Bounded in bytes read and,
    // on Lambda, in time: a compaction that would not finish in the invocation leaves the table as it is.
    const result = await compactTable(tableRefOf(plan), { destination: env.destination, catalog: icebergCatalogOf(env), log: env.log }, {
      atDeleteFiles,
      rowGroupBytes: COMPACTION_ROW_GROUP_BYTES,
      maxRewriteBytes: COMPACTION_MAX_REWRITE_BYTES,
      ...(remainingMs ? { deadline: Date.now() + remainingMs() - COMPACTION_MARGIN_MS } : {}),
    });
    if (result.outcome === 'too-large') {
      return { error: `the files to rewrite hold ${Math.round(result.rewriteBytes / 1024 / 1024)} MiB, more than a Commit rewrites (${COMPACTION_MAX_REWRITE_BYTES / 1024 / 1024} MiB): run pgsip compact` };
    }
    if (result.outcome !== 'compacted') return null;
    return { rewrittenFiles: result.rewrittenFiles, removedDeleteFiles: result.removedDeleteFiles, addedFiles: result.addedFiles, snapshotId: result.snapshotId! };
  } catch (error) {
    const message = (error as Error).message;
    env.log.warn('the table was committed; compacting it failed', { table: plan.table, runId: plan.runId, error: message });
    return { error: message };
  }
}

const COMPACTION_ROW_GROUP_BYTES = 4 * 1024 * 1024;
/** Data files a Commit rewrites at most (about a minute of work on one vCPU; Commit has 15). */
const COMPACTION_MAX_REWRITE_BYTES = 2 * 1024 * 1024 * 1024;
/** Time kept back from a compaction's deadline for the rest of the Commit. */
const COMPACTION_MARGIN_MS = 90_000;

/** The Commit Task's answer to Step Functions: counts, never a list that grows with the run. */
export function commitOutput(result: CommitResult): CommitOutput {
  const output: CommitOutput = { runId: result.runId, tables: result.tables.length, rows: 0, bytes: 0, parts: 0 };
  for (const t of result.tables) {
    output.rows += t.rows;
    output.bytes += t.bytes;
    output.parts += t.parts;
    if (t.catalog) {
      output.catalog ??= {};
      output.catalog[t.catalog.outcome] = (output.catalog[t.catalog.outcome] ?? 0) + 1;
    }
  }
  return output;
}

/**
 * The catalog follows `_latest.json`: only the run it names is registered, so the catalog and the pointer
 * agree, and retention (which keeps the run `_latest.json` names) never deletes the run a catalog shows.
 */
async function registerTable(plan: TablePlan, manifest: RunManifest, env: RunEnvironment, known?: LatestPointer | null): Promise<NonNullable<CommittedTable['catalog']>> {
  const catalog = env.catalog!;
  const table = lakeTable(manifest, lakeLocation(env.destination.location(plan.runDir)));
  if (manifest.mode === 'incremental') {
    // One folder holds only the rows that changed: a catalog table over it would not be the table. The runs
    // together are (deduplicated); `pgsip catalog` prints that as an Athena table over the runs and a view.
    env.log.warn('catalog left on the last full run: incremental runs are not registered (see pgsip catalog)', { table: plan.table, catalog: catalog.name, catalogTable: table.name });
    return { table: table.name, outcome: 'incremental-not-registered' };
  }
  const latest = known ?? (await readDocument(env.destination, 'latest', latestKey(plan.runDir)));
  if (latest?.runId !== plan.runId) {
    env.log.info('catalog left alone: a newer run is the latest', { table: plan.table, catalog: catalog.name, latest: latest?.runId });
    return { table: table.name, outcome: 'not-latest' };
  }
  let outcome: CatalogOutcome;
  try {
    outcome = await catalog.register(table);
  } catch (error) {
    if (error instanceof PgsipError) throw error;
    throw new CatalogError(`table ${plan.table}: ${catalog.name} refused table ${table.name}: ${(error as Error)?.message ?? String(error)}`, { cause: error });
  }
  env.log.info('catalog table registered', { table: plan.table, catalog: catalog.name, catalogTable: table.name, outcome, location: table.location });
  return { table: table.name, outcome };
}

async function committedManifest(plan: TablePlan, env: RunEnvironment): Promise<RunManifest | null> {
  if ((await env.destination.size(successKey(plan.runDir))) === null) return null;
  const manifest = await readDocument(env.destination, 'manifest', manifestKey(plan.runDir));
  if (!manifest) throw new CommitError(`table ${plan.table}: _SUCCESS without _manifest.json in ${env.destination.location(plan.runDir)}`);
  return manifest;
}

async function commitTable(plan: TablePlan, env: RunEnvironment, beforeLatest?: (manifest: RunManifest) => Promise<void>): Promise<{ manifest: RunManifest; latest: LatestPointer }> {
  const { destination } = env;
  const shards: ShardManifest[] = [];
  for (const task of plan.shards) {
    const shard = await readDocument(destination, 'shard', shardManifestKey(plan.runDir, task.shard));
    if (!shard) throw new CommitError(`table ${plan.table}: shard ${task.shard} of ${plan.shards.length} did not finish; nothing committed`);
    if (shard.runId !== plan.runId || shard.shard !== task.shard || JSON.stringify(shard.range) !== JSON.stringify(task.range)) {
      throw new CommitError(`table ${plan.table}: shard ${task.shard}'s manifest does not match the plan; nothing committed`);
    }
    const parts = shard.parts.reduce((n, p) => n + p.rows, 0);
    if (parts !== shard.rows || shard.checksum?.rows !== shard.rows) {
      throw new CommitError(
        `table ${plan.table}: shard ${task.shard} read ${shard.rows} rows, its parts hold ${parts} and Postgres counted ${shard.checksum?.rows}; nothing committed`,
      );
    }
    shards.push(shard);
  }
  checkPageSplitSnapshot(plan, shards);

  // `deletes: "keyset"`: every shard read the keys of its range (lambdas/engine/incremental/keyset.ts).
  const keysets = shards.flatMap((s) => (s.keyset ? [s.keyset.path] : []));
  if (plan.incremental?.deletes === 'keyset' && plan.incremental.mode === 'incremental') {
    const without = shards.find((s) => !s.keyset);
    if (without) throw new CommitError(`table ${plan.table}: shard ${without.shard} wrote no keyset, which deletes "keyset" needs; nothing committed`);
  }
  const present = new Set((await destination.list(`${plan.runDir}/`)).map((k) => k.slice(plan.runDir.length + 1)));
  const parts = shards.flatMap((s) => s.parts);
  for (const part of parts) {
    // A table storage that answers no listing (S3 Tables) is asked part by part.
    if (!present.has(part.path) && (await destination.size(`${plan.runDir}/${part.path}`)) === null) {
      throw new CommitError(`table ${plan.table}: part ${part.path} is listed by its shard but missing; nothing committed`);
    }
  }

  const manifest: RunManifest = {
    version: DOCUMENT_VERSION,
    table: plan.table,
    runId: plan.runId,
    rows: shards.reduce((n, s) => n + s.rows, 0),
    bytes: shards.reduce((n, s) => n + s.bytes, 0),
    columns: plan.columns.map((c) => ({ name: c.name, pgType: c.pgType, parquetType: c.parquetType, nullable: c.nullable, ...(c.infinity ? { infinity: c.infinity } : {}) })),
    parts,
    shards: shards.map((s) => ({ shard: s.shard, range: s.range, rows: s.rows, checksum: s.checksum, parts: s.parts.map((p) => p.path) })),
    splitKey: checksumKeyOf(plan)?.name ?? null,
    consistency: shards.every((s) => s.snapshot && s.snapshot === shards[0].snapshot) ? 'snapshot' : 'per-shard',
    compression: plan.options.compression,
    types: plan.options.types,
    mode: plan.incremental?.mode ?? 'full',
    ...(plan.incremental ? { incremental: plan.incremental } : {}),
    startedAt: plan.plannedAt,
    committedAt: new Date().toISOString(),
    writer: WRITER,
    ...selectionOf(plan),
    ...(plan.iceberg && plan.iceberg.changes.length > 0 ? { schemaChanges: plan.iceberg.changes } : {}),
    ...(keysets.length > 0 ? { keysets } : {}),
  };
  await destination.put(manifestKey(plan.runDir), serializeDocument(manifest));
  faultPoint('after-run-manifest');

  // Parts of attempts that lost (retried, crashed) are not in any manifest; remove them so that even a reader
  // who globs the folder instead of reading the manifest sees each row once.
  const listed = new Set(parts.map((p) => p.path));
  const strays = [...present].filter((name) => (PART_PATTERN.test(name) || name.startsWith('_keyset/')) && !listed.has(name) && !keysets.includes(name));
  if (strays.length > 0) {
    await destination.delete(strays.map((name) => `${plan.runDir}/${name}`));
    env.log.warn('removed parts of abandoned attempts', { table: plan.table, parts: strays.length });
  }

  // Temporary files of writes a killed or interrupted process never finished (a folder's; S3 has none).
  const unfinished = (await destination.removeUnfinished?.(`${plan.runDir}/`)) ?? [];
  if (unfinished.length > 0) env.log.warn('removed unfinished files of interrupted writes', { table: plan.table, files: unfinished.length });

  // An empty byte body: an empty string makes the AWS SDK warn about a stream of unknown length.
  await destination.put(successKey(plan.runDir), new Uint8Array(0));
  await beforeLatest?.(manifest);
  // The pointer as it stands now: retention and the catalog go by it.
  const latest = await pointLatestAt(plan, manifest, env);

  const tableFolder = plan.runDir.slice(0, plan.runDir.lastIndexOf('/') + 1);
  const swept = await sweepAbandonedRuns(destination, tableFolder, plan.options.sweepAfterHours ?? DEFAULT_SWEEP_AFTER_HOURS, {
    keepRunId: plan.runId,
    onSkip: (runDir, reason) => env.log.warn('left an unreadable run folder alone', { runDir, reason }),
  });
  if (swept.length > 0) env.log.warn('removed abandoned runs', { table: plan.table, runs: swept.map((r) => r.runId) });
  // An Iceberg table's retention is its snapshots' expiry, once the pointer has moved (commitRun).
  if (plan.options.keepRuns !== null && plan.options.tableFormat !== 'iceberg') {
    const retired = await retireOldRuns(destination, tableFolder, {
      keepRuns: plan.options.keepRuns,
      graceMinutes: plan.options.retentionGraceMinutes,
      // Every run the table is made of now: an incremental chain needs its full run and each run after it.
      protect: new Set([plan.runId, ...latest.runs.map((r) => r.runId)]),
      onSkip: (runDir, reason) => env.log.warn('left an unreadable run folder alone', { runDir, reason }),
    });
    if (retired.length > 0) env.log.info('removed runs past retention', { table: plan.table, keepRuns: plan.options.keepRuns, runs: retired.map((r) => r.runId) });
  }
  env.log.info('committed', { table: plan.table, runId: plan.runId, rows: manifest.rows, bytes: manifest.bytes, parts: parts.length, manifest: destination.location(manifestKey(plan.runDir)) });
  return { manifest, latest };
}

/**
 * `_latest.json` names the newest committed run of a table, newest by when it was planned: a slow or resumed
 * older run that commits late must not move it backwards. Its `runs` are what makes up the table: a full run
 * alone; an incremental run after the runs the pointer already lists. (If another run committed since this one
 * was planned, it is kept in the list: this run, planned later, read everything that run's base missed too, and
 * deduplication keeps the newest row.)
 */
async function pointLatestAt(plan: TablePlan, manifest: RunManifest, env: RunEnvironment): Promise<LatestPointer> {
  const key = latestKey(plan.runDir);
  const current = await readDocument(env.destination, 'latest', key);
  if (current && current.plannedAt > plan.plannedAt) return current;
  const folder = plan.runDir.slice(plan.runDir.lastIndexOf('/') + 1);
  const self = { runId: plan.runId, manifest: `${folder}/_manifest.json`, mode: manifest.mode };
  if (manifest.mode === 'incremental' && !current) {
    throw new CommitError(`table ${plan.table}: incremental run ${plan.runId} continues ${plan.incremental?.continues}, but the table has no committed run any more`);
  }
  const runs = manifest.mode === 'full' || !current ? [self] : [...current.runs.filter((r) => r.runId !== plan.runId), self];
  const latest: LatestPointer = {
    version: DOCUMENT_VERSION,
    runId: plan.runId,
    manifest: self.manifest,
    plannedAt: plan.plannedAt,
    committedAt: manifest.committedAt,
    runs,
  };
  await env.destination.put(key, serializeDocument(latest));
  return latest;
}
