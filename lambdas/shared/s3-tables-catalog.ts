/**
 * Amazon S3 Tables as the catalog of pgsip's Iceberg tables (docs/iceberg.md, "Amazon S3 Tables"), committed
 * as AWS's own S3 Tables catalog commits (awslabs/s3-tables-catalog, `S3TablesCatalogOperations.doCommit`):
 *
 * - A table is created in the table bucket (`CreateTable`, format ICEBERG, in a namespace per Postgres schema)
 *   the first time a run plans it, because S3 Tables assigns its storage, the *warehouse location*, then; the
 *   run's files are written there (lambdas/engine/iceberg/table-storage.ts).
 * - A commit writes the new metadata file under the warehouse location, reads the table's current metadata
 *   location and version token (`GetTableMetadataLocation`), checks that the location is still the base the
 *   commit was made on, and swaps it with `UpdateTableMetadataLocation(versionToken)`. A token that is no
 *   longer current (someone committed in between, S3 Tables' own compaction included) is `ConflictException`:
 *   the caller reads the table again and decides again.
 *
 * The warehouse takes PutObject, GetObject, HeadObject and multipart uploads, always encrypted as the table
 * is (no encryption headers), and refuses DeleteObject and listing: files no snapshot references are S3
 * Tables' unreferenced-file removal's to delete.
 */
import { randomUUID } from 'node:crypto';
import {
  ConflictException,
  CreateNamespaceCommand,
  CreateTableCommand,
  GetTableMetadataLocationCommand,
  NotFoundException,
  S3TablesClient,
  UpdateTableMetadataLocationCommand,
} from '@aws-sdk/client-s3tables';
import { S3Client } from '@aws-sdk/client-s3';
import type { Destination } from '../engine/destinations/destination';
import { S3PrefixDestination } from '../engine/destinations/s3-prefix';
import { CatalogError, InputError, RunDocumentError } from '../engine/errors';
import type { CommitAnswer, IcebergCatalog, IcebergTableRef, LoadedTable } from '../engine/iceberg/iceberg-catalog';
import { parseTableMetadata } from '../engine/iceberg/iceberg-catalog';
import type { TableMetadata } from '../engine/iceberg/model';
import { serializeTableMetadata } from '../engine/iceberg/table-metadata';
import { s3TablesName, TABLE_BUCKET_ARN } from './s3-tables-names';

export interface S3TablesCatalogOptions {
  /** `arn:<partition>:s3tables:<region>:<account>:bucket/<name>`. */
  tableBucketArn: string;
  /** An S3-compatible endpoint for the warehouse objects (path-style), as for the destination. */
  s3Endpoint?: string;
  client?: S3TablesClient;
}

/** Checks a table bucket ARN, or one line naming what is wrong with it. */
export function checkTableBucketArn(arn: string): string {
  if (!TABLE_BUCKET_ARN.test(arn)) {
    throw new InputError(`bad table bucket ${JSON.stringify(arn)}: expected arn:aws:s3tables:<region>:<account>:bucket/<name>`);
  }
  return arn;
}

interface CurrentTable {
  versionToken: string;
  warehouseLocation: string;
  metadataLocation: string | null;
}

export class S3TablesCatalog implements IcebergCatalog {
  readonly name: string;
  readonly filesRemovedBy = "S3 Tables' unreferenced file removal";
  private readonly client: S3TablesClient;
  private readonly storages = new Map<string, Destination>();
  private readonly bucketArn: string;
  private readonly region: string;

  constructor(private readonly options: S3TablesCatalogOptions) {
    this.bucketArn = checkTableBucketArn(options.tableBucketArn);
    this.name = `s3tables:${this.bucketArn.slice(this.bucketArn.lastIndexOf('/') + 1)}`;
    // The table bucket's region, from its ARN: its tables and their storage are there, wherever pgsip runs.
    this.region = this.bucketArn.split(':')[3];
    this.client = options.client ?? new S3TablesClient({ region: this.region });
  }

  private where(table: IcebergTableRef): string {
    const { namespace, name } = s3TablesName(table.schema, table.name, table.table);
    return `S3 Tables table ${namespace}.${name} in ${this.bucketArn}`;
  }

  /** The table's version token and locations, or null when the table does not exist. */
  private async current(table: IcebergTableRef): Promise<CurrentTable | null> {
    const { namespace, name } = s3TablesName(table.schema, table.name, table.table);
    try {
      const answer = await this.client.send(new GetTableMetadataLocationCommand({ tableBucketARN: this.bucketArn, namespace, name }));
      if (!answer.versionToken || !answer.warehouseLocation) throw new CatalogError(`${this.where(table)}: GetTableMetadataLocation answered no version token or warehouse location`);
      return { versionToken: answer.versionToken, warehouseLocation: answer.warehouseLocation.replace(/\/+$/, ''), metadataLocation: answer.metadataLocation ?? null };
    } catch (error) {
      if (error instanceof NotFoundException) return null;
      throw error;
    }
  }

