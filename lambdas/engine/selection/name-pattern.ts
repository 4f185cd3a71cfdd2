/**
 * Names with wildcards, as `--tables`, `--exclude-tables`, `--exclude-columns` and `--hash-columns` take them:
 * dot-separated parts in Postgres quoting (unquoted parts fold to lower case, `"Quoted"` keeps case and any
 * character), where `*` outside quotes matches any run of characters, the empty one included. Inside quotes
 * `*` is an ordinary character: `public."*"` names a table literally called `*`. A part is either quoted or
 * unquoted, never a mix (`"Sales"*` is refused). Nothing here reaches SQL: parts are compared with catalog
 * names in JavaScript (table-patterns.ts, column-rules.ts).
 */
import { InputError } from '../errors';
import { quoteIdent, readQuotedIdentifier } from '../postgres/table-name';

export interface NamePart {
  /** The identifier (folded when unquoted); for a glob, its text with the `*`s. */
  text: string;
  /** Set when the part holds a `*` outside quotes. */
  glob: RegExp | null;
}

export interface NamePattern {
  /** What the user wrote, for messages. */
  input: string;
  parts: NamePart[];
}

/** Unquoted: identifier characters and `*` (Postgres folds only ASCII letters in a UTF-8 database). */
const UNQUOTED = /^[A-Za-z_*\u0080-\uffff][A-Za-z0-9_$*\u0080-\uffff]*/;

/** Parses `input` into between `min` and `max` parts; `what` names the kind of entry in errors. */
export function parseNamePattern(input: string, min: number, max: number, what: string): NamePattern {
  const parts: NamePart[] = [];
  const fail = (why: string): never => {
    throw new InputError(`bad ${what} ${JSON.stringify(input)}: ${why}`);
  };
  if (typeof input !== 'string' || input.trim() === '') fail('it is empty');
  let i = 0;
  for (;;) {
    if (input[i] === '"') {
      const { ident, end } = readQuotedIdentifier(input, i, fail);
      parts.push({ text: ident, glob: null });
      i = end;
    } else {
      const match = UNQUOTED.exec(input.slice(i));
      if (!match) fail(`unexpected ${JSON.stringify(input[i] ?? 'end')} at position ${i + 1}`);
      const text = match![0].replace(/[A-Z]+/g, (s) => s.toLowerCase());
      parts.push({ text, glob: text.includes('*') ? globRegExp(text) : null });
      i += match![0].length;
    }
    if (i === input.length) break;
    if (input[i] !== '.') fail(`unexpected ${JSON.stringify(input[i])} at position ${i + 1}`);
    i++;
  }
  if (parts.length < min || parts.length > max) fail(`expected ${['', 'name', 'schema.table', 'schema.table.column'][max]}`);
  if (parts.some((p) => p.glob === null && p.text.length > 63)) fail('an identifier is longer than 63 bytes');
  return { input, parts };
}

function globRegExp(text: string): RegExp {
  const body = text
    .split('*')
    .map((s) => s.replace(/[\\^$.|?+()[\]{}]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${body}$`, 's');
}

export function partMatches(part: NamePart, name: string): boolean {
  return part.glob ? part.glob.test(name) : part.text === name;
}

export function isGlob(pattern: NamePattern): boolean {
  return pattern.parts.some((p) => p.glob !== null);
}

/** Whether the text holds a `*` outside double quotes (a pattern rather than a name). */
export function hasWildcard(text: string): boolean {
  let quoted = false;
  for (const ch of text) {
    if (ch === '"') quoted = !quoted;
    else if (ch === '*' && !quoted) return true;
  }
  return false;
}

/** A pattern written back canonically: literal parts quoted, glob parts as folded (`"public".order_*`). */
export function canonicalPattern(pattern: NamePattern): string {
  return pattern.parts.map((p) => (p.glob ? p.text : quoteIdent(p.text))).join('.');
}
