/**
 * Which tables a run exports: the execution input's `tables` (names and patterns) minus `excludeTables`,
 * expanded by Plan inside its snapshot transaction, so the list is the one moment the run reads.
 *
 * - A name (`public.orders`, `orders`, `public."Weird Table"`) is that relation, whatever its kind: tables,
 *   partitioned tables, partitions, views, materialized views and foreign tables are exported when named.
 *   Unqualified names resolve through the search_path, as Postgres resolves them.
 * - A pattern (a `*` outside quotes, see name-pattern.ts) must name its schema part (`public.*`,
 *   `sales_*.orders`, `*.*`) and matches ordinary and partitioned tables only (relkind `r`, `p`): never a
 *   partition (`relispartition`, its parent exports its rows), a view, a materialized view or a foreign table.
 *   A schema glob never matches Postgres's own schemas (`pg_*`, `information_schema`).
 * - The result keeps the order of the entries, each pattern's matches sorted by schema then name, and lists
 *   each table once (a table both named and matched, or matched twice, is exported once; the same name given
 *   twice is refused, as it always was).
 * - A pattern that matches nothing, an exclusion that removes nothing, and an exclusion that leaves no table
 *   are errors naming the entry: a selection never silently means something else than it says.
 *
 * Catalog reads are parameterised; the names returned are the canonical quoted form (`"public"."orders"`),
 * which `describeTable` then resolves again and checks for the SELECT privilege, naming any table the user
 * may not read.
 */
import type pg from 'pg';
import { InputError } from '../errors';
import { parseTableName, quoteIdent, quoteTable } from '../postgres/table-name';
import { hasWildcard, type NamePattern, parseNamePattern, partMatches } from './name-pattern';

interface Relation {
  schema: string;
  name: string;
}

/** Refuses a badly written entry of `tables` or `excludeTables` (before anything connects). */
export function checkTableEntry(entry: string, field = 'tables'): void {
  if (typeof entry !== 'string') throw new InputError(`"${field}" must be a list of table names or patterns`);
  if (!hasWildcard(entry)) {
    parseTableName(entry);
    return;
  }
  const pattern = parseNamePattern(entry, 1, 2, 'table pattern');
  if (pattern.parts.length !== 2) {
    throw new InputError(`bad table pattern ${JSON.stringify(entry)}: a pattern must name its schema (e.g. public.*)`);
  }
}

/** Refuses malformed `tables` and `excludeTables` entries of an execution input, before anything connects. */
export function checkTableSelection(input: { tables: unknown[]; excludeTables?: unknown }): void {
  input.tables.forEach((t) => checkTableEntry(t as string));
  if (input.excludeTables === undefined) return;
  if (!Array.isArray(input.excludeTables)) throw new InputError('"excludeTables" must be a list of table names or patterns');
  input.excludeTables.forEach((t) => checkTableEntry(t as string, 'excludeTables'));
}

/** The tables of the run, as canonical quoted names; `tables` unchanged when no entry is a pattern and nothing is excluded. */
export async function resolveTables(client: pg.Client, tables: string[], excludeTables: string[] | undefined): Promise<string[]> {
  checkTableSelection({ tables, excludeTables });
  if (!tables.some(hasWildcard) && !excludeTables?.length) return tables;

  let candidates: Relation[] | undefined;
  const patternCandidates = async () => (candidates ??= await listTables(client));
  const selected = new Map<string, Relation>();
  const named = new Set<string>();
  for (const entry of tables) {
    if (hasWildcard(entry)) {
      const pattern = parseNamePattern(entry, 2, 2, 'table pattern');
      const matches = (await patternCandidates()).filter((r) => matchesTable(pattern, r, true));
      if (matches.length === 0) {
        throw new InputError(
          `table pattern ${JSON.stringify(entry)} matches no table (patterns match ordinary and partitioned tables; name a view, materialized view, foreign table or partition to export it)`,
        );
      }
      for (const r of matches) if (!selected.has(keyOf(r))) selected.set(keyOf(r), r);
    } else {
      const r = await resolveName(client, entry);
      const key = keyOf(r);
      if (named.has(key)) throw new InputError(`table ${key} is listed twice`);
      named.add(key);
      if (!selected.has(key)) selected.set(key, r);
    }
  }

  for (const entry of excludeTables ?? []) {
    let removed = 0;
    if (hasWildcard(entry)) {
      const pattern = parseNamePattern(entry, 2, 2, 'table pattern');
      for (const [key, r] of selected) {
        if (matchesTable(pattern, r, false)) {
          selected.delete(key);
          removed++;
        }
      }
    } else {
      const r = await resolveName(client, entry, 'excludeTables');
      if (selected.delete(keyOf(r))) removed++;
    }
    if (removed === 0) throw new InputError(`"excludeTables" entry ${JSON.stringify(entry)} removes no table of this run's selection`);
  }
  if (selected.size === 0) throw new InputError('"excludeTables" leaves no table to export');
  return [...selected.keys()];
}

function keyOf(r: Relation): string {
  return `${quoteIdent(r.schema)}.${quoteIdent(r.name)}`;
}

/** Postgres's own schemas, which a schema glob never matches (users cannot create `pg_*` schemas). */
function isSystemSchema(schema: string): boolean {
  return schema.startsWith('pg_') || schema === 'information_schema';
}

function matchesTable(pattern: NamePattern, r: Relation, fromCatalog: boolean): boolean {
  const [schema, table] = pattern.parts;
  if (fromCatalog && schema.glob && isSystemSchema(r.schema)) return false;
  return partMatches(schema, r.schema) && partMatches(table, r.name);
}

/** Every ordinary and partitioned table that is not a partition, in a stable order (bytewise, as COLLATE "C"). */
async function listTables(client: pg.Client): Promise<Relation[]> {
  const result = await client.query<{ nspname: string; relname: string }>(
    `SELECT n.nspname, c.relname
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
      ORDER BY n.nspname COLLATE "C", c.relname COLLATE "C"`,
  );
  return result.rows.map((r) => ({ schema: r.nspname, name: r.relname }));
}

/** A named relation's schema and name, as the catalog spells them (unqualified names through the search_path). */
async function resolveName(client: pg.Client, entry: string, field?: string): Promise<Relation> {
  const parsed = parseTableName(entry);
  const found = await client.query<{ nspname: string; relname: string }>(
    `SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass($1)`,
    [quoteTable(parsed)],
  );
  const row = found.rows[0];
  if (!row) {
    const shown = parsed.schema === null ? parsed.name : `${parsed.schema}.${parsed.name}`;
    throw new InputError(
      field ? `"${field}" entry ${JSON.stringify(entry)} names no table: "${shown}" does not exist (or is not visible to this user)` : `table "${shown}" does not exist (or is not visible to this user)`,
    );
  }
  return { schema: row.nspname, name: row.relname };
}
