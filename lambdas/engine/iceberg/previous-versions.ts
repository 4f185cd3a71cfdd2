/**
 * The rows of the table an incremental run replaces: an upsert. Each row the run read whose primary key the
 * table already holds is a newer version of that row (the run read a later snapshot than anything committed:
 * commit-table.ts commits runs in the order they were planned), so the row the table holds is deleted by
 * position in the same snapshot and the run's row stays: no key is in the table twice, and the table equals
 * the source as the run read it. Two kinds, counted apart: a row read again because the watermark is
 * inclusive and stands before transactions open at the last run (the same cursor value;
 * lambdas/engine/incremental/watermark.ts), and a row changed since (its cursor moved).
 *
 * Found without a full read of the table: only data files whose key bounds (the manifests' statistics)
 * overlap the run's can hold one of its keys, and of those only the row groups whose statistics overlap are
 * read, the key and cursor columns only (hyparquet, by ranges of the file). Rows the table's position delete
 * files already delete are not the table's any more and are passed over.
 */
import { parquetMetadataAsync, parquetReadObjects, rowIndex, type FileMetaData } from 'hyparquet';
import type { Destination } from '../destinations/destination';
import { CommitError } from '../errors';
import { objectBuffer, READ_COMPRESSORS } from '../parquet/object-reader';
import { parquetColumnName } from './iceberg-schema';
import type { DataFile, IcebergField, IcebergPrimitive } from './model';
import type { KeySet } from '../incremental/keyset';
import { compareValues, deserializeValue, type IcebergValue } from './single-value';

/** The columns a re-read row is recognized by. */
export interface RowIdentity {
  /** The table's primary key, in key order. */
  key: IcebergField[];
  /** The incremental cursor: equal in both rows for a row read again. */
  cursor: IcebergField;
}

/** Positions to delete, by the URI of the data file they are in (sorted, as position deletes are). */
export type RereadPositions = Map<string, number[]>;

