/**
 * Reading one table of a Glue database, for both of pgsip's Glue catalogs (folder tables, glue-catalog.ts;
 * Iceberg tables, glue-iceberg-catalog.ts): the table, or null when it does not exist. Glue answers
 * EntityNotFound for a missing database too: that is said as such, or, with `createDatabase`, the database
 * is created (one created meanwhile by someone else is the one wanted) and the table is absent.
 */
import { AlreadyExistsException, CreateDatabaseCommand, EntityNotFoundException, GetTableCommand, type GlueClient, type Table } from '@aws-sdk/client-glue';
import { CatalogError } from '../engine/errors';

export interface GlueTableLookup {
  client: Pick<GlueClient, 'send'>;
  database: string;
  /** Another account's catalog; default: the caller's. */
  catalogId?: string;
  createDatabase?: boolean;
  /** What a created database says it holds. */
  databaseDescription?: string;
}

export async function glueTableOrNull(lookup: GlueTableLookup, name: string): Promise<Table | null> {
  const { client, database, catalogId } = lookup;
  try {
    return (await client.send(new GetTableCommand({ CatalogId: catalogId, DatabaseName: database, Name: name }))).Table ?? null;
  } catch (error) {
    if (!(error instanceof EntityNotFoundException)) throw error;
    if (/database/i.test(error.message) && !/table/i.test(error.message)) {
      if (!lookup.createDatabase) throw new CatalogError(`Glue database ${database} does not exist (create it, or set catalog.createDatabase)`);
      try {
        await client.send(
          new CreateDatabaseCommand({ CatalogId: catalogId, DatabaseInput: { Name: database, Description: lookup.databaseDescription ?? 'Tables pgsip exports from Postgres' } }),
        );
      } catch (created) {
        if (!(created instanceof AlreadyExistsException)) throw created;
      }
    }
    return null;
  }
}
