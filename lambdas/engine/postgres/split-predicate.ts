/**
 * The WHERE clause that reads one shard's range (docs/architecture.md, "Shard planning"). COPY takes no
 * parameters, so bounds are inlined: integers as validated digits, every other key as a quoted literal cast to
 * the key column's `format_type` (checked to be a type name and nothing else), page numbers as validated
 * digits inside a `tid` literal. The comparison is the key's default btree order under the column's own
 * collation (a literal takes the column's), the same order the planner's quantiles were computed in.
 */
import type { KeyRange, RangeBound, ShardTask, SplitColumn, SplitPlan, TablePlan } from '../contracts';
import { InputError, RunDocumentError } from '../errors';
import { quoteIdent } from './table-name';

/** Integer keys keep the plain form `key >= 42` (the form plans before other key types used). */
const INTEGER_TYPES = new Set(['bigint', 'integer', 'smallint']);
const INTEGER = /^-?\d{1,20}$/;
const BLOCK = /^\d{1,10}$/;

/**
 * What `format_type` prints, and nothing that could end a type name: words, quoted identifiers, dots, a typmod
 * `(n)` or `(p,s)`, array brackets. Outside double quotes no quote, semicolon, dash or slash can appear.
 */
const TYPE_NAME = /^(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*|\(\d+(?:,\d+)?\)|\[\]|[ .])+$/;

export function checkTypeName(pgType: string): string {
  if (!TYPE_NAME.test(pgType)) throw new RunDocumentError(`bad key type ${JSON.stringify(pgType)}`);
  return pgType;
}

/** A string literal whatever `standard_conforming_strings` says: quotes doubled, backslashes in an E'' literal. */
export function quoteLiteral(text: string): string {
  if (text.includes('\0')) throw new RunDocumentError('a range bound holds a NUL character');
  const body = text.replace(/'/g, "''");
  return text.includes('\\') ? `E'${body.replace(/\\/g, '\\\\')}'` : `'${body}'`;
}

export function isIntegerKey(key: SplitColumn): boolean {
  return INTEGER_TYPES.has(key.pgType);
}

/** One key value as SQL: digits for an integer key, else `'text'::type`. */
export function keyLiteral(key: SplitColumn, value: string): string {
  if (isIntegerKey(key)) {
    if (!INTEGER.test(value)) throw new RunDocumentError(`bad range bound ${JSON.stringify(value)}`);
    return value;
  }
  return `${quoteLiteral(value)}::${checkTypeName(key.pgType)}`;
}

/** How a plan splits its table; plans written before `split` split by `splitKey` or not at all. */
export function splitOf(plan: Pick<TablePlan, 'splitKey' | 'split'>): SplitPlan {
  if (plan.split) return plan.split;
  return plan.splitKey ? { by: 'key', columns: [plan.splitKey] } : { by: 'whole' };
}

/** The WHERE clause (with a leading space, or empty) of a range of a single-column key, and of `filter`. */
export function rangePredicate(key: SplitColumn | null, range: KeyRange, filter: string | null = null): string {
  return predicateOf(key ? { by: 'key', columns: [key] } : { by: 'whole' }, range, filter);
}

/**
 * The WHERE clause of a shard of a plan, with the run's `filter` (an incremental run's cursor condition). A
 * page-split shard needs the run's shared snapshot: without one its pages would not be the planned moment's.
 */
export function shardPredicate(plan: Pick<TablePlan, 'table' | 'splitKey' | 'split'>, task: Pick<ShardTask, 'range' | 'snapshot'>, filter: string | null = null): string {
  const split = splitOf(plan);
  if (split.by === 'pages' && !task.snapshot) {
    throw new InputError(
      `table ${plan.table} is split by page ranges, which read each row once only when every shard reads the run's one snapshot, and this execution has none: start a new run id`,
    );
  }
  return predicateOf(split, task.range, filter);
}

export function predicateOf(split: SplitPlan, range: KeyRange, filter: string | null = null): string {
  const parts: string[] = filter ? [filter] : [];
  for (const [bound, op] of [
    [range.lo, '>='],
    [range.hi, '<'],
  ] as const) {
    if (bound === null) continue;
    parts.push(boundCondition(split, bound, op));
  }
  return parts.length ? ` WHERE ${parts.join(' AND ')}` : '';
}

function boundCondition(split: SplitPlan, bound: NonNullable<RangeBound>, op: '>=' | '<'): string {
  if (split.by === 'whole') throw new RunDocumentError('a bounded range needs a split key or page ranges');
  if (split.by === 'pages') {
    if (typeof bound !== 'string' || !BLOCK.test(bound)) throw new RunDocumentError(`bad page bound ${JSON.stringify(bound)}`);
    return `ctid ${op} '(${bound},0)'::tid`;
  }
  const { columns } = split;
  if (columns.length === 1) {
    if (typeof bound !== 'string') throw new RunDocumentError(`bad range bound ${JSON.stringify(bound)} for a one-column key`);
    return `${quoteIdent(columns[0].name)} ${op} ${keyLiteral(columns[0], bound)}`;
  }
  if (!Array.isArray(bound) || bound.length !== columns.length || bound.some((b) => typeof b !== 'string')) {
    throw new RunDocumentError(`bad range bound ${JSON.stringify(bound)} for a key of ${columns.length} columns`);
  }
  // A row-value comparison: lexicographic in key order, and an index condition on the primary key.
  const row = columns.map((c) => quoteIdent(c.name)).join(', ');
  const values = columns.map((c, i) => keyLiteral(c, bound[i])).join(', ');
  return `(${row}) ${op} (${values})`;
}
