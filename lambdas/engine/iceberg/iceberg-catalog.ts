/**
 * Where an Iceberg table's current metadata is found, and the one atomic step that moves it: a catalog.
 * Writing every other file of a commit (data files, manifests, the manifest list, the new metadata file) is
 * done before and changes nothing a reader sees; the catalog's compare-and-swap of the pointer is the commit.
 * A swap that finds the table moved on since `base` answers `committed: false`, and the caller reads the table
 * again and decides again (commit-table.ts), as Iceberg's own catalogs do.
 *
 * Catalogs: the file-system convention (file-system-catalog.ts: `metadata/v<N>.metadata.json` written
 * create-only, and `metadata/version-hint.text`), AWS Glue (lambdas/shared/glue-iceberg-catalog.ts), Amazon
 * S3 Tables (lambdas/shared/s3-tables-catalog.ts), whose tables keep their files in storage of their own.
 */
import { pathToFileURL } from 'node:url';
import type { Destination } from '../destinations/destination';
import { RunDocumentError } from '../errors';
import type { TableMetadata } from './model';
import { quoteTable } from '../postgres/table-name';
import { tableDir } from '../run/layout';

/**
 * The absolute URI of a destination key, as Iceberg metadata names files (the spec wants a scheme on every
 * path): `s3://bucket/prefix/key`, or `file:///abs/folder/key` for a folder.
 */
export function objectUri(destination: Destination, key: string): string {
  const location = destination.location(key);
  return location.startsWith('/') ? pathToFileURL(location).href : location;
}

export interface IcebergTableRef {
  /** The Postgres table, canonical quoted, for messages. */
  table: string;
  /** Its folder relative to the destination root (`<schema>/<table>`, lambdas/engine/run/layout.ts). */
  dir: string;
  /** The table's location, an absolute URI. */
  location: string;
  /** Postgres schema and table name, for catalogs that name tables. */
  schema: string;
  name: string;
}

/** A table's ref as found by its folder under the destination (`location` the folder's URI until a catalog says otherwise). */
export function tableRefIn(destination: Destination, schema: string, name: string): IcebergTableRef {
  const dir = tableDir(schema, name);
  return { table: quoteTable({ schema, name }), dir, location: objectUri(destination, dir), schema, name };
}

export interface LoadedTable {
  metadata: TableMetadata;
  /** The metadata file's absolute URI. */
  metadataLocation: string;
  /** What the catalog needs to swap from this version (a Glue VersionId, a file-system version number). */
  version: string;
}

export type CommitAnswer = { committed: true; metadataLocation: string } | { committed: false; reason: string };

export interface IcebergCatalog {
  /** For messages and the manifest: `file-system`, `glue:<database>`. */
  readonly name: string;
  /** The table's current metadata, or null when the table does not exist yet. */
  load(table: IcebergTableRef): Promise<LoadedTable | null>;
  /**
   * Makes `metadata` the table's current metadata, if the table is still at `base` (null: still absent).
   * `committed: false` when it moved on meanwhile; any other failure throws. `metadata` already succeeds
   * `base` (its metadata log names base's file).
   */
  commit(table: IcebergTableRef, base: LoadedTable | null, metadata: TableMetadata): Promise<CommitAnswer>;
  /**
   * For a catalog whose tables live in storage it assigns (S3 Tables' warehouse location): creates the table
   * if it does not exist yet and answers its location. Absent: a table's location is its folder under the
   * run's destination.
   */
  tableLocation?(table: IcebergTableRef): Promise<string>;
  /** The same, for a table that must already exist (`pgsip compact`): null when it does not; never creates it. */
  existingLocation?(table: IcebergTableRef): Promise<string | null>;
  /**
   * The storage at a location `tableLocation` answered, where the table's data, delete and metadata files
   * are written and read (lambdas/engine/iceberg/table-storage.ts routes them there).
   */
  tableFiles?(location: string): Destination;
  /**
   * Set when the table's storage refuses deletes: who removes the files no snapshot references any more
   * (for people and the log). pgsip then deletes none of them.
   */
  readonly filesRemovedBy?: string;
}

/**
 * Table metadata read from a file, checked for what pgsip relies on: format version 2 and ids JSON kept exact
 * (an id beyond 2^53 comes out of `JSON.parse` rounded, and pgsip would then name a snapshot that is not there).
 */
export function parseTableMetadata(text: string, where: string): TableMetadata {
  let metadata: TableMetadata;
  try {
    metadata = JSON.parse(text) as TableMetadata;
  } catch (error) {
    throw new RunDocumentError(`${where} is not JSON: ${(error as Error).message.split('\n')[0]}`);
  }
  if (metadata?.['format-version'] !== 2) {
    throw new RunDocumentError(`${where}: format-version ${JSON.stringify(metadata?.['format-version'])}; pgsip writes and reads Iceberg format version 2 only`);
  }
  for (const field of ['table-uuid', 'location', 'schemas', 'partition-specs', 'snapshots'] as const) {
    if (metadata[field] === undefined) throw new RunDocumentError(`${where}: no "${field}"`);
  }
  metadata.snapshots ??= [];
  metadata['snapshot-log'] ??= [];
  metadata['metadata-log'] ??= [];
  for (const s of metadata.snapshots) {
    if (!Number.isSafeInteger(s['snapshot-id'])) throw new RunDocumentError(`${where}: snapshot id ${s['snapshot-id']} is beyond what pgsip reads exactly (2^53)`);
  }
  return metadata;
}
