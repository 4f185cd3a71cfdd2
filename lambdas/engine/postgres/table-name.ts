/**
 * Table names as Postgres parses them: `orders`, `public.orders`, `public."Weird Table"`, `"a""b"`.
 * Unquoted identifiers fold to lower case; quoted ones keep case and may hold any character. Anything else
 * (semicolons, comments, spaces outside quotes, a third part) is refused before it gets near SQL.
 */
import { InputError } from '../errors';

export interface TableName {
  /** null when unqualified: Postgres's search_path decides. */
  schema: string | null;
  name: string;
}

const UNQUOTED = /^[A-Za-z_\u0080-\uffff][A-Za-z0-9_$\u0080-\uffff]*/;

export function quoteIdent(identifier: string): string {
  return `"${identifier.replace(/"/g, '""')}"`;
}

export function quoteTable(table: { schema: string | null; name: string }): string {
  return table.schema === null ? quoteIdent(table.name) : `${quoteIdent(table.schema)}.${quoteIdent(table.name)}`;
}

export function parseTableName(input: string): TableName {
  const parts: string[] = [];
  let i = 0;
  const fail = (why: string): never => {
    throw new InputError(`bad table name ${JSON.stringify(input)}: ${why}`);
  };
  if (input.trim() === '') fail('it is empty');
  for (;;) {
    if (input[i] === '"') {
      const { ident, end } = readQuotedIdentifier(input, i, fail);
      parts.push(ident);
      i = end;
    } else {
      const match = UNQUOTED.exec(input.slice(i));
      if (!match) fail(`unexpected ${JSON.stringify(input[i] ?? 'end')} at position ${i + 1}`);
      parts.push(match![0].toLowerCase());
      i += match![0].length;
    }
    if (i === input.length) break;
    if (input[i] !== '.') fail(`unexpected ${JSON.stringify(input[i])} at position ${i + 1}`);
    i++;
  }
  if (parts.length > 2) fail('expected table or schema.table');
  if (parts.some((p) => p.length > 63)) fail('an identifier is longer than 63 bytes');
  return parts.length === 2 ? { schema: parts[0], name: parts[1] } : { schema: null, name: parts[0] };
}

/**
 * The quoted identifier starting at `input[start]` (a `"`), `""` standing for one `"`; `end` is the index after
 * its closing quote. `fail` reports an unterminated or empty one.
 */
export function readQuotedIdentifier(input: string, start: number, fail: (why: string) => never): { ident: string; end: number } {
  let j = start + 1;
  let ident = '';
  for (;;) {
    if (j >= input.length) fail('unterminated quoted identifier');
    if (input[j] === '"') {
      if (input[j + 1] === '"') {
        ident += '"';
        j += 2;
        continue;
      }
      break;
    }
    ident += input[j];
    j++;
  }
  if (ident === '') fail('zero-length quoted identifier');
  return { ident, end: j + 1 };
}

/** Splits `a.b,"c,d".e` on the commas that are outside quotes. */
export function splitTableList(list: string): string[] {
  const out: string[] = [];
  let current = '';
  let quoted = false;
  for (const ch of list) {
    if (ch === '"') quoted = !quoted;
    if (ch === ',' && !quoted) {
      out.push(current.trim());
      current = '';
    } else {
      current += ch;
    }
  }
  out.push(current.trim());
  return out.filter((t) => t !== '');
}
