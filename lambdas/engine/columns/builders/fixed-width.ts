/**
 * Fixed-width values (int2/int4/int8, float4/float8, and the temporal types built on the same base): decoded
 * straight into a typed array of the non-NULL values, NULLs in a side mask. `take()` hands the array over as
 * a FlatColumn: on a little-endian host a typed array already is the PLAIN encoding.
 */
import type { ColumnBuilder, ColumnValues } from '../column-mapping';
import type { FlatPhysicalType } from '../flat-column';
import { NullMask } from './null-mask';
import { badFieldLength, type ValueDecoder } from './value-decoder';

/** Typed arrays are written to Parquet as they sit in memory: that layout is little-endian. */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
if (!LITTLE_ENDIAN) throw new Error('pgsip needs a little-endian host (x86-64 or arm64)');

const MIN_CAPACITY = 1024;

type Typed = Int32Array | Float32Array | Float64Array | BigInt64Array;

/** Storage, growth, NULL mask and `take()` shared by the fixed-width builders. */
export abstract class FixedWidthBuilder<A extends Typed> implements ColumnBuilder {
  protected data: A;
  /** Non-NULL values so far (the next free slot of `data`). */
  protected n = 0;
  /** Rows so far, NULLs included. */
  private rows = 0;
  private readonly nulls = new NullMask();

  constructor(
    protected readonly column: string,
    private readonly width: number,
    private readonly physical: FlatPhysicalType,
  ) {
    this.data = this.allocate(MIN_CAPACITY);
  }

  protected abstract allocate(capacity: number): A;

  abstract append(buf: Buffer, start: number, end: number): void;

  /** Slot of the next non-NULL value, growing the storage when full. */
  protected next(): number {
    if (this.n === this.data.length) this.grow();
    this.rows++;
    return this.n++;
  }

  /** Takes back the slot `next()` gave, for a value that turned out unwritable. */
  protected unnext(): void {
    this.rows--;
    this.n--;
  }

  protected grow(): void {
    const bigger = this.allocate(this.data.length * 2);
    (bigger as Int32Array).set(this.data as Int32Array);
    this.data = bigger;
    this.resized();
  }

  /** Hook for subclasses that keep extra views of `data`. */
  protected resized(): void {}

  appendNull(): void {
    this.nulls.set(this.rows++);
  }

  get bytes(): number {
    return this.n * this.width + (this.rows >>> 3);
  }

  take(): ColumnValues {
    const { n, rows, data } = this;
    const nullMask = this.nulls.take(rows);
    const out: ColumnValues = {
      kind: 'flat',
      physical: this.physical,
      width: this.width,
      rows,
      count: n,
      nullMask,
      plain: new Uint8Array(data.buffer, data.byteOffset, n * this.width),
    };
    // The same storage is filled again: the caller is done with this row group before appending the next
    // (ColumnBuilder.take). A fresh allocation per row group made allocator churn a large part of peak RSS.
    this.n = 0;
    this.rows = 0;
    return out;
  }
}

/** Base for builders of 64-bit integers: writes each value as two int32 words, never as a BigInt. */
export abstract class Int64WordsBuilder extends FixedWidthBuilder<BigInt64Array> {
  protected words!: Int32Array;

  constructor(column: string) {
    super(column, 8, 'INT64');
    this.resized();
  }

  protected allocate(capacity: number): BigInt64Array {
    return new BigInt64Array(capacity);
  }

  protected override resized(): void {
    this.words = new Int32Array(this.data.buffer, this.data.byteOffset, this.data.length * 2);
  }
}

export class Int16Builder extends FixedWidthBuilder<Int32Array> {
  constructor(column: string) {
    super(column, 4, 'INT32');
  }
  protected allocate(capacity: number): Int32Array {
    return new Int32Array(capacity);
  }
  append(buf: Buffer, start: number, end: number): void {
    if (end - start !== 2) throw badFieldLength(this.column, 'int2', 2, end - start);
    // next() may replace this.data when it grows, so it must run before this.data is read.
    const slot = this.next();
    this.data[slot] = buf.readInt16BE(start);
  }
}

