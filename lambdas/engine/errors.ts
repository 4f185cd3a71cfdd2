/**
 * Errors pgsip raises on purpose: one hierarchy under `PgsipError`, each class named for what happened. Each
 * message is one line that names the culprit (table, shard, column, host, path), never a password.
 *
 * Each `name` is what Step Functions matches in Retry/Catch and what the CLI and the logs report, so it is a
 * literal: minified bundles rename classes, and the contract must not move with them. The names the state
 * machine matches are listed in docs/architecture.md ("Errors").
 */
export class PgsipError extends Error {
  override name: string = 'PgsipError';
}

/** The request cannot work as given: a bad name, a missing table, a bad option, a destination that refuses writes. */
export class InputError extends PgsipError {
  override name = 'InputError';
}

/** A deployment config file field is wrong (`lib/pgsip-config.ts`); the message names the field. */
export class ConfigError extends PgsipError {
  override name = 'ConfigError';
  constructor(
    readonly field: string,
    readonly problem: string,
    /** What the field belongs to, first in the message: `config ` (the file) or `PgsipExport props.`. */
    readonly subject = 'config ',
  ) {
    super(`${subject}${field}: ${problem}`);
  }
}

/** Postgres could not be reached or refused us (host, port, password, TLS). */
export class ConnectionError extends PgsipError {
  override name = 'ConnectionError';
}

/**
 * A value pgsip cannot carry into Parquet without changing it (NaN in a DECIMAL column, a 2-D array, a
 * timestamp past what Parquet microseconds hold). Nothing is written silently different: the shard stops.
 */
export class ValueRefusedError extends PgsipError {
  override name = 'ValueRefusedError';
  constructor(
    readonly column: string,
    readonly detail: string,
    readonly table?: string,
    options?: ErrorOptions,
  ) {
    super(`${table ? `table ${table}, ` : ''}column "${column}": ${detail}`, options);
  }

  /** The same refusal, naming the table too (builders know their column, not their table). */
  inTable(table: string): ValueRefusedError {
    return new ValueRefusedError(this.column, this.detail, table, { cause: this });
  }
}

/** The table changed shape between Plan and Export; mixing the two would silently change data. */
export class SchemaChangedError extends PgsipError {
  override name = 'SchemaChangedError';
}

/**
 * A fault that a fresh attempt of the shard may not meet: the connection dropped or was terminated (failover,
 * `pg_terminate_backend`), the table lock was not granted within lock_timeout, the destination throttled.
 * The state machine retries it with backoff (`SHARD_RETRYABLE_ERROR` in lib/export-state-machine.ts).
 */
export class ShardRetryableError extends PgsipError {
  override name = 'ShardRetryableError';
}

/**
 * Plan could not read a table within lock_timeout: another session holds a lock that conflicts with a read
 * (DDL, `VACUUM FULL`, `LOCK ... IN ACCESS EXCLUSIVE MODE`). Not retried by the state machine: Plan has
 * written nothing yet, and the person or schedule that started the run learns at once who holds the table
 * (docs/architecture.md, "Errors"). The same wait in a shard is a `ShardRetryableError`.
 */
export class TableLockedError extends PgsipError {
  override name = 'TableLockedError';
}

/** A shard's read ran past `statement_timeout`; trying again would too. */
export class StatementTimeoutError extends PgsipError {
  override name = 'StatementTimeoutError';
}

/** Postgres refused a read for a reason waiting cannot fix (permission denied, an error in a cast, ...). */
export class SourceError extends PgsipError {
  override name = 'SourceError';
}

/** The destination refused a read or write (access denied, disk full, no such bucket); names the path. */
export class DestinationError extends PgsipError {
  override name = 'DestinationError';
}

/** The COPY stream is not what its query promises (a protocol or mapping bug, not bad data). */
export class CopyStreamError extends PgsipError {
  override name = 'CopyStreamError';
}

/** A shard read a different number of rows than Postgres counts in the same snapshot; nothing is recorded. */
export class CountMismatchError extends PgsipError {
  override name = 'CountMismatchError';
}

/** The run's snapshot can no longer be imported: the transaction holding it ended. */
export class SnapshotGoneError extends PgsipError {
  override name = 'SnapshotGoneError';
}

/** A file of the run (plan, shard manifest, run manifest, `_latest.json`) is missing, unreadable or from another version. */
export class RunDocumentError extends PgsipError {
  override name = 'RunDocumentError';
}

/** The run's files do not add up at Commit; nothing is committed. */
export class CommitError extends PgsipError {
  override name = 'CommitError';
}

/**
 * The catalog (Glue) refused to register a committed table, or the table cannot be described there (a type the
 * catalog has no type for, two columns one name apart in case, a name another table already holds). The run
 * itself is committed; registering it again (a redrive, `pgsip catalog`) is safe.
 */
export class CatalogError extends PgsipError {
  override name = 'CatalogError';
}

/** `pgsip verify`: the files of a committed run do not match what the run recorded. */
export class VerificationError extends PgsipError {
  override name = 'VerificationError';
}

/**
 * A local run was stopped (SIGINT, SIGTERM): its shards' connections were closed and their unfinished parts
 * removed; what had finished is kept, and running the same run id again continues from there.
 */
export class InterruptedError extends PgsipError {
  override name = 'InterruptedError';
}

/** Something pgsip did not expect of itself; the message says where. */
export class InternalError extends PgsipError {
  override name = 'InternalError';
}

/**
 * An error another invocation raised, raised again here from its `name` and message alone (a snapshot holder's
 * failure, which Plan and Export raise again: lambdas/engine/run/held-snapshot.ts). `RelayedError.named` gives
 * pgsip's own class for a name of this file; a `RelayedError` is for any other name, and keeps it (`name` is
 * what Step Functions and the CLI match on).
 */
export class RelayedError extends PgsipError {
  override name: string = 'RelayedError';

  constructor(message: string, options?: ErrorOptions & { name?: string }) {
    super(message, options);
    if (options?.name) this.name = options.name;
  }

  /**
   * The error named `name` with this message: an instance of pgsip's class of that name when there is one (the
   * message kept word for word), else a `RelayedError` carrying the name.
   */
  static named(name: string, message: string, options?: ErrorOptions): PgsipError {
    return classByName().get(name)?.(message, options) ?? new RelayedError(message, { ...options, name });
  }
}

/** pgsip's errors whose constructor takes the message as it is. */
const PLAIN_ERRORS = [
  PgsipError,
  InputError,
  ConnectionError,
  SchemaChangedError,
  ShardRetryableError,
  TableLockedError,
  StatementTimeoutError,
  SourceError,
  DestinationError,
  CopyStreamError,
  CountMismatchError,
  SnapshotGoneError,
  RunDocumentError,
  CommitError,
  CatalogError,
  VerificationError,
  InterruptedError,
  InternalError,
] as const;

type ErrorMaker = (message: string, options?: ErrorOptions) => PgsipError;
let byName: Map<string, ErrorMaker> | undefined;

/** Each class of this file by its literal `name` (an instance says it; minified class names would not). */
const classByName = (): Map<string, ErrorMaker> =>
  (byName ??= new Map<string, ErrorMaker>([
    ...PLAIN_ERRORS.map((Class): [string, ErrorMaker] => [new Class('').name, (message, options) => new Class(message, options)]),
    // These two build their message from parts; here the whole message is known, not its parts.
    ['ConfigError', (message) => Object.assign(new ConfigError('', message, ''), { message })],
    ['ValueRefusedError', (message, options) => Object.assign(new ValueRefusedError('', message, undefined, options), { message })],
  ]));
