/**
 * Where an incremental run starts reading (docs/architecture.md, "Incremental runs").
 *
 * Each run of an incremental table records, from Postgres itself, readings of the table's greatest cursor
 * (`through`), each with a moment at or after the snapshot it was read in: one in the run's snapshot
 * (`snapshotAt`) and one a moment before it (`before`, horizon.ts); and `openSince`, when the oldest
 * transaction still open just before the snapshot had started.
 *
 * The rows the newest run N did not see belong to transactions open at its snapshot or begun after it. Each
 * of those began at or after N.openSince, so every cursor value it sets — a sequence value, now(),
 * clock_timestamp(), all taken after it began — is at or past any reading taken before N.openSince: whatever
 * that reading saw was set earlier. The next run therefore reads `cursor >= through` of the newest reading of
 * the table's runs taken at or before N.openSince. That holds whatever order transactions commit in, keeps
 * rows with a cursor equal to the watermark (`>=`), and uses no clock but Postgres's own. When no reading is
 * old enough (a transaction open since before the full run; a prepared transaction), the run is full. Rows
 * read again are deduplicated on the primary key by whoever reads the runs.
 */
import type pg from 'pg';
import { type CursorReading, DELETE_TRACKING, type ExecutionInput, type IncrementalPlan, type IncrementalSpec, type LatestPointer, type RunManifest } from '../contracts';
import type { Destination } from '../destinations/destination';
import { InputError } from '../errors';
import type { CatalogTable } from '../postgres/catalog';
import { quoteIdent } from '../postgres/table-name';
import { readDocument } from '../run/documents';
import { tableDir } from '../run/layout';
import { checkCursor } from './cursor';
import { ISO_UTC } from './horizon';

export interface WatermarkContext {
  client: pg.Client;
  destination: Destination;
  /** Read before the run's snapshot (horizon.ts); `before` is this table's reading, if one was taken. */
  openSince: string | null;
  before: CursorReading | null;
  /** `--full`. */
  full: boolean;
  /** The run's columns as mapped (chainShape) and its type profile: a chain continues only over the same. */
  shape: string;
  types: string;
  /**
   * Iceberg tables: the chain goes on across a column change, which the table's schema takes by field id
   * (a change it cannot take stops Plan: lambdas/engine/iceberg/iceberg-schema.ts).
   */
  columnsEvolve?: boolean;
}

/** The incremental spec of each of the run's tables, by canonical name; a name that is not in the run is refused. */
export function specsByTable(input: ExecutionInput, canonical: (requested: string) => string | undefined): Map<string, IncrementalSpec & { key: string }> {
  const specs = new Map<string, IncrementalSpec & { key: string }>();
  for (const [name, spec] of Object.entries(input.incremental ?? {})) {
    if (!spec || typeof spec.cursor !== 'string' || spec.cursor === '') throw new InputError(`"incremental" of ${name} needs a "cursor" column`);
    const lookback = spec.lookbackSeconds ?? 0;
    if (!Number.isInteger(lookback) || lookback < 0) throw new InputError(`"lookbackSeconds" of ${name} must be a whole number of seconds (got ${JSON.stringify(spec.lookbackSeconds)})`);
    const table = canonical(name);
    if (table === undefined) throw new InputError(`"incremental" names ${name}, which is not among the run's tables`);
    if (specs.has(table)) throw new InputError(`"incremental" names ${table} twice`);
    if (spec.deletes !== undefined && !DELETE_TRACKING.includes(spec.deletes)) {
      throw new InputError(`"deletes" of ${name} must be ${DELETE_TRACKING.map((d) => JSON.stringify(d)).join(' or ')} (got ${JSON.stringify(spec.deletes)})`);
    }
    specs.set(table, { cursor: spec.cursor, lookbackSeconds: lookback, key: name, ...(spec.deletes ? { deletes: spec.deletes } : {}) });
  }
  return specs;
}

/** The columns a chain must keep, as one comparable string. */
export const chainShape = (columns: readonly { name: string; pgType: string; parquetType: string }[]) =>
  JSON.stringify(columns.map((c) => [c.name, c.pgType, c.parquetType]));

