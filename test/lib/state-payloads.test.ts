/**
 * Step Functions caps every state's input and output at 256 KiB, and an output past it fails the execution
 * with `States.DataLimitExceeded`, which no Catch sees (no Commit, no release of the snapshot). This runs the
 * synthesized definition itself (the local interpreter, as `pgsip run` does) at the largest run the design
 * allows, 10,000 shards over 1,000 tables with long names, the shard list served from a real shard-list file,
 * each Task answering as large as its contract allows, and measures every state's input and output, on the
 * way to a commit and on the way to a failure.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StateMachine } from 'aws-local-stepfunctions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import '../support/polyfills';
import { commitOutput } from '../../lambdas/engine/commit-run';
import type { CommitResult, ExecutionInput, HolderEvent, HolderResult, PlanResult, ShardResult, ShardTask } from '../../lambdas/engine/contracts';
import { openDestination } from '../../lambdas/engine/destinations/open-destination';
import type { Destination } from '../../lambdas/engine/destinations/destination';
import { describeRunFailure, type RunFailureEvent } from '../../lambdas/engine/run-failure';
import { serializeDocument } from '../../lambdas/engine/run/documents';
import { runDirOf, shardListKey } from '../../lambdas/engine/run/layout';
import { LOCAL_ITEMS_FIELD, serveItemReaders } from '../../bin/local/item-readers';
import { synthesizeDefinition } from '../../lib/state-machine-definition';

const KiB = 1024;
const STATE_LIMIT = 256 * KiB;
/** "Well below": half the limit leaves room for what the tables' own names add. */
const WELL_BELOW = STATE_LIMIT / 2;
const TABLES = 1_000;
const SHARDS = 10_000;
/** The longest names the contracts allow where it matters: an 80-character run id and execution name. */
const RUN_ID = `20261207T190000Z-${'r'.repeat(62)}`;
const EXECUTION = `e${'x'.repeat(79)}`;
const SNAPSHOT = '00000003-0000001B-1';

/** Long names as real schemas have them: `"warehouse_eu_central_07"."customer_lifetime_value_snapshot_00042"`, 67 characters. */
const tableName = (i: number) => `"warehouse_eu_central_${String(i % 10).padStart(2, '0')}"."customer_lifetime_value_snapshot_${String(i).padStart(5, '0')}"`;
/** What a state may add to the execution input it carries (Plan's and the holders' wrappers, the ids). */
const OVERHEAD = 4 * KiB;
const schemaOf = (t: string) => t.slice(1, t.indexOf('"."'));
const relationOf = (t: string) => t.slice(t.indexOf('"."') + 3, -1);

type Events = { state: string; bytes: number; kind: 'input' | 'output' }[];

let dest: string;
let destination: Destination;
let definition: Record<string, unknown>;

beforeAll(async () => {
  dest = await mkdtemp(join(tmpdir(), 'pgsip-payloads-'));
  destination = openDestination(dest);
  definition = synthesizeDefinition().definition;
  // The shard list Plan writes: 10 shards per table, composite bounds of long text keys.
  const shards: ShardTask[] = [];
  for (let t = 0; t < TABLES; t++) {
    const table = tableName(t);
    for (let s = 0; s < SHARDS / TABLES; s++) {
      shards.push({
        runId: RUN_ID,
        table,
        runDir: runDirOf(schemaOf(table), relationOf(table), RUN_ID),
        shard: s,
        shardCount: SHARDS / TABLES,
        range: { lo: [`eu-${'k'.repeat(40)}-${s}`, String(s * 1e12)], hi: [`eu-${'k'.repeat(40)}-${s + 1}`, String((s + 1) * 1e12)] },
        snapshot: SNAPSHOT,
        heldSnapshot: EXECUTION,
      });
    }
  }
  await destination.put(shardListKey(RUN_ID), serializeDocument(shards));
}, 120_000);

afterAll(async () => {
  await rm(dest, { recursive: true, force: true });
});

/** A large execution input: 1,000 tables named in full, 200 of them incremental. */
function largestInput(): ExecutionInput {
  const tables = Array.from({ length: TABLES }, (_, i) => tableName(i));
  return {
    tables,
    runId: RUN_ID,
    shards: 10,
    concurrency: 64,
    incremental: Object.fromEntries(tables.slice(0, 200).map((t) => [t, { cursor: 'updated_at_timestamp', lookbackSeconds: 600 }])),
    excludeColumns: ['*.*.ssn'],
  };
}

