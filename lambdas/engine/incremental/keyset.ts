/**
 * The keyset of a shard's range (`deletes: "keyset"`, docs/iceberg.md "Deletes"): every primary key Postgres
 * holds in the range, in the same snapshot the shard's rows were read from, so that Commit can remove from the
 * Iceberg table the rows whose key is gone. Read with one `COPY` of the key columns only (an index-only scan
 * where the visibility map allows), written as it streams: one line per key, each key column's text as the
 * hex of its UTF-8 bytes (so no text needs escaping), columns joined by `,`, gzip.
 *
 *   <schema>/<table>/run=<runId>/_keyset/<shard>-<attempt>.txt.gz
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

/** The key file of a shard's attempt, relative to the run folder. */
export const keysetPath = (shard: number, attempt: string) => `_keyset/${String(shard).padStart(5, '0')}-${attempt}.txt.gz`;

/** A key as a keyset line: each column's text (an integer's decimal digits, a string as it is) as UTF-8 hex. */
export function keyText(values: readonly unknown[]): string {
  return values.map((v) => Buffer.from(typeof v === 'string' ? v : String(v), 'utf8').toString('hex')).join(',');
}

/** Writes the keys of the shard's range, inside the shard's transaction; answers the file and how many. */
export async function writeKeyset(client: pg.Client, plan: TablePlan, task: ShardTask, destination: Destination, attempt: string): Promise<{ path: string; keys: number }> {
  const key = plan.incremental?.primaryKey ?? [];
  if (key.length === 0) throw new InternalError(`table ${plan.table}: a keyset needs the primary key`);
  const line = key.map((k) => `encode(convert_to(${quoteIdent(k)}::text, 'UTF8'), 'hex')`).join(` || ',' || `);
  const path = keysetPath(task.shard, attempt);
  const writer = destination.createObject(`${task.runDir}/${path}`);
  let keys = 0;
  try {
    const stream = client.query(copyStreams.to(`COPY (SELECT ${line} FROM ${plan.table}${shardPredicate(plan, task)}) TO STDOUT`));
    await pipeline(
      stream,
      async function* (source: AsyncIterable<Buffer>) {
        for await (const chunk of source) {
          for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) keys++;
          yield chunk;
        }
      },
      createGzip(),
      async (source: AsyncIterable<Buffer>) => {
        for await (const chunk of source) await writer.write(chunk);
      },
    );
    await writer.close();
  } catch (error) {
    await writer.abort().catch(() => {});
    throw error;
  }
  return { path, keys };
}

/** The source's keys, asked by a key's column values as read from the table's Parquet files. */
export interface KeySet {
  has(values: readonly unknown[]): boolean;
  readonly size: number;
}

/**
 * The keys of the run's keyset files, decompressed as a stream and taken line by line (a whole file as one
 * string would meet V8's string limit). A single integer key column is held as a sorted BigInt64Array (8 bytes
 * a key: 10 million keys in 80 MB) and found by binary search; any other key as a set of its keyset lines
 * (about 100 bytes a key).
 */
export async function readKeysets(destination: Destination, runDir: string, paths: readonly string[], integerKey: boolean): Promise<KeySet> {
  const set = new Set<string>();
  let sorted = new BigInt64Array(1024);
  let count = 0;
  const take = (line: string) => {
    if (line === '') return;
    if (!integerKey) {
      set.add(line);
      return;
    }
    if (count === sorted.length) {
      const grown = new BigInt64Array(sorted.length * 2);
      grown.set(sorted);
      sorted = grown;
    }
    sorted[count++] = BigInt(Buffer.from(line, 'hex').toString('utf8'));
  };
  for (const path of paths) {
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
  sorted = sorted.slice(0, count);
  sorted.sort();
  return {
    has: (values) => {
      const key = BigInt(values[0] as bigint | number);
      let lo = 0;
      let hi = sorted.length - 1;
      while (lo <= hi) {
        const mid = (lo + hi) >>> 1;
        if (sorted[mid] === key) return true;
        if (sorted[mid] < key) lo = mid + 1;
        else hi = mid - 1;
      }
      return false;
    },
    size: sorted.length,
  };
}
