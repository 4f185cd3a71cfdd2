/**
 * The column metrics of an Iceberg data file (`column_sizes`, `value_counts`, `null_value_counts`,
 * `nan_value_counts`, `lower_bounds`, `upper_bounds`) and its `split_offsets`, from the footer of the Parquet
 * part pgsip just wrote (PartWriter.footer), the way Iceberg Java's ParquetMetrics derives them from a footer:
 *
 * - column_sizes: Σ `total_compressed_size` of the leaf's chunks, keyed by the leaf's field id (a LIST
 *   column's is its element id).
 * - Leaves outside lists only: LIST columns get no other metric (Java: "remove lower and upper bounds for
 *   repeated fields").
 * - value_counts: Σ `num_values` (NULLs and NaNs included). null_value_counts: Σ `null_count`, and
 *   nan_value_counts (float, double): Σ `nan_count`, each only when every chunk has it.
 * - Bounds: the least chunk min and the greatest chunk max, in Iceberg's order, converted from the Parquet
 *   physical value to the Iceberg type and serialized (single-value.ts). None when every value is NULL or NaN,
 *   and none when a chunk that holds values has no bound (the writer kept none): a bound must enclose every
 *   value of the file. A NaN bound (other writers) drops both, as in Java.
 * - Signed zeros: Parquet lets a writer write a zero min as +0 while the chunk holds -0 (and a zero max as
 *   -0); the lower bound of a zero min is therefore -0 and the upper bound of a zero max +0, so that both
 *   hold in Iceberg's order (-0 < +0).
 * - Inexact (truncated) byte-array bounds: a cut min is a prefix of the least value, a valid lower bound.
 *   Parquet requires a `max_value` to be >= every value even when inexact, and both truncations that write
 *   pgsip's parts round the max up (flat-chunk-writer.ts `truncatedBounds` increments the last ASCII
 *   character of the prefix, or keeps no max; hyparquet-writer increments the last code point or byte), so an
 *   inexact max is a valid upper bound as well.
 * - Then Java's default metrics mode, truncate(16): string bounds to 16 code points and binary to 16 bytes,
 *   the upper one rounded up (no upper bound when it cannot be).
 */
import { InternalError } from '../errors';
import type { PartFooterFacts, ColumnChunkFacts } from '../parquet/part-writer';
import type { DataFileMetrics, IcebergField, IcebergPrimitive, IcebergType } from './model';
import { compareValues, decimalShape, serializeValue, twosComplementValue, type IcebergValue } from './single-value';

/** One column of the file: its Iceberg field id and type, and the index of its leaf among a row group's chunks. */
export interface MetricsColumn {
  fieldId: number;
  type: IcebergType;
  leafIndex: number;
}

export interface MetricsOptions {
  /** Iceberg's `truncate(N)` metrics mode for string and binary bounds (Java's default: 16). */
  truncateLength?: number;
}

export const DEFAULT_TRUNCATE_LENGTH = 16;

/**
 * The metrics columns of a file written with one Parquet column per schema field, in the schema's order (how
 * pgsip writes parts: a primitive or a list of primitives has exactly one leaf).
 */
export function metricsColumnsOf(fields: IcebergField[]): MetricsColumn[] {
  return fields.map((field, leafIndex) => ({ fieldId: field.id, type: field.type, leafIndex }));
}

/** Field id of the leaf that stores a column: the column's own, or for a list its (innermost) element's. */
function leafFieldId(column: MetricsColumn): number {
  let type: IcebergType = column.type;
  let id = column.fieldId;
  while (typeof type !== 'string') {
    id = type['element-id'];
    type = type.element;
  }
  return id;
}