export class Int32Builder extends FixedWidthBuilder<Int32Array> {
  constructor(column: string) {
    super(column, 4, 'INT32');
  }
  protected allocate(capacity: number): Int32Array {
    return new Int32Array(capacity);
  }
  append(buf: Buffer, start: number, end: number): void {
    if (end - start !== 4) throw badFieldLength(this.column, 'int4', 4, end - start);
    // next() may replace this.data when it grows, so it must run before this.data is read.
    const slot = this.next();
    this.data[slot] = buf.readInt32BE(start);
  }
}

export class Int64Builder extends Int64WordsBuilder {
  append(buf: Buffer, start: number, end: number): void {
    if (end - start !== 8) throw badFieldLength(this.column, 'int8', 8, end - start);
    const i = this.next() << 1;
    const words = this.words;
    words[i] = buf.readInt32BE(start + 4);
    words[i + 1] = buf.readInt32BE(start);
  }
}

export class Float32Builder extends FixedWidthBuilder<Float32Array> {
  constructor(column: string) {
    super(column, 4, 'FLOAT');
  }
  protected allocate(capacity: number): Float32Array {
    return new Float32Array(capacity);
  }
  append(buf: Buffer, start: number, end: number): void {
    if (end - start !== 4) throw badFieldLength(this.column, 'float4', 4, end - start);
    // next() may replace this.data when it grows, so it must run before this.data is read.
    const slot = this.next();
    this.data[slot] = buf.readFloatBE(start);
  }
}

export class Float64Builder extends FixedWidthBuilder<Float64Array> {
  constructor(column: string) {
    super(column, 8, 'DOUBLE');
  }
  protected allocate(capacity: number): Float64Array {
    return new Float64Array(capacity);
  }
  append(buf: Buffer, start: number, end: number): void {
    if (end - start !== 8) throw badFieldLength(this.column, 'float8', 8, end - start);
    // next() may replace this.data when it grows, so it must run before this.data is read.
    const slot = this.next();
    this.data[slot] = buf.readDoubleBE(start);
  }
}

/** Booleans have no typed form in hyparquet-writer: a JS array of true/false/null. */
export class BooleanBuilder implements ColumnBuilder {
  private values: (boolean | null)[] = [];

  constructor(private readonly column: string) {}

  append(buf: Buffer, start: number, end: number): void {
    if (end - start !== 1) throw badFieldLength(this.column, 'bool', 1, end - start);
    this.values.push(buf[start] !== 0);
  }

  appendNull(): void {
    this.values.push(null);
  }

  get bytes(): number {
    return (this.values.length >>> 3) + 1;
  }

  take(): ColumnValues {
    const out = this.values;
    this.values = [];
    return out;
  }
}

/** Single values, for LIST elements. */
export class FixedDecoder implements ValueDecoder {
  constructor(
    private readonly column: string,
    private readonly kind: 'bool' | 'int2' | 'int4' | 'int8' | 'float4' | 'float8',
    readonly width: number,
  ) {}

  decode(buf: Buffer, start: number, end: number): unknown {
    const len = end - start;
    switch (this.kind) {
      case 'bool':
        if (len !== 1) throw badFieldLength(this.column, 'bool', 1, len);
        return buf[start] !== 0;
      case 'int2':
        if (len !== 2) throw badFieldLength(this.column, 'int2', 2, len);
        return buf.readInt16BE(start);
      case 'int4':
        if (len !== 4) throw badFieldLength(this.column, 'int4', 4, len);
        return buf.readInt32BE(start);
      case 'int8':
        if (len !== 8) throw badFieldLength(this.column, 'int8', 8, len);
        return buf.readBigInt64BE(start);
      case 'float4':
        if (len !== 4) throw badFieldLength(this.column, 'float4', 4, len);
        return buf.readFloatBE(start);
      case 'float8':
        if (len !== 8) throw badFieldLength(this.column, 'float8', 8, len);
        return buf.readDoubleBE(start);
    }
  }

  reset(): void {}
}
