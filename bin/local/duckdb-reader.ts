/**
 * Reads a committed run back with DuckDB, an independent Parquet reader, exactly as a user would: starting
 * from `_manifest.json`, never from a folder listing.
 */
import { DuckDBInstance } from '@duckdb/node-api';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { RunManifest } from '../../lambdas/engine/contracts';
import { parseDocument } from '../../lambdas/engine/run/documents';

export type Row = Record<string, unknown>;

export interface DuckDB {
  query(sql: string): Promise<Row[]>;
  close(): void;
}

export async function openDuckDB(): Promise<DuckDB> {
  const instance = await DuckDBInstance.create(':memory:', { threads: '2' });
  const connection = await instance.connect();
  return {
    async query(sql: string) {
      const reader = await connection.runAndReadAll(sql);
      return reader.getRowObjectsJS() as Row[];
    },
    close() {
      connection.closeSync();
      instance.closeSync();
    },
  };
}

export function sqlString(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

/** `read_parquet([...])` over the parts a local manifest lists. */
export async function readManifest(manifestPath: string): Promise<{ manifest: RunManifest; source: string }> {
  const manifest = parseDocument('manifest', await readFile(manifestPath), manifestPath);
  const files = manifest.parts.map((p) => sqlString(join(dirname(manifestPath), p.path)));
  return { manifest, source: `read_parquet([${files.join(', ')}])` };
}
