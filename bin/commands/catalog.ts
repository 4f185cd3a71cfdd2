/**
 * `pgsip catalog`: what a catalog would register for the committed tables of a destination — Athena DDL or
 * Glue TableInput JSON — for the run each table's `_latest.json` names, or for one given run. Offline: it reads
 * manifests from the destination and nothing else, through the same description Commit registers in Glue
 * (lambdas/engine/catalog/lake-table.ts).
 */
import { athenaDdl } from '../../lambdas/engine/catalog/athena-ddl';
import { glueTableInput } from '../../lambdas/engine/catalog/glue-table-input';
import { lakeLocation, lakeTable, type LakeTable } from '../../lambdas/engine/catalog/lake-table';
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
  const runDirs = options.tables ? await namedRunDirs(destination, options.tables, runId) : await everyRunDir(destination, runId);
  const tables: LakeTable[] = [];
  for (const runDir of runDirs) {
    const manifest = await readDocument(destination, 'manifest', manifestKey(runDir));
    if (!manifest || (await destination.size(successKey(runDir))) === null) {
      throw new InputError(`${destination.location(runDir)} is not a committed run`);
    }
    tables.push(lakeTable(manifest, lakeLocation(destination.location(runDir))));
  }
  const byName = new Map<string, string>();
  for (const t of tables) {
    const other = byName.get(t.name);
    if (other !== undefined) throw new CatalogError(`${other} and ${t.source} would both be catalog table ${t.name}; describe them one at a time (--tables) into different databases`);
    byName.set(t.name, t.source);
  }
  if (options.format === 'athena-ddl') return tables.map((t) => athenaDdl(t, options.database)).join('\n\n');
  return JSON.stringify(
    tables.map((t) => ({ ...(options.database ? { DatabaseName: options.database } : {}), TableInput: glueTableInput(t) })),
    null,
    2,
  );
}

/** The run folders of the named tables: the given run, or the one `_latest.json` names. */
async function namedRunDirs(destination: Destination, list: string, runId: string | undefined): Promise<string[]> {
  const names = splitTableList(list).map(parseTableName);
  if (names.length === 0) throw new InputError('no tables: pass --tables schema.table[,schema.table...] or leave it out for every table');
  const dirs: string[] = [];
  for (const name of names) {
    const schema = name.schema ?? 'public';
    const table = quoteTable({ schema, name: name.name });
    if (runId !== undefined) {
      dirs.push(runDirOf(schema, name.name, runId));
      continue;
    }
    const folder = tableDir(schema, name.name);
    const latest = await readDocument(destination, 'latest', `${folder}/_latest.json`);
    if (!latest) throw new InputError(`table ${table} has no committed run under ${destination.root}`);
    dirs.push(`${folder}/${latest.manifest.slice(0, latest.manifest.lastIndexOf('/'))}`);
  }
  return dirs;
}

/** Every committed table: found by listing (the one place a listing is used), described from manifests. */
async function everyRunDir(destination: Destination, runId: string | undefined): Promise<string[]> {
  const keys = await destination.list('');
  if (runId !== undefined) {
    const suffix = `/run=${runId}/_SUCCESS`;
    const dirs = keys.filter((k) => k.endsWith(suffix)).map((k) => k.slice(0, -'/_SUCCESS'.length));
    if (dirs.length === 0) throw new InputError(`no committed run ${runId} under ${destination.root}`);
    return dirs.sort();
  }
  const dirs: string[] = [];
  for (const key of keys.filter((k) => /^[^/]+\/[^/]+\/_latest\.json$/.test(k)).sort()) {
    const latest = await readDocument(destination, 'latest', key);
    if (latest) dirs.push(`${key.slice(0, -'/_latest.json'.length)}/${latest.manifest.slice(0, latest.manifest.lastIndexOf('/'))}`);
  }
  if (dirs.length === 0) throw new InputError(`no committed table under ${destination.root}`);
  return dirs;
}
