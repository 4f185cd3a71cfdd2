/**
 * The shipped S3 destination, opened as the engine opens it (`openDestination` with an endpoint and a KMS key),
 * against moto, an S3 model nobody here wrote: create-only writes (`If-None-Match: *`) that refuse a second
 * writer, multipart uploads with the checksums the SDK sends, SSE-KMS with a key moto's KMS made, absent
 * objects, deletes. destinations.test.ts runs the same destination against s3rver (taught `If-None-Match` by
 * hand, with faults); this file needs no teaching.
 *
 * moto takes what it is given without checking what AWS checks: it verifies no `x-amz-checksum-*` value and no
 * KMS key id. So the test looks at what the SDK put on the wire (a middleware on every S3 client the code
 * makes, after the SDK's own checksum step) and checks the checksums itself.
 */
import { CreateBucketCommand, HeadObjectCommand, ListMultipartUploadsCommand, ListPartsCommand, S3Client } from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Destination } from '../../../../lambdas/engine/destinations/destination';
import { openDestination } from '../../../../lambdas/engine/destinations/open-destination';
import { type RunningMoto, startMotoServer } from '../../../support/moto-server';

const BUCKET = 'pgsip-moto';
const PREFIX = 'exports';
const MiB = 1024 * 1024;

let moto: RunningMoto;
let s3: S3Client;
let keyArn: string;

/** One request as the SDK sent it: after signing and checksums, before the wire. */
interface Sent {
  method: string;
  /** The object key, decoded, with the bucket. */
  path: string;
  query: Record<string, string | string[] | null>;
  /** Lower-case names. */
  headers: Record<string, string>;
  body: unknown;
}
const sent: Sent[] = [];
const send = S3Client.prototype.send;
const watched = new WeakSet<S3Client>();

beforeAll(async () => {
  // Every S3 client (the destination's own included) reports each request it sends.
  vi.spyOn(S3Client.prototype, 'send').mockImplementation(function (this: S3Client, ...args: Parameters<S3Client['send']>) {
    if (!watched.has(this)) {
      watched.add(this);
      this.middlewareStack.add(
        (next) => async (input) => {
          const request = input.request as { method: string; path: string; query?: Sent['query']; headers: Record<string, string>; body?: unknown };
          const headers = Object.fromEntries(Object.entries(request.headers).map(([name, value]) => [name.toLowerCase(), value]));
          sent.push({ method: request.method, path: decodeURIComponent(request.path), query: request.query ?? {}, headers, body: request.body });
          return next(input);
        },
        { step: 'finalizeRequest', priority: 'low', name: 'pgsipWireWatch' },
      );
    }
    return (send as (...a: unknown[]) => ReturnType<S3Client['send']>).apply(this, args);
  });
  moto = await startMotoServer();
  // openDestination builds its own client from the environment, as in the Lambda functions: this file's
  // environment gets moto's region and dummy credentials, and gives them back in afterAll.
  for (const [name, value] of Object.entries(moto.env)) vi.stubEnv(name, value);
  s3 = new S3Client({ ...moto.client, forcePathStyle: true });
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET, CreateBucketConfiguration: { LocationConstraint: 'eu-west-1' } }));
  const key = await moto.call<{ KeyMetadata: { Arn: string } }>('kms', 'TrentService.CreateKey', { Description: 'pgsip lake', KeyUsage: 'ENCRYPT_DECRYPT' });
  keyArn = key.KeyMetadata.Arn;
});
afterAll(async () => {
  s3?.destroy();
  vi.unstubAllEnvs();
  vi.restoreAllMocks();
  await moto?.stop();
});

const open = (kmsKeyId?: string): Destination => openDestination(`s3://${BUCKET}/${PREFIX}`, { s3Endpoint: moto.endpoint, kmsKeyId });
const head = (key: string) => s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: `${PREFIX}/${key}` }));

