/**
 * The one interface the engine has to a Parquet encoder, so that the encoder can be chosen by benchmark and
 * swapped without touching the shard pipeline.
 */
import type { Compression } from '../contracts';
import type { ColumnMapping, ColumnValues } from '../columns/column-mapping';
import type { ObjectWriter } from '../destinations/destination';


export interface PartWriterOptions {
  columns: ColumnMapping[];
  compression: Compression;
  sink: ObjectWriter;
  /** Data page version: 1 for the portable profile (every reader takes it), 2 for native. Default 2. */
  pageVersion?: 1 | 2;
  /** Key/value metadata stored in the file footer (e.g. the run id). */
  metadata?: Record<string, string>;
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
}
