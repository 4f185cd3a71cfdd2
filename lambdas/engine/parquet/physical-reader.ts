/**
 * A Parquet file read back as the physical values it stores, a row group at a time: what an exact rewrite of
 * the file needs (lambdas/engine/iceberg/compact-table.ts). hyparquet converts annotated values into JS forms
 * that lose information (a DECIMAL becomes a double, a TIMESTAMP_MICROS a millisecond Date), so the leaves are
 * read against a copy of the schema with their annotations taken off: INT32 as numbers, INT64 as bigints,
 * FLOAT and DOUBLE as numbers, BOOLEAN as booleans, BYTE_ARRAY and FIXED_LEN_BYTE_ARRAY as their bytes. Group
 * elements keep theirs (a LIST is assembled into arrays by its annotation). The file's own schema, with every
 * annotation and field id, is what `columns` answers, for the writer of the rewritten file.
 */
import { parquetMetadataAsync, parquetRead, type CompressionCodec, type FileMetaData, type SchemaElement } from 'hyparquet';
import type { Destination } from '../destinations/destination';
import { InternalError } from '../errors';
import { objectBuffer, READ_COMPRESSORS } from './object-reader';

export interface PhysicalFile {
  /** The file's top-level columns, each as its schema elements (root excluded): one leaf, or a group and its children. */
  readonly columns: SchemaElement[][];
  /** The footer's key/value metadata. */
  readonly keyValue: Record<string, string>;
  /** Rows of each row group, in file order. */
  readonly rowGroups: number[];
  /** The codec of the file's first column chunk (null for a file without one). */
  readonly codec: CompressionCodec | null;
  /**
   * One row group's values, per column one per row: a physical value, null for a NULL, or for a LIST column
   * an array of its elements' physical values (null for a NULL element).
   */
  readRowGroup(index: number): Promise<unknown[][]>;
}

/** The file's schema split into its top-level columns. */
function topLevelColumns(schema: SchemaElement[]): SchemaElement[][] {
  const columns: SchemaElement[][] = [];
  let i = 1;
  const subtree = (): number => {
    const start = i++;
    for (let c = 0; c < (schema[start].num_children ?? 0); c++) subtree();
    return start;
  };
  while (i < schema.length) {
    const start = subtree();
    columns.push(schema.slice(start, i));
  }
  return columns;
}

export async function openPhysicalFile(destination: Destination, key: string, byteLength: number): Promise<PhysicalFile> {
  const file = objectBuffer(destination, key, byteLength);
  const metadata: FileMetaData = await parquetMetadataAsync(file);
  const stripped: FileMetaData = {
    ...metadata,
    schema: metadata.schema.map((e) => (e.num_children ? e : { ...e, converted_type: undefined, logical_type: undefined })),
  };
  const columns = topLevelColumns(metadata.schema);
  const rowGroups = metadata.row_groups.map((g) => Number(g.num_rows));
  const starts: number[] = [];
  rowGroups.reduce((start, rows) => (starts.push(start), start + rows), 0);
  return {
    columns,
    keyValue: Object.fromEntries((metadata.key_value_metadata ?? []).map((kv) => [kv.key, kv.value ?? ''])),
    rowGroups,
    codec: metadata.row_groups[0]?.columns[0]?.meta_data?.codec ?? null,
    async readRowGroup(index: number): Promise<unknown[][]> {
      const rows = rowGroups[index];
      const start = starts[index];
      if (rows === undefined) throw new InternalError(`${key} has no row group ${index}`);
      const names = columns.map((c) => c[0].name);
      const values = names.map(() => new Array<unknown>(rows).fill(null));
      const position = new Map(names.map((n, i) => [n, i]));
      const filled = names.map(() => 0);
      await parquetRead({
        file,
        metadata: stripped,
        rowStart: start,
        rowEnd: start + rows,
        utf8: false,
        compressors: READ_COMPRESSORS,
        onChunk: ({ columnName, columnData, rowStart }) => {
          const i = position.get(columnName);
          if (i === undefined) throw new InternalError(`${key}: hyparquet answered column ${columnName}, which the schema does not have`);
          const column = values[i];
          for (let r = 0; r < columnData.length; r++) column[rowStart - start + r] = nullForUndefined(columnData[r]);
          filled[i] += columnData.length;
        },
      });
      const short = filled.findIndex((n) => n !== rows);
      if (short >= 0) throw new InternalError(`${key}, row group ${index}: column ${names[short]} read ${filled[short]} values of ${rows}`);
      return values;
    },
  };
}

/** hyparquet answers a NULL as undefined (a NULL list, a NULL element) or null: one form. */
function nullForUndefined(value: unknown): unknown {
  if (value === undefined) return null;
  if (Array.isArray(value)) return value.map(nullForUndefined);
  return value;
}
