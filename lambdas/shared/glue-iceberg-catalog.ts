/**
 * AWS Glue as the catalog of pgsip's Iceberg tables, committed as Iceberg's own Glue catalog commits
 * (GlueTableOperations, docs/iceberg.md "Glue"): a table of type `ICEBERG` whose `metadata_location` parameter
 * names the current metadata file and `previous_metadata_location` the one before. A commit writes the next
 * metadata file, reads the Glue table, checks that its `metadata_location` is still the base the commit was
 * made on, and updates it with the `VersionId` it read, so Glue refuses the update
 * (ConcurrentModificationException) if anyone changed the table in between; the caller then reads again and
 * decides again. A new table is created with CreateTable, which refuses a second creator (AlreadyExists).
 *
 * The metadata files are the file-system catalog's (`metadata/v<N>.metadata.json`, created only if absent,
 * and `version-hint.text` after a commit), so the same table is also readable by path, and two writers never
 * write the same version file.
 */
import {
  AlreadyExistsException,
  ConcurrentModificationException,
  CreateTableCommand,
  GlueClient,
  UpdateTableCommand,
  type Table,
  type TableInput,
} from '@aws-sdk/client-glue';
import { glueIcebergTableInput } from '../engine/catalog/glue-iceberg-table-input';
import { lakeTableName } from '../engine/catalog/lake-table';
import type { Destination } from '../engine/destinations/destination';
import { CatalogError, RunDocumentError } from '../engine/errors';
import { metadataFileKey, VERSION_HINT } from '../engine/iceberg/file-system-catalog';
import { type CommitAnswer, type IcebergCatalog, type IcebergTableRef, type LoadedTable, objectUri, parseTableMetadata } from '../engine/iceberg/iceberg-catalog';
import type { TableMetadata } from '../engine/iceberg/model';
import { serializeTableMetadata } from '../engine/iceberg/table-metadata';
import { glueTableOrNull } from './glue-table-lookup';

/** Metadata files of commits that never reached Glue, passed over before a commit gives up this attempt. */
const MAX_ORPHANED_VERSIONS = 20;

export interface GlueIcebergCatalogOptions {
  database: string;
  destination: Destination;
  /** Create the database on the first commit if it does not exist. */
  createDatabase?: boolean;
  client?: GlueClient;
}

export class GlueIcebergCatalog implements IcebergCatalog {
  readonly name: string;
  private readonly client: GlueClient;

  constructor(private readonly options: GlueIcebergCatalogOptions) {
    this.name = `glue:${options.database}`;
    this.client = options.client ?? new GlueClient({});
  }

  private tableName(table: IcebergTableRef): string {
    return lakeTableName(table.schema, table.name);
  }

  private glueTable(table: IcebergTableRef): Promise<Table | null> {
    return glueTableOrNull({ client: this.client, database: this.options.database, createDatabase: this.options.createDatabase }, this.tableName(table));
  }

  async load(table: IcebergTableRef): Promise<LoadedTable | null> {
    const glue = await this.glueTable(table);
    if (!glue) return null;
    const where = `Glue table ${this.options.database}.${this.tableName(table)}`;
    const parameters = glue.Parameters ?? {};
    if (parameters.table_type?.toUpperCase() !== 'ICEBERG') {
      throw new CatalogError(`${where} exists and is not an Iceberg table (table_type ${JSON.stringify(parameters.table_type ?? null)}); drop it or export into another database`);
    }
    const location = parameters.metadata_location;
    if (!location) throw new CatalogError(`${where} is an Iceberg table without a metadata_location`);
    const key = this.keyOf(table, location);
    const text = await this.options.destination.get(key);
    if (!text) throw new RunDocumentError(`${where} names ${location}, which is missing`);
    return { metadata: parseTableMetadata(text.toString('utf8'), location), metadataLocation: location, version: glue.VersionId ?? '' };
  }

  async commit(table: IcebergTableRef, base: LoadedTable | null, metadata: TableMetadata): Promise<CommitAnswer> {
    // The next version file not yet written: one a commit wrote and never got into Glue (it lost, or stopped)
    // is passed over, never overwritten.
    let number = base ? versionNumber(base.metadataLocation) + 1 : 1;
    const text = serializeTableMetadata(metadata);
    for (let tries = 0; !(await this.options.destination.putIfAbsent(metadataFileKey(table.dir, number), text)); tries++, number++) {
      if (tries >= MAX_ORPHANED_VERSIONS) return { committed: false, reason: `versions up to ${number} are written but not in Glue` };
    }
    const key = metadataFileKey(table.dir, number);
    const metadataLocation = objectUri(this.options.destination, key);
    const input = this.tableInput(table, metadata, metadataLocation, base?.metadataLocation ?? null);
    try {
      if (!base) {
        await this.client.send(new CreateTableCommand({ DatabaseName: this.options.database, TableInput: input }));
      } else {
        // Iceberg's check: the table still points at the base this commit was made on.
        const now = await this.glueTable(table);
        if (now?.Parameters?.metadata_location !== base.metadataLocation) {
          return { committed: false, reason: `Glue names ${now?.Parameters?.metadata_location ?? 'nothing'} now, not ${base.metadataLocation}` };
        }
        await this.client.send(new UpdateTableCommand({ DatabaseName: this.options.database, TableInput: input, VersionId: now.VersionId, SkipArchive: true }));
      }
    } catch (error) {
      if (error instanceof AlreadyExistsException || error instanceof ConcurrentModificationException) {
        return { committed: false, reason: `Glue refused: ${error.name}` };
      }
      throw error;
    }
    // Readers by path find it too (the hint is only a hint; the Glue table is the truth).
    await this.options.destination.put(`${table.dir}/${VERSION_HINT}`, String(number));
    return { committed: true, metadataLocation };
  }

  private tableInput(table: IcebergTableRef, metadata: TableMetadata, location: string, previous: string | null): TableInput {
    return glueIcebergTableInput({ name: this.tableName(table), source: table.table, metadata, metadataLocation: location, previousMetadataLocation: previous });
  }

  /** The destination key of a metadata file this catalog named. */
  private keyOf(table: IcebergTableRef, location: string): string {
    const name = location.slice(location.lastIndexOf('/') + 1);
    if (!/^v\d+\.metadata\.json$/.test(name) || !location.startsWith(table.location)) {
      throw new CatalogError(`Glue table ${this.options.database}.${this.tableName(table)} names ${location}, not a metadata file pgsip wrote for ${table.location}`);
    }
    return `${table.dir}/metadata/${name}`;
  }
}

function versionNumber(location: string): number {
  const m = /\/v(\d+)\.metadata\.json$/.exec(location);
  if (!m) throw new CatalogError(`${location} is not a metadata file pgsip wrote (v<N>.metadata.json)`);
  return Number(m[1]);
}