/**
 * Bytes of a payload as Step Functions counts them (UTF-8 JSON). The local runner hands the Map its items in
 * the input (LOCAL_ITEMS_FIELD, bin/local/item-readers.ts), where on AWS the ItemReader reads them from S3:
 * that field is not counted.
 */
const bytes = (v: unknown) =>
  Buffer.byteLength(JSON.stringify(v ?? null, (key, value: unknown) => (key === LOCAL_ITEMS_FIELD ? undefined : value)));

/** Runs the definition with Tasks that answer as large as their contracts allow; returns every state's sizes. */
async function run(input: ExecutionInput, failShard?: number): Promise<{ events: Events; result: unknown; error?: Error }> {
  const { interpreted, afterTask } = serveItemReaders(definition, destination);
  const events: Events = [];
  const lambda = (handler: (payload: never) => unknown, after?: (p: unknown) => Promise<unknown>) => async (request: unknown) => {
    const payload = await handler((request as { Payload: never }).Payload);
    return { Payload: after ? await after(payload) : payload };
  };
  const plan: PlanResult = {
    runId: RUN_ID,
    tableCount: TABLES,
    shardCount: SHARDS,
    items: destination.address(shardListKey(RUN_ID)),
    concurrency: 64,
    snapshot: SNAPSHOT,
    heldSnapshot: EXECUTION,
  };
  // Each table's largest answer: its manifest's full address, a catalog outcome.
  const committed: CommitResult = {
    runId: RUN_ID,
    schedule: 'nightly-warehouse-group-00',
    tables: Array.from({ length: TABLES }, (_, i) => ({
      table: tableName(i),
      manifest: `s3://existing-lake-bucket-eu-west-1/lake/exports/${runDirOf(schemaOf(tableName(i)), relationOf(tableName(i)), RUN_ID)}/_manifest.json`,
      rows: 9_007_199_254,
      bytes: 1_099_511_627_776,
      parts: 40,
      incremental: { mode: 'incremental' as const, from: '2026-12-06T19:00:00.000000Z', reason: 'cursor updated_at_timestamp moved' },
      catalog: { table: `warehouse_${i}`, outcome: 'updated' as const },
    })),
  };
  const handlers = {
    Plan: lambda(() => plan, afterTask.Plan),
    ExportShard: lambda((event: { task: ShardTask }) => {
      if (event.task.shard === failShard) {
        throw Object.assign(new Error(`table ${event.task.table} shard ${event.task.shard}: ${'permission denied for table; '.repeat(200)}`), { name: 'SourceError' });
      }
      // An answer far larger than Export's: whatever a shard says, its child's output must be nothing.
      const answer: ShardResult & { padding: string } = { table: event.task.table, shard: event.task.shard, rows: 1, bytes: 1, parts: 1, seconds: 1, padding: 'p'.repeat(KiB) };
      return answer;
    }),
    Commit: lambda(() => commitOutput(committed)),
    Hold: lambda((event: HolderEvent): HolderResult => ({ action: 'hold', done: true, generation: (event.generation ?? 0) + 2, input: event.input })),
    // The interpreter forwards nested states' events (Map items, Parallel branches) after the fact, and drops
    // those that arrive once the execution has ended: the last Task of the export branch waits until Commit's
    // and the holders' events have reached the log, so every state the assertions name is seen.
    Release: lambda(async () => {
      const seen = (state: string) => events.some((e) => e.state === state && e.kind === 'output');
      while (!seen('Commit') || !seen('Hold')) await new Promise((r) => setTimeout(r, 10));
      return { released: true };
    }),
    ReleaseAfterFailure: lambda(() => ({ released: true })),
    DescribeFailure: lambda((event: RunFailureEvent) =>
      describeRunFailure(event, { source: { failedShards: async () => ({ shards: [], total: 0, counts: { failed: 0, timedOut: 0, aborted: 0 } }) } }),
    ),
  };
  const machine = new StateMachine(interpreted as never, { validationOptions: { checkArn: false, noValidate: true } });
  const execution = machine.run(input as never, {
    overrides: { taskResourceLocalHandlers: handlers as never },
    context: { Execution: { Id: `arn:aws:states:local:000000000000:execution:pgsip:${EXECUTION}`, Name: EXECUTION, Input: input } } as never,
  });
  const collecting = (async () => {
    for await (const e of execution.eventLogs) {
      if (e.type === 'StateEntered') events.push({ state: e.state.name, bytes: bytes(e.state.input), kind: 'input' });
      if (e.type === 'StateExited') events.push({ state: e.state.name, bytes: bytes(e.state.output), kind: 'output' });
    }
  })();
  try {
    const result = await execution.result;
    await collecting;
    return { events, result };
  } catch (error) {
    await collecting.catch(() => {});
    // The interpreter wraps the execution's error once (ExecutionError); the failure is its cause.
    const e = error as Error & { cause?: Error };
    return { events, result: undefined, error: e.name === 'ExecutionError' && e.cause ? e.cause : e };
  }
}

