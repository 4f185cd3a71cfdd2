/**
 * What a failed shard tells its caller: one pgsip error, named for what happened, its message starting with
 * the table and shard. The class decides what the state machine does (docs/architecture.md, "Errors"): a
 * `ShardRetryableError` is tried again with backoff, anything else fails the run at once.
 *
 * Errors arrive from four places: pgsip itself (already classified; a refused value learns its table here),
 * Postgres (node-postgres's DatabaseError, whose `name` is the lower-case `error` and whose `code` is the
 * SQLSTATE), sockets (Node's `ECONNRESET` and friends, or node-postgres's "Connection terminated"), and the
 * destination (AWS SDK errors carry `$metadata`; file system errors carry `syscall` and `path`).
 */
import {
  DestinationError,
  InternalError,
  PgsipError,
  ShardRetryableError,
  SourceError,
  StatementTimeoutError,
  ValueRefusedError,
} from './errors';

export interface ShardFailureContext {
  /** The canonical quoted table name. */
  table: string;
  shard: number;
  statementTimeoutMs: number;
  lockTimeoutMs: number;
}

/**
 * SQLSTATEs where the same read may succeed later: connection exceptions (class 08), an operator or a
 * failover ending the session (57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now), too many
 * connections (53300), and the transaction rollbacks a retry resolves (40001 serialization, 40P01 deadlock).
 */
const RETRYABLE_SQLSTATE = /^(08|57P0[123]$|53300$|40001$|40P01$)/;

/** Socket-level failures, from Node or from node-postgres, that a fresh connection may not meet. */
const RETRYABLE_SOCKET_CODES = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH']);
const CONNECTION_LOST = /Connection terminated|connection ended|socket hang up/i;

interface ErrorFields {
  name?: string;
  code?: string;
  message?: string;
  syscall?: string;
  path?: string;
  $metadata?: { httpStatusCode?: number };
  $retryable?: unknown;
}

export function explainShardFailure(error: unknown, context: ShardFailureContext): PgsipError {
  const where = `table ${context.table} shard ${context.shard}`;
  if (error instanceof ValueRefusedError) return error.table ? error : error.inTable(context.table);
  // The destination names the file it could not write; the shard's message names the table and shard too.
  if (error instanceof DestinationError && !error.message.startsWith('table ')) return new DestinationError(`${where}: ${error.message}`, { cause: error });
  if (error instanceof PgsipError) return error;
  const e = (typeof error === 'object' && error !== null ? error : { message: String(error) }) as ErrorFields;
  const message = firstLine(e.message);
  const options = { cause: error };
  const code = e.code ?? '';

  if (code === '57014') {
    if (/statement timeout/i.test(message)) {
      return new StatementTimeoutError(
        `${where}: reading took longer than statement_timeout (${context.statementTimeoutMs} ms); use more shards or raise statementTimeoutMs`,
        options,
      );
    }
    return new SourceError(`${where}: the read was cancelled (${message})`, options);
  }
  if (code === '55P03') {
    return new ShardRetryableError(`${where}: no lock on the table within lock_timeout (${context.lockTimeoutMs} ms); is DDL running?`, options);
  }
  if (/^[0-9A-Z]{5}$/.test(code)) {
    return RETRYABLE_SQLSTATE.test(code)
      ? new ShardRetryableError(`${where}: ${message} (SQLSTATE ${code})`, options)
      : new SourceError(`${where}: ${message} (SQLSTATE ${code})`, options);
  }
  if (RETRYABLE_SOCKET_CODES.has(code)) {
    return new ShardRetryableError(`${where}: connection lost (${code}): ${message}`, options);
  }
  if (CONNECTION_LOST.test(message)) return new ShardRetryableError(`${where}: connection lost: ${message}`, options);

  if (e.$metadata) {
    const status = e.$metadata.httpStatusCode ?? 0;
    const text = `${where}: the destination answered ${e.name ?? 'an error'}${status ? ` (HTTP ${status})` : ''}: ${message}`;
    return status >= 500 || status === 429 || e.$retryable ? new ShardRetryableError(text, options) : new DestinationError(text, options);
  }
  if (e.syscall && code.startsWith('E')) {
    return new DestinationError(`${where}: cannot write ${e.path ?? 'to the destination'}: ${code}${code === 'ENOSPC' ? ' (no space left on the device)' : ''}`, options);
  }
  return new InternalError(`${where}: ${message}`, options);
}

function firstLine(message: string | undefined): string {
  return (message ?? 'unknown error').split('\n')[0];
}
