import { X509Certificate } from 'node:crypto';
import { rootCertificates } from 'node:tls';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import type pg from 'pg';
import { beforeEach, describe, expect, it } from 'vitest';
import type { ConnectionTarget } from '../../../lambdas/engine/postgres/connection';
import { ConnectionError } from '../../../lambdas/engine/errors';
import { createLambdaEnvironment, isAuthenticationFailure } from '../../../lambdas/shared/lambda-environment';

const ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:pgsip/source-AbCdEf';
const secret = (password: string, extra: Record<string, unknown> = {}) => ({
  SecretString: JSON.stringify({ engine: 'postgres', host: 'db.example.internal', port: 5433, dbname: 'prod', username: 'app', password, ...extra }),
});
const authFailure = () =>
  new ConnectionError('cannot connect to app@db.example.internal:5433/prod: password authentication failed for user "app"', {
    cause: Object.assign(new Error('password authentication failed'), { code: '28P01' }),
  });

const sm = mockClient(SecretsManagerClient);
const client = {} as pg.Client;

function setup(env: Record<string, string>, connect: (t: ConnectionTarget) => Promise<pg.Client>, files: Record<string, string> = {}) {
  const warnings: string[] = [];
  const targets: ConnectionTarget[] = [];
  const environment = createLambdaEnvironment({
    env: { PGSIP_DEST: 's3://bucket/exports', ...env },
    secrets: new SecretsManagerClient({ region: 'eu-west-1' }),
    connect: async (t) => (targets.push(t), connect(t)),
    readFile: (path) => {
      if (!(path in files)) throw new Error(`ENOENT: ${path}`);
      return files[path];
    },
    logger: { info() {}, error() {}, warn: (m: string) => void warnings.push(m) } as never,
  });
  return { environment, warnings, targets };
}

