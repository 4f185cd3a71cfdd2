/**
 * Hold: one snapshot for a whole run, however long it runs, held by the state machine itself
 * (docs/architecture.md, "One moment for the whole run").
 *
 * A transaction that exported a snapshot must stay open while anyone still has to import it, and a Lambda
 * function lives at most 15 minutes. So holders take turns. Generation 0 reads the incremental horizon (if the
 * run has incremental tables), opens `REPEATABLE READ READ ONLY`, exports its snapshot and publishes the id
 * (lambdas/engine/run/held-snapshot.ts). Generation n waits until generation n-1 nears its deadline, imports
 * n-1's snapshot, exports it again (the same moment under a new id) and publishes that; n-1 sees it and lets
 * go. Two loops of the state machine alternate (even and odd generations), so a successor is always running
 * before its predecessor ends. Every holder names its session `pgsip <runId> holder <n>`, so a DBA sees who
 * keeps the xmin horizon back.
 *
 * A holder lets go when the execution releases the snapshot (`Release`, after Commit or a failure), when its
 * successor took over, or, failing both, a margin after its own deadline (an execution stopped from outside
 * leaves no one to release it: its last holder ends within one lifetime).
 */
import type pg from 'pg';
import type { ExecutionInput, HeldSnapshotDocument, HolderEvent, HolderResult } from './contracts';
import type { EngineEnvironment } from './environment';
import { InputError, SnapshotGoneError } from './errors';
import { cannotWrite } from './destinations/cannot-write';
import { readHorizon } from './incremental/horizon';
import { beginReadOnly } from './postgres/snapshot';
import { parseTableName, quoteTable } from './postgres/table-name';
import { DOCUMENT_VERSION, serializeDocument } from './run/documents';
import { heldSnapshotExecution, holderEnded, holderFailureRecord, readHeldSnapshot, sleep } from './run/held-snapshot';
import { failedHolderKey, heldSnapshotKey, releasedSnapshotKey, runIdOf } from './run/layout';

/** A holder's lifetime: it waits about this long for its turn, then holds about this long (2 x 360 s + margins < Lambda's 900 s). */
export const DEFAULT_HOLDER_SECONDS = 360;
export const MAX_HOLDER_SECONDS = 420;

/** `PGSIP_SNAPSHOT_HOLDER_SECONDS`, when set: shorter lifetimes force hand-overs (tests), within 1-420 s. */
export function snapshotHolderSeconds(env: NodeJS.ProcessEnv): { snapshotHolderSeconds?: number } {
  const text = env.PGSIP_SNAPSHOT_HOLDER_SECONDS;
  if (text === undefined || text === '') return {};
  const seconds = Number(text);
  if (!(Number.isFinite(seconds) && seconds > 0 && seconds <= MAX_HOLDER_SECONDS)) {
    throw new InputError(`PGSIP_SNAPSHOT_HOLDER_SECONDS must be a number of seconds more than 0 and at most ${MAX_HOLDER_SECONDS} (got ${JSON.stringify(text)})`);
  }
  return { snapshotHolderSeconds: seconds };
}

export interface HolderTiming {
  lifetimeMs: number;
  /** A successor takes over this long before its predecessor's deadline; a holder with no successor waits this long past it. */
  marginMs: number;
  pollMs: number;
}

export function holderTiming(env: Pick<EngineEnvironment, 'snapshotHolderSeconds' | 'tuning'>): HolderTiming {
  const seconds = env.snapshotHolderSeconds ?? DEFAULT_HOLDER_SECONDS;
  if (!(seconds > 0 && seconds <= MAX_HOLDER_SECONDS)) {
    throw new InputError(`the snapshot holder's lifetime must be more than 0 and at most ${MAX_HOLDER_SECONDS} s (got ${seconds})`);
  }
  const lifetimeMs = seconds * 1000;
  return {
    lifetimeMs,
    marginMs: Math.min(30_000, lifetimeMs / 4),
    pollMs: env.tuning?.snapshotPollMs ?? Math.max(50, Math.min(1000, lifetimeMs / 10)),
  };
}

/**
 * One generation. `remainingMs`, when the caller knows it (Lambda's `getRemainingTimeInMillis`), bounds the
 * deadline it publishes, so that it always lets go before its invocation ends, however late it started.
 */
