import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { guardConnect } from '../../../../lambdas/engine/postgres/connection-guard';
import { ConnectionError } from '../../../../lambdas/engine/errors';

const client = {} as pg.Client;
const failure = (code: string) => new ConnectionError(`cannot connect to db: ${code}`, { cause: Object.assign(new Error(code), { code }) });

function scripted(outcomes: (string | 'ok')[]) {
  const calls: string[] = [];
  const sleeps: number[] = [];
  const connect = guardConnect(
    async (name) => {
      calls.push(name);
      const next = outcomes.shift() ?? 'ok';
      if (next === 'ok') return client;
      throw failure(next);
    },
    { sleep: async (ms) => void sleeps.push(ms), random: () => 0.5, baseDelayMs: 100, maxDelayMs: 1000, breakAfter: 2 },
  );
  return { connect, calls, sleeps };
}

describe('connecting to the source', () => {
  it('waits and tries again, with growing jittered backoff, while Postgres says "too many connections"', async () => {
    const { connect, calls, sleeps } = scripted(['53300', '53300', 'ok']);
    await expect(connect('shard 1')).resolves.toBe(client);
    expect(calls).toHaveLength(3);
    expect(sleeps).toEqual([50, 100]);
  });

  it('does not retry what waiting cannot fix, such as a wrong password', async () => {
    const { connect, calls } = scripted(['28P01']);
    await expect(connect('shard 1')).rejects.toThrow('28P01');
    expect(calls).toHaveLength(1);
  });

  it('gives up after four tries', async () => {
    const { connect, calls } = scripted(['57P03', '57P03', '57P03', '57P03', 'ok']);
    await expect(connect('shard 1')).rejects.toThrow('57P03');
    expect(calls).toHaveLength(4);
  });

  it('opens the breaker after failures in a row, and then fails without touching the database', async () => {
    const { connect, calls } = scripted(['28P01', '28P01', 'ok']);
    await expect(connect('a')).rejects.toThrow();
    await expect(connect('b')).rejects.toThrow();
    await expect(connect('c')).rejects.toThrow('not connecting again: 2 connections in a row failed (last: cannot connect to db: 28P01)');
    expect(calls).toEqual(['a', 'b']);
  });

  it('a success closes the count again', async () => {
    const { connect } = scripted(['28P01', 'ok', '28P01', 'ok']);
    await expect(connect('a')).rejects.toThrow();
    await expect(connect('b')).resolves.toBe(client);
    await expect(connect('c')).rejects.toThrow();
    await expect(connect('d')).resolves.toBe(client);
  });
});