describe('lambda environment: database credentials from Secrets Manager', () => {
  beforeEach(() => sm.reset());

  it('reads the secret (RDS JSON shape) once per container, with verified TLS by default', async () => {
    sm.on(GetSecretValueCommand, { SecretId: ARN }).resolves(secret('s3cret'));
    const { environment, targets } = setup({ PGSIP_DB_SECRET_ARN: ARN }, async () => client);
    expect(await environment.connect('pgsip plan r1')).toBe(client);
    expect(await environment.connect('pgsip export r1 #0')).toBe(client);
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(1);
    expect(targets[0]).toMatchObject({
      host: 'db.example.internal',
      port: 5433,
      database: 'prod',
      user: 'app',
      password: 's3cret',
      ssl: { rejectUnauthorized: true },
    });
    // Without a CA file, verification trusts Node's public roots plus the Amazon RDS root CAs.
    const ca = (targets[0].ssl as { ca: string[] }).ca;
    expect(ca).toEqual(expect.arrayContaining([...rootCertificates]));
    const subjects = ca.slice(rootCertificates.length).map((pem) => new X509Certificate(pem).subject);
    expect(subjects.some((s) => s.includes('CN=Amazon RDS us-east-1 Root CA RSA2048 G1'))).toBe(true);
  });

  it('re-reads the secret once after an authentication failure (rotation) and connects with the new password', async () => {
    sm.on(GetSecretValueCommand).resolvesOnce(secret('old')).resolves(secret('new'));
    const { environment, warnings, targets } = setup({ PGSIP_DB_SECRET_ARN: ARN }, async (t) => {
      if (t.password === 'old') throw authFailure();
      return client;
    });
    expect(await environment.connect('pgsip export r1 #0')).toBe(client);
    expect(targets.map((t) => t.password)).toEqual(['old', 'new']);
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(2);
    expect(warnings).toEqual(['authentication failed; re-reading the database secret']);
    // The new password is cached: the next connection does not read the secret again.
    await environment.connect('pgsip export r1 #1');
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(2);
  });

  it('gives up after one re-read when the new password fails too, with the error naming the host', async () => {
    sm.on(GetSecretValueCommand).resolves(secret('wrong'));
    const { environment } = setup({ PGSIP_DB_SECRET_ARN: ARN }, async () => {
      throw authFailure();
    });
    const error = await environment.connect('x').catch((e: Error) => e);
    expect((error as Error).message).toMatch(/cannot connect to app@db\.example\.internal:5433\/prod/);
    expect((error as Error).message).not.toContain('wrong'); // never the password
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(2);
  });

  it('does not re-read the secret for other connection errors', async () => {
    sm.on(GetSecretValueCommand).resolves(secret('pw'));
    const { environment } = setup({ PGSIP_DB_SECRET_ARN: ARN }, async () => {
      throw new ConnectionError('cannot connect to app@db:5432/prod: timed out', { cause: Object.assign(new Error('x'), { code: 'ETIMEDOUT' }) });
    });
    await expect(environment.connect('x')).rejects.toThrow(/timed out/);
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(1);
  });

  it('refuses a secret without host, username or password, or not JSON, naming the secret', async () => {
    sm.on(GetSecretValueCommand).resolvesOnce(secret('', {})).resolvesOnce({ SecretString: 'host=db' });
    const { environment } = setup({ PGSIP_DB_SECRET_ARN: ARN }, async () => client);
    await expect(environment.connect('x')).rejects.toThrow(`database secret ${ARN} has no "password"`);
    await expect(environment.connect('x')).rejects.toThrow(/is not JSON in RDS's shape/);
  });

  it("connects with an RDS-managed master-user secret (username and password only), the endpoint from the deployment's database.host, port and dbname", async () => {
    // The shape RDS writes for `ManageMasterUserPassword`: nothing but the credentials.
    sm.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify({ username: 'postgres', password: 'pw' }) });
    const { environment, targets } = setup({ PGSIP_DB_SECRET_ARN: ARN, PGSIP_DB_HOST: 'prod.cluster-abc.eu-west-1.rds.amazonaws.com', PGSIP_DB_PORT: '5433', PGSIP_DB_NAME: 'shop' }, async () => client);
    await environment.connect('x');
    expect(targets[0]).toMatchObject({ host: 'prod.cluster-abc.eu-west-1.rds.amazonaws.com', port: 5433, database: 'shop', user: 'postgres', password: 'pw' });
  });

  it('completes a secret that has the host with the deployment\'s dbname, and refuses a field the two set differently, naming both', async () => {
    sm.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify({ host: 'db.example.internal', username: 'app', password: 'pw' }) });
    const completed = setup({ PGSIP_DB_SECRET_ARN: ARN, PGSIP_DB_NAME: 'shop', PGSIP_DB_HOST: 'db.example.internal' }, async () => client);
    await completed.environment.connect('x');
    expect(completed.targets[0]).toMatchObject({ host: 'db.example.internal', port: 5432, database: 'shop' });
    const conflicting = setup({ PGSIP_DB_SECRET_ARN: ARN, PGSIP_DB_HOST: 'other.example.internal' }, async () => client);
    await expect(conflicting.environment.connect('x')).rejects.toThrow(
      `database secret ${ARN} has "host" "db.example.internal" but the deployment sets database.host "other.example.internal"; remove one of them`,
    );
  });

  it('names both places a host may come from when neither has one', async () => {
    sm.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify({ username: 'postgres', password: 'pw' }) });
    const { environment } = setup({ PGSIP_DB_SECRET_ARN: ARN }, async () => client);
    const error = await environment.connect('x').catch((e: Error) => e);
    expect((error as Error).message).toMatch(new RegExp(`^database secret ${ARN.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} has no "host", and the deployment sets no database\\.host \\(an RDS-managed master-user secret`));
    expect((error as Error).message).not.toContain('pw');
  });

  it('verifies the server against the bundled CA file (PGSIP_DB_CA_FILE), read once', async () => {
    sm.on(GetSecretValueCommand).resolves(secret('pw'));
    const pem = '-----BEGIN CERTIFICATE-----\nMII...\n-----END CERTIFICATE-----\n';
    const { environment, targets } = setup({ PGSIP_DB_SECRET_ARN: ARN, PGSIP_DB_CA_FILE: '/var/task/db-ca.pem' }, async () => client, {
      '/var/task/db-ca.pem': pem,
    });
    await environment.connect('x');
    expect(targets[0].ssl).toEqual({ rejectUnauthorized: true, ca: pem });
  });

  it('names a missing CA file', async () => {
    sm.on(GetSecretValueCommand).resolves(secret('pw'));
    const { environment } = setup({ PGSIP_DB_SECRET_ARN: ARN, PGSIP_DB_CA_FILE: '/var/task/missing.pem' }, async () => client);
    await expect(environment.connect('x')).rejects.toThrow(/cannot read the database CA bundle \/var\/task\/missing\.pem/);
  });

  it('honours PGSIP_DB_TLS=require (no verification) and off, and refuses anything else', async () => {
    sm.on(GetSecretValueCommand).resolves(secret('pw'));
    const require = setup({ PGSIP_DB_SECRET_ARN: ARN, PGSIP_DB_TLS: 'require' }, async () => client);
    await require.environment.connect('x');
    expect(require.targets[0].ssl).toEqual({ rejectUnauthorized: false });
    const off = setup({ PGSIP_DB_SECRET_ARN: ARN, PGSIP_DB_TLS: 'off' }, async () => client);
    await off.environment.connect('x');
    expect(off.targets[0].ssl).toBe(false);
    const bad = setup({ PGSIP_DB_SECRET_ARN: ARN, PGSIP_DB_TLS: 'prefer' }, async () => client);
    await expect(bad.environment.connect('x')).rejects.toThrow(/PGSIP_DB_TLS must be verify-full, require or off/);
  });

  it('uses DATABASE_URL when no secret is configured (development), never reading Secrets Manager', async () => {
    const { environment, targets } = setup({ DATABASE_URL: 'postgres://u:p@localhost:5432/d' }, async () => client);
    await environment.connect('x');
    expect(targets[0]).toMatchObject({ host: 'localhost', user: 'u', password: 'p', ssl: false });
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(0);
  });

  it('needs PGSIP_DEST', () => {
    expect(() => createLambdaEnvironment({ env: {} })).toThrow('environment variable PGSIP_DEST is not set');
  });

  it('recognizes an authentication failure only by SQLSTATE 28P01 under a ConnectionError', () => {
    expect(isAuthenticationFailure(authFailure())).toBe(true);
    expect(isAuthenticationFailure(new ConnectionError('x'))).toBe(false);
    expect(isAuthenticationFailure(Object.assign(new Error('x'), { cause: { code: '28P01' } }))).toBe(false);
  });
});

