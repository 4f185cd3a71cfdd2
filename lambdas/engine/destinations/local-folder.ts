/**
 * A folder on this machine. New files are written under a temporary name and renamed into place, so a
 * crash never leaves a half-written file under a real name; create-only writes use `link`, which fails
 * atomically when the name is taken.
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { link, mkdir, open, readdir, readFile, rename, rm, rmdir, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import type { ObjectAddress } from '../contracts';
import { DestinationError } from '../errors';
import type { Destination, ObjectWriter } from './destination';

/** The ItemReader bucket a local folder's addresses carry. */
const LOCAL_BUCKET = 'file';

/** What a write left under a temporary name (`<name>.tmp-<8 hex>`) until it was renamed into place. */
const TEMPORARY = /\.tmp-[0-9a-f]{8}$/;

/** The file system's refusals a person can act on, said in words. */
const REFUSALS: Record<string, string> = {
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EROFS: 'read-only file system',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EFBIG: 'file too large for the file system',
  EIO: 'input/output error',
};

/**
 * A refused write as a DestinationError naming the file (a write stream's ENOSPC names none), keeping `code`
 * and `path` for whoever classifies it. Errors that are not the file system's pass unchanged.
 */
export function writeRefused(error: unknown, path: string): unknown {
  const e = error as NodeJS.ErrnoException | null;
  if (typeof e?.code !== 'string' || !/^E[A-Z]+$/.test(e.code) || error instanceof DestinationError) return error;
  const words = REFUSALS[e.code];
  return Object.assign(new DestinationError(`cannot write ${path}: ${e.code}${words ? ` (${words})` : ''}`, { cause: error }), { code: e.code, path });
}

/** Runs a write step; a refusal names `path`. */
async function writing<T>(path: string, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (error) {
    throw writeRefused(error, path);
  }
}

export class LocalFolderDestination implements Destination {
  readonly root: string;

  constructor(folder: string) {
    this.root = resolve(folder);
  }

  location(key: string): string {
    return join(this.root, ...key.split('/'));
  }

  address(key: string): ObjectAddress {
    return { bucket: LOCAL_BUCKET, key: this.location(key) };
  }

  keyAt(address: ObjectAddress): string | null {
    if (address.bucket !== LOCAL_BUCKET) return null;
    const rel = relative(this.root, resolve(address.key));
    if (rel === '' || rel.startsWith('..') || resolve(this.root, rel) !== resolve(address.key)) return null;
    return rel.split(sep).join('/');
  }

  createObject(key: string): ObjectWriter {
    const target = this.location(key);
    const temp = `${target}.tmp-${randomBytes(4).toString('hex')}`;
    let stream: WriteStream | null = null;
    let bytes = 0;
    const open = async () => {
      if (stream) return stream;
      await mkdir(dirname(target), { recursive: true });
      stream = createWriteStream(temp);
      await new Promise<void>((ok, fail) => stream!.once('open', () => ok()).once('error', fail));
      return stream;
    };
    return {
      write: (chunk) =>
        writing(target, async () => {
          const s = await open();
          bytes += chunk.byteLength;
          if (chunk.byteLength >= WRITE_THROUGH_BYTES) {
            // A large chunk (a page holding one huge value) is not copied: this resolves once the file has it.
            await new Promise<void>((ok, fail) => s.write(chunk, (error?: Error | null) => (error ? fail(error) : ok())));
            return;
          }
          // The stream writes later; the caller may reuse its buffer as soon as this resolves, so copy.
          if (!s.write(Buffer.from(chunk))) await drained(s);
        }),
      close: () =>
        writing(target, async () => {
          const s = await open();
          await new Promise<void>((ok, fail) => s.end((error?: Error | null) => (error ? fail(error) : ok())));
          await rename(temp, target);
          return bytes;
        }),
      async abort() {
        const s: WriteStream | null = stream;
        if (s && !s.closed) {
          await new Promise<void>((ok) => {
            s.once('close', () => ok());
            s.destroy();
          });
        }
        await rm(temp, { force: true });
      },
    };
  }

  async put(key: string, body: string | Uint8Array): Promise<void> {
    const target = this.location(key);
    await mkdir(dirname(target), { recursive: true });
    const temp = `${target}.tmp-${randomBytes(4).toString('hex')}`;
    await writing(target, async () => {
      try {
        await writeFile(temp, body);
        await rename(temp, target);
      } catch (error) {
        await rm(temp, { force: true });
        throw error;
      }
    });
  }

