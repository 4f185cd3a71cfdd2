/**
 * How one Postgres column becomes one Parquet column: the contract between the planner (which records it in
 * `_plan.json`), the COPY reader (which feeds raw binary fields to builders) and the Parquet writer.
 */
import type { SchemaElement } from 'hyparquet';
import type { ColumnPlan } from '../contracts';
import type { FlatColumn } from './flat-column';

/**
 * Values accumulated for one row group, in the form the Parquet writer accepts: a FlatColumn (PLAIN bytes and
 * a NULL mask) from the typed builders, or one JS value per row (null for NULL) for LIST columns and the few
 * flat types without a typed builder.
 */
export type ColumnValues = FlatColumn | unknown[];

/**
 * Receives the raw binary-COPY fields of one column, in row order, and accumulates them for a row group.
 * Decoding happens here so that no per-row JS object is built between Postgres and Parquet.
 */
export interface ColumnBuilder {
  /** One non-NULL field: its bytes are `buf[start, end)` in Postgres binary send format. */
  append(buf: Buffer, start: number, end: number): void;
  appendNull(): void;
  /**
   * Optional, for large values (binary-copy-parser.ts): a buffer set aside for the next field, of `length`
   * bytes, which the parser fills as the value arrives over the network; `commit()` appends it as that field,
   * at the row's end. A builder holding nothing yet takes the buffer itself instead of a copy, so a huge value
   * is held once. Null: the builder takes large values through `append` only.
   */
  stage?(length: number): StagedValue | null;
  /** Approximate bytes held since the last `take()`, used to size row groups in bytes. */
  readonly bytes: number;
  /**
   * Values since the last `take()`; the builder starts empty again. What it returns stays valid only until
   * the next `append` or `appendNull`: builders fill the same storage again, so a caller must have finished
   * with (or copied) one row group before it feeds the next (the shard pipeline awaits each row group's
   * write before it reads on).
   */
  take(): ColumnValues;
}

/** Turns one non-NULL binary field `buf[start, end)` into the value written for it. Must copy what it keeps. */
export interface ValueDecoder {
  decode(buf: Buffer, start: number, end: number): unknown;
  /** Encoded bytes of one value of this type, or 0 when variable (then the field length plus 4 is used). */
  readonly width: number;
  /** Called when the values decoded so far were handed out (`take()`): drop references to shared storage. */
  reset(): void;
}

/** A field's bytes set aside by `ColumnBuilder.stage`. */
export interface StagedValue {
  /** Where the field's bytes go, all `length` of them, before `commit()`. */
  readonly target: Uint8Array;
  commit(): void;
}

export interface ColumnMapping {
  plan: ColumnPlan;
  /**
   * Select-list expression for the COPY query, given the already-quoted identifier: usually the identifier
   * itself (binary send format), or a cast such as `"c"::text` for types that are exported in text form.
   */
  select(quotedIdent: string): string;
  /** This column's Parquet schema elements (one for a primitive, three for a LIST), root excluded. */
  schema: SchemaElement[];
  newBuilder(): ColumnBuilder;
  /**
   * Scalar columns written as read (not hashed, not lists): one field decoded into the value its builder
   * writes, for what is derived from it (an Iceberg partition, lambdas/engine/iceberg/partition-router.ts).
   */
  decoder?(): ValueDecoder;
}

