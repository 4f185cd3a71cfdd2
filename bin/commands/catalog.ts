/**
 * `pgsip catalog`: what a catalog would register for the committed tables of a destination — Athena DDL or
 * Glue TableInput JSON — for the run each table's `_latest.json` names, or for one given run. Offline: it reads
 * manifests (and Iceberg tables' metadata) from the destination and nothing else, through the same
 * descriptions Commit registers in Glue (lambdas/engine/catalog/). Each table is described on its own: one
 * that cannot be (a native-profile uuid column, an Iceberg table in Athena DDL) is named with why, and the
 * others are still described.
 */
import { athenaChainDdl, athenaDdl } from '../../lambdas/engine/catalog/athena-ddl';
import { glueIcebergTableInput } from '../../lambdas/engine/catalog/glue-iceberg-table-input';
import { gluePartitionInput, glueTableInput } from '../../lambdas/engine/catalog/glue-table-input';
import { type LakeChain, lakeChain, lakeLocation, lakeTable, lakeTableName, type LakeTable } from '../../lambdas/engine/catalog/lake-table';
import type { RunManifest } from '../../lambdas/engine/contracts';
import type { Destination } from '../../lambdas/engine/destinations/destination';
import { openDestination } from '../../lambdas/engine/destinations/open-destination';
import { CatalogError, InputError, RunDocumentError } from '../../lambdas/engine/errors';
import { FileSystemCatalog } from '../../lambdas/engine/iceberg/file-system-catalog';
import { objectUri } from '../../lambdas/engine/iceberg/iceberg-catalog';
import { parseTableName, quoteTable, splitTableList } from '../../lambdas/engine/postgres/table-name';
import { readDocument } from '../../lambdas/engine/run/documents';
import { checkRunId, manifestKey, planKey, runDirOf, successKey, tableDir } from '../../lambdas/engine/run/layout';

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

export interface CatalogDescription {
  /** The DDL or JSON of every table described (empty when none was). */
  text: string;
  /** Each table that could not be described, in one line naming it and why. */
  undescribed: string[];
}

/** An Iceberg table, described by its current metadata rather than by a run. */
interface IcebergDescribed {
  iceberg: Parameters<typeof glueIcebergTableInput>[0];
}

type Described = LakeTable | LakeChain | IcebergDescribed;

/** What a table is made of: its run folders (the given run, or those `_latest.json` lists). */
interface SelectedTable {
  folder: string;
  runDirs: string[];
}

export async function describeCatalog(options: CatalogOptions): Promise<CatalogDescription> {
  const destination = openDestination(options.dest, { s3Endpoint: options.s3Endpoint });
  const runId = options.runId === undefined ? undefined : checkRunId(options.runId);
  const selected = options.tables ? await namedTables(destination, options.tables, runId) : await everyTable(destination, runId);
  const described: Described[] = [];
  const undescribed: string[] = [];
  for (const table of selected) {
    if (typeof table === 'string') {
      undescribed.push(table);
      continue;
    }
    try {
      described.push(await describeTable(destination, table, runId, options));
    } catch (error) {
      // A table that cannot be described is named with why; the others still are. Anything else is a fault.
      if (!(error instanceof CatalogError || error instanceof InputError || error instanceof RunDocumentError)) throw error;
      undescribed.push(error.message.split('\n')[0]);
    }
  }
  const byName = new Map<string, string>();
  for (const d of described) {
    const names = 'iceberg' in d ? [[d.iceberg.name, d.iceberg.source]] : 'view' in d ? [[d.view.name, d.runs.source], [d.runs.name, d.runs.source]] : [[d.name, d.source]];
    for (const [name, source] of names) {
      const other = byName.get(name);
      if (other !== undefined) throw new CatalogError(`${other} and ${source} would both be catalog table ${name}; describe them one at a time (--tables) into different databases`);
      byName.set(name, source);
    }
  }
  if (described.length === 0) return { text: '', undescribed };
  const db = options.database ? { DatabaseName: options.database } : {};
  if (options.format === 'athena-ddl') {
    // Iceberg tables were named above as what Athena DDL cannot register.
    const ddl = described.flatMap((d) => ('iceberg' in d ? [] : ['view' in d ? athenaChainDdl(d, options.database) : athenaDdl(d, options.database)]));
    return { text: ddl.join('\n\n'), undescribed };
  }
  const json = described.map((d) => {
    if ('iceberg' in d) return { ...db, TableInput: glueIcebergTableInput(d.iceberg) };
    if (!('view' in d)) return { ...db, TableInput: glueTableInput(d) };
    const input = glueTableInput(d.runs);
    // Glue takes the runs table and its partitions; the deduplicating view is Athena SQL to run there.
    return { ...db, TableInput: input, PartitionInputList: d.partitions.map((p) => gluePartitionInput(input, p)), AthenaView: { Name: d.view.name, Sql: d.view.sql } };
  });
  return { text: JSON.stringify(json, null, 2), undescribed };
}

