/**
 * Where an Iceberg table's own files live. For tables by path and in Glue that is the table's folder under the
 * run's destination, and nothing changes. An S3 Tables table keeps them in the storage S3 Tables assigned it
 * (its warehouse location, docs/iceberg.md "Amazon S3 Tables"), while the run's documents (plans, shard
 * manifests, `_manifest.json`, `_latest.json`) stay under the destination: `TableStorageDestination` is the
 * run's destination with the table's files routed to that storage, so Export, Commit and retention write and
 * read them by the same keys as everywhere else.
 *
 * Routed to `<location>/<rest of the key>`: every key under the table folder `<dir>`
 * (lambdas/engine/run/layout.ts) but the run documents, and `<dir>` itself (the table's location). So the
 * run's data and delete files (`<dir>/run=<runId>/part-*.parquet`, `deletes-*.parquet`), its manifests and
 * manifest lists (`<dir>/metadata/...`), and files other writers put in the table (S3 Tables' compaction)
 * are all the table storage's. The run documents stay the destination's: `<dir>/_latest.json` and every
 * `<dir>/run=<runId>/_*` (`_plan.json`, `_manifest.json`, `_SUCCESS`, `_shards/`).
 *
 * The table storage answers no listing and takes no deletes (S3 Tables refuses both): `list` sees the run's
 * documents only, and `delete` leaves the table's files to the catalog's own removal of unreferenced files
 * (IcebergCatalog.filesRemovedBy), which never touches a file a snapshot references.
 */
import type { ObjectAddress, TablePlan } from '../contracts';
import type { Destination, ObjectWriter } from '../destinations/destination';
import { InputError } from '../errors';
import { tableDir } from '../run/layout';
import { objectUri, type IcebergCatalog, type IcebergTableRef } from './iceberg-catalog';

const RUN_DOCUMENT = /^(?:_[^/]*|run=[^/]+\/_.*)$/;

export class TableStorageDestination implements Destination {
  readonly root: string;

  constructor(
    private readonly base: Destination,
    /** The table folder whose files are routed. */
    private readonly dir: string,
    private readonly storage: Destination,
  ) {
    this.root = base.root;
  }

  /** The storage key of a routed key, or null for a key of the run's destination. */
  private routed(key: string): string | null {
    if (!key.startsWith(`${this.dir}/`)) return null;
    const rest = key.slice(this.dir.length + 1);
    return RUN_DOCUMENT.test(rest) ? null : rest;
  }

  location(key: string): string {
    if (key === this.dir) return this.storage.root;
    const r = this.routed(key);
    return r === null ? this.base.location(key) : this.storage.location(r);
  }

  address(key: string): ObjectAddress {
    const r = this.routed(key);
    return r === null ? this.base.address(key) : this.storage.address(r);
  }

  keyAt(address: ObjectAddress): string | null {
    const own = this.storage.keyAt(address);
    return own !== null && this.routed(`${this.dir}/${own}`) !== null ? `${this.dir}/${own}` : this.base.keyAt(address);
  }

  createObject(key: string): ObjectWriter {
    const r = this.routed(key);
    return r === null ? this.base.createObject(key) : this.storage.createObject(r);
  }

  put(key: string, body: string | Uint8Array): Promise<void> {
    const r = this.routed(key);
    return r === null ? this.base.put(key, body) : this.storage.put(r, body);
  }

  putIfAbsent(key: string, body: string | Uint8Array): Promise<boolean> {
    const r = this.routed(key);
    return r === null ? this.base.putIfAbsent(key, body) : this.storage.putIfAbsent(r, body);
  }

  get(key: string): Promise<Buffer | null> {
    const r = this.routed(key);
    return r === null ? this.base.get(key) : this.storage.get(r);
  }

  getRange(key: string, start: number, end: number): Promise<Uint8Array> {
    const r = this.routed(key);
    return r === null ? this.base.getRange(key, start, end) : this.storage.getRange(r, start, end);
  }

  size(key: string): Promise<number | null> {
    const r = this.routed(key);
    return r === null ? this.base.size(key) : this.storage.size(r);
  }

  list(prefix: string): Promise<string[]> {
    return this.base.list(prefix);
  }

  delete(keys: string[]): Promise<void> {
    return this.base.delete(keys.filter((k) => this.routed(k) === null));
  }

  removeUnfinished(prefix: string): Promise<string[]> {
    return this.base.removeUnfinished?.(prefix) ?? Promise.resolve([]);
  }
}

/**
 * The destination a table's run is written and committed through: the run's own, or for a table in a
 * catalog's storage, the run's with the table's files routed there. A plan whose table lives elsewhere than
 * this environment can reach (an Export deployed without the table bucket) is refused, never written beside.
 */
export function tableDestinationOf(env: { destination: Destination; icebergCatalog?: IcebergCatalog }, plan: TablePlan): Destination {
  if (plan.options.tableFormat !== 'iceberg' || !plan.iceberg) return env.destination;
  return tableDestinationAt(env, { table: plan.table, dir: tableDir(plan.schema, plan.name), location: plan.iceberg.location });
}

/** The same for a table known by its folder under the destination and its location (`pgsip compact`). */
export function tableDestinationAt(env: { destination: Destination; icebergCatalog?: IcebergCatalog }, ref: Pick<IcebergTableRef, 'table' | 'dir' | 'location'>): Destination {
  if (ref.location === objectUri(env.destination, ref.dir)) return env.destination;
  const storage = env.icebergCatalog?.tableFiles?.(ref.location);
  if (!storage) {
    throw new InputError(
      `table ${ref.table}: its Iceberg table is kept at ${ref.location}, outside ${env.destination.root}, and no table bucket is configured here to reach it (pgsip --table-bucket, the stack's tableBucketArn)`,
    );
  }
  return new TableStorageDestination(env.destination, ref.dir, storage);
}