export async function holdSnapshot(event: HolderEvent, env: EngineEnvironment, remainingMs?: () => number): Promise<HolderResult> {
  const input: ExecutionInput = event.input ?? { tables: [] };
  const generation = event.generation ?? 0;
  if (!Number.isInteger(generation) || generation < 0) throw new InputError(`a snapshot holder's generation must be a whole number (got ${JSON.stringify(event.generation)})`);
  const finished: HolderResult = { action: 'hold', done: true, generation };
  const next: HolderResult = { action: 'hold', done: false, generation: generation + 2, input };
  const execution = heldSnapshotExecution(input, event.executionName);
  if (execution === null) return finished;
  const runId = runIdOf(input, execution);
  const timing = holderTiming(env);
  const { destination } = env;

  let client: pg.Client | undefined;
  let lost: string | null = null;
  try {
    let predecessor: HeldSnapshotDocument | null = null;
    if (generation > 0) {
      const turn = await awaitTurn(env, execution, generation, timing);
      if (turn === 'ended') return finished;
      // The chain went past this generation (a retried invocation whose successor had taken over): the next of its loop goes on.
      if (turn === 'passed') return next;
      predecessor = turn;
    } else {
      if (await holderEnded(destination, execution)) return finished;
      // A retried first holder (its invocation timed out) must not take a second, later moment.
      if (await readHeldSnapshot(destination, execution)) {
        throw new SnapshotGoneError(`snapshot holder 0 of run ${runId} took the snapshot once already and ended: the run cannot go on from one moment; run again with the same run id`);
      }
    }

    client = await env.connect(`pgsip ${runId} holder ${generation}`);
    client.once('end', () => (lost ??= 'its connection ended'));
    client.on('error', (error: Error) => (lost ??= `its connection failed: ${error.message}`));
    await keepOpen(client);
    const horizon = predecessor ? predecessor.horizon : await horizonOf(client, input, env);
    if (predecessor) {
      try {
        await beginReadOnly(client, predecessor.snapshot);
      } catch (error) {
        if (!(error instanceof SnapshotGoneError)) throw error;
        throw new SnapshotGoneError(`snapshot holder ${generation} of run ${runId}: holder ${generation - 1} had let go of the snapshot before it could take over (did it time out?)`, { cause: error });
      }
    } else {
      await beginReadOnly(client, undefined);
    }
    const exported = await client.query<{ id: string }>('SELECT pg_export_snapshot() AS id');
    // At most one lifetime, and early enough to let go (a margin after the deadline) before the invocation ends.
    const left = remainingMs ? remainingMs() - timing.marginMs - 10_000 : Number.POSITIVE_INFINITY;
    const held: HeldSnapshotDocument = {
      version: DOCUMENT_VERSION,
      execution,
      runId,
      origin: predecessor?.origin ?? exported.rows[0].id,
      generation,
      snapshot: exported.rows[0].id,
      deadline: new Date(Date.now() + Math.max(1000, Math.min(timing.lifetimeMs, left))).toISOString(),
      horizon,
    };
    await destination.put(heldSnapshotKey(execution), serializeDocument(held)).catch((error: unknown) => {
      throw cannotWrite(destination, error);
    });
    env.log.info('holding the run snapshot', { runId, execution, generation, origin: held.origin, deadline: held.deadline });

    const letGoAt = Date.parse(held.deadline) + timing.marginMs;
    let pinged = Date.now();
    for (;;) {
      await sleep(timing.pollMs);
      if (env.signal?.aborted) return finished;
      // Released, or handed over: whatever happened to the connection since, its work is done.
      if (await holderEnded(destination, execution)) return finished;
      const current = await readHeldSnapshot(destination, execution);
      if (current && current.generation > generation) {
        env.log.info('handed the run snapshot over', { runId, generation, to: current.generation });
        return next;
      }
      if (lost) throw new SnapshotGoneError(`snapshot holder ${generation} of run ${runId} lost the snapshot: ${lost}`);
      if (Date.now() - pinged >= PING_MS) {
        await ping(client);
        pinged = Date.now();
      }
      if (Date.now() >= letGoAt) {
        // The next of this loop finds out whether the chain broke (it fails the run, naming the holders).
        env.log.warn('no successor took the run snapshot over and nobody released it: letting go', { runId, generation });
        return next;
      }
    }
  } catch (error) {
    // Plan and shards waiting on this snapshot learn why instead of waiting out their timeout, and raise this
    // very error again (its name and message, run/held-snapshot.ts): whichever of them fails the run first,
    // the run fails with the cause. Create-only: the first holder to fail names the cause.
    await destination.putIfAbsent(failedHolderKey(execution), holderFailureRecord(generation, error)).catch(() => {});
    throw error;
  } finally {
    await client?.query('COMMIT').catch(() => {});
    await client?.end().catch(() => {});
  }
}

