/**
 * Where Commit registers committed tables (the Glue Data Catalog on AWS: lambdas/shared/glue-catalog.ts). The
 * engine only describes the table (lake-table.ts); a catalog creates it, or moves it to the new run, and never
 * moves it back to a run planned earlier than the one it shows.
 */
import type { LakeTable } from './lake-table';

/**
 * - `created`, `updated`: the catalog table now shows this run;
 * - `unchanged`: it already did (a retried or redriven Commit);
 * - `kept-newer`: it shows a run planned later, which stays.
 */
export type CatalogOutcome = 'created' | 'updated' | 'unchanged' | 'kept-newer';

export interface TableCatalog {
  /** Where tables go, for logs and results: `glue:analytics`. */
  readonly name: string;
  register(table: LakeTable): Promise<CatalogOutcome>;
}
