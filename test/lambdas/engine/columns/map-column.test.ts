import { rowValues } from '../../../support/flat-values';
import { describe, expect, it } from 'vitest';
import type { CatalogColumn } from '../../../../lambdas/engine/contracts';
import { ValueRefusedError } from '../../../../lambdas/engine/errors';
import { decimalByteLength, decimalShape } from '../../../../lambdas/engine/columns/builders/decimal';
import { mapColumn, mappingFromPlan, NATIVE } from '../../../../lambdas/engine/columns/map-column';
import { PgArrayOid, PgOid } from '../../../../lambdas/engine/columns/pg-oids';

function col(typeOid: number, extra: Partial<CatalogColumn> = {}): CatalogColumn {
  return { name: 'c', pgType: 'x', typeOid, typmod: -1, elemTypeOid: null, nullable: true, ...extra };
}

/** typmod of numeric(p,s) as Postgres stores it. */
function numericTypmod(p: number, s: number): number {
  return ((p << 16) | (s & 0x7ff)) + 4;
}

/** A binary numeric field: weight, sign, dscale, base-10000 digits. */
function numericField(weight: number, sign: number, dscale: number, digits: number[]): Buffer {
  const b = Buffer.alloc(8 + 2 * digits.length);
  b.writeInt16BE(digits.length, 0);
  b.writeInt16BE(weight, 2);
  b.writeUInt16BE(sign, 4);
  b.writeInt16BE(dscale, 6);
  digits.forEach((d, i) => b.writeUInt16BE(d, 8 + 2 * i));
  return b;
}

