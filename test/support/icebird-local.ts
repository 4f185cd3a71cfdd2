/**
 * icebird (npm, an Iceberg reader nobody here wrote) over tables in a local folder. icebird 0.3.1, the version
 * the registry offers, reads only through `fetch` (docs/iceberg.md, "Reading it back"): this serves `file://`
 * URLs to it from the disk, Range requests included (hyparquet reads Parquet footers and column chunks by
 * range), and hands every other URL to the real fetch. Tables on an S3-compatible server (moto) are read
 * through it too: icebird turns `s3://<bucket>/<key>` into `https://<bucket>.s3.amazonaws.com/<key>`, which is
 * asked of the server by the given client instead (signed: S3 serves SSE-KMS objects to signed requests only).
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { GetObjectCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { icebergRead } from 'icebird';

async function localFetch(input: string | URL | Request, init?: RequestInit): Promise<Response> {
  const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
  let data: Buffer;
  try {
    data = await readFile(fileURLToPath(url));
  } catch {
    return new Response(null, { status: 404, statusText: 'Not Found' });
  }
  const range = new Headers(init?.headers).get('range');
  const m = range ? /^bytes=(\d+)-(\d*)$/.exec(range) : null;
  if (!m) return new Response(new Uint8Array(data), { status: 200, headers: { 'content-length': String(data.length) } });
  const start = Number(m[1]);
  const end = m[2] ? Number(m[2]) + 1 : data.length;
  return new Response(new Uint8Array(data.subarray(start, end)), { status: 206, headers: { 'content-length': String(end - start) } });
}

/** The rows icebird reads from the Iceberg table in `folder` (its current snapshot, or `metadataFileName`'s). */
export async function readIcebergTable(folder: string, metadataFileName?: string): Promise<Record<string, unknown>[]> {
  return readThrough(pathToFileURL(folder).href, undefined, metadataFileName);
}

/**
 * The rows icebird reads from the Iceberg table at `tableUri` (`s3://bucket/prefix`), each object got by
 * `client`: its current snapshot by `version-hint.text`, or the snapshot of `metadataFileName` (under
 * `metadata/`; a catalog's table, S3 Tables', has no hint).
 */
export async function readIcebergTableOnS3(tableUri: string, client: S3Client, metadataFileName?: string): Promise<Record<string, unknown>[]> {
  return readThrough(tableUri, client, metadataFileName);
}

async function s3Fetch(client: S3Client, bucket: string, key: string, init?: RequestInit): Promise<Response> {
  const range = new Headers(init?.headers).get('range') ?? undefined;
  try {
    if (init?.method === 'HEAD') {
      const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      return new Response(null, { status: 200, headers: { 'content-length': String(head.ContentLength) } });
    }
    const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key, Range: range }));
    const body = await got.Body!.transformToByteArray();
    return new Response(body, { status: range ? 206 : 200, headers: { 'content-length': String(body.length) } });
  } catch (error) {
    const name = (error as Error).name;
    if (name === 'NoSuchKey' || name === 'NotFound') return new Response(null, { status: 404, statusText: 'Not Found' });
    throw error;
  }
}

async function readThrough(tableUrl: string, s3: S3Client | undefined, metadataFileName?: string): Promise<Record<string, unknown>[]> {
  const real = globalThis.fetch;
  globalThis.fetch = (input, init) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    if (url.startsWith('file:')) return localFetch(input, init);
    const object = s3 ? /^https:\/\/([^./]+)\.s3\.amazonaws\.com\/([^?]+)$/.exec(url) : null;
    if (s3 && object) return s3Fetch(s3, object[1], decodeURIComponent(object[2]), init);
    return real(input, init);
  };
  try {
    return await icebergRead({ tableUrl, ...(metadataFileName ? { metadataFileName } : {}) });
  } finally {
    globalThis.fetch = real;
  }
}
