/**
 * numeric(p,s) → Parquet DECIMAL(P,S), decoded exactly from the binary numeric format:
 * int16 ndigits, int16 weight, uint16 sign, int16 dscale, then ndigits base-10000 digits, the value being
 * sum(digit[i] * 10000^(weight - i)). The output is the unscaled integer at scale S (value * 10^S).
 *
 * hyparquet-writer takes DECIMAL values as unscaled bigints. Up to 15 digits the arithmetic is exact in
 * doubles, so no BigInt is built for the common sizes until the very end (and not at all for INT64 columns
 * without NULLs, which are written into a BigInt64Array word by word).
 */
import { CopyStreamError, ValueRefusedError } from '../../errors';
import type { FlatColumn } from '../flat-column';
import { PlainBytesBuilder } from './byte-array';
import { Int64WordsBuilder } from './fixed-width';
import type { ValueDecoder } from './value-decoder';

const NUMERIC_POS = 0x0000;
const NUMERIC_NEG = 0x4000;
const NUMERIC_NAN = 0xc000;
const NUMERIC_PINF = 0xd000;
const NUMERIC_NINF = 0xf000;

/** Largest precision whose unscaled values (and every partial sum) are exact in a double. */
const EXACT_DOUBLE_DIGITS = 15;

const POW10: number[] = [];
for (let i = 0, p = 1; i <= 22; i++, p *= 10) POW10.push(p);
const POW10N: bigint[] = [];
for (let i = 0, p = 1n; i <= 80; i++, p *= 10n) POW10N.push(p);

/** The Parquet DECIMAL a numeric typmod becomes, or null when it is unconstrained. */
export interface DecimalShape {
  /** Declared precision and scale (scale may be negative or exceed the precision since Postgres 15). */
  pgPrecision: number;
  pgScale: number;
  /** Parquet precision and scale: 0 <= scale <= precision, wide enough for every value of the column. */
  precision: number;
  scale: number;
}

export function decimalShape(typmod: number): DecimalShape | null {
  if (typmod < 4) return null;
  const t = typmod - 4;
  const pgPrecision = (t >> 16) & 0xffff;
  const pgScale = ((t & 0x7ff) ^ 1024) - 1024;
  // numeric(3,-2) holds multiples of 100 up to 99900: DECIMAL(5,0). numeric(3,5) holds |v| < 0.01 with five
  // decimals: DECIMAL(5,5).
  if (pgScale < 0) return { pgPrecision, pgScale, precision: pgPrecision - pgScale, scale: 0 };
  if (pgScale > pgPrecision) return { pgPrecision, pgScale, precision: pgScale, scale: pgScale };
  return { pgPrecision, pgScale, precision: pgPrecision, scale: pgScale };
}

/** Minimal FIXED_LEN_BYTE_ARRAY length holding every signed unscaled value of `precision` digits. */
export function decimalByteLength(precision: number): number {
  const max = POW10N[precision] - 1n;
  let n = 1;
  while ((1n << BigInt(8 * n - 1)) - 1n < max) n++;
  return n;
}

/** Reads binary numerics of one column into unscaled integers at `scale`. */
export class NumericReader {
  constructor(
    private readonly column: string,
    private readonly precision: number,
    private readonly scale: number,
  ) {}

  private header(buf: Buffer, start: number, end: number): number {
    if (end - start < 8) throw new CopyStreamError(`column "${this.column}": a numeric field is shorter than its header`);
    const ndigits = buf.readInt16BE(start);
    if (end - start !== 8 + 2 * ndigits) {
      throw new CopyStreamError(`column "${this.column}": a numeric field has ${end - start} bytes for ${ndigits} digits`);
    }
    const sign = buf.readUInt16BE(start + 4);
    if (sign !== NUMERIC_POS && sign !== NUMERIC_NEG) {
      const what =
        sign === NUMERIC_NAN ? 'NaN' : sign === NUMERIC_PINF ? 'Infinity' : sign === NUMERIC_NINF ? '-Infinity' : `sign ${sign}`;
      throw new ValueRefusedError(
        this.column,
        `numeric value ${what} cannot be stored in Parquet DECIMAL(${this.precision},${this.scale}); ` +
          'only unconstrained numeric columns (exported as text) keep NaN and infinities',
      );
    }
    return ndigits;
  }

  private inexact(): ValueRefusedError {
    return new ValueRefusedError(
      this.column,
      `a numeric value has more than ${this.scale} decimals or more than ${this.precision} digits`,
    );
  }

  /** The unscaled value as a double; exact because the caller only uses it up to 15 digits. */
  readSmall(buf: Buffer, start: number, end: number): number {
    const ndigits = this.header(buf, start, end);
    const weight = buf.readInt16BE(start + 2);
    const negative = buf.readUInt16BE(start + 4) === NUMERIC_NEG;
    let acc = 0;
    let p = start + 8;
    for (let i = 0; i < ndigits; i++, p += 2) {
      const digit = buf.readUInt16BE(p);
      if (digit === 0) continue;
      const e = 4 * (weight - i) + this.scale;
      if (e >= 0) {
        if (e > EXACT_DOUBLE_DIGITS) throw this.inexact();
        acc += digit * POW10[e];
      } else {
        if (e < -3) throw this.inexact();
        const q = digit / POW10[-e];
        if (q !== Math.floor(q)) throw this.inexact();
        acc += q;
      }
    }
    if (acc >= POW10[this.precision]) throw this.inexact();
    return negative ? -acc : acc;
  }

