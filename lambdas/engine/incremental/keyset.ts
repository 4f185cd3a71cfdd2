/**
 * The keyset of a shard's range (`deletes: "keyset"`, docs/iceberg.md "Deletes"): every primary key Postgres
 * holds in the range, in the same snapshot the shard's rows were read from, so that Commit can remove from the
 * Iceberg table the rows whose key is gone. Read with one `COPY` of the key columns only (an index-only scan
 * where the visibility map allows), written as it streams, gzip, in one of two forms:
 *
 * - A single integer key column: its **runs of consecutive keys**, found by Postgres itself (the key's
 *   neighbours in key order, `lag`/`lead` over the index), one line per key that starts or ends a run: the
 *   key, a tab, and `s`, `e` or `se`. A serial key with a few gaps is a few lines, not one per row: what a run
 *   reads from Postgres for its keyset is then about the number of gaps, not of rows.
 *
 *     <schema>/<table>/run=<runId>/_keyset/<shard>-<attempt>.runs.gz
 *
 * - Any other key: one line per key, each key column's text as the hex of its UTF-8 bytes (so no text needs
 *   escaping), columns joined by `,`.
 *
 *     <schema>/<table>/run=<runId>/_keyset/<shard>-<attempt>.txt.gz
 *
 * `keyText` gives the same line for a key read back from the table's Parquet files.
 */
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import type pg from 'pg';
import copyStreams from 'pg-copy-streams';
import type { ShardTask, TablePlan } from '../contracts';
import type { Destination } from '../destinations/destination';
import { InternalError } from '../errors';
import { shardPredicate } from '../postgres/shard-planner';
import { quoteIdent } from '../postgres/table-name';

/** The key file of a shard's attempt, relative to the run folder: runs of an integer key, or key lines. */
export const keysetPath = (shard: number, attempt: string, runs = false) => `_keyset/${String(shard).padStart(5, '0')}-${attempt}.${runs ? 'runs' : 'txt'}.gz`;

/** Key types held as runs of consecutive keys. */
const INTEGER_KEY = /^(smallint|integer|bigint)$/;

/** A key as a keyset line: each column's text (an integer's decimal digits, a string as it is) as UTF-8 hex. */
export function keyText(values: readonly unknown[]): string {
  return values.map((v) => Buffer.from(typeof v === 'string' ? v : String(v), 'utf8').toString('hex')).join(',');
}

/** Writes the keys of the shard's range, inside the shard's transaction; answers the file and how many. */
export async function writeKeyset(client: pg.Client, plan: TablePlan, task: ShardTask, destination: Destination, attempt: string): Promise<{ path: string; keys: number }> {
  const key = plan.incremental?.primaryKey ?? [];
  if (key.length === 0) throw new InternalError(`table ${plan.table}: a keyset needs the primary key`);
  const column = key.length === 1 ? plan.columns.find((c) => c.name === key[0]) : undefined;
  const runs = column !== undefined && INTEGER_KEY.test(column.pgType);
  const k = quoteIdent(key[0]);
  // The neighbours' names: never the key's own (a key column named p would make p ambiguous).
  const [p, n] = key[0] === 'pgsip keyset prev' ? ['"pgsip keyset prev 2"', '"pgsip keyset next 2"'] : ['"pgsip keyset prev"', '"pgsip keyset next"'];
  // Runs: a key starts one unless its predecessor is key - 1, ends one unless its successor is key + 1. Written
  // as `p + 1 < k` and `n - 1 > k`, which cannot overflow (p < k <= max, n > k >= min).
  const query = runs
    ? `SELECT ${k}, CASE WHEN ${p} IS NULL OR ${p} + 1 < ${k} THEN 's' ELSE '' END || CASE WHEN ${n} IS NULL OR ${n} - 1 > ${k} THEN 'e' ELSE '' END
         FROM (SELECT ${k}, lag(${k}) OVER w AS ${p}, lead(${k}) OVER w AS ${n} FROM ${plan.table}${shardPredicate(plan, task)} WINDOW w AS (ORDER BY ${k})) keys
        WHERE ${p} IS NULL OR ${p} + 1 < ${k} OR ${n} IS NULL OR ${n} - 1 > ${k}`
    : `SELECT ${key.map((c) => `encode(convert_to(${quoteIdent(c)}::text, 'UTF8'), 'hex')`).join(` || ',' || `)} FROM ${plan.table}${shardPredicate(plan, task)}`;
  const path = keysetPath(task.shard, attempt, runs);
  const writer = destination.createObject(`${task.runDir}/${path}`);
  let keys = 0n;
  let start: bigint | null = null;
  let carry = '';
  // What the file says, counted as it streams: its keys (lines, or the lengths of its runs).
  const count = (line: string) => {
    if (!runs) {
      keys++;
      return;
    }
    const [value, marks] = line.split('\t');
    const at = BigInt(value);
    if (marks.includes('s')) start = at;
    if (marks.includes('e')) {
      if (start === null) throw new InternalError(`table ${plan.table}: a run of keys ends at ${value} without a start`);
      keys += at - start + 1n;
      start = null;
    }
  };
  try {
    const stream = client.query(copyStreams.to(`COPY (${query}) TO STDOUT`));
    await pipeline(
      stream,
      async function* (source: AsyncIterable<Buffer>) {
        for await (const chunk of source) {
          const lines = (carry + chunk.toString('latin1')).split('\n');
          carry = lines.pop()!;
          for (const line of lines) count(line);
          yield chunk;
        }
      },
      createGzip(),
      async (source: AsyncIterable<Buffer>) => {
        for await (const chunk of source) await writer.write(chunk);
      },
    );
    if (carry !== '') count(carry);
    await writer.close();
  } catch (error) {
    await writer.abort().catch(() => {});
    throw error;
  }
  return { path, keys: Number(keys) };
}

