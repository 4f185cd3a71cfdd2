/**
 * moto (a community AWS emulator, `pip install 'moto[server]'`, 5.2) as a server on a free 127.0.0.1 port, one
 * per test file: S3, Glue, Secrets Manager, KMS and more answer the SDK's real requests. Tests check our code
 * against an AWS model we did not write; where moto lacks a behaviour, the test says so where it stands in.
 *
 * Credentials are dummies, handed only to the clients and processes a test creates (`credentials`, `env`):
 * nothing here writes to `process.env`. moto checks no signature. `reset()` empties every service
 * (`POST /moto-api/reset`). With `record`, moto's recorder keeps each request it answers (moto's own
 * `MOTO_ENABLE_RECORDING`): a test counts calls with `recorded()`, including those of processes it started.
 * The recorder appends from concurrent request threads without a lock, so requests with large bodies (S3
 * parts) can interleave in its file: record small JSON calls (Secrets Manager, Glue), not S3 uploads.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../bin/local/embedded-postgres';

export const MOTO_INSTALL_HINT = "moto_server is not installed: the tests need moto 5.2's server on PATH (pip install 'moto[server]')";

/** Dummy credentials the SDK signs with; moto accepts any. */
export const MOTO_CREDENTIALS = { accessKeyId: 'testing', secretAccessKey: 'testing' } as const;

export interface RecordedRequest {
  method: string;
  url: string;
  /** `X-Amz-Target` of JSON-protocol calls (`AWSGlue.GetTable`, `secretsmanager.GetSecretValue`), else ''. */
  target: string;
  /** Header names in lower case. */
  headers: Record<string, string>;
  body: string;
}

export interface RunningMoto {
  /** `http://127.0.0.1:PORT`, for `endpoint` or `AWS_ENDPOINT_URL_<SERVICE>`. */
  endpoint: string;
  region: string;
  credentials: typeof MOTO_CREDENTIALS;
  /** SDK client settings: endpoint, region, dummy credentials (S3 clients add `forcePathStyle`). */
  client: { endpoint: string; region: string; credentials: typeof MOTO_CREDENTIALS };
  /** For a process the test starts: region and dummy credentials (endpoints are the caller's to name). */
  env: Record<string, string>;
  /** Empties every service's state. */
  reset(): Promise<void>;
  /** The requests moto answered since it started (`record` only), in order. */
  recorded(): Promise<RecordedRequest[]>;
  /**
   * A JSON-protocol call without an SDK client (KMS: `@aws-sdk/client-kms` is not a dependency). moto routes by
   * the SigV4 credential scope and checks no signature, so the request carries the scope and nothing else.
   */
  call<T>(service: string, target: string, input: object): Promise<T>;
  stop(): Promise<void>;
}

export interface MotoOptions {
  region?: string;
  record?: boolean;
}

export async function startMotoServer(options: MotoOptions = {}): Promise<RunningMoto> {
  const region = options.region ?? 'eu-west-1';
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const work = await mkdtemp(join(tmpdir(), 'pgsip-moto-'));
  const child = spawn('moto_server', ['-H', '127.0.0.1', '-p', String(port)], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: {
      // The caller's environment for Python to start in, less any AWS settings (moto needs none).
      ...Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('AWS_'))),
      ...(options.record ? { MOTO_ENABLE_RECORDING: 'True', MOTO_RECORDER_FILEPATH: join(work, 'recording.jsonl') } : {}),
    },
  });
  // A test process that ends without stop() (a crash, a timeout) takes its server with it.
  const orphan = () => child.kill('SIGKILL');
  process.once('exit', orphan);
  // moto logs a line per request on stderr: keep only the last few, for a start that fails.
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString('utf8')).slice(-4000)));
  try {
    await ready(child, endpoint, () => stderr);
  } catch (error) {
    process.off('exit', orphan);
    await kill(child);
    await rm(work, { recursive: true, force: true });
    throw error;
  }

  const post = async (path: string, init: RequestInit = {}) => {
    const response = await fetch(`${endpoint}${path}`, { method: 'POST', ...init });
    const text = await response.text();
    if (!response.ok) throw new Error(`moto ${path}: ${response.status} ${text}`);
    return text;
  };
  const scope = (service: string) => `${MOTO_CREDENTIALS.accessKeyId}/${new Date().toISOString().slice(0, 10).replace(/-/g, '')}/${region}/${service}/aws4_request`;

  return {
    endpoint,
    region,
    credentials: MOTO_CREDENTIALS,
    client: { endpoint, region, credentials: MOTO_CREDENTIALS },
    env: { AWS_REGION: region, AWS_ACCESS_KEY_ID: MOTO_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: MOTO_CREDENTIALS.secretAccessKey },
    reset: async () => void (await post('/moto-api/reset')),
    async recorded() {
      if (!options.record) throw new Error('startMotoServer({ record: true }) records requests; this server does not');
      const response = await fetch(`${endpoint}/moto-api/recorder/download-recording`);
      const text = await response.text();
      return text
        .split('\n')
        .filter((line) => line.trim() !== '')
        .map((line) => {
          const entry = JSON.parse(line) as { method: string; url: string; headers: Record<string, string>; body: string | null; body_encoded: boolean };
          const headers = Object.fromEntries(Object.entries(entry.headers).map(([name, value]) => [name.toLowerCase(), value]));
          const body = entry.body == null ? '' : entry.body_encoded ? Buffer.from(entry.body, 'base64').toString('utf8') : entry.body;
          return { method: entry.method, url: entry.url, target: headers['x-amz-target'] ?? '', headers, body };
        });
    },
    async call<T>(service: string, target: string, input: object): Promise<T> {
      const text = await post('/', {
        headers: {
          'content-type': 'application/x-amz-json-1.1',
          'x-amz-target': target,
          authorization: `AWS4-HMAC-SHA256 Credential=${scope(service)}, SignedHeaders=host, Signature=unsigned`,
        },
        body: JSON.stringify(input),
      });
      return JSON.parse(text) as T;
    },
    async stop() {
      process.off('exit', orphan);
      await kill(child);
      await rm(work, { recursive: true, force: true });
    },
  };
}

/** Resolves once moto answers HTTP; rejects in one line if it is not installed or exits first. */
function ready(child: ChildProcess, endpoint: string, stderr: () => string): Promise<void> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (error: Error) => {
      if (settled) return;
      settled = true;
      reject(error);
    };
    child.once('error', (error: NodeJS.ErrnoException) => fail(error.code === 'ENOENT' ? new Error(MOTO_INSTALL_HINT) : error));
    child.once('exit', (code, signal) => fail(new Error(`moto_server exited (${code ?? signal}) before answering on ${endpoint}: ${stderr().trim().split('\n').slice(-3).join(' | ')}`)));
    const deadline = Date.now() + 30_000;
    const poll = async () => {
      while (!settled) {
        try {
          const response = await fetch(`${endpoint}/moto-api/data.json`, { signal: AbortSignal.timeout(2_000) });
          await response.arrayBuffer();
          if (response.ok) {
            settled = true;
            resolve();
            return;
          }
        } catch {
          // not listening yet
        }
        if (Date.now() > deadline) return fail(new Error(`moto_server did not answer on ${endpoint} within 30 s`));
        await new Promise((ok) => setTimeout(ok, 50));
      }
    };
    void poll();
  });
}

async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((ok) => child.once('exit', () => ok()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
  await exited;
  clearTimeout(timer);
}
