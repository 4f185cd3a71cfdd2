/**
 * A destination that counts the bytes read through it (whole objects and ranges): what a run reads from the
 * lake, for the incremental row of `pgsip bench` (incremental-run.ts).
 */
import type { ObjectAddress } from '../../../lambdas/engine/contracts';
import type { Destination, ObjectWriter } from '../../../lambdas/engine/destinations/destination';

export class CountingDestination implements Destination {
  bytesRead = 0;

  constructor(private readonly inner: Destination) {}

  get root(): string {
    return this.inner.root;
  }

  location(key: string): string {
    return this.inner.location(key);
  }

  address(key: string): ObjectAddress {
    return this.inner.address(key);
  }

  keyAt(address: ObjectAddress): string | null {
    return this.inner.keyAt(address);
  }

  createObject(key: string): ObjectWriter {
    return this.inner.createObject(key);
  }

  put(key: string, body: string | Uint8Array): Promise<void> {
    return this.inner.put(key, body);
  }

  putIfAbsent(key: string, body: string | Uint8Array): Promise<boolean> {
    return this.inner.putIfAbsent(key, body);
  }

  async get(key: string): Promise<Buffer | null> {
    const bytes = await this.inner.get(key);
    this.bytesRead += bytes?.length ?? 0;
    return bytes;
  }

  async getRange(key: string, start: number, end: number): Promise<Uint8Array> {
    const bytes = await this.inner.getRange(key, start, end);
    this.bytesRead += bytes.length;
    return bytes;
  }

  size(key: string): Promise<number | null> {
    return this.inner.size(key);
  }

  list(prefix: string): Promise<string[]> {
    return this.inner.list(prefix);
  }

  delete(keys: string[]): Promise<void> {
    return this.inner.delete(keys);
  }

  removeUnfinished(prefix: string): Promise<string[]> {
    return this.inner.removeUnfinished?.(prefix) ?? Promise.resolve([]);
  }
}
