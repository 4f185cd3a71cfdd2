/**
 * The rows an incremental run read again. Its watermark is where the newest reading older than every
 * transaction open at the last run's snapshot stood (lambdas/engine/incremental/watermark.ts), so it re-reads
 * some rows the table already holds, to be sure of the ones committed out of order. Before the run's files
 * join the Iceberg table, those rows are found and deleted from the run's own files (position deletes in the
 * same snapshot), so no primary key is in the table twice.
 *
 * Found cheaply: only files whose key bounds (the manifests' statistics) overlap can share a key, and of
 * those only the row groups whose statistics overlap are read, the key and cursor columns only
 * (hyparquet, by ranges of the file). A re-read row has the same cursor value as the row the table holds; a
 * key whose cursor moved is a row updated since the last run, which an Iceberg table takes only as an upsert
 * (not built yet): refused, naming the key, never kept twice or dropped.
 */
import { parquetMetadataAsync, parquetReadObjects, rowIndex, type AsyncBuffer, type FileMetaData } from 'hyparquet';
import * as zlib from 'node:zlib';
import type { Destination } from '../destinations/destination';
import { CommitError, InternalError } from '../errors';
import { parquetColumnName } from './iceberg-schema';
import type { DataFile, IcebergField, IcebergPrimitive } from './model';
import { compareValues, deserializeValue, type IcebergValue } from './single-value';

/** The columns a re-read row is recognized by. */
export interface RowIdentity {
  /** The table's primary key, in key order. */
  key: IcebergField[];
  /** The incremental cursor: equal in both rows for a row read again. */
  cursor: IcebergField;
}

/** Positions to delete, by the URI of the run's data file they are in (sorted, as position deletes are). */
export type RereadPositions = Map<string, number[]>;

/** Exact JS forms of what hyparquet reads, so that equal values compare equal as text. */
const PARSERS = {
  timestampFromMilliseconds: (v: bigint) => v,
  timestampFromMicroseconds: (v: bigint) => v,
  timestampFromNanoseconds: (v: bigint) => v,
  dateFromDays: (d: number) => d,
  stringFromBytes: (b: Uint8Array | undefined) => (b === undefined ? undefined : Buffer.from(b).toString('utf8')),
};

/** What the file's own codec needs that hyparquet does not carry (SNAPPY it does). */
const COMPRESSORS = {
  ZSTD: (input: Uint8Array, outputLength: number) => {
    // Typed loosely: @types/node 20 does not know node:zlib's zstd (Node >= 22.15, every Lambda runtime pgsip deploys).
    const decompress = (zlib as unknown as { zstdDecompressSync?: (input: Uint8Array, options?: { maxOutputLength?: number }) => Buffer }).zstdDecompressSync;
    if (!decompress) throw new InternalError('reading ZSTD Parquet needs Node >= 22.15 (node:zlib zstd)');
    return new Uint8Array(decompress(input, { maxOutputLength: outputLength }));
  },
};

function scalarType(field: IcebergField, table: string): IcebergPrimitive {
  if (typeof field.type !== 'string') throw new CommitError(`table ${table}: the key column "${field.name}" is a list`);
  const decimal = /^decimal\((\d+), \d+\)$/.exec(field.type);
  // hyparquet reads decimals as JS numbers: exact to 15 digits only.
  if (decimal && Number(decimal[1]) > 15) {
    throw new CommitError(`table ${table}: incremental runs of Iceberg tables keyed or cursored on "${field.name}" (${field.type}) are not built yet: more than 15 digits`);
  }
  return field.type;
}

const text = (v: unknown): string => (v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v === null || v === undefined ? '\u0000null' : String(v));

/** A destination object as hyparquet's AsyncBuffer: read by ranges. */
function asyncBuffer(destination: Destination, key: string, byteLength: number): AsyncBuffer {
  return {
    byteLength,
    slice: async (start: number, end?: number) => {
      const bytes = await destination.getRange(key, start, end ?? byteLength);
      return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
    },
  };
}

interface Bounds {
  lower: IcebergValue;
  upper: IcebergValue;
}

