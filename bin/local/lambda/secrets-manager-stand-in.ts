/**
 * A stand-in for Secrets Manager's GetSecretValue on 127.0.0.1, for running the deployed bundles here: the AWS
 * SDK in the bundle sends its real request (JSON protocol, `X-Amz-Target: secretsmanager.GetSecretValue`) to
 * `AWS_ENDPOINT_URL_SECRETS_MANAGER`, and gets the secret this server holds. Anything else is answered with
 * the error Secrets Manager would give, so an unexpected call fails loudly. Requests are counted.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SecretsStandIn {
  endpoint: string;
  /** GetSecretValue calls answered, per secret id. */
  calls: Map<string, number>;
  stop(): Promise<void>;
}

export async function startSecretsStandIn(secrets: Record<string, string>): Promise<SecretsStandIn> {
  const calls = new Map<string, number>();
  const server: Server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    request.on('end', () => {
      const answer = (status: number, json: object) => {
        response.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' });
        response.end(JSON.stringify(json));
      };
      if (request.headers['x-amz-target'] !== 'secretsmanager.GetSecretValue') {
        answer(400, { __type: 'InvalidRequestException', message: `unexpected ${String(request.headers['x-amz-target'])}` });
        return;
      }
      const { SecretId } = JSON.parse(body || '{}') as { SecretId?: string };
      const value = SecretId === undefined ? undefined : secrets[SecretId];
      if (value === undefined) {
        answer(400, { __type: 'ResourceNotFoundException', message: "Secrets Manager can't find the specified secret." });
        return;
      }
      calls.set(SecretId!, (calls.get(SecretId!) ?? 0) + 1);
      answer(200, { ARN: SecretId, Name: SecretId!.split(':').pop(), SecretString: value, VersionId: 'v1', VersionStages: ['AWSCURRENT'], CreatedDate: 0 });
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    calls,
    stop: () => new Promise<void>((ok) => server.close(() => ok())),
  };
}