async function describeTable(destination: Destination, table: SelectedTable, runId: string | undefined, options: CatalogOptions): Promise<Described> {
  const chain: { manifest: RunManifest; location: string }[] = [];
  for (const runDir of table.runDirs) {
    const manifest = await readDocument(destination, 'manifest', manifestKey(runDir));
    if (!manifest || (await destination.size(successKey(runDir))) === null) {
      throw new InputError(`${destination.location(runDir)} is not a committed run`);
    }
    chain.push({ manifest, location: lakeLocation(destination.location(runDir)) });
  }
  const newest = chain[chain.length - 1].manifest;
  const iceberg = await icebergTableAt(destination, table.folder, newest.table);
  // An Iceberg table kept in a catalog's own storage (S3 Tables) has nothing by path here: it is that catalog's.
  const plan = iceberg ? null : await readDocument(destination, 'plan', planKey(table.runDirs[table.runDirs.length - 1]));
  if (plan?.options.tableFormat === 'iceberg' && plan.iceberg && plan.iceberg.location !== objectUri(destination, table.folder)) {
    throw new CatalogError(
      `table ${newest.table} is an Iceberg table kept at ${plan.iceberg.location} (an S3 Tables table bucket): its own catalog registers it, and Athena reads it through the s3tablescatalog federation (docs/iceberg.md, "Amazon S3 Tables")`,
    );
  }
  if (iceberg) {
    if (runId !== undefined) {
      throw new InputError(`table ${newest.table} is an Iceberg table: it is described by its current metadata, not by a run; leave out --run-id (query a past snapshot with FOR VERSION AS OF)`);
    }
    if (options.format === 'athena-ddl') {
      throw new CatalogError(
        `table ${newest.table} is an Iceberg table, which Athena DDL cannot register (CREATE TABLE makes a new, empty one): use --format glue-json with aws glue create-table, or pgsip run --glue-database`,
      );
    }
    return { iceberg };
  }
  if (chain.length === 1 && newest.mode === 'full') return lakeTable(newest, chain[0].location);
  if (runId !== undefined) {
    throw new InputError(`run ${runId} of ${newest.table} is incremental: it holds only the rows that changed; leave out --run-id to describe the table's runs`);
  }
  return lakeChain(chain, lakeLocation(destination.location(table.folder)), options.database);
}

/** The Iceberg table in a table folder, by path (its version hint), or null for a folder of runs. */
async function icebergTableAt(destination: Destination, folder: string, source: string): Promise<IcebergDescribed['iceberg'] | null> {
  const { schema, name } = parseTableName(source);
  if (schema === null) throw new RunDocumentError(`${folder}: the manifest's table ${source} names no schema`);
  const catalog = new FileSystemCatalog(destination, (key) => objectUri(destination, key));
  const loaded = await catalog.load({ table: source, dir: folder, location: objectUri(destination, folder), schema, name });
  if (!loaded) return null;
  const previous = loaded.metadata['metadata-log'].at(-1)?.['metadata-file'] ?? null;
  return { name: lakeTableName(schema, name), source, metadata: loaded.metadata, metadataLocation: loaded.metadataLocation, previousMetadataLocation: previous };
}

/** `_latest.json`'s runs, as run folders under the table folder. */
function runFolders(folder: string, runs: readonly { manifest: string }[]): string[] {
  return runs.map((r) => `${folder}/${r.manifest.slice(0, r.manifest.lastIndexOf('/'))}`);
}

/** Per named table, its run folders (the given run, or the runs `_latest.json` lists), or why it has none. */
async function namedTables(destination: Destination, list: string, runId: string | undefined): Promise<(SelectedTable | string)[]> {
  const names = splitTableList(list).map(parseTableName);
  if (names.length === 0) throw new InputError('no tables: pass --tables schema.table[,schema.table...] or leave it out for every table');
  const tables: (SelectedTable | string)[] = [];
  for (const name of names) {
    const schema = name.schema ?? 'public';
    const table = quoteTable({ schema, name: name.name });
    const folder = tableDir(schema, name.name);
    if (runId !== undefined) {
      tables.push({ folder, runDirs: [runDirOf(schema, name.name, runId)] });
      continue;
    }
    const latest = await readDocument(destination, 'latest', `${folder}/_latest.json`);
    tables.push(latest ? { folder, runDirs: runFolders(folder, latest.runs) } : `table ${table} has no committed run under ${destination.root}`);
  }
  return tables;
}

/** Every committed table: found by listing (the one place a listing is used), described from manifests. */
async function everyTable(destination: Destination, runId: string | undefined): Promise<SelectedTable[]> {
  const keys = await destination.list('');
  if (runId !== undefined) {
    const suffix = `/run=${runId}/_SUCCESS`;
    const dirs = keys.filter((k) => k.endsWith(suffix)).map((k) => k.slice(0, -'/_SUCCESS'.length));
    if (dirs.length === 0) throw new InputError(`no committed run ${runId} under ${destination.root}`);
    return dirs.sort().map((d) => ({ folder: d.slice(0, d.lastIndexOf('/')), runDirs: [d] }));
  }
  const tables: SelectedTable[] = [];
  for (const key of keys.filter((k) => /^[^/]+\/[^/]+\/_latest\.json$/.test(k)).sort()) {
    const latest = await readDocument(destination, 'latest', key);
    const folder = key.slice(0, -'/_latest.json'.length);
    if (latest) tables.push({ folder, runDirs: runFolders(folder, latest.runs) });
  }
  if (tables.length === 0) throw new InputError(`no committed table under ${destination.root}`);
  return tables;
}
