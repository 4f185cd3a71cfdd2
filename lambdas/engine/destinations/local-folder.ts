/**
 * A folder on this machine. New files are written under a temporary name and renamed into place, so a
 * crash never leaves a half-written file under a real name; create-only writes use `link`, which fails
 * atomically when the name is taken.
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { link, mkdir, readdir, readFile, rename, rm, rmdir, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import type { ObjectAddress } from '../contracts';
import type { Destination, ObjectWriter } from './destination';

/** The ItemReader bucket a local folder's addresses carry. */
const LOCAL_BUCKET = 'file';

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
      async write(chunk) {
        const s = await open();
        bytes += chunk.byteLength;
        // The stream writes later; the caller may reuse its buffer as soon as this resolves, so copy.
        if (!s.write(Buffer.from(chunk))) await drained(s);
      },
      async close() {
        const s = await open();
        await new Promise<void>((ok, fail) => s.end((error?: Error | null) => (error ? fail(error) : ok())));
        await rename(temp, target);
        return bytes;
      },
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
    await writeFile(temp, body);
    await rename(temp, target);
  }

  async putIfAbsent(key: string, body: string | Uint8Array): Promise<boolean> {
    const target = this.location(key);
    await mkdir(dirname(target), { recursive: true });
    const temp = `${target}.tmp-${randomBytes(4).toString('hex')}`;
    await writeFile(temp, body);
    try {
      await link(temp, target);
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw error;
    } finally {
      await unlink(temp).catch(() => {});
    }
  }

  async get(key: string): Promise<Buffer | null> {
    try {
      return await readFile(this.location(key));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
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
        else if (key.startsWith(prefix) && !/\.tmp-[0-9a-f]{8}$/.test(key)) keys.push(key);
      }
    };
    await walk(base ? join(this.root, ...base.split('/')) : this.root, base);
    return keys.sort();
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
