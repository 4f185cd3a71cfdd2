/**
 * Export: one shard, Postgres rows in [lo, hi) to Parquet parts, in bounded memory.
 *
 * The rows arrive as one binary COPY inside a read-only REPEATABLE READ transaction (one consistent snapshot
 * per shard). Fields go straight into column builders; when the builders hold a row group's worth of bytes,
 * the row group is encoded and streamed out while the COPY stream waits (async iteration is the
 * backpressure). A part is closed and a new one started when it reaches the part size.
 *
 * Exactly once: parts carry this attempt's id in their names; the shard is finished only when its manifest
 * is written create-only. Parts that no manifest lists (a failed or losing attempt) are swept by Commit.
 */
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import copyStreams from 'pg-copy-streams';
import { describeTable } from './postgres/catalog';
import type { ExportShardEvent, ShardChecksum, ShardManifest, ShardResult, ShardTask, TablePlan } from './contracts';
import { BinaryCopyParser, LARGE_VALUE_BYTES } from './postgres/binary-copy-parser';
import type { EngineEnvironment } from './environment';
import { CountMismatchError, InternalError, SchemaChangedError, SnapshotGoneError } from './errors';
import { tableDestinationOf } from './iceberg/table-storage';
import { faultPoint } from './run/fault-points';
import { beginReadOnly } from './postgres/snapshot';
import { beginOnHeldSnapshot, heldSnapshotWait } from './run/held-snapshot';
import { dropConnection } from './postgres/connection';
import { PartSequence } from './parquet/part-sequence';
import { loadPlan } from './run/plan-store';
import { DOCUMENT_VERSION, readDocument, serializeDocument } from './run/documents';
import { shardManifestKey } from './run/layout';
import { shardPredicate } from './postgres/shard-planner';
import { cursorFilter } from './incremental/cursor';
import { writeKeyset } from './incremental/keyset';
import { quoteIdent } from './postgres/table-name';
import { mapColumn, mappingFromPlan } from './columns/map-column';
import { icebergColumnSchema } from './iceberg/iceberg-schema';
import { MAX_OPEN_PARTITIONS, type PartitionGroup, PartitionRouter } from './iceberg/partition-router';
import { metricsColumnsOf } from './iceberg/data-file-metrics';
import type { ColumnBuilder } from './columns/column-mapping';
import { explainShardFailure } from './shard-failure';
import { checksumKeyOf } from './selection/column-rules';
import { hashKeyFor } from './selection/hash-key';

/** How often a running shard reports progress. */
const PROGRESS_EVERY_MS = 1000;

/** COPY data is parsed in pieces of at least this much (the network's are 8-64 KB). */
const COALESCE_BYTES = 256 * 1024;

/** The shard task inside what the state machine hands Export (see `ExportShardEvent`). */
export function shardTaskOf(event: ExportShardEvent): ShardTask {
  if (!('task' in event) || event.task === null || typeof event.task !== 'object') return event as ShardTask;
  // The snapshot is the execution's (Plan's result), not the recorded plan's: a resumed run brings a new one.
  if (!event.snapshot && !event.heldSnapshot) return event.task;
  return {
    ...event.task,
    ...(event.snapshot ? { snapshot: event.snapshot } : {}),
    ...(event.heldSnapshot ? { heldSnapshot: event.heldSnapshot } : {}),
  };
}

