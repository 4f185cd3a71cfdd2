/**
 * Connections to the source database. Every connection pgsip opens is read-only in intent, names itself in
 * `application_name` so a DBA can see which run and shard it is, and fails fast with one line naming the host.
 */
import pg from 'pg';
import { ConnectionError } from '../errors';

export interface ConnectionTarget {
  host: string;
  port: number;
  database: string;
  user: string;
  password?: string;
  /** TLS: false (off), or options for `tls.connect` (on, verifying the certificate unless told otherwise). */
  ssl?: false | { rejectUnauthorized: boolean; ca?: string | string[]; servername?: string };
}

export interface ConnectOptions {
  applicationName: string;
  /** Give up connecting after this long. Default 10 s. */
  connectTimeoutMs?: number;
}

/** Where a URL points, for messages: `user@host:port/db`, never the password. */
export function describeTarget(target: ConnectionTarget): string {
  return `${target.user}@${target.host}:${target.port}/${target.database}`;
}

export function targetFromUrl(url: string): ConnectionTarget {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConnectionError('bad database URL: expected postgres://user:password@host:port/database');
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw new ConnectionError(`bad database URL: scheme must be postgres:// (got ${parsed.protocol}//)`);
  }
  const sslmode = parsed.searchParams.get('sslmode') ?? 'prefer';
  let ssl: ConnectionTarget['ssl'] = false;
  if (sslmode === 'require') ssl = { rejectUnauthorized: false };
  if (sslmode === 'verify-ca' || sslmode === 'verify-full') ssl = { rejectUnauthorized: true };
  return {
    host: decodeURIComponent(parsed.hostname) || '127.0.0.1',
    port: parsed.port ? Number(parsed.port) : 5432,
    database: decodeURIComponent(parsed.pathname.replace(/^\//, '')) || 'postgres',
    user: decodeURIComponent(parsed.username) || 'postgres',
    password: parsed.password ? decodeURIComponent(parsed.password) : undefined,
    ssl,
  };
}

// Catalog answers stay text: pgsip never lets node-postgres's parsers near a value (docs/architecture.md, "Traps").
const rawTypes = { getTypeParser: () => (value: string) => value } as unknown as pg.CustomTypesConfig;

export async function connect(target: ConnectionTarget, options: ConnectOptions): Promise<pg.Client> {
  const timeout = options.connectTimeoutMs ?? 10_000;
  const client = new pg.Client({
    host: target.host,
    port: target.port,
    database: target.database,
    user: target.user,
    password: target.password,
    ssl: target.ssl === false ? false : target.ssl,
    application_name: options.applicationName.slice(0, 63),
    connectionTimeoutMillis: timeout,
    // TCP keepalive: a connection dropped silently (a NAT gateway's idle timeout) is noticed by both ends.
    keepAlive: true,
    types: rawTypes,
  });
  // An idle client that loses its socket emits 'error'; without a listener that would crash the process.
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => {});
    throw new ConnectionError(
      `cannot connect to ${describeTarget(target)}: ${explainConnectError(error, timeout)}`,
      { cause: error },
    );
  }
  return client;
}

function explainConnectError(error: unknown, timeoutMs: number): string {
  const e = error as { code?: string; message?: string };
  switch (e.code) {
    case 'ECONNREFUSED':
      return 'connection refused (is Postgres running and listening there?)';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'host not found';
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'host unreachable';
  }
  const message = (e.message ?? String(error)).split('\n')[0];
  if (/timeout/i.test(message)) return `no answer within ${Math.round(timeoutMs / 1000)} s`;
  return message;
}

/**
 * Ends a connection at once, without a polite Terminate: the socket is destroyed, so Postgres ends the
 * backend as soon as it next reads or writes (at once for one waiting on its client). After a failed COPY a
 * COMMIT or ROLLBACK can hang (pg-copy-streams #113), and a run that is stopping waits for nothing.
 */
export function dropConnection(client: pg.Client): void {
  const connection = (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection;
  connection?.stream?.destroy();
  client.end().catch(() => {});
}
