/**
 * Where a run's files go: a local folder or an S3 prefix. Keys are `/`-separated and relative to the root.
 */
import type { ObjectAddress } from '../contracts';

export interface Destination {
  /** For people: `/abs/folder` or `s3://bucket/prefix`. */
  readonly root: string;
  /** Absolute location of a key, for people and for readers (`/abs/folder/key`, `s3://bucket/prefix/key`). */
  location(key: string): string;
  /**
   * The key as Step Functions' ItemReader names an object: bucket and full object key on S3; for a folder,
   * the placeholder bucket `file` and the file's absolute path (the local runner reads it back).
   */
  address(key: string): ObjectAddress;
  /** The key of an object this destination holds at `address`, or null when the address lies elsewhere. */
  keyAt(address: ObjectAddress): string | null;
  /**
   * Streams a new object. Nothing is visible under `key` until `close()` resolves (temp file + rename, or a
   * completed multipart upload); `abort()` leaves nothing behind.
   */
  createObject(key: string): ObjectWriter;
  /** Writes a whole small object, replacing any previous one. */
  put(key: string, body: string | Uint8Array): Promise<void>;
  /** Writes only if nothing exists under `key` (S3 `If-None-Match: *`, exclusive create); false if it did. */
  putIfAbsent(key: string, body: string | Uint8Array): Promise<boolean>;
  /** The object's bytes, or null when there is none. */
  get(key: string): Promise<Buffer | null>;
  /** Bytes [start, end) of an object that exists (a missing one is an error): Parquet is read by ranges. */
  getRange(key: string, start: number, end: number): Promise<Uint8Array>;
  /** The object's size in bytes, or null when there is none. */
  size(key: string): Promise<number | null>;
  /** Keys under a prefix (for sweeping and tests; readers use manifests, not listings). */
  list(prefix: string): Promise<string[]>;
  delete(keys: string[]): Promise<void>;
  /**
   * Removes what writes of a killed or interrupted process left under `prefix` and returns their keys: a
   * folder's temporary files. Absent where nothing unfinished is ever stored (S3: an upload that was not
   * completed is never an object, and the bucket's lifecycle rule aborts it).
   */
  removeUnfinished?(prefix: string): Promise<string[]>;
}

export interface ObjectWriter {
  /**
   * Resolves when the chunk is accepted; awaiting it is the backpressure. The writer keeps no reference to
   * `chunk` once the promise resolves: the caller may overwrite it.
   */
  write(chunk: Uint8Array): Promise<void>;
  /** Completes the object and makes it visible; returns its size in bytes. */
  close(): Promise<number>;
  abort(): Promise<void>;
}
