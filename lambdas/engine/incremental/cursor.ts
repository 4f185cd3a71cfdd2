/**
 * The cursor of an incremental table: a column the database sets when a row is written — an identity or
 * sequence for append-only tables, a `now()`/`clock_timestamp()` timestamp a trigger or default maintains for
 * mutable ones. Its type must order like time: integers, numeric, date, timestamp(tz).
 */
import type { IncrementalPlan } from '../contracts';
import { InputError, RunDocumentError } from '../errors';
import type { CatalogTable } from '../postgres/catalog';
import { quoteIdent } from '../postgres/table-name';

// int2, int4, int8, numeric, date, timestamp, timestamptz
const CURSOR_TYPES = new Set([21, 23, 20, 1700, 1082, 1114, 1184]);
const TIME_TYPES = new Set([1082, 1114, 1184]);
/** What `format_type` prints for those types: the only type names a filter ever casts to. */
const CURSOR_TYPE_NAME = /^(smallint|integer|bigint|numeric(\(\d+(,\d+)?\))?|date|timestamp(\(\d\))? with(out)? time zone)$/;

export interface CheckedCursor {
  name: string;
  pgType: string;
  timeLike: boolean;
}

export function checkCursor(table: CatalogTable, cursor: string, lookbackSeconds: number): CheckedCursor {
  const column = table.columns.find((c) => c.name === cursor);
  if (!column) {
    throw new InputError(`table ${table.quoted} has no column "${cursor}" to read incrementally by (columns: ${table.columns.map((c) => c.name).join(', ')})`);
  }
  if (!CURSOR_TYPES.has(column.typeOid) || !CURSOR_TYPE_NAME.test(column.pgType)) {
    throw new InputError(`table ${table.quoted}, column "${cursor}" is ${column.pgType}: an incremental cursor must be an integer, numeric, date or timestamp`);
  }
  if (table.primaryKey.length === 0) {
    throw new InputError(`table ${table.quoted} has no primary key: incremental runs need one, to deduplicate rows read again`);
  }
  const timeLike = TIME_TYPES.has(column.typeOid);
  if (lookbackSeconds > 0 && !timeLike) {
    throw new InputError(`table ${table.quoted}: a lookback is for date and timestamp cursors, and "${cursor}" is ${column.pgType}`);
  }
  return { name: cursor, pgType: column.pgType, timeLike };
}

const literal = (text: string) => `'${text.replace(/'/g, "''")}'`;

/**
 * The rows an incremental run reads: the cursor at or past `from`, and every row whose cursor is NULL (a NULL
 * cursor cannot be placed before or after a watermark, so each incremental run reads such rows again and
 * deduplication keeps one). Empty for a full run. Inlined, as COPY takes no parameters: the type is checked
 * against the few names a cursor may have and the bound is quoted.
 */
export function cursorFilter(incremental: IncrementalPlan | undefined): string | null {
  if (!incremental || incremental.mode === 'full' || incremental.from === null) return null;
  if (!CURSOR_TYPE_NAME.test(incremental.cursorType)) throw new RunDocumentError(`bad cursor type ${JSON.stringify(incremental.cursorType)} in the plan`);
  const c = quoteIdent(incremental.cursor);
  return `(${c} >= ${literal(incremental.from)}::${incremental.cursorType} OR ${c} IS NULL)`;
}