/** Exact JS forms of what hyparquet reads, so that equal values compare equal as text. */
const PARSERS = {
  timestampFromMilliseconds: (v: bigint) => v,
  timestampFromMicroseconds: (v: bigint) => v,
  timestampFromNanoseconds: (v: bigint) => v,
  dateFromDays: (d: number) => d,
  stringFromBytes: (b: Uint8Array | undefined) => (b === undefined ? undefined : Buffer.from(b).toString('utf8')),
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

/**
 * The rows of a data file's `columns`, a row group at a time (a part holds up to ~1 GiB: read whole, its
 * column would be millions of JS objects at once), each with its position in the file (`rowIndex`).
 */
async function* rowGroupsOf(destination: Destination, key: string, byteLength: number, columns: string[], filter?: object): AsyncGenerator<Record<string, unknown>[]> {
  const buffer = objectBuffer(destination, key, byteLength);
  const metadata: FileMetaData = await parquetMetadataAsync(buffer);
  let rowStart = 0;
  for (const group of metadata.row_groups) {
    const rowEnd = rowStart + Number(group.num_rows);
    yield (await parquetReadObjects({ file: buffer, metadata, columns, parsers: PARSERS, compressors: READ_COMPRESSORS, includeRowIndex: true, rowStart, rowEnd, ...(filter ? { filter } : {}) } as never)) as Record<string, unknown>[];
    rowStart = rowEnd;
  }
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

/** Positions to delete in the table's files, by file URI, and what they are. */
export interface PreviousVersions {
  /** The rows the run's rows replace. */
  positions: RereadPositions;
  /** Rows read again (the same cursor value) and rows changed since the table's last run (a moved cursor). */
  reread: number;
  changed: number;
  /** With a source keyset: the rows whose key the source no longer holds. */
  gone?: GoneRows;
}

/** Rows of the table whose key the source no longer holds (`deletes: "keyset"`), and how many rows it had. */
export interface GoneRows {
  positions: RereadPositions;
  rows: number;
  /** The table's live rows before the run: what the share of deleted rows is of. */
  tableRows: number;
}

/**
 * The rows of `existing` (the table's live data files, less the positions `deleted` names for a file) whose
 * primary key one of `added` (the run's files) holds. `keyOf` turns a file's URI into its destination key.
 *
 * With `source` (`deletes: "keyset"`: the run's keyset lines, lambdas/engine/incremental/keyset.ts), the same
 * pass also finds the live rows whose key is not among the source's: every live file's key columns are then
 * read (a key that is gone leaves no trace in the run, so no statistic narrows it), each file once, the cursor
 * column only of the files that can hold one of the run's keys.
 */
export async function previousVersions(
  added: DataFile[],
  existing: DataFile[],
  deleted: (file: string) => Promise<Set<number>>,
  identity: RowIdentity,
  env: { destination: Destination; keyOf: (uri: string) => string; table: string },
  source?: KeySet,
): Promise<PreviousVersions> {
  const found: PreviousVersions = { positions: new Map(), reread: 0, changed: 0, ...(source ? { gone: { positions: new Map(), rows: 0, tableRows: 0 } } : {}) };
  const first = identity.key[0];
  if (!first || (added.length === 0 && !source)) return found;
  const type = scalarType(first, env.table);
  for (const f of [...identity.key, identity.cursor]) scalarType(f, env.table);
  const overlaps = (a: Bounds | null, b: Bounds | null) =>
    a === null || b === null || (compareValues(type, a.lower, b.upper) <= 0 && compareValues(type, b.lower, a.upper) <= 0);
  const addedBounds = added.map((f) => keyBounds(f, first, type));
  // The window where the run holds keys: rows of the table outside it cannot meet.
  const window = addedBounds.reduce<Bounds | null>((w, b) => {
    if (w === null || b === null) return null;
    return { lower: compareValues(type, b.lower, w.lower) < 0 ? b.lower : w.lower, upper: compareValues(type, b.upper, w.upper) > 0 ? b.upper : w.upper };
  }, addedBounds[0] ?? null);
  const candidate = (e: DataFile) => addedBounds.some((a) => overlaps(keyBounds(e, first, type), a));
  const files = source ? existing : existing.filter(candidate);
  if (files.length === 0) return found;

  const keyColumns = identity.key.map((f) => parquetColumnName(f.name));
  const columns = [...keyColumns, parquetColumnName(identity.cursor.name)];
  // JSON of the texts: no two keys share it, whatever their strings hold.
  const keyText = (row: Record<string, unknown>) => JSON.stringify(identity.key.map((f) => text(row[parquetColumnName(f.name)])));
  const describeKey = (row: Record<string, unknown>) => identity.key.map((f) => `${f.name}=${text(row[parquetColumnName(f.name)])}`).join(', ');
  const cursorName = parquetColumnName(identity.cursor.name);
  const firstName = parquetColumnName(first.name);
  // Row groups whose key statistics miss the window are skipped by hyparquet; rows outside it are dropped.
  // Only where hyparquet's values and the bounds compare alike (FILTERABLE), and never when every row is
  // wanted (a keyset).
  const filter = window && !source && FILTERABLE.has(type) ? { [firstName]: { $gte: window.lower, $lte: window.upper } } : undefined;
  const read = (file: DataFile, wanted: string[]) => rowGroupsOf(env.destination, env.keyOf(file.file_path), file.file_size_in_bytes, wanted, filter);

  // The run's keys and cursor values: what changed, few beside the table.
  const incoming = new Map<string, string>();
  for (const file of added) for await (const rows of read(file, columns)) for (const row of rows) incoming.set(keyText(row), text(row[cursorName]));
  const holder = new Map<string, string>();
  for (const file of files) {
    const gone = await deleted(file.file_path);
    const positions: number[] = [];
    const missing: number[] = [];
    const meets = added.length > 0 && candidate(file);
    for await (const rows of read(file, meets ? columns : keyColumns)) for (const row of rows) {
      const position = (row as Record<symbol, number>)[rowIndex];
      if (gone.has(position)) continue;
      if (found.gone) found.gone.tableRows++;
      const key = meets ? keyText(row) : '';
      const cursor = meets ? incoming.get(key) : undefined;
      if (cursor === undefined) {
        if (source && !source.has(keyColumns.map((c) => row[c]))) missing.push(position);
        continue;
      }
      const other = holder.get(key);
      if (other !== undefined) {
        throw new CommitError(`table ${env.table}: the Iceberg table holds the row with key ${describeKey(row)} twice (in ${other} and ${file.file_path}); nothing committed: run it --full`);
      }
      holder.set(key, file.file_path);
      positions.push(position);
      if (cursor === text(row[cursorName])) found.reread++;
      else found.changed++;
    }
    if (positions.length > 0) found.positions.set(file.file_path, positions.sort((a, b) => a - b));
    if (found.gone && missing.length > 0) {
      found.gone.positions.set(file.file_path, missing);
      found.gone.rows += missing.length;
    }
  }
  return found;
}

/**
 * The positions the table's position delete files delete, by data file URI: the rows that are no longer the
 * table's. Read whole (two columns: a path and a position per deleted row).
 */
export async function readDeletedPositions(files: DataFile[], env: { destination: Destination; keyOf: (uri: string) => string }): Promise<Map<string, Set<number>>> {
  const deleted = new Map<string, Set<number>>();
  for (const file of files) {
    for await (const rows of rowGroupsOf(env.destination, env.keyOf(file.file_path), file.file_size_in_bytes, ['file_path', 'pos'])) {
      for (const { file_path: path, pos } of rows as { file_path: string; pos: bigint | number }[]) {
        if (!deleted.has(path)) deleted.set(path, new Set());
        deleted.get(path)!.add(Number(pos));
      }
    }
  }
  return deleted;
}

/**
 * Key types whose bounds, deserialized, are what hyparquet reads and compares alike (numbers, bigints). Not
 * strings: Iceberg's bounds are in code-point order, hyparquet's filter compares UTF-16 units, and the two
 * disagree beyond U+FFFF (a key would be filtered out and its old version kept).
 */
const FILTERABLE = new Set<IcebergPrimitive>(['int', 'long', 'date', 'timestamp', 'timestamptz']);
