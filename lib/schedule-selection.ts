/**
 * The selection fields of a schedule in the deployment config (`tables` patterns, `excludeTables`,
 * `excludeColumns`, `hashColumns`), checked at synth with one line naming the field, and passed into the
 * schedule's execution input as they are (Plan expands and checks them against the catalog at each run).
 */
import { ConfigError } from '../lambdas/engine/errors';
import { parseColumnEntry } from '../lambdas/engine/selection/column-rules';
import { canonicalPattern, hasWildcard, parseNamePattern } from '../lambdas/engine/selection/name-pattern';

type Obj = Record<string, unknown>;

function asConfigError<T>(field: string, f: () => T): T {
  try {
    return f();
  } catch (error) {
    throw new ConfigError(field, (error as Error).message);
  }
}

/** `public.*` -> `"public".*`: literal parts quoted, globs folded. A pattern must name its schema. */
export function canonicalTablePattern(text: string, field: string): string {
  const pattern = asConfigError(field, () => parseNamePattern(text, 1, 2, 'table pattern'));
  if (pattern.parts.length !== 2) throw new ConfigError(field, `a pattern must name its schema (e.g. public.*), got ${JSON.stringify(text)}`);
  return canonicalPattern(pattern);
}

function strings(v: unknown, field: string): string[] {
  if (!Array.isArray(v) || v.length === 0) throw new ConfigError(field, `must be a list of at least 1 item(s), got ${JSON.stringify(v)}`);
  return v.map((e, i) => {
    if (typeof e !== 'string' || e === '') throw new ConfigError(`${field}[${i}]`, `must be a non-empty string, got ${JSON.stringify(e)}`);
    return e;
  });
}

/**
 * The schedule's selection fields (only those it sets). `canonical` canonicalizes a table name or pattern as
 * `tables` does. Freshness alarms are per named table, so a schedule with `freshnessHours` may use neither
 * patterns nor `excludeTables`: its alarms would watch names no run reports.
 */
export function scheduleSelection(
  s: Obj,
  f: string,
  canonical: (v: unknown, field: string) => string,
): { excludeTables?: string[]; excludeColumns?: string[]; hashColumns?: string[] } {
  const out: { excludeTables?: string[]; excludeColumns?: string[]; hashColumns?: string[] } = {};
  if (s.excludeTables !== undefined) out.excludeTables = strings(s.excludeTables, `${f}.excludeTables`).map((t, i) => canonical(t, `${f}.excludeTables[${i}]`));
  for (const key of ['excludeColumns', 'hashColumns'] as const) {
    if (s[key] === undefined) continue;
    out[key] = strings(s[key], `${f}.${key}`).map((c, i) => {
      asConfigError(`${f}.${key}[${i}]`, () => parseColumnEntry(c, key));
      return c;
    });
  }
  if (s.freshnessHours !== undefined) {
    const pattern = Array.isArray(s.tables) ? s.tables.find((t) => typeof t === 'string' && hasWildcard(t)) : undefined;
    if (pattern !== undefined || out.excludeTables) {
      throw new ConfigError(
        `${f}.freshnessHours`,
        `freshness alarms watch named tables, so a schedule with them cannot use ${pattern !== undefined ? `the pattern ${JSON.stringify(pattern)}` : 'excludeTables'} (name the tables, or move the pattern to a schedule without freshnessHours)`,
      );
    }
  }
  return out;
}
