/**
 * What the Postgres catalog says about a table: its identity, columns (domains resolved to their base types),
 * primary key and size. All lookups are parameterised; the table name never becomes SQL text until it has
 * been resolved to an OID and re-quoted from the catalog's own spelling.
 */
import type pg from 'pg';
import { InputError } from '../errors';
import { parseTableName, quoteIdent, quoteTable } from './table-name';
import type { CatalogColumn } from '../contracts';

export interface CatalogTable {
  oid: number;
  schema: string;
  name: string;
  /** Canonical, always-quoted name: safe to put in SQL. */
  quoted: string;
  relkind: string;
  columns: CatalogColumn[];
  primaryKey: { name: string; typeOid: number; pgType: string }[];
  estimatedRows: number;
  /** Heap, indexes and toast; for a partitioned table, its leaf partitions' (its own size is 0). */
  heapBytes: number;
}

const RELKINDS: Record<string, string> = {
  r: 'table',
  p: 'partitioned table',
  m: 'materialized view',
  v: 'view',
  f: 'foreign table',
};

export async function describeTable(client: pg.Client, requested: string): Promise<CatalogTable> {
  const parsed = parseTableName(requested);
  const shown = parsed.schema === null ? parsed.name : `${parsed.schema}.${parsed.name}`;
  const found = await client.query<{ oid: string | null }>('SELECT to_regclass($1)::oid AS oid', [quoteTable(parsed)]);
  const oid = found.rows[0]?.oid;
  if (!oid) throw new InputError(`table "${shown}" does not exist (or is not visible to this user)`);

  const rel = await client.query<{ nspname: string; relname: string; relkind: string; reltuples: string; bytes: string }>(
    `SELECT n.nspname, c.relname, c.relkind, c.reltuples::text AS reltuples,
            pg_total_relation_size(c.oid)::text AS bytes
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = $1`,
    [oid],
  );
  const { nspname, relname, relkind } = rel.rows[0];
  let { reltuples, bytes } = rel.rows[0];
  if (!(relkind in RELKINDS)) throw new InputError(`"${nspname}.${relname}" is not a table or view (relkind ${relkind})`);
  if (relkind === 'p') {
    // A partitioned table stores nothing itself: its rows and bytes are its leaf partitions'.
    const leaves = await client.query<{ reltuples: string; bytes: string }>(
      `SELECT coalesce(sum(greatest(c.reltuples, 0)), 0)::text AS reltuples, coalesce(sum(pg_total_relation_size(t.relid)), 0)::text AS bytes
         FROM pg_partition_tree($1::oid) t JOIN pg_class c ON c.oid = t.relid WHERE t.isleaf`,
      [oid],
    );
    ({ reltuples, bytes } = leaves.rows[0]);
  }

  const privilege = await client.query<{ ok: string }>(`SELECT has_table_privilege($1::oid, 'SELECT')::text AS ok`, [oid]);
  if (privilege.rows[0].ok !== 'true') {
    throw new InputError(`permission denied: this user may not SELECT from "${nspname}.${relname}"`);
  }

  const attrs = await client.query<{
    attname: string;
    pg_type: string;
    atttypid: string;
    atttypmod: string;
    nullable: string;
  }>(
    `SELECT a.attname, format_type(a.atttypid, a.atttypmod) AS pg_type, a.atttypid::text AS atttypid,
            a.atttypmod::text AS atttypmod, (NOT a.attnotnull)::text AS nullable
       FROM pg_attribute a
      WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
      ORDER BY a.attnum`,
    [oid],
  );
  if (attrs.rows.length === 0) throw new InputError(`table "${nspname}.${relname}" has no columns to export`);

  const types = await loadTypes(
    client,
    attrs.rows.map((a) => Number(a.atttypid)),
  );
  const columns: CatalogColumn[] = attrs.rows.map((a) => {
    const { typeOid, typmod } = resolveDomain(types, Number(a.atttypid), Number(a.atttypmod));
    const t = types.get(typeOid)!;
    const elemTypeOid = t.category === 'A' && t.elem !== 0 ? resolveDomain(types, t.elem, -1).typeOid : null;
    return {
      name: a.attname,
      pgType: a.pg_type,
      typeOid,
      typmod,
      elemTypeOid,
      nullable: a.nullable === 'true',
    };
  });

  const pk = await client.query<{ attname: string; atttypid: string; pg_type: string }>(
    `SELECT a.attname, a.atttypid::text AS atttypid, format_type(a.atttypid, a.atttypmod) AS pg_type
       FROM pg_index i
       JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) ON true
       JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
      WHERE i.indrelid = $1 AND i.indisprimary
      ORDER BY k.ord`,
    [oid],
  );

  return {
    oid: Number(oid),
    schema: nspname,
    name: relname,
    quoted: `${quoteIdent(nspname)}.${quoteIdent(relname)}`,
    relkind,
    columns,
    primaryKey: pk.rows.map((r) => ({
      name: r.attname,
      typeOid: resolveDomain(types, Number(r.atttypid), -1).typeOid,
      pgType: r.pg_type,
    })),
    estimatedRows: Math.max(0, Number(reltuples)),
    heapBytes: Number(bytes),
  };
}

interface TypeRow {
  type: string;
  baseType: number;
  typmod: number;
  elem: number;
  category: string;
}

/** Loads the given types and, transitively, the base types of domains and the element types of arrays. */
async function loadTypes(client: pg.Client, oids: number[]): Promise<Map<number, TypeRow>> {
  const types = new Map<number, TypeRow>();
  let wanted = [...new Set(oids)];
  while (wanted.length > 0) {
    const result = await client.query<{ oid: string; typtype: string; typbasetype: string; typtypmod: string; typelem: string; typcategory: string }>(
      `SELECT oid::text, typtype, typbasetype::text, typtypmod::text, typelem::text, typcategory
         FROM pg_type WHERE oid = ANY($1::oid[])`,
      [wanted],
    );
    for (const r of result.rows) {
      types.set(Number(r.oid), {
        type: r.typtype,
        baseType: Number(r.typbasetype),
        typmod: Number(r.typtypmod),
        elem: Number(r.typelem),
        category: r.typcategory,
      });
    }
    wanted = [];
    for (const t of types.values()) {
      for (const next of [t.type === 'd' ? t.baseType : 0, t.category === 'A' ? t.elem : 0]) {
        if (next !== 0 && !types.has(next)) wanted.push(next);
      }
    }
    wanted = [...new Set(wanted)];
  }
  return types;
}

function resolveDomain(types: Map<number, TypeRow>, oid: number, typmod: number): { typeOid: number; typmod: number } {
  let current = oid;
  let mod = typmod;
  for (let depth = 0; depth < 32; depth++) {
    const t = types.get(current);
    if (!t || t.type !== 'd') break;
    // A column declared with a domain has atttypmod -1; the domain's own typmod is what constrains it.
    if (mod === -1) mod = t.typmod;
    current = t.baseType;
  }
  return { typeOid: current, typmod: mod };
}
