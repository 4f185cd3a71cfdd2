/**
 * Which columns of each table a run exports, and which it writes only as keyed hashes: the execution input's
 * `excludeColumns` and `hashColumns`, entries `schema.table.column` in Postgres quoting, each part optionally a
 * glob (`*.*.email`, `public.users.*`; see name-pattern.ts). Applied by Plan to the tables it described:
 *
 * - An excluded column is not selected from Postgres at all: it is absent from the Parquet, the plan's and the
 *   manifest's columns; the plan and the manifest list its name under `excluded`.
 * - A hashed column is selected as `col::text` and written as the lowercase hex HMAC-SHA-256 of that text
 *   (builders/hashed.ts), a STRING column in both type profiles; `hashed: true` on its plan column, its name
 *   under the manifest's `hashed`.
 * - An entry that names no column of any table of the run, a column both excluded and hashed, and excluding
 *   every column of a table are errors naming the entry: nothing is silently ignored.
 * - The split key may be excluded or hashed: shards still split on it in Postgres (the range predicates never
 *   needed it in the files), but the per-shard key sum, which `pgsip verify` recomputes from the Parquet, is
 *   left out for that table (`checksumKeyOf`): the manifest's `splitKey` is null and the checksums hold the
 *   row counts only.
 */
import type { CatalogColumn, TablePlan } from '../contracts';
import { InputError } from '../errors';
import type { CatalogTable } from '../postgres/catalog';
import type { SplitKey } from '../postgres/shard-planner';
import { type NamePattern, parseNamePattern, partMatches } from './name-pattern';

type Field = 'excludeColumns' | 'hashColumns';

interface Rule {
  field: Field;
  pattern: NamePattern;
  matched: boolean;
}

/** A catalog column as the run exports it. */
export type SelectedColumn = CatalogColumn & { hashed?: boolean };

export interface ColumnSelection {
  /** The exported columns, in table order. */
  columns: SelectedColumn[];
  /** Names of the excluded columns, in table order. */
  excluded: string[];
}

/** Checks one entry of `excludeColumns` or `hashColumns` (the CLI and the config file call it before a run). */
export function parseColumnEntry(entry: unknown, field: Field): NamePattern {
  if (typeof entry !== 'string') throw new InputError(`"${field}" must be a list of schema.table.column names`);
  return parseNamePattern(entry, 3, 3, `"${field}" entry`);
}

export class ColumnRules {
  private constructor(private readonly rules: Rule[]) {}

  /** Validates the input's lists; refuses a malformed one before anything connects. */
  static fromInput(input: { excludeColumns?: unknown; hashColumns?: unknown }): ColumnRules {
    const rules: Rule[] = [];
    for (const field of ['excludeColumns', 'hashColumns'] as const) {
      const list = input[field];
      if (list === undefined) continue;
      if (!Array.isArray(list)) throw new InputError(`"${field}" must be a list of schema.table.column names`);
      for (const entry of list) rules.push({ field, pattern: parseColumnEntry(entry, field), matched: false });
    }
    return new ColumnRules(rules);
  }

  /** The columns of `table` the run exports, each marked when hashed. */
  select(table: CatalogTable): ColumnSelection {
    const columns: SelectedColumn[] = [];
    const excluded: string[] = [];
    for (const column of table.columns) {
      const hits = this.rules.filter((r) => matches(r.pattern, table, column.name));
      for (const r of hits) r.matched = true;
      const exclude = hits.find((r) => r.field === 'excludeColumns');
      const hash = hits.find((r) => r.field === 'hashColumns');
      if (exclude && hash) {
        throw new InputError(
          `column "${column.name}" of ${table.quoted} is both excluded (${JSON.stringify(exclude.pattern.input)}) and hashed (${JSON.stringify(hash.pattern.input)}): choose one`,
        );
      }
      if (exclude) excluded.push(column.name);
      else columns.push(hash ? { ...column, hashed: true } : column);
    }
    if (columns.length === 0) {
      throw new InputError(`"excludeColumns" removes every column of ${table.quoted}: leave the table out instead ("excludeTables", --exclude-tables)`);
    }
    return { columns, excluded };
  }

  /** After every table was selected: an entry that named no column is an error. */
  checkAllMatched(): void {
    const unmatched = this.rules.find((r) => !r.matched);
    if (unmatched) {
      throw new InputError(`"${unmatched.field}" entry ${JSON.stringify(unmatched.pattern.input)} names no column of the tables this run exports`);
    }
  }
}

function matches(pattern: NamePattern, table: CatalogTable, column: string): boolean {
  const [schema, name, col] = pattern.parts;
  return partMatches(schema, table.schema) && partMatches(name, table.name) && partMatches(col, column);
}

/** int8, int2, int4 (domains resolved): the key types whose sum the checksums hold. */
const SUMMED_KEY_TYPES = new Set([20, 21, 23]);

/**
 * The key whose per-shard sum the checksums hold: an integer split key when the run writes it unchanged, else
 * null (excluded or hashed: the files cannot give the sum back; another type: no sum; the row counts remain).
 */
export function checksumKeyOf(plan: Pick<TablePlan, 'splitKey' | 'columns'>): SplitKey | null {
  const key = plan.splitKey;
  if (key === null) return null;
  const column = plan.columns.find((c) => c.name === key.name);
  return column && !column.hashed && SUMMED_KEY_TYPES.has(column.typeOid) ? key : null;
}

/** What the manifest records of a table's selection: excluded and hashed column names, each only when there are any. */
export function selectionOf(plan: Pick<TablePlan, 'columns' | 'excluded'>): { excluded?: string[]; hashed?: string[] } {
  const hashed = plan.columns.filter((c) => c.hashed).map((c) => c.name);
  return { ...(plan.excluded?.length ? { excluded: [...plan.excluded] } : {}), ...(hashed.length ? { hashed } : {}) };
}
