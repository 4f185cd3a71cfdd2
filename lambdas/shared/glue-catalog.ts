/**
 * The Glue Data Catalog as Commit's TableCatalog (`PGSIP_GLUE_DATABASE`). One table per exported table, created
 * on its first commit and moved to each newer run with UpdateTable. It never takes over a table pgsip did not
 * create for the same Postgres table (the `pgsip.table` parameter), and never moves a table back to a run
 * planned earlier than the one it shows (`pgsip.planned_at`), so late or redriven Commits are harmless.
 * UpdateTable carries the VersionId it read: two Commits racing on one table cannot both win blindly; the
 * loser reads again and decides again. Glue keeps the replaced versions (GetTableVersions), so an update can
 * be looked at or undone. Throttling and 5xx answers are retried by the SDK.
 *
 * With `createDatabase`, a missing database is created on the first commit (and one created meanwhile by
 * someone else is used): the stack does not own it, so `cdk destroy` never drops the tables users query, and
 * the next deployment (or one into an account that has the database) does not fail on it.
 */
import {
  AlreadyExistsException,
  ConcurrentModificationException,
  CreateTableCommand,
  GlueClient,
  UpdateTableCommand,
  type Table,
} from '@aws-sdk/client-glue';
import { glueTableInput } from '../engine/catalog/glue-table-input';
import { PARAMETER, type LakeTable } from '../engine/catalog/lake-table';
import type { CatalogOutcome, TableCatalog } from '../engine/catalog/table-catalog';
import { CatalogError } from '../engine/errors';
import { glueTableOrNull } from './glue-table-lookup';

/** Read-decide-write rounds before giving up on a table other writers keep changing. */
const ATTEMPTS = 5;

export interface GlueCatalogOptions {
  database: string;
  /** Another account's catalog; default: the caller's. */
  catalogId?: string;
  /** Create the database when it does not exist (it is then kept: nothing here deletes it). */
  createDatabase?: boolean;
  /** What a created database says it holds. */
  databaseDescription?: string;
  client?: GlueClient;
}

export class GlueCatalog implements TableCatalog {
  readonly name: string;
  private readonly client: GlueClient;

  constructor(private readonly options: GlueCatalogOptions) {
    this.name = `glue:${options.database}`;
    this.client = options.client ?? new GlueClient({});
  }

  async register(table: LakeTable): Promise<CatalogOutcome> {
    const { database, catalogId } = this.options;
    const where = `Glue table ${database}.${table.name}`;
    const input = glueTableInput(table);
    for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
      const current = await this.current(database, table.name);
      try {
        if (!current) {
          await this.client.send(new CreateTableCommand({ CatalogId: catalogId, DatabaseName: database, TableInput: input }));
          return 'created';
        }
        const shown = current.Parameters ?? {};
        if (shown[PARAMETER.table] === undefined) {
          throw new CatalogError(`${where} exists and was not created by pgsip; drop it or choose another database (catalog.glueDatabase)`);
        }
        if (shown[PARAMETER.table] !== table.source) {
          throw new CatalogError(`${where} registers ${shown[PARAMETER.table]}, not ${table.source}: the two tables share a catalog name; export one into another database`);
        }
        if (shown[PARAMETER.runId] === table.parameters[PARAMETER.runId]) return 'unchanged';
        if ((shown[PARAMETER.plannedAt] ?? '') > table.parameters[PARAMETER.plannedAt]) return 'kept-newer';
        await this.client.send(
          new UpdateTableCommand({ CatalogId: catalogId, DatabaseName: database, TableInput: input, VersionId: current.VersionId }),
        );
        return 'updated';
      } catch (error) {
        // Someone else created or changed the table between our read and our write: read again.
        if (error instanceof AlreadyExistsException || error instanceof ConcurrentModificationException) continue;
        throw error;
      }
    }
    throw new CatalogError(`${where} kept changing under ${ATTEMPTS} attempts to register run ${table.parameters[PARAMETER.runId]}`);
  }

  private current(database: string, name: string): Promise<Table | null> {
    const { catalogId, createDatabase, databaseDescription } = this.options;
    return glueTableOrNull({ client: this.client, database, catalogId, createDatabase, databaseDescription }, name);
  }
}
