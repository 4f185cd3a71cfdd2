/**
 * An S3 prefix (`s3://bucket/prefix`), on AWS or any S3-compatible server. Large objects stream out as
 * multipart uploads in 8 MiB parts, so memory holds one part at a time and nothing is visible until the
 * upload completes; small ones are a single PUT. With a KMS key configured, every write asks for SSE-KMS
 * explicitly (the bucket policy denies writes that do not).
 */
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  type PutObjectCommandInput,
} from '@aws-sdk/client-s3';
import type { ObjectAddress } from '../contracts';
import { DestinationError } from '../errors';
import type { Destination, ObjectWriter } from './destination';

export interface S3PrefixOptions {
  /** `s3://bucket/prefix`. */
  url: string;
  /** A custom endpoint (an S3-compatible server); uses path-style addressing. */
  endpoint?: string;
  /** Key id or ARN for SSE-KMS; unset leaves encryption to the bucket's default. */
  kmsKeyId?: string;
  client?: S3Client;
}

const PART_SIZE = 8 * 1024 * 1024;
/** Multipart parts uploading at once per object while the next fills: uploads overlap encoding, memory stays bounded. */
const PARTS_IN_FLIGHT = 2;

export function parseS3Url(url: string): { bucket: string; prefix: string } {
  const match = /^s3:\/\/([^/]+)\/?(.*)$/.exec(url);
  if (!match || match[1].length < 3) throw new Error(`bad S3 destination ${JSON.stringify(url)}: expected s3://bucket/prefix`);
  return { bucket: match[1], prefix: match[2].replace(/\/+$/, '') };
}

export class S3PrefixDestination implements Destination {
  readonly root: string;
  readonly bucket: string;
  private readonly prefix: string;
  private readonly client: S3Client;
  private readonly sse: Pick<PutObjectCommandInput, 'ServerSideEncryption' | 'SSEKMSKeyId' | 'BucketKeyEnabled'>;

  constructor(options: S3PrefixOptions) {
    const { bucket, prefix } = parseS3Url(options.url);
    this.bucket = bucket;
    this.prefix = prefix;
    this.root = `s3://${bucket}${prefix ? `/${prefix}` : ''}`;
    this.client =
      options.client ??
      new S3Client({
        ...(options.endpoint ? { endpoint: options.endpoint, forcePathStyle: true } : {}),
        region: process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1',
      });
    this.sse = options.kmsKeyId ? { ServerSideEncryption: 'aws:kms', SSEKMSKeyId: options.kmsKeyId, BucketKeyEnabled: true } : {};
  }

  private key(key: string): string {
    return this.prefix ? `${this.prefix}/${key}` : key;
  }

  location(key: string): string {
    return `${this.root}/${key}`;
  }

  address(key: string): ObjectAddress {
    return { bucket: this.bucket, key: this.key(key) };
  }

  keyAt(address: ObjectAddress): string | null {
    if (address.bucket !== this.bucket) return null;
    if (!this.prefix) return address.key;
    return address.key.startsWith(`${this.prefix}/`) ? address.key.slice(this.prefix.length + 1) : null;
  }

