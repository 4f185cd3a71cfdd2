/**
 * Iceberg's binary single-value serialization against the spec's own examples (Appendix D, and the values
 * docs/iceberg research quotes), the order bounds are taken in, and round trips.
 */
import { describe, expect, it } from 'vitest';
import type { IcebergPrimitive } from '../../../../lambdas/engine/iceberg/model';
import {
  compareValues,
  decimalShape,
  deserializeValue,
  minimalTwosComplement,
  serializeValue,
  twosComplementValue,
  type IcebergValue,
} from '../../../../lambdas/engine/iceberg/single-value';

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');
const bytes = (h: string) => Uint8Array.from(Buffer.from(h, 'hex'));
const days = (iso: string) => Date.UTC(+iso.slice(0, 4), +iso.slice(5, 7) - 1, +iso.slice(8, 10)) / 86_400_000;
const micros = (iso: string) => BigInt(Date.parse(iso)) * 1000n;

describe('serializeValue: the spec examples', () => {
  it.each<[IcebergPrimitive, IcebergValue, string]>([
    ['boolean', false, '00'],
    ['boolean', true, '01'],
    ['int', 34, '22000000'],
    ['int', -1, 'ffffffff'],
    ['int', -(2 ** 31), '00000080'],
    ['long', 34n, '2200000000000000'],
    ['long', 34, '2200000000000000'],
    ['long', -(1n << 63n), '0000000000000080'],
    ['float', 1.5, '0000c03f'],
    ['float', -0, '00000080'],
    ['double', 1.5, '000000000000f83f'],
    ['double', -0, '0000000000000080'],
    ['double', Number.POSITIVE_INFINITY, '000000000000f07f'],
    ['date', days('2025-01-01'), '794e0000'],
    ['date', days('1969-12-31'), 'ffffffff'],
    ['date', days('1900-01-01'), hex(Uint8Array.of(0x21, 0x9c, 0xff, 0xff))],
    ['timestamptz', micros('2025-01-01T12:00:00Z'), '0010f8c8a32a0600'],
    ['timestamp', micros('2025-01-01T12:00:00Z'), '0010f8c8a32a0600'],
    ['timestamp', -1n, 'ffffffffffffffff'],
    ['timestamp', micros('1900-01-01T00:00:00Z'), '006043b7ef26f8ff'],
    ['string', 'iceberg', hex(Buffer.from('iceberg'))],
    ['string', 'é日😀', 'c3a9e697a5f09f9880'],
    ['string', Uint8Array.of(0xc3, 0xa9), 'c3a9'],
    ['string', '', ''],
    ['binary', Uint8Array.of(0, 1, 2, 0xff), '000102ff'],
  ])('%s %s -> %s', (type, value, expected) => {
    expect(hex(serializeValue(type, value))).toBe(expected);
  });

  it('1900-01-01 is day -25567', () => {
    expect(days('1900-01-01')).toBe(-25567);
    expect(deserializeValue('date', serializeValue('date', -25567))).toBe(-25567);
  });

  it.each<[IcebergValue, string]>([
    ['14.20', '058c'],
    [1420n, '058c'],
    ['-14.20', 'fa74'],
    [-1420n, 'fa74'],
    [0n, '00'],
    ['0.00', '00'],
    ['-0', '00'],
    [127n, '7f'],
    [128n, '0080'],
    [-128n, '80'],
    [-129n, 'ff7f'],
    [255n, '00ff'],
    [256n, '0100'],
    [-256n, 'ff00'],
    [32767n, '7fff'],
    [32768n, '008000'],
  ])('decimal(4, 2) / decimal(38, 2) %s -> %s (minimal bytes, big-endian)', (value, expected) => {
    const wide: IcebergPrimitive = 'decimal(38, 2)';
    expect(hex(serializeValue(wide, value))).toBe(expected);
    if (typeof value === 'string' || (typeof value === 'bigint' && value > -10000n && value < 10000n)) expect(hex(serializeValue('decimal(5, 2)', value))).toBe(expected);
  });

  it('decimal(38, 10) extremes take 16 bytes; their fixed Parquet width does not matter', () => {
    const max = 10n ** 38n - 1n;
    expect(hex(serializeValue('decimal(38, 10)', max))).toBe('4b3b4ca85a86c47a098a223fffffffff');
    expect(hex(serializeValue('decimal(38, 10)', -max))).toBe('b4c4b357a5793b85f675ddc000000001');
    expect(hex(serializeValue('decimal(38, 10)', '-9999999999999999999999999999.9999999999'))).toBe('b4c4b357a5793b85f675ddc000000001');
    expect(serializeValue('decimal(38, 10)', 1n)).toEqual(Uint8Array.of(1));
  });

  it('parses the decimal type as model.ts spells it, and without the space', () => {
    expect(decimalShape('decimal(12, 2)')).toEqual({ precision: 12, scale: 2 });
    expect(decimalShape('decimal(38,10)' as IcebergPrimitive)).toEqual({ precision: 38, scale: 10 });
    expect(decimalShape('string')).toBeNull();
  });

  it('refuses what the type cannot hold', () => {
    expect(() => serializeValue('int', 2 ** 31)).toThrow(/32-bit/);
    expect(() => serializeValue('int', 1.5)).toThrow(/32-bit/);
    expect(() => serializeValue('long', 1n << 63n)).toThrow(/64-bit/);
    expect(() => serializeValue('long', 2 ** 60)).toThrow(/64-bit/);
    expect(() => serializeValue('decimal(4, 2)', 10000n)).toThrow(/4 digits/);
    expect(() => serializeValue('decimal(4, 2)', '1.234')).toThrow(/2 digits after/);
    expect(() => serializeValue('boolean', 1)).toThrow(/boolean/);
    expect(() => serializeValue('binary', 'x')).toThrow(/Uint8Array/);
  });
});

