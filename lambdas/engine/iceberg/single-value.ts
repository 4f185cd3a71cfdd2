/**
 * Iceberg's binary single-value serialization (spec Appendix D), used for the lower and upper bounds of data
 * files and the bounds of partition summaries, its inverse, and the order bounds are taken in.
 *
 * Values, per type:
 * - boolean: boolean.
 * - int, date: number (int32; a date is days since 1970-01-01).
 * - long, timestamp, timestamptz: bigint (µs since 1970-01-01 for timestamps, UTC for timestamptz); a safe
 *   integer number is accepted when serializing.
 * - float, double: number.
 * - string: string; its UTF-8 bytes (a Uint8Array) are accepted when serializing and comparing, and taken as
 *   they are (not validated).
 * - binary: Uint8Array.
 * - decimal(P, S): bigint, the unscaled value (14.20 in decimal(4, 2) is 1420n); a decimal string such as
 *   "14.20" or "-0.5" is accepted when serializing (at most S digits after the point).
 *
 * Byte layouts: boolean 1 byte (0x00 false, 0x01 true); int, date 4 bytes little-endian; long, timestamp,
 * timestamptz 8 bytes little-endian; float, double IEEE 754 little-endian; string UTF-8 without a length;
 * binary the bytes; decimal the unscaled value as two's complement big-endian in the MINIMUM number of bytes
 * (not the width Parquet stores it in): 1420 -> 05 8c, -1420 -> fa 74, 0 -> 00, 128 -> 00 80, -128 -> 80.
 */
import { InternalError } from '../errors';
import type { IcebergPrimitive } from './model';

export type IcebergValue = boolean | number | bigint | string | Uint8Array;

const DECIMAL = /^decimal\(\s*(\d+)\s*,\s*(-?\d+)\s*\)$/;

/** Precision and scale of a `decimal(P, S)` type, or null for any other type. */
export function decimalShape(type: IcebergPrimitive): { precision: number; scale: number } | null {
  const m = DECIMAL.exec(type);
  return m ? { precision: Number(m[1]), scale: Number(m[2]) } : null;
}

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;
const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;
const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function fail(type: IcebergPrimitive, value: unknown, why: string): never {
  const shown = value instanceof Uint8Array ? `${value.length} bytes` : typeof value === 'bigint' ? `${value}n` : JSON.stringify(value);
  throw new InternalError(`cannot serialize ${shown} as Iceberg ${type}: ${why}`);
}

function int32(type: IcebergPrimitive, value: IcebergValue): Uint8Array {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < INT32_MIN || value > INT32_MAX) fail(type, value, 'not a 32-bit integer');
  const out = new Uint8Array(4);
  new DataView(out.buffer).setInt32(0, value, true);
  return out;
}

function int64(type: IcebergPrimitive, value: IcebergValue): Uint8Array {
  let v: bigint;
  if (typeof value === 'bigint') v = value;
  else if (typeof value === 'number' && Number.isSafeInteger(value)) v = BigInt(value);
  else fail(type, value, 'not a 64-bit integer (bigint, or a safe integer number)');
  if (v < INT64_MIN || v > INT64_MAX) fail(type, value, 'outside the 64-bit range');
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigInt64(0, v, true);
  return out;
}

/** The unscaled value of a decimal given as a bigint (already unscaled) or as a decimal string. */
function unscaledOf(type: IcebergPrimitive, value: IcebergValue, scale: number): bigint {
  if (typeof value === 'bigint') return value;
  if (typeof value !== 'string') fail(type, value, 'a decimal is an unscaled bigint or a decimal string');
  const m = /^([+-]?)(\d+)(?:\.(\d*))?$/.exec(value);
  if (!m) fail(type, value, 'not a decimal number');
  const fraction = m[3] ?? '';
  if (fraction.length > Math.max(scale, 0)) fail(type, value, `more than ${scale} digits after the point`);
  let digits = BigInt(m[2] + fraction.padEnd(Math.max(scale, 0), '0'));
  if (scale < 0) {
    const unit = 10n ** BigInt(-scale);
    if (digits % unit !== 0n) fail(type, value, `not a multiple of ${unit}`);
    digits /= unit;
  }
  return m[1] === '-' ? -digits : digits;
}

/** Two's complement big-endian in the fewest bytes that hold `v` with its sign (Java BigInteger.toByteArray). */
export function minimalTwosComplement(v: bigint): Uint8Array {
  const magnitude = v < 0n ? ~v : v;
  const bits = magnitude === 0n ? 0 : magnitude.toString(2).length;
  const n = Math.floor(bits / 8) + 1;
  const out = new Uint8Array(n);
  let rest = v;
  for (let i = n - 1; i >= 0; i--) {
    out[i] = Number(rest & 0xffn);
    rest >>= 8n;
  }
  return out;
}

/** The signed big-endian integer in `bytes` (any length from 1). */
export function twosComplementValue(bytes: Uint8Array): bigint {
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  return bytes.length === 0 ? 0n : BigInt.asIntN(8 * bytes.length, v);
}

