/**
 * The run's snapshot as the state machine holds it, seen from the readers' side. The holder functions
 * (lambdas/engine/hold-snapshot.ts) keep one `REPEATABLE READ READ ONLY` transaction open at a time and publish
 * the id it exported in `_runs/_snapshots/<execution>/current.json`; each hand-over publishes a new id of the
 * same moment (a transaction that imported a snapshot exports it again). Plan and every shard import whichever
 * generation is current, and record the first one's id (`origin`) as the moment they read.
 *
 * A shard may read `current.json` just before a hand-over and try to import the id of a holder that has let
 * go since: it then reads the file again and imports the successor's. Holders let go only after their
 * successor has published, so a second reading always finds a live one, unless the chain broke (a holder
 * failed or timed out), which fails the run with one line saying so.
 *
 * A holder that fails records its error's name and message in `failed`; a reader that finds it raises that
 * error again, of the same class (errors.ts, `RelayedError.named`), not a `SnapshotGoneError`. The state machine's `Run`
 * fails with whichever branch fails first, the holder's or its reader's: both say the same thing, so the user
 * sees the cause (a table locked while the horizon was read is a `TableLockedError` naming the table).
 */
import type pg from 'pg';
import type { ExecutionInput, HeldSnapshotDocument } from '../contracts';
import type { Destination } from '../destinations/destination';
import type { EngineEnvironment } from '../environment';
import { InterruptedError, type PgsipError, RelayedError, SnapshotGoneError } from '../errors';
import { beginReadOnly } from '../postgres/snapshot';
import { readDocument } from './documents';
import { failedHolderKey, heldSnapshotKey, releasedSnapshotKey } from './layout';

/**
 * How long Plan waits for the first holder to publish: it connects and, for incremental runs, reads the
 * horizon (each table's greatest cursor) first. Plan's function has 5 minutes; this leaves it 2 to plan.
 */
export const FIRST_HOLDER_WAIT_MS = 180_000;

export interface HeldSnapshotWait {
  /** Give up when nothing was published within this long. Default FIRST_HOLDER_WAIT_MS. */
  timeoutMs?: number;
  /** How often to look. Default 250 ms. */
  pollMs?: number;
  /** Stop waiting when this aborts (the run is stopping). */
  signal?: AbortSignal;
}

/** How Plan and Export wait in this environment. */
export function heldSnapshotWait(env: Pick<EngineEnvironment, 'tuning' | 'signal'>): HeldSnapshotWait {
  return { ...(env.tuning?.snapshotPollMs ? { pollMs: env.tuning.snapshotPollMs } : {}), ...(env.signal ? { signal: env.signal } : {}) };
}

/**
 * The execution whose holders serve this run's snapshot, or null when they hold none: the input brings its
 * own snapshot, asks for none (`holdSnapshot: false`), or the phase was called outside an execution. The
 * holder decides the same way (hold-snapshot.ts), so a reader never waits for a holder that does not hold.
 */
export function heldSnapshotExecution(input: Pick<ExecutionInput, 'snapshot' | 'holdSnapshot'>, executionName: string | undefined): string | null {
  if (input.snapshot || input.holdSnapshot === false || !executionName) return null;
  return executionName;
}

export async function readHeldSnapshot(destination: Destination, execution: string): Promise<HeldSnapshotDocument | null> {
  return readDocument(destination, 'heldSnapshot', heldSnapshotKey(execution));
}

/**
 * What a holder that failed writes in `failed`, as JSON: its generation, its error's `name`, and the first line
 * of its message. pgsip's messages never carry a password; a URL's is masked all the same. Files written by
 * earlier versions hold `holder <n>: <message>`, or nothing.
 */
export interface HolderFailure {
  generation: number;
  name: string;
  message: string;
}