  /**
   * A multipart upload whose parts go out while the shard goes on encoding: a part is started as soon as
   * 8 MiB are buffered, and `write()` waits only when PARTS_IN_FLIGHT parts are already on their way (the
   * backpressure), so memory holds at most that many parts plus the one filling. A failed part is not
   * forgotten: the next `write()` or `close()` rejects with it, and nothing becomes visible.
   */
  createObject(key: string): ObjectWriter {
    const Key = this.key(key);
    const { client, bucket: Bucket, sse } = this;
    let buffered: Uint8Array[] = [];
    let bufferedBytes = 0;
    let total = 0;
    let created: Promise<string> | undefined;
    const etags: { PartNumber: number; ETag: string }[] = [];
    const inFlight = new Set<Promise<void>>();
    let nextPart = 1;
    let failure: unknown = null;

    const uploadId = () =>
      (created ??= client.send(new CreateMultipartUploadCommand({ Bucket, Key, ...sse })).then((out) => {
        if (!out.UploadId) throw new DestinationError(`${this.location(key)}: the server started a multipart upload without an id`);
        return out.UploadId;
      }));

    /** Uploads the buffered bytes as the next part, or `view` (a whole part of a large chunk, not copied). */
    const startPart = (view?: Uint8Array): Promise<void> => {
      const PartNumber = nextPart++;
      const Body = view ?? Buffer.concat(buffered, bufferedBytes);
      if (!view) {
        buffered = [];
        bufferedBytes = 0;
      }
      const upload: Promise<void> = uploadId()
        .then((UploadId) => client.send(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber, Body })))
        .then((part) => {
          etags.push({ PartNumber, ETag: part.ETag! });
        })
        .catch((error: unknown) => {
          failure ??= error;
        })
        .finally(() => inFlight.delete(upload));
      inFlight.add(upload);
      return upload;
    };
    const room = async () => {
      while (inFlight.size >= PARTS_IN_FLIGHT) await Promise.race(inFlight);
      rethrow();
    };

    const rethrow = () => {
      if (failure !== null) throw failure;
    };

    return {
      async write(chunk) {
        rethrow();
        if (chunk.byteLength >= 2 * PART_SIZE) {
          // A large chunk (a page holding a huge value): its whole parts are uploaded from the chunk itself, not
          // copied, and this resolves once they are sent (the caller may then reuse it). The rest is buffered.
          let at = 0;
          if (bufferedBytes > 0) {
            at = PART_SIZE - bufferedBytes;
            buffered.push(Uint8Array.prototype.slice.call(chunk, 0, at));
            bufferedBytes = PART_SIZE;
            await room();
            startPart();
          }
          const sent: Promise<void>[] = [];
          for (; chunk.byteLength - at >= PART_SIZE; at += PART_SIZE) {
            await room();
            sent.push(startPart(chunk.subarray(at, at + PART_SIZE)));
          }
          total += chunk.byteLength;
          if (at < chunk.byteLength) {
            buffered.push(Uint8Array.prototype.slice.call(chunk, at));
            bufferedBytes += chunk.byteLength - at;
          }
          await Promise.all(sent);
          rethrow();
          return;
        }
        // The caller may reuse its buffer after the promise resolves, so keep a copy.
        buffered.push(Uint8Array.prototype.slice.call(chunk));
        bufferedBytes += chunk.byteLength;
        total += chunk.byteLength;
        if (bufferedBytes < PART_SIZE) return;
        await room();
        startPart();
      },
      async close() {
        rethrow();
        if (created === undefined) {
          await client.send(new PutObjectCommand({ Bucket, Key, Body: Buffer.concat(buffered, bufferedBytes), ...sse }));
          return total;
        }
        if (bufferedBytes > 0) {
          await room();
          startPart();
        }
        await Promise.all(inFlight);
        rethrow();
        etags.sort((a, b) => a.PartNumber - b.PartNumber);
        await client.send(new CompleteMultipartUploadCommand({ Bucket, Key, UploadId: await uploadId(), MultipartUpload: { Parts: etags } }));
        return total;
      },
      async abort() {
        buffered = [];
        await Promise.all(inFlight);
        if (created === undefined) return;
        // Best effort: an uncompleted upload is never visible under its key, and the bucket's lifecycle rule
        // reaps the ones an abort could not remove (some S3-compatible servers do not implement abort).
        const id = await created.catch(() => null);
        if (id) await client.send(new AbortMultipartUploadCommand({ Bucket, Key, UploadId: id })).catch(() => {});
      },
    };
  }

  async put(key: string, body: string | Uint8Array): Promise<void> {
    await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: this.key(key), Body: body, ...this.sse }));
  }

  async putIfAbsent(key: string, body: string | Uint8Array): Promise<boolean> {
    try {
      await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: this.key(key), Body: body, IfNoneMatch: '*', ...this.sse }));
      return true;
    } catch (error) {
      const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      // 412: the key exists. 409: a concurrent conditional write to the same key is in flight; it will win.
      if (status === 412 || status === 409) return false;
      throw error;
    }
  }

  async getRange(key: string, start: number, end: number): Promise<Uint8Array> {
    if (end <= start) return new Uint8Array(0);
    const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.key(key), Range: `bytes=${start}-${end - 1}` }));
    return out.Body!.transformToByteArray();
  }

  async get(key: string): Promise<Buffer | null> {
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.key(key) }));
      return Buffer.from(await out.Body!.transformToByteArray());
    } catch (error) {
      const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
      if (e.name === 'NoSuchKey' || e.$metadata?.httpStatusCode === 404) return null;
      throw error;
    }
  }

  async size(key: string): Promise<number | null> {
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.key(key) }));
      return head.ContentLength ?? 0;
    } catch (error) {
      const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
      if (e.name === 'NotFound' || e.$metadata?.httpStatusCode === 404) return null;
      throw error;
    }
  }

  async list(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    const strip = this.prefix ? this.prefix.length + 1 : 0;
    let ContinuationToken: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.key(prefix), ContinuationToken }),
      );
      for (const o of page.Contents ?? []) if (o.Key) keys.push(o.Key.slice(strip));
      ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (ContinuationToken);
    return keys.sort();
  }

  /**
   * DeleteObjects answers 200 with per-key `Errors` (access denied, a lock): each is checked, since Commit
   * removes strays before it writes `_SUCCESS` and a silently failed delete would leave a row twice.
   */
  async delete(keys: string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += 1000) {
      const batch = keys.slice(i, i + 1000);
      const out = await this.client.send(
        new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: batch.map((k) => ({ Key: this.key(k) })), Quiet: true } }),
      );
      const errors = out.Errors ?? [];
      if (errors.length > 0) {
        const [first] = errors;
        const more = errors.length > 1 ? ` (and ${errors.length - 1} more)` : '';
        throw new DestinationError(`cannot delete s3://${this.bucket}/${first.Key}: ${first.Code ?? 'Error'}: ${first.Message ?? 'no message'}${more}`);
      }
    }
  }
}
