/**
 * Protects the source from pgsip itself. Connecting is retried with exponential backoff and full jitter, but
 * only when Postgres says "not now" (too many connections, starting up, shutting down) or the socket was
 * reset; a wrong password or a refused port fails at once. After several connections in a row have failed,
 * the breaker opens: every later attempt in this process fails immediately instead of hammering a database
 * that is already in trouble, and the run stops with the reason.
 */
import type pg from 'pg';
import { ConnectionError } from '../errors';

export interface GuardOptions {
  /** Tries per connection. Default 4. */
  attempts?: number;
  /** First backoff; doubles each try, capped by `maxDelayMs`. Default 250 ms. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Failed connections in a row (after their retries) that open the breaker. Default 3. */
  breakAfter?: number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

/** SQLSTATEs and socket errors where waiting and trying again can help. */
const TRANSIENT = new Set(['53300', '57P01', '57P02', '57P03', '08006', 'ECONNRESET']);

export function isTransient(error: unknown): boolean {
  const cause = (error as { cause?: { code?: string } })?.cause;
  return TRANSIENT.has(cause?.code ?? (error as { code?: string })?.code ?? '');
}

export type Connect = (applicationName: string) => Promise<pg.Client>;

export function guardConnect(connect: Connect, options: GuardOptions = {}): Connect {
  const attempts = options.attempts ?? 4;
  const base = options.baseDelayMs ?? 250;
  const max = options.maxDelayMs ?? 5000;
  const breakAfter = options.breakAfter ?? 3;
  const sleep = options.sleep ?? ((ms: number) => new Promise((ok) => setTimeout(ok, ms)));
  const random = options.random ?? Math.random;
  let failuresInARow = 0;
  let lastFailure = '';

  return async (applicationName) => {
    if (failuresInARow >= breakAfter) {
      throw new ConnectionError(`not connecting again: ${failuresInARow} connections in a row failed (last: ${lastFailure})`);
    }
    for (let attempt = 1; ; attempt++) {
      try {
        const client = await connect(applicationName);
        failuresInARow = 0;
        return client;
      } catch (error) {
        if (attempt < attempts && isTransient(error)) {
          await sleep(Math.floor(random() * Math.min(max, base * 2 ** (attempt - 1))));
          continue;
        }
        failuresInARow++;
        lastFailure = (error as Error).message;
        throw error;
      }
    }
  };
}
