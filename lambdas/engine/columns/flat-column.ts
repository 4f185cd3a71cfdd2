/**
 * A row group's worth of one flat (non-LIST) column, already in Parquet's PLAIN layout: what the typed
 * builders hand to the Parquet writer. Values live in one contiguous buffer instead of one JS value (or one
 * Uint8Array view) per row, so a row group costs a handful of allocations whatever its row count, and the
 * writer can slice pages out of it without touching the values one by one.
 */

/** Physical Parquet types a FlatColumn can carry. */
export type FlatPhysicalType = 'INT32' | 'INT64' | 'FLOAT' | 'DOUBLE' | 'BYTE_ARRAY' | 'FIXED_LEN_BYTE_ARRAY';

export interface FlatColumn {
  readonly kind: 'flat';
  readonly physical: FlatPhysicalType;
  /** Bytes per value for fixed-width types; 0 for BYTE_ARRAY. */
  readonly width: number;
  /** Rows in the row group, NULLs included. */
  readonly rows: number;
  /** Non-NULL values in `plain`. */
  readonly count: number;
  /** One byte per row, 1 where the row is NULL; null when no row is NULL. */
  readonly nullMask: Uint8Array | null;
  /**
   * The non-NULL values in row order, PLAIN-encoded: little-endian fixed-width values, or for BYTE_ARRAY each
   * value as its 4-byte little-endian length followed by its bytes.
   */
  readonly plain: Uint8Array;
}

export function isFlatColumn(values: unknown): values is FlatColumn {
  return typeof values === 'object' && values !== null && (values as { kind?: unknown }).kind === 'flat';
}

/** The 4-byte little-endian length prefix of the BYTE_ARRAY value at `pos` of a PLAIN buffer. */
export function plainLength(plain: Uint8Array, pos: number): number {
  return plain[pos] | (plain[pos + 1] << 8) | (plain[pos + 2] << 16) | (plain[pos + 3] << 24);
}