function keyBounds(file: DataFile, field: IcebergField, type: IcebergPrimitive): Bounds | null {
  const lower = file.lower_bounds.get(field.id);
  const upper = file.upper_bounds.get(field.id);
  if (!lower || !upper) return null;
  return { lower: deserializeValue(type, lower), upper: deserializeValue(type, upper) };
}

/**
 * The rows of `added` (the run's files) whose primary key `existing` (the table's live data files) already
 * holds. `keyOf` turns a file's URI into its destination key.
 */
export async function rereadRows(
  added: DataFile[],
  existing: DataFile[],
  identity: RowIdentity,
  env: { destination: Destination; keyOf: (uri: string) => string; table: string },
): Promise<RereadPositions> {
  const found: RereadPositions = new Map();
  const first = identity.key[0];
  if (!first) return found;
  const type = scalarType(first, env.table);
  for (const f of [...identity.key, identity.cursor]) scalarType(f, env.table);
  const overlaps = (a: Bounds | null, b: Bounds | null) =>
    a === null || b === null || (compareValues(type, a.lower, b.upper) <= 0 && compareValues(type, b.lower, a.upper) <= 0);
  const addedBounds = new Map(added.map((f) => [f.file_path, keyBounds(f, first, type)]));
  const candidates = existing.filter((e) => added.some((a) => overlaps(keyBounds(e, first, type), addedBounds.get(a.file_path)!)));
  if (candidates.length === 0) return found;
  // The window where both hold keys: rows outside it cannot meet.
  const window = candidates.map((c) => keyBounds(c, first, type)).reduce<Bounds | null>((w, b) => {
    if (w === null || b === null) return null;
    return { lower: compareValues(type, b.lower, w.lower) < 0 ? b.lower : w.lower, upper: compareValues(type, b.upper, w.upper) > 0 ? b.upper : w.upper };
  }, keyBounds(candidates[0], first, type));

  const columns = [...identity.key, identity.cursor].map((f) => parquetColumnName(f.name));
  const keyText = (row: Record<string, unknown>) => identity.key.map((f) => text(row[parquetColumnName(f.name)])).join('\u0001');
  const cursorName = parquetColumnName(identity.cursor.name);
  const firstName = parquetColumnName(first.name);
  const read = async (file: DataFile): Promise<Record<string, unknown>[]> => {
    const key = env.keyOf(file.file_path);
    const buffer = asyncBuffer(env.destination, key, file.file_size_in_bytes);
    const metadata: FileMetaData = await parquetMetadataAsync(buffer);
    // Row groups whose key statistics miss the window are skipped by hyparquet; rows outside it are dropped.
    // Only where hyparquet's values and the bounds compare alike (not binary, not decimal).
    const filter = window && FILTERABLE.has(type) ? { [firstName]: { $gte: window.lower, $lte: window.upper } } : undefined;
    return parquetReadObjects({ file: buffer, metadata, columns, parsers: PARSERS, compressors: COMPRESSORS, includeRowIndex: true, ...(filter ? { filter } : {}) } as never);
  };

  const held = new Map<string, string>();
  for (const file of candidates) for (const row of await read(file)) held.set(keyText(row), text(row[cursorName]));
  for (const file of added) {
    if (!overlaps(addedBounds.get(file.file_path) ?? null, window)) continue;
    const positions: number[] = [];
    for (const row of await read(file)) {
      const cursor = held.get(keyText(row));
      if (cursor === undefined) continue;
      if (cursor !== text(row[cursorName])) {
        throw new CommitError(
          `table ${env.table}: the row with key ${identity.key.map((f) => `${f.name}=${text(row[parquetColumnName(f.name)])}`).join(', ')} changed since the table's last run (its ${identity.cursor.name} was ${cursor}, is ${text(row[cursorName])}); Iceberg tables take incremental runs of append-only tables until upserts are built (docs/limitations.md): run it --full`,
        );
      }
      positions.push((row as Record<symbol, number>)[rowIndex]);
    }
    if (positions.length > 0) found.set(file.file_path, positions.sort((a, b) => a - b));
  }
  return found;
}

/** Key types whose bounds, deserialized, are what hyparquet reads (numbers, bigints, strings). */
const FILTERABLE = new Set<IcebergPrimitive>(['int', 'long', 'date', 'timestamp', 'timestamptz', 'string']);
