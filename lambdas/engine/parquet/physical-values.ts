/**
 * Physical values (physical-reader.ts) in the form the part writer takes them (hyparquet-part-writer.ts): the
 * FlatColumn the typed builders make for flat INT32, INT64, FLOAT, DOUBLE and byte-array leaves, and one JS
 * value per row for the rest, with DECIMALs that the writer encodes through their annotation (INT32 and
 * FIXED_LEN_BYTE_ARRAY ones, and every decimal LIST element) as unscaled bigints, as the builders hand them.
 * Nothing is converted through any other form, so a rewritten file holds the very values it was given.
 */
import type { SchemaElement } from 'hyparquet';
import type { ColumnValues } from '../columns/column-mapping';
import type { FlatColumn, FlatPhysicalType } from '../columns/flat-column';
import { InternalError } from '../errors';

const WIDTH: Partial<Record<NonNullable<SchemaElement['type']>, number>> = { INT32: 4, INT64: 8, FLOAT: 4, DOUBLE: 8 };

/** A big-endian two's-complement integer of any width. */
function signedBigEndian(bytes: Uint8Array): bigint {
  if (bytes.length === 0) return 0n;
  let value = 0n;
  for (const byte of bytes) value = (value << 8n) | BigInt(byte);
  return bytes[0] & 0x80 ? value - (1n << BigInt(bytes.length * 8)) : value;
}

/** How one leaf's physical value becomes the writer's, where they differ (decimals written by annotation). */
function leafValue(leaf: SchemaElement): ((v: unknown) => unknown) | null {
  // As the part writer decides which leaves keep their annotation while encoding: by converted_type.
  if (leaf.converted_type !== 'DECIMAL') return null;
  if (leaf.type === 'FIXED_LEN_BYTE_ARRAY' || leaf.type === 'BYTE_ARRAY') return (v) => (v === null ? null : signedBigEndian(v as Uint8Array));
  if (leaf.type === 'INT32') return (v) => (v === null ? null : BigInt(v as number));
  return null;
}

/** Whether the writer encodes this flat leaf from a FlatColumn (the builders' form) rather than per-value. */
function flatPhysical(leaf: SchemaElement): FlatPhysicalType | null {
  const keepsAnnotation = leaf.converted_type === 'DECIMAL' && leaf.type !== 'INT64';
  if (keepsAnnotation) return null;
  switch (leaf.type) {
    case 'INT32':
    case 'INT64':
    case 'FLOAT':
    case 'DOUBLE':
    case 'BYTE_ARRAY':
    case 'FIXED_LEN_BYTE_ARRAY':
      return leaf.type;
    default:
      return null;
  }
}

function flatColumn(physical: FlatPhysicalType, leaf: SchemaElement, values: unknown[], column: string): FlatColumn {
  const rows = values.length;
  let count = 0;
  let nullMask: Uint8Array | null = null;
  for (let i = 0; i < rows; i++) {
    if (values[i] === null) {
      nullMask ??= new Uint8Array(rows);
      nullMask[i] = 1;
    } else count++;
  }
  const fixed = WIDTH[physical] ?? (physical === 'FIXED_LEN_BYTE_ARRAY' ? leaf.type_length ?? 0 : 0);
  if (physical === 'BYTE_ARRAY') {
    let size = 0;
    for (const v of values) if (v !== null) size += 4 + (v as Uint8Array).length;
    const plain = new Uint8Array(size);
    const view = new DataView(plain.buffer);
    let p = 0;
    for (const v of values) {
      if (v === null) continue;
      const bytes = v as Uint8Array;
      view.setUint32(p, bytes.length, true);
      plain.set(bytes, p + 4);
      p += 4 + bytes.length;
    }
    return { kind: 'flat', physical, width: 0, rows, count, nullMask, plain };
  }
  const plain = new Uint8Array(count * fixed);
  const view = new DataView(plain.buffer);
  let p = 0;
  for (const v of values) {
    if (v === null) continue;
    switch (physical) {
      case 'INT32':
        view.setInt32(p, v as number, true);
        break;
      case 'INT64':
        view.setBigInt64(p, v as bigint, true);
        break;
      case 'FLOAT':
        view.setFloat32(p, v as number, true);
        break;
      case 'DOUBLE':
        view.setFloat64(p, v as number, true);
        break;
      case 'FIXED_LEN_BYTE_ARRAY': {
        const bytes = v as Uint8Array;
        if (bytes.length !== fixed) throw new InternalError(`column "${column}": a ${bytes.length}-byte value in a FIXED_LEN_BYTE_ARRAY(${fixed}) leaf`);
        plain.set(bytes, p);
        break;
      }
    }
    p += fixed;
  }
  return { kind: 'flat', physical, width: fixed, rows, count, nullMask, plain };
}

/**
 * One column's physical values of a row group as the part writer takes them. `schema` is the column's
 * elements as the file has them (one leaf, or a 3-level LIST).
 */
export function columnValuesOf(schema: SchemaElement[], values: unknown[]): ColumnValues {
  const leaf = schema[schema.length - 1];
  const column = schema[0].name;
  if (schema.length === 1) {
    const physical = flatPhysical(leaf);
    if (physical) return flatColumn(physical, leaf, values, column);
    const convert = leafValue(leaf);
    return convert ? values.map(convert) : values;
  }
  if (schema.length === 3 && (schema[0].converted_type === 'LIST' || schema[0].logical_type?.type === 'LIST')) {
    const convert = leafValue(leaf);
    if (!convert) return values;
    return values.map((list) => (list === null ? null : (list as unknown[]).map(convert)));
  }
  throw new InternalError(`column "${column}": a Parquet shape of ${schema.length} elements is not one pgsip rewrites`);
}

/** Approximate bytes a physical value holds, to size row groups as the builders do. */
export function physicalBytes(value: unknown): number {
  if (value === null) return 1;
  if (value instanceof Uint8Array) return 4 + value.length;
  if (Array.isArray(value)) return value.reduce((n: number, v) => n + physicalBytes(v), 4);
  return 8;
}
