/**
 * Errors pgsip raises on purpose. Each message is one line that names the culprit (table, column, host).
 * Each `name` is what Step Functions matches in Retry/Catch and what the CLI reports, so it is a literal:
 * minified bundles rename classes, and the contract must not move with them.
 */
export class PgsipError extends Error {
  override name = 'PgsipError';
}

/** The user asked for something that cannot work as given (bad name, missing table, bad option). */
export class InputError extends PgsipError {
  override name = 'InputError';
}

/** Postgres could not be reached or refused us (host, port, password, TLS, permission). */
export class ConnectionError extends PgsipError {
  override name = 'ConnectionError';
}

/** Something that may succeed when tried again (a dropped connection mid-stream, a throttled write). */
export class ShardRetryableError extends PgsipError {
  override name = 'ShardRetryableError';
}

/** The run's files do not add up; nothing is committed. */
export class CommitError extends PgsipError {
  override name = 'CommitError';
}

/** The table changed shape between Plan and Export; mixing the two would silently change data. */
export class SchemaChangedError extends PgsipError {
  override name = 'SchemaChangedError';
}