export async function exportShard(task: ShardTask, env: EngineEnvironment): Promise<ShardResult> {
  const started = Date.now();
  const plan = await loadPlan(env.destination, task.runDir);
  // The table's files go where its catalog keeps them (S3 Tables' storage); the run's documents stay here.
  const destination = tableDestinationOf(env, plan);
  const manifestKey = shardManifestKey(task.runDir, task.shard);
  const progress = (state: 'started' | 'running' | 'done' | 'skipped', rows: number, bytes: number) =>
    env.onProgress?.({ runId: task.runId, table: task.table, shard: task.shard, shardCount: task.shardCount, rows, bytes, state });

  const finished = await readDocument(destination, 'shard', manifestKey);
  if (finished) {
    const manifest = finished;
    progress('skipped', manifest.rows, manifest.bytes);
    env.log.info('shard already finished; reusing it', { table: task.table, shard: task.shard, rows: manifest.rows });
    return resultOf(manifest);
  }

  const attempt = randomBytes(4).toString('hex');
  const profile = { types: plan.options.types, infinity: plan.options.infinity };
  const hashKey = await hashKeyFor([plan], env);
  // An Iceberg table's files carry its field ids and the names readers that go by name look for.
  const iceberg = plan.options.tableFormat === 'iceberg' ? plan.iceberg : undefined;
  const mappings = plan.columns.map((c) => {
    const mapping = mappingFromPlan(c, profile, hashKey);
    return iceberg ? { ...mapping, schema: icebergColumnSchema(mapping.schema, c) } : mapping;
  });
  const builders = mappings.map((m) => m.newBuilder());
  const parts = new PartSequence({
    destination,
    runDir: task.runDir,
    shard: task.shard,
    attempt,
    columns: mappings,
    compression: plan.options.compression,
    pageVersion: plan.options.types === 'portable' ? 1 : 2,
    partBytes: plan.options.partBytes,
    metadata: {
      'pgsip.runId': task.runId,
      'pgsip.table': task.table,
      'pgsip.shard': String(task.shard),
      // What Iceberg Java writes too; readers that map columns by it (icebird) need it.
      ...(iceberg ? { 'iceberg.schema': JSON.stringify(iceberg.schema) } : {}),
    },
    icebergColumns: iceberg ? metricsColumnsOf(iceberg.schema.fields) : undefined,
  });
  let rows = 0;
  let checksum: ShardChecksum = { rows: 0, keySum: null };
  let keyset: ShardManifest['keyset'];
  progress('started', 0, 0);

  const client = await env.connect(`pgsip ${task.runId} ${plan.schema}.${plan.name} #${task.shard}`);
  try {
    // The execution's held snapshot: whichever holder holds it now (run/held-snapshot.ts). Recorded as the
    // first holder's id, `task.snapshot`: every shard of the run records the same moment.
    if (task.heldSnapshot) {
      const held = await beginOnHeldSnapshot(client, destination, task.heldSnapshot, heldSnapshotWait(env));
      // The moment Plan planned, or nothing: never a shard of another moment recorded as this one.
      if (task.snapshot && held.origin !== task.snapshot) {
        throw new SnapshotGoneError(`table ${task.table} shard ${task.shard}: execution ${task.heldSnapshot} holds snapshot ${held.origin}, not the run's ${task.snapshot}`);
      }
    } else {
      await beginReadOnly(client, task.snapshot);
    }
    // Protect the source: give up rather than run forever, or queue behind DDL and block everyone after us.
    await client.query(`SET LOCAL statement_timeout = ${Math.trunc(plan.options.statementTimeoutMs)}`);
    await client.query(`SET LOCAL lock_timeout = ${Math.trunc(plan.options.lockTimeoutMs)}`);
    // Text forms that depend on settings are pinned, so that a value reads the same from every server.
    await client.query(`SET LOCAL IntervalStyle = 'iso_8601'`);
    await client.query(`SET LOCAL DateStyle = 'ISO, YMD'`);
    // tstzrange, timetz and other text forms print in the session's zone; UTC keeps them server-independent.
    await client.query(`SET LOCAL TimeZone = 'UTC'`);
    await client.query(`SET LOCAL extra_float_digits = 3`);
    // bytea's text form (hashed columns, composite values) must not depend on the server's setting.
    await client.query(`SET LOCAL bytea_output = 'hex'`);
    await checkColumnsUnchanged(client, plan);

    // A partitioned table's rows go to their partitions' builders (iceberg/partition-router.ts), each partition's
    // row groups to its own parts; otherwise every row to one set of builders.
    const router = iceberg && iceberg.spec.fields.length > 0 ? new PartitionRouter(iceberg.spec, iceberg.schema.fields, mappings, quoteIdent) : null;
    const select = [...(router?.leadingSelects ?? []), ...mappings.map((m) => m.select(quoteIdent(m.plan.name)))].join(', ');
    const order = router && router.orderBy.length > 0 ? ` ORDER BY ${router.orderBy.join(', ')}` : '';
    const sql = `COPY (SELECT ${select} FROM ${plan.table}${shardPredicate(plan, task, cursorFilter(plan.incremental))}${order}) TO STDOUT (FORMAT binary)`;
    const parser = new BinaryCopyParser(router?.fields ?? builders);
    let rowsInGroup = 0;
    let lastReport = Date.now();
    const flushPartition = async (group: PartitionGroup) => {
      const { values, rows: n } = router!.take(group);
      await parts.writeRowGroup(values, n, { key: group.key, values: group.values });
    };
    const flushRowGroup = async () => {
      if (router) {
        for (const group of router.withRows()) await flushPartition(group);
        rowsInGroup = 0;
        return;
      }
      const n = rowsInGroup;
      rowsInGroup = 0;
      await parts.writeRowGroup(
        builders.map((b) => b.take()),
        n,
      );
    };

    const groupRows = env.tuning?.rowGroupRows ?? Number.POSITIVE_INFINITY;
    const slice = env.tuning?.readSliceBytes ?? 0;
    /** After each piece: a partition's row group when it is full, and memory held to a row group's worth. */
    const routed = async (added: number) => {
      const r = router!;
      if (added > 0 && parser.tookLargeValue) return flushRowGroup();
      if (r.size > 0 && parser.pendingBytes >= LARGE_VALUE_BYTES) return flushRowGroup();
      for (const group of r.withRows()) if (group.rows >= groupRows) await flushPartition(group);
      for (let group = r.largest(); group && r.heldBytes >= plan.options.rowGroupBytes; group = r.largest()) await flushPartition(group);
      while (r.size > MAX_OPEN_PARTITIONS) {
        const oldest = r.leastRecent()!;
        if (oldest.rows > 0) await flushPartition(oldest);
        await parts.closePart(oldest.key);
        r.forget(oldest);
      }
    };
    const consume = async (piece: Buffer) => {
      const added = parser.push(piece);
      rowsInGroup += added;
      rows += added;
      if (router) await routed(added);
      else if (added > 0 && (rowsInGroup >= groupRows || parser.tookLargeValue || heldBytes(builders) >= plan.options.rowGroupBytes)) await flushRowGroup();
      // A large value closes row groups early, the one before it and its own (binary-copy-parser.ts).
      else if (rowsInGroup > 0 && parser.pendingBytes >= LARGE_VALUE_BYTES) await flushRowGroup();
    };

    const feed = async (chunk: Buffer) => {
      if (slice > 0) for (let at = 0; at < chunk.length; at += slice) await consume(chunk.subarray(at, at + slice));
      else await consume(chunk);
      if (Date.now() - lastReport >= PROGRESS_EVERY_MS) {
        lastReport = Date.now();
        progress('running', rows, parts.bytes);
      }
    };
    // The network hands COPY over in pieces of 8-64 KB; parsed one by one, a row of a wide table straddles
    // nearly every piece (and each piece costs a pass over the builders). Gathered to COALESCE_BYTES first.
    let gathered: Buffer[] = [];
    let gatheredBytes = 0;
    const stream = client.query(copyStreams.to(sql));
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      // A large value on its way goes from each piece straight into the buffer staged for it.
      if (gatheredBytes === 0 && parser.pendingBytes >= LARGE_VALUE_BYTES) {
        await feed(chunk);
        continue;
      }
      gathered.push(chunk);
      gatheredBytes += chunk.length;
      if (gatheredBytes < COALESCE_BYTES) continue;
      const joined = gathered.length === 1 ? gathered[0] : Buffer.concat(gathered, gatheredBytes);
      gathered = [];
      gatheredBytes = 0;
      await feed(joined);
    }
    if (gatheredBytes > 0) await feed(Buffer.concat(gathered, gatheredBytes));
    parser.finish();
    faultPoint('after-read', task.shard);
    await flushRowGroup();
    await parts.finish();
    faultPoint('after-part', task.shard);
    // Same transaction, same snapshot: Postgres's own count and key sum of the range, to prove nothing was
    // lost or doubled between its rows and our parts (and, later, for `pgsip verify` to re-check the files).
    checksum = await rangeChecksum(client, plan, task);
    if (checksum.rows !== rows) {
      throw new CountMismatchError(`table ${plan.table} shard ${task.shard}: Postgres counts ${checksum.rows} rows in the range but ${rows} were read`);
    }
    // `deletes: "keyset"`: the keys of the whole range, in the same snapshot, for Commit to find the gone ones.
    if (plan.incremental?.deletes === 'keyset' && plan.incremental.mode === 'incremental') {
      keyset = await writeKeyset(client, plan, task, destination, attempt);
    }
    await client.query('COMMIT');
  } catch (error) {
    await parts.abandon();
    // After a failed COPY, a polite COMMIT/ROLLBACK can hang (pg-copy-streams #113): drop the socket instead.
    dropConnection(client);
    throw explainShardFailure(error, { table: plan.table, shard: task.shard, statementTimeoutMs: plan.options.statementTimeoutMs, lockTimeoutMs: plan.options.lockTimeoutMs });
  }
  await client.end().catch(() => {});
  const bytesDone = parts.bytes;

  const manifest: ShardManifest = {
    version: DOCUMENT_VERSION,
    runId: task.runId,
    table: task.table,
    shard: task.shard,
    range: task.range,
    attempt,
    rows,
    bytes: bytesDone,
    parts: parts.parts,
    checksum,
    snapshot: task.snapshot ?? null,
    seconds: (Date.now() - started) / 1000,
    ...(keyset ? { keyset } : {}),
  };
  const created = await destination.putIfAbsent(manifestKey, serializeDocument(manifest));
  faultPoint('after-shard-manifest', task.shard);
  if (!created) {
    // Another attempt of this shard finished first (e.g. a retry after a lost response): its output stands,
    // and Commit sweeps ours, which no manifest lists.
    const winner = await readDocument(destination, 'shard', manifestKey);
    if (!winner) throw new InternalError(`${destination.location(manifestKey)} was created by another attempt but cannot be read back`);
    progress('done', winner.rows, winner.bytes);
    return resultOf(winner);
  }
  progress('done', rows, bytesDone);
  env.log.info('shard exported', { table: task.table, shard: task.shard, rows, bytes: bytesDone, parts: parts.parts.length, seconds: manifest.seconds });
  return resultOf(manifest);
}

