/**
 * icebird (npm, an Iceberg reader nobody here wrote) over tables in a local folder. icebird 0.3.1, the version
 * the registry offers, reads only through `fetch` (docs/iceberg.md, "Reading it back"): this serves `file://`
 * URLs to it from the disk, Range requests included (hyparquet reads Parquet footers and column chunks by
 * range), and hands every other URL to the real fetch.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
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
  const real = globalThis.fetch;
  globalThis.fetch = (input, init) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    return url.startsWith('file:') ? localFetch(input, init) : real(input, init);
  };
  try {
    return await icebergRead({ tableUrl: pathToFileURL(folder).href, ...(metadataFileName ? { metadataFileName } : {}) });
  } finally {
    globalThis.fetch = real;
  }
}