/** The largest input and output each state had. */
function largest(events: Events): Record<string, { input: number; output: number }> {
  const out: Record<string, { input: number; output: number }> = {};
  for (const e of events) {
    const entry = (out[e.state] ??= { input: 0, output: 0 });
    entry[e.kind] = Math.max(entry[e.kind], e.bytes);
  }
  return out;
}

describe('state payloads at 10,000 shards and 1,000 tables', () => {
  it('keeps every state input and output well below 256 KiB on the way to a commit', async () => {
    const input = largestInput();
    expect(bytes(input)).toBeLessThan(WELL_BELOW);
    const { events, result, error } = await run(input);
    expect(error?.message).toBeUndefined();
    const sizes = largest(events);
    for (const state of ['Run', 'Plan', 'ExportShards', 'ExportShard', 'Commit', 'Release', 'Holders', 'HoldSnapshot', 'Hold']) {
      expect(sizes[state], state).toBeDefined();
    }
    const over = Object.entries(sizes).filter(([, s]) => s.input >= WELL_BELOW || s.output >= WELL_BELOW);
    expect(over, JSON.stringify(sizes)).toEqual([]);
    // Nothing grows with the run: the most any state carries is the execution input and a few ids around it.
    const grown = Object.entries(sizes).filter(([, s]) => Math.max(s.input, s.output) > bytes(input) + OVERHEAD);
    expect(grown, JSON.stringify(sizes)).toEqual([]);
    // The Map gathers its 10,000 children's outputs: each is nothing ({}), whatever Export answered.
    expect(events.filter((e) => e.state === 'ExportShard' && e.kind === 'output').every((e) => e.bytes === 2)).toBe(true);
    expect(sizes.ExportShards.output).toBeLessThan(2 * KiB);
    // Commit answers counts, the same few hundred bytes for 1,000 tables as for one; so does the execution.
    expect(sizes.Commit.output).toBeLessThan(KiB);
    expect(result).toEqual({ runId: RUN_ID, tables: TABLES, rows: TABLES * 9_007_199_254, bytes: TABLES * 1_099_511_627_776, parts: TABLES * 40, catalog: { updated: TABLES } });
    expect(bytes(result)).toBeLessThan(KiB);
    // Each holder event carries the execution input (its incremental tables): the largest payload there is.
    expect(sizes.Hold.input).toBeGreaterThan(bytes(input));
    expect(sizes.Hold.input).toBeLessThan(WELL_BELOW);
  }, 600_000);

  it('keeps them well below 256 KiB on the way to a failure too (ReleaseAfterFailure, DescribeFailure, RunFailed)', async () => {
    const input = largestInput();
    const { events, error } = await run(input, 7);
    expect(error?.name).toBe('SourceError');
    const sizes = largest(events);
    for (const state of ['ReleaseAfterFailure', 'DescribeFailure', 'RunFailed']) expect(sizes[state], state).toBeDefined();
    const over = Object.entries(sizes).filter(([, s]) => s.input >= WELL_BELOW || s.output >= WELL_BELOW);
    expect(over, JSON.stringify(sizes)).toEqual([]);
    // The failure's cause (the shard's message, ~6 KB here) is the largest thing on this path.
    expect(sizes.RunFailed.input).toBeLessThan(8 * KiB);
  }, 600_000);
});
