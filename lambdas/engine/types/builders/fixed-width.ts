/**
 * Fixed-width values (int2/int4/int8, float4/float8, and the temporal types built on the same base): decoded
 * straight into a typed array, NULLs in a side mask. A row group without NULLs is handed to the writer as the
 * typed array itself; with NULLs as a JS array holding null at those rows (what hyparquet-writer needs).
 */
import type { ColumnBuilder, ColumnValues } from '../column-mapping';
import { badFieldLength, type ValueDecoder } from './value-decoder';

/** 64-bit values are written as two 32-bit words, low word first: that layout needs a little-endian host. */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
if (!LITTLE_ENDIAN) throw new Error('pgsip needs a little-endian host (x86-64 or arm64)');

const MIN_CAPACITY = 1024;

type Typed = Int32Array | Float32Array | Float64Array | BigInt64Array;

/** Storage, growth, NULL mask and `take()` shared by the fixed-width builders. */
export abstract class FixedWidthBuilder<A extends Typed> implements ColumnBuilder {
  protected data: A;
  protected n = 0;
  private mask: Uint8Array | null = null;
  private nulls = 0;

  constructor(
    protected readonly column: string,
    private readonly width: number,
  ) {
    this.data = this.allocate(MIN_CAPACITY);
  }

  protected abstract allocate(capacity: number): A;

  abstract append(buf: Buffer, start: number, end: number): void;

  /** Index of the next row's slot, growing the storage when full. */
  protected next(): number {
    if (this.n === this.data.length) this.grow();
    return this.n++;
  }

  protected grow(): void {
    const bigger = this.allocate(this.data.length * 2);
    (bigger as Int32Array).set(this.data as Int32Array);
    this.data = bigger;
    this.resized();
    if (this.mask) {
      const mask = new Uint8Array(bigger.length);
      mask.set(this.mask);
      this.mask = mask;
    }
  }

  /** Hook for subclasses that keep extra views of `data`. */
  protected resized(): void {}

  appendNull(): void {
    const i = this.next();
    if (!this.mask) this.mask = new Uint8Array(this.data.length);
    this.mask[i] = 1;
    this.nulls++;
  }

  get bytes(): number {
    return (this.n - this.nulls) * this.width + (this.n >>> 3);
  }

  take(): ColumnValues {
    const n = this.n;
    const data = this.data;
    const mask = this.mask;
    let out: ColumnValues;
    if (!mask || this.nulls === 0) {
      out = data.subarray(0, n) as ColumnValues;
    } else {
      const values: unknown[] = new Array(n);
      for (let i = 0; i < n; i++) values[i] = mask[i] === 1 ? null : data[i];
      out = values;
    }
    // The handed-out storage belongs to the writer now; start a new one about as large as this row group.
    this.data = this.allocate(Math.max(MIN_CAPACITY, n));
    this.resized();
    this.n = 0;
    this.mask = null;
    this.nulls = 0;
    return out;
  }
}

/** Base for builders of 64-bit integers: writes each value as two int32 words, never as a BigInt. */
export abstract class Int64WordsBuilder extends FixedWidthBuilder<BigInt64Array> {
  protected words!: Int32Array;

  constructor(column: string) {
    super(column, 8);
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
    super(column, 4);
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
    super(column, 4);
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
    super(column, 4);
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
    super(column, 8);
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