  async tableLocation(table: IcebergTableRef): Promise<string> {
    const found = await this.current(table);
    if (found) return found.warehouseLocation;
    const { namespace, name } = s3TablesName(table.schema, table.name, table.table);
    // Another run creating the same namespace or table at once is a ConflictException: it exists, as wanted.
    try {
      await this.client.send(new CreateNamespaceCommand({ tableBucketARN: this.bucketArn, namespace: [namespace] }));
    } catch (error) {
      if (!(error instanceof ConflictException)) throw error;
    }
    try {
      await this.client.send(new CreateTableCommand({ tableBucketARN: this.bucketArn, namespace, name, format: 'ICEBERG' }));
    } catch (error) {
      if (!(error instanceof ConflictException)) throw error;
    }
    const created = await this.current(table);
    if (!created) throw new CatalogError(`${this.where(table)} was created but cannot be found`);
    return created.warehouseLocation;
  }

  async existingLocation(table: IcebergTableRef): Promise<string | null> {
    return (await this.current(table))?.warehouseLocation ?? null;
  }

  tableFiles(location: string): Destination {
    let storage = this.storages.get(location);
    if (!storage) {
      // No KMS key: the table's own encryption applies, and the warehouse refuses encryption headers.
      const endpoint = this.options.s3Endpoint;
      const client = new S3Client({ region: this.region, ...(endpoint ? { endpoint, forcePathStyle: true } : {}) });
      storage = new S3PrefixDestination({ url: location, client });
      this.storages.set(location, storage);
    }
    return storage;
  }

  /** The table as it stands, checked to be the one the run planned (a table dropped and created again has new storage). */
  private async checked(table: IcebergTableRef): Promise<CurrentTable | null> {
    const found = await this.current(table);
    if (found && found.warehouseLocation !== table.location) {
      throw new CatalogError(`${this.where(table)} is stored at ${found.warehouseLocation} now, not at ${table.location} where this run wrote it (was it dropped and created again?); nothing committed`);
    }
    return found;
  }

  async load(table: IcebergTableRef): Promise<LoadedTable | null> {
    const found = await this.checked(table);
    if (!found?.metadataLocation) return null;
    const text = await this.tableFiles(found.warehouseLocation).get(this.keyOf(table, found.metadataLocation, found.warehouseLocation));
    if (!text) throw new RunDocumentError(`${this.where(table)} names ${found.metadataLocation}, which is missing`);
    return { metadata: parseTableMetadata(text.toString('utf8'), found.metadataLocation), metadataLocation: found.metadataLocation, version: found.versionToken };
  }

  async commit(table: IcebergTableRef, base: LoadedTable | null, metadata: TableMetadata): Promise<CommitAnswer> {
    const storage = this.tableFiles(table.location);
    const version = metadata['metadata-log'].length + 1;
    const key = `metadata/${String(version).padStart(5, '0')}-${randomUUID()}.metadata.json`;
    await storage.put(key, serializeTableMetadata(metadata));
    const metadataLocation = storage.location(key);
    const now = await this.checked(table);
    if (!now) throw new CatalogError(`${this.where(table)} no longer exists; nothing committed`);
    if (now.metadataLocation !== (base?.metadataLocation ?? null)) {
      return { committed: false, reason: `S3 Tables names ${now.metadataLocation ?? 'no metadata'} now, not ${base?.metadataLocation ?? 'none'}` };
    }
    const { namespace, name } = s3TablesName(table.schema, table.name, table.table);
    try {
      await this.client.send(new UpdateTableMetadataLocationCommand({ tableBucketARN: this.bucketArn, namespace, name, versionToken: now.versionToken, metadataLocation }));
    } catch (error) {
      if (error instanceof ConflictException) return { committed: false, reason: 'S3 Tables refused the version token: the table moved on' };
      throw error;
    }
    return { committed: true, metadataLocation };
  }

  /** The warehouse key of a metadata file the table names; a location outside its warehouse is refused. */
  private keyOf(table: IcebergTableRef, location: string, warehouse: string): string {
    if (!location.startsWith(`${warehouse}/`)) throw new CatalogError(`${this.where(table)} names ${location}, outside its warehouse location ${warehouse}`);
    return location.slice(warehouse.length + 1);
  }
}
