/**
 * The one interface the engine has to a Parquet encoder, so that the encoder can be chosen by benchmark and
 * swapped without touching the shard pipeline.
 */
import type { Compression } from '../contracts';
import type { ColumnMapping, ColumnValues } from '../columns/column-mapping';
import type { ObjectWriter } from '../destinations/destination';


export interface PartWriterOptions {
  /** The columns' Parquet schema elements (a mapping's, or a file's being rewritten). */
  columns: Pick<ColumnMapping, 'schema'>[];
  compression: Compression;
  sink: ObjectWriter;
  /** Data page version: 1 for the portable profile (every reader takes it), 2 for native. Default 2. */
  pageVersion?: 1 | 2;
  /** Key/value metadata stored in the file footer (e.g. the run id). */
  metadata?: Record<string, string>;
}

/**
 * The statistics of one column chunk as the part's footer holds them. Bounds are in Parquet's PLAIN encoding
 * of the leaf's physical type (INT32/FLOAT 4 bytes little-endian, INT64/DOUBLE 8, BOOLEAN 1 byte, byte arrays
 * without their length) and follow the column's Parquet sort order; NaN is never one.
 */
export interface ChunkStatisticsFacts {
  /** null when the footer has none. */
  nullCount: number | null;
  /** FLOAT and DOUBLE leaves only; null otherwise. */
  nanCount: number | null;
  /** null for a chunk with no non-NULL, non-NaN value, or when the writer kept no bound. */
  minValue: Uint8Array | null;
  maxValue: Uint8Array | null;
  /**
   * False for a byte-array bound the writer cut short: a shorter prefix for the min, and for the max a prefix
   * rounded up (still greater than or equal to every value, as Parquet requires of `max_value`).
   */
  minExact: boolean;
  maxExact: boolean;
}

/** One column chunk (one leaf) of a row group, as the footer describes it. */
export interface ColumnChunkFacts {
  /** The leaf's path, root excluded: `['id']`, `['tags', 'list', 'element']`. */
  path: string[];
  physicalType: 'BOOLEAN' | 'INT32' | 'INT64' | 'INT96' | 'FLOAT' | 'DOUBLE' | 'BYTE_ARRAY' | 'FIXED_LEN_BYTE_ARRAY';
  /** FIXED_LEN_BYTE_ARRAY width; absent otherwise. */
  typeLength?: number;
  /** `total_compressed_size`: every page of the chunk, headers included. */
  totalCompressedSize: number;
  /** `num_values`: values of the leaf, NULLs included (for a flat column, its rows). */
  numValues: number;
  /** First byte of the chunk: its dictionary page, or its first data page. */
  startOffset: number;
  /** null when the footer has none for this chunk. */
  statistics: ChunkStatisticsFacts | null;
}

export interface RowGroupFacts {
  numRows: number;
  /** Offset of the row group's first byte (its first chunk's first page): an Iceberg split offset. */
  startOffset: number;
  /** One per leaf, in schema order. */
  columns: ColumnChunkFacts[];
}

/** What a finished part's footer says about its row groups (Iceberg metrics are computed from it). */
export interface PartFooterFacts {
  rowGroups: RowGroupFacts[];
}

export interface PartWriter {
  /** Encodes one row group (one `take()` of every column, all of length `rows`) and streams it to the sink. */
  writeRowGroup(values: ColumnValues[], rows: number): Promise<void>;
  /** Writes the footer and completes the object; returns its size in bytes. */
  finish(): Promise<number>;
  /** Abandons the part; nothing is left at its key. */
  abort(): Promise<void>;
  /** Bytes handed to the sink so far. */
  readonly bytesWritten: number;
  /** The footer's facts, once `finish()` has written it (an InternalError before). */
  readonly footer: PartFooterFacts;
}