/** Iceberg's binary single-value serialization of `value` as `type` (spec Appendix D). */
export function serializeValue(type: IcebergPrimitive, value: IcebergValue): Uint8Array {
  switch (type) {
    case 'boolean':
      if (typeof value !== 'boolean') fail(type, value, 'not a boolean');
      return Uint8Array.of(value ? 1 : 0);
    case 'int':
    case 'date':
      return int32(type, value);
    case 'long':
    case 'timestamp':
    case 'timestamptz':
      return int64(type, value);
    case 'float': {
      if (typeof value !== 'number') fail(type, value, 'not a number');
      const out = new Uint8Array(4);
      new DataView(out.buffer).setFloat32(0, value, true);
      return out;
    }
    case 'double': {
      if (typeof value !== 'number') fail(type, value, 'not a number');
      const out = new Uint8Array(8);
      new DataView(out.buffer).setFloat64(0, value, true);
      return out;
    }
    case 'string':
      if (typeof value === 'string') return utf8.encode(value);
      if (value instanceof Uint8Array) return value.slice();
      return fail(type, value, 'not a string');
    case 'binary':
      if (!(value instanceof Uint8Array)) fail(type, value, 'not a Uint8Array');
      return value.slice();
  }
  const shape = decimalShape(type);
  if (!shape) fail(type, value, 'unknown type');
  const unscaled = unscaledOf(type, value, shape.scale);
  const limit = 10n ** BigInt(shape.precision);
  if (unscaled >= limit || unscaled <= -limit) fail(type, value, `more than ${shape.precision} digits`);
  return minimalTwosComplement(unscaled);
}

function expectLength(type: IcebergPrimitive, bytes: Uint8Array, length: number): DataView {
  if (bytes.length !== length) throw new InternalError(`an Iceberg ${type} value is ${length} bytes, got ${bytes.length}`);
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** The value `serializeValue` serialized (strings are decoded from UTF-8, strictly). */
export function deserializeValue(type: IcebergPrimitive, bytes: Uint8Array): IcebergValue {
  switch (type) {
    case 'boolean':
      expectLength(type, bytes, 1);
      return bytes[0] !== 0;
    case 'int':
    case 'date':
      return expectLength(type, bytes, 4).getInt32(0, true);
    case 'long':
      // A bound written while the column was an int (widened since: the spec's promotion) is 4 bytes, read as
      // Iceberg Java's Conversions reads it.
      if (bytes.length === 4) return BigInt(new DataView(bytes.buffer, bytes.byteOffset, 4).getInt32(0, true));
      return expectLength(type, bytes, 8).getBigInt64(0, true);
    case 'timestamp':
    case 'timestamptz':
      return expectLength(type, bytes, 8).getBigInt64(0, true);
    case 'float':
      return expectLength(type, bytes, 4).getFloat32(0, true);
    case 'double':
      // Likewise a bound written while the column was a float.
      if (bytes.length === 4) return new DataView(bytes.buffer, bytes.byteOffset, 4).getFloat32(0, true);
      return expectLength(type, bytes, 8).getFloat64(0, true);
    case 'string':
      return utf8Decoder.decode(bytes);
    case 'binary':
      return bytes.slice();
  }
  if (!decimalShape(type)) throw new InternalError(`cannot deserialize Iceberg type ${type}`);
  if (bytes.length === 0) throw new InternalError(`an Iceberg ${type} value needs at least one byte`);
  return twosComplementValue(bytes);
}

/** Unsigned lexicographic order of two byte strings (Iceberg's order for binary, and for strings as UTF-8). */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = a[i] - b[i];
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

/** Code point order of two JS strings: the order of their UTF-8 bytes (not JS's UTF-16 `<`). */
function compareCodePoints(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const x = a.codePointAt(i)!;
    const y = b.codePointAt(j)!;
    if (x !== y) return x - y;
    i += x > 0xffff ? 2 : 1;
    j += y > 0xffff ? 2 : 1;
  }
  return a.length - i - (b.length - j);
}

/** IEEE 754 totalOrder for the values bounds see: -0 before +0; NaN after everything (never a bound). */
function compareFloats(a: number, b: number): number {
  const aNaN = a !== a;
  const bNaN = b !== b;
  if (aNaN || bNaN) return aNaN === bNaN ? 0 : aNaN ? 1 : -1;
  if (a !== b) return a < b ? -1 : 1;
  if (a === 0) return Object.is(a, -0) === Object.is(b, -0) ? 0 : Object.is(a, -0) ? -1 : 1;
  return 0;
}

function sign(n: number | bigint): number {
  return n < 0 ? -1 : n > 0 ? 1 : 0;
}

/**
 * Iceberg's order of two values of `type`, the one bounds are taken in: numbers and decimals by value, floats
 * with -0 before +0, strings by UTF-8 bytes (code points), binary as unsigned bytes, false before true.
 * Negative when a < b, 0 when equal, positive when a > b.
 */
export function compareValues(type: IcebergPrimitive, a: IcebergValue, b: IcebergValue): number {
  switch (type) {
    case 'float':
    case 'double':
      return compareFloats(a as number, b as number);
    case 'boolean':
      return Number(a) - Number(b);
    case 'int':
    case 'date':
      return sign((a as number) - (b as number));
    case 'string':
      if (typeof a === 'string' && typeof b === 'string') return sign(compareCodePoints(a, b));
      return sign(compareBytes(typeof a === 'string' ? utf8.encode(a) : (a as Uint8Array), typeof b === 'string' ? utf8.encode(b) : (b as Uint8Array)));
    case 'binary':
      return sign(compareBytes(a as Uint8Array, b as Uint8Array));
    default: {
      // long, timestamp, timestamptz, decimal: bigints (a safe integer number is accepted).
      const x = BigInt(a as bigint | number);
      const y = BigInt(b as bigint | number);
      return x < y ? -1 : x > y ? 1 : 0;
    }
  }
}