/** The requests sent for one object key since `since` (an index into `sent`). */
const requestsFor = (key: string, since: number) => sent.slice(since).filter((r) => r.path === `/${BUCKET}/${PREFIX}/${key}`);
const operation = (r: Sent) => {
  if (r.method === 'POST' && 'uploads' in r.query) return 'CreateMultipartUpload';
  if (r.method === 'PUT' && 'partNumber' in r.query) return `UploadPart ${String(r.query.partNumber)}`;
  if (r.method === 'POST' && 'uploadId' in r.query) return 'CompleteMultipartUpload';
  if (r.method === 'DELETE' && 'uploadId' in r.query) return 'AbortMultipartUpload';
  return `${r.method}Object`;
};
/** S3's `x-amz-checksum-crc32`: the big-endian CRC-32, base64. */
const crc32Of = (bytes: Uint8Array) => {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(crc32(bytes));
  return out.toString('base64');
};

describe('the S3 destination against moto', () => {
  it('writes a create-only object once: the second writer is told it exists and the first one stays', async () => {
    const destination = open();
    expect(await destination.putIfAbsent('_runs/r1/orders/shard-0.json', '{"attempt":"a"}')).toBe(true);
    expect(await destination.putIfAbsent('_runs/r1/orders/shard-0.json', '{"attempt":"b"}')).toBe(false);
    expect((await destination.get('_runs/r1/orders/shard-0.json'))?.toString()).toBe('{"attempt":"a"}');
    // Racing writers: exactly one is told it created the object, and its bytes are what is there.
    const racing = await Promise.all(Array.from({ length: 8 }, (_, i) => destination.putIfAbsent('_runs/r1/orders/shard-1.json', `writer ${i}`)));
    expect(racing.filter(Boolean)).toHaveLength(1);
    expect((await destination.get('_runs/r1/orders/shard-1.json'))?.toString()).toBe(`writer ${racing.indexOf(true)}`);
    // A plain put replaces (the run manifest's and _latest.json's rule), create-only does not.
    await destination.put('_runs/r1/orders/shard-0.json', 'replaced');
    expect((await destination.get('_runs/r1/orders/shard-0.json'))?.toString()).toBe('replaced');
  });

  it('streams a part file larger than one part as a multipart upload: each part with its CRC32, assembled in order, invisible until complete', async () => {
    const destination = open();
    const key = 'orders/run=r1/part-00000.parquet';
    // Two whole 8 MiB parts and a short third, written in 1 MiB chunks as the Parquet writer hands them over.
    const data = randomBytes(16 * MiB + 54_321);
    const since = sent.length;
    const writer = destination.createObject(key);
    for (let at = 0; at < data.length; at += MiB) await writer.write(data.subarray(at, at + MiB));
    expect(await destination.size(key)).toBeNull();
    expect(await writer.close()).toBe(data.length);
    expect((await destination.get(key))?.equals(data)).toBe(true);
    expect((await head(key)).ETag).toMatch(/^"[0-9a-f]{32}-3"$/);

    const requests = requestsFor(key, since);
    const uploads = requests.filter((r) => operation(r).startsWith('UploadPart'));
    expect(requests.map(operation).filter((o) => /Multipart/.test(o))).toEqual(['CreateMultipartUpload', 'CompleteMultipartUpload']);
    expect(uploads.map(operation).sort()).toEqual(['UploadPart 1', 'UploadPart 2', 'UploadPart 3']);
    // What the code sends: no checksum algorithm at CreateMultipartUpload, the SDK's default CRC32 on each part
    // (moto stores it unchecked, so the test checks it), and a Complete that lists parts by ETag only.
    expect(requests.find((r) => operation(r) === 'CreateMultipartUpload')!.headers['x-amz-checksum-algorithm']).toBeUndefined();
    for (const upload of uploads) {
      const part = Number(upload.query.partNumber);
      const bytes = data.subarray((part - 1) * 8 * MiB, part * 8 * MiB);
      expect(upload.headers['x-amz-sdk-checksum-algorithm'], `part ${part}`).toBe('CRC32');
      expect(upload.headers['x-amz-checksum-crc32'], `part ${part}`).toBe(crc32Of(bytes));
    }
    const complete = String(requests.find((r) => operation(r) === 'CompleteMultipartUpload')!.body);
    expect(complete.match(/<PartNumber>\d+<\/PartNumber>/g)).toEqual(['<PartNumber>1</PartNumber>', '<PartNumber>2</PartNumber>', '<PartNumber>3</PartNumber>']);
    expect(complete).not.toMatch(/Checksum/);
  });

  it('an aborted multipart upload leaves no object and no upload behind', async () => {
    const destination = open();
    const key = 'orders/run=r2/part-00000.parquet';
    const since = sent.length;
    const writer = destination.createObject(key);
    await writer.write(randomBytes(9 * MiB));
    await writer.abort();
    expect(await destination.get(key)).toBeNull();
    const requests = requestsFor(key, since);
    expect(requests.map(operation)).toEqual(['CreateMultipartUpload', 'UploadPart 1', 'AbortMultipartUpload', 'GETObject']);
    const pending = await s3.send(new ListMultipartUploadsCommand({ Bucket: BUCKET, Prefix: `${PREFIX}/orders/run=r2/` }));
    expect(pending.Uploads ?? []).toEqual([]);
    // The upload itself is gone, as on AWS: its parts cannot be listed.
    const UploadId = String(requests[1].query.uploadId);
    await expect(s3.send(new ListPartsCommand({ Bucket: BUCKET, Key: `${PREFIX}/${key}`, UploadId }))).rejects.toMatchObject({ name: 'NoSuchUpload' });
  });

  it('asks for SSE-KMS with the configured key on every kind of write, and the objects say so', async () => {
    const destination = open(keyArn);
    await destination.put('kms/_latest.json', '{}');
    expect(await destination.putIfAbsent('kms/shard.json', '{}')).toBe(true);
    const small = destination.createObject('kms/small.parquet');
    await small.write(randomBytes(1000));
    await small.close();
    const since = sent.length;
    const large = destination.createObject('kms/large.parquet');
    await large.write(randomBytes(9 * MiB));
    await large.close();
    for (const key of ['_latest.json', 'shard.json', 'small.parquet', 'large.parquet']) {
      const object = await head(`kms/${key}`);
      expect({ key, sse: object.ServerSideEncryption, keyId: object.SSEKMSKeyId }).toEqual({ key, sse: 'aws:kms', keyId: keyArn });
    }
    for (const key of ['_latest.json', 'shard.json', 'small.parquet']) expect((await head(`kms/${key}`)).BucketKeyEnabled, key).toBe(true);
    // moto keeps no bucket-key flag through a multipart upload (AWS does); what the code asked for is in the request.
    const create = requestsFor('kms/large.parquet', since).find((r) => operation(r) === 'CreateMultipartUpload')!;
    expect(create.headers).toMatchObject({
      'x-amz-server-side-encryption': 'aws:kms',
      'x-amz-server-side-encryption-aws-kms-key-id': keyArn,
      'x-amz-server-side-encryption-bucket-key-enabled': 'true',
    });
    // Parts carry no SSE headers of their own: the upload's settings hold for them (AWS refuses them on UploadPart).
    for (const part of requestsFor('kms/large.parquet', since).filter((r) => operation(r).startsWith('UploadPart'))) {
      expect(Object.keys(part.headers).filter((h) => h.startsWith('x-amz-server-side-encryption'))).toEqual([]);
    }
    // Without a key, the code asks for nothing and the bucket's default applies.
    await open().put('kms/plain.json', '{}');
    expect((await head('kms/plain.json')).SSEKMSKeyId).toBeUndefined();
  });

  it('reads a missing object as absent, lists by prefix, and deletes (a key already gone is no error)', async () => {
    const destination = open();
    expect(await destination.get('nothing/here.json')).toBeNull();
    expect(await destination.size('nothing/here.json')).toBeNull();
    for (const key of ['sweep/a/1.parquet', 'sweep/a/2.parquet', 'sweep/b/1.parquet', 'sweeping.json']) await destination.put(key, key);
    expect(await destination.size('sweep/a/1.parquet')).toBe('sweep/a/1.parquet'.length);
    expect(await destination.list('sweep/')).toEqual(['sweep/a/1.parquet', 'sweep/a/2.parquet', 'sweep/b/1.parquet']);
    await destination.delete(['sweep/a/1.parquet', 'sweep/b/1.parquet', 'sweep/never-written.parquet']);
    expect(await destination.list('sweep/')).toEqual(['sweep/a/2.parquet']);
    expect(await destination.get('sweep/a/1.parquet')).toBeNull();
    expect(await destination.list('sweeping')).toEqual(['sweeping.json']);
  });
});