  readBig(buf: Buffer, start: number, end: number): bigint {
    if (this.precision <= EXACT_DOUBLE_DIGITS) return BigInt(this.readSmall(buf, start, end));
    const ndigits = this.header(buf, start, end);
    const weight = buf.readInt16BE(start + 2);
    const negative = buf.readUInt16BE(start + 4) === NUMERIC_NEG;
    if (ndigits === 0) return 0n;
    // The digits as one integer, three base-10000 digits (12 decimal digits, exact in a double) at a time.
    let acc = 0n;
    let p = start + 8;
    let i = 0;
    while (i < ndigits) {
      let chunk = 0;
      let k = 0;
      for (; k < 3 && i < ndigits; k++, i++, p += 2) chunk = chunk * 10000 + buf.readUInt16BE(p);
      acc = acc * POW10N[4 * k] + BigInt(chunk);
    }
    // The last digit counts 10000^(weight - ndigits + 1); at scale S that is 10^(4*(weight-ndigits+1)+S).
    const e = 4 * (weight - ndigits + 1) + this.scale;
    if (e >= 0) {
      if (e >= POW10N.length) throw this.inexact();
      acc *= POW10N[e];
    } else {
      if (-e >= POW10N.length) throw this.inexact();
      const d = POW10N[-e];
      if (acc % d !== 0n) throw this.inexact();
      acc /= d;
    }
    if (acc >= POW10N[this.precision]) throw this.inexact();
    return negative ? -acc : acc;
  }
}

/** DECIMAL values as unscaled bigints (INT32 and FIXED_LEN_BYTE_ARRAY columns, and LIST elements). */
export class DecimalDecoder implements ValueDecoder {
  private readonly reader: NumericReader;

  constructor(
    column: string,
    precision: number,
    scale: number,
    readonly width: number,
  ) {
    this.reader = new NumericReader(column, precision, scale);
  }

  decode(buf: Buffer, start: number, end: number): bigint {
    return this.reader.readBig(buf, start, end);
  }

  reset(): void {}
}

/** DECIMAL with INT64 physical type (precision 10 to 18): a BigInt64Array without NULLs. */
export class DecimalInt64Builder extends Int64WordsBuilder {
  private readonly reader: NumericReader;
  private readonly small: boolean;

  constructor(column: string, precision: number, scale: number) {
    super(column);
    this.reader = new NumericReader(column, precision, scale);
    this.small = precision <= EXACT_DOUBLE_DIGITS;
  }

  append(buf: Buffer, start: number, end: number): void {
    if (this.small) {
      const v = this.reader.readSmall(buf, start, end);
      const i = this.next() << 1;
      const hi = Math.floor(v / 4294967296);
      this.words[i] = (v - hi * 4294967296) | 0;
      this.words[i + 1] = hi;
    } else {
      const v = this.reader.readBig(buf, start, end);
      // next() may replace this.data when it grows, so it must run before this.data is read.
      const slot = this.next();
      this.data[slot] = v;
    }
  }
}

/**
 * DECIMAL as FIXED_LEN_BYTE_ARRAY of the minimal width for its precision, big-endian two's complement, straight
 * into a PLAIN buffer (the portable profile: Hive and older readers of Parquet take decimals only in this form;
 * Redshift Spectrum checks the width). Up to 15 digits the value is exact in a double and is split into two
 * 32-bit words without a BigInt; wider values go through one BigInt each.
 */
export class DecimalFixedBuilder extends PlainBytesBuilder {
  private readonly reader: NumericReader;
  private readonly small: boolean;

  constructor(
    column: string,
    precision: number,
    scale: number,
    private readonly width: number,
  ) {
    super(column);
    this.reader = new NumericReader(column, precision, scale);
    this.small = precision <= EXACT_DOUBLE_DIGITS;
  }

  append(buf: Buffer, start: number, end: number): void {
    const width = this.width;
    if (this.small || width <= 8) {
      let lo: number;
      let hi: number;
      if (this.small) {
        const v = this.reader.readSmall(buf, start, end);
        hi = Math.floor(v / 4294967296);
        lo = v - hi * 4294967296;
      } else {
        const v = this.reader.readBig(buf, start, end);
        lo = Number(BigInt.asUintN(32, v));
        hi = Number(BigInt.asIntN(32, v >> 32n));
      }
      const plain = this.reserve(width);
      const at = this.pos + width - 1;
      // Least significant byte last; bytes past the two words repeat the sign.
      for (let k = 0; k < width; k++) {
        plain[at - k] = k < 4 ? (lo >>> (8 * k)) & 0xff : k < 8 ? (hi >> (8 * (k - 4))) & 0xff : hi < 0 ? 0xff : 0;
      }
    } else {
      let v = BigInt.asUintN(8 * width, this.reader.readBig(buf, start, end));
      const plain = this.reserve(width);
      for (let k = width - 1; k >= 0; k--, v >>= 8n) plain[this.pos + k] = Number(v & 0xffn);
    }
    this.pos += width;
    this.count++;
    this.rows++;
  }

  protected shape(): Pick<FlatColumn, 'physical' | 'width'> {
    return { physical: 'FIXED_LEN_BYTE_ARRAY', width: this.width };
  }
}