export async function planIncremental(table: CatalogTable, spec: IncrementalSpec, ctx: WatermarkContext): Promise<IncrementalPlan> {
  const lookbackSeconds = spec.lookbackSeconds ?? 0;
  const cursor = checkCursor(table, spec.cursor, lookbackSeconds);
  const c = quoteIdent(cursor.name);
  const here = await ctx.client.query<{ through: string | null; at: string }>(
    `SELECT max(${c})::text AS through, to_char(clock_timestamp() AT TIME ZONE 'UTC', ${ISO_UTC}) AS at FROM ${table.quoted}`,
  );
  const base = {
    ...(spec.deletes ? { deletes: spec.deletes } : {}),
    cursor: cursor.name,
    cursorType: cursor.pgType,
    primaryKey: table.primaryKey.map((k) => k.name),
    lookbackSeconds,
    through: here.rows[0].through,
    snapshotAt: here.rows[0].at,
    before: ctx.before,
    openSince: ctx.openSince,
  };
  const full = (reason: string): IncrementalPlan => ({ ...base, mode: 'full', from: null, continues: null, reason });

  if (ctx.full) return full('a full run was asked for');
  const folder = tableDir(table.schema, table.name);
  const latest: LatestPointer | null = await readDocument(ctx.destination, 'latest', `${folder}/_latest.json`);
  if (!latest) return full('the table has no committed run yet');
  const chain: { runId: string; manifest: RunManifest }[] = [];
  for (const ref of latest.runs) {
    const manifest = await readDocument(ctx.destination, 'manifest', `${folder}/${ref.manifest}`);
    if (!manifest) return full(`run ${ref.runId}, one of the table's runs, has no manifest any more`);
    chain.push({ runId: ref.runId, manifest });
  }
  const newest = chain[chain.length - 1];
  const last = newest.manifest.incremental;
  if (!last) return full(`the last run, ${newest.runId}, did not record an incremental cursor`);
  if (last.cursor !== cursor.name) return full(`the last run, ${newest.runId}, read by cursor "${last.cursor}", not "${cursor.name}"`);
  if (newest.manifest.types !== ctx.types) return full(`the last run, ${newest.runId}, was written with the ${newest.manifest.types} type profile`);
  if (!ctx.columnsEvolve && chainShape(newest.manifest.columns) !== ctx.shape) return full(`the table's columns changed since run ${newest.runId}`);
  const openSince = last.openSince;
  if (openSince === null) return full(`when run ${newest.runId} read its snapshot, a transaction of unknown age was open (a prepared transaction, or a snapshot taken without its horizon)`);

  // Every reading of the chain, newest first; the first one taken at or before openSince is the watermark.
  const readings = chain.flatMap(({ runId, manifest }) => {
    const inc = manifest.incremental;
    if (!inc) return [];
    return [...(inc.before ? [{ runId, ...inc.before }] : []), { runId, through: inc.through, at: inc.snapshotAt }];
  });
  const settled = readings.sort((a, b) => (a.at < b.at ? 1 : a.at > b.at ? -1 : 0)).find((r) => r.at <= openSince);
  if (!settled) return full(`a transaction open since ${openSince}, before the table's full run ${chain[0].runId} read it, may still write rows no run has seen`);
  if (settled.through === null) {
    return { ...base, mode: 'incremental', from: null, continues: newest.runId, reason: `the table had no cursor value when run ${settled.runId} read it: every row is read` };
  }
  let from = settled.through;
  if (lookbackSeconds > 0) {
    const back = await ctx.client.query<{ from: string }>(`SELECT ($1::${cursor.pgType} - make_interval(secs => $2))::${cursor.pgType}::text AS from`, [from, lookbackSeconds]);
    from = back.rows[0].from;
  }
  return {
    ...base,
    mode: 'incremental',
    from,
    continues: newest.runId,
    reason: `${cursor.name} >= ${from} or NULL: the greatest ${cursor.name} run ${settled.runId} read at ${settled.at}, before the oldest transaction open at run ${newest.runId} began (${openSince})${lookbackSeconds ? `, less ${lookbackSeconds} s of lookback` : ''}`,
  };
}
