/**
 * The moto server the AWS-facing tests use: a missing `moto_server` fails in one line that says how to install
 * it (never a skip), a server binds 127.0.0.1 only, and reset empties it between tests.
 */
import { CreateDatabaseCommand, GetDatabasesCommand, GlueClient } from '@aws-sdk/client-glue';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MOTO_INSTALL_HINT, startMotoServer } from './moto-server';

afterEach(() => {
  vi.unstubAllEnvs();
});

describe('startMotoServer', () => {
  it("fails in one line naming pip install 'moto[server]' when moto_server is not on PATH", async () => {
    vi.stubEnv('PATH', '/nonexistent');
    const error = await startMotoServer().catch((e: unknown) => e as Error);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toBe(MOTO_INSTALL_HINT);
    expect(MOTO_INSTALL_HINT).toContain("pip install 'moto[server]'");
    expect(MOTO_INSTALL_HINT).not.toContain('\n');
  });

  it('answers on 127.0.0.1 with the dummy credentials, and reset empties every service', async () => {
    const aws = () => Object.entries(process.env).filter(([name]) => name.startsWith('AWS_'));
    const before = aws();
    const moto = await startMotoServer();
    try {
      expect(moto.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(aws()).toEqual(before); // the credentials go to the clients a test makes, not to the environment
      const glue = new GlueClient(moto.client);
      await glue.send(new CreateDatabaseCommand({ DatabaseInput: { Name: 'lake' } }));
      expect((await glue.send(new GetDatabasesCommand({}))).DatabaseList?.map((d) => d.Name)).toEqual(['lake']);
      await moto.reset();
      expect((await glue.send(new GetDatabasesCommand({}))).DatabaseList ?? []).toEqual([]);
      glue.destroy();
    } finally {
      await moto.stop();
    }
  });
});
