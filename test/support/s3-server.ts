/**
 * A real S3-compatible server (s3rver) on 127.0.0.1 for tests of `s3://` destinations: multipart uploads,
 * listings and deletes go over HTTP exactly as they would to AWS.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import S3rver from 's3rver';
import { freePort } from '../../bin/local/embedded-postgres';

export interface RunningS3 {
  endpoint: string;
  bucket: string;
  stop(): Promise<void>;
}

export async function startS3Server(bucket = 'pgsip-test'): Promise<RunningS3> {
  const directory = await mkdtemp(join(tmpdir(), 'pgsip-s3-'));
  const port = await freePort();
  const server = new S3rver({ address: '127.0.0.1', port, silent: true, directory, configureBuckets: [{ name: bucket }] });
  honourIfNoneMatch(server);
  await server.run();
  // The SDK signs requests; s3rver accepts any credentials, but the SDK needs some to sign with.
  process.env.AWS_ACCESS_KEY_ID ??= 'S3RVER';
  process.env.AWS_SECRET_ACCESS_KEY ??= 'S3RVER';
  return {
    endpoint: `http://127.0.0.1:${port}`,
    bucket,
    async stop() {
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}

/**
 * s3rver predates S3's conditional writes (2024) and ignores `If-None-Match: *`. AWS answers 412 when the key
 * exists; pgsip relies on that for create-only shard manifests, so the test server is taught the same rule,
 * ahead of its own routes.
 */
function honourIfNoneMatch(server: S3rver): void {
  server.middleware.unshift(async (ctx, next) => {
    const [bucket, ...key] = decodeURIComponent(ctx.path).replace(/^\//, '').split('/');
    if (ctx.method === 'PUT' && ctx.get('if-none-match') === '*' && key.length > 0 && !('partNumber' in ctx.query)) {
      if (await server.store.existsObject(bucket, key.join('/'))) {
        ctx.status = 412;
        ctx.type = 'application/xml';
        ctx.body =
          '<?xml version="1.0" encoding="UTF-8"?><Error><Code>PreconditionFailed</Code>' +
          '<Message>At least one of the pre-conditions you specified did not hold</Message></Error>';
        return;
      }
    }
    await next();
  });
}
