/**
 * `pgsip verify`: re-checks a committed run against its files, long after it ran. Starting from each table's
 * `_manifest.json`: every part exists with its recorded size, DuckDB reads each part's row count as
 * recorded, and each shard's parts hold exactly the row count and key sum Postgres reported for the range in
 * the snapshot the shard read from.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Destination } from '../../lambdas/engine/destinations/destination';
import { LocalFolderDestination } from '../../lambdas/engine/destinations/local-folder';
import { openDestination } from '../../lambdas/engine/destinations/open-destination';
import { InputError, VerificationError } from '../../lambdas/engine/errors';
import { readDocument } from '../../lambdas/engine/run/documents';
import { tableDestinationOf } from '../../lambdas/engine/iceberg/table-storage';
import { checkRunId, manifestKey, planKey, successKey } from '../../lambdas/engine/run/layout';
import { quoteIdent } from '../../lambdas/engine/postgres/table-name';
import { type DuckDB, openDuckDB, sqlString } from '../local/duckdb-reader';
import { formatCount } from '../local/progress';

export interface VerifyOptions {
  dest: string;
  runId: string;
  s3Endpoint?: string;
  /** The S3 Tables table bucket the run's Iceberg tables are kept in (their files are read from there). */
  tableBucket?: string;
}

export interface VerifiedTable {
  table: string;
  rows: number;
  shards: number;
  parts: number;
}

export async function verifyRun(options: VerifyOptions, log: (line: string) => void): Promise<VerifiedTable[]> {
  const runId = checkRunId(options.runId);
  const destination = openDestination(options.dest, { s3Endpoint: options.s3Endpoint });
  // Finding which tables the run covers is the one place a listing is used; what is checked comes from manifests.
  const suffix = `/run=${runId}/_manifest.json`;
  const manifests = (await destination.list('')).filter((k) => k.endsWith(suffix));
  if (manifests.length === 0) throw new InputError(`no committed run ${runId} under ${destination.root}`);

  const icebergCatalog =
    options.tableBucket === undefined ? undefined : new (await import('../../lambdas/shared/s3-tables-catalog')).S3TablesCatalog({ tableBucketArn: options.tableBucket, s3Endpoint: options.s3Endpoint });
  const duck = await openDuckDB();
  const verified: VerifiedTable[] = [];
  try {
    for (const key of manifests) {
      const runDir = key.slice(0, -'/_manifest.json'.length);
      // An Iceberg table in a table bucket keeps its parts in its own storage: read them there.
      const plan = await readDocument(destination, 'plan', planKey(runDir));
      verified.push(await verifyTable(plan ? tableDestinationOf({ destination, icebergCatalog }, plan) : destination, runDir, duck));
      const t = verified[verified.length - 1];
      log(`verified ${t.table} run ${runId}: ${formatCount(t.rows)} rows in ${t.parts} part(s) of ${t.shards} shard(s) match their counts and key checksums`);
    }
  } finally {
    duck.close();
  }
  return verified;
}

async function verifyTable(destination: Destination, runDir: string, duck: DuckDB): Promise<VerifiedTable> {
  const where = destination.location(runDir);
  const fail = (why: string): never => {
    throw new VerificationError(`${where}: ${why}`);
  };
  if ((await destination.get(successKey(runDir))) === null) fail('no _SUCCESS: the run never committed');
  const manifest = await readDocument(destination, 'manifest', manifestKey(runDir));
  if (!manifest) return fail('no _manifest.json');

  for (const part of manifest.parts) {
    const size = await destination.size(`${runDir}/${part.path}`);
    if (size === null) fail(`part ${part.path} is missing`);
    if (size !== part.bytes) fail(`part ${part.path} has ${size} bytes, the manifest says ${part.bytes}`);
  }

  // DuckDB reads local files; parts on S3 are fetched to a temporary folder first.
  const local = destination instanceof LocalFolderDestination;
  const temp = local ? null : await mkdtemp(join(tmpdir(), 'pgsip-verify-'));
  try {
    const path = async (name: string) => {
      if (local) return destination.location(`${runDir}/${name}`);
      const file = join(temp!, name);
      await writeFile(file, (await destination.get(`${runDir}/${name}`))!);
      return file;
    };
    const byPart = new Map(manifest.parts.map((p) => [p.path, p]));
    let total = 0;
    for (const shard of manifest.shards) {
      const files = await Promise.all(shard.parts.map(path));
      const key = manifest.splitKey === null ? 'NULL' : `sum(${quoteIdent(manifest.splitKey)})::VARCHAR`;
      const list = files.map(sqlString).join(', ');
      const [counted] = await duck.query(`SELECT count(*)::BIGINT AS n, ${key} AS key_sum FROM read_parquet([${list}])`);
      const perFile = await duck.query(`SELECT file_name, num_rows::BIGINT AS n FROM parquet_file_metadata([${list}])`);
      for (const row of perFile) {
        const name = String(row.file_name).split(/[\\/]/).pop()!;
        if (Number(row.n) !== byPart.get(name)?.rows) fail(`part ${name} holds ${row.n} rows, the manifest says ${byPart.get(name)?.rows}`);
      }
      const rows = Number(counted.n);
      if (rows !== shard.checksum.rows) fail(`shard ${shard.shard} holds ${rows} rows, Postgres counted ${shard.checksum.rows}`);
      const keySum = counted.key_sum === null || counted.key_sum === undefined ? (manifest.splitKey ? '0' : null) : String(counted.key_sum);
      if (keySum !== shard.checksum.keySum) fail(`shard ${shard.shard}'s key sum is ${keySum}, Postgres said ${shard.checksum.keySum}`);
      total += rows;
    }
    if (total !== manifest.rows) fail(`the shards hold ${total} rows, the manifest says ${manifest.rows}`);
  } finally {
    if (temp) await rm(temp, { recursive: true, force: true });
  }
  return { table: manifest.table, rows: manifest.rows, shards: manifest.shards.length, parts: manifest.parts.length };
}