describe('minimal two\'s complement', () => {
  it('is minimal and exact over a sweep of values, every length up to 17 bytes', () => {
    const samples: bigint[] = [];
    for (let bits = 0; bits <= 130; bits++) {
      const p = 1n << BigInt(bits);
      samples.push(p - 1n, p, p + 1n, -p, -p - 1n, -p + 1n);
    }
    for (const v of samples) {
      const b = minimalTwosComplement(v);
      expect(twosComplementValue(b), `${v}`).toBe(v);
      // Minimal: one byte fewer cannot hold v.
      if (b.length > 1) {
        const half = 1n << BigInt(8 * (b.length - 1) - 1);
        expect(v >= -half && v < half, `${v} fits ${b.length - 1} bytes`).toBe(false);
      }
    }
  });

  it('reads the fixed width Parquet stores decimals in', () => {
    expect(twosComplementValue(bytes('fffffa74'))).toBe(-1420n);
    expect(twosComplementValue(bytes('0000058c'))).toBe(1420n);
  });
});

describe('deserializeValue', () => {
  it.each<[IcebergPrimitive, IcebergValue]>([
    ['boolean', true],
    ['boolean', false],
    ['int', -123456],
    ['date', days('4000-12-31')],
    ['long', -(1n << 63n)],
    ['long', (1n << 63n) - 1n],
    ['timestamp', micros('1969-12-31T23:59:59.999Z') - 999n],
    ['timestamptz', 0n],
    ['float', 1.25],
    ['float', -0],
    ['double', -0],
    ['double', Number.NEGATIVE_INFINITY],
    ['double', 5e-324],
    ['string', 'é日😀\uE000'],
    ['binary', Uint8Array.of(0, 0x80, 0xff)],
    ['decimal(12, 2)', -99999999999n],
    ['decimal(38, 10)', 10n ** 38n - 1n],
    ['decimal(9, 0)', 0n],
  ])('%s round trip of %s', (type, value) => {
    const back = deserializeValue(type, serializeValue(type, value));
    if (typeof value === 'number') expect(Object.is(back, value), `${String(back)}`).toBe(true);
    else expect(back).toEqual(value);
  });

  it('reads the bounds of a column written before it was widened (int to long, float to double) as Iceberg Java does', () => {
    expect(deserializeValue('long', serializeValue('int', -5))).toBe(-5n);
    expect(deserializeValue('long', serializeValue('int', 2147483647))).toBe(2147483647n);
    expect(deserializeValue('double', serializeValue('float', 1.5))).toBe(1.5);
  });

  it('takes any non-zero byte as true, and refuses wrong lengths', () => {
    expect(deserializeValue('boolean', Uint8Array.of(2))).toBe(true);
    expect(() => deserializeValue('int', bytes('220000'))).toThrow(/4 bytes/);
    expect(() => deserializeValue('long', bytes('220000'))).toThrow(/8 bytes/);
    expect(() => deserializeValue('decimal(4, 2)', new Uint8Array(0))).toThrow(/at least one byte/);
    expect(() => deserializeValue('string', Uint8Array.of(0xc3))).toThrow();
  });
});

describe('compareValues: the order of bounds', () => {
  it('puts -0 before +0 and NaN after everything', () => {
    expect(compareValues('double', -0, 0)).toBeLessThan(0);
    expect(compareValues('double', 0, -0)).toBeGreaterThan(0);
    expect(compareValues('float', -0, -0)).toBe(0);
    expect(compareValues('double', Number.POSITIVE_INFINITY, Number.NaN)).toBeLessThan(0);
    expect(compareValues('double', -1, -0)).toBeLessThan(0);
  });

  it('orders strings by code point (UTF-8 bytes), not by UTF-16 units', () => {
    // U+E000 is one UTF-16 unit above the surrogates of U+1F600, but below it as a code point.
    expect('\uE000' > '😀').toBe(true);
    expect(compareValues('string', '\uE000', '😀')).toBeLessThan(0);
    expect(compareValues('string', Buffer.from('\uE000'), Buffer.from('😀'))).toBeLessThan(0);
    expect(compareValues('string', 'ab', 'abc')).toBeLessThan(0);
    expect(compareValues('string', 'é', 'e')).toBeGreaterThan(0);
    expect(compareValues('string', '😀', '😀')).toBe(0);
  });

  it('orders binary as unsigned bytes, decimals and longs as integers, false before true', () => {
    expect(compareValues('binary', Uint8Array.of(0x7f), Uint8Array.of(0x80))).toBeLessThan(0);
    expect(compareValues('binary', Uint8Array.of(0xff), Uint8Array.of(0xff, 0))).toBeLessThan(0);
    expect(compareValues('decimal(38, 10)', -(10n ** 37n), 1n)).toBeLessThan(0);
    expect(compareValues('long', (1n << 63n) - 1n, (1n << 63n) - 2n)).toBeGreaterThan(0);
    expect(compareValues('timestamp', -1n, 0n)).toBeLessThan(0);
    expect(compareValues('boolean', false, true)).toBeLessThan(0);
    expect(compareValues('int', -5, 3)).toBeLessThan(0);
  });
});