/** The source's keys, asked by a key's column values as read from the table's Parquet files. */
export interface KeySet {
  has(values: readonly unknown[]): boolean;
  readonly size: number;
}

/**
 * The keys of the run's keyset files, decompressed as a stream and taken line by line (a whole file as one
 * string would meet V8's string limit). Runs of an integer key are held as two sorted BigInt64Arrays (16 bytes
 * a run) and found by binary search; key lines of a single integer key column as one sorted BigInt64Array
 * (8 bytes a key: 10 million keys in 80 MB); any other key as a set of its keyset lines (about 100 bytes a key).
 */
export async function readKeysets(destination: Destination, runDir: string, paths: readonly string[], integerKey: boolean): Promise<KeySet> {
  const set = new Set<string>();
  const keys = new GrowingInt64();
  const starts = new GrowingInt64();
  const ends = new GrowingInt64();
  let runStart: bigint | null = null;
  let total = 0n;
  for (const path of paths) {
    const runs = path.endsWith('.runs.gz');
    if (runs && !integerKey) throw new InternalError(`${path}: runs of keys for a key that is not one integer column`);
    const take = (line: string) => {
      if (line === '') return;
      if (runs) {
        const [value, marks] = line.split('\t');
        const at = BigInt(value);
        if (marks.includes('s')) runStart = at;
        if (marks.includes('e')) {
          if (runStart === null) throw new InternalError(`${path}: a run of keys ends at ${value} without a start`);
          starts.push(runStart);
          ends.push(at);
          total += at - runStart + 1n;
          runStart = null;
        }
      } else if (integerKey) keys.push(BigInt(Buffer.from(line, 'hex').toString('utf8')));
      else set.add(line);
    };
    const bytes = await destination.get(`${runDir}/${path}`);
    if (!bytes) throw new InternalError(`${destination.location(`${runDir}/${path}`)} is missing: a shard's keyset the run manifest names`);
    const gunzip = createGunzip();
    gunzip.end(bytes);
    let carry = '';
    for await (const chunk of gunzip as AsyncIterable<Buffer>) {
      const lines = (carry + chunk.toString('latin1')).split('\n');
      carry = lines.pop()!;
      for (const line of lines) take(line);
    }
    take(carry);
  }
  if (!integerKey) return { has: (values) => set.has(keyText(values)), size: set.size };
  // Single keys as runs of one, with the runs: every key is then in a run, and runs are found by their start.
  const single = keys.sorted();
  for (const k of single) {
    starts.push(k);
    ends.push(k);
  }
  total += BigInt(single.length);
  // Each shard's runs come in key order and shards hold disjoint ranges: usually already sorted.
  let lo = starts.view();
  let hi = ends.view();
  if (lo.some((v, i) => i > 0 && lo[i - 1] > v)) {
    const order = [...lo.keys()].sort((a, b) => (lo[a] < lo[b] ? -1 : lo[a] > lo[b] ? 1 : 0));
    const from = { lo, hi };
    lo = BigInt64Array.from(order, (i) => from.lo[i]);
    hi = BigInt64Array.from(order, (i) => from.hi[i]);
  }
  // Runs never overlap (each key is in one shard's range): if they did, a key would be judged by the wrong run.
  for (let i = 1; i < lo.length; i++) {
    if (lo[i] <= hi[i - 1]) throw new InternalError(`the keysets' runs of keys overlap at ${lo[i]}: a key is in two shards' keysets`);
  }
  return {
    has: (values) => {
      const key = BigInt(values[0] as bigint | number);
      // The last run starting at or before the key holds it, if any does.
      let a = 0;
      let b = lo.length - 1;
      let found = -1;
      while (a <= b) {
        const mid = (a + b) >>> 1;
        if (lo[mid] <= key) {
          found = mid;
          a = mid + 1;
        } else b = mid - 1;
      }
      return found >= 0 && key <= hi[found];
    },
    size: Number(total),
  };
}

/** A BigInt64Array that grows as values are pushed. */
class GrowingInt64 {
  private values = new BigInt64Array(1024);
  private length = 0;

  push(v: bigint): void {
    if (this.length === this.values.length) {
      const grown = new BigInt64Array(this.values.length * 2);
      grown.set(this.values);
      this.values = grown;
    }
    this.values[this.length++] = v;
  }

  view(): BigInt64Array {
    return this.values.subarray(0, this.length);
  }

  sorted(): BigInt64Array {
    return this.view().slice().sort();
  }
}
