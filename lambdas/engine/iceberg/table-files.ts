/**
 * A table's files name each other by absolute URI (the spec wants a scheme on every path); pgsip reads and
 * writes them by destination key. Only files inside the table's location are pgsip's to read or delete.
 */
import type { Destination } from '../destinations/destination';
import { CommitError } from '../errors';
import { objectUri, type IcebergTableRef } from './iceberg-catalog';

/** Turns a URI inside the table's location back into its destination key; refuses any other. */
export function tableKeyResolver(destination: Destination, ref: Pick<IcebergTableRef, 'dir' | 'table'>): (uri: string) => string {
  const tableRoot = objectUri(destination, ref.dir);
  return (uri: string): string => {
    if (!uri.startsWith(`${tableRoot}/`)) throw new CommitError(`${uri} lies outside table ${ref.table}'s location ${tableRoot}`);
    // A file:// URI is percent-encoded; an s3:// one is the key as it is (a `%` in it is a `%`).
    const rest = uri.slice(tableRoot.length + 1);
    return `${ref.dir}/${uri.startsWith('file:') ? decodeURIComponent(rest) : rest}`;
  };
}

/** A file the table's metadata names, whole; its absence is an error naming it. */
export async function readTableFile(destination: Destination, uri: string, keyOf: (uri: string) => string): Promise<Uint8Array> {
  const bytes = await destination.get(keyOf(uri));
  if (!bytes) throw new CommitError(`${uri} is missing: the Iceberg table's metadata names a file that is not there`);
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