  async putIfAbsent(key: string, body: string | Uint8Array): Promise<boolean> {
    const target = this.location(key);
    await mkdir(dirname(target), { recursive: true });
    const temp = `${target}.tmp-${randomBytes(4).toString('hex')}`;
    await writing(target, async () => {
      try {
        await writeFile(temp, body);
      } catch (error) {
        await rm(temp, { force: true });
        throw error;
      }
    });
    try {
      await link(temp, target);
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw writeRefused(error, target);
    } finally {
      await unlink(temp).catch(() => {});
    }
  }

  async getRange(key: string, start: number, end: number): Promise<Uint8Array> {
    const handle = await open(this.location(key), 'r');
    try {
      const buffer = new Uint8Array(end - start);
      let read = 0;
      while (read < buffer.length) {
        const { bytesRead } = await handle.read(buffer, read, buffer.length - read, start + read);
        if (bytesRead === 0) throw new DestinationError(`${this.location(key)} ends before byte ${start + read} of the ${end - start} asked for from ${start}`);
        read += bytesRead;
      }
      return buffer;
    } finally {
      await handle.close();
    }
  }

  async get(key: string): Promise<Buffer | null> {
    try {
      return await readFile(this.location(key));
    } catch (error) {
      // ENOTDIR: a folder on the way is a file, so nothing can be there (a write says why, naming it).
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return null;
      throw error;
    }
  }

  async size(key: string): Promise<number | null> {
    try {
      return (await stat(this.location(key))).size;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
  }

  async list(prefix: string): Promise<string[]> {
    // The folder holding the prefix, then a filter: prefixes need not end at a folder boundary.
    const base = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/')) : '';
    const keys: string[] = [];
    const walk = async (dir: string, rel: string) => {
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw error;
      }
      for (const e of entries) {
        const key = rel ? `${rel}/${e.name}` : e.name;
        if (e.isDirectory()) await walk(join(dir, e.name), key);
        else if (key.startsWith(prefix) && !TEMPORARY.test(key)) keys.push(key);
      }
    };
    await walk(base ? join(this.root, ...base.split('/')) : this.root, base);
    return keys.sort();
  }

  /**
   * Removes the temporary files under `prefix` that writes of a killed or interrupted process left behind
   * (never listed, never read); returns their keys.
   */
  async removeUnfinished(prefix: string): Promise<string[]> {
    const dir = this.location(prefix.replace(/\/+$/, ''));
    let entries: string[];
    try {
      entries = (await readdir(dir, { recursive: true })).map(String);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    const removed: string[] = [];
    for (const entry of entries) {
      if (!TEMPORARY.test(entry)) continue;
      await rm(join(dir, entry), { force: true });
      removed.push(`${prefix.replace(/\/+$/, '')}/${entry.split(sep).join('/')}`);
    }
    return removed;
  }

  /** Removes the files, then the folders they leave empty (up to the root), as S3 has no empty prefixes. */
  async delete(keys: string[]): Promise<void> {
    const folders = new Set<string>();
    for (const key of keys) {
      await rm(this.location(key), { force: true });
      for (let dir = dirname(this.location(key)); dir.startsWith(this.root + sep); dir = dirname(dir)) folders.add(dir);
    }
    // Deepest first; a folder still holding anything stays.
    for (const dir of [...folders].sort((a, b) => b.length - a.length)) await rmdir(dir).catch(() => {});
  }
}

/**
 * Chunks at least this large are handed to the file as they are, and `write()` resolves once it took them,
 * rather than being copied so that the caller may go on at once: a 100 MB page copied is 100 MB more at the
 * peak. Smaller chunks (row groups of ordinary rows) are copied and written while the caller goes on.
 */
const WRITE_THROUGH_BYTES = 8 * 1024 * 1024;

/** Waits for `drain`, failing on `error`, and leaves no listener behind either way. */
function drained(stream: WriteStream): Promise<void> {
  return new Promise<void>((ok, fail) => {
    const done = (error?: Error) => {
      stream.off('drain', done);
      stream.off('error', done);
      if (error) fail(error);
      else ok();
    };
    stream.on('drain', done);
    stream.on('error', done);
  });
}