describe('mapColumn', () => {
  it('maps each built-in type to its Parquet type and select expression', () => {
    const cases: [number, number, string, string][] = [
      [PgOid.int2, -1, 'INT16', '"c"'],
      [PgOid.int4, -1, 'INT32', '"c"'],
      [PgOid.int8, -1, 'INT64', '"c"'],
      [PgOid.float4, -1, 'FLOAT', '"c"'],
      [PgOid.float8, -1, 'DOUBLE', '"c"'],
      [PgOid.bool, -1, 'BOOLEAN', '"c"'],
      [PgOid.text, -1, 'STRING', '"c"'],
      [PgOid.varchar, 14, 'STRING', '"c"'],
      [PgOid.bpchar, 9, 'STRING', '"c"'],
      [PgOid.name, -1, 'STRING', '"c"'],
      [PgOid.json, -1, 'JSON', '"c"'],
      [PgOid.jsonb, -1, 'JSON', '"c"'],
      [PgOid.bytea, -1, 'BYTE_ARRAY', '"c"'],
      [PgOid.uuid, -1, 'UUID', '"c"'],
      [PgOid.date, -1, 'DATE', '"c"'],
      [PgOid.time, -1, 'TIME(MICROS)', '"c"'],
      [PgOid.timestamp, -1, 'TIMESTAMP(MICROS)', '"c"'],
      [PgOid.timestamptz, -1, 'TIMESTAMP(MICROS,UTC)', '"c"'],
      [PgOid.numeric, numericTypmod(12, 2), 'DECIMAL(12,2)', '"c"'],
      [PgOid.numeric, -1, 'STRING', '"c"::text'],
      [PgOid.numeric, numericTypmod(39, 2), 'STRING', '"c"::text'],
      [PgOid.interval, -1, 'STRING', '"c"::text'],
      [PgOid.money, -1, 'STRING', '"c"::text'],
      [PgOid.timetz, -1, 'STRING', '"c"::text'],
      [PgOid.xml, -1, 'STRING', '"c"::text'],
      [PgOid.char, -1, 'STRING', '"c"::text'],
      [987654, -1, 'STRING', '"c"::text'], // an enum or extension type
    ];
    for (const [oid, typmod, parquetType, select] of cases) {
      const m = mapColumn(col(oid, { typmod }), NATIVE);
      expect([oid, m.plan.parquetType, m.select('"c"')]).toEqual([oid, parquetType, select]);
      expect(m.schema).toHaveLength(1);
      expect(m.schema[0].repetition_type).toBe('OPTIONAL');
    }
  });

  it('annotates the schema elements', () => {
    // Converted type only: hyparquet-writer 0.17 writes the INTEGER logical type so that DuckDB rejects the footer.
    expect(mapColumn(col(PgOid.int2), NATIVE).schema[0]).toMatchObject({ type: 'INT32', converted_type: 'INT_16' });
    expect(mapColumn(col(PgOid.int8), NATIVE).schema[0]).toMatchObject({ type: 'INT64', converted_type: 'INT_64' });
    expect(mapColumn(col(PgOid.timestamptz), NATIVE).schema[0].logical_type).toEqual({
      type: 'TIMESTAMP',
      isAdjustedToUTC: true,
      unit: 'MICROS',
    });
    expect(mapColumn(col(PgOid.timestamp), NATIVE).schema[0].logical_type).toMatchObject({ isAdjustedToUTC: false });
    // LogicalTypes.md: writers must write the legacy converted types for local timestamps and times too.
    expect(mapColumn(col(PgOid.timestamp), NATIVE).schema[0].converted_type).toBe('TIMESTAMP_MICROS');
    expect(mapColumn(col(PgOid.time), NATIVE).schema[0].converted_type).toBe('TIME_MICROS');
    expect(mapColumn(col(PgOid.time), NATIVE).schema[0].logical_type).toEqual({ type: 'TIME', isAdjustedToUTC: false, unit: 'MICROS' });
    expect(mapColumn(col(PgOid.uuid), NATIVE).schema[0]).toMatchObject({ type: 'FIXED_LEN_BYTE_ARRAY', type_length: 16 });
    expect(mapColumn(col(PgOid.jsonb), NATIVE).schema[0]).toMatchObject({ converted_type: 'JSON', logical_type: { type: 'JSON' } });
    expect(mapColumn(col(PgOid.text), NATIVE).schema[0]).toMatchObject({ converted_type: 'UTF8', logical_type: { type: 'STRING' } });
    // NOT NULL in the catalog still gives an OPTIONAL column (NOT VALID constraints allow old NULLs).
    expect(mapColumn(col(PgOid.int4, { nullable: false }), NATIVE).schema[0].repetition_type).toBe('OPTIONAL');
    expect(mapColumn(col(PgOid.int4, { name: 'we"ird ü' }), NATIVE).schema[0].name).toBe('we"ird ü');
  });

  it('picks the DECIMAL physical type by precision', () => {
    const physical = (p: number, s: number) => {
      const e = mapColumn(col(PgOid.numeric, { typmod: numericTypmod(p, s) }), NATIVE).schema[0];
      return [e.type, e.type_length, e.precision, e.scale];
    };
    expect(physical(9, 2)).toEqual(['INT32', undefined, 9, 2]);
    expect(physical(10, 0)).toEqual(['INT64', undefined, 10, 0]);
    expect(physical(18, 18)).toEqual(['INT64', undefined, 18, 18]);
    expect(physical(19, 4)).toEqual(['FIXED_LEN_BYTE_ARRAY', 9, 19, 4]);
    expect(physical(38, 10)).toEqual(['FIXED_LEN_BYTE_ARRAY', 16, 38, 10]);
    expect(decimalByteLength(9)).toBe(4);
    expect(decimalByteLength(18)).toBe(8);
    expect(decimalByteLength(20)).toBe(9);
    expect(decimalByteLength(38)).toBe(16);
    // Postgres 15 scales outside [0, p] widen the DECIMAL.
    expect(decimalShape(numericTypmod(3, -2))).toMatchObject({ precision: 5, scale: 0 });
    expect(decimalShape(numericTypmod(3, 5))).toMatchObject({ precision: 5, scale: 5 });
    expect(decimalShape(-1)).toBeNull();
  });

  it('maps one-dimensional arrays to a 3-level LIST', () => {
    const m = mapColumn(col(PgArrayOid.int4, { elemTypeOid: PgOid.int4, name: 'xs' }), NATIVE);
    expect(m.plan.parquetType).toBe('LIST<INT32>');
    expect(m.select('"xs"')).toBe('"xs"');
    expect(m.schema.map((e) => [e.name, e.repetition_type, e.converted_type, e.num_children])).toEqual([
      ['xs', 'OPTIONAL', 'LIST', 1],
      ['list', 'REPEATED', undefined, 1],
      ['element', 'OPTIONAL', 'INT_32', undefined],
    ]);
    const text = mapColumn(col(PgArrayOid.interval, { elemTypeOid: PgOid.interval }), NATIVE);
    expect([text.plan.parquetType, text.select('"c"')]).toEqual(['LIST<STRING>', '"c"::text[]']);
    const dec = mapColumn(col(PgArrayOid.numeric, { elemTypeOid: PgOid.numeric, typmod: numericTypmod(10, 2) }), NATIVE);
    expect(dec.plan.parquetType).toBe('LIST<DECIMAL(10,2)>');
    const unconstrained = mapColumn(col(PgArrayOid.numeric, { elemTypeOid: PgOid.numeric }), NATIVE);
    expect(unconstrained.select('"c"')).toBe('"c"::text[]');
  });

  it('rebuilds a mapping from a saved plan and refuses a plan made by a different mapping', () => {
    const m = mapColumn(col(PgOid.numeric, { typmod: numericTypmod(12, 2), pgType: 'numeric(12,2)' }), NATIVE);
    const saved = JSON.parse(JSON.stringify(m.plan));
    const again = mappingFromPlan(saved, NATIVE);
    expect(again.plan).toEqual(m.plan);
    expect(again.schema).toEqual(m.schema);
    expect(() => mappingFromPlan({ ...saved, parquetType: 'STRING' }, NATIVE)).toThrow(/plan says STRING .* DECIMAL\(12,2\)/);
  });

  it('tracks the bytes it holds and starts empty after take()', () => {
    const b = mapColumn(col(PgOid.text), NATIVE).newBuilder();
    const field = Buffer.from('hello world');
    for (let i = 0; i < 10; i++) b.append(field, 0, field.length);
    b.appendNull();
    expect(b.bytes).toBeGreaterThanOrEqual(10 * field.length);
    const values = rowValues(b.take()) as (Uint8Array | null)[];
    expect(values).toHaveLength(11);
    expect(b.bytes).toBe(0);
    // Values are copies: overwriting the source buffer does not change them.
    field.fill(0);
    expect(Buffer.from(values[0]!).toString()).toBe('hello world');
    expect(values[10]).toBeNull();
    const ints = mapColumn(col(PgOid.int8), NATIVE).newBuilder();
    const eight = Buffer.alloc(8);
    eight.writeBigInt64BE(-2n);
    ints.append(eight, 0, 8);
    expect(ints.bytes).toBeGreaterThanOrEqual(8);
    expect(rowValues(ints.take())).toEqual([-2n]);
    ints.appendNull();
    ints.append(eight, 0, 8);
    ints.appendNull();
    expect(rowValues(ints.take())).toEqual([null, -2n, null]);
    expect(ints.bytes).toBe(0);
  });

  it('decodes binary numerics exactly and refuses NaN loudly', () => {
    const take = (p: number, s: number, fields: Buffer[]) => {
      const b = mapColumn(col(PgOid.numeric, { typmod: numericTypmod(p, s), name: 'amount' }), NATIVE).newBuilder();
      for (const f of fields) b.append(f, 0, f.length);
      return rowValues(b.take()).map((v) => BigInt(v as bigint));
    };
    // 12345.67 = [1, 2345, 6700] weight 1; -0.05 = [500] weight -1; 0 = no digits.
    const v1 = numericField(1, 0, 2, [1, 2345, 6700]);
    const v2 = numericField(-1, 0x4000, 2, [500]);
    const zero = numericField(0, 0, 2, []);
    expect(take(12, 2, [v1, v2, zero])).toEqual([1234567n, -5n, 0n]);
    expect(take(9, 2, [v1, v2, zero])).toEqual([1234567n, -5n, 0n]);
    expect(take(38, 2, [v1, v2, zero])).toEqual([1234567n, -5n, 0n]);
    // 10^27 - 1 with ten nines after the point, at numeric(38,10).
    const max = numericField(6, 0, 10, [9999, 9999, 9999, 9999, 9999, 9999, 9999, 9999, 9999, 9900]);
    expect(take(38, 10, [max])).toEqual([10n ** 38n - 1n]);
    const nan = numericField(0, 0xc000, 0, []);
    expect(() => take(10, 2, [nan])).toThrow(ValueRefusedError);
    expect(() => take(10, 2, [nan])).toThrow(/column "amount": numeric value NaN/);
  });
});