async function rangeChecksum(client: pg.Client, plan: TablePlan, task: ShardTask): Promise<ShardChecksum> {
  // No key sum when the split key is excluded or hashed: the files could not give it back.
  const sumKey = checksumKeyOf(plan);
  const keySum = sumKey ? `sum(${quoteIdent(sumKey.name)})::text` : 'NULL::text';
  const result = await client.query<{ rows: string; key_sum: string | null }>(
    `SELECT count(*)::text AS rows, ${keySum} AS key_sum FROM ${plan.table}${shardPredicate(plan, task, cursorFilter(plan.incremental))}`,
  );
  const { rows, key_sum } = result.rows[0];
  return { rows: Number(rows), keySum: sumKey ? (key_sum ?? '0') : null };
}

function heldBytes(builders: ColumnBuilder[]): number {
  let total = 0;
  for (const b of builders) total += b.bytes;
  return total;
}

function resultOf(m: ShardManifest): ShardResult {
  return { table: m.table, shard: m.shard, rows: m.rows, bytes: m.bytes, parts: m.parts.length, seconds: m.seconds };
}

/** A column added, dropped, renamed or retyped since Plan would mix two shapes in one run: refuse. */
async function checkColumnsUnchanged(client: pg.Client, plan: TablePlan): Promise<void> {
  const now = await describeTable(client, plan.table);
  const profile = { types: plan.options.types, infinity: plan.options.infinity };
  const excluded = new Set(plan.excluded ?? []);
  const current = now.columns.filter((c) => !excluded.has(c.name)).map((c) => mapColumn(c, profile).plan);
  const planned = new Map(plan.columns.map((c) => [c.name, c]));
  for (const c of current) {
    const was = planned.get(c.name);
    if (!was) throw new SchemaChangedError(`table ${plan.table}: column "${c.name}" was added after the run was planned`);
    if (was.pgType !== c.pgType) {
      throw new SchemaChangedError(`table ${plan.table}: column "${c.name}" changed type from ${was.pgType} to ${c.pgType} after the run was planned`);
    }
    planned.delete(c.name);
  }
  for (const name of planned.keys()) {
    throw new SchemaChangedError(`table ${plan.table}: column "${name}" was dropped after the run was planned`);
  }
}