describe('lambda environment: the hash key from the database secret', () => {
  beforeEach(() => sm.reset());
  const KEY = 'secret-hash-key-0123456789abcdef';

  it('is the secret’s "hashKey" field as its UTF-8 bytes, read afresh each time, so a warm container never keeps a changed key', async () => {
    sm.on(GetSecretValueCommand, { SecretId: ARN }).resolvesOnce(secret('pw', { hashKey: KEY })).resolves(secret('pw', { hashKey: `${KEY}-rotated` }));
    const { environment } = setup({ PGSIP_DB_SECRET_ARN: ARN }, async () => client);
    await environment.connect('pgsip export r1 #0');
    expect(Buffer.from(await environment.hashKey!()).toString('utf8')).toBe(`${KEY}-rotated`);
    expect(Buffer.from(await environment.hashKey!()).toString('utf8')).toBe(`${KEY}-rotated`);
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(3);
  });

  it('is read on its own when asked for first, and refused when missing or short, naming the secret but never a value', async () => {
    sm.on(GetSecretValueCommand).resolvesOnce(secret('pw', { hashKey: KEY })).resolvesOnce(secret('pw')).resolves(secret('pw', { hashKey: 'short-one' }));
    expect(Buffer.from(await setup({ PGSIP_DB_SECRET_ARN: ARN }, async () => client).environment.hashKey!()).toString()).toBe(KEY);
    await expect(setup({ PGSIP_DB_SECRET_ARN: ARN }, async () => client).environment.hashKey!()).rejects.toThrow(
      `the database secret ${ARN} has no "hashKey" field (a string of at least 16 bytes)`,
    );
    const short = await setup({ PGSIP_DB_SECRET_ARN: ARN }, async () => client).environment.hashKey!().catch((e: Error) => e);
    expect((short as Error).message).toBe(`the hash key from the "hashKey" field of the database secret ${ARN} is 9 bytes; hashing needs at least 16`);
    expect((short as Error).message).not.toContain('short-one');
  });

  it('comes from PGSIP_HASH_KEY without a secret (development), never reading Secrets Manager', async () => {
    const { environment } = setup({ DATABASE_URL: 'postgres://u:p@localhost:5432/d', PGSIP_HASH_KEY: KEY }, async () => client);
    expect(Buffer.from(await environment.hashKey!()).toString()).toBe(KEY);
    const none = setup({ DATABASE_URL: 'postgres://u:p@localhost:5432/d' }, async () => client);
    await expect(none.environment.hashKey!()).rejects.toThrow('no hash key: PGSIP_HASH_KEY is not set (and there is no database secret)');
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(0);
  });
});
