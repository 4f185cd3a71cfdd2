/**
 * The test S3 server keeps S3's rules where s3rver alone would not (test/support/s3-server.ts): an object is
 * replaced atomically, so a GET during a PUT of the same key reads the old object or the new one, whole.
 */
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningS3, startS3Server } from './s3-server';

let s3: RunningS3;
let client: S3Client;

beforeAll(async () => {
  s3 = await startS3Server('atomic-test');
  client = new S3Client({ endpoint: s3.endpoint, forcePathStyle: true, region: 'us-east-1', credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
});

afterAll(async () => {
  client?.destroy();
  await s3?.stop();
});

describe('the test S3 server', () => {
  it('replaces an object atomically: reads during rewrites see one whole version, never a truncated one', async () => {
    const versions = [Buffer.alloc(1 << 20, 'a'), Buffer.alloc(4 << 20, 'b')];
    await client.send(new PutObjectCommand({ Bucket: 'atomic-test', Key: 'current.json', Body: versions[0] }));
    let writing = true;
    const writer = (async () => {
      for (let i = 1; i <= 6; i++) await client.send(new PutObjectCommand({ Bucket: 'atomic-test', Key: 'current.json', Body: versions[i % 2] }));
      writing = false;
    })();
    const seen = new Set<string>();
    while (writing) {
      const body = Buffer.from(await (await client.send(new GetObjectCommand({ Bucket: 'atomic-test', Key: 'current.json' }))).Body!.transformToByteArray());
      const whole = versions.findIndex((v) => v.equals(body));
      expect(whole, `a read of ${body.length} bytes`).toBeGreaterThanOrEqual(0);
      seen.add(String(whole));
    }
    await writer;
    expect(seen.size).toBeGreaterThanOrEqual(1);
  });
});