/** At most this much of a message is written: a message is one line naming the culprit, not a dump. */
const MAX_MESSAGE = 2000;
/** `scheme://user:password@`: the password is masked. */
const URL_PASSWORD = /(\b[a-z][a-z0-9+.-]*:\/\/[^\s:/?#@]*:)[^\s/?#@]*@/gi;

/** The body of `failed` for a holder of `generation` that failed with `error`. */
export function holderFailureRecord(generation: number, error: unknown): string {
  const e = (typeof error === 'object' && error !== null ? error : {}) as { name?: unknown; message?: unknown };
  const name = typeof e.name === 'string' && e.name !== '' ? e.name : 'Error';
  const text = typeof e.message === 'string' ? e.message : String(error);
  const message = text.split('\n')[0].replace(URL_PASSWORD, '$1***@').slice(0, MAX_MESSAGE);
  return JSON.stringify({ generation, name, message } satisfies HolderFailure);
}

/** What `failed` says: a holder's failure, or the text of a file from an earlier version. */
function parseHolderFailure(body: Buffer): HolderFailure | string {
  const text = body.toString('utf8').trim();
  try {
    const parsed = JSON.parse(text) as Partial<HolderFailure> | null;
    if (parsed && typeof parsed === 'object' && Number.isInteger(parsed.generation) && typeof parsed.name === 'string' && typeof parsed.message === 'string') {
      return { generation: parsed.generation!, name: parsed.name, message: parsed.message };
    }
  } catch {
    // Not JSON: written by an earlier version.
  }
  return text;
}

export interface HolderEnd {
  /** Why, for a message: `its holder failed: …` or `the execution has released it`. */
  reason: string;
  /** What the failed holder recorded; absent when the execution released it, or the file is of an earlier version. */
  failure?: HolderFailure;
}

/** Why no holder will serve this execution's snapshot any more, or null while one may. */
export async function holderEnded(destination: Destination, execution: string): Promise<HolderEnd | null> {
  const failed = await destination.get(failedHolderKey(execution));
  if (failed !== null) {
    const failure = parseHolderFailure(failed);
    if (typeof failure === 'string') return { reason: failure === '' ? 'its holder failed' : `its holder failed: ${failure}` };
    return { reason: `its holder failed: holder ${failure.generation}: ${failure.name}: ${failure.message}`, failure };
  }
  if ((await destination.get(releasedSnapshotKey(execution))) !== null) return { reason: 'the execution has released it' };
  return null;
}

/**
 * A name a reader raises again: an identifier. Step Functions' own names (`States.*`, `Lambda.*`, `Sandbox.*`,
 * `Runtime.*`) have a dot: a reader raising one would be retried or caught as that service error.
 */
const RELAYED_NAME = /^[A-Za-z_$][\w$]{0,127}$/;

/**
 * The failed holder's error, raised again by a reader: its class (or name) and its message, word for word; the
 * reader's view (`context`) is its cause. Null when the holders ended otherwise, or the name cannot be relayed.
 */
function relayedFailure(ended: HolderEnd | null, context: string, options?: ErrorOptions): PgsipError | null {
  const failure = ended?.failure;
  if (!failure || !RELAYED_NAME.test(failure.name)) return null;
  return RelayedError.named(failure.name, failure.message, { cause: new SnapshotGoneError(`${context}: ${ended.reason}`, options) });
}

/** The current holder's document, once the first holder has published one. */
export async function awaitHeldSnapshot(destination: Destination, execution: string, wait: HeldSnapshotWait = {}): Promise<HeldSnapshotDocument> {
  const timeoutMs = wait.timeoutMs ?? FIRST_HOLDER_WAIT_MS;
  const pollMs = wait.pollMs ?? 250;
  const until = Date.now() + timeoutMs;
  for (;;) {
    const held = await readHeldSnapshot(destination, execution);
    if (held) return held;
    const ended = await holderEnded(destination, execution);
    if (ended) {
      const cannot = `the snapshot of execution ${execution} cannot be read`;
      throw relayedFailure(ended, cannot) ?? new SnapshotGoneError(`${cannot}: ${ended.reason}`);
    }
    if (wait.signal?.aborted) throw new InterruptedError('the run is stopping');
    if (Date.now() >= until) {
      throw new SnapshotGoneError(
        `no holder published the snapshot of execution ${execution} within ${Math.round(timeoutMs / 1000)} s (${destination.location(heldSnapshotKey(execution))}): is the holder function running?`,
      );
    }
    await sleep(pollMs);
  }
}

/**
 * Starts the read-only transaction on the run's held snapshot: imports the current generation's id, and if
 * that holder let go in between, the successor's. Returns the document it imported from.
 */
export async function beginOnHeldSnapshot(client: pg.Client, destination: Destination, execution: string, wait: HeldSnapshotWait = {}): Promise<HeldSnapshotDocument> {
  let held = await awaitHeldSnapshot(destination, execution, wait);
  for (let tries = 0; ; tries++) {
    try {
      await beginReadOnly(client, held.snapshot);
      return held;
    } catch (error) {
      if (!(error instanceof SnapshotGoneError)) throw error;
      await client.query('ROLLBACK').catch(() => {});
      // A hand-over between reading the file and importing: the successor has published already.
      const again = await readHeldSnapshot(destination, execution);
      if (again && again.generation > held.generation && tries < 3) {
        held = again;
        continue;
      }
      const ended = await holderEnded(destination, execution);
      const gone = `the snapshot of execution ${execution} is gone: holder ${held.generation} ended`;
      throw (
        relayedFailure(ended, gone, { cause: error }) ??
        new SnapshotGoneError(
          `${gone}${ended ? ` (${ended.reason})` : ' without a successor (did a holder time out?)'}; run again with the same run id to continue on a new one`,
          { cause: error },
        )
      );
    }
  }
}

/**
 * Removes an execution's held-snapshot files once it has ended and its holders have let go (the local runner;
 * on AWS a lifecycle rule of the bucket expires them).
 */
export async function removeHeldSnapshot(destination: Destination, execution: string): Promise<void> {
  await destination.delete([heldSnapshotKey(execution), releasedSnapshotKey(execution), failedHolderKey(execution)]);
}

export const sleep = (ms: number) => new Promise<void>((ok) => setTimeout(ok, ms));