function dataView(bytes: Uint8Array, length: number, what: string): DataView {
  if (bytes.length !== length) throw new InternalError(`a ${what} statistic is ${length} bytes, got ${bytes.length}`);
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * The Iceberg value of a Parquet statistic (PLAIN encoding of the physical type), in the representation
 * single-value.ts takes for `type`: strings stay UTF-8 bytes.
 */
export function parquetStatisticValue(type: IcebergPrimitive, chunk: Pick<ColumnChunkFacts, 'physicalType' | 'path'>, bytes: Uint8Array): IcebergValue {
  const physical = chunk.physicalType;
  const mismatch = () => new InternalError(`column ${chunk.path.join('.')}: a Parquet ${physical} leaf cannot hold Iceberg ${type}`);
  const decimal = decimalShape(type);
  if (decimal) {
    switch (physical) {
      case 'INT32':
        return BigInt(dataView(bytes, 4, physical).getInt32(0, true));
      case 'INT64':
        return dataView(bytes, 8, physical).getBigInt64(0, true);
      case 'FIXED_LEN_BYTE_ARRAY':
      case 'BYTE_ARRAY':
        // Signed big-endian, the stored width (FIXED) or any (BYTE_ARRAY).
        if (bytes.length === 0) throw new InternalError(`column ${chunk.path.join('.')}: an empty DECIMAL statistic`);
        return twosComplementValue(bytes);
      default:
        throw mismatch();
    }
  }
  switch (type) {
    case 'boolean':
      if (physical !== 'BOOLEAN') throw mismatch();
      return dataView(bytes, 1, physical).getUint8(0) !== 0;
    case 'int':
    case 'date':
      if (physical !== 'INT32') throw mismatch();
      return dataView(bytes, 4, physical).getInt32(0, true);
    case 'long':
    case 'timestamp':
    case 'timestamptz':
      // Timestamps: pgsip writes TIMESTAMP(MICROS), Iceberg's unit. INT32 for a long promoted from int.
      if (physical === 'INT64') return dataView(bytes, 8, physical).getBigInt64(0, true);
      if (physical === 'INT32' && type === 'long') return BigInt(dataView(bytes, 4, physical).getInt32(0, true));
      throw mismatch();
    case 'float':
      if (physical !== 'FLOAT') throw mismatch();
      return dataView(bytes, 4, physical).getFloat32(0, true);
    case 'double':
      if (physical === 'DOUBLE') return dataView(bytes, 8, physical).getFloat64(0, true);
      if (physical === 'FLOAT') return dataView(bytes, 4, physical).getFloat32(0, true);
      throw mismatch();
    case 'string':
      if (physical !== 'BYTE_ARRAY') throw mismatch();
      return bytes;
    case 'binary':
      if (physical !== 'BYTE_ARRAY' && physical !== 'FIXED_LEN_BYTE_ARRAY') throw mismatch();
      return bytes;
  }
  throw mismatch();
}

/** Byte length of the UTF-8 sequence starting with `lead`. */
function sequenceLength(lead: number): number {
  return lead < 0x80 ? 1 : lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : 2;
}

/** Byte offsets where each of the first `limit + 1` code points of `bytes` starts (fewer if shorter). */
function codePointStarts(bytes: Uint8Array, limit: number): number[] {
  const starts: number[] = [];
  for (let at = 0; at < bytes.length && starts.length <= limit; at += sequenceLength(bytes[at])) starts.push(at);
  return starts;
}

function utf8Of(code: number): Uint8Array {
  return new TextEncoder().encode(String.fromCodePoint(code));
}

/** Java UnicodeUtil.truncateStringMin: the first `length` code points. */
function truncateStringMin(bytes: Uint8Array, length: number): Uint8Array {
  const starts = codePointStarts(bytes, length);
  return starts.length <= length ? bytes : bytes.slice(0, starts[length]);
}

/**
 * Java UnicodeUtil.truncateStringMax: the first `length` code points with the last one that can be
 * incremented incremented (surrogates skipped), the ones after it dropped; null when none can be.
 */
function truncateStringMax(bytes: Uint8Array, length: number): Uint8Array | null {
  const starts = codePointStarts(bytes, length);
  if (starts.length <= length) return bytes;
  for (let i = length - 1; i >= 0; i--) {
    const code = new TextDecoder().decode(bytes.subarray(starts[i], starts[i + 1])).codePointAt(0)!;
    if (code >= 0x10ffff) continue;
    const next = code === 0xd7ff ? 0xe000 : code + 1;
    const tail = utf8Of(next);
    const out = new Uint8Array(starts[i] + tail.length);
    out.set(bytes.subarray(0, starts[i]));
    out.set(tail, starts[i]);
    return out;
  }
  return null;
}

/** Java BinaryUtil.truncateBinaryMax: the first `length` bytes, the last one below 0xff incremented; null when none is. */
function truncateBinaryMax(bytes: Uint8Array, length: number): Uint8Array | null {
  if (bytes.length <= length) return bytes;
  for (let i = length - 1; i >= 0; i--) {
    if (bytes[i] === 0xff) continue;
    const out = bytes.slice(0, i + 1);
    out[i]++;
    return out;
  }
  return null;
}

function isNaNValue(v: IcebergValue | null): boolean {
  return typeof v === 'number' && v !== v;
}

/** Per-file metrics of one primitive leaf outside lists. */
function leafMetrics(column: MetricsColumn, type: IcebergPrimitive, chunks: ColumnChunkFacts[], truncateLength: number, out: DataFileMetrics): void {
  const id = column.fieldId;
  const floating = type === 'float' || type === 'double';
  let values = 0;
  let nulls: number | null = 0;
  let nans: number | null = floating ? 0 : null;
  let lower: IcebergValue | null = null;
  let upper: IcebergValue | null = null;
  let lowerKnown = true;
  let upperKnown = true;
  for (const chunk of chunks) {
    values += chunk.numValues;
    const stats = chunk.statistics;
    nulls = stats?.nullCount != null && nulls !== null ? nulls + stats.nullCount : null;
    if (floating) nans = stats?.nanCount != null && nans !== null ? nans + stats.nanCount : null;
    // Whether the chunk surely holds no value a bound must cover (every value NULL or NaN).
    const empty = stats?.nullCount != null && chunk.numValues - stats.nullCount - (stats.nanCount ?? 0) === 0;
    if (stats?.minValue) {
      let min = parquetStatisticValue(type, chunk, stats.minValue);
      if (floating && min === 0) min = -0;
      if (lower === null || compareValues(type, min, lower) < 0) lower = min;
    } else if (!empty) {
      lowerKnown = false;
    }
    if (stats?.maxValue) {
      let max = parquetStatisticValue(type, chunk, stats.maxValue);
      if (floating && max === 0) max = 0;
      if (upper === null || compareValues(type, max, upper) > 0) upper = max;
    } else if (!empty) {
      upperKnown = false;
    }
  }
  out.value_counts.set(id, values);
  if (nulls !== null) out.null_value_counts.set(id, nulls);
  if (nans !== null) out.nan_value_counts.set(id, nans);
  if (isNaNValue(lower) || isNaNValue(upper)) return;
  if (lowerKnown && lower !== null) {
    if (type === 'string') lower = truncateStringMin(lower as Uint8Array, truncateLength);
    else if (type === 'binary') lower = (lower as Uint8Array).slice(0, truncateLength);
    out.lower_bounds.set(id, serializeValue(type, lower));
  }
  if (upperKnown && upper !== null) {
    if (type === 'string') upper = truncateStringMax(upper as Uint8Array, truncateLength);
    else if (type === 'binary') upper = truncateBinaryMax(upper as Uint8Array, truncateLength);
    if (upper !== null) out.upper_bounds.set(id, serializeValue(type, upper));
  }
}

/** Metrics of no column (a file whose readers need none, as position deletes). */
export function noMetrics(): DataFileMetrics {
  return { column_sizes: new Map(), value_counts: new Map(), null_value_counts: new Map(), nan_value_counts: new Map(), lower_bounds: new Map(), upper_bounds: new Map() };
}

/**
 * The metrics of a data file from its Parquet footer: one entry per column given (by field id), computed over
 * every row group. `columns` lists the file's columns with their leaf's index among a row group's chunks.
 */
export function dataFileMetrics(footer: PartFooterFacts, columns: MetricsColumn[], options: MetricsOptions = {}): DataFileMetrics {
  const truncateLength = options.truncateLength ?? DEFAULT_TRUNCATE_LENGTH;
  if (!(Number.isInteger(truncateLength) && truncateLength > 0)) throw new InternalError(`the metrics truncate length must be a positive integer, got ${truncateLength}`);
  const out = noMetrics();
  for (const column of columns) {
    const chunks = footer.rowGroups.map((group, g) => {
      const chunk = group.columns[column.leafIndex];
      if (!chunk) throw new InternalError(`row group ${g} has no leaf ${column.leafIndex} (field ${column.fieldId})`);
      return chunk;
    });
    const sizeId = leafFieldId(column);
    out.column_sizes.set(sizeId, (out.column_sizes.get(sizeId) ?? 0) + chunks.reduce((n, c) => n + c.totalCompressedSize, 0));
    if (typeof column.type !== 'string') continue;
    leafMetrics(column, column.type, chunks, truncateLength, out);
  }
  return out;
}

/** `split_offsets`: where each row group starts, ascending. */
export function splitOffsets(footer: PartFooterFacts): number[] {
  return footer.rowGroups.map((g) => g.startOffset).sort((a, b) => a - b);
}
