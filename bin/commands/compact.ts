/**
 * `pgsip compact`: rewrites the data files of Iceberg tables that rows were deleted from (upserts, deletes
 * carried) and their small files into fresh files, as one `replace` snapshot per table
 * (lambdas/engine/iceberg/compact-table.ts; docs/iceberg.md, "Compaction"). The table reads the same before and
 * after. Tables are found as runs commit them: by their folder under the destination, through Glue
 * (`--glue-database`), or in an S3 Tables table bucket (`--table-bucket`, whose own maintenance compacts too).
 */
import type { Destination } from '../../lambdas/engine/destinations/destination';
import { openDestination } from '../../lambdas/engine/destinations/open-destination';
import { InputError } from '../../lambdas/engine/errors';
import { compactTable, type CompactionResult } from '../../lambdas/engine/iceberg/compact-table';
import { type IcebergCatalog, tableRefIn } from '../../lambdas/engine/iceberg/iceberg-catalog';
import { icebergCatalogOf } from '../../lambdas/engine/iceberg/plan-iceberg-table';
import { tableDestinationAt } from '../../lambdas/engine/iceberg/table-storage';
import { parseTableName, splitTableList } from '../../lambdas/engine/postgres/table-name';
import { formatBytes, formatCount } from '../local/progress';

export interface CompactOptions {
  dest: string;
  tables: string;
  s3Endpoint?: string;
  glueDatabase?: string;
  tableBucket?: string;
  /** MiB. */
  targetFileSize?: string;
  dryRun?: boolean;
  quiet?: boolean;
}

const silent = { debug() {}, info() {}, warn() {}, error() {} };

function targetBytes(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const mib = Number(value);
  if (!Number.isFinite(mib) || mib < 1) throw new InputError(`--target-file-size must be a number of MiB, at least 1 (got ${JSON.stringify(value)})`);
  return Math.round(mib * 1024 * 1024);
}

export async function compactTables(options: CompactOptions, log: (line: string) => void): Promise<CompactionResult[]> {
  const names = splitTableList(options.tables ?? '').map(parseTableName);
  if (names.length === 0) throw new InputError('no tables: pass --tables schema.table[,schema.table...]');
  const targetFileBytes = targetBytes(options.targetFileSize);
  if (options.tableBucket !== undefined && options.glueDatabase !== undefined) {
    throw new InputError("--table-bucket and --glue-database: a table bucket's tables are in S3 Tables' own catalog; pass one");
  }
  const destination = openDestination(options.dest, { s3Endpoint: options.s3Endpoint });
  // Imported only when asked for, as `pgsip run` does.
  const icebergCatalog: IcebergCatalog | undefined =
    options.tableBucket !== undefined
      ? new (await import('../../lambdas/shared/s3-tables-catalog')).S3TablesCatalog({ tableBucketArn: options.tableBucket, s3Endpoint: options.s3Endpoint })
      : options.glueDatabase !== undefined
        ? new (await import('../../lambdas/shared/glue-iceberg-catalog')).GlueIcebergCatalog({ database: options.glueDatabase, destination })
        : undefined;
  const catalog = icebergCatalogOf({ destination, icebergCatalog });
  const results: CompactionResult[] = [];
  for (const name of names) {
    const ref = tableRefIn(destination, name.schema ?? 'public', name.name);
    const table = ref.table;
    if (catalog.existingLocation) {
      const location = await catalog.existingLocation(ref);
      if (location === null) throw new InputError(`table ${table}: no Iceberg table for it in ${catalog.name}; nothing to compact`);
      ref.location = location;
    }
    const tableDestination: Destination = tableDestinationAt({ destination, icebergCatalog }, ref);
    const started = Date.now();
    if (!options.quiet && !options.dryRun) log(`compacting ${table} (${catalog.name === 'file-system' ? ref.location : catalog.name})`);
    const result = await compactTable(ref, { destination: tableDestination, catalog, log: silent, onFile: (done, of) => !options.quiet && of > 1 && log(`  ${done}/${of} files rewritten`) }, { targetFileBytes, dryRun: options.dryRun });
    results.push(result);
    log(describe(result, (Date.now() - started) / 1000, targetFileBytes));
  }
  return results;
}

function describe(r: CompactionResult, seconds: number, target: number | undefined): string {
  const orphans = r.removedOrphans.length > 0 ? `; removed ${r.removedOrphans.length} folder(s) of compactions that never committed` : '';
  return describeOutcome(r, seconds, target) + orphans;
}

function describeOutcome(r: CompactionResult, seconds: number, target: number | undefined): string {
  const before = `${r.dataFiles} data file(s), ${r.deleteFiles} delete file(s)`;
  const what = `${r.rewrittenFiles} data file(s) holding ${formatCount(r.rows)} live row(s)${r.droppedRows > 0 ? ` and ${formatCount(r.droppedRows)} deleted one(s)` : ''}, and ${r.removedDeleteFiles} delete file(s)`;
  switch (r.outcome) {
    case 'unchanged':
      return `${r.table}: nothing to compact (${before}: no deleted rows, no two small files of one partition${target ? ` under ${formatBytes(target * 0.75)}` : ''})`;
    case 'planned':
      return `${r.table}: would rewrite ${what} (of ${before})`;
    case 'compacted':
      return `${r.table}: rewrote ${what} into ${r.addedFiles} file(s) in ${seconds.toFixed(1)} s; snapshot ${r.snapshotId} (replace, ${r.compaction})`;
    case 'too-large':
      return `${r.table}: not compacted: ${r.rewriteBytes} bytes to rewrite, over the limit`;
  }
}
