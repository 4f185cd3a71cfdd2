/**
 * A real S3-compatible server (s3rver) on 127.0.0.1 for tests of `s3://` destinations: multipart uploads,
 * listings and deletes go over HTTP exactly as they would to AWS. Where s3rver departs from S3 in a way the
 * tests would meet (conditional writes, atomic replacement), it is taught S3's rule, each said below.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import S3rver from 's3rver';
import { freePort } from '../../bin/local/embedded-postgres';

export interface RunningS3 {
  endpoint: string;
  bucket: string;
  /** What the server saw of multipart uploads: the most UploadPart requests in progress at once. */
  uploads: { parts: number; mostAtOnce: number };
  stop(): Promise<void>;
}

/** Faults and delays for tests of what the client does when S3 is slow or refuses something. */
export interface S3Behaviour {
  /** Hold each UploadPart this long before s3rver answers it. */
  uploadPartDelayMs?: number;
  /** Answer these part numbers with 500 InternalError, every time. */
  failUploadParts?: number[];
  /** Answer every DeleteObjects with 200 and a per-key AccessDenied error for these (full) keys. */
  refuseDeletes?: string[];
}

export async function startS3Server(bucket = 'pgsip-test', behaviour: S3Behaviour = {}): Promise<RunningS3> {
  const directory = await mkdtemp(join(tmpdir(), 'pgsip-s3-'));
  const port = await freePort();
  const server = new S3rver({ address: '127.0.0.1', port, silent: true, directory, configureBuckets: [{ name: bucket }] });
  honourIfNoneMatch(server);
  atomicPuts(server);
  const uploads = { parts: 0, mostAtOnce: 0 };
  misbehave(server, behaviour, uploads);
  await server.run();
  // The SDK signs requests; s3rver accepts any credentials, but the SDK needs some to sign with.
  process.env.AWS_ACCESS_KEY_ID ??= 'S3RVER';
  process.env.AWS_SECRET_ACCESS_KEY ??= 'S3RVER';
  return {
    endpoint: `http://127.0.0.1:${port}`,
    bucket,
    uploads,
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

interface StoredObject {
  bucket: string;
  key: string;
  content: Buffer | NodeJS.ReadableStream;
  metadata: Record<string, string>;
}

interface FilesystemStore {
  putObject(object: StoredObject): Promise<{ size: number; md5: string }>;
  getObject(bucket: string, key: string, options?: unknown): Promise<unknown>;
  getResourcePath(bucket: string, key: string, resource: string): string;
  putMetadata(bucket: string, key: string, metadata: Record<string, string>, md5: string): Promise<void>;
}

/**
 * S3 replaces an object atomically: a GET during a PUT of the same key reads the old object or the new one.
 * s3rver writes the object file in place (truncated, then filled), so a GET meanwhile can read it empty, which
 * no S3 does (a snapshot holder re-reading `current.json` while its successor rewrites it failed on that, on a
 * loaded machine). Its store is taught to write a temporary file and rename it over the object: POSIX rename is
 * atomic, and a reader that has the old file open keeps reading it. s3rver's GET takes the size (stat) before
 * it opens the file, so the rename waits for a GET of the same key between the two, and a GET for a rename.
 * The temporary name does not end in s3rver's object suffix, so listings never show it.
 */
function atomicPuts(server: S3rver): void {
  const store = (server as unknown as { store: FilesystemStore }).store;
  // One at a time per key: a GET's stat-and-open, or a PUT's rename.
  const turns = new Map<string, Promise<unknown>>();
  const inTurn = async <T>(key: string, step: () => Promise<T>): Promise<T> => {
    const before = turns.get(key) ?? Promise.resolve();
    const mine = before.then(step, step);
    turns.set(key, mine.catch(() => {}));
    return mine;
  };
  const getObject = store.getObject.bind(store);
  store.getObject = (bucket, key, options) => inTurn(`${bucket}/${key}`, () => getObject(bucket, key, options));
  store.putObject = async (object: StoredObject) => {
    const objectPath = store.getResourcePath(object.bucket, object.key, 'object');
    await mkdir(dirname(objectPath), { recursive: true });
    const temporary = `${objectPath}.${randomBytes(6).toString('hex')}.tmp`;
    const md5 = createHash('md5');
    let size = 0;
    const source = Buffer.isBuffer(object.content) ? Readable.from([object.content]) : (object.content as NodeJS.ReadableStream);
    await pipeline(
      source,
      new Transform({
        transform(chunk: Buffer, _encoding, done) {
          md5.update(chunk);
          size += chunk.length;
          done(null, chunk);
        },
      }),
      createWriteStream(temporary),
    );
    const digest = md5.digest('hex');
    await store.putMetadata(object.bucket, object.key, object.metadata, digest);
    await inTurn(`${object.bucket}/${object.key}`, () => rename(temporary, objectPath));
    return { size, md5: digest };
  };
}

const xmlError = (code: string, message: string) =>
  `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${message}</Message></Error>`;

/** The behaviours of S3Behaviour, as middleware ahead of s3rver's own routes. */
function misbehave(server: S3rver, behaviour: S3Behaviour, uploads: { parts: number; mostAtOnce: number }): void {
  let atOnce = 0;
  server.middleware.unshift(async (ctx, next) => {
    const partNumber = ctx.method === 'PUT' && 'partNumber' in ctx.query ? Number(ctx.query.partNumber) : null;
    if (partNumber !== null) {
      atOnce++;
      uploads.parts++;
      uploads.mostAtOnce = Math.max(uploads.mostAtOnce, atOnce);
      try {
        if (behaviour.uploadPartDelayMs) await new Promise((ok) => setTimeout(ok, behaviour.uploadPartDelayMs));
        if (behaviour.failUploadParts?.includes(partNumber)) {
          ctx.status = 500;
          ctx.type = 'application/xml';
          ctx.body = xmlError('InternalError', 'We encountered an internal error. Please try again.');
          return;
        }
        await next();
      } finally {
        atOnce--;
      }
      return;
    }
    if (ctx.method === 'POST' && 'delete' in ctx.query && behaviour.refuseDeletes) {
      // The request's keys are not read (s3rver would then find the body consumed): every DeleteObjects is
      // answered 200 with a per-key AccessDenied for the keys the test names.
      ctx.status = 200;
      ctx.type = 'application/xml';
      ctx.body =
        '<?xml version="1.0" encoding="UTF-8"?><DeleteResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
        behaviour.refuseDeletes.map((k) => `<Error><Key>${k}</Key><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`).join('') +
        '</DeleteResult>';
      return;
    }
    await next();
  });
}
