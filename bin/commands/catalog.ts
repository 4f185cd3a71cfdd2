/**
 * `pgsip catalog`: what a catalog would register for the committed tables of a destination — Athena DDL or
 * Glue TableInput JSON — for the run each table's `_latest.json` names, or for one given run. Offline: it reads
 * manifests from the destination and nothing else, through the same description Commit registers in Glue
 * (lambdas/engine/catalog/lake-table.ts).
 */
import { athenaChainDdl, athenaDdl } from '../../lambdas/engine/catalog/athena-ddl';
import { gluePartitionInput, glueTableInput } from '../../lambdas/engine/catalog/glue-table-input';
import { type LakeChain, lakeChain, lakeLocation, lakeTable, type LakeTable } from '../../lambdas/engine/catalog/lake-table';
import type { RunManifest } from '../../lambdas/engine/contracts';
import type { Destination } from '../../lambdas/engine/destinations/destination';
import { openDestination } from '../../lambdas/engine/destinations/open-destination';
import { CatalogError, InputError } from '../../lambdas/engine/errors';
import { parseTableName, quoteTable, splitTableList } from '../../lambdas/engine/postgres/table-name';
import { readDocument } from '../../lambdas/engine/run/documents';
import { checkRunId, manifestKey, runDirOf, successKey, tableDir } from '../../lambdas/engine/run/layout';

export const CATALOG_FORMATS = ['athena-ddl', 'glue-json'] as const;
export type CatalogFormat = (typeof CATALOG_FORMATS)[number];

export interface CatalogOptions {
  dest: string;
  /** Comma-separated, Postgres quoting; unqualified names are in `public`. Default: every committed table. */
  tables?: string;
  format: CatalogFormat;
  /** Describe this run instead of each table's latest. */
  runId?: string;
  /** Qualify the DDL's table names / fill the Glue JSON's DatabaseName. */
  database?: string;
  s3Endpoint?: string;
}

export async function describeCatalog(options: CatalogOptions): Promise<string> {
  const destination = openDestination(options.dest, { s3Endpoint: options.s3Endpoint });
  const runId = options.runId === undefined ? undefined : checkRunId(options.runId);
  const selected = options.tables ? await namedRunDirs(destination, options.tables, runId) : await everyRunDir(destination, runId);
  const described: (LakeTable | LakeChain)[] = [];
  for (const runDirs of selected) {
    const chain: { manifest: RunManifest; location: string }[] = [];
    for (const runDir of runDirs) {
      const manifest = await readDocument(destination, 'manifest', manifestKey(runDir));
      if (!manifest || (await destination.size(successKey(runDir))) === null) {
        throw new InputError(`${destination.location(runDir)} is not a committed run`);
      }
      chain.push({ manifest, location: lakeLocation(destination.location(runDir)) });
    }
    const newest = chain[chain.length - 1].manifest;
    if (chain.length === 1 && newest.mode === 'full') {
      described.push(lakeTable(newest, chain[0].location));
    } else if (runId !== undefined) {
      throw new InputError(`run ${runId} of ${newest.table} is incremental: it holds only the rows that changed; leave out --run-id to describe the table's runs`);
    } else {
      const folder = runDirs[0].slice(0, runDirs[0].lastIndexOf('/'));
      described.push(lakeChain(chain, lakeLocation(destination.location(folder)), options.database));
    }
  }
  const byName = new Map<string, string>();
  for (const d of described) {
    const t = 'view' in d ? d.runs : d;
    for (const name of 'view' in d ? [d.view.name, d.runs.name] : [t.name]) {
      const other = byName.get(name);
      if (other !== undefined) throw new CatalogError(`${other} and ${t.source} would both be catalog table ${name}; describe them one at a time (--tables) into different databases`);
      byName.set(name, t.source);
    }
  }
  const db = options.database ? { DatabaseName: options.database } : {};
  if (options.format === 'athena-ddl') return described.map((d) => ('view' in d ? athenaChainDdl(d, options.database) : athenaDdl(d, options.database))).join('\n\n');
  return JSON.stringify(
    described.map((d) => {
      if (!('view' in d)) return { ...db, TableInput: glueTableInput(d) };
      const input = glueTableInput(d.runs);
      // Glue takes the runs table and its partitions; the deduplicating view is Athena SQL to run there.
      return { ...db, TableInput: input, PartitionInputList: d.partitions.map((p) => gluePartitionInput(input, p)), AthenaView: { Name: d.view.name, Sql: d.view.sql } };
    }),
    null,
    2,
  );
}

/** `_latest.json`'s runs, as run folders under the table folder. */
function runFolders(folder: string, runs: readonly { manifest: string }[]): string[] {
  return runs.map((r) => `${folder}/${r.manifest.slice(0, r.manifest.lastIndexOf('/'))}`);
}

/** Per named table, its run folders: the given run, or the runs `_latest.json` lists. */
async function namedRunDirs(destination: Destination, list: string, runId: string | undefined): Promise<string[][]> {
  const names = splitTableList(list).map(parseTableName);
  if (names.length === 0) throw new InputError('no tables: pass --tables schema.table[,schema.table...] or leave it out for every table');
  const dirs: string[][] = [];
  for (const name of names) {
    const schema = name.schema ?? 'public';
    const table = quoteTable({ schema, name: name.name });
    if (runId !== undefined) {
      dirs.push([runDirOf(schema, name.name, runId)]);
      continue;
    }
    const folder = tableDir(schema, name.name);
    const latest = await readDocument(destination, 'latest', `${folder}/_latest.json`);
    if (!latest) throw new InputError(`table ${table} has no committed run under ${destination.root}`);
    dirs.push(runFolders(folder, latest.runs));
  }
  return dirs;
}

/** Every committed table: found by listing (the one place a listing is used), described from manifests. */
async function everyRunDir(destination: Destination, runId: string | undefined): Promise<string[][]> {
  const keys = await destination.list('');
  if (runId !== undefined) {
    const suffix = `/run=${runId}/_SUCCESS`;
    const dirs = keys.filter((k) => k.endsWith(suffix)).map((k) => k.slice(0, -'/_SUCCESS'.length));
    if (dirs.length === 0) throw new InputError(`no committed run ${runId} under ${destination.root}`);
    return dirs.sort().map((d) => [d]);
  }
  const dirs: string[][] = [];
  for (const key of keys.filter((k) => /^[^/]+\/[^/]+\/_latest\.json$/.test(k)).sort()) {
    const latest = await readDocument(destination, 'latest', key);
    if (latest) dirs.push(runFolders(key.slice(0, -'/_latest.json'.length), latest.runs));
  }
  if (dirs.length === 0) throw new InputError(`no committed table under ${destination.root}`);
  return dirs;
}
