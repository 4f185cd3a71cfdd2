/**
 * Both destinations keep the same promises: nothing visible until an object is complete, create-only writes
 * that refuse to overwrite, and aborts that leave nothing behind. The S3 one runs against a real S3 server.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Destination } from '../../../../lambdas/engine/destinations/destination';
import { LocalFolderDestination, writeRefused } from '../../../../lambdas/engine/destinations/local-folder';
import type { DestinationError } from '../../../../lambdas/engine/errors';
import { explainShardFailure } from '../../../../lambdas/engine/shard-failure';
import { openDestination } from '../../../../lambdas/engine/destinations/open-destination';
import { S3PrefixDestination } from '../../../../lambdas/engine/destinations/s3-prefix';
import { type RunningS3, startS3Server } from '../../../support/s3-server';

let s3: RunningS3;
let folder: string;

beforeAll(async () => {
  s3 = await startS3Server();
  folder = await mkdtemp(join(tmpdir(), 'pgsip-dest-'));
});
afterAll(async () => {
  await s3?.stop();
  if (folder) await rm(folder, { recursive: true, force: true });
});

const kinds: [string, () => Destination][] = [
  ['a local folder', () => new LocalFolderDestination(folder)],
  ['an S3 prefix', () => new S3PrefixDestination({ url: `s3://${s3.bucket}/some/prefix`, endpoint: s3.endpoint })],
];

describe.each(kinds)('%s', (_, make) => {
  it('streams a large object in pieces and shows it only once it is closed', async () => {
    const destination = make();
    // 20 MiB in 1 MiB chunks: more than two S3 multipart parts of 8 MiB, plus a short last one.
    const data = randomBytes(20 * 1024 * 1024 + 12345);
    const writer = destination.createObject('big/object.bin');
    for (let at = 0; at < data.length; at += 1024 * 1024) {
      const chunk = Buffer.from(data.subarray(at, at + 1024 * 1024));
      await writer.write(chunk);
      chunk.fill(0); // the caller may reuse its buffer once write() resolved
      if (at === 0) expect(await destination.get('big/object.bin')).toBeNull();
    }
    expect(await destination.list('big/')).toEqual([]);
    expect(await writer.close()).toBe(data.length);
    const back = await destination.get('big/object.bin');
    expect(back?.equals(data)).toBe(true);
    expect(await destination.list('big/')).toEqual(['big/object.bin']);
  });

  it('takes a chunk far larger than a part (a page holding a huge value) between small ones, and the caller may reuse it', async () => {
    const destination = make();
    const pieces = [randomBytes(3 * 1024 * 1024 + 17), randomBytes(21 * 1024 * 1024 + 5), randomBytes(1000), randomBytes(17 * 1024 * 1024)];
    const expected = Buffer.concat(pieces);
    const writer = destination.createObject('huge/object.bin');
    for (const piece of pieces) {
      const chunk = Buffer.from(piece);
      await writer.write(chunk);
      chunk.fill(0);
    }
    expect(await writer.close()).toBe(expected.length);
    expect((await destination.get('huge/object.bin'))?.equals(expected)).toBe(true);
  });

  it('leaves nothing behind when a write is aborted', async () => {
    const destination = make();
    const writer = destination.createObject('aborted/part.parquet');
    await writer.write(randomBytes(9 * 1024 * 1024));
    await writer.abort();
    expect(await destination.get('aborted/part.parquet')).toBeNull();
    expect(await destination.list('aborted/')).toEqual([]);
  });

  it('writes create-only objects once and refuses a second writer', async () => {
    const destination = make();
    expect(await destination.putIfAbsent('once/marker.json', 'first')).toBe(true);
    expect(await destination.putIfAbsent('once/marker.json', 'second')).toBe(false);
    expect((await destination.get('once/marker.json'))?.toString()).toBe('first');
  });

  it('lists by prefix and deletes', async () => {
    const destination = make();
    await destination.put('l/a/1', '1');
    await destination.put('l/a/2', '2');
    await destination.put('l/b/3', '3');
    expect(await destination.list('l/a/')).toEqual(['l/a/1', 'l/a/2']);
    await destination.delete(['l/a/1', 'l/b/3']);
    expect(await destination.list('l/')).toEqual(['l/a/2']);
  });
});

describe('openDestination', () => {
  it('chooses by the address and refuses what it cannot write to', () => {
    expect(openDestination('s3://bucket/prefix').root).toBe('s3://bucket/prefix');
    expect(openDestination('relative/dir').root).toBe(join(process.cwd(), 'relative/dir'));
    expect(() => openDestination('gs://bucket/x')).toThrow('unsupported destination "gs://bucket/x"');
    expect(() => openDestination('s3://ab/x')).toThrow('bad S3 destination');
  });

  it('leaves no temporary files in a folder after writes', async () => {
    const destination = new LocalFolderDestination(join(folder, 'clean'));
    await destination.put('x/y.json', '{}');
    await destination.putIfAbsent('x/z.json', '{}');
    const w = destination.createObject('x/p.parquet');
    await w.write(Buffer.from('abc'));
    await w.close();
    expect((await readdir(join(folder, 'clean', 'x'))).sort()).toEqual(['p.parquet', 'y.json', 'z.json']);
  });
});

describe('a folder that refuses writes or was left by an interrupted process', () => {
  it('a full disk (or any refusal of the file system) names the file, whichever step refused', () => {
    // A write stream's ENOSPC carries no path: the destination names the file it was writing.
    const full = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28, syscall: 'write' });
    const mapped = writeRefused(full, '/lake/public/t/run=1/part-00000-0000-0a1b2c3d.parquet') as DestinationError;
    expect(mapped.name).toBe('DestinationError');
    expect(mapped.message).toBe('cannot write /lake/public/t/run=1/part-00000-0000-0a1b2c3d.parquet: ENOSPC (no space left on the device)');
    expect(mapped).toMatchObject({ code: 'ENOSPC', path: '/lake/public/t/run=1/part-00000-0000-0a1b2c3d.parquet' });
    expect((writeRefused(Object.assign(new Error('x'), { code: 'EDQUOT' }), '/q') as Error).message).toBe('cannot write /q: EDQUOT (disk quota exceeded)');
    // Not the file system's: unchanged.
    const other = new TypeError('bad chunk');
    expect(writeRefused(other, '/x')).toBe(other);
    // As a shard reports it: table and shard first, then the file.
    const explained = explainShardFailure(mapped, { table: '"public"."t"', shard: 0, statementTimeoutMs: 1, lockTimeoutMs: 1 });
    expect(explained.message).toBe('table "public"."t" shard 0: cannot write /lake/public/t/run=1/part-00000-0000-0a1b2c3d.parquet: ENOSPC (no space left on the device)');
  });

  it('a refused write leaves no temporary file, and removeUnfinished clears what a killed process left', async () => {
    const root = join(folder, 'unfinished');
    const destination = new LocalFolderDestination(root);
    // As a process killed mid-write leaves it: a part's temporary file that was never renamed.
    const killed = destination.createObject('t/run=1/part-00000-0000-0a1b2c3d.parquet');
    await killed.write(Buffer.from('half a part'));
    await destination.put('t/run=1/_plan.json', '{}');
    expect((await readdir(join(root, 't', 'run=1'))).filter((f) => f.includes('.tmp-'))).toHaveLength(1);
    expect(await destination.list('t/')).toEqual(['t/run=1/_plan.json']);
    const removed = await destination.removeUnfinished('t/run=1/');
    expect(removed).toEqual([expect.stringMatching(/^t\/run=1\/part-00000-0000-0a1b2c3d\.parquet\.tmp-[0-9a-f]{8}$/)]);
    expect(await readdir(join(root, 't', 'run=1'))).toEqual(['_plan.json']);
    expect(await destination.removeUnfinished('nothing/here/')).toEqual([]);
    await killed.abort();
  });
});

describe('S3 multipart uploads', () => {
  const MiB = 1024 * 1024;
  const serve = async (behaviour: Parameters<typeof startS3Server>[1]) => {
    const server = await startS3Server('pgsip-multipart', behaviour);
    const destination = new S3PrefixDestination({ url: `s3://${server.bucket}/p`, endpoint: server.endpoint });
    return { server, destination };
  };

  it('sends parts while the writer goes on, at most two at once, and assembles the object in order', async () => {
    // Each part held 300 ms by the server, so that uploads would overlap if the writer lets them.
    const { server, destination } = await serve({ uploadPartDelayMs: 300 });
    try {
      const data = randomBytes(41 * MiB + 7);
      const writer = destination.createObject('slow/object.bin');
      for (let at = 0; at < data.length; at += MiB) await writer.write(data.subarray(at, at + MiB));
      expect(await writer.close()).toBe(data.length);
      expect(server.uploads.parts).toBe(6);
      // Two parts on their way at once: the writer started the second while the first was still uploading
      // (a writer that waits for each part never has more than one), and never more than two (the bound).
      expect(server.uploads.mostAtOnce).toBe(2);
      expect((await destination.get('slow/object.bin'))?.equals(data)).toBe(true);
    } finally {
      await server.stop();
    }
  });

  it('a part the server keeps refusing fails the write or the close, and nothing becomes visible', async () => {
    const { server, destination } = await serve({ failUploadParts: [2] });
    try {
      const writer = destination.createObject('failing/object.bin');
      const outcome = await (async () => {
        for (let i = 0; i < 40; i++) await writer.write(randomBytes(MiB));
        return writer.close();
      })().then(
        () => null,
        (e: unknown) => e as Error,
      );
      expect(outcome?.name).toBe('InternalError');
      await writer.abort();
      expect(await destination.get('failing/object.bin')).toBeNull();
      expect(await destination.list('failing/')).toEqual([]);
    } finally {
      await server.stop();
    }
  });

  it('a delete S3 answers with per-key errors is a DestinationError naming the key, never silent', async () => {
    const { server, destination } = await serve({ refuseDeletes: ['p/run=1/part-a.parquet', 'p/run=1/part-b.parquet'] });
    try {
      await destination.put('run=1/part-a.parquet', 'a');
      await expect(destination.delete(['run=1/part-a.parquet', 'run=1/part-b.parquet'])).rejects.toThrow(
        'cannot delete s3://pgsip-multipart/p/run=1/part-a.parquet: AccessDenied: Access Denied (and 1 more)',
      );
    } finally {
      await server.stop();
    }
  });
});