/** A held transaction shows it is alive this often (a silently dropped connection fails the query). */
const PING_MS = 10_000;

async function ping(client: pg.Client): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      client.query('SELECT 1'),
      new Promise((_, fail) => {
        timer = setTimeout(() => fail(new SnapshotGoneError('the connection holding the run snapshot does not answer')), 15_000);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Held open and idle for minutes on end: server-wide idle-in-transaction and (PG17+) transaction timeouts must
 * not end it. Set for the session, before its transaction begins.
 */
async function keepOpen(client: pg.Client): Promise<void> {
  await client.query('SET idle_in_transaction_session_timeout = 0');
  const version = await client.query<{ v: string }>(`SELECT current_setting('server_version_num') AS v`);
  if (Number(version.rows[0].v) >= 170000) await client.query('SET transaction_timeout = 0');
}

/**
 * Waits for generation n-1 to publish and near its deadline, and returns its document. `ended`: no turn will
 * come (released, or a holder failed: that failure fails the run). `passed`: a later generation holds it
 * already (this is a retried invocation whose turn went by). This very generation published already means
 * its first invocation held the snapshot and ended: that snapshot cannot be recovered.
 */
async function awaitTurn(env: EngineEnvironment, execution: string, generation: number, timing: HolderTiming): Promise<HeldSnapshotDocument | 'ended' | 'passed'> {
  for (;;) {
    if (env.signal?.aborted || (await holderEnded(env.destination, execution))) return 'ended';
    const current = await readHeldSnapshot(env.destination, execution);
    if (current && current.generation > generation) return 'passed';
    if (current && current.generation === generation) {
      throw new SnapshotGoneError(`snapshot holder ${generation} of execution ${execution} took over once already and ended: the snapshot is gone`);
    }
    if (current && current.generation === generation - 1 && Date.now() >= Date.parse(current.deadline) - timing.marginMs) return current;
    if (current && current.generation < generation - 1 && Date.now() >= Date.parse(current.deadline) + timing.marginMs) {
      throw new SnapshotGoneError(`snapshot holder ${generation} of execution ${execution} found holder ${current.generation} past its deadline and no holder ${generation - 1}: the snapshot is gone`);
    }
    await sleep(timing.pollMs);
  }
}

/** What the first holder reads before its snapshot, for incremental tables (lambdas/engine/incremental/horizon.ts). */
async function horizonOf(client: pg.Client, input: ExecutionInput, env: EngineEnvironment): Promise<HeldSnapshotDocument['horizon']> {
  const named = Object.entries(input.incremental ?? {});
  if (named.length === 0) return null;
  const tables = named.map(([key, spec]) => ({ key, quoted: quoteTable(parseTableName(key)), cursor: spec.cursor }));
  return readHorizon(client, tables, env.tuning?.horizonSettleMs, input.lockTimeoutMs);
}

/** Release: the execution is done with its snapshot (after Commit, or after a failure); every holder lets go. */
export async function releaseSnapshot(event: HolderEvent, env: Pick<EngineEnvironment, 'destination' | 'log'>): Promise<{ released: boolean }> {
  await env.destination.put(releasedSnapshotKey(event.executionName), new Date().toISOString());
  return { released: true };
}

/** The holder function's two actions. */
export async function snapshotHolder(event: HolderEvent, env: EngineEnvironment, remainingMs?: () => number): Promise<HolderResult | { released: boolean }> {
  if (event?.action === 'release') return releaseSnapshot(event, env);
  if (event?.action === 'hold') return holdSnapshot(event, env, remainingMs);
  throw new InputError(`a snapshot holder's action must be "hold" or "release" (got ${JSON.stringify(event?.action)})`);
}
