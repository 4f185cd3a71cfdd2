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
import { parquetMetadataAsync, parquetRead, type FileMetaData } from 'hyparquet';
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

/** Bytes read from a file's end to find its footer in one read, usually. */
const FOOTER_FETCH = 64 * 1024;

/** One row group of a data file: its rows' positions, the statistics of a column, and its rows' columns. */
interface RowGroup {
  rowStart: number;
  rowEnd: number;
  /** A column's chunk min and max, in the forms `PARSERS` reads values in; null when the footer has none. */
  range(column: string): { min: unknown; max: unknown } | null;
  /** The group's values of `columns`, one array per column, one value per row (the row at `rowStart + i`). */
  columns(columns: string[]): Promise<unknown[][]>;
}

/**
 * A data file a row group at a time (a part holds up to ~1 GiB: read whole, its column would be millions of JS
 * values at once), each read by ranges of the file, only the columns asked for, as columns (no object per row).
 */
async function* rowGroupsOf(destination: Destination, key: string, byteLength: number): AsyncGenerator<RowGroup> {
  const buffer = objectBuffer(destination, key, byteLength);
  // The footer is read from the file's last 64 KiB (a second read when it is larger): hyparquet's default, 512 KiB,
  // would read much of a small part's key column again just to find its footer.
  const metadata: FileMetaData = await parquetMetadataAsync(buffer, { parsers: PARSERS, initialFetchSize: FOOTER_FETCH } as never);
  let rowStart = 0;
  for (const group of metadata.row_groups) {
    const start = rowStart;
    const rowEnd = start + Number(group.num_rows);
    yield {
      rowStart: start,
      rowEnd,
      range: (column) => {
        const stats = group.columns.find((c) => c.meta_data?.path_in_schema.length === 1 && c.meta_data.path_in_schema[0] === column)?.meta_data?.statistics;
        if (!stats || stats.min_value === undefined || stats.max_value === undefined || stats.is_min_value_exact === false || stats.is_max_value_exact === false) return null;
        return { min: stats.min_value, max: stats.max_value };
      },
      columns: async (names) => {
        const values = names.map(() => new Array<unknown>(rowEnd - start));
        const index = new Map(names.map((n, i) => [n, i]));
        await parquetRead({
          file: buffer,
          metadata,
          columns: names,
          parsers: PARSERS,
          compressors: READ_COMPRESSORS,
          rowStart: start,
          rowEnd,
          onChunk: ({ columnName, columnData, rowStart: at }: { columnName: string; columnData: ArrayLike<unknown>; rowStart: number }) => {
            const column = values[index.get(columnName)!];
            for (let r = 0; r < columnData.length; r++) column[at - start + r] = columnData[r];
          },
        } as never);
        return values;
      },
    };
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
  const cursorName = parquetColumnName(identity.cursor.name);
  const firstName = keyColumns[0];
  // A key's identity as text: a single column's text, or the JSON of the texts (no two keys share it, whatever
  // their strings hold).
  const keyText = keyColumns.length === 1 ? (values: unknown[]) => text(values[0]) : (values: unknown[]) => JSON.stringify(values.map(text));
  const describeKey = (values: unknown[]) => identity.key.map((f, i) => `${f.name}=${text(values[i])}`).join(', ');
  // Statistics are compared with values where hyparquet's values and the bounds compare alike (FILTERABLE):
  // not strings, whose UTF-16 order disagrees with Parquet's byte order beyond U+FFFF.
  const keyOrdered = FILTERABLE.has(type);
  const cursorOrdered = FILTERABLE.has(scalarType(identity.cursor, env.table));
  const outside = (v: unknown, range: { min: unknown; max: unknown } | null) =>
    range !== null && v !== null && v !== undefined && typeof v === typeof range.min && typeof v === typeof range.max && ((v as number) < (range.min as number) || (v as number) > (range.max as number));
  const missesWindow = (range: { min: unknown; max: unknown } | null) =>
    window !== null && keyOrdered && range !== null && typeof range.min === typeof window.lower && ((range.max as number) < (window.lower as number) || (range.min as number) > (window.upper as number));

  // The run's keys and cursor values: what changed, few beside the table.
  const incoming = new Map<string, unknown>();
  for (const file of added) {
    for await (const group of rowGroupsOf(env.destination, env.keyOf(file.file_path), file.file_size_in_bytes)) {
      const [cursors, ...keys] = await group.columns([cursorName, ...keyColumns]);
      for (let i = 0; i < cursors.length; i++) incoming.set(keyText(keys.map((c) => c[i])), cursors[i]);
    }
  }
  const holder = new Map<string, string>();
  for (const file of files) {
    const gone = await deleted(file.file_path);
    const positions: number[] = [];
    const missing: number[] = [];
    const fileMeets = added.length > 0 && candidate(file);
    for await (const group of rowGroupsOf(env.destination, env.keyOf(file.file_path), file.file_size_in_bytes)) {
      // A row group whose key range misses the run's window holds none of its keys.
      const meets = fileMeets && !missesWindow(group.range(firstName));
      if (!meets && !source) continue;
      // The key columns first; the cursor column only of a row group where it can tell a row read again (the
      // same cursor value) from a changed one: not where the run's value lies outside the group's cursor range.
      const keys = await group.columns(keyColumns);
      const matched: { position: number; cursor: unknown }[] = [];
      for (let i = 0; i < keys[0].length; i++) {
        const position = group.rowStart + i;
        if (gone.has(position)) continue;
        if (found.gone) found.gone.tableRows++;
        const values = keys.length === 1 ? [keys[0][i]] : keys.map((c) => c[i]);
        const key = meets ? keyText(values) : '';
        if (!meets || !incoming.has(key)) {
          if (source && !source.has(values)) missing.push(position);
          continue;
        }
        const other = holder.get(key);
        if (other !== undefined) {
          throw new CommitError(`table ${env.table}: the Iceberg table holds the row with key ${describeKey(values)} twice (in ${other} and ${file.file_path}); nothing committed: run it --full`);
        }
        holder.set(key, file.file_path);
        positions.push(position);
        matched.push({ position, cursor: incoming.get(key) });
      }
      if (matched.length === 0) continue;
      const range = cursorOrdered ? group.range(cursorName) : null;
      const undecided = matched.filter((m) => !outside(m.cursor, range));
      found.changed += matched.length - undecided.length;
      if (undecided.length === 0) continue;
      const [cursors] = await group.columns([cursorName]);
      for (const m of undecided) {
        if (text(m.cursor) === text(cursors[m.position - group.rowStart])) found.reread++;
        else found.changed++;
      }
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
    for await (const group of rowGroupsOf(env.destination, env.keyOf(file.file_path), file.file_size_in_bytes)) {
      const [paths, poss] = (await group.columns(['file_path', 'pos'])) as [string[], (bigint | number)[]];
      for (let i = 0; i < paths.length; i++) {
        const path = paths[i];
        const pos = poss[i];
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
